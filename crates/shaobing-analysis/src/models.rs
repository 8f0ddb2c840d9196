//! The models the cameras use, loaded once and shared.

use crate::camera::CameraConfig;
use anyhow::Context;
use shaobing_detect::{DetectError, Detector, InferencePool, Manifest, Runtime};
use std::collections::BTreeMap;

/// A model a camera names that cannot be loaded: which camera (its index in `cameras`), which
/// model, and why.
#[derive(Debug, thiserror::Error)]
#[error("cannot load model `{model}` for camera `{camera_id}`: {source}")]
pub struct ModelLoadError {
    pub camera: usize,
    pub camera_id: String,
    pub model: String,
    #[source]
    pub source: Box<DetectError>,
}

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
    ) -> Result<Self, ModelLoadError> {
        let mut pools = BTreeMap::new();
        for (i, camera) in cameras.iter().enumerate() {
            for model in &camera.models {
                if pools.contains_key(model) {
                    continue;
                }
                let error = |source: DetectError| ModelLoadError {
                    camera: i,
                    camera_id: camera.id.clone(),
                    model: model.clone(),
                    source: Box::new(source),
                };
                let sessions = (0..workers.max(1))
                    .map(|_| Detector::load(runtime, manifest, model))
                    .collect::<Result<Vec<_>, _>>()
                    .map_err(error)?;
                pools.insert(model.clone(), InferencePool::start(sessions).map_err(error)?);
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
