//! The daemon's data directory fills up while sensor issues are being raised: nothing is
//! acknowledged to the broker that is not stored, the daemon still stops within 5 s, and once
//! space returns and it starts again every issue is filed, each once. Uses a real, tiny tmpfs, which needs root: ignored by default, run with
//! `--ignored` by `scripts/test.sh` as root (as CI does).

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a failed step is a failed test

mod common;

use shaobing::daemon::Daemon;
use shaobing_store::Store;
use shaobing_testkit::mosquitto::{Broker, Client};
use shaobing_testkit::{Tmpfs, until};
use std::time::Duration;
use tokio_util::sync::CancellationToken;

const BAYS: usize = 300;
const BOX: &str = "box-full";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs root to mount a tmpfs; CI runs it with --ignored"]
async fn a_full_disk_while_issues_are_raised_loses_none_once_space_returns() {
    let broker = Broker::start();
    let dir = tempfile::tempdir().unwrap();
    let disk = Tmpfs::mount(dir.path(), 8 << 20);
    let cancel = CancellationToken::new();
    let daemon = Daemon::start(common::car_parks(BOX, BAYS, broker.port, dir.path()), cancel.clone()).await.unwrap();
    let parks = Client::connect(&broker, "parks");
    tokio::time::sleep(Duration::from_millis(500)).await;
    // The first third is filed on a disk with room, the rest while it is full.
    for i in 0..BAYS / 3 {
        parks.publish(&common::park_topic(i), "100").await;
    }
    let issues = || Store::open(dir.path(), BOX).map(|s| s.list(None, 10_000).unwrap().len()).unwrap_or(0);
    assert!(until(Duration::from_secs(30), async || issues() == BAYS / 3).await, "filed before the disk filled");
    let ballast = disk.fill();
    for i in BAYS / 3..BAYS {
        parks.publish(&common::park_topic(i), "100").await;
    }
    tokio::time::sleep(Duration::from_secs(5)).await;
    let readings = shaobing_sensors::ReadingsStore::open_in(dir.path()).map(|r| r.count().unwrap()).unwrap_or(0);
    assert!(readings < BAYS as u64, "the full disk took every reading ({readings})");
    // Stopped while the disk is still full: the writes in hand are given up, not waited for.
    let stopping = std::time::Instant::now();
    cancel.cancel();
    tokio::time::timeout(Duration::from_secs(5), daemon.wait()).await.expect("stopped within 5 s").unwrap();
    eprintln!("stopped in {:.2} s on a full disk", stopping.elapsed().as_secs_f64());
    std::fs::remove_file(&ballast).unwrap();
    let cancel = CancellationToken::new();
    let daemon = Daemon::start(common::car_parks(BOX, BAYS, broker.port, dir.path()), cancel.clone()).await.unwrap();
    let all = until(Duration::from_secs(60), async || issues() == BAYS).await;
    assert!(all, "{} of {BAYS} issues filed after space returned", issues());
    cancel.cancel();
    daemon.wait().await.unwrap();
    let store = Store::open(dir.path(), BOX).unwrap();
    let rows = store.list(None, 10_000).unwrap();
    let mut keys: Vec<&str> = rows.iter().map(|r| r.dedup_key.as_str()).collect();
    keys.sort_unstable();
    keys.dedup();
    assert_eq!(keys.len(), BAYS, "one issue per car park, none twice");
    assert!(rows.iter().all(|r| r.evidence_path.as_ref().is_some_and(|p| std::fs::metadata(p).is_ok())));
    assert_eq!(store.integrity_check().unwrap(), "ok");
    let readings = shaobing_sensors::ReadingsStore::open_in(dir.path()).unwrap().count().unwrap();
    assert_eq!(readings, BAYS as u64, "every reading stored once");
}
