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
    /// Clips: stop after this many decoded frames.
    #[arg(long, default_value_t = 300)]
    pub frames: u64,
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
    let frames = frames_of(args)?;
    let clip = frames.len() > 1 || !is_image(&args.input);
    let out = output_path(args, clip);
    if clip {
        std::fs::create_dir_all(&out).with_context(|| format!("cannot create {}", out.display()))?;
    }
    for frame in &frames {
        let detections = detector.detect(frame, args.min_score)?;
        print_report(args, frame, &detections, &models)?;
        let target = if clip { out.join(format!("frame-{:06}.jpg", frame.seq)) } else { out.clone() };
        write_annotated(&target, frame, &detections, &zones, &args.model)?;
        if !args.json {
            println!("annotated: {}", target.display());
        }
    }
    Ok(())
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

fn frames_of(args: &DetectArgs) -> anyhow::Result<Vec<Frame>> {
    if !args.input.is_file() {
        bail!("{} does not exist or is not a file", args.input.display());
    }
    if is_image(&args.input) {
        return Ok(vec![shaobing_vision::read_image(&args.input, "detect")?]);
    }
    let every = args.every.max(1);
    let frames = shaobing_camera::decode_file_frames(&args.input, |i| i % every == 0, args.frames)
        .with_context(|| format!("cannot decode {}", args.input.display()))?;
    if frames.is_empty() {
        bail!("{} gave no video frames", args.input.display());
    }
    Ok(frames)
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
