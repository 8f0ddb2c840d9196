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
