//! Recall and cost of the detector on the rule zones' crop against the whole frame, in one run:
//! the street camera of `eval/cameras.toml` over vtest.avi (the van and the car at the kerb).
//!
//! `cargo run --release -p shaobing-eval --example zone_crop`
//!
//! For each frame, a hit is a vehicle detected with its foot in the zone at the rule's score
//! (0.3); the figures are hits per frame and their mean score, with the whole frame as the
//! baseline, and the analysis time per frame.

use anyhow::Context;
use shaobing_analysis::{Analyser, CameraConfig, Models};
use shaobing_config::Config;
use shaobing_core::{Detection, Frame, LiveView};
use shaobing_detect::{Manifest, Runtime};
use shaobing_metrics::Metrics;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Instant;

#[derive(Default)]
struct Seen(Mutex<Vec<Detection>>);

impl LiveView for Seen {
    fn publish(&self, _: &Frame, detections: &[Detection]) {
        *self.0.lock().unwrap_or_else(|p| p.into_inner()) = detections.to_vec();
    }
}

/// Hits per frame, mean hit score, and seconds per frame.
async fn measure(
    config: &Config,
    models: &Models,
    camera: &CameraConfig,
    frames: &[Frame],
    hit: impl Fn(&Detection) -> bool,
) -> anyhow::Result<(f64, f64, f64)> {
    let seen = Arc::new(Seen::default());
    let mut camera = camera.clone();
    camera.motion_gate.enabled = false;
    let mut analyser = Analyser::new(&config.analysis_setup(), &camera, models.for_camera(&camera)?, &Metrics::new())?
        .with_live(seen.clone());
    let (mut hits, mut score) = (0usize, 0.0f64);
    let started = Instant::now();
    for f in frames {
        analyser.process(f).await?;
        let found: Vec<Detection> =
            seen.0.lock().unwrap_or_else(|p| p.into_inner()).iter().filter(|d| hit(d)).cloned().collect();
        hits += found.len();
        score += found.iter().map(|d| f64::from(d.score)).sum::<f64>();
    }
    let n = frames.len().max(1) as f64;
    Ok((hits as f64 / n, score / hits.max(1) as f64, started.elapsed().as_secs_f64() / n))
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> anyhow::Result<()> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let config = Config::load(&root.join("eval/cameras.toml"))?;
    let runtime = Runtime::load(&config.runtime)?;
    let manifest = Manifest::load(&shaobing_detect::manifest_path(config.models.manifest.as_deref()))?;
    let models = Models::load(&runtime, &manifest, &config.cameras, 1)?;
    let street = config.cameras.iter().find(|c| c.id == "street").context("no street camera")?;
    let zone = street.zones.first().context("the street camera has no zone")?.polygon.clone();
    let vtest = Path::new(shaobing_vision_clip());
    let frames: Vec<Frame> = shaobing_camera::decode_file_frames(vtest, |i| i % 10 == 0, u64::MAX)?;
    let in_zone = |d: &Detection| {
        d.score >= 0.3 && zone.contains(d.bbox.bottom_centre()) && matches!(d.label.as_str(), "car" | "truck" | "bus")
    };
    println!("vtest.avi, {} frames (1 a second), kerb zone, vehicles with score >= 0.3:", frames.len());
    let mut rows = Vec::new();
    for crop in [false, true] {
        let mut camera = street.clone();
        camera.crop_to_zones = crop;
        rows.push((crop, measure(&config, &models, &camera, &frames, in_zone).await?));
    }
    let (_, (base_hits, base_score, base_secs)) = rows[0];
    for (crop, (hits, score, secs)) in &rows {
        println!(
            "  {:<11} {hits:.2} vehicles/frame (x{:.2}), mean score {score:.2} (x{:.2}), {:.1} ms/frame (x{:.2})",
            if *crop { "zone crop" } else { "whole frame" },
            hits / base_hits.max(1e-9),
            score / base_score.max(1e-9),
            secs * 1000.0,
            secs / base_secs.max(1e-9)
        );
    }
    Ok(())
}

fn shaobing_vision_clip() -> &'static str {
    "/usr/share/doc/opencv-doc/examples/data/vtest.avi"
}
