//! Alerts come from durable state: a burst of 2,000 new issues while the link to the broker
//! keeps stalling reaches the command centre with every alert, each once.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a failed step is a failed test

mod common;

use shaobing::daemon::Daemon;
use shaobing_store::Store;
use shaobing_testkit::mosquitto::{Broker, Client};
use shaobing_testkit::{Proxy, until};
use std::collections::HashMap;
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;

const BINS: usize = 2_000;
const BOX: &str = "box-bins";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_of_2000_issues_with_the_broker_stalling_publishes_every_alert_once() {
    let broker = Broker::start();
    // The daemon reaches the broker through a proxy that stalls; sensors and the command
    // centre talk to it directly.
    let proxy = Proxy::start(broker.port).await;
    let dir = tempfile::tempdir().unwrap();
    let mut centre = Client::connect(&broker, "command-centre");
    centre.client.subscribe(format!("shaobing/{BOX}/issues/#"), rumqttc::QoS::AtLeastOnce).await.unwrap();
    let cancel = CancellationToken::new();
    let daemon = Daemon::start(common::car_parks(BOX, BINS, proxy.port, dir.path()), cancel.clone()).await.unwrap();
    let bins = Client::connect(&broker, "bins");
    tokio::time::sleep(Duration::from_millis(500)).await;
    for i in 0..BINS {
        bins.publish(&common::park_topic(i), "100").await;
    }
    // While the burst is filed, the link stalls 1.5 s in every 3 s (within the keep-alive: the
    // connection holds, the alerts wait).
    let stalls = {
        let proxy = &proxy;
        async move {
            for _ in 0..5 {
                proxy.stall(true);
                tokio::time::sleep(Duration::from_millis(1500)).await;
                proxy.stall(false);
                tokio::time::sleep(Duration::from_millis(1500)).await;
            }
        }
    };
    let mut seen: HashMap<(String, String), usize> = HashMap::new();
    let receive = async {
        let deadline = Instant::now() + Duration::from_secs(180);
        while seen.len() < BINS && Instant::now() < deadline {
            let Some(p) = centre.next(Duration::from_secs(30)).await else { break };
            let body: serde_json::Value = serde_json::from_slice(&p.payload).unwrap();
            assert!(body["version"].as_i64().is_some(), "an alert carries the issue's version: {body}");
            let key = (body["issue"]["id"].as_str().unwrap().to_string(), body["change"].as_str().unwrap().to_string());
            *seen.entry(key).or_default() += 1;
        }
    };
    tokio::join!(stalls, receive);
    // Anything sent twice would have arrived by now.
    while let Some(p) = centre.next(Duration::from_secs(2)).await {
        let body: serde_json::Value = serde_json::from_slice(&p.payload).unwrap();
        let key = (body["issue"]["id"].as_str().unwrap().to_string(), body["change"].as_str().unwrap().to_string());
        *seen.entry(key).or_default() += 1;
    }
    let store = Store::open(dir.path(), BOX).unwrap();
    let issues = store.list(None, 10_000).unwrap();
    assert_eq!(issues.len(), BINS, "every full bin is an issue");
    assert!(until(Duration::from_secs(10), async || store.alerts_queued().unwrap() == 0).await, "alert queue drained");
    cancel.cancel();
    daemon.wait().await.unwrap();
    let twice: Vec<_> = seen.iter().filter(|(_, n)| **n > 1).collect();
    assert!(twice.is_empty(), "alerts published more than once: {twice:?}");
    for issue in &issues {
        assert_eq!(seen.get(&(issue.id.clone(), "new".to_string())), Some(&1), "alert for {}", issue.id);
    }
}

/// A car park full that nobody answers within its category's respond_secs (1 s here): the
/// command centre hears it is overdue, moved up from community_to_street, once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_issue_nobody_answers_in_time_is_alerted_as_overdue_a_tier_up() {
    use shaobing_core::Category;
    let broker = Broker::start();
    let dir = tempfile::tempdir().unwrap();
    let mut centre = Client::connect(&broker, "command-centre");
    centre.client.subscribe("shaobing/box-late/issues/#", rumqttc::QoS::AtLeastOnce).await.unwrap();
    let mut config = common::car_parks("box-late", 1, broker.port, dir.path());
    let mut parking = shaobing_config::default_responsibility(Category::ParkingSaturated);
    (parking.respond_secs, parking.resolve_secs) = (Some(1), Some(3_600));
    config.responsibility.insert(Category::ParkingSaturated, parking);
    let cancel = CancellationToken::new();
    let daemon = Daemon::start(config, cancel.clone()).await.unwrap();
    let park = Client::connect(&broker, "park");
    tokio::time::sleep(Duration::from_millis(500)).await;
    park.publish(&common::park_topic(0), "100").await;
    let mut changes = Vec::new();
    while let Some(p) = centre.next(Duration::from_secs(8)).await {
        let body: serde_json::Value = serde_json::from_slice(&p.payload).unwrap();
        changes
            .push((body["change"].as_str().unwrap().to_string(), body["issue"]["tier"].as_str().unwrap().to_string()));
        if changes.len() == 2 {
            break;
        }
    }
    while let Some(p) = centre.next(Duration::from_secs(3)).await {
        changes.push((String::from_utf8_lossy(&p.payload).to_string(), String::new()));
    }
    cancel.cancel();
    daemon.wait().await.unwrap();
    // (The new alert carries the issue as it is when sent: its tier is not checked.)
    let got: Vec<&str> = changes.iter().map(|(c, _)| c.as_str()).collect();
    assert_eq!(got, ["new", "overdue"], "one new, one overdue alert: {changes:?}");
    assert_eq!(changes[1].1, "street_to_district", "moved up from community_to_street");
}
