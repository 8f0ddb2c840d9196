//! MQTT ingest of traffic-guidance and air-quality sensors: at least once, into the readings
//! store, then into the rules.
//!
//! The daemon builds a [`SensorIngest`] (configuration, the `shaobing-sensors` mapping, store
//! and rule engine, metrics, and a channel for the issues the rules find) and runs it under a
//! cancellation token. See [`ingest`] for the delivery protocol.

pub mod alerts;
mod config;
pub mod ingest;
mod metrics;

pub use alerts::{Alert, issue_topic, publish_alerts};
pub use config::{MqttConfig, MqttConfigError, Secret, TlsConfig, availability_topic};
pub use ingest::{MqttError, SensorIngest};
pub use metrics::{IngestMetrics, UNMATCHED_GROUP};
