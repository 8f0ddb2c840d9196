//! The malformed-payload corpus through a real broker: each message is rejected with its code,
//! counted, acknowledged and never stored, and the connection survives all of it.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{Broker, Client, now_ms, start_ingest_subscribed};
use shaobing_core::{SensorId, UnixMillis};
use shaobing_sensors::corpus::{AIR_TOPIC, EXAMPLE_CONFIG, malformed};
use std::collections::BTreeMap;
use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_malformed_payload_is_rejected_with_its_code_and_nothing_breaks() {
    let broker = Broker::start();
    let running = start_ingest_subscribed(&broker, EXAMPLE_CONFIG, "corpus-box").await;
    let publisher = Client::connect(&broker, "fuzzy-sensor");
    let corpus = malformed(UnixMillis(now_ms()));
    for case in &corpus {
        publisher.publish(case.topic, case.payload.clone()).await;
    }
    // A good reading after the corpus: once it is stored, everything before it was handled.
    let good = format!(r#"{{"ts": {}, "seq": 7, "pm25": 42}}"#, now_ms());
    publisher.publish(AIR_TOPIC, good).await;
    running.wait_for_count(1, Duration::from_secs(20)).await;

    let mut expected: BTreeMap<(&str, &str), u64> = BTreeMap::new();
    for case in &corpus {
        let group = if case.topic.starts_with("sanlitun/air/") { "air" } else { "parking" };
        *expected.entry((group, case.code.as_str())).or_default() += 1;
    }
    for code in shaobing_sensors::RejectCode::ALL {
        for group in ["air", "parking"] {
            let want = expected.get(&(group, code.as_str())).copied().unwrap_or(0);
            assert_eq!(running.metrics.rejected_count(group, code), want, "{group}/{code}");
        }
    }
    let reader = running.reader();
    assert_eq!(reader.count().unwrap(), 1, "only the good reading is stored");
    let stored = reader.series(&SensorId("aq-gongti".into()), "pm2_5", UnixMillis(0), UnixMillis(i64::MAX)).unwrap();
    assert_eq!((stored[0].reading.value, stored[0].seq), (42.0, Some(7)));
    assert_one_connection(&running);
    running.shutdown().await;
}

/// Messages lost upstream (a broker's queue limit, a gateway) show as gaps in a sensor's
/// numbers: counted per group, while a redelivered copy counts as nothing. A sentinel value
/// in an optional field costs that field, not the message.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gaps_in_a_sensors_numbers_are_counted_and_a_bad_optional_field_is_left_out_alone() {
    let broker = Broker::start();
    let running = start_ingest_subscribed(&broker, EXAMPLE_CONFIG, "gap-box").await;
    let publisher = Client::connect(&broker, "air-monitor");
    let sent = [1u64, 2, 5, 6, 6, 10];
    for (i, seq) in sent.iter().enumerate() {
        let body = format!(r#"{{"ts": {}, "seq": {seq}, "pm25": 40}}"#, now_ms() - 10_000 + i as i64);
        publisher.publish(AIR_TOPIC, body).await;
    }
    // A station's sentinel (-200) in an optional field: that field alone is left out.
    let sentinel = format!(r#"{{"ts": {}, "seq": 11, "pm25": 40, "pm10": -200}}"#, now_ms() - 1_000);
    publisher.publish(AIR_TOPIC, sentinel).await;
    running.wait_for_count(6, Duration::from_secs(20)).await;
    assert_eq!(running.metrics.missing_count("air"), 2 + 3, "3 and 4, then 7 to 9, never arrived");
    let code = shaobing_sensors::RejectCode::OutOfRange;
    assert_eq!(running.metrics.fields_rejected_count("air", code), 1, "the sentinel field only");
    assert_eq!(running.metrics.rejected_count("air", code), 0, "no message was rejected");
    assert_eq!(running.metrics.missing_count("parking"), 0);
    running.shutdown().await;
}

/// A 3 MiB message through a broker without a size limit (Mosquitto's default) is read,
/// rejected as too large, counted and acknowledged: the readings after it arrive on the same
/// connection, with no reconnection and no redelivery loop.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_oversized_message_is_rejected_and_ingest_goes_on() {
    let broker = Broker::start();
    let running = start_ingest_subscribed(&broker, EXAMPLE_CONFIG, "big-box").await;
    let publisher = Client::connect(&broker, "chatty-sensor");
    let huge = format!(r#"{{"ts": {}, "seq": 1, "pm25": 40, "pad": "{}"}}"#, now_ms(), "x".repeat(3 << 20));
    publisher.publish(AIR_TOPIC, huge).await;
    let good = format!(r#"{{"ts": {}, "seq": 2, "pm25": 41}}"#, now_ms());
    publisher.publish(AIR_TOPIC, good).await;
    running.wait_for_count(1, Duration::from_secs(20)).await;
    assert_eq!(running.metrics.rejected_count("air", shaobing_sensors::RejectCode::TooLarge), 1);
    assert_one_connection(&running);
    running.shutdown().await;
}

/// The ingest stayed on its first connection: no error, no reconnection.
fn assert_one_connection(running: &common::Running) {
    let text = prometheus::TextEncoder::new().encode_to_string(&running.registry.gather()).unwrap();
    assert!(text.contains("shaobing_mqtt_connections_total{outcome=\"ok\"} 1"), "never reconnected:\n{text}");
    assert!(!text.contains("outcome=\"error\""), "no connection error:\n{text}");
}
