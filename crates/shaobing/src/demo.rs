//! `shaobing demo`: the whole path on real parts with nothing to set up.

use crate::daemon::Daemon;
use anyhow::{Context, bail};
use shaobing_config::Config;
use shaobing_rtsp_server::{RtspServer, Stream};
use shaobing_store::Store;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;

/// The demo configuration, compiled in so the demo needs no file.
pub const DEMO_CONFIG: &str = include_str!("../demo.toml");

/// The clip is 80 s; the demo stops at end of stream, or at this limit if the stream hangs.
const DEMO_LIMIT: Duration = Duration::from_secs(120);

/// The demo configuration pointed at `uri`, writing into `data_dir`.
pub fn demo_config(uri: &str, data_dir: &Path) -> anyhow::Result<Config> {
    let mut config = Config::parse(DEMO_CONFIG, Path::new("crates/shaobing/demo.toml"))?;
    let camera = config.cameras.first_mut().context("the demo config has a camera")?;
    camera.source.uri = uri.to_string();
    config.daemon.data_dir = data_dir.to_path_buf();
    config.validate()?;
    Ok(config)
}

pub async fn run(data_dir: &Path) -> anyhow::Result<()> {
    let started = Instant::now();
    let clip = shaobing_rtsp_server::street_clip();
    if !clip.is_file() {
        bail!("the demo clip {} is missing: run scripts/setup.sh (it installs Debian's opencv-doc)", clip.display());
    }
    clear_previous_run(data_dir)?;
    let server = RtspServer::start(0, &[Stream::new("/vtest", &clip)])?;
    let url = server.url("/vtest");
    let config = demo_config(&url, data_dir)?;
    let box_id = config.daemon.box_id.clone();
    let config_camera = config.cameras.first().map(|c| (c.id.clone(), c.models.join(", "))).unwrap_or_default();
    let cancel = CancellationToken::new();
    let daemon = Daemon::start(config, cancel.clone()).await?;
    println!("demo: serving {} at {url}", clip.display());
    println!("demo: metrics at http://{}/metrics", daemon.metrics_addr());
    println!("demo: console at http://{}/ (the live camera, the issues with their snapshots)", daemon.metrics_addr());
    println!("demo: analysing the 80 s clip in real time; issues appear after a 20 s dwell…");
    let stopper = cancel.clone();
    tokio::spawn(async move {
        tokio::select! {
            _ = tokio::time::sleep(DEMO_LIMIT) => tracing::warn!("demo time limit reached"),
            _ = tokio::signal::ctrl_c() => {}
            _ = stopper.cancelled() => {}
        }
        stopper.cancel();
    });
    let metrics = daemon.metrics().clone();
    let (camera_id, model) = (config_camera.0, config_camera.1);
    let progress = tokio::spawn(show_progress(metrics.camera(&camera_id), metrics.clone()));
    daemon.wait().await?;
    progress.abort();
    drop(server);
    let store = Store::open(data_dir, &box_id)?;
    let rows = store.list(None, 100)?;
    println!("\ncandidate issues filed:\n");
    print!("{}", crate::issues_cli::list_table(&rows));
    for r in &rows {
        println!("snapshot of {}: {}", &r.id[..13.min(r.id.len())], r.evidence_path.as_deref().unwrap_or("-"));
    }
    println!("\nproblem database: {}", store.path().display());
    println!("snapshots:        {}", store.evidence_dir().display());
    let cam = metrics.camera(&camera_id);
    let inference = metrics.inference(&model);
    let mean_ms = 1000.0 * inference.get_sample_sum() / (inference.get_sample_count().max(1) as f64);
    println!(
        "frames:           {} decoded, {} analysed, {} dropped; {mean_ms:.1} ms mean per analysed frame",
        cam.frames_decoded.get(),
        cam.frames_analysed.get(),
        cam.frames_dropped.get(),
    );
    println!("demo finished in {:.0} s", started.elapsed().as_secs_f64());
    if rows.is_empty() {
        bail!("the demo filed no issue");
    }
    Ok(())
}

/// How far the demo has got, every few seconds, until aborted.
async fn show_progress(camera: shaobing_metrics::CameraMetrics, metrics: shaobing_metrics::Metrics) {
    let started = Instant::now();
    let mut progress = crate::progress::Progress::new("demo");
    loop {
        tokio::time::sleep(Duration::from_millis(250)).await;
        let filed = metrics.issues_emitted_total();
        progress.report(|| {
            format!(
                "{:.0} s of the 80 s clip, {} frames analysed, {filed} issue(s) filed",
                started.elapsed().as_secs_f64(),
                camera.frames_analysed.get()
            )
        });
    }
}

/// The file that marks a directory as the demo's own: only such a directory is ever cleared.
const MARKER: &str = ".shaobing-demo";

/// The demo's scratch directory when none is given: outside the working directory, so a demo
/// run in a source tree or beside a box's data leaves them alone.
pub fn default_data_dir() -> PathBuf {
    std::env::temp_dir().join("shaobing-demo")
}

/// Removes the database and snapshots of a previous demo so the table shows this run only,
/// and marks `data_dir` as the demo's. A directory holding a database the demo did not create
/// is refused, never cleared.
fn clear_previous_run(data_dir: &Path) -> anyhow::Result<()> {
    let database = data_dir.join("shaobing.sqlite3");
    if database.exists() && !data_dir.join(MARKER).exists() {
        bail!(
            "{} holds a problem database the demo did not create; the demo clears its data directory \
             before it runs, so it refuses this one: give it an empty or new --data-dir",
            data_dir.display()
        );
    }
    std::fs::create_dir_all(data_dir).with_context(|| format!("cannot create {}", data_dir.display()))?;
    std::fs::write(data_dir.join(MARKER), "written by `shaobing demo`: it may clear this directory\n")
        .with_context(|| format!("cannot write into {}", data_dir.display()))?;
    for name in ["shaobing.sqlite3", "shaobing.sqlite3-wal", "shaobing.sqlite3-shm"] {
        let p = data_dir.join(name);
        if p.exists() {
            std::fs::remove_file(&p).with_context(|| format!("cannot remove {}", p.display()))?;
        }
    }
    let evidence = data_dir.join("evidence");
    if evidence.exists() {
        std::fs::remove_dir_all(&evidence).with_context(|| format!("cannot remove {}", evidence.display()))?;
    }
    Ok(())
}
