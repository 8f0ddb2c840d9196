//! A restart in the middle of sensor episodes: the rules pick up where they stood, and
//! findings committed with their readings but not yet filed are handed over again.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{Broker, Client, now_ms};
use shaobing_core::{Finding, Phase};
use std::time::{Duration, Instant};

const MIN: i64 = 60_000;
const BOX: &str = "restart-box";
const SENSORS: &str = r#"
stale_check_secs = 1

[[groups]]
name = "air"
kind = "air_quality"
topic = "sanlitun/air/+/state"
sensor_id_level = 2
stale_after_secs = 3
decoder = { format = "json", timestamp = "ts", timestamp_unit = "millis", sequence = "seq", fields = [
    { path = "pm25", quantity = "pm2_5" },
] }

[groups.sensors.aq-1]
address = "工体北路"

[groups.sensors.aq-2]
address = "三里屯路"

[[groups.rules]]
name = "pm25_high"
quantity = "pm2_5"
raise = 100.0
clear = 50.0
min_duration_secs = 120
"#;

const EPISODE: &str = "sensor:air:aq-1:pm25_high";
const SILENT: &str = "sensor:air:aq-2:stale";

async fn publish(client: &Client, sensor: &str, seq: usize, ts: i64, pm25: f64) {
    let payload = format!(r#"{{"ts": {ts}, "seq": {seq}, "pm25": {pm25}}}"#);
    client.publish(&format!("sanlitun/air/{sensor}/state"), payload).await;
}

/// Takes findings (filing each) until one with `key` in `phase`; panics after `timeout`.
async fn wait_for(running: &mut common::Running, key: &str, phase: Phase, timeout: Duration) -> Finding {
    let deadline = Instant::now() + timeout;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let found = running.next_finding(left).await.unwrap_or_else(|| panic!("no {phase:?} for {key}"));
        if found.dedup_key() == key && found.phase() == phase {
            return found;
        }
    }
}

/// A broker, a station client and a running ingest in which aq-1 has been above its threshold
/// for 3 minutes (from `start`, 10 minutes ago): enough to open the episode.
async fn an_episode() -> (Broker, Client, common::Running, i64) {
    let broker = Broker::start();
    let station = Client::connect(&broker, "stations");
    let running = common::start_ingest_subscribed(&broker, SENSORS, BOX).await;
    let start = now_ms() - 10 * MIN;
    for m in 0..4 {
        publish(&station, "aq-1", m, start + m as i64 * MIN, 150.0).await;
    }
    (broker, station, running, start)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn open_sensor_issues_resolve_after_a_restart() {
    // aq-1's episode opens; aq-2 speaks once, then falls silent: filed as a device issue 3 s later.
    let (broker, station, mut running, start) = an_episode().await;
    publish(&station, "aq-2", 0, now_ms(), 30.0).await;
    wait_for(&mut running, EPISODE, Phase::Opened, Duration::from_secs(10)).await;
    wait_for(&mut running, SILENT, Phase::Opened, Duration::from_secs(10)).await;
    let (data, _) = running.shutdown().await;

    let mut running = common::start_ingest_in(&broker, SENSORS, BOX, data, |_| {});
    // Still high after the restart: the episode goes on, it does not open again.
    publish(&station, "aq-1", 4, start + 4 * MIN, 160.0).await;
    // Back under the clear threshold, and aq-2 speaks again: both issues resolve.
    publish(&station, "aq-1", 5, start + 5 * MIN, 20.0).await;
    publish(&station, "aq-2", 1, now_ms(), 30.0).await;
    // (aq-1's own silence, its readings being minutes old, clears too: not this test's point.)
    let mut cleared = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(10);
    while !(cleared.iter().any(|k| k == EPISODE) && cleared.iter().any(|k| k == SILENT)) {
        let left = deadline.saturating_duration_since(Instant::now());
        let found = running.next_finding(left).await.unwrap_or_else(|| panic!("cleared only {cleared:?}"));
        assert!(
            !(found.dedup_key() == EPISODE && found.phase() == Phase::Opened),
            "the episode open before the restart opened again: {found:?}"
        );
        if let Finding::Cleared { dedup_key, .. } = found {
            cleared.push(dedup_key);
        }
    }
    running.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn findings_committed_but_not_filed_are_handed_over_again_after_a_restart() {
    let (broker, station, mut running, start) = an_episode().await;
    // The readings are committed (and so acknowledged) with their finding; the issues room
    // never says it filed it, as when the process dies first.
    running.wait_for_count(4, Duration::from_secs(10)).await;
    let first = tokio::time::timeout(Duration::from_secs(10), running.findings.recv()).await.unwrap().unwrap();
    let id = first.receipt.as_ref().expect("a sensor finding is durable").id.clone();
    assert_eq!((first.finding.dedup_key(), first.finding.phase()), (EPISODE, Phase::Opened));
    drop(first);
    let (data, _) = running.shutdown().await;

    let mut running = common::start_ingest_in(&broker, SENSORS, BOX, data, |_| {});
    let again = tokio::time::timeout(Duration::from_secs(10), running.findings.recv()).await.unwrap().unwrap();
    assert_eq!(again.receipt.as_ref().map(|r| r.id.as_str()), Some(id.as_str()), "the same finding, by its id");
    assert_eq!((again.finding.dedup_key(), again.finding.phase()), (EPISODE, Phase::Opened));
    again.receipt.unwrap().filed();
    // Once filed it is no longer pending: a third start hands over nothing of it. The receipt
    // takes effect with the next commit; a reading makes one.
    publish(&station, "aq-1", 4, start + 4 * MIN, 150.0).await;
    running.wait_for_count(5, Duration::from_secs(10)).await;
    let (data, _) = running.shutdown().await;
    let mut running = common::start_ingest_in(&broker, SENSORS, BOX, data, |_| {});
    if let Ok(Some(next)) = tokio::time::timeout(Duration::from_secs(2), running.findings.recv()).await {
        assert_ne!(next.receipt.as_ref().map(|r| r.id.as_str()), Some(id.as_str()), "filed, yet handed over again");
    }
    running.shutdown().await;
}
