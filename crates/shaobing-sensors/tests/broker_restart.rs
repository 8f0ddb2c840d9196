//! The broker is stopped and restarted in the middle of a 1,000 readings/s QoS 1 stream, and a
//! large backlog builds up while the ingest is away: every reading must end up in the store
//! exactly once.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{Broker, Client, now_ms, publish_backlog, start_ingest, start_ingest_subscribed};
use shaobing_core::{SensorId, UnixMillis};
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

const SENSORS: [&str; 4] = ["seg-1", "seg-2", "seg-3", "seg-4"];
const RATE_PER_SEC: u64 = 1_000;
const STREAM_SECS: u64 = 8;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_reading_is_lost_or_duplicated_when_the_broker_restarts_mid_stream() {
    let mut broker = Broker::start();
    // Subscribed first: before that, no session exists at the broker to queue the readings.
    let running = start_ingest_subscribed(&broker, &common::roads_config(&SENSORS), "restart-box").await;

    let publisher = Client::connect(&broker, "traffic-platform");
    let total = RATE_PER_SEC * STREAM_SECS;
    let started = Instant::now();
    let mut tick = tokio::time::interval(Duration::from_millis(10));
    let per_tick = RATE_PER_SEC / 100;
    let mut restarted = false;
    let mut next_seq: BTreeMap<&str, u64> = SENSORS.iter().map(|s| (*s, 0)).collect();
    for i in 0..total / per_tick {
        tick.tick().await;
        for j in 0..per_tick {
            let sensor = SENSORS[((i * per_tick + j) % SENSORS.len() as u64) as usize];
            let seq = next_seq.get_mut(sensor).unwrap();
            let payload = format!(r#"{{"ts": {}, "seq": {seq}, "flow": {}}}"#, now_ms(), 600 + *seq % 900);
            publisher.publish(&format!("sanlitun/road/{sensor}/state"), payload).await;
            *seq += 1;
        }
        if !restarted && started.elapsed() >= Duration::from_secs(3) {
            broker.stop();
            tokio::time::sleep(Duration::from_secs(1)).await;
            broker.restart();
            restarted = true;
        }
    }
    let published_in = started.elapsed();
    running.wait_for_count(total, Duration::from_secs(60)).await;
    let all_in = started.elapsed();

    let reader = running.reader();
    for sensor in SENSORS {
        let stored = reader.series(&SensorId(sensor.into()), "flow", UnixMillis(0), UnixMillis(i64::MAX)).unwrap();
        let mut seqs: Vec<u64> = stored.iter().map(|s| s.seq.unwrap()).collect();
        seqs.sort_unstable();
        let expected: Vec<u64> = (0..next_seq[sensor]).collect();
        assert_eq!(seqs.len(), expected.len(), "{sensor}: stored {} readings", seqs.len());
        assert_eq!(seqs, expected, "{sensor}: every sequence number exactly once");
    }
    assert_eq!(reader.count().unwrap(), total);
    let text = prometheus::TextEncoder::new().encode_to_string(&running.registry.gather()).unwrap();
    assert!(text.contains("shaobing_mqtt_connections_total{outcome=\"ok\"} 2"), "reconnected once:\n{text}");
    assert!(text.contains("shaobing_mqtt_sessions_lost_total 0"), "a clean restart keeps the session:\n{text}");
    eprintln!(
        "published {total} readings in {published_in:?}, all committed {all_in:?} after the first; \
         {} redelivered duplicates ignored",
        running.metrics.duplicates.get()
    );
    running.shutdown().await;
}

/// 20,000 readings queued by the broker while the ingest was down arrive in a burst when it
/// reconnects. (This once deadlocked: the ingest waited for room for its acks in rumqttc's
/// request channel while the poll task, the only one draining it, waited for room in the queue.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backlog_queued_while_the_ingest_was_down_is_drained() {
    let broker = Broker::start();
    let sensors = shaobing_sensors::corpus::EXAMPLE_CONFIG;
    start_ingest_subscribed(&broker, sensors, "backlog-box").await.shutdown().await;
    let n = 20_000;
    publish_backlog(&broker, shaobing_sensors::corpus::AIR_TOPIC, n, &[12.5, 80.0, 35.0]).await;
    let running = start_ingest(&broker, sensors, "backlog-box");
    let started = Instant::now();
    running.wait_for_count(n as u64, Duration::from_secs(120)).await;
    eprintln!("{n} queued readings drained in {:?}", started.elapsed());
    let stored =
        running.reader().series(&SensorId("aq-gongti".into()), "pm2_5", UnixMillis(0), UnixMillis(i64::MAX)).unwrap();
    let seqs: Vec<u64> = stored.iter().map(|s| s.seq.unwrap()).collect();
    assert_eq!(seqs, (0..n as u64).collect::<Vec<_>>());
    running.shutdown().await;
}
