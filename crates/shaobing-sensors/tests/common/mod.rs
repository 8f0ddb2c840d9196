//! The sensor ingest as the tests run it: on its own connection to a test broker, with a
//! readings store in a temporary directory and its findings in a channel.

#![allow(dead_code)] // each test file uses a different part of the harness

use rumqttc::QoS;
use shaobing_core::{Category, EscalationTier, Filing, Finding, Responsibility};
use shaobing_mqtt::{Connection, MqttConfig};
use shaobing_sensors::{
    IngestError, IngestMetrics, Mapping, ReadingsStore, RetentionConfig, RuleEngine, SensorIngest, SensorsConfig,
};
#[allow(unused_imports)] // each test file uses a different part of the harness
pub use shaobing_testkit::mosquitto::{Broker, Client, free_port, now_ms, publish_backlog};
use std::path::PathBuf;
use std::time::{Duration, Instant};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// A running ingest with what a test inspects.
pub struct Running {
    pub cancel: CancellationToken,
    pub task: JoinHandle<Result<(), IngestError>>,
    pub connection: JoinHandle<()>,
    pub findings: mpsc::Receiver<Filing>,
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
        deadlines: Default::default(),
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
    start_ingest_in(broker, sensors_toml, box_id, tempfile::tempdir().unwrap(), adjust)
}

/// As [`start_ingest_with`], on the data directory of an earlier run (a restart).
pub fn start_ingest_in(
    broker: &Broker,
    sensors_toml: &str,
    box_id: &str,
    data: tempfile::TempDir,
    adjust: impl FnOnce(&mut MqttConfig),
) -> Running {
    let sensors: SensorsConfig = toml::from_str(sensors_toml).unwrap();
    let mapping = Mapping::new(sensors).unwrap();
    let store = ReadingsStore::open_in(data.path()).unwrap();
    let store_path = store.path().to_path_buf();
    let registry = prometheus::Registry::new();
    let metrics = IngestMetrics::register(&registry, &mapping).unwrap();
    let engine = RuleEngine::new(&mapping, responsibility);
    let (tx, findings) = mpsc::channel(1024);
    let mut mqtt = MqttConfig {
        port: broker.port,
        backoff_initial_secs: 0.05,
        backoff_max_secs: 0.5,
        keep_alive_secs: 5,
        ..MqttConfig::default()
    };
    adjust(&mut mqtt);
    let mut connection = Connection::new(&mqtt, box_id, mapping.config().queue_capacity, &registry).unwrap();
    let ingest =
        SensorIngest::new(&mut connection, mapping, store, engine, RetentionConfig::default(), metrics.clone(), tx)
            .unwrap();
    let cancel = CancellationToken::new();
    let task = tokio::spawn(ingest.run(cancel.clone()));
    let connection = tokio::spawn(connection.run(cancel.clone()));
    Running { cancel, task, connection, findings, metrics, registry, store_path, data }
}

impl Running {
    /// The next finding within `timeout`, taken as the issues room takes it (its receipt says
    /// it is filed).
    pub async fn next_finding(&mut self, timeout: Duration) -> Option<Finding> {
        let Filing { finding, receipt } = tokio::time::timeout(timeout, self.findings.recv()).await.ok()??;
        if let Some(receipt) = receipt {
            receipt.filed();
        }
        Some(finding)
    }

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
        tokio::time::timeout(Duration::from_secs(10), self.connection).await.unwrap().unwrap();
        (self.data, self.store_path)
    }
}

/// Starts the ingest and returns once it is subscribed: it subscribes, then announces `online`
/// on the same connection, and the broker handles a connection's packets in order.
pub async fn start_ingest_subscribed(broker: &Broker, sensors_toml: &str, box_id: &str) -> Running {
    start_ingest_subscribed_with(broker, sensors_toml, box_id, |_| {}).await
}

/// As [`start_ingest_subscribed`], with `adjust` applied to the MQTT configuration.
pub async fn start_ingest_subscribed_with(
    broker: &Broker,
    sensors_toml: &str,
    box_id: &str,
    adjust: impl FnOnce(&mut MqttConfig),
) -> Running {
    let mut probe = Client::connect(broker, &format!("{box_id}-availability-probe"));
    probe.client.subscribe(shaobing_mqtt::availability_topic(box_id), QoS::AtLeastOnce).await.unwrap();
    let running = start_ingest_with(broker, sensors_toml, box_id, adjust);
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let message = probe.next(left).await.expect("the ingest announced itself online");
        if message.payload.as_ref() == b"online" {
            return running;
        }
    }
}

/// A group of road sensors publishing JSON flow readings with sequence numbers and
/// millisecond timestamps on `sanlitun/road/<sensor>/state`.
pub fn roads_config(sensors: &[&str]) -> String {
    let mut text = String::from(
        r#"
[[groups]]
name = "roads"
kind = "road"
topic = "sanlitun/road/+/state"
sensor_id_level = 2
decoder = { format = "json", timestamp = "ts", timestamp_unit = "millis", sequence = "seq", fields = [
    { path = "flow", quantity = "flow" },
] }
"#,
    );
    for s in sensors {
        text.push_str(&format!("[groups.sensors.{s}]\ngrid_cell = \"sanlitun-01\"\n"));
    }
    text
}
