//! The problem database's throughput and latency, each against the bare work it is made of,
//! measured in the same run: local commits against bare SQLite inserts with the same
//! durability, the drain against bare PostgreSQL inserts of the same rows, and an emergency
//! issue's latency from the rule firing to its committed row while routine issues keep coming.

use shaobing_core::{CandidateIssue, Priority, UnixMillis};
use shaobing_sink_postgres::{DrainConfig, DrainStats, drain};
use shaobing_store::Store;
use shaobing_testkit::Pg;
use shaobing_testkit::issue::candidate;
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
    candidate(&format!("bench-{i}"), UnixMillis(1_700_000_000_000 + i as i64))
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
    let broker = Mosquitto::start()?;
    let (mut committed, mut alerted) = emergency_latency(&args, &dir.path().join("latency"), broker.port).await?;
    println!("emergency issue, routine issues at 10/s alongside:");
    println!("  rule firing -> committed row:           {}", committed.summary());
    println!("  rule firing -> MQTT alert received:     {}   (target p99 <= 200 ms)", alerted.summary());
    Ok(())
}

/// A private broker on a free loopback port for the latency run.
struct Mosquitto {
    child: std::process::Child,
    port: u16,
}

impl Mosquitto {
    fn start() -> anyhow::Result<Self> {
        let port = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
        let child = std::process::Command::new("/usr/sbin/mosquitto")
            .args(["-p", &port.to_string()])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()?;
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            anyhow::ensure!(Instant::now() < deadline, "mosquitto did not start");
            std::thread::sleep(Duration::from_millis(20));
        }
        Ok(Self { child, port })
    }
}

impl Drop for Mosquitto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Latencies in milliseconds.
struct Latencies(Vec<f64>);

impl Latencies {
    fn summary(&mut self) -> String {
        self.0.sort_by(f64::total_cmp);
        let at = |q: f64| self.0[((self.0.len() as f64 - 1.0) * q).round() as usize];
        format!("p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms", at(0.5), at(0.99), at(1.0))
    }
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

/// Each emergency goes the daemon's way: committed by the store with its alert queued, the
/// alert publisher woken; a subscriber (the command centre) times its arrival.
async fn emergency_latency(args: &Args, dir: &std::path::Path, port: u16) -> anyhow::Result<(Latencies, Latencies)> {
    let mut store = Store::open(dir, "bench")?;
    store.set_alerts(true)?;
    let mqtt: shaobing_mqtt::MqttConfig = toml::from_str(&format!("host = \"127.0.0.1\"\nport = {port}"))?;
    let connection = shaobing_mqtt::Connection::new(&mqtt, "bench", 0, &prometheus::Registry::new())?;
    let wake = std::sync::Arc::new(tokio::sync::Notify::new());
    let mut announcer = shaobing_issues::Announcer::new(vec![Box::new(shaobing_issues::Wake(wake.clone()))]);
    let cancel = CancellationToken::new();
    let alerts = tokio::spawn(shaobing_issues::publish_alerts(
        Store::open(dir, "bench")?,
        connection.publisher(),
        "bench".into(),
        wake,
        cancel.clone(),
    ));
    let publisher = tokio::spawn(connection.run(cancel.clone()));
    let mut options = rumqttc::MqttOptions::new("command-centre", "127.0.0.1", port);
    options.set_keep_alive(Duration::from_secs(5));
    let (centre, mut events) = rumqttc::AsyncClient::new(options, 64);
    centre.subscribe("shaobing/bench/issues/emergency/#", rumqttc::QoS::AtLeastOnce).await?;
    let (got_tx, mut got) = tokio::sync::mpsc::unbounded_channel();
    tokio::spawn(async move {
        while let Ok(event) = events.poll().await {
            if let rumqttc::Event::Incoming(rumqttc::Packet::Publish(_)) = event {
                let _ = got_tx.send(Instant::now());
            }
        }
    });
    tokio::time::sleep(Duration::from_millis(500)).await;
    let jpeg = evidence(args.evidence_bytes, 0);
    let (mut committed, mut alerted) = (Vec::new(), Vec::new());
    for i in 0..args.emergencies {
        // Ten routine issues a second alongside: one before each emergency, as a busy street.
        store.record(&issue(1_000_000 + i), Some(&jpeg))?;
        let mut fire = issue(i);
        fire.category = shaobing_core::Category::FireSmoke;
        fire.priority = Priority::Emergency;
        let t = Instant::now();
        let shaobing_store::Recorded::Created { id } = store.record(&fire, Some(&jpeg))? else { continue };
        committed.push(t.elapsed().as_secs_f64() * 1000.0);
        announcer.announce(&shaobing_issues::Change::new(&store, shaobing_issues::IssueChange::New, &id, Some(&fire)));
        let arrived = tokio::time::timeout(Duration::from_secs(5), got.recv()).await?;
        alerted.push(arrived.map_or(f64::INFINITY, |at| at.duration_since(t).as_secs_f64() * 1000.0));
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    drop(announcer);
    cancel.cancel();
    alerts.await?;
    publisher.await?;
    Ok((Latencies(committed), Latencies(alerted)))
}
