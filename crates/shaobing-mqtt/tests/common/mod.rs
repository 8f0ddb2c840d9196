//! Test harness: a real Mosquitto per test on a free loopback port (so a test can stop and
//! restart it), a QoS 1 publisher, and a running ingest.

#![allow(dead_code)] // each test file uses a different part of the harness

use rumqttc::{AsyncClient, Event, MqttOptions, Packet, QoS};
use shaobing_core::{Category, EscalationTier, Responsibility, UnixMillis};
use shaobing_mqtt::{IngestMetrics, MqttConfig, SensorIngest};
use shaobing_sensors::{Mapping, ReadingsStore, RetentionConfig, RuleEngine, SensorIssue, SensorsConfig};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

pub const MOSQUITTO: &str = "/usr/sbin/mosquitto";

/// A Mosquitto of our own, with persistence in a temporary directory.
pub struct Broker {
    pub port: u16,
    pub dir: tempfile::TempDir,
    child: Option<Child>,
}

impl Broker {
    pub fn start() -> Self {
        Self::start_with(|_| String::new())
    }

    /// `listener_options(dir)` is written right after the `listener` line (certificates and
    /// such apply to it); other global options may follow it too.
    pub fn start_with(listener_options: impl FnOnce(&std::path::Path) -> String) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let port = free_port();
        let extra = listener_options(dir.path());
        let anonymous = if extra.contains("allow_anonymous") { "" } else { "allow_anonymous true" };
        let config = format!(
            "listener {port} 127.0.0.1\n\
             {extra}\n\
             {anonymous}\n\
             # As root, mosquitto would switch to the `mosquitto` user, which cannot write the\n\
             # root-owned tempdir: no persistence file, sessions lost on restart. No effect\n\
             # when the tests run as another user.\n\
             user root\n\
             persistence true\n\
             persistence_location {dir}/\n\
             # Explicit, not the defaults (20 in flight, 1000 queued: the broker drops beyond that).\n\
             max_inflight_messages 100\n\
             max_queued_messages 1000000\n\
             log_dest file {dir}/mosquitto.log\n\
             log_type error\nlog_type warning\nlog_type notice\n",
            dir = dir.path().display()
        );
        std::fs::write(dir.path().join("mosquitto.conf"), config).unwrap();
        let mut broker = Self { port, dir, child: None };
        broker.spawn();
        broker
    }

    fn spawn(&mut self) {
        let child = Command::new(MOSQUITTO)
            .arg("-c")
            .arg(self.dir.path().join("mosquitto.conf"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        self.child = Some(child);
        let addr = SocketAddr::from(([127, 0, 0, 1], self.port));
        let deadline = Instant::now() + Duration::from_secs(10);
        while TcpStream::connect(addr).is_err() {
            assert!(Instant::now() < deadline, "mosquitto did not listen on {addr}: {}", self.log());
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// SIGTERM, as a service manager stops it: every connection drops, and the broker saves
    /// its persistent sessions and queued messages on the way out. (SIGKILL would lose what
    /// the broker accepted since its last autosave, which no client can prevent.)
    pub fn stop(&mut self) {
        let Some(mut child) = self.child.take() else { return };
        let status = Command::new("kill").arg("-TERM").arg(child.id().to_string()).status().unwrap();
        assert!(status.success());
        child.wait().unwrap();
    }

    pub fn restart(&mut self) {
        self.stop();
        self.spawn();
    }

    /// The broker's process id while it runs (a benchmark reads its CPU time).
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("mosquitto.log")).unwrap_or_default()
    }
}

impl Drop for Broker {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// A QoS 1 client with a persistent session whose event loop runs in the background and
/// reconnects (100 ms apart) until the client is dropped.
pub struct Client {
    pub client: AsyncClient,
    pub events: mpsc::UnboundedReceiver<rumqttc::Publish>,
    task: JoinHandle<()>,
}

impl Client {
    pub fn connect(broker: &Broker, id: &str) -> Self {
        let mut options = MqttOptions::new(id, "127.0.0.1", broker.port);
        options.set_clean_session(false).set_keep_alive(Duration::from_secs(5)).set_max_packet_size(4 << 20, 4 << 20);
        Self::with_options(options)
    }

    pub fn with_options(options: MqttOptions) -> Self {
        let (client, mut eventloop) = AsyncClient::new(options, 100_000);
        let (tx, events) = mpsc::unbounded_channel();
        let task = tokio::spawn(async move {
            loop {
                match eventloop.poll().await {
                    Ok(Event::Incoming(Packet::Publish(p))) => {
                        let _ = tx.send(p);
                    }
                    Ok(_) => {}
                    Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
                }
            }
        });
        Self { client, events, task }
    }

    pub async fn publish(&self, topic: &str, payload: impl Into<Vec<u8>>) {
        self.client.publish(topic, QoS::AtLeastOnce, false, payload).await.unwrap();
    }

    /// The next message on any subscribed topic, within `timeout`.
    pub async fn next(&mut self, timeout: Duration) -> Option<rumqttc::Publish> {
        tokio::time::timeout(timeout, self.events.recv()).await.ok().flatten()
    }
}

impl Drop for Client {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// A running ingest with what a test inspects.
pub struct Running {
    pub cancel: CancellationToken,
    pub task: JoinHandle<Result<(), shaobing_mqtt::MqttError>>,
    pub issues: mpsc::Receiver<SensorIssue>,
    pub metrics: IngestMetrics,
    pub registry: prometheus::Registry,
    pub store_path: PathBuf,
    pub data: tempfile::TempDir,
}

pub fn responsibility(category: Category) -> Responsibility {
    Responsibility {
        department: format!("dept-{category}"),
        tier: EscalationTier::StreetToDistrict,
        resolution_path: "resolve".into(),
    }
}

pub fn start_ingest(broker: &Broker, sensors_toml: &str, box_id: &str) -> Running {
    start_ingest_with(broker, sensors_toml, box_id, |_| {})
}

/// As [`start_ingest`], with `adjust` applied to the MQTT configuration.
pub fn start_ingest_with(
    broker: &Broker,
    sensors_toml: &str,
    box_id: &str,
    adjust: impl FnOnce(&mut MqttConfig),
) -> Running {
    let sensors: SensorsConfig = toml::from_str(sensors_toml).unwrap();
    let mapping = Mapping::new(sensors).unwrap();
    let data = tempfile::tempdir().unwrap();
    let store = ReadingsStore::open_in(data.path()).unwrap();
    let store_path = store.path().to_path_buf();
    let registry = prometheus::Registry::new();
    let metrics = IngestMetrics::register(&registry, &mapping).unwrap();
    let engine = RuleEngine::new(&mapping, responsibility);
    let (tx, issues) = mpsc::channel(1024);
    let mut mqtt = MqttConfig {
        port: broker.port,
        backoff_initial_ms: 50,
        backoff_max_ms: 500,
        keep_alive_secs: 5,
        ..MqttConfig::default()
    };
    adjust(&mut mqtt);
    let ingest = SensorIngest {
        mqtt,
        box_id: box_id.into(),
        mapping,
        store,
        engine,
        retention: RetentionConfig::default(),
        metrics: metrics.clone(),
        issues: tx,
    };
    let cancel = CancellationToken::new();
    let task = tokio::spawn(ingest.run(cancel.clone()));
    Running { cancel, task, issues, metrics, registry, store_path, data }
}

impl Running {
    /// A second connection to the readings database, as a console would read it.
    pub fn reader(&self) -> ReadingsStore {
        ReadingsStore::open(&self.store_path).unwrap()
    }

    /// Waits until the store holds `n` readings; panics with what it has after `timeout`.
    pub async fn wait_for_count(&self, n: u64, timeout: Duration) {
        let reader = self.reader();
        let deadline = Instant::now() + timeout;
        loop {
            let have = reader.count().unwrap();
            if have >= n {
                return;
            }
            assert!(Instant::now() < deadline, "store holds {have} readings, expected {n}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    pub async fn shutdown(self) -> (tempfile::TempDir, PathBuf) {
        self.cancel.cancel();
        tokio::time::timeout(Duration::from_secs(10), self.task).await.unwrap().unwrap().unwrap();
        (self.data, self.store_path)
    }
}

/// Starts the ingest and returns once it is subscribed: it subscribes, then announces `online`
/// on the same connection, and the broker handles a connection's packets in order.
pub async fn start_ingest_subscribed(broker: &Broker, sensors_toml: &str, box_id: &str) -> Running {
    let mut probe = Client::connect(broker, &format!("{box_id}-availability-probe"));
    probe.client.subscribe(shaobing_mqtt::availability_topic(box_id), QoS::AtLeastOnce).await.unwrap();
    let running = start_ingest(broker, sensors_toml, box_id);
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let message = probe.next(left).await.expect("the ingest announced itself online");
        if message.payload.as_ref() == b"online" {
            return running;
        }
    }
}

pub fn now_ms() -> i64 {
    UnixMillis::now().0
}

/// Publishes `n` JSON readings (`ts`, `seq`, `pm25` from `values`, cycled) to `topic` as fast
/// as the broker takes them, with increasing timestamps ending now; returns once the broker has
/// them all (a marker published after them has come back).
pub async fn publish_backlog(broker: &Broker, topic: &str, n: usize, values: &[f64]) {
    let publisher = Client::connect(broker, "backlog-publisher");
    // A clean session: a marker left queued by an earlier call must not end this one early
    // (the publisher would be dropped with half the backlog still unsent).
    let mut options = MqttOptions::new("backlog-marker", "127.0.0.1", broker.port);
    options.set_clean_session(true);
    let mut marker = Client::with_options(options);
    marker.client.subscribe("test/backlog-done", QoS::AtLeastOnce).await.unwrap();
    let start = now_ms() - n as i64;
    for i in 0..n {
        let payload = format!(r#"{{"ts": {}, "seq": {i}, "pm25": {}}}"#, start + i as i64, values[i % values.len()]);
        publisher.publish(topic, payload).await;
    }
    // The marker's subscription may still be on its way: publish until it comes back.
    loop {
        publisher.publish("test/backlog-done", "1").await;
        if marker.next(Duration::from_secs(1)).await.is_some() {
            return;
        }
    }
}
