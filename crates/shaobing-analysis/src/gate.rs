//! When to run inference: on motion, and at least every `recheck_secs` for what stands still.

use crate::camera::MotionGateSettings;
use shaobing_core::{Frame, Polygon, UnixMillis};
use shaobing_vision::{MotionGate, MotionGateConfig, VisionError};
use std::time::Duration;

pub(crate) struct InferenceGate {
    motion: MotionGate,
    min_moving: f32,
    recheck: Duration,
    /// The shortest interval between two inferences, when capped.
    min_interval: Option<Duration>,
    last_inference: Option<UnixMillis>,
}

impl InferenceGate {
    pub(crate) fn new(
        settings: &MotionGateSettings,
        masks: Vec<Polygon>,
        focus: Vec<Polygon>,
        capped: bool,
    ) -> Result<Self, VisionError> {
        let fps = settings.max_inference_fps;
        let min_interval = (capped && fps > 0.0).then(|| Duration::from_secs_f64(1.0 / fps));
        Ok(Self {
            motion: MotionGate::new(MotionGateConfig::default(), masks, focus)?,
            min_moving: settings.min_moving,
            recheck: Duration::from_secs_f64(settings.recheck_secs),
            min_interval,
            last_inference: None,
        })
    }

    /// After a scene break: the next frame is inferred whatever moved.
    pub(crate) fn restart(&mut self) {
        self.last_inference = None;
    }

    /// Learns the frame and says whether the detectors must look at it. Every frame feeds the
    /// background model, skipped or not, so it keeps up with slow light changes.
    pub(crate) fn should_infer(&mut self, frame: &Frame) -> Result<bool, VisionError> {
        let moving = self.motion.moving_fraction(frame)?;
        let now = frame.captured_at;
        let since = self.last_inference.map(|t| now.since(t));
        let due = since.is_none_or(|s| s >= self.recheck);
        let too_soon = since.zip(self.min_interval).is_some_and(|(s, min)| s < min);
        let infer = !too_soon && (due || moving >= self.min_moving);
        if infer {
            self.last_inference = Some(now);
        }
        Ok(infer)
    }
}
