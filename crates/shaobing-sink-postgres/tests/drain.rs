//! The outbox drained into a real PostgreSQL: a cut link, a poison row, an interrupted drain.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use shaobing_core::{IssueStatus, UnixMillis};
use shaobing_sink_postgres::{DrainConfig, DrainStats, drain};
use shaobing_store::Store;
use shaobing_testkit::issue::candidate;
use shaobing_testkit::until;
use shaobing_testkit::{Pg, Proxy};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

struct Box_ {
    _dir: tempfile::TempDir,
    store: Arc<Mutex<Store>>,
    stats: Arc<DrainStats>,
    wake: Arc<Notify>,
}

impl Box_ {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let store = Arc::new(Mutex::new(Store::open(dir.path(), "box-t").unwrap()));
        Self { _dir: dir, store, stats: Arc::new(DrainStats::default()), wake: Arc::new(Notify::new()) }
    }

    fn file(&self, key: &str, cause: Option<&str>) {
        let mut issue = candidate(key, UnixMillis::now());
        if let Some(c) = cause {
            issue.cause.summary = c.into();
        }
        self.store.lock().unwrap().record(&issue, Some(b"\xFF\xD8 evidence")).unwrap();
        self.wake.notify_one();
    }

    fn start(&self, postgres: tokio_postgres::Config, cancel: &CancellationToken) -> tokio::task::JoinHandle<()> {
        let config = DrainConfig {
            batch: 50,
            max_attempts: 3,
            retry_initial: Duration::from_millis(100),
            retry_max: Duration::from_secs(1),
            timeout: Duration::from_secs(5),
            ..DrainConfig::new(postgres)
        };
        self.start_with(config, cancel)
    }

    fn start_with(&self, config: DrainConfig, cancel: &CancellationToken) -> tokio::task::JoinHandle<()> {
        tokio::spawn(drain(self.store.clone(), config, self.wake.clone(), self.stats.clone(), cancel.clone()))
    }

    fn outbox_rows(&self) -> i64 {
        self.store.lock().unwrap().outbox_stats().unwrap().rows
    }
}

async fn count(client: &tokio_postgres::Client, sql: &str) -> i64 {
    client.query_one(sql, &[]).await.map(|r| r.get(0)).unwrap_or(-1)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn issues_filed_while_the_central_database_is_cut_off_all_arrive_once() {
    let pg = Pg::fresh().await;
    let proxy = Proxy::start(pg.port).await;
    let b = Box_::new();
    let cancel = CancellationToken::new();
    let task = b.start(pg.via(&proxy), &cancel);
    for i in 0..20 {
        b.file(&format!("before-{i}"), None);
    }
    let client = pg.client().await;
    let first =
        until(Duration::from_secs(20), async || count(&client, "SELECT COUNT(*) FROM shaobing_issues").await == 20);
    assert!(first.await, "connect failures {}", b.stats.connect_failures.load(Ordering::Relaxed));

    proxy.cut(true);
    let cut_at = Instant::now();
    let mut filed = 20;
    while cut_at.elapsed() < Duration::from_secs(30) {
        b.file(&format!("during-{filed}"), None);
        b.file("before-0", None); // a repeat sighting: a newer version of an issue already sent
        filed += 1;
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(b.outbox_rows() > 200, "issues wait in the outbox while the link is cut");
    proxy.cut(false);
    let all_in = until(Duration::from_secs(60), async || {
        b.outbox_rows() == 0 && count(&client, "SELECT COUNT(*) FROM shaobing_issues").await == filed
    })
    .await;
    assert!(
        all_in,
        "{} of {filed} issues arrived; {} rows left",
        count(&client, "SELECT COUNT(*) FROM shaobing_issues").await,
        b.outbox_rows()
    );
    assert_eq!(count(&client, "SELECT COUNT(DISTINCT id) FROM shaobing_issues").await, filed, "no duplicates");
    assert_eq!(count(&client, "SELECT COUNT(*) FROM shaobing_evidence").await, filed, "evidence travels too");
    let local = b.store.lock().unwrap().list(None, 10_000).unwrap();
    let repeated = local.iter().find(|r| r.dedup_key == "before-0").unwrap();
    let central: i64 = client
        .query_one("SELECT occurrences FROM shaobing_issues WHERE id = $1", &[&repeated.id])
        .await
        .unwrap()
        .get(0);
    assert_eq!(central, repeated.occurrences, "the latest version reached the centre");
    assert!(b.stats.connect_failures.load(Ordering::Relaxed) >= 1);
    cancel.cancel();
    task.await.unwrap();
}

/// With the shipped retry settings, issues flow to the centre again within 10 s of its return
/// after a 30 s outage.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_the_shipped_retry_settings_issues_flow_within_10_s_of_the_centre_returning() {
    let pg = Pg::fresh().await;
    let proxy = Proxy::start(pg.port).await;
    let b = Box_::new();
    let cancel = CancellationToken::new();
    let task = b.start_with(DrainConfig::new(pg.via(&proxy)), &cancel);
    let client = pg.client().await;
    b.file("before", None);
    let arrived =
        until(Duration::from_secs(20), async || count(&client, "SELECT COUNT(*) FROM shaobing_issues").await == 1);
    assert!(arrived.await, "the first issue never arrived");
    proxy.cut(true);
    let cut_at = Instant::now();
    let mut filed = 1;
    while cut_at.elapsed() < Duration::from_secs(30) {
        b.file(&format!("during-{filed}"), None);
        filed += 1;
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    proxy.cut(false);
    let back = Instant::now();
    let flowing =
        until(Duration::from_secs(30), async || count(&client, "SELECT COUNT(*) FROM shaobing_issues").await > 1);
    assert!(flowing.await, "nothing arrived within 30 s of the centre's return");
    let recovered = back.elapsed();
    eprintln!("issues flowing again {:.1} s after the centre's return", recovered.as_secs_f64());
    assert!(recovered <= Duration::from_secs(10), "issues flowed again only {recovered:?} after the centre's return");
    let all =
        until(Duration::from_secs(30), async || count(&client, "SELECT COUNT(*) FROM shaobing_issues").await == filed);
    assert!(all.await, "not every issue arrived");
    cancel.cancel();
    task.await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_poison_row_is_dead_lettered_and_does_not_hold_back_the_others() {
    let pg = Pg::fresh().await;
    let b = Box_::new();
    for i in 0..10 {
        // PostgreSQL refuses NUL in text; SQLite stores it: a row only the centre rejects.
        let cause = (i == 3).then_some("truck\0 stationary");
        b.file(&format!("k{i}"), cause);
    }
    let cancel = CancellationToken::new();
    let task = b.start(pg.config.clone(), &cancel);
    let client = pg.client().await;
    let settled = until(Duration::from_secs(30), async || b.outbox_rows() == 0).await;
    assert!(settled, "{} rows still queued", b.outbox_rows());
    assert_eq!(count(&client, "SELECT COUNT(*) FROM shaobing_issues").await, 9);
    assert_eq!(b.store.lock().unwrap().outbox_stats().unwrap().dead_letters, 1);
    assert_eq!(b.stats.dead_lettered.load(Ordering::Relaxed), 1);
    cancel.cancel();
    task.await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_drain_killed_mid_batch_loses_nothing_and_duplicates_nothing() {
    let pg = Pg::fresh().await;
    let b = Box_::new();
    for i in 0..400 {
        b.file(&format!("k{i}"), None);
    }
    let cancel = CancellationToken::new();
    let task = b.start(pg.config.clone(), &cancel);
    let stats = b.stats.clone();
    assert!(until(Duration::from_secs(30), async || stats.delivered.load(Ordering::Relaxed) >= 150).await);
    task.abort(); // no clean shutdown: whatever batch was in flight is cut off
    let _ = task.await;
    let cancel = CancellationToken::new();
    let task = b.start(pg.config.clone(), &cancel);
    let client = pg.client().await;
    assert!(until(Duration::from_secs(30), async || b.outbox_rows() == 0).await);
    assert_eq!(count(&client, "SELECT COUNT(*) FROM shaobing_issues").await, 400);
    assert_eq!(count(&client, "SELECT COUNT(*) FROM shaobing_evidence").await, 400);
    cancel.cancel();
    task.await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_changes_reach_the_centre_with_who_and_when() {
    let pg = Pg::fresh().await;
    let b = Box_::new();
    b.file("k1", None);
    let cancel = CancellationToken::new();
    let task = b.start(pg.config.clone(), &cancel);
    let client = pg.client().await;
    assert!(
        until(Duration::from_secs(20), async || count(&client, "SELECT COUNT(*) FROM shaobing_issues").await == 1)
            .await
    );
    let id = b.store.lock().unwrap().list(None, 1).unwrap()[0].id.clone();
    for (to, by) in [(IssueStatus::Confirmed, "duty-officer"), (IssueStatus::Dispatched, "duty-officer")] {
        b.store.lock().unwrap().transition(&id, to, by, Some("交通支队")).unwrap();
    }
    b.wake.notify_one();
    let arrived = until(Duration::from_secs(20), async || {
        count(&client, "SELECT COUNT(*) FROM shaobing_status_history").await == 3
    })
    .await;
    assert!(arrived, "history rows: {}", count(&client, "SELECT COUNT(*) FROM shaobing_status_history").await);
    let row = client
        .query_one(
            "SELECT status, (SELECT actor FROM shaobing_status_history WHERE position = 2) FROM shaobing_issues",
            &[],
        )
        .await
        .unwrap();
    assert_eq!(
        (row.get::<_, String>(0), row.get::<_, String>(1)),
        ("dispatched".to_string(), "duty-officer".to_string())
    );
    assert_grid_cell_and_updated_ms_arrived(&b, &client, &id).await;
    cancel.cancel();
    task.await.unwrap();
}

/// The central row carries the box row's grid cell and its last change.
async fn assert_grid_cell_and_updated_ms_arrived(b: &Box_, client: &tokio_postgres::Client, id: &str) {
    let local = b.store.lock().unwrap().get(id).unwrap();
    assert!(local.grid_cell.is_some() && local.updated_ms > 0, "{local:?}");
    let row =
        client.query_one("SELECT grid_cell, updated_ms FROM shaobing_issues WHERE id = $1", &[&id]).await.unwrap();
    assert_eq!(
        (row.get::<_, Option<String>>(0), row.get::<_, Option<i64>>(1)),
        (local.grid_cell, Some(local.updated_ms))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_central_database_from_before_grid_cell_and_updated_ms_gains_them() {
    let pg = Pg::fresh().await;
    let client = pg.client().await;
    shaobing_sink_postgres::migrate(&client).await.unwrap();
    client.batch_execute("ALTER TABLE shaobing_issues DROP COLUMN grid_cell, DROP COLUMN updated_ms").await.unwrap();
    let b = Box_::new();
    b.file("k1", None);
    let cancel = CancellationToken::new();
    let task = b.start(pg.config.clone(), &cancel);
    assert!(until(Duration::from_secs(20), async || b.outbox_rows() == 0).await, "{} rows left", b.outbox_rows());
    let id = b.store.lock().unwrap().list(None, 1).unwrap()[0].id.clone();
    assert_grid_cell_and_updated_ms_arrived(&b, &client, &id).await;
    cancel.cancel();
    task.await.unwrap();
}
