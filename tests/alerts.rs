//! Alerts come from durable state: a burst of 2,000 new issues while the link to the broker
//! keeps stalling reaches the command centre with every alert, each once.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a failed step is a failed test

use shaobing::daemon::Daemon;
use shaobing_config::Config;
use shaobing_store::Store;
use shaobing_testkit::mosquitto::{Broker, Client};
use shaobing_testkit::{Proxy, until};
use std::collections::HashMap;
use std::fmt::Write as _;
use std::path::Path;
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;

const BINS: usize = 2_000;
const BOX: &str = "box-bins";

/// One group of `BINS` occupancy sensors (say, one per car park); one at 100 % is an issue at once.
fn config(mqtt_port: u16, data: &Path) -> Config {
    let mut text = format!(
        "[daemon]\nbox_id = \"{BOX}\"\ndata_dir = \"{}\"\n[metrics]\nlisten = \"127.0.0.1:0\"\n\
         [mqtt]\nhost = \"127.0.0.1\"\nport = {mqtt_port}\nkeep_alive_secs = 30\n\
         [sensors]\n[[sensors.groups]]\nname = \"bins\"\nkind = \"parking\"\n\
         topic = \"sanlitun/bins/+/fill\"\nsensor_id_level = 2\n\
         decoder = {{ format = \"plain\", quantity = \"occupancy\", unit = \"percent\" }}\n\
         [[sensors.groups.rules]]\nname = \"full\"\nquantity = \"occupancy\"\nraise = 0.95\nclear = 0.5\n",
        data.display()
    );
    for i in 0..BINS {
        writeln!(text, "[sensors.groups.sensors.bin-{i:04}]\naddress = \"三里屯 {i} 号停车场\"").unwrap();
    }
    let config = Config::parse(&text, Path::new("test.toml")).unwrap();
    config.validate().unwrap();
    config
}

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
    let daemon = Daemon::start(config(proxy.port, dir.path()), cancel.clone()).await.unwrap();
    let bins = Client::connect(&broker, "bins");
    tokio::time::sleep(Duration::from_millis(500)).await;
    for i in 0..BINS {
        bins.publish(&format!("sanlitun/bins/bin-{i:04}/fill"), "100").await;
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
