//! How many 1080p25 cameras one box holds: key-frame decoding against decoding every frame
//! (the design other tools use), with the same detector, in the same run. Each trial runs in
//! a fresh process so that its memory is its own.

use crate::fixture::{self, FPS, FixtureServer, GOP};
use crate::procfs::{CpuMeter, rss_mib};
use shaobing_analysis::Analyser;
use shaobing_camera::{CameraSpec, FrameSlot, RetryPolicy, run_camera};
use shaobing_config::Config;
use shaobing_core::{CameraId, Frame, UnixMillis};
use shaobing_detect::{Detector, InferencePool, Manifest, Runtime, RuntimeConfig};
use shaobing_metrics::Metrics;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;

#[derive(clap::Args, Debug, Clone)]
pub struct Args {
    /// Seconds each trial is measured for, after the warm-up.
    #[arg(long, default_value_t = 30)]
    measure_secs: u64,
    /// Seconds each trial runs before measuring (connection, first key frame).
    #[arg(long, default_value_t = 6)]
    warmup_secs: u64,
    /// Largest number of cameras tried.
    #[arg(long, default_value_t = 48)]
    max_cameras: usize,
    /// Where the encoded 1080p fixture is cached.
    #[arg(long, default_value = "target/bench-fixtures")]
    fixture_dir: PathBuf,
    /// Inference sessions serving all cameras (the daemon's `runtime.inference_workers`).
    #[arg(long, default_value_t = 1)]
    inference_workers: usize,
    /// The detector every camera runs, in both modes (a name in models/manifest.toml).
    #[arg(long, default_value = DEFAULT_MODEL)]
    model: String,
    /// Frames decoded from each key frame on in key-frame mode (the daemon's
    /// `key_frame_burst`, 3 by default: fire within two GOPs); 1 decodes key frames only.
    #[arg(long, default_value_t = 3)]
    key_frame_burst: usize,
}

const DEFAULT_MODEL: &str = "centernet-mobilenetv3-coco";

/// The arguments of one trial process.
#[derive(clap::Args, Debug, Clone)]
pub struct TrialArgs {
    #[arg(long)]
    port: u16,
    #[arg(long)]
    server_pid: String,
    #[arg(long)]
    keyframes: bool,
    #[arg(long)]
    cameras: usize,
    #[arg(long)]
    warmup_secs: u64,
    #[arg(long)]
    measure_secs: u64,
    #[arg(long)]
    inference_workers: usize,
    #[arg(long)]
    model: String,
    #[arg(long, default_value_t = 1)]
    key_frame_burst: usize,
    /// Each camera keeps its pre-roll for clips (`[clips]` defaults).
    #[arg(long)]
    clips: bool,
}

/// Both modes scale analysed frames to this width (the detector's input is 512 wide).
const ANALYSIS_WIDTH: u32 = 960;
/// A camera must be analysed at least this often…
const MIN_ANALYSED_FPS: f64 = 0.5;
/// …and received at this share of its frame rate (less means the box falls behind the stream).
const MIN_RECEIVED_SHARE: f64 = 0.95;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    Keyframes,
    EveryFrame,
}

impl Mode {
    fn name(self) -> &'static str {
        match self {
            Mode::Keyframes => "keyframes",
            Mode::EveryFrame => "every-frame",
        }
    }
}

#[derive(Debug, Clone, Copy)]
struct Trial {
    cameras: usize,
    pass: bool,
    min_analysed_fps: f64,
    min_received_fps: f64,
    cpu_cores: f64,
    server_cores: f64,
    rss_mib: f64,
}

impl Trial {
    fn per_camera(&self, v: f64) -> f64 {
        v / self.cameras.max(1) as f64
    }

    fn print(&self, mode: Mode) {
        println!(
            "{:<12} {:>4}  {:<4}  {:>10.2}  {:>10.1}  {:>8.1}%  {:>9.1}  {:>10.1}%",
            mode.name(),
            self.cameras,
            if self.pass { "ok" } else { "FAIL" },
            self.min_analysed_fps,
            self.min_received_fps,
            100.0 * self.per_camera(self.cpu_cores),
            self.per_camera(self.rss_mib),
            100.0 * self.per_camera(self.server_cores),
        );
    }
}

pub fn run(args: Args) -> anyhow::Result<()> {
    let file = fixture::ensure(&shaobing_rtsp_server::street_clip(), &args.fixture_dir)?;
    let server = FixtureServer::spawn(&file, args.max_cameras)?;
    println!("cameras: 1080p{FPS} H.264, GOP {GOP}, served from another process over RTSP/TCP on loopback");
    println!("detector: {} on {} inference worker(s), in both modes", args.model, args.inference_workers);
    println!(
        "pass: every camera analysed >= {MIN_ANALYSED_FPS} frames/s and received >= {:.0}% of {FPS} fps",
        MIN_RECEIVED_SHARE * 100.0
    );
    println!(
        "{:<12} {:>4}  {:<4}  {:>10}  {:>10}  {:>9}  {:>9}  {:>11}",
        "mode", "N", "", "analysed/s", "received/s", "cpu/cam", "MiB/cam", "server/cam"
    );
    let key = find_max(&args, &server, Mode::Keyframes)?;
    let clips = key.map(|k| trial_in_child(&args, &server, Mode::Keyframes, k.cameras, true)).transpose()?;
    let all = find_max(&args, &server, Mode::EveryFrame)?;
    summarise(key, all);
    if let (Some(k), Some(c)) = (key, clips) {
        println!(
            "clips on at the largest key-frame N ({}): {}; +{:.2}% of a core and +{:.1} MiB RSS per camera",
            c.cameras,
            if c.pass { "ok" } else { "FAIL" },
            100.0 * (c.per_camera(c.cpu_cores) - k.per_camera(k.cpu_cores)),
            c.per_camera(c.rss_mib) - k.per_camera(k.rss_mib)
        );
    }
    Ok(())
}

fn summarise(key: Option<Trial>, all: Option<Trial>) {
    let show = |t: Option<Trial>| t.map_or(0, |t| t.cameras);
    println!();
    println!("largest N, keyframes:   {}", show(key));
    println!("largest N, every frame: {}", show(all));
    if let (Some(k), Some(a)) = (key, all) {
        println!("ratio:                  {:.1}x", k.cameras as f64 / a.cameras as f64);
        for (name, t) in [("keyframes", k), ("every frame", a)] {
            println!(
                "at the largest N, {name}: {:.1}% of a core and {:.1} MiB RSS per camera \
                 (the RTSP server process: {:.1}% of a core per camera)",
                100.0 * t.per_camera(t.cpu_cores),
                t.per_camera(t.rss_mib),
                100.0 * t.per_camera(t.server_cores)
            );
        }
    }
}

/// Doubles N while trials pass, then bisects between the last pass and the first failure.
fn find_max(args: &Args, server: &FixtureServer, mode: Mode) -> anyhow::Result<Option<Trial>> {
    let mut best: Option<Trial> = None;
    let mut failed_at = args.max_cameras + 1;
    let mut n = 1;
    loop {
        let t = trial_in_child(args, server, mode, n, false)?;
        t.print(mode);
        if !t.pass {
            failed_at = n;
            break;
        }
        best = Some(t);
        if n == args.max_cameras {
            break;
        }
        n = (n * 2).min(args.max_cameras);
    }
    let mut lo = best.map_or(0, |t| t.cameras);
    while failed_at - lo > 1 {
        let mid = (lo + failed_at) / 2;
        let t = trial_in_child(args, server, mode, mid, false)?;
        t.print(mode);
        if t.pass {
            lo = mid;
            best = Some(t);
        } else {
            failed_at = mid;
        }
    }
    Ok(best)
}

/// Runs one trial in a child process and reads its result line; `clips`: with each camera's
/// pre-roll kept for clips.
fn trial_in_child(args: &Args, server: &FixtureServer, mode: Mode, n: usize, clips: bool) -> anyhow::Result<Trial> {
    let mut cmd = std::process::Command::new(std::env::current_exe()?);
    cmd.args(["camera-trial", "--port", &server.port.to_string(), "--server-pid", &server.pid()])
        .args(["--cameras", &n.to_string(), "--warmup-secs", &args.warmup_secs.to_string()])
        .args(["--measure-secs", &args.measure_secs.to_string()])
        .args(["--inference-workers", &args.inference_workers.to_string()])
        .args(["--model", &args.model])
        .args(["--key-frame-burst", &args.key_frame_burst.to_string()]);
    if mode == Mode::Keyframes {
        cmd.arg("--keyframes");
    }
    if clips {
        cmd.arg("--clips");
    }
    let v = trial_child(cmd, 6)?;
    Ok(Trial {
        cameras: n,
        pass: v[0] > 0.5,
        min_analysed_fps: v[1],
        min_received_fps: v[2],
        cpu_cores: v[3],
        server_cores: v[4],
        rss_mib: v[5],
    })
}

/// Runs a trial process and parses the `width` numbers of its `TRIAL` line.
pub(crate) fn trial_child(mut cmd: std::process::Command, width: usize) -> anyhow::Result<Vec<f64>> {
    let out = cmd.output()?;
    let text = String::from_utf8_lossy(&out.stdout);
    let line = text
        .lines()
        .find_map(|l| l.strip_prefix("TRIAL "))
        .ok_or_else(|| anyhow::anyhow!("a trial printed no result: {}", String::from_utf8_lossy(&out.stderr)))?;
    let v: Vec<f64> = line.split_whitespace().filter_map(|x| x.parse().ok()).collect();
    anyhow::ensure!(v.len() == width, "malformed trial result `{line}`");
    Ok(v)
}

/// The child side: the detector loaded and warm, then N cameras.
pub async fn trial_main(t: TrialArgs) -> anyhow::Result<()> {
    // One thread per inference and no spinning: the box's cores belong to many cameras.
    let runtime = Runtime::load(&RuntimeConfig { intra_threads: 1, ..Default::default() })?;
    let manifest = Manifest::load(&shaobing_detect::manifest_path(None))?;
    let height = ANALYSIS_WIDTH * 9 / 16;
    let warm = Frame {
        camera: CameraId("warm".into()),
        seq: 0,
        captured_at: UnixMillis(0),
        width: ANALYSIS_WIDTH,
        height,
        rgb: vec![128u8; Frame::expected_len(ANALYSIS_WIDTH, height)].into(),
    };
    let mut sessions = Vec::new();
    for _ in 0..t.inference_workers.max(1) {
        let mut detector = Detector::load(&runtime, &manifest, &t.model)?;
        detector.detect(&warm, 0.3)?;
        sessions.push(detector);
    }
    let pool = InferencePool::start(sessions)?;
    shaobing_camera::init_gstreamer()?;
    let mode = if t.keyframes { Mode::Keyframes } else { Mode::EveryFrame };
    let r = trial(&t, &pool, mode).await?;
    println!(
        "TRIAL {} {:.4} {:.3} {:.4} {:.4} {:.2}",
        u8::from(r.pass),
        r.min_analysed_fps,
        r.min_received_fps,
        r.cpu_cores,
        r.server_cores,
        r.rss_mib
    );
    Ok(())
}

/// One camera's analysis: the daemon's own (motion gate, the shared detector, the OpenCV fire
/// detector, the parking rule on the kerb) on every frame it is handed.
struct Analysis {
    analysed_at: Mutex<Vec<Instant>>,
}

async fn analyse(slot: Arc<FrameSlot>, mut analyser: Analyser, record: Arc<Analysis>) {
    while let Ok(frame) = slot.take(Duration::from_secs(1)).await {
        let Some(frame) = frame else { continue };
        if analyser.process(&frame).await.is_ok() {
            record.analysed_at.lock().unwrap_or_else(|p| p.into_inner()).push(Instant::now());
        }
    }
}

/// The trial's cameras as the daemon would be configured: vtest's kerb as a no-parking zone.
fn cameras_config(n: usize) -> anyhow::Result<Config> {
    let mut text = String::new();
    for i in 0..n {
        text.push_str(&format!(
            "[[cameras]]\nid = \"cam{i}\"\nuri = \"rtsp://127.0.0.1:1/cam{i}\"\n[[cameras.zones]]\nid = \"kerb\"\n\
             kind = \"no_parking\"\npolygon = [[0.78, 0.07], [1.0, 0.05], [1.0, 0.25], [0.78, 0.25]]\n"
        ));
    }
    Ok(Config::parse(&text, std::path::Path::new("bench.toml"))?)
}

/// Simulated camera `i` as the daemon would run it, in key-frame or every-frame mode.
pub(crate) fn camera_spec(port: u16, i: usize, keyframes: bool, key_frame_burst: usize) -> CameraSpec {
    CameraSpec {
        id: CameraId(format!("cam{i}")),
        uri: format!("rtsp://127.0.0.1:{port}/cam{i}"),
        credentials: None,
        rtsp_tcp: true,
        keyframes_only: keyframes,
        key_frame_burst,
        native_rtsp: true,
        // Key-frame mode analyses every key frame (0.5/s at GOP 50); every-frame mode gates
        // decoded frames to the same rate.
        analysis_fps: if keyframes { 1.0 } else { MIN_ANALYSED_FPS },
        analysis_width: Some(ANALYSIS_WIDTH),
        decoder_threads: 1,
        restart_on_eos: true,
        realtime: true,
        watchdog: Duration::from_secs(10),
        retry: RetryPolicy {
            initial: Duration::from_millis(500),
            max: Duration::from_secs(5),
            budget: 5,
            window: Duration::from_secs(60),
        },
        clips: None,
    }
}

async fn trial(t: &TrialArgs, pool: &InferencePool, mode: Mode) -> anyhow::Result<Trial> {
    let metrics = Metrics::new();
    let cancel = CancellationToken::new();
    let rss_before = rss_mib();
    let mut tasks = tokio::task::JoinSet::new();
    let mut records = Vec::new();
    let config = cameras_config(t.cameras)?;
    // Real cameras' key frames fall at unrelated moments; the fixture's mounts start their GOP
    // when their client connects, so connecting all at once would line every key frame up
    // into one burst that no street sees. Connections are spread over one GOP instead.
    let stagger = Duration::from_secs_f64(f64::from(GOP) / f64::from(FPS) / t.cameras as f64);
    let clips = shaobing_camera::ClipsConfig::default();
    let budget = shaobing_camera::ClipBudget::new(clips.memory_bytes, metrics.clip_buffer_bytes());
    for i in 0..t.cameras {
        tokio::time::sleep(stagger).await;
        let slot = Arc::new(FrameSlot::new());
        let record = Arc::new(Analysis { analysed_at: Mutex::new(Vec::new()) });
        let cam = metrics.camera(&format!("cam{i}"));
        let mut spec = camera_spec(t.port, i, mode == Mode::Keyframes, t.key_frame_burst);
        if t.clips {
            spec.clips = Some(shaobing_camera::ClipRecorder::new(&clips, budget.clone(), cam.clone()));
        }
        let camera = run_camera(spec, slot.clone(), cam.clone(), cancel.clone());
        tasks.spawn(async move {
            camera.await;
        });
        let analyser = Analyser::new(&config.analysis_setup(), &config.cameras[i], vec![pool.clone()], &metrics)?;
        tasks.spawn(analyse(slot, analyser, record.clone()));
        records.push((record, cam));
    }
    tokio::time::sleep(Duration::from_secs(t.warmup_secs)).await;
    let received_before: Vec<u64> = records.iter().map(|(_, m)| m.frames_received.get()).collect();
    let (cpu, server_cpu, started) = (CpuMeter::start("self"), CpuMeter::start(&t.server_pid), Instant::now());
    tokio::time::sleep(Duration::from_secs(t.measure_secs)).await;
    let window = started.elapsed().as_secs_f64();
    let (cpu_cores, server_cores) = (cpu.cores(), server_cpu.cores());
    // Everything this process holds beyond its warm detector: pipelines, buffers, frames,
    // and GStreamer's one-time plugin loading, shared by all cameras.
    let rss = (rss_mib() - rss_before).max(0.0);
    let mut min_analysed = f64::INFINITY;
    let mut min_received = f64::INFINITY;
    for (i, ((record, m), before)) in records.iter().zip(received_before).enumerate() {
        min_received = min_received.min((m.frames_received.get() - before) as f64 / window);
        let times = record.analysed_at.lock().unwrap_or_else(|p| p.into_inner());
        let rate = analysed_rate(&times, started, window);
        // Which cameras fell short, when a trial fails unexpectedly.
        if std::env::var_os("BENCH_VERBOSE").is_some() {
            eprintln!(
                "cam{i}: analysed {rate:.2}/s ({} in all, {} without inference), received {}, decoded {}, dropped {}",
                times.len(),
                m.inferences_skipped.get(),
                m.frames_received.get(),
                m.frames_decoded.get(),
                m.frames_dropped.get()
            );
        }
        min_analysed = min_analysed.min(rate);
    }
    cancel.cancel();
    while tasks.join_next().await.is_some() {}
    // 5 % slack: analyses queue behind each other on the shared detector, which shifts the
    // first and last completion times of a window by up to a second.
    let pass = min_analysed >= MIN_ANALYSED_FPS * 0.95 && min_received >= MIN_RECEIVED_SHARE * f64::from(FPS);
    Ok(Trial {
        cameras: t.cameras,
        pass,
        min_analysed_fps: min_analysed,
        min_received_fps: min_received,
        cpu_cores,
        server_cores,
        rss_mib: rss,
    })
}

/// Analyses per second inside the window, from the spacing of the first and last: counting
/// events in a window under-reads a 0.5/s process by up to one event.
fn analysed_rate(times: &[Instant], start: Instant, window: f64) -> f64 {
    let inside: Vec<f64> =
        times.iter().filter(|t| **t >= start).map(|t| t.duration_since(start).as_secs_f64()).collect();
    match (inside.first(), inside.last()) {
        // The last analysis must be recent: a camera that stopped is not analysed at any rate.
        (Some(first), Some(last)) if inside.len() >= 2 && window - last < 3.0 => {
            (inside.len() - 1) as f64 / (last - first)
        }
        _ => 0.0,
    }
}
