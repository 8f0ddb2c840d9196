//! The broker killed (SIGKILL, as a crash or a power cut) in the middle of a 1,000 readings/s
//! QoS 1 stream and kept away for a minute: with the shipped Mosquitto configuration and the
//! shipped retry settings, every reading the sensors published is stored once, and data flows
//! again within 10 s of the broker's return. A broker that comes back without the box's
//! session is filed as a device issue.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{Broker, Client, now_ms};
use shaobing_core::{Category, Finding, SensorId, UnixMillis};
use shaobing_mqtt::MqttConfig;
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

const SENSORS: [&str; 4] = ["seg-1", "seg-2", "seg-3", "seg-4"];
const PER_TICK: usize = 10; // every 10 ms: 1,000 readings/s
const BEFORE: Duration = Duration::from_secs(3);
const OUTAGE: Duration = Duration::from_secs(60);
const AFTER: Duration = Duration::from_secs(5);

/// The shipped retry settings, not the harness's quick ones.
fn shipped_retry(mqtt: &mut MqttConfig) {
    let shipped = MqttConfig::default();
    mqtt.backoff_initial_secs = shipped.backoff_initial_secs;
    mqtt.backoff_max_secs = shipped.backoff_max_secs;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_reading_is_lost_when_the_broker_is_killed_for_a_minute() {
    let mut broker = Broker::start_shipped();
    let running =
        common::start_ingest_subscribed_with(&broker, &common::roads_config(&SENSORS), "kill-box", shipped_retry).await;
    let publisher = Client::connect(&broker, "traffic-platform");
    let started = Instant::now();
    let mut tick = tokio::time::interval(Duration::from_millis(10));
    let mut next_seq: BTreeMap<&str, u64> = SENSORS.iter().map(|s| (*s, 0)).collect();
    let (mut killed, mut back_at, mut stored_at_return) = (false, None, 0);
    let mut i = 0usize;
    while started.elapsed() < BEFORE + OUTAGE + AFTER {
        tick.tick().await;
        for _ in 0..PER_TICK {
            let sensor = SENSORS[i % SENSORS.len()];
            let seq = next_seq.get_mut(sensor).unwrap();
            let payload = format!(r#"{{"ts": {}, "seq": {seq}, "flow": {}}}"#, now_ms(), 600 + *seq % 900);
            // Published while the broker is away too: the sensor's client queues and resends.
            publisher.publish(&format!("sanlitun/road/{sensor}/state"), payload).await;
            *seq += 1;
            i += 1;
        }
        if !killed && started.elapsed() >= BEFORE {
            broker.kill();
            killed = true;
        }
        if killed && back_at.is_none() && started.elapsed() >= BEFORE + OUTAGE {
            stored_at_return = running.reader().count().unwrap();
            broker.start_again();
            back_at = Some(Instant::now());
        }
    }
    let back_at = back_at.unwrap();
    let total = i as u64;
    let reader = running.reader();
    // Data flows again: readings stored after the broker's return, within 10 s of it.
    let mut recovered = None;
    while back_at.elapsed() < Duration::from_secs(30) {
        if reader.count().unwrap() > stored_at_return {
            recovered = Some(back_at.elapsed());
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let recovered = recovered.expect("no reading stored within 30 s of the broker's return");
    eprintln!("readings flowing again {:.1} s after the broker's return", recovered.as_secs_f64());
    // Until everything is in, or nothing more comes for 10 s.
    let (mut count, mut moved) = (reader.count().unwrap(), Instant::now());
    while count < total && moved.elapsed() < Duration::from_secs(10) {
        tokio::time::sleep(Duration::from_millis(100)).await;
        let now = reader.count().unwrap();
        if now > count {
            (count, moved) = (now, Instant::now());
        }
    }
    let all_in = moved.saturating_duration_since(back_at);
    for sensor in SENSORS {
        let stored = reader.series(&SensorId(sensor.into()), "flow", UnixMillis(0), UnixMillis(i64::MAX)).unwrap();
        let mut seqs: Vec<u64> = stored.iter().map(|s| s.seq.unwrap()).collect();
        seqs.sort_unstable();
        let expected: Vec<u64> = (0..next_seq[sensor]).collect();
        assert_eq!(
            seqs,
            expected,
            "{sensor}: every sequence number exactly once; missing {:?}",
            gaps(&seqs, next_seq[sensor])
        );
    }
    assert!(recovered <= Duration::from_secs(10), "data flowed again only {recovered:?} after the broker's return");
    eprintln!("all {total} readings stored {:.1} s after the broker's return", all_in.as_secs_f64());
    assert_eq!(
        sum(&running.registry, "shaobing_mqtt_sessions_lost_total"),
        0.0,
        "the shipped configuration keeps the session"
    );
    running.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_broker_back_without_the_session_is_a_device_issue() {
    // The test broker saves sessions only on a clean exit: killed, it forgets the box.
    let mut broker = Broker::start();
    let mut running = common::start_ingest_subscribed(&broker, &common::roads_config(&SENSORS), "forgotten-box").await;
    broker.kill();
    broker.start_again();
    let deadline = Instant::now() + Duration::from_secs(20);
    let issue = loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match running.next_finding(left).await.expect("a device issue for the lost session") {
            Finding::Opened { issue, .. } if issue.cause.rule == "sensor/mqtt/session_lost" => break issue,
            _ => {}
        }
    };
    assert_eq!(issue.category, Category::DeviceMaintenance);
    assert_eq!(issue.dedup_key, format!("sensor:mqtt:127.0.0.1:{}:session_lost", broker.port));
    assert!(issue.cause.summary.contains("without this box's session"), "{}", issue.cause.summary);
    assert_eq!(sum(&running.registry, "shaobing_mqtt_sessions_lost_total"), 1.0);
    running.shutdown().await;
}

/// The runs of sequence numbers below `end` missing from sorted `seqs`, as (first, count).
fn gaps(seqs: &[u64], end: u64) -> Vec<(u64, u64)> {
    let mut out = Vec::new();
    let mut expect = 0;
    for &s in seqs.iter().chain(std::iter::once(&end)) {
        if s > expect {
            out.push((expect, s - expect));
        }
        expect = expect.max(s + 1);
    }
    out
}

/// The sum of a metric family's series.
fn sum(registry: &prometheus::Registry, name: &str) -> f64 {
    let families = registry.gather();
    let family = families.iter().find(|f| f.name() == name).unwrap_or_else(|| panic!("no metric {name}"));
    family.get_metric().iter().map(|m| m.get_counter().get_value() + m.get_gauge().get_value()).sum()
}
