//! The `[mqtt]` section.

use serde::Deserialize;
use std::path::PathBuf;
use std::time::Duration;

use shaobing_core::Credentials;

/// A configuration problem in `[mqtt]`, pointing at the key.
#[derive(Debug, thiserror::Error)]
#[error("{key}: {message}")]
pub struct MqttConfigError {
    pub key: String,
    pub message: String,
}

fn invalid(key: &str, message: impl Into<String>) -> MqttConfigError {
    MqttConfigError { key: format!("mqtt.{key}"), message: message.into() }
}

/// How the box talks to the sensors' broker. Every delivery-relevant setting is explicit here
/// because the library's defaults (clean session, automatic acks, 10 KiB packets) lose data.
#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
pub struct MqttConfig {
    /// Broker host name or address.
    #[serde(default = "default_host")]
    pub host: String,
    /// Broker port: 1883 plain, usually 8883 with TLS.
    #[serde(default = "default_port")]
    pub port: u16,
    /// Client id. The broker keeps the session (subscriptions and unacknowledged messages)
    /// under this id, so it must stay the same across restarts. Defaults to `shaobing-<box_id>`.
    #[serde(default)]
    pub client_id: Option<String>,
    /// User name and password, if the broker requires them.
    #[serde(flatten)]
    pub credentials: Credentials,
    /// TLS towards the broker; unset means plain TCP (loopback or a trusted segment only).
    #[serde(default)]
    pub tls: Option<TlsConfig>,
    /// MQTT keep-alive: a silent link is detected within about twice this.
    #[serde(default = "default_keep_alive_secs")]
    pub keep_alive_secs: u64,
    /// Timeout of one connection attempt (TCP, TLS and CONNACK).
    #[serde(default = "default_connect_timeout_secs")]
    pub connect_timeout_secs: u64,
    /// First delay before reconnecting after a failure, in seconds; doubled per failure up to
    /// `backoff_max_secs`, each delay drawn from [3/4, 1] of that.
    #[serde(default = "default_backoff_initial_secs")]
    pub backoff_initial_secs: f64,
    /// Cap of the reconnect delay.
    #[serde(default = "default_backoff_max_secs")]
    pub backoff_max_secs: f64,
    /// Largest MQTT packet read. Must exceed anything the broker forwards: a bigger packet makes
    /// the client drop the connection, the broker redeliver it, and the session never gets
    /// past it. The default is MQTT's own maximum, so any message is read and then judged by
    /// `sensors.max_payload_bytes` (rejected as `too_large`, counted, acknowledged); lower it
    /// only below the broker's `message_size_limit` (the shipped Mosquitto: 1 MiB), which
    /// bounds the memory one message can take.
    #[serde(default = "default_max_packet_bytes")]
    pub max_packet_bytes: usize,
}

#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TlsConfig {
    /// PEM file with the certificate authorities that may sign the broker's certificate.
    pub ca_file: PathBuf,
}

fn default_host() -> String {
    "127.0.0.1".into()
}
fn default_port() -> u16 {
    1883
}
fn default_keep_alive_secs() -> u64 {
    15
}
fn default_connect_timeout_secs() -> u64 {
    5
}
fn default_backoff_initial_secs() -> f64 {
    0.5
}
/// Sensors keep publishing while the broker is away and it keeps only what arrives once the
/// box is back: a short cap reconnects within seconds of its return.
fn default_backoff_max_secs() -> f64 {
    5.0
}
/// MQTT's largest remaining length (the 4-byte variable integer's maximum).
fn default_max_packet_bytes() -> usize {
    268_435_455
}
impl Default for MqttConfig {
    fn default() -> Self {
        Self {
            host: default_host(),
            port: default_port(),
            client_id: None,
            credentials: Credentials::default(),
            tls: None,
            keep_alive_secs: default_keep_alive_secs(),
            connect_timeout_secs: default_connect_timeout_secs(),
            backoff_initial_secs: default_backoff_initial_secs(),
            backoff_max_secs: default_backoff_max_secs(),
            max_packet_bytes: default_max_packet_bytes(),
        }
    }
}

impl MqttConfig {
    pub fn validate(&self) -> Result<(), MqttConfigError> {
        if self.host.trim().is_empty() {
            return Err(invalid("host", "expected a host name or address"));
        }
        if self.port == 0 {
            return Err(invalid("port", "expected a port in 1..=65535, got 0"));
        }
        if let Some(id) = &self.client_id {
            let ok = !id.is_empty() && id.len() <= 64 && id.chars().all(|c| c.is_ascii_graphic());
            if !ok {
                return Err(invalid("client_id", format!("expected 1 to 64 printable ASCII characters, got `{id}`")));
            }
        }
        if let Err(e) = self.credentials.validate() {
            return Err(invalid(e.key, e.message));
        }
        if !(5..=3600).contains(&self.keep_alive_secs) {
            return Err(invalid(
                "keep_alive_secs",
                format!("expected 5 to 3600 seconds, got {}", self.keep_alive_secs),
            ));
        }
        if self.connect_timeout_secs == 0 {
            return Err(invalid("connect_timeout_secs", "expected seconds > 0, got 0"));
        }
        let (initial, max) = (self.backoff_initial_secs, self.backoff_max_secs);
        if !(initial >= 0.001 && initial <= max && max.is_finite()) {
            return Err(invalid(
                "backoff_initial_secs",
                format!("expected 0.001 to backoff_max_secs = {max} seconds, got {initial}"),
            ));
        }
        if self.max_packet_bytes < 1024 {
            return Err(invalid("max_packet_bytes", format!("expected at least 1024, got {}", self.max_packet_bytes)));
        }
        Ok(())
    }

    pub fn client_id_for(&self, box_id: &str) -> String {
        self.client_id.clone().unwrap_or_else(|| format!("shaobing-{box_id}"))
    }

    pub fn keep_alive(&self) -> Duration {
        Duration::from_secs(self.keep_alive_secs)
    }
}

/// Where the daemon announces itself: `online` (retained) after connecting, `offline` on a
/// clean shutdown and, as the last will, when the broker loses the connection.
pub fn availability_topic(box_id: &str) -> String {
    format!("shaobing/{box_id}/availability")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_never_print() {
        let config: MqttConfig = toml::from_str("username = \"edge\"\npassword = \"canary-7f3a\"").unwrap();
        for text in [
            format!("{config:?}"),
            format!("{:?}", config.credentials.password),
            format!("{}", shaobing_core::Secret::new("canary-7f3a")),
        ] {
            assert!(!text.contains("canary-7f3a"), "{text}");
            assert!(text.contains("**REDACTED**"), "{text}");
        }
        assert_eq!(config.credentials.password.as_ref().map(shaobing_core::Secret::expose), Some("canary-7f3a"));
    }

    #[test]
    fn defaults_and_validation() {
        let config: MqttConfig = toml::from_str("").unwrap();
        config.validate().unwrap();
        assert_eq!(config.client_id_for("sanlitun-01"), "shaobing-sanlitun-01");
        assert_eq!(availability_topic("sanlitun-01"), "shaobing/sanlitun-01/availability");
        let cases = [
            ("password = \"x\"", "mqtt.username"),
            ("port = 0", "mqtt.port"),
            ("keep_alive_secs = 1", "mqtt.keep_alive_secs"),
            ("backoff_initial_secs = 60", "mqtt.backoff_initial_secs"),
            ("client_id = \"has space\"", "mqtt.client_id"),
        ];
        for (text, key) in cases {
            let c: MqttConfig = toml::from_str(text).unwrap();
            let e = c.validate().unwrap_err().to_string();
            assert!(e.starts_with(&format!("{key}: expected")), "{text}: {e}");
        }
    }
}
