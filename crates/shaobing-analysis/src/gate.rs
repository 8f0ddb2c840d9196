//! When to run inference: on motion, and at least every `recheck_secs` for what stands still.

use crate::camera::MotionGateSettings;
use shaobing_core::{Frame, Polygon, UnixMillis};
use shaobing_vision::{MotionGate, MotionGateConfig, VisionError};
use std::time::Duration;

pub(crate) struct InferenceGate {
    motion: MotionGate,
    min_moving: f32,
    recheck: Duration,
    last_inference: Option<UnixMillis>,
}

impl InferenceGate {
    pub(crate) fn new(
        settings: &MotionGateSettings,
        masks: Vec<Polygon>,
        focus: Vec<Polygon>,
    ) -> Result<Self, VisionError> {
        Ok(Self {
            motion: MotionGate::new(MotionGateConfig::default(), masks, focus)?,
            min_moving: settings.min_moving,
            recheck: Duration::from_secs_f64(settings.recheck_secs),
            last_inference: None,
        })
    }

    /// Learns the frame and says whether the detectors must look at it. Every frame feeds the
    /// background model, skipped or not, so it keeps up with slow light changes.
    pub(crate) fn should_infer(&mut self, frame: &Frame) -> Result<bool, VisionError> {
        let moving = self.motion.moving_fraction(frame)?;
        let now = frame.captured_at;
        let due = self.last_inference.is_none_or(|t| now.since(t) >= self.recheck);
        let infer = due || moving >= self.min_moving;
        if infer {
            self.last_inference = Some(now);
        }
        Ok(infer)
    }
}
