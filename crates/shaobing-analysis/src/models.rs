//! The models the cameras use, loaded once and shared.

use crate::camera::CameraConfig;
use anyhow::Context;
use shaobing_detect::{Detector, InferencePool, Manifest, Runtime};
use std::collections::BTreeMap;

/// One inference pool per model in use, with `workers` sessions each, shared by every camera
/// that names the model.
#[derive(Debug, Default)]
pub struct Models(BTreeMap<String, InferencePool>);

impl Models {
    /// Loads every model the cameras name (refusing one whose checksum differs).
    pub fn load(
        runtime: &Runtime,
        manifest: &Manifest,
        cameras: &[CameraConfig],
        workers: usize,
    ) -> anyhow::Result<Self> {
        let mut pools = BTreeMap::new();
        for camera in cameras {
            for model in &camera.models {
                if pools.contains_key(model) {
                    continue;
                }
                let sessions = (0..workers.max(1))
                    .map(|_| Detector::load(runtime, manifest, model))
                    .collect::<Result<Vec<_>, _>>()
                    .with_context(|| format!("cannot load model `{model}` for camera `{}`", camera.id))?;
                pools.insert(model.clone(), InferencePool::start(sessions)?);
            }
        }
        Ok(Self(pools))
    }

    /// The camera's models, in the order it names them.
    pub fn for_camera(&self, camera: &CameraConfig) -> anyhow::Result<Vec<InferencePool>> {
        let pool = |m: &String| self.0.get(m).cloned().with_context(|| format!("model `{m}` was not loaded"));
        camera.models.iter().map(pool).collect()
    }
}
