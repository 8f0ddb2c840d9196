use std::path::{Path, PathBuf};
use std::process::Command;

/// A fresh database for one test; a private server stops when this is dropped.
#[derive(Debug)]
pub struct Pg {
    pub config: tokio_postgres::Config,
    pub port: u16,
    _private: Option<PrivatePg>,
}

#[derive(Debug)]
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
    /// libpq key-value form of the connection settings, for configuration files.
    pub fn conninfo(&self) -> String {
        format!(
            "host=127.0.0.1 port={} user={} dbname={}",
            self.port,
            self.config.get_user().unwrap_or("postgres"),
            self.config.get_dbname().unwrap_or("postgres")
        )
    }

    pub fn via(&self, proxy: &crate::Proxy) -> tokio_postgres::Config {
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
