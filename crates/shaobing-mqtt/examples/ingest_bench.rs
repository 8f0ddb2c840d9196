//! Benchmark (not a test): readings/s through decode -> store commit -> ack -> rules, QoS 1,
//! against a bare rumqttc QoS 1 drain of the same broker in the same run.
//!
//! Both sides drain the same backlog: a persistent session is created, the client goes away,
//! N messages are published and queued by the broker, then the client comes back and the time
//! to receive (bare) or commit (ingest) all N is measured. The payload values replay a real
//! series, EPA daily PM2.5 at Durham NC in 2011 (fixtures/README.md in shaobing-sensors).
//!
//! cargo run --release -p shaobing-mqtt --example ingest_bench [-- N [ROUNDS]]

#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "../tests/common/mod.rs"]
mod common;

use common::{Broker, start_ingest_subscribed, start_ingest_with};
use rumqttc::{AsyncClient, Event, MqttOptions, Packet, QoS};
use shaobing_mqtt::MqttConfig;
use shaobing_sensors::corpus::{AIR_TOPIC, EXAMPLE_CONFIG};
use std::time::{Duration, Instant};

const SERIES: &str = include_str!("../../shaobing-sensors/fixtures/pm25_2011_durham.csv");

fn real_values() -> Vec<f64> {
    SERIES.lines().skip(1).map(|l| l.split(',').nth(2).unwrap().parse().unwrap()).collect()
}

async fn publish_backlog(broker: &Broker, n: usize) {
    common::publish_backlog(broker, AIR_TOPIC, n, &real_values()).await;
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
    start_ingest_subscribed(broker, EXAMPLE_CONFIG, "bench-box").await.shutdown().await;
    publish_backlog(broker, n).await;
    let batch_max = std::env::var("BENCH_BATCH_MAX").map_or(MqttConfig::default().batch_max, |v| v.parse().unwrap());
    let running = start_ingest_with(broker, EXAMPLE_CONFIG, "bench-box", |m| {
        m.batch_max = batch_max;
        m.queue_capacity = m.queue_capacity.max(batch_max);
    });
    let meter = Meter::start(broker);
    // The committed counter, not a store query: a 1 ms poll keeps the measurement honest.
    while running.metrics.committed.get() < n as u64 {
        assert!(meter.elapsed() < Duration::from_secs(600), "ingest stalled");
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    let spent = meter.stop();
    // A later round may also receive the few messages an earlier round committed but had not
    // acknowledged when it shut down: the broker redelivers them into this round's fresh store.
    assert!(running.reader().count().unwrap() >= n as u64);
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
