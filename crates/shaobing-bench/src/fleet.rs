//! How many boxes one central PostgreSQL serves: N boxes (the daemon as it runs, one per data
//! directory, in this process) each drain their issues into one fresh database and take
//! verdicts back from it. Per N: issues per second arriving centrally (every box's backlog
//! at once, snapshots included) and the round trip of a verdict written centrally to its
//! application on the box (p50, p99), each against one box alone in the same run.

use shaobing::daemon::Daemon;
use shaobing_core::UnixMillis;
use shaobing_store::Store;
use shaobing_testkit::Pg;
use shaobing_testkit::issue::candidate;
use std::path::Path;
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;

#[derive(clap::Args, Debug, Clone)]
pub struct Args {
    /// Numbers of boxes tried, in order; the first is the baseline the others are compared with.
    #[arg(long, value_delimiter = ',', default_value = "1,10,20,40")]
    boxes: Vec<usize>,
    /// Issues each box has filed (with a 40 kB snapshot each) before it reaches the centre.
    #[arg(long, default_value_t = 200)]
    issues: usize,
    /// Verdicts the centre gives each box.
    #[arg(long, default_value_t = 10)]
    verdicts: usize,
}

#[derive(Debug, Clone, Copy)]
struct Run {
    boxes: usize,
    issues_per_sec: f64,
    p50: f64,
    p99: f64,
}

pub async fn run(args: Args) -> anyhow::Result<()> {
    println!(
        "boxes draining {} issues each (40 kB snapshots) into one PostgreSQL, then {} central verdicts each",
        args.issues, args.verdicts
    );
    println!("{:>6} {:>12} {:>14} {:>14}", "boxes", "issues/s in", "verdict p50", "verdict p99");
    let mut runs = Vec::new();
    for &n in &args.boxes {
        let r = one(&args, n).await?;
        println!("{:>6} {:>12.0} {:>12.0} ms {:>12.0} ms", r.boxes, r.issues_per_sec, r.p50 * 1e3, r.p99 * 1e3);
        runs.push(r);
    }
    if let Some(base) = runs.first() {
        for r in &runs[1..] {
            println!(
                "{} boxes against {}: {:.2}x the issues/s in, verdict p99 {:.2}x",
                r.boxes,
                base.boxes,
                r.issues_per_sec / base.issues_per_sec,
                r.p99 / base.p99.max(1e-6)
            );
        }
    }
    Ok(())
}

async fn one(args: &Args, n: usize) -> anyhow::Result<Run> {
    let pg = Pg::fresh().await;
    let dir = tempfile::tempdir()?;
    let snapshot: Vec<u8> = [0xFF, 0xD8].into_iter().chain((0..40_000).map(|b: u32| (b * 7) as u8)).collect();
    let mut configs = Vec::new();
    for i in 0..n {
        let id = format!("box-{i:03}");
        let data = dir.path().join(&id);
        let mut store = Store::open(&data, &id)?;
        for k in 0..args.issues {
            store.record(&candidate(&format!("k{k}"), UnixMillis(1_700_000_000_000 + k as i64)), Some(&snapshot))?;
        }
        configs.push((id, data));
    }
    let cancel = CancellationToken::new();
    let started = Instant::now();
    let mut daemons = Vec::new();
    for (id, data) in &configs {
        daemons.push(Daemon::start(config(id, data, &pg.conninfo())?, cancel.clone()).await?);
    }
    let client = pg.client().await;
    let all = (n * args.issues) as i64;
    wait(Duration::from_secs(600), async || central(&client, "SELECT COUNT(*) FROM shaobing_evidence").await == all)
        .await?;
    let issues_per_sec = all as f64 / started.elapsed().as_secs_f64();
    for (id, data) in &configs {
        for row in Store::open(data, id)?.list(None, args.verdicts)? {
            client
                .execute(
                    "INSERT INTO shaobing_verdicts (box_id, issue_id, verdict, by_whom) VALUES ($1, $2, 'confirm', 'bench')",
                    &[id, &row.id],
                )
                .await?;
        }
    }
    let waiting = "SELECT COUNT(*) FROM shaobing_verdicts WHERE result IS NULL";
    wait(Duration::from_secs(120), async || central(&client, waiting).await == 0).await?;
    let rows = client
        .query("SELECT EXTRACT(EPOCH FROM applied_at - created_at)::float8 FROM shaobing_verdicts ORDER BY 1", &[])
        .await?;
    let secs: Vec<f64> = rows.iter().map(|r| r.get(0)).collect();
    let at = |q: usize| secs[(secs.len() * q / 100).min(secs.len().saturating_sub(1))];
    let run = Run { boxes: n, issues_per_sec, p50: at(50), p99: at(99) };
    cancel.cancel();
    for d in daemons {
        d.wait().await?;
    }
    Ok(run)
}

fn config(id: &str, data: &Path, conninfo: &str) -> anyhow::Result<shaobing_config::Config> {
    let text = format!(
        "[daemon]\nbox_id = \"{id}\"\ndata_dir = \"{}\"\n[metrics]\nlisten = \"127.0.0.1:0\"\n[central]\nurl = \"{conninfo}\"\n",
        data.display()
    );
    Ok(shaobing_config::Config::parse(&text, Path::new("fleet.toml"))?)
}

async fn central(client: &tokio_postgres::Client, sql: &str) -> i64 {
    client.query_one(sql, &[]).await.map(|r| r.get(0)).unwrap_or(0)
}

async fn wait(limit: Duration, done: impl AsyncFnMut() -> bool) -> anyhow::Result<()> {
    anyhow::ensure!(shaobing_testkit::until(limit, done).await, "not done within {limit:?}");
    Ok(())
}
