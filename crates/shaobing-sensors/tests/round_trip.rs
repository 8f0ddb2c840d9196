//! Publish -> committed reading -> candidate issue, through a real Mosquitto.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{Broker, Client, now_ms};
use rumqttc::QoS;
use shaobing_core::{Category, Finding, Phase, SensorId, UnixMillis};
use std::time::Duration;

const SENSORS: &str = include_str!("../fixtures/sensors.toml");
const MIN: i64 = 60_000;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sustained_episode_published_over_mqtt_becomes_one_issue_with_its_readings() {
    let broker = Broker::start();
    let mut probe = Client::connect(&broker, "probe");
    probe.client.subscribe("shaobing/rt-box/availability", QoS::AtLeastOnce).await.unwrap();
    let mut running = common::start_ingest(&broker, SENSORS, "rt-box");
    let online = probe.next(Duration::from_secs(10)).await.expect("availability announced");
    assert_eq!(online.payload.as_ref(), b"online");
    // Once per connection, not twice.
    let again = probe.next(Duration::from_secs(2)).await;
    assert!(again.is_none(), "availability published again: {again:?}");
    // Retained: a console that subscribes later still learns the box is up.
    let mut late = Client::connect(&broker, "late-probe");
    late.client.subscribe("shaobing/rt-box/availability", QoS::AtLeastOnce).await.unwrap();
    let retained = late.next(Duration::from_secs(10)).await.expect("retained availability");
    assert_eq!((retained.payload.as_ref(), retained.retain), (&b"online"[..], true));

    // 110 minutes of PM2.5, one reading a minute, ending now: 20 min clean (60 ug/m3, IAQI 82),
    // 80 min at 120 ug/m3 (IAQI 158, 中度污染), then 10 min clean again.
    let start = now_ms() - 110 * MIN;
    let series: Vec<(i64, f64)> =
        (0..110).map(|m| (start + m * MIN, if (20..100).contains(&m) { 120.0 } else { 60.0 })).collect();
    let publisher = Client::connect(&broker, "air-station");
    for (seq, (ts, pm25)) in series.iter().enumerate() {
        let payload = format!(r#"{{"ts": {ts}, "seq": {seq}, "pm25": {pm25}, "gas": {{"no2": 41.5}}}}"#);
        publisher.publish("sanlitun/air/aq-gongti/state", payload).await;
    }
    publisher.publish("sanlitun/parking/taikoo-p2/occupancy", "97.5").await;

    running.wait_for_count(2 * series.len() as u64 + 1, Duration::from_secs(20)).await;
    let mut episode = Vec::new();
    while let Some(found) = running.next_finding(Duration::from_secs(2)).await {
        if found.dedup_key() == "sensor:air:aq-gongti:pm25_episode" {
            episode.push(found);
        }
    }
    let minute = |f: &Finding| match f {
        Finding::Opened { issue, .. } | Finding::Ongoing { issue, .. } => Some((issue.observed_at.0 - start) / MIN),
        Finding::Cleared { .. } | Finding::Clip { .. } => None,
    };
    let phases: Vec<(Phase, Option<i64>)> = episode.iter().map(|f| (f.phase(), minute(f))).collect();
    assert_eq!(phases, vec![(Phase::Opened, Some(80)), (Phase::Ongoing, Some(95)), (Phase::Cleared, None)]);
    let Finding::Cleared { actor, .. } = &episode[2] else { unreachable!() };
    assert_eq!(actor, "sensor:sensor/air/pm25_episode");

    let Finding::Opened { issue: c, evidence } = &episode[0] else { unreachable!() };
    assert_eq!(c.category, Category::AirPollution);
    assert_eq!(c.dedup_key, "sensor:air:aq-gongti:pm25_episode");
    assert_eq!(c.location.address.as_deref(), Some("朝阳区工体北路 4 号"));
    assert_eq!(c.responsibility.department, "dept-air_pollution");
    // The evidence runs from 10 minutes before the episode to the reading that opened it.
    let evidence: serde_json::Value = serde_json::from_slice(evidence.as_deref().unwrap()).unwrap();
    assert_eq!(evidence["rule"], "sensor/air/pm25_episode");
    let points = evidence["points"].as_array().unwrap();
    let t = |p: &serde_json::Value| p["t"].as_i64().unwrap();
    assert_eq!((t(points.first().unwrap()) - start) / MIN, 10);
    assert_eq!((t(points.last().unwrap()) - start) / MIN, 80);
    assert_eq!(points.iter().filter(|p| p["value"] == 120.0).count(), 61);

    let reader = running.reader();
    let stored = reader.series(&SensorId("aq-gongti".into()), "pm2_5", UnixMillis(0), UnixMillis(i64::MAX)).unwrap();
    let got: Vec<(i64, f64, Option<u64>)> =
        stored.iter().map(|s| (s.reading.observed_at.0, s.reading.value, s.seq)).collect();
    let want: Vec<(i64, f64, Option<u64>)> =
        series.iter().enumerate().map(|(i, &(t, v))| (t, v, Some(i as u64))).collect();
    assert_eq!(got, want);
    let parking =
        reader.series(&SensorId("taikoo-p2".into()), "occupancy", UnixMillis(0), UnixMillis(i64::MAX)).unwrap();
    assert_eq!(parking.iter().map(|s| s.reading.value).collect::<Vec<_>>(), vec![0.975]);

    let text = prometheus::TextEncoder::new().encode_to_string(&running.registry.gather()).unwrap();
    assert!(text.contains("shaobing_sensor_messages_received_total{group=\"air\"} 110"), "{text}");
    assert!(text.contains("shaobing_sensor_readings_committed_total 221"), "{text}");
    assert!(text.contains("shaobing_mqtt_connected 1"), "{text}");

    running.shutdown().await;
    let offline = probe.next(Duration::from_secs(10)).await.expect("offline announced");
    assert_eq!(offline.payload.as_ref(), b"offline");
}
