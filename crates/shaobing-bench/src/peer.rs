//! The peer in the same run: the pipeline integrators write instead of shaobing (`peer/`),
//! run against the bench's own RTSP server and read into a [`Trial`] like shaobing's.

use crate::camera_trial::Trial;
use crate::fixture::FixtureServer;
use anyhow::Context;
use serde::Deserialize;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The peer's script, beside this crate's sources.
pub fn script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("peer/peer_opencv.py")
}

/// The peer's detector: CenterNet as converted, with the graph's own decoding tail.
pub fn model(manifest: &shaobing_detect::Manifest) -> PathBuf {
    manifest.dir.join("centernet-mobilenetv3-coco.onnx")
}

/// Makes the peer's Python venv (`scripts/peer-venv.sh`, quick when it is there); its Python.
pub fn python() -> anyhow::Result<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let status = Command::new("bash").arg(root.join("scripts/peer-venv.sh")).status()?;
    anyhow::ensure!(status.success(), "scripts/peer-venv.sh failed: {status}");
    Ok(root.join(".local/peer-venv/bin/python"))
}

/// Where the peer runs and what it runs.
#[derive(Debug, Clone)]
pub struct Peer {
    pub python: PathBuf,
    pub model: PathBuf,
    pub warmup_secs: u64,
    pub measure_secs: u64,
}

/// The part of the peer's JSON summary the bench reads.
#[derive(Debug, Deserialize)]
struct Summary {
    keeps_up_all: bool,
    min_analysed_win: f64,
    min_read_fps_win: f64,
    cpu_peer_pct: f64,
    cpu_server_pct: Option<f64>,
    rss_peer_per_cam_mb: f64,
    sample_latency_ms_p50: Option<f64>,
    sample_latency_ms_p95: Option<f64>,
    grab_fail_total: u64,
}

impl Peer {
    /// One trial of `n` cameras, every one connected at once.
    pub fn trial(&self, server: &FixtureServer, n: usize) -> anyhow::Result<Trial> {
        let out = tempfile::NamedTempFile::new()?;
        let run = Command::new(&self.python)
            .arg(script())
            .args(["--n", &n.to_string(), "--server-pid", &server.pid()])
            .arg("--model")
            .arg(&self.model)
            .args(["--url-fmt", &format!("rtsp://127.0.0.1:{}/cam{{i}}", server.port)])
            .args(["--warmup", &self.warmup_secs.to_string(), "--measure", &self.measure_secs.to_string()])
            .arg("--out")
            .arg(out.path())
            .output()?;
        let text = std::fs::read_to_string(out.path())?;
        let s: Summary = serde_json::from_str(&text)
            .with_context(|| format!("the peer wrote no summary: {}", String::from_utf8_lossy(&run.stderr)))?;
        Ok(Trial {
            cameras: n,
            pass: s.keeps_up_all,
            min_analysed: s.min_analysed_win,
            min_received: s.min_read_fps_win,
            cpu_cores: s.cpu_peer_pct / 100.0,
            server_cores: s.cpu_server_pct.unwrap_or(0.0) / 100.0,
            rss_mib: s.rss_peer_per_cam_mb * n as f64,
            latency_p50: s.sample_latency_ms_p50.map(|ms| ms / 1e3),
            // The peer reports its 95th percentile, not its 99th.
            latency_p99: s.sample_latency_ms_p95.map(|ms| ms / 1e3),
            restarts: s.grab_fail_total,
            shed: 0,
            inferred_share: 1.0,
            threads: Vec::new(),
        })
    }
}
