//! What receiving key-frame cameras costs: retina (the daemon's default for `rtsp://` in
//! key-frame mode) against GStreamer's rtspsrc, the same cameras and the same shared key-frame
//! decoders, no analysis; and what the fire watch's burst (`key_frame_burst = 3`, the default)
//! adds to decoding key frames only; and what clips cost (each camera's 10 s of compressed
//! pre-roll, `[clips]` defaults) over the same retina client. Each client in a fresh process,
//! in the same run.

use crate::camera_trial::camera_spec;
use crate::cameras::trial_child;
use crate::fixture::{self, FixtureServer};
use crate::procfs::CpuMeter;
use shaobing_camera::{FrameSlot, run_camera};
use shaobing_metrics::Metrics;
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

#[derive(clap::Args, Debug, Clone)]
pub struct Args {
    /// Simulated 1080p25 cameras, in key-frame mode.
    #[arg(long, default_value_t = 24)]
    cameras: usize,
    /// Seconds each client is measured for, after a warm-up of 6.
    #[arg(long, default_value_t = 20)]
    measure_secs: u64,
    #[arg(long, default_value = "target/bench-fixtures")]
    fixture_dir: std::path::PathBuf,
}

/// The arguments of one client's trial process.
#[derive(clap::Args, Debug, Clone)]
pub struct TrialArgs {
    #[arg(long)]
    port: u16,
    #[arg(long)]
    cameras: usize,
    #[arg(long)]
    measure_secs: u64,
    /// rtspsrc instead of retina.
    #[arg(long)]
    gstreamer: bool,
    #[arg(long, default_value_t = 1)]
    key_frame_burst: usize,
    /// Keep each camera's pre-roll for clips, with the `[clips]` defaults.
    #[arg(long)]
    clips: bool,
}

/// The clients compared: (name, rtspsrc, burst, clips).
const CLIENTS: [(&str, bool, usize, bool); 4] = [
    ("gstreamer (rtspsrc)", true, 1, false),
    ("retina", false, 1, false),
    ("retina, burst of 3", false, 3, false),
    ("retina, clips on", false, 1, true),
];

const WARMUP: Duration = Duration::from_secs(6);

pub fn run(args: Args) -> anyhow::Result<()> {
    let file = fixture::ensure(&shaobing_rtsp_server::street_clip(), &args.fixture_dir)?;
    let server = FixtureServer::spawn(&file, args.cameras, 1)?;
    println!("{} key-frame cameras, 1080p25 H.264, GOP 50, over RTSP/TCP on loopback; no analysis", args.cameras);
    println!(
        "{:<22} {:>9} {:>11} {:>11} {:>12} {:>12}",
        "client", "cpu/cam", "received/s", "decoded/s", "server/cam", "MiB/cam"
    );
    let (mut per_camera, mut rss) = (Vec::new(), Vec::new());
    for (name, gstreamer, burst, clips) in CLIENTS {
        let mut cmd = std::process::Command::new(std::env::current_exe()?);
        cmd.args(["receive-trial", "--port", &server.port.to_string(), "--cameras", &args.cameras.to_string()])
            .args(["--measure-secs", &args.measure_secs.to_string()])
            .args(["--key-frame-burst", &burst.to_string()]);
        if gstreamer {
            cmd.arg("--gstreamer");
        }
        if clips {
            cmd.arg("--clips");
        }
        let server_cpu = CpuMeter::start(&server.pid());
        let v = trial_child(cmd, 4)?;
        let n = args.cameras as f64;
        println!(
            "{name:<22} {:>8.2}% {:>11.1} {:>11.2} {:>11.2}% {:>12.2}",
            100.0 * v[0] / n,
            v[1],
            v[2],
            100.0 * server_cpu.cores() / n,
            v[3] / n
        );
        per_camera.push(v[0] / n);
        rss.push(v[3] / n);
    }
    println!("ratio, rtspsrc against retina: {:.1}x the CPU per camera", per_camera[0] / per_camera[1].max(1e-9));
    println!(
        "ratio, a burst of 3 against key frames only: {:.2}x the CPU per camera",
        per_camera[2] / per_camera[1].max(1e-9)
    );
    println!(
        "clips on against off: +{:.2}% of a core and +{:.2} MiB per camera (targets: 0.3 % and 6 MiB)",
        100.0 * (per_camera[3] - per_camera[1]),
        rss[3] - rss[1]
    );
    Ok(())
}

/// The child side: N key-frame cameras whose frames are taken and discarded.
pub async fn trial_main(t: TrialArgs) -> anyhow::Result<()> {
    shaobing_camera::init_gstreamer()?;
    let metrics = Metrics::new();
    let cancel = CancellationToken::new();
    let mut tasks = tokio::task::JoinSet::new();
    let mut cams = Vec::new();
    let clips = shaobing_camera::ClipsConfig::default();
    let budget = shaobing_camera::ClipBudget::new(clips.memory_bytes, metrics.clip_buffer_bytes());
    for i in 0..t.cameras {
        let mut spec = camera_spec(t.port, i, true, t.key_frame_burst);
        spec.native_rtsp = !t.gstreamer;
        let m = metrics.camera(&format!("cam{i}"));
        if t.clips {
            spec.clips = Some(shaobing_camera::ClipRecorder::new(&clips, budget.clone(), m.clone()));
        }
        let slot = Arc::new(FrameSlot::new());
        let camera = run_camera(spec, slot.clone(), m.clone(), cancel.clone());
        tasks.spawn(async move {
            camera.await;
        });
        tasks.spawn(async move { while slot.take(Duration::from_secs(1)).await.is_ok() {} });
        cams.push(m);
    }
    tokio::time::sleep(WARMUP).await;
    let count = |f: fn(&shaobing_metrics::CameraMetrics) -> u64| cams.iter().map(f).collect::<Vec<_>>();
    let (received, decoded) = (count(|m| m.frames_received.get()), count(|m| m.frames_decoded.get()));
    let cpu = CpuMeter::start("self");
    tokio::time::sleep(Duration::from_secs(t.measure_secs)).await;
    let cores = cpu.cores();
    let secs = t.measure_secs as f64;
    let least = |after: Vec<u64>, before: &[u64]| {
        after.iter().zip(before).map(|(a, b)| (a - b) as f64 / secs).fold(f64::INFINITY, f64::min)
    };
    let min_received = least(count(|m| m.frames_received.get()), &received);
    let min_decoded = least(count(|m| m.frames_decoded.get()), &decoded);
    // Measured while running: the pre-roll is full after the warm-up and the measurement.
    let rss = crate::procfs::rss_mib();
    cancel.cancel();
    while tasks.join_next().await.is_some() {}
    println!("TRIAL {cores:.4} {min_received:.2} {min_decoded:.3} {rss:.1}");
    Ok(())
}
