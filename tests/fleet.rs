//! Many boxes, one centre: 20 box processes (the shipped command line) file into one
//! PostgreSQL and take the centre's verdicts back. Every issue and snapshot arrives once;
//! every verdict is applied once, on its own box, and the new status comes back.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use shaobing_core::UnixMillis;
use shaobing_store::Store;
use shaobing_testkit::Pg;
use shaobing_testkit::issue::candidate;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const BOXES: usize = 20;
const ISSUES: usize = 100;
/// Verdicts the centre gives each box.
const VERDICTS: usize = 5;

struct BoxProcess {
    id: String,
    data: PathBuf,
    process: Child,
}

impl Drop for BoxProcess {
    fn drop(&mut self) {
        let _ = self.process.kill();
        let _ = self.process.wait();
    }
}

/// Box `i` with its issues filed before it starts, running against the centre.
fn start_box(dir: &Path, i: usize, conninfo: &str) -> BoxProcess {
    let id = format!("box-{i:02}");
    let data = dir.join(&id);
    let mut store = Store::open(&data, &id).unwrap();
    for k in 0..ISSUES {
        let at = UnixMillis(1_700_000_000_000 + k as i64);
        store.record(&candidate(&format!("k{k}"), at), Some(format!("\u{FF}\u{D8} {id} {k}").as_bytes())).unwrap();
    }
    let config = dir.join(format!("{id}.toml"));
    let text = format!(
        "[daemon]\nbox_id = \"{id}\"\ndata_dir = \"{}\"\n[metrics]\nlisten = \"127.0.0.1:0\"\n[central]\nurl = \"{conninfo}\"\n",
        data.display()
    );
    std::fs::write(&config, text).unwrap();
    let process = Command::new(env!("CARGO_BIN_EXE_shaobing-under-test"))
        .args(["run", "--config"])
        .arg(&config)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    BoxProcess { id, data, process }
}

async fn count(client: &tokio_postgres::Client, sql: &str) -> i64 {
    client.query_one(sql, &[]).await.unwrap().get(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn twenty_boxes_file_into_one_centre_and_take_its_verdicts_back() {
    let pg = Pg::fresh().await;
    let dir = tempfile::tempdir().unwrap();
    let started = Instant::now();
    let boxes: Vec<BoxProcess> = (0..BOXES).map(|i| start_box(dir.path(), i, &pg.conninfo())).collect();
    let client = pg.client().await;
    let all = (BOXES * ISSUES) as i64;
    let arrived = shaobing_testkit::until(Duration::from_secs(120), async || {
        client.query_one("SELECT to_regclass('shaobing_evidence') IS NOT NULL", &[]).await.unwrap().get::<_, bool>(0)
            && count(&client, "SELECT COUNT(*) FROM shaobing_evidence").await == all
            && count(&client, "SELECT COUNT(*) FROM shaobing_issues").await == all
    });
    assert!(arrived.await, "every box's issues and snapshots arrived");
    eprintln!(
        "{BOXES} boxes, {all} issues with their snapshots in the centre after {:.1} s",
        started.elapsed().as_secs_f64()
    );
    assert_eq!(count(&client, "SELECT COUNT(DISTINCT id) FROM shaobing_issues").await, all, "none twice");
    assert_eq!(count(&client, "SELECT COUNT(DISTINCT box_id) FROM shaobing_issues").await, BOXES as i64);

    // The centre confirms the first issues of every box.
    let mut given = Vec::new();
    for b in &boxes {
        let ids: Vec<String> =
            Store::open(&b.data, &b.id).unwrap().list(None, VERDICTS).unwrap().into_iter().map(|r| r.id).collect();
        for id in ids {
            let insert = "INSERT INTO shaobing_verdicts (box_id, issue_id, verdict, by_whom) VALUES ($1, $2, 'confirm', '指挥中心') RETURNING id";
            let central: i64 = client.query_one(insert, &[&b.id, &id]).await.unwrap().get(0);
            given.push((b, id, central));
        }
    }
    let applied = shaobing_testkit::until(Duration::from_secs(60), async || {
        count(&client, "SELECT COUNT(*) FROM shaobing_verdicts WHERE result IS NULL").await == 0
    });
    assert!(applied.await, "every verdict applied");
    let rows = client
        .query(
            "SELECT result, EXTRACT(EPOCH FROM applied_at - created_at)::float8 FROM shaobing_verdicts ORDER BY 2",
            &[],
        )
        .await
        .unwrap();
    assert!(rows.iter().all(|r| r.get::<_, Option<String>>(0).as_deref() == Some("applied: confirmed")));
    let secs: Vec<f64> = rows.iter().map(|r| r.get(1)).collect();
    let p99 = secs[(secs.len() * 99 / 100).min(secs.len() - 1)];
    eprintln!(
        "{} central verdicts applied on their boxes: p50 {:.2} s, p99 {p99:.2} s",
        secs.len(),
        secs[secs.len() / 2]
    );
    assert!(p99 <= 5.0, "a verdict written centrally reaches its box within 5 s: p99 {p99} s");
    for (b, id, _) in &given {
        let history = Store::open(&b.data, &b.id).unwrap().history(id).unwrap();
        assert_eq!(history.iter().filter(|h| h.actor == "central:指挥中心").count(), 1, "applied once on {}", b.id);
    }
    let came_back = shaobing_testkit::until(Duration::from_secs(30), async || {
        count(&client, "SELECT COUNT(*) FROM shaobing_issues WHERE status = 'confirmed'").await == given.len() as i64
    });
    assert!(came_back.await, "each box's new status came back to the centre");
    assert_eq!(count(&client, "SELECT COUNT(*) FROM shaobing_issues").await, all, "still none twice");
    drop(boxes);
}
