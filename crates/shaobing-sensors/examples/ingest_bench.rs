//! Benchmark (not a test): readings/s through decode -> store commit -> ack -> rules, QoS 1,
//! against a bare rumqttc QoS 1 drain of the same broker in the same run.
//!
//! Both sides drain the same backlog: a persistent session is created, the client goes away,
//! N messages are published and queued by the broker, then the client comes back and the time
//! to receive (bare) or commit (ingest) all N is measured. The payload values replay a real
//! series, EPA daily PM2.5 at Durham NC in 2011 (fixtures/README.md in shaobing-sensors).
//!
//! cargo run --release -p shaobing-sensors --example ingest_bench [-- N [ROUNDS]]

#![allow(clippy::unwrap_used, clippy::expect_used)]

use rumqttc::{AsyncClient, Event, MqttOptions, Packet, QoS};
use shaobing_core::{EscalationTier, Responsibility};
use shaobing_mqtt::{Connection, MqttConfig};
use shaobing_sensors::corpus::{AIR_TOPIC, EXAMPLE_CONFIG};
use shaobing_sensors::{
    IngestMetrics, Mapping, ReadingsStore, RetentionConfig, RuleEngine, SensorIngest, SensorsConfig,
};
use shaobing_testkit::mosquitto::Broker;
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;

const SERIES: &str = include_str!("../fixtures/pm25_2011_durham.csv");
const BOX_ID: &str = "bench-box";

/// The ingest on its own connection, as the daemon runs it, with a fresh readings store.
struct Running {
    cancel: CancellationToken,
    tasks: tokio::task::JoinSet<()>,
    metrics: IngestMetrics,
    store: ReadingsStore,
    _data: tempfile::TempDir,
}

fn start_ingest(broker: &Broker, batch_max: usize) -> Running {
    let mut config: SensorsConfig = toml::from_str(EXAMPLE_CONFIG).unwrap();
    config.batch_max = batch_max;
    config.queue_capacity = config.queue_capacity.max(batch_max);
    let mapping = Mapping::new(config).unwrap();
    let mqtt = MqttConfig { port: broker.port, ..MqttConfig::default() };
    let registry = prometheus::Registry::new();
    let mut connection = Connection::new(&mqtt, BOX_ID, mapping.config().queue_capacity, &registry).unwrap();
    let data = tempfile::tempdir().unwrap();
    let store = ReadingsStore::open_in(data.path()).unwrap();
    let reader = ReadingsStore::open(store.path()).unwrap();
    let metrics = IngestMetrics::register(&registry, &mapping).unwrap();
    let department = |_| Responsibility {
        department: "bench".into(),
        tier: EscalationTier::StreetToDistrict,
        resolution_path: "bench".into(),
        deadlines: Default::default(),
    };
    let engine = RuleEngine::new(&mapping, department);
    let (findings, mut drain) = tokio::sync::mpsc::channel(1024);
    let ingest = SensorIngest::new(
        &mut connection,
        mapping,
        store,
        engine,
        RetentionConfig::default(),
        metrics.clone(),
        findings,
    )
    .unwrap();
    let cancel = CancellationToken::new();
    let mut tasks = tokio::task::JoinSet::new();
    tasks.spawn(async move { while drain.recv().await.is_some() {} });
    let stop = cancel.clone();
    tasks.spawn(async move { ingest.run(stop).await.unwrap() });
    tasks.spawn(connection.run(cancel.clone()));
    Running { cancel, tasks, metrics, store: reader, _data: data }
}

impl Running {
    async fn shutdown(mut self) {
        self.cancel.cancel();
        while self.tasks.join_next().await.is_some() {}
    }
}

fn real_values() -> Vec<f64> {
    SERIES.lines().skip(1).map(|l| l.split(',').nth(2).unwrap().parse().unwrap()).collect()
}

async fn publish_backlog(broker: &Broker, n: usize) {
    shaobing_testkit::mosquitto::publish_backlog(broker, AIR_TOPIC, n, &real_values()).await;
}

fn bare_options(broker: &Broker) -> MqttOptions {
    let mut o = MqttOptions::new("bench-bare", "127.0.0.1", broker.port);
    o.set_clean_session(false).set_keep_alive(Duration::from_secs(15));
    o
}

/// CPU seconds (user + system, all threads) a process has used so far, from /proc.
fn cpu_seconds(pid: &str) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // Fields after the parenthesised command name; utime and stime are the 12th and 13th.
    let after = stat.rsplit(')').next().unwrap_or("");
    let ticks: f64 = after.split_whitespace().skip(11).take(2).filter_map(|t| t.parse::<f64>().ok()).sum();
    ticks / 100.0
}

/// Write system calls this process has made so far (`syscw` in /proc/self/io).
fn write_calls() -> u64 {
    let io = std::fs::read_to_string("/proc/self/io").unwrap_or_default();
    io.lines().find_map(|l| l.strip_prefix("syscw: ")).and_then(|v| v.trim().parse().ok()).unwrap_or(0)
}

/// Wall time and the CPU time this process and the broker spent in it.
struct Spent {
    wall: Duration,
    client_cpu: f64,
    broker_cpu: f64,
    writes: u64,
}

struct Meter {
    broker_pid: String,
    started: Instant,
    client0: f64,
    broker0: f64,
    writes0: u64,
}

impl Meter {
    fn start(broker: &Broker) -> Self {
        let broker_pid = broker.pid().expect("broker running").to_string();
        let (client0, broker0) = (cpu_seconds("self"), cpu_seconds(&broker_pid));
        Self { broker_pid, started: Instant::now(), client0, broker0, writes0: write_calls() }
    }

    fn elapsed(&self) -> Duration {
        self.started.elapsed()
    }

    fn stop(self) -> Spent {
        Spent {
            wall: self.started.elapsed(),
            client_cpu: cpu_seconds("self") - self.client0,
            broker_cpu: cpu_seconds(&self.broker_pid) - self.broker0,
            writes: write_calls() - self.writes0,
        }
    }
}

/// A plain rumqttc subscriber with automatic acks draining `n` queued messages.
async fn bare_drain(broker: &Broker, n: usize) -> Spent {
    {
        let (client, mut eventloop) = AsyncClient::new(bare_options(broker), 1024);
        client.subscribe(AIR_TOPIC, QoS::AtLeastOnce).await.unwrap();
        while !matches!(eventloop.poll().await.unwrap(), Event::Incoming(Packet::SubAck(_))) {}
        client.disconnect().await.unwrap();
        while eventloop.poll().await.is_ok() {}
    }
    publish_backlog(broker, n).await;
    let (_client, mut eventloop) = AsyncClient::new(bare_options(broker), 1024);
    let meter = Meter::start(broker);
    let mut received = 0;
    while received < n {
        if let Event::Incoming(Packet::Publish(_)) = eventloop.poll().await.unwrap() {
            received += 1;
        }
    }
    meter.stop()
}

async fn ingest_drain(broker: &Broker, n: usize) -> Spent {
    let batch_max = std::env::var("BENCH_BATCH_MAX").map_or(SensorsConfig::default().batch_max, |v| v.parse().unwrap());
    subscribe_once(broker, batch_max).await;
    publish_backlog(broker, n).await;
    let running = start_ingest(broker, batch_max);
    let meter = Meter::start(broker);
    // The committed counter, not a store query: a 1 ms poll keeps the measurement honest.
    while running.metrics.committed.get() < n as u64 {
        assert!(meter.elapsed() < Duration::from_secs(600), "ingest stalled");
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    let spent = meter.stop();
    // A later round may also receive the few messages an earlier round committed but had not
    // acknowledged when it shut down: the broker redelivers them into this round's fresh store.
    assert!(running.store.count().unwrap() >= n as u64);
    let commits = &running.metrics.commit_seconds;
    println!(
        "commits:              {:>9} transactions of {:.0} readings on average, {:.2} ms each (batch_max {batch_max})",
        commits.get_sample_count(),
        n as f64 / commits.get_sample_count() as f64,
        1000.0 * commits.get_sample_sum() / commits.get_sample_count() as f64
    );
    running.shutdown().await;
    spent
}

/// Creates the ingest's persistent session and subscription, then leaves: the broker queues
/// the backlog for it. It is subscribed once it says `online` (same connection, in order).
async fn subscribe_once(broker: &Broker, batch_max: usize) {
    let mut probe = shaobing_testkit::mosquitto::Client::connect(broker, "bench-availability-probe");
    probe.client.subscribe(shaobing_mqtt::availability_topic(BOX_ID), QoS::AtLeastOnce).await.unwrap();
    let running = start_ingest(broker, batch_max);
    while probe.next(Duration::from_secs(10)).await.expect("the ingest announced itself").payload.as_ref() != b"online"
    {
    }
    running.shutdown().await;
}

/// A run lasts under a second and the bare drain alone varies by half between runs on a busy
/// box, so the two sides alternate for several rounds and the median ratio is the figure.
#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let n: usize = std::env::args().nth(1).map_or(20_000, |a| a.parse().expect("N"));
    let rounds: usize = std::env::args().nth(2).map_or(5, |a| a.parse().expect("ROUNDS"));
    let broker = Broker::start();
    let rate = |d: Duration| n as f64 / d.as_secs_f64();
    println!("messages:             {n} per round (QoS 1, one PM2.5 reading each, real EPA values)");
    let mut ratios = Vec::with_capacity(rounds);
    for round in 1..=rounds {
        let bare = bare_drain(&broker, n).await;
        let ingest = ingest_drain(&broker, n).await;
        ratios.push(rate(ingest.wall) / rate(bare.wall));
        println!(
            "round {round}: bare {:>7.0} msg/s, ingest {:>7.0} readings/s committed, ratio {:.2}",
            rate(bare.wall),
            rate(ingest.wall),
            rate(ingest.wall) / rate(bare.wall)
        );
        for (side, spent) in [("bare", &bare), ("ingest", &ingest)] {
            println!(
                "         {side:<6} CPU per message: client {:>5.2} us, broker {:>5.2} us; {:.3} write calls per message",
                1e6 * spent.client_cpu / n as f64,
                1e6 * spent.broker_cpu / n as f64,
                spent.writes as f64 / n as f64
            );
        }
    }
    ratios.sort_by(f64::total_cmp);
    println!("ratio ingest / bare:  median {:.2} of {rounds} rounds (target >= 0.8)", ratios[ratios.len() / 2]);
}
