//! A real PostgreSQL for each test: the server named by DATABASE_URL when set (a fresh
//! database on it), else a private server started with Debian's initdb/pg_ctl in a temporary
//! directory on a free port. And a TCP proxy that can cut the link.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

pub struct Pg {
    pub config: tokio_postgres::Config,
    pub port: u16,
    _private: Option<PrivatePg>,
}

struct PrivatePg {
    dir: tempfile::TempDir,
    bin: PathBuf,
}

fn pg_bin() -> PathBuf {
    let mut dirs: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .expect("PostgreSQL server binaries (run scripts/setup.sh)")
        .filter_map(|e| e.ok().map(|e| e.path().join("bin")))
        .filter(|p| p.join("initdb").is_file())
        .collect();
    dirs.sort();
    dirs.pop().expect("initdb under /usr/lib/postgresql/*/bin")
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// initdb refuses to run as root: run the server tools as the `postgres` user then.
fn as_postgres(bin: &Path, tool: &str) -> Command {
    let is_root = Command::new("id").arg("-u").output().is_ok_and(|o| o.stdout.starts_with(b"0\n"));
    if is_root {
        let mut c = Command::new("runuser");
        c.args(["-u", "postgres", "--"]).arg(bin.join(tool));
        c
    } else {
        Command::new(bin.join(tool))
    }
}

impl PrivatePg {
    fn start() -> (Self, u16) {
        let bin = pg_bin();
        let dir = tempfile::tempdir().unwrap();
        let is_root = Command::new("id").arg("-u").output().is_ok_and(|o| o.stdout.starts_with(b"0\n"));
        if is_root {
            let out = Command::new("id").args(["-u", "postgres"]).output().unwrap();
            let uid: u32 = String::from_utf8_lossy(&out.stdout).trim().parse().unwrap();
            std::os::unix::fs::chown(dir.path(), Some(uid), None).unwrap();
        }
        let data = dir.path().join("data");
        let ok = as_postgres(&bin, "initdb")
            .args(["-A", "trust", "-U", "postgres", "-E", "UTF8", "--no-sync", "-D"])
            .arg(&data)
            .output()
            .unwrap();
        assert!(ok.status.success(), "initdb: {}", String::from_utf8_lossy(&ok.stderr));
        let port = free_port();
        let options = format!("-p {port} -k {} -c listen_addresses=127.0.0.1 -c fsync=off", dir.path().display());
        let ok = as_postgres(&bin, "pg_ctl")
            .args(["-w", "-t", "30", "-o", &options, "-l"])
            .arg(dir.path().join("log"))
            .arg("-D")
            .arg(&data)
            .arg("start")
            .output()
            .unwrap();
        assert!(ok.status.success(), "pg_ctl start: {}", String::from_utf8_lossy(&ok.stderr));
        (Self { dir, bin }, port)
    }
}

impl Drop for PrivatePg {
    fn drop(&mut self) {
        let _ = as_postgres(&self.bin, "pg_ctl")
            .args(["-m", "immediate", "-w", "-D"])
            .arg(self.dir.path().join("data"))
            .arg("stop")
            .output();
    }
}

impl Pg {
    /// A fresh, empty database for one test.
    pub async fn fresh() -> Pg {
        let (mut config, private) = match std::env::var("DATABASE_URL") {
            Ok(url) if !url.is_empty() => (url.parse::<tokio_postgres::Config>().expect("DATABASE_URL"), None),
            _ => {
                let (pg, port) = PrivatePg::start();
                let mut c = tokio_postgres::Config::new();
                c.host("127.0.0.1").port(port).user("postgres").dbname("postgres");
                (c, Some(pg))
            }
        };
        let (client, conn) = config.connect(tokio_postgres::NoTls).await.expect("connect to PostgreSQL");
        tokio::spawn(conn);
        let name = format!("shaobing_test_{}_{}", std::process::id(), rand_suffix());
        client.batch_execute(&format!("CREATE DATABASE {name}")).await.unwrap();
        config.dbname(&name);
        let port = *config.get_ports().first().unwrap_or(&5432);
        Pg { config, port, _private: private }
    }

    pub async fn client(&self) -> tokio_postgres::Client {
        let (client, conn) = self.config.connect(tokio_postgres::NoTls).await.unwrap();
        tokio::spawn(conn);
        client
    }

    /// The same database reached through `proxy`.
    pub fn via(&self, proxy: &CutProxy) -> tokio_postgres::Config {
        let mut c = tokio_postgres::Config::new();
        c.host("127.0.0.1").port(proxy.port).user(self.config.get_user().unwrap_or("postgres"));
        c.dbname(self.config.get_dbname().unwrap_or("postgres"));
        if let Some(p) = self.config.get_password() {
            c.password(p);
        }
        c
    }
}

fn rand_suffix() -> u64 {
    let t = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap();
    (t.as_nanos() as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 20
}

/// A TCP proxy whose link can be cut: existing connections are closed and new ones are
/// refused until it is restored.
pub struct CutProxy {
    pub port: u16,
    cut: Arc<AtomicBool>,
}

impl CutProxy {
    pub async fn start(upstream: u16) -> CutProxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let cut = Arc::new(AtomicBool::new(false));
        let c = cut.clone();
        tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                if c.load(Ordering::SeqCst) {
                    continue; // dropped: refused
                }
                let Ok(server) = TcpStream::connect(("127.0.0.1", upstream)).await else { continue };
                let (cr, cw) = client.into_split();
                let (sr, sw) = server.into_split();
                tokio::spawn(pump(cr, sw, c.clone()));
                tokio::spawn(pump(sr, cw, c.clone()));
            }
        });
        CutProxy { port, cut }
    }

    pub fn cut(&self, on: bool) {
        self.cut.store(on, Ordering::SeqCst);
    }
}

async fn pump(mut from: tokio::net::tcp::OwnedReadHalf, mut to: tokio::net::tcp::OwnedWriteHalf, cut: Arc<AtomicBool>) {
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = tokio::select! {
            r = from.read(&mut buf) => match r { Ok(0) | Err(_) => return, Ok(n) => n },
            _ = async { while !cut.load(Ordering::SeqCst) { tokio::time::sleep(Duration::from_millis(20)).await } } => return,
        };
        if to.write_all(&buf[..n]).await.is_err() {
            return;
        }
    }
}
