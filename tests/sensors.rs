//! The daemon's sensor path on real parts: a private Mosquitto, QoS 1 readings, the box's
//! readings store and problem database. A sustained PM2.5 episode becomes one issue carrying
//! the readings around it, and clears by itself when the air does.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a failed step is a failed test

mod common;

use shaobing::daemon::Daemon;
use shaobing_config::Config;
use shaobing_store::Store;
use shaobing_testkit::mosquitto::{Broker, Client, now_ms};
use shaobing_testkit::until;
use std::path::Path;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

const AIR: &str = "sanlitun/air/aq-gongti/state";

fn config(broker: &Broker, data: &Path) -> Config {
    let text = format!(
        "[daemon]\nbox_id = \"box-air\"\ndata_dir = \"{}\"\n[metrics]\nlisten = \"127.0.0.1:0\"\n\
         [mqtt]\nhost = \"127.0.0.1\"\nport = {}\n",
        data.display(),
        broker.port
    );
    let mut config = Config::parse(&text, Path::new("test.toml")).unwrap();
    common::with_fixture_sensors(&mut config);
    config.validate().unwrap();
    config
}

async fn publish_minutes(client: &Client, first_seq: u64, minutes: &[(i64, f64)]) {
    for (i, (minutes_ago, pm25)) in minutes.iter().enumerate() {
        let ts = now_ms() - minutes_ago * 60_000;
        let body = format!(r#"{{"ts":{ts},"seq":{},"pm25":{pm25}}}"#, first_seq + i as u64);
        client.publish(AIR, body).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sustained_pm25_episode_is_one_issue_with_its_readings_and_clears_by_itself() {
    let broker = Broker::start();
    let dir = tempfile::tempdir().unwrap();
    let cancel = CancellationToken::new();
    let mut availability = Client::connect(&broker, "availability-probe");
    availability.client.subscribe("shaobing/box-air/availability", rumqttc::QoS::AtLeastOnce).await.unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    let daemon = Daemon::start(config(&broker, dir.path()), cancel.clone()).await.unwrap();
    let publisher = Client::connect(&broker, "air-monitor");
    let mut command_centre = Client::connect(&broker, "command-centre");
    command_centre.client.subscribe("shaobing/box-air/issues/#", rumqttc::QoS::AtLeastOnce).await.unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    // 重度污染 for seventy minutes (PM2.5 200 µg/m³, IAQI 250), one reading a minute.
    let episode: Vec<(i64, f64)> = (0..70).map(|m| (80 - m, 200.0)).collect();
    publish_minutes(&publisher, 1, &episode).await;
    let issues = || Store::open(dir.path(), "box-air").unwrap().list(None, 10).unwrap();
    assert!(until(Duration::from_secs(20), async || !issues().is_empty()).await, "no issue for the episode");
    // The air clears: ten minutes of PM2.5 20 µg/m³.
    let clean: Vec<(i64, f64)> = (0..10).map(|m| (10 - m, 20.0)).collect();
    publish_minutes(&publisher, 71, &clean).await;
    assert!(until(Duration::from_secs(20), async || issues().first().is_some_and(|i| i.status == "resolved")).await);
    let mut alerts = Vec::new();
    while let Some(p) = command_centre.next(Duration::from_secs(5)).await {
        let body: serde_json::Value = serde_json::from_slice(&p.payload).unwrap();
        alerts.push((
            p.topic.clone(),
            body["change"].as_str().unwrap_or_default().to_string(),
            body["issue"]["id"].clone(),
        ));
        if alerts.len() == 2 {
            break;
        }
    }
    cancel.cancel();
    daemon.wait().await.unwrap();
    let mut announced = Vec::new();
    while let Some(p) = availability.next(Duration::from_millis(500)).await {
        announced.push(String::from_utf8_lossy(&p.payload).into_owned());
    }
    assert_eq!(announced, ["online", "offline"], "availability once per change");

    let rows = issues();
    let topic = "shaobing/box-air/issues/routine/air_pollution".to_string();
    assert_eq!(
        alerts.iter().map(|a| (a.0.clone(), a.1.clone())).collect::<Vec<_>>(),
        [(topic.clone(), "new".to_string()), (topic, "resolved".to_string())]
    );
    assert!(alerts.iter().all(|a| a.2 == rows[0].id.as_str()), "alerts name the issue: {alerts:?}");
    assert_eq!(rows.len(), 1, "one episode, one issue: {rows:#?}");
    let issue = &rows[0];
    assert_eq!((issue.category.as_str(), issue.channel.as_str()), ("air_pollution", "command_centre_sensor"));
    assert_eq!(issue.whistle_kind, "ecology");
    assert_eq!(issue.address.as_deref(), Some("朝阳区工体北路 4 号"));
    assert!(issue.department.contains("生态环境"), "{}", issue.department);
    let evidence = issue.evidence_path.as_ref().expect("readings attached");
    assert!(evidence.ends_with(".json"), "{evidence}");
    let series: serde_json::Value = serde_json::from_slice(&std::fs::read(evidence).unwrap()).unwrap();
    let points = series["points"].as_array().unwrap();
    assert!(points.len() >= 10 && points.iter().all(|p| p["value"].as_f64().is_some()), "{series}");
    let history = Store::open(dir.path(), "box-air").unwrap().history(&issue.id).unwrap();
    assert_eq!(history.last().map(|h| h.actor.starts_with("sensor:")), Some(true), "{history:?}");
}
