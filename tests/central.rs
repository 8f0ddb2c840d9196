//! The daemon feeding the central PostgreSQL, as a real process: SIGKILLed in the middle of
//! a drain and restarted, it loses nothing and duplicates nothing.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a failed step is a failed test

use shaobing_core::UnixMillis;
use shaobing_store::Store;
use shaobing_testkit::Pg;
use shaobing_testkit::issue::candidate;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const ISSUES: i64 = 3000;

fn start_daemon(config: &Path) -> Child {
    Command::new(env!("CARGO_BIN_EXE_shaobing-under-test"))
        .args(["run", "--config"])
        .arg(config)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap()
}

async fn central_count(client: &tokio_postgres::Client, table: &str) -> i64 {
    client.query_one(&format!("SELECT COUNT(*) FROM {table}"), &[]).await.map(|r| r.get(0)).unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_daemon_killed_mid_drain_loses_and_duplicates_nothing() {
    let pg = Pg::fresh().await;
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    {
        let mut store = Store::open(&data, "box-kill").unwrap();
        for i in 0..ISSUES {
            let issue = candidate(&format!("k{i}"), UnixMillis(1_700_000_000_000 + i));
            store.record(&issue, Some(format!("\u{FF}jpeg {i}").as_bytes())).unwrap();
        }
    }
    let config = dir.path().join("shaobing.toml");
    std::fs::write(
        &config,
        format!(
            "[daemon]\nbox_id = \"box-kill\"\ndata_dir = \"{}\"\n[metrics]\nlisten = \"127.0.0.1:0\"\n\
             [central]\nurl = \"{}\"\nbatch = 50\n",
            data.display(),
            pg.conninfo()
        ),
    )
    .unwrap();
    let client = pg.client().await;

    let mut daemon = start_daemon(&config);
    let started = Instant::now();
    while central_count(&client, "shaobing_issues").await < 300 {
        assert!(started.elapsed() < Duration::from_secs(60), "the drain did not start");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    daemon.kill().unwrap(); // SIGKILL: no shutdown, mid-drain
    daemon.wait().unwrap();
    let at_kill = central_count(&client, "shaobing_issues").await;
    assert!(at_kill < ISSUES, "the kill came too late to interrupt the drain ({at_kill})");

    let mut daemon = start_daemon(&config);
    let started = Instant::now();
    let store = Store::open(&data, "box-kill").unwrap();
    while store.outbox_stats().unwrap().rows > 0 {
        assert!(started.elapsed() < Duration::from_secs(90), "outbox not drained: {:?}", store.outbox_stats());
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    daemon.kill().unwrap();
    daemon.wait().unwrap();
    assert_eq!(central_count(&client, "shaobing_issues").await, ISSUES, "every issue arrived");
    assert_eq!(central_count(&client, "shaobing_evidence").await, ISSUES, "every snapshot arrived");
    let distinct: i64 = client.query_one("SELECT COUNT(DISTINCT id) FROM shaobing_issues", &[]).await.unwrap().get(0);
    assert_eq!(distinct, ISSUES, "no duplicates");
    assert_eq!(central_count(&client, "shaobing_status_history").await, ISSUES, "each issue's history travels too");
    assert_eq!(store.outbox_stats().unwrap().dead_letters, 0);
    assert_eq!(store.integrity_check().unwrap(), "ok");
}

fn signal(child: &Child, name: &str) {
    let ok = Command::new("kill").arg(format!("-{name}")).arg(child.id().to_string()).status().unwrap();
    assert!(ok.success());
}

fn wait_exit(child: &mut Child, limit: Duration) -> Option<std::process::ExitStatus> {
    let started = Instant::now();
    while started.elapsed() < limit {
        if let Some(status) = child.try_wait().unwrap() {
            return Some(status);
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    None
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_under_load_stops_cleanly_within_five_seconds_and_loses_nothing() {
    let pg = Pg::fresh().await;
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    {
        let mut store = Store::open(&data, "box-term").unwrap();
        for i in 0..ISSUES {
            store.record(&candidate(&format!("k{i}"), UnixMillis(i)), Some(b"\xFF\xD8 jpeg")).unwrap();
        }
    }
    let config = dir.path().join("shaobing.toml");
    let text = format!(
        "[daemon]\nbox_id = \"box-term\"\ndata_dir = \"{}\"\n[metrics]\nlisten = \"127.0.0.1:0\"\n[central]\nurl = \"{}\"\nbatch = 20\n",
        data.display(),
        pg.conninfo()
    );
    std::fs::write(&config, text).unwrap();
    let client = pg.client().await;
    let mut daemon = start_daemon(&config);
    while central_count(&client, "shaobing_issues").await < 200 {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let asked = Instant::now();
    signal(&daemon, "TERM");
    let status = wait_exit(&mut daemon, Duration::from_secs(5)).expect("exited within 5 s of SIGTERM");
    assert!(status.success(), "exit status {status:?} after {:?}", asked.elapsed());
    let store = Store::open(&data, "box-term").unwrap();
    assert_eq!(store.integrity_check().unwrap(), "ok");
    let delivered = central_count(&client, "shaobing_issues").await;
    let queued = store.list(None, 10_000).unwrap().len() as i64;
    assert_eq!(queued, ISSUES, "every issue is still in the box's database");
    let waiting =
        store.outbox_batch(10_000).unwrap().iter().filter(|r| r.kind == shaobing_store::OutboxKind::Issue).count();
    assert_eq!(delivered + waiting as i64, ISSUES, "each issue is either delivered or still queued");

    // A second signal does not wait for the graceful stop.
    let mut daemon = start_daemon(&config);
    tokio::time::sleep(Duration::from_millis(500)).await;
    signal(&daemon, "TERM");
    signal(&daemon, "TERM");
    assert!(wait_exit(&mut daemon, Duration::from_secs(2)).is_some(), "the second SIGTERM exits at once");
}

/// A central database that accepts connections and never answers (a hung server, a firewall
/// that swallows packets) does not hold up shutdown: SIGTERM exits 0 within 5 s, the issues
/// still queued for it, with the connection attempt abandoned both while connecting and with
/// a connection open.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_exits_promptly_when_the_central_database_never_answers() {
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = silent.local_addr().unwrap().port();
    // Accept and hold every connection, answering nothing.
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for stream in silent.incoming().flatten() {
            held.push(stream);
        }
    });
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    {
        let mut store = Store::open(&data, "box-hung").unwrap();
        store.record(&candidate("queued", UnixMillis(1)), None).unwrap();
    }
    let config = dir.path().join("shaobing.toml");
    let text = format!(
        "[daemon]\nbox_id = \"box-hung\"\ndata_dir = \"{}\"\n[metrics]\nlisten = \"127.0.0.1:0\"\n\
         [central]\nurl = \"host=127.0.0.1 port={port} user=shaobing dbname=whistle\"\n",
        data.display()
    );
    std::fs::write(&config, text).unwrap();
    // At once (while it loads its runtime and models), then while it drains to a centre that
    // never answers.
    for wait_before_term in [Duration::from_millis(200), Duration::from_millis(800), Duration::from_secs(3)] {
        let mut daemon = start_daemon(&config);
        tokio::time::sleep(wait_before_term).await;
        let asked = Instant::now();
        signal(&daemon, "TERM");
        let status = wait_exit(&mut daemon, Duration::from_secs(5)).expect("exited within 5 s of SIGTERM");
        assert!(status.success(), "exit status {status:?} after {:?}", asked.elapsed());
    }
    let store = Store::open(&data, "box-hung").unwrap();
    assert_eq!(store.outbox_stats().unwrap().issues, 1, "the issue waits for the centre, not lost");
}

/// The command centre decides in the central database: a verdict row written there reaches the
/// running box within 5 s, applies under the box's lifecycle rules, comes back to the centre
/// as the issue's new status, and is applied once even when read again (as after a reconnect
/// before the box could mark it); one the lifecycle refuses is marked refused with why.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_verdict_written_centrally_reaches_the_box_within_5_s_and_applies_once() {
    let pg = Pg::fresh().await;
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let id = {
        let mut store = Store::open(&data, "box-central").unwrap();
        match store.record(&candidate("cam/kerb/illegal_parking", UnixMillis::now()), None).unwrap() {
            shaobing_store::Recorded::Created { id } => id,
            other => panic!("{other:?}"),
        }
    };
    let text = format!(
        "[daemon]\nbox_id = \"box-central\"\ndata_dir = \"{}\"\n[metrics]\nlisten = \"127.0.0.1:0\"\n[central]\nurl = \"{}\"\n",
        data.display(),
        pg.conninfo()
    );
    let config = shaobing_config::Config::parse(&text, Path::new("test.toml")).unwrap();
    let cancel = tokio_util::sync::CancellationToken::new();
    let daemon = shaobing::daemon::Daemon::start(config, cancel.clone()).await.unwrap();
    let client = pg.client().await;
    let arrived =
        shaobing_testkit::until(Duration::from_secs(20), async || central_count(&client, "shaobing_issues").await == 1);
    assert!(arrived.await, "the issue never reached the centre");

    let status = || Store::open(&data, "box-central").unwrap().get(&id).unwrap().status;
    let insert = "INSERT INTO shaobing_verdicts (box_id, issue_id, verdict, by_whom, note) VALUES ('box-central', $1, $2, '指挥中心-张', '核实') RETURNING id";
    let written = Instant::now();
    let central_id: i64 = client.query_one(insert, &[&id, &"confirm"]).await.unwrap().get(0);
    if !shaobing_testkit::until(Duration::from_secs(10), async || status() == "confirmed").await {
        let rows = client.query("SELECT id, applied_at IS NOT NULL, result FROM shaobing_verdicts", &[]).await.unwrap();
        let rows: Vec<(i64, bool, Option<String>)> = rows.iter().map(|r| (r.get(0), r.get(1), r.get(2))).collect();
        panic!("never applied: {rows:?}");
    }
    let took = written.elapsed();
    eprintln!("central verdict applied on the box {:.2} s after it was written", took.as_secs_f64());
    assert!(took <= Duration::from_secs(5), "the verdict took {took:?}");
    let result = |cid: i64| {
        let client = &client;
        async move {
            client
                .query_one("SELECT result FROM shaobing_verdicts WHERE id = $1", &[&cid])
                .await
                .unwrap()
                .get::<_, Option<String>>(0)
        }
    };
    assert!(shaobing_testkit::until(Duration::from_secs(10), async || result(central_id).await.is_some()).await);
    assert_eq!(result(central_id).await.as_deref(), Some("applied: confirmed"));
    let back = shaobing_testkit::until(Duration::from_secs(10), async || {
        let row = client.query_one("SELECT status FROM shaobing_issues WHERE id = $1", &[&id]).await.unwrap();
        row.get::<_, String>(0) == "confirmed"
    });
    assert!(back.await, "the box's new status did not come back to the centre");

    // Read again, as after a reconnect before the box marked it: not applied twice.
    client
        .execute("UPDATE shaobing_verdicts SET applied_at = NULL, result = NULL WHERE id = $1", &[&central_id])
        .await
        .unwrap();
    assert!(shaobing_testkit::until(Duration::from_secs(10), async || result(central_id).await.is_some()).await);
    let history = Store::open(&data, "box-central").unwrap().history(&id).unwrap();
    let by_centre = history.iter().filter(|h| h.actor == "central:指挥中心-张").count();
    assert_eq!(by_centre, 1, "applied once: {history:?}");

    // One the lifecycle refuses says why, and changes nothing.
    let refused: i64 = client.query_one(insert, &[&id, &"verify"]).await.unwrap().get(0);
    assert!(shaobing_testkit::until(Duration::from_secs(10), async || result(refused).await.is_some()).await);
    let why = result(refused).await.unwrap();
    assert!(why.starts_with("refused: ") && why.contains("dispatched"), "{why}");
    assert_eq!(status(), "confirmed");
    cancel.cancel();
    daemon.wait().await.unwrap();
}
