//! The MQTT connector: the box's one connection to its broker, shared by the sensor ingest
//! (QoS 1 subscriptions, each message with its own ack handle) and the issue alerts
//! (publishes), with one writer of the availability topic. No sensor or issue logic lives
//! here: the sensors room decodes and commits what it receives, the issues room decides what
//! to publish.

mod config;
mod connection;

pub use config::{MqttConfig, MqttConfigError, TlsConfig, availability_topic};
pub use connection::{
    Ack, Acker, Closed, Connection, Deliveries, Delivery, MqttError, Publisher, QueueFull, Subscription, preflight,
};
