//! TLS (rustls with ring) and a password against a real Mosquitto, with a canary password that
//! must never appear in logs (trace level), metrics or printed configuration.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{Broker, Client, free_port, now_ms, start_ingest_with};
use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair, KeyUsagePurpose};
use shaobing_core::Secret;
use shaobing_mqtt::{MqttConfig, TlsConfig};
use shaobing_sensors::corpus::{AIR_TOPIC, EXAMPLE_CONFIG};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

const CANARY: &str = "canary-5e1f0c2a-do-not-log";
const SENSOR_PASSWORD: &str = "sensor-pass";

/// A CA and a broker certificate for 127.0.0.1, written as PEM files; returns the CA path.
fn write_certificates(dir: &Path) -> PathBuf {
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params.distinguished_name.push(DnType::CommonName, "shaobing test CA");
    ca_params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::DigitalSignature];
    let ca_key = KeyPair::generate().unwrap();
    let ca_cert = ca_params.self_signed(&ca_key).unwrap();
    let issuer = Issuer::new(ca_params, ca_key);
    let mut leaf = CertificateParams::new(vec!["127.0.0.1".to_string(), "localhost".to_string()]).unwrap();
    leaf.distinguished_name.push(DnType::CommonName, "127.0.0.1");
    let leaf_key = KeyPair::generate().unwrap();
    let leaf_cert = leaf.signed_by(&leaf_key, &issuer).unwrap();
    std::fs::write(dir.join("ca.pem"), ca_cert.pem()).unwrap();
    std::fs::write(dir.join("broker.pem"), leaf_cert.pem()).unwrap();
    std::fs::write(dir.join("broker.key"), leaf_key.serialize_pem()).unwrap();
    dir.join("ca.pem")
}

fn add_user(file: &Path, user: &str, password: &str) {
    let mut cmd = Command::new("mosquitto_passwd");
    if !file.exists() {
        cmd.arg("-c");
    }
    let status = cmd.arg("-b").arg(file).arg(user).arg(password).status().unwrap();
    assert!(status.success());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_with_a_password_connects_and_the_password_is_never_printed() {
    let logs = shaobing_testkit::CapturedLogs::install();

    let plain_port = free_port();
    let mut ca_file = PathBuf::new();
    let broker = Broker::start_with(|dir| {
        ca_file = write_certificates(dir);
        let passwords = dir.join("passwords");
        add_user(&passwords, "edge", CANARY);
        add_user(&passwords, "sensor", SENSOR_PASSWORD);
        format!(
            "certfile {d}/broker.pem\nkeyfile {d}/broker.key\n\
             allow_anonymous false\npassword_file {p}\n\
             listener {plain_port} 127.0.0.1\n",
            d = dir.display(),
            p = passwords.display()
        )
    });
    let tls = |mqtt: &mut MqttConfig, password: &str| {
        mqtt.tls = Some(TlsConfig { ca_file: ca_file.clone() });
        mqtt.credentials.username = Some("edge".into());
        mqtt.credentials.password = Some(Secret::new(password));
    };

    // A wrong password first: refused, retried with backoff, and logged without the secret.
    let refused = start_ingest_with(&broker, EXAMPLE_CONFIG, "tls-box", |m| tls(m, "wrong-password"));
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let text = prometheus::TextEncoder::new().encode_to_string(&refused.registry.gather()).unwrap();
    assert!(text.contains("shaobing_mqtt_connected 0"), "{text}");
    assert!(text.contains("shaobing_mqtt_connections_total{outcome=\"error\"}"), "{text}");
    refused.shutdown().await;

    let running = start_ingest_with(&broker, EXAMPLE_CONFIG, "tls-box", |m| tls(m, CANARY));
    let mut options = rumqttc::MqttOptions::new("air-station", "127.0.0.1", plain_port);
    options.set_credentials("sensor", SENSOR_PASSWORD);
    let publisher = Client::with_options(options);
    // Published until one lands: the ingest's first subscription may not be in place yet.
    for seq in 0.. {
        publisher.publish(AIR_TOPIC, format!(r#"{{"ts": {}, "seq": {seq}, "pm25": 12}}"#, now_ms())).await;
        tokio::time::sleep(Duration::from_millis(200)).await;
        if running.reader().count().unwrap() > 0 {
            break;
        }
        assert!(seq < 50, "no reading arrived over TLS");
    }
    let metrics = prometheus::TextEncoder::new().encode_to_string(&running.registry.gather()).unwrap();
    assert!(metrics.contains("shaobing_mqtt_connected 1"), "{metrics}");
    let mut config = MqttConfig::default();
    tls(&mut config, CANARY);
    let printed = format!("{config:?}");
    running.shutdown().await;

    let log_text = logs.text();
    assert!(log_text.contains("connected to the MQTT broker"), "logs were captured:\n{log_text}");
    assert!(log_text.contains("MQTT connection failed"), "the refusal was logged:\n{log_text}");
    for (what, text) in [("logs", &log_text), ("metrics", &metrics), ("printed config", &printed)] {
        assert!(!text.contains(CANARY), "the password leaked into the {what}");
    }
    assert!(printed.contains("**REDACTED**"), "{printed}");
}
