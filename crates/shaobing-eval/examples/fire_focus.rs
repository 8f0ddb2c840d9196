//! Recall and cost of a flame model looking, every other time, at the window around the
//! flame-coloured regions the OpenCV detector follows, against the whole frame, in one run.
//!
//! `cargo run --release -p shaobing-eval --example fire_focus`
//!
//! A fire far down the street: each flame photo of `tests/media/fire/positive`, its flame
//! flickering, set down at a fifth of the picture's height in vtest.avi's street (3 frames a
//! second, people walking). A hit is a `fire` detection of the optional `fire-yolov8-light`
//! model overlapping the flame (score >= 0.25); the figures are the frames with a hit, the hits'
//! mean score, and the analysis time per frame, with the whole frame as the baseline.

use anyhow::Context;
use shaobing_analysis::{Analyser, Models};
use shaobing_config::Config;
use shaobing_core::{BBox, Detection, Frame, LiveView};
use shaobing_detect::{Manifest, Runtime};
use shaobing_metrics::Metrics;
use shaobing_vision::compose::{Cutout, Rng, flicker};
use shaobing_vision::{FireDetector, FireDetectorConfig};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Instant;

const CAMERA: &str = r#"
[[cameras]]
id = "far-street"
uri = "file:///usr/share/doc/opencv-doc/examples/data/vtest.avi"
models = ["fire-yolov8-light"]
motion_gate = { enabled = false }
"#;

/// Where the photo stands, and how tall it is in each trial, as shares of the picture: far
/// down the street, and nearer.
const FOOT: [f32; 2] = [0.72, 0.55];
const HEIGHTS: [f32; 2] = [0.2, 0.35];
/// Frames the OpenCV detector needs to follow a flame before the window means anything.
const SETTLE: usize = 6;

#[derive(Default)]
struct Seen(Mutex<Vec<Detection>>);

impl LiveView for Seen {
    fn publish(&self, _: &Frame, detections: &[Detection]) {
        *self.0.lock().unwrap_or_else(|p| p.into_inner()) = detections.to_vec();
    }
}

/// One flame photo set down in the street frames, flickering; the flame's box in the frame.
fn composed(photo: &Path, street: &[Frame], height: f32) -> anyhow::Result<(Vec<Frame>, BBox)> {
    let picture = shaobing_vision::read_image(photo, "far-street")?;
    let flame = FireDetector::new(FireDetectorConfig::default())
        .candidates(&picture)?
        .into_iter()
        .max_by(|a, b| a.area.total_cmp(&b.area))
        .context("no flame in the photo")?
        .bbox;
    let mut rng = Rng(11);
    let mut frames = Vec::new();
    for f in street {
        let burning = Frame { rgb: flicker(&picture, flame, &mut rng).into(), ..picture.clone() };
        let rgb = Cutout::of(&burning, false)?.set_down(f, FOOT, height)?;
        frames.push(Frame { rgb: rgb.into(), ..f.clone() });
    }
    let (w, h) = (street[0].width as f32, street[0].height as f32);
    let ph = height;
    let pw = height * (picture.width as f32 / picture.height as f32) * (h / w);
    let (left, top) = (FOOT[0] - pw / 2.0, FOOT[1] - ph);
    let in_frame =
        BBox::from_corners(left + flame.x1 * pw, top + flame.y1 * ph, left + flame.x2 * pw, top + flame.y2 * ph);
    Ok((frames, in_frame))
}

/// Frames with a hit, mean hit score, seconds per frame.
async fn measure(
    config: &Config,
    models: &Models,
    crop: bool,
    clips: &[(Vec<Frame>, BBox)],
) -> anyhow::Result<(f64, f64, f64)> {
    let mut camera = config.cameras[0].clone();
    camera.crop_to_zones = crop;
    let (mut with_hit, mut frames, mut score, mut hits, mut secs) = (0usize, 0usize, 0.0f64, 0usize, 0.0f64);
    for (clip, flame) in clips {
        let seen = Arc::new(Seen::default());
        let mut analyser =
            Analyser::new(&config.analysis_setup(), &camera, models.for_camera(&camera)?, &Metrics::new())?
                .with_live(seen.clone());
        for (i, f) in clip.iter().enumerate() {
            let started = Instant::now();
            analyser.process(f).await?;
            if i < SETTLE {
                continue;
            }
            secs += started.elapsed().as_secs_f64();
            frames += 1;
            let found: Vec<f32> = seen
                .0
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .iter()
                .filter(|d| d.label == "fire" && d.score >= 0.25 && d.bbox.intersection(flame) > 0.0)
                .map(|d| d.score)
                .collect();
            with_hit += usize::from(!found.is_empty());
            hits += found.len();
            score += found.iter().map(|s| f64::from(*s)).sum::<f64>();
        }
    }
    let n = frames.max(1) as f64;
    Ok((with_hit as f64 / n, score / hits.max(1) as f64, secs / n))
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> anyhow::Result<()> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let config = Config::parse(CAMERA, &root.join("fire_focus.toml"))?;
    let runtime = Runtime::load(&config.runtime)?;
    let manifest = Manifest::load(&shaobing_detect::manifest_path(config.models.manifest.as_deref()))?;
    let models = Models::load(&runtime, &manifest, &config.cameras, 1)?;
    let vtest = Path::new("/usr/share/doc/opencv-doc/examples/data/vtest.avi");
    // 3 frames a second of the first 20 s.
    let street: Vec<Frame> = shaobing_camera::decode_file_frames(vtest, |i| i % 3 == 0, 200)?;
    for height in HEIGHTS {
        let mut clips = Vec::new();
        for name in ["candle_night_street", "flame_at_building", "flame_on_street"] {
            clips.push(composed(&root.join(format!("tests/media/fire/positive/{name}.jpg")), &street, height)?);
        }
        println!(
            "{} flame photos {:.0}% of the picture high in vtest's street, {} frames each, fire-yolov8-light:",
            clips.len(),
            height * 100.0,
            street.len() - SETTLE
        );
        let mut rows = Vec::new();
        for crop in [false, true] {
            rows.push((crop, measure(&config, &models, crop, &clips).await?));
        }
        let (_, (base_frames, _, base_secs)) = rows[0];
        for (crop, (frames, score, secs)) in &rows {
            println!(
                "  {:<24} flame found in {:>3.0}% of frames (whole frame {:.0}%), mean score {score:.2}, {:.1} ms/frame (x{:.2})",
                if *crop { "fire window, alternating" } else { "whole frame" },
                frames * 100.0,
                base_frames * 100.0,
                secs * 1000.0,
                secs / base_secs.max(1e-9)
            );
        }
    }
    Ok(())
}
