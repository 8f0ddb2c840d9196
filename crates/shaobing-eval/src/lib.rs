//! `shaobing eval`: the whole analysis of each camera (motion gate, detectors, OpenCV fire
//! detector, scene watch, rules, evidence) over a set of clips with the issues a person
//! expects in them, as fast as the CPU allows on the clips' own time, scored per category.
//!
//! The clips come from registry media: Debian's vtest.avi street, the hazard tests' photos
//! with a flame composed into them, each played as a loaded box (dropped frames), cut against
//! another scene, panned like a PTZ camera, or exposed as at night. See `eval/street.toml`.

mod footage;
mod score;
mod set;

pub use footage::{EPOCH, Footage, Schedule};
pub use score::{Figures, Filed, Report};
pub use set::{ClipSpec, Drops, EvalSet, Expected, Exposure, Placement, SetError};

use anyhow::Context;
use shaobing_analysis::{Analyser, Models};
use shaobing_config::Config;
use shaobing_core::Finding;
use shaobing_detect::{Manifest, Runtime};
use shaobing_metrics::Metrics;
use std::path::Path;
use std::time::Instant;

/// Loads the set at `path` and its configuration, runs every clip, and scores them.
pub async fn evaluate(path: &Path) -> anyhow::Result<Report> {
    let set = EvalSet::load(path)?;
    let config = Config::load(&set.config)
        .with_context(|| format!("the evaluation set's configuration {}", set.config.display()))?;
    let runtime = Runtime::load(&config.runtime)?;
    let manifest = Manifest::load(&shaobing_detect::manifest_path(config.models.manifest.as_deref()))?;
    let models = Models::load(&runtime, &manifest, &config.cameras, config.runtime.inference_workers)?;
    let started = Instant::now();
    let mut report = Report::default();
    for clip in &set.clips {
        let played = play(&config, &models, clip).await.with_context(|| format!("clip {}", clip.name))?;
        report.add_clip(&clip.expect, &played.filed, played.secs);
        report.frames += played.frames;
        report.scene_breaks.0 += played.cuts;
        report.scene_breaks.1 += played.gaps;
    }
    report.wall_secs = started.elapsed().as_secs_f64();
    Ok(report)
}

/// What playing one clip gave.
struct Played {
    filed: Vec<Filed>,
    secs: f64,
    frames: u64,
    cuts: u64,
    gaps: u64,
}

/// Plays one clip through a fresh analysis of its camera.
async fn play(config: &Config, models: &Models, clip: &ClipSpec) -> anyhow::Result<Played> {
    let camera = config
        .cameras
        .iter()
        .find(|c| c.id == clip.camera)
        .with_context(|| format!("no camera `{}` in the configuration", clip.camera))?;
    let footage = Footage::load(clip, camera.source.analysis_fps, camera.source.key_frame_burst as usize)?;
    let metrics = Metrics::new();
    let mut analyser = Analyser::new(&config.analysis_setup(), camera, models.for_camera(camera)?, &metrics)?;
    let (mut filed, mut frames) = (Vec::new(), 0);
    for (at_secs, frame) in footage.frames() {
        frames += 1;
        for finding in analyser.process(&frame).await? {
            if let Finding::Opened { issue, .. } = finding {
                filed.push(Filed {
                    clip: clip.name.clone(),
                    category: issue.category,
                    zone: issue.location.zone.clone(),
                    at_secs,
                    dedup_key: issue.dedup_key.clone(),
                });
            }
        }
    }
    let m = metrics.camera(&camera.id);
    Ok(Played { filed, secs: footage.secs(), frames, cuts: m.scene_cuts.get(), gaps: m.scene_gaps.get() })
}
