//! The problem database's throughput and latency, each against the bare work it is made of,
//! measured in the same run: local commits against bare SQLite inserts with the same
//! durability, the drain against bare PostgreSQL inserts of the same rows, and an emergency
//! issue's latency from the rule firing to its committed row while routine issues keep coming.

use shaobing_core::{CandidateIssue, Priority, UnixMillis};
use shaobing_sink_postgres::{DrainConfig, DrainStats, drain};
use shaobing_store::Store;
use shaobing_testkit::Pg;
use std::io::Write;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

#[derive(clap::Args, Debug, Clone)]
pub struct Args {
    /// Issues filed in each throughput run.
    #[arg(long, default_value_t = 2000)]
    issues: usize,
    /// Bytes of the evidence JPEG of each issue.
    #[arg(long, default_value_t = 40_000)]
    evidence_bytes: usize,
    /// Emergency issues timed in the latency run.
    #[arg(long, default_value_t = 300)]
    emergencies: usize,
}

fn evidence(n: usize, i: usize) -> Vec<u8> {
    (0..n).map(|b| (b.wrapping_mul(2_654_435_761) ^ i) as u8).collect()
}

fn issue(i: usize) -> CandidateIssue {
    CandidateIssue::example(&format!("bench-{i}"), UnixMillis(1_700_000_000_000 + i as i64))
}

pub async fn run(args: Args) -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    println!("problem database: {} issues with {} B of evidence each", args.issues, args.evidence_bytes);
    let ours = local_commits(&args, &dir.path().join("store"))?;
    let bare = bare_sqlite(&args, &dir.path().join("bare"))?;
    println!(
        "local commit:  {ours:>8.0} issues/s   bare SQLite + fsynced file: {bare:>8.0}/s   ratio {:.2}",
        ours / bare
    );
    let pg = Pg::fresh().await;
    let drained = drain_rate(&args, &dir.path().join("store"), &pg).await?;
    let bare_pg = bare_postgres(&args, &pg).await?;
    println!(
        "drain to PostgreSQL: {drained:>8.0} issues/s   bare batched INSERTs: {bare_pg:>8.0}/s   ratio {:.2}",
        drained / bare_pg
    );
    let (p50, p99, max) = emergency_latency(&args, &dir.path().join("latency"))?;
    println!(
        "emergency issue, rule firing -> committed row (routine issues at 10/s alongside): \
         p50 {p50:.1} ms, p99 {p99:.1} ms, max {max:.1} ms"
    );
    Ok(())
}

fn local_commits(args: &Args, dir: &std::path::Path) -> anyhow::Result<f64> {
    let mut store = Store::open(dir, "bench")?;
    let jpegs: Vec<Vec<u8>> = (0..args.issues).map(|i| evidence(args.evidence_bytes, i)).collect();
    let t = Instant::now();
    for (i, jpeg) in jpegs.iter().enumerate() {
        store.record(&issue(i), Some(jpeg))?;
    }
    Ok(args.issues as f64 / t.elapsed().as_secs_f64())
}

/// The floor: the evidence file written and fsynced, one row inserted per transaction with
/// the same journal and synchronous settings.
fn bare_sqlite(args: &Args, dir: &std::path::Path) -> anyhow::Result<f64> {
    std::fs::create_dir_all(dir)?;
    let conn = rusqlite::Connection::open(dir.join("bare.sqlite3"))?;
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(None, "synchronous", "FULL")?;
    conn.execute_batch("CREATE TABLE t (id TEXT PRIMARY KEY, payload TEXT NOT NULL, path TEXT NOT NULL)")?;
    let payloads: Vec<String> =
        (0..args.issues).map(|i| serde_json::to_string(&issue(i).cause).unwrap_or_default()).collect();
    let jpegs: Vec<Vec<u8>> = (0..args.issues).map(|i| evidence(args.evidence_bytes, i)).collect();
    let t = Instant::now();
    for (i, (payload, jpeg)) in payloads.iter().zip(&jpegs).enumerate() {
        let path = dir.join(format!("{i}.jpg"));
        let mut f = std::fs::File::create(&path)?;
        f.write_all(jpeg)?;
        f.sync_all()?;
        conn.execute(
            "INSERT INTO t VALUES (?1, ?2, ?3)",
            rusqlite::params![i.to_string(), payload, path.to_string_lossy()],
        )?;
    }
    Ok(args.issues as f64 / t.elapsed().as_secs_f64())
}

async fn drain_rate(args: &Args, dir: &std::path::Path, pg: &Pg) -> anyhow::Result<f64> {
    let store = Arc::new(Mutex::new(Store::open(dir, "bench")?));
    let stats = Arc::new(DrainStats::default());
    let cancel = CancellationToken::new();
    let t = Instant::now();
    let task = tokio::spawn(drain(
        store.clone(),
        DrainConfig::new(pg.config.clone()),
        Arc::new(Notify::new()),
        stats.clone(),
        cancel.clone(),
    ));
    // Every issue has an evidence row too: the drain is done at twice the issue count.
    while stats.delivered.load(Ordering::Relaxed) < 2 * args.issues as u64 {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let rate = args.issues as f64 / t.elapsed().as_secs_f64();
    cancel.cancel();
    task.await?;
    Ok(rate)
}

/// The same rows, batched 200 a transaction, with no outbox, no versions, no acknowledgement.
async fn bare_postgres(args: &Args, pg: &Pg) -> anyhow::Result<f64> {
    let mut client = pg.client().await;
    client.batch_execute("CREATE TABLE bare (id TEXT PRIMARY KEY, payload TEXT NOT NULL, data BYTEA NOT NULL)").await?;
    let payloads: Vec<String> =
        (0..args.issues).map(|i| serde_json::to_string(&issue(i).cause).unwrap_or_default()).collect();
    let jpegs: Vec<Vec<u8>> = (0..args.issues).map(|i| evidence(args.evidence_bytes, i)).collect();
    let t = Instant::now();
    for chunk in (0..args.issues).collect::<Vec<_>>().chunks(200) {
        let tx = client.transaction().await?;
        for &i in chunk {
            tx.execute("INSERT INTO bare VALUES ($1, $2, $3)", &[&i.to_string(), &payloads[i], &jpegs[i]]).await?;
        }
        tx.commit().await?;
    }
    Ok(args.issues as f64 / t.elapsed().as_secs_f64())
}

fn emergency_latency(args: &Args, dir: &std::path::Path) -> anyhow::Result<(f64, f64, f64)> {
    let mut store = Store::open(dir, "bench")?;
    let jpeg = evidence(args.evidence_bytes, 0);
    let mut latencies = Vec::with_capacity(args.emergencies);
    for i in 0..args.emergencies {
        // Ten routine issues a second alongside: one before each emergency, as a busy street.
        store.record(&issue(1_000_000 + i), Some(&jpeg))?;
        let mut fire = issue(i);
        fire.category = shaobing_core::Category::FireSmoke;
        fire.priority = Priority::Emergency;
        let t = Instant::now();
        store.record(&fire, Some(&jpeg))?;
        latencies.push(t.elapsed().as_secs_f64() * 1000.0);
        std::thread::sleep(Duration::from_millis(100));
    }
    latencies.sort_by(f64::total_cmp);
    let at = |q: f64| latencies[((latencies.len() as f64 - 1.0) * q).round() as usize];
    Ok((at(0.5), at(0.99), at(1.0)))
}
