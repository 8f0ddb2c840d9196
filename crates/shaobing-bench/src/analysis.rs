//! Per analysed frame: the whole analysis (pool hand-off, letterbox, tensor fill, inference,
//! decoding, NMS, the OpenCV fire detector, rules) against a bare `session.run` of the same
//! model on the same prepared input, interleaved frame by frame in one process; then the share
//! of inferences the motion gate avoids on the same street clip.

use anyhow::Context;
use ort::session::Session;
use ort::session::builder::GraphOptimizationLevel;
use ort::value::TensorRef;
use shaobing_analysis::Analyser;
use shaobing_config::Config;
use shaobing_core::Frame;
use shaobing_detect::{Detector, InferencePool, Layout, Manifest, Runtime, RuntimeConfig};
use shaobing_metrics::Metrics;
use shaobing_vision::Letterbox;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Analysed frames per second taken from the 10 frames/s clip.
    #[arg(long, default_value_t = 2)]
    fps: u64,
    /// Threads one inference may use (the same for both sides).
    #[arg(long, default_value_t = 2)]
    threads: usize,
    /// Clip to analyse; Debian opencv-doc's vtest.avi by default.
    #[arg(long)]
    clip: Option<PathBuf>,
}

const MODEL: &str = "centernet-mobilenetv3-coco";

/// The demo's street camera: a no-parking kerb, fire detection on, motion gate as asked.
fn config(gate: bool, zones_only: bool) -> anyhow::Result<Config> {
    let text = format!(
        r#"
[[cameras]]
id = "bench"
uri = "rtsp://127.0.0.1:1/unused"
[cameras.motion_gate]
enabled = {gate}
zones_only = {zones_only}
[[cameras.zones]]
id = "kerb"
kind = "no_parking"
polygon = [[0.78, 0.07], [1.0, 0.05], [1.0, 0.25], [0.78, 0.25]]
"#
    );
    Ok(Config::parse(&text, Path::new("bench.toml"))?)
}

/// A session and input tensor built the plain way, outside every shaobing type.
struct Bare {
    session: Session,
    input_name: String,
    shape: [usize; 4],
    letterbox: Letterbox,
    input: Vec<f32>,
}

impl Bare {
    /// The manifest's model, or another file with its input (`file`).
    fn new(runtime: &Runtime, manifest: &Manifest, file: Option<&Path>, threads: usize) -> anyhow::Result<Self> {
        let spec = manifest.get(MODEL)?;
        anyhow::ensure!(spec.input.layout == Layout::NHWC, "the bench's bare side fills NHWC only");
        let bytes = match file {
            Some(f) => std::fs::read(f).with_context(|| format!("reading {}", f.display()))?,
            None => manifest.read_verified(spec)?,
        };
        let session = Session::builder(runtime.environment())
            .map_err(ort_error)?
            .with_optimization_level(GraphOptimizationLevel::Level3)
            .map_err(ort_error)?
            .with_intra_op_spinning(false)
            .map_err(ort_error)?
            .with_intra_threads(threads)
            .map_err(ort_error)?
            .commit_from_memory(&bytes)
            .map_err(ort_error)?;
        let (w, h) = (spec.input.width as usize, spec.input.height as usize);
        Ok(Self {
            session,
            input_name: spec.input.name.clone(),
            shape: [1, h, w, 3],
            letterbox: Letterbox::with_fit(w as u32, h as u32, spec.input.resize.into())?,
            input: vec![0.0; w * h * 3],
        })
    }

    /// Prepares `frame` untimed, then times `session.run` alone.
    fn run(&mut self, frame: &Frame) -> anyhow::Result<Duration> {
        self.letterbox.apply(frame)?;
        for (o, p) in self.input.iter_mut().zip(self.letterbox.pixels()?) {
            *o = f32::from(*p);
        }
        let tensor = TensorRef::from_array_view((self.shape, &self.input[..]))?;
        let started = Instant::now();
        let outputs = self.session.run(ort::inputs![self.input_name.as_str() => tensor])?;
        let took = started.elapsed();
        drop(outputs);
        Ok(took)
    }
}

async fn analyser(
    config: &Config,
    runtime: &Runtime,
    manifest: &Manifest,
    metrics: &Metrics,
) -> anyhow::Result<Analyser> {
    let pool = InferencePool::start(vec![Detector::load(runtime, manifest, MODEL)?])?;
    Analyser::new(&config.analysis_setup(), &config.cameras[0], vec![pool], metrics)
}

fn ort_error<T>(e: ort::Error<T>) -> anyhow::Error {
    anyhow::anyhow!("ONNX Runtime: {e}")
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

pub async fn run(args: Args) -> anyhow::Result<()> {
    let clip = args.clip.clone().unwrap_or_else(shaobing_rtsp_server::street_clip);
    let step = (10 / args.fps.max(1)).max(1);
    let frames = shaobing_camera::decode_file_frames(&clip, |i| i % step == 0, 10_000)
        .with_context(|| format!("decoding {}", clip.display()))?;
    anyhow::ensure!(!frames.is_empty(), "{} gave no frames", clip.display());
    let options = RuntimeConfig { intra_threads: args.threads, ..Default::default() };
    let runtime = Runtime::load(&options)?;
    let manifest = Manifest::load(&shaobing_detect::manifest_path(None))?;
    let mut bare = Bare::new(&runtime, &manifest, None, args.threads)?;
    // The graph the peer runs: CenterNet with its own decoding tail, which shaobing's cuts off.
    let mut tail = Bare::new(&runtime, &manifest, Some(&crate::peer::model(&manifest)), args.threads)?;
    let metrics = Metrics::new();
    let mut full = analyser(&config(false, false)?, &runtime, &manifest, &metrics).await?;
    // Warm both sessions up: first runs allocate arenas and pick kernels.
    for f in frames.iter().take(3) {
        bare.run(f)?;
        tail.run(f)?;
        full.process(f).await?;
    }
    let (mut bare_ms, mut tail_ms, mut full_ms) = (Vec::new(), Vec::new(), Vec::new());
    for f in &frames {
        bare_ms.push(bare.run(f)?.as_secs_f64() * 1e3);
        tail_ms.push(tail.run(f)?.as_secs_f64() * 1e3);
        let started = Instant::now();
        full.process(f).await?;
        full_ms.push(started.elapsed().as_secs_f64() * 1e3);
    }
    let (b, a) = (median(bare_ms.clone()), median(full_ms.clone()));
    let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len() as f64;
    println!(
        "analysis: {} frames of {} at {} frames/s, {} inference threads",
        frames.len(),
        clip.display(),
        args.fps,
        args.threads
    );
    println!("  bare session.run        median {b:7.2} ms  mean {:7.2} ms", mean(&bare_ms));
    println!("  whole analysis          median {a:7.2} ms  mean {:7.2} ms", mean(&full_ms));
    println!("  ratio (median)          {:.3}  (target <= 1.15)", a / b);
    println!("  ratio (mean)            {:.3}", mean(&full_ms) / mean(&bare_ms));
    let t = median(tail_ms.clone());
    println!("  bare session.run of the graph with its decoding tail (the peer's) median {t:7.2} ms");
    println!("  whole analysis against it (median) {:.3}", a / t);
    for (zones_only, what) in [(false, "motion anywhere"), (true, "motion in the kerb zone")] {
        gate_share(&frames, &runtime, &manifest, zones_only, what).await?;
    }
    Ok(())
}

/// Runs the clip through an analyser with the motion gate on and reports what it skipped.
async fn gate_share(
    frames: &[Frame],
    runtime: &Runtime,
    manifest: &Manifest,
    zones_only: bool,
    what: &str,
) -> anyhow::Result<()> {
    let metrics = Metrics::new();
    let mut gated = analyser(&config(true, zones_only)?, runtime, manifest, &metrics).await?;
    for f in frames {
        gated.process(f).await?;
    }
    let camera = metrics.camera("bench");
    let (skipped, analysed) = (camera.inferences_skipped.get(), camera.frames_analysed.get());
    println!(
        "  motion gate, {what:24} skipped {skipped} of {analysed} inferences ({:.1} %)",
        100.0 * skipped as f64 / analysed.max(1) as f64
    );
    Ok(())
}
