//! `shaobing detect`: one model, the configured pre- and post-processing, on an image or a
//! clip; detections as a table or JSON and an annotated image per frame. How an integrator
//! checks a new model and draws zones.

use anyhow::{Context, bail};
use serde::Serialize;
use shaobing_config::Config;
use shaobing_core::{Detection, Frame, ObjectKind, Polygon};
use shaobing_detect::{Detector, Manifest, ModelsConfig, Runtime, RuntimeConfig};
use shaobing_vision::{Annotation, render_evidence};
use std::path::{Path, PathBuf};

#[derive(clap::Args, Debug)]
pub struct DetectArgs {
    /// Model name from the manifest.
    #[arg(long)]
    pub model: String,
    /// An image (jpg, png, bmp, webp) or a clip (anything GStreamer decodes).
    pub input: PathBuf,
    /// The daemon's configuration: its manifest, runtime settings and class maps, and the
    /// cameras whose zones `--zones` draws.
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Draw this camera's zones (from `--config`) on the annotated image.
    #[arg(long)]
    pub zones: Option<String>,
    /// Lowest score printed and drawn.
    #[arg(long, default_value_t = 0.3)]
    pub min_score: f32,
    /// Print JSON (one object per frame) instead of a table.
    #[arg(long)]
    pub json: bool,
    /// Annotated image (for a clip: a directory of one image per analysed frame). Default:
    /// `<input stem>.detections.jpg` (or `<input stem>.detections/`) beside the input.
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Clips: analyse every Nth decoded frame.
    #[arg(long, default_value_t = 10)]
    pub every: u64,
    /// Clips: stop after this many decoded frames [default: the whole clip].
    #[arg(long)]
    pub frames: Option<u64>,
}

#[derive(Serialize)]
struct FrameReport<'a> {
    frame: u64,
    width: u32,
    height: u32,
    detections: Vec<Row<'a>>,
}

#[derive(Serialize)]
struct Row<'a> {
    class: &'a str,
    class_id: u32,
    score: f32,
    /// x1, y1, x2, y2, normalised to the frame.
    bbox: [f32; 4],
    kinds: Vec<ObjectKind>,
}

pub fn run(args: &DetectArgs) -> anyhow::Result<()> {
    let config = args.config.as_deref().map(Config::load).transpose()?;
    let zones = zones(config.as_ref(), args.zones.as_deref())?;
    let (manifest_path, runtime, models) = match &config {
        Some(c) => (shaobing_detect::manifest_path(c.models.manifest.as_deref()), c.runtime.clone(), c.models.clone()),
        None => (shaobing_detect::manifest_path(None), RuntimeConfig::default(), ModelsConfig::default()),
    };
    let runtime = Runtime::load(&runtime)?;
    let manifest = Manifest::load(&manifest_path)?;
    let mut detector = Detector::load(&runtime, &manifest, &args.model)?;
    let clip = !is_image(&args.input);
    let out = output_path(args, clip);
    if clip {
        std::fs::create_dir_all(&out).with_context(|| format!("cannot create {}", out.display()))?;
    }
    let mut progress = crate::progress::Progress::new("detect");
    let mut analysed = 0u64;
    let (frames, duration) = frames_of(args)?;
    for frame in frames {
        let detections = detector.detect(&frame, args.min_score)?;
        print_report(args, &frame, &detections, &models)?;
        let target = if clip { out.join(format!("frame-{:06}.jpg", frame.seq)) } else { out.clone() };
        write_annotated(&target, &frame, &detections, &zones, &args.model)?;
        if !args.json {
            println!("annotated: {}", target.display());
        }
        analysed += 1;
        if clip {
            progress.report(|| format!("frame {} of {}", frame.seq + 1, duration.describe()));
        }
    }
    if clip {
        progress.finish(duration.summary(analysed, args));
    }
    if analysed == 0 {
        bail!("{} gave no video frames", args.input.display());
    }
    Ok(())
}

/// How far into a clip the frames went: for progress, and to say when `--frames` cut it short.
#[derive(Debug, Default)]
struct ClipExtent {
    decoded: std::sync::Arc<std::sync::atomic::AtomicU64>,
    ended: std::sync::Arc<std::sync::atomic::AtomicBool>,
    length: Option<std::time::Duration>,
}

impl ClipExtent {
    fn describe(&self) -> String {
        self.length.map_or_else(|| "a clip of unknown length".into(), |d| format!("a {:.1} s clip", d.as_secs_f64()))
    }

    fn summary(&self, analysed: u64, args: &DetectArgs) -> String {
        use std::sync::atomic::Ordering::Relaxed;
        // Finding that `--frames` cut the clip short takes decoding one frame more.
        let decoded = self.decoded.load(Relaxed).min(args.frames.unwrap_or(u64::MAX));
        let tail = match (self.ended.load(Relaxed), args.frames) {
            (false, Some(n)) => format!("; stopped after {n} frames (--frames), the clip goes on"),
            _ => ", to the end of the clip".into(),
        };
        format!("{analysed} frames analysed (every {}) of {decoded} decoded{tail}", args.every.max(1))
    }
}

fn is_image(path: &Path) -> bool {
    let ext = path.extension().and_then(|e| e.to_str()).unwrap_or("").to_ascii_lowercase();
    matches!(ext.as_str(), "jpg" | "jpeg" | "png" | "bmp" | "webp" | "tif" | "tiff")
}

fn output_path(args: &DetectArgs, clip: bool) -> PathBuf {
    args.out.clone().unwrap_or_else(|| {
        let stem = args.input.file_stem().and_then(|s| s.to_str()).unwrap_or("input");
        let name = if clip { format!("{stem}.detections") } else { format!("{stem}.detections.jpg") };
        args.input.with_file_name(name)
    })
}

/// The frames to analyse, decoded as they are taken, and the clip's extent.
fn frames_of(args: &DetectArgs) -> anyhow::Result<(Box<dyn Iterator<Item = Frame>>, ClipExtent)> {
    use std::sync::atomic::Ordering::Relaxed;
    if !args.input.is_file() {
        bail!("{} does not exist or is not a file", args.input.display());
    }
    if is_image(&args.input) {
        let image = shaobing_vision::read_image(&args.input, "detect")?;
        return Ok((Box::new(std::iter::once(image)), ClipExtent::default()));
    }
    let every = args.every.max(1);
    let last = args.frames.unwrap_or(u64::MAX);
    let mut file = shaobing_camera::FileFrames::open(&args.input, shaobing_core::UnixMillis::now())
        .with_context(|| format!("cannot decode {}", args.input.display()))?;
    let first = file.next();
    let extent = ClipExtent { length: file.duration(), ..ClipExtent::default() };
    let (decoded, ended) = (extent.decoded.clone(), extent.ended.clone());
    let mut all = first.into_iter().chain(file);
    let frames = std::iter::from_fn(move || {
        let frame = all.next();
        match &frame {
            Some(f) => decoded.store(f.seq + 1, Relaxed),
            None => ended.store(true, Relaxed),
        }
        frame
    })
    .take_while(move |f| f.seq < last)
    .filter(move |f| f.seq % every == 0);
    Ok((Box::new(frames), extent))
}

/// The named camera's zones and masks, by id.
fn zones(config: Option<&Config>, camera: Option<&str>) -> anyhow::Result<Vec<(String, Polygon)>> {
    let Some(id) = camera else { return Ok(Vec::new()) };
    let config = config.context("--zones needs --config, where the camera's zones are")?;
    let Some(camera) = config.cameras.iter().find(|c| c.id == id) else {
        let known: Vec<&str> = config.cameras.iter().map(|c| c.id.as_str()).collect();
        bail!("camera `{id}` is not in the configuration (it has: {})", known.join(", "));
    };
    Ok(camera.zones.iter().map(|z| (z.id.0.clone(), z.polygon.clone())).collect())
}

fn print_report(
    args: &DetectArgs,
    frame: &Frame,
    detections: &[Detection],
    models: &ModelsConfig,
) -> anyhow::Result<()> {
    let rows: Vec<Row<'_>> = detections
        .iter()
        .map(|d| Row {
            class: &d.label,
            class_id: d.class_id,
            score: d.score,
            bbox: [d.bbox.x1, d.bbox.y1, d.bbox.x2, d.bbox.y2],
            kinds: models.kinds_of(&args.model, &d.label),
        })
        .collect();
    let report = FrameReport { frame: frame.seq, width: frame.width, height: frame.height, detections: rows };
    if args.json {
        println!("{}", serde_json::to_string(&report)?);
        return Ok(());
    }
    println!("frame {} ({}x{}): {} detection(s)", report.frame, report.width, report.height, report.detections.len());
    let table: Vec<Vec<String>> = report
        .detections
        .iter()
        .map(|r| {
            let kinds: Vec<&str> = r.kinds.iter().map(|k| k.as_str()).collect();
            vec![
                r.class.to_string(),
                format!("{:.3}", r.score),
                format!("{:.3} {:.3} {:.3} {:.3}", r.bbox[0], r.bbox[1], r.bbox[2], r.bbox[3]),
                kinds.join(","),
            ]
        })
        .collect();
    print!("{}", crate::table::render(&["class", "score", "x1 y1 x2 y2 (normalised)", "kinds"], &table));
    Ok(())
}

fn write_annotated(
    path: &Path,
    frame: &Frame,
    detections: &[Detection],
    zones: &[(String, Polygon)],
    model: &str,
) -> anyhow::Result<()> {
    let note = Annotation {
        zones: zones.iter().map(|(id, p)| (id.as_str(), p)).collect(),
        boxes: detections.iter().map(|d| (format!("{} {:.2}", d.label, d.score), d.bbox)).collect(),
        caption: format!("{model}  frame {}", frame.seq),
    };
    let jpeg = render_evidence(frame, &note)?;
    std::fs::write(path, jpeg).with_context(|| format!("cannot write {}", path.display()))
}
