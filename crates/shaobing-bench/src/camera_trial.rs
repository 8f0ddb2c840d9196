//! One trial of the cameras benchmark, in a process of its own so that its memory is its own:
//! the detector loaded and warm, then N cameras received, decoded and analysed as the daemon
//! does, measured by the peer's keep-up rule.

use crate::fixture::{FPS, GOP};
use crate::procfs::{CpuMeter, ThreadCpu, rss_mib};
use serde::{Deserialize, Serialize};
use shaobing_analysis::Analyser;
use shaobing_camera::{CameraSpec, FrameSlot, RetryPolicy, run_camera};
use shaobing_config::Config;
use shaobing_core::{CameraId, Frame, UnixMillis};
use shaobing_detect::{Detector, InferencePool, Manifest, Runtime, RuntimeConfig};
use shaobing_metrics::{CameraMetrics, Metrics, RECONNECT_REASONS};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;

/// How shaobing runs the trial's cameras.
#[derive(clap::ValueEnum, Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Mode {
    /// Key frames only, inference on every one (motion gate off): the headline.
    Keyframes,
    /// Key frames only with the motion gate on over the kerb zone (the daemon's default).
    Gated,
    /// Every frame decoded, analysed at the same rate: the design other tools use.
    EveryFrame,
}

/// The arguments of one trial process.
#[derive(clap::Args, Debug, Clone)]
pub struct TrialArgs {
    #[arg(long)]
    pub port: u16,
    #[arg(long)]
    pub server_pid: String,
    #[arg(long, value_enum)]
    pub mode: Mode,
    #[arg(long)]
    pub cameras: usize,
    #[arg(long)]
    pub warmup_secs: u64,
    #[arg(long)]
    pub measure_secs: u64,
    #[arg(long)]
    pub inference_workers: usize,
    #[arg(long, default_value_t = 0)]
    pub intra_threads: usize,
    #[arg(long)]
    pub model: String,
    #[arg(long, default_value_t = 1)]
    pub key_frame_burst: usize,
    /// Connections spread over one GOP instead of all at once.
    #[arg(long)]
    pub spread: bool,
    /// Each camera keeps its pre-roll for clips (`[clips]` defaults).
    #[arg(long)]
    pub clips: bool,
}

/// Both modes scale analysed frames to this width (the detector's input is 512 wide).
const ANALYSIS_WIDTH: u32 = 960;
/// The keep-up rule, the peer's: over the last `WINDOW` of the measurement every camera
/// completed at least `MIN_ANALYSED` analyses per second…
pub const MIN_ANALYSED: f64 = 0.45;
/// …and was received at this many frames per second or more.
pub const MIN_RECEIVED: f64 = 24.0;
pub const WINDOW: Duration = Duration::from_secs(20);

/// What a trial measured; the peer's trials are read into the same shape.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Trial {
    pub cameras: usize,
    pub pass: bool,
    /// The least analyses/s of any camera over the window (with inference, but for `gated`).
    pub min_analysed: f64,
    pub min_received: f64,
    /// Cores this process (the peer's, for the peer) used over the measurement.
    pub cpu_cores: f64,
    pub server_cores: f64,
    /// Resident memory beyond the warm detector.
    pub rss_mib: f64,
    /// Capture to analysis result, seconds, over the measurement.
    pub latency_p50: Option<f64>,
    pub latency_p99: Option<f64>,
    /// Camera restarts (the watchdog's among them) from the first connection on.
    pub restarts: u64,
    /// Key frames shed before decoding (expired or displaced).
    pub shed: u64,
    /// Share of full analyses that ran inference (the motion gate skips the rest).
    pub inferred_share: f64,
    /// Cores per group of threads over the measurement.
    pub threads: Vec<(String, f64)>,
}

impl Trial {
    pub fn per_camera(&self, v: f64) -> f64 {
        v / self.cameras.max(1) as f64
    }
}

/// The child side: the detector loaded and warm, then N cameras; prints `TRIAL <json>`.
pub async fn trial_main(t: TrialArgs) -> anyhow::Result<()> {
    // No spinning: the box's cores belong to many cameras.
    let options =
        RuntimeConfig { intra_threads: t.intra_threads, inference_workers: t.inference_workers, ..Default::default() };
    let runtime = Runtime::load(&options)?;
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
    let r = trial(&t, &pool).await?;
    println!("TRIAL {}", serde_json::to_string(&r)?);
    Ok(())
}

/// One camera's full analyses: when each ended, its capture-to-result latency, and whether it
/// ran inference.
type Record = Arc<Mutex<Vec<(Instant, f64, bool)>>>;

/// The daemon's analysis (motion gate, the shared detector, the OpenCV fire detector, the
/// parking rule on the kerb) on every frame the camera hands over.
async fn analyse(slot: Arc<FrameSlot>, mut analyser: Analyser, metrics: CameraMetrics, record: Record) {
    while let Ok(frame) = slot.take(Duration::from_secs(1)).await {
        let Some(frame) = frame else { continue };
        let (inferred, skipped) = (analyser.inferences(), metrics.inferences_skipped.get());
        if analyser.process(&frame).await.is_err() {
            continue;
        }
        let ran = analyser.inferences() > inferred;
        // A burst's followers feed the fire watch only: neither inference nor the gate's say.
        if ran || metrics.inferences_skipped.get() > skipped {
            let latency = UnixMillis::now().since(frame.captured_at).as_secs_f64();
            record.lock().unwrap_or_else(|p| p.into_inner()).push((Instant::now(), latency, ran));
        }
    }
}

/// The trial's cameras as the daemon would be configured: vtest's kerb as a no-parking zone.
fn cameras_config(n: usize, gate: bool) -> anyhow::Result<Config> {
    let mut text = String::new();
    for i in 0..n {
        text.push_str(&format!(
            "[[cameras]]\nid = \"cam{i}\"\nuri = \"rtsp://127.0.0.1:1/cam{i}\"\n[cameras.motion_gate]\nenabled = {gate}\n\
             [[cameras.zones]]\nid = \"kerb\"\nkind = \"no_parking\"\n\
             polygon = [[0.78, 0.07], [1.0, 0.05], [1.0, 0.25], [0.78, 0.25]]\n"
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
        analysis_fps: if keyframes { 1.0 } else { 0.5 },
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

/// The running cameras of a trial.
struct Fleet {
    records: Vec<(Record, CameraMetrics)>,
    cancel: CancellationToken,
    tasks: tokio::task::JoinSet<()>,
    /// Receiving runs on a runtime of its own, so that its threads' CPU is told apart from
    /// the analysis's.
    receive: tokio::runtime::Runtime,
}

async fn start(
    t: &TrialArgs,
    pool: &InferencePool,
    metrics: &Metrics,
    stagger: Option<Duration>,
) -> anyhow::Result<Fleet> {
    let receive = tokio::runtime::Builder::new_multi_thread().thread_name("receive").enable_all().build()?;
    let (cancel, mut tasks, mut records) = (CancellationToken::new(), tokio::task::JoinSet::new(), Vec::new());
    let config = cameras_config(t.cameras, t.mode == Mode::Gated)?;
    let clips = shaobing_camera::ClipsConfig::default();
    let budget = shaobing_camera::ClipBudget::new(clips.memory_bytes, metrics.clip_buffer_bytes());
    for i in 0..t.cameras {
        if let Some(stagger) = stagger {
            tokio::time::sleep(stagger).await;
        }
        let slot = Arc::new(FrameSlot::new());
        let cam = metrics.camera(&format!("cam{i}"));
        let mut spec = camera_spec(t.port, i, t.mode != Mode::EveryFrame, t.key_frame_burst);
        if t.clips {
            spec.clips = Some(shaobing_camera::ClipRecorder::new(&clips, budget.clone(), cam.clone()));
        }
        let camera = receive.spawn(run_camera(spec, slot.clone(), cam.clone(), cancel.clone()));
        tasks.spawn(async move {
            let _ = camera.await;
        });
        let analyser = Analyser::new(&config.analysis_setup(), &config.cameras[i], vec![pool.clone()], metrics)?;
        let record = Record::default();
        tasks.spawn(analyse(slot, analyser, cam.clone(), record.clone()));
        records.push((record, cam));
    }
    Ok(Fleet { records, cancel, tasks, receive })
}

async fn trial(t: &TrialArgs, pool: &InferencePool) -> anyhow::Result<Trial> {
    let metrics = Metrics::new();
    let rss_before = rss_mib();
    // Cameras connected together start their GOPs together (the fixture's mounts, like many
    // servers, start each session at a key frame): every GOP brings one burst of key frames.
    // Spread, they connect over one GOP instead, as cameras that came up at unrelated times.
    let stagger = t.spread.then(|| Duration::from_secs_f64(f64::from(GOP) / f64::from(FPS) / t.cameras as f64));
    let fleet = start(t, pool, &metrics, stagger).await?;
    measure(t, fleet, rss_before).await
}

async fn measure(t: &TrialArgs, mut fleet: Fleet, rss_before: f64) -> anyhow::Result<Trial> {
    tokio::time::sleep(Duration::from_secs(t.warmup_secs)).await;
    let (cpu, server_cpu, threads) = (CpuMeter::start("self"), CpuMeter::start(&t.server_pid), ThreadCpu::start());
    let started = Instant::now();
    tokio::time::sleep(Duration::from_secs(t.measure_secs).saturating_sub(WINDOW)).await;
    let received_before: Vec<u64> = fleet.records.iter().map(|(_, m)| m.frames_received.get()).collect();
    let window_start = Instant::now();
    tokio::time::sleep(WINDOW).await;
    let window_end = Instant::now();
    let window = window_end.duration_since(window_start).as_secs_f64();
    let (cpu_cores, server_cores, threads) = (cpu.cores(), server_cpu.cores(), threads.cores());
    // Everything this process holds beyond its warm detector: pipelines, buffers, frames,
    // and GStreamer's one-time plugin loading, shared by all cameras.
    let rss = (rss_mib() - rss_before).max(0.0);
    let gated = t.mode == Mode::Gated;
    let (mut min_analysed, mut min_received) = (f64::INFINITY, f64::INFINITY);
    let (mut latencies, mut full, mut inferred) = (Vec::new(), 0usize, 0usize);
    for (i, ((record, m), before)) in fleet.records.iter().zip(received_before).enumerate() {
        let analyses = record.lock().unwrap_or_else(|p| p.into_inner());
        let in_window = |at: &Instant| *at >= window_start && *at <= window_end;
        let counted = analyses.iter().filter(|(at, _, ran)| in_window(at) && (*ran || gated)).count();
        // Over the nominal window, as the peer counts: 9 analyses in 20 s are 0.45/s.
        let (analysed, received) =
            (counted as f64 / WINDOW.as_secs_f64(), (m.frames_received.get() - before) as f64 / window);
        let measured: Vec<_> = analyses.iter().filter(|(at, _, _)| *at >= started && *at <= window_end).collect();
        latencies.extend(measured.iter().map(|(_, l, _)| *l));
        full += measured.len();
        inferred += measured.iter().filter(|(_, _, ran)| *ran).count();
        if std::env::var_os("BENCH_VERBOSE").is_some() {
            let restarts: Vec<String> = RECONNECT_REASONS
                .iter()
                .filter(|r| m.reconnects(r) > 0)
                .map(|r| format!("{r} {}", m.reconnects(r)))
                .collect();
            eprintln!(
                "cam{i}: analysed {analysed:.2}/s, received {received:.1}/s, decoded {}, shed {}+{}, restarts [{}]",
                m.frames_decoded.get(),
                m.key_frames_expired.get(),
                m.key_frames_displaced.get(),
                restarts.join(", ")
            );
        }
        min_analysed = min_analysed.min(analysed);
        min_received = min_received.min(received);
    }
    let restarts =
        fleet.records.iter().map(|(_, m)| RECONNECT_REASONS.iter().map(|r| m.reconnects(r)).sum::<u64>()).sum();
    let shed =
        fleet.records.iter().map(|(_, m)| m.key_frames_expired.get() + m.key_frames_displaced.get()).sum::<u64>();
    fleet.cancel.cancel();
    while fleet.tasks.join_next().await.is_some() {}
    fleet.receive.shutdown_background();
    latencies.sort_by(f64::total_cmp);
    let at =
        |q: f64| latencies.get(((latencies.len() as f64 * q) as usize).min(latencies.len().saturating_sub(1))).copied();
    // A camera on a 2 s rhythm makes 9 or 10 analyses in the window.
    let pass = restarts == 0 && min_analysed >= MIN_ANALYSED - 1e-9 && min_received >= MIN_RECEIVED;
    Ok(Trial {
        cameras: t.cameras,
        pass,
        min_analysed,
        min_received,
        cpu_cores,
        server_cores,
        rss_mib: rss,
        latency_p50: at(0.5),
        latency_p99: at(0.99),
        restarts,
        shed,
        inferred_share: inferred as f64 / full.max(1) as f64,
        threads,
    })
}
