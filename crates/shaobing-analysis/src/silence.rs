//! A camera that analyses nothing is a problem of its own: 设备故障, filed like any other.
//!
//! Judged on the wall clock, not stream time: a camera that decodes nothing has no stream
//! time. Whatever the cause (unreachable, refusing its password, a decoder failing on every
//! key frame, a stream stalled without closing), the command centre is blind there, so the
//! issue is about the place being unwatched; the camera's metrics say why.

use crate::camera::CameraConfig;
use crate::evidence;
use shaobing_core::{CandidateIssue, Category, Cause, DiscoveryChannel, Finding, Responsibility, UnixMillis};
use std::time::{Duration, Instant};

pub(crate) struct Silence {
    after: Option<Duration>,
    last_frame: Instant,
    raised: bool,
}

impl Silence {
    pub(crate) fn new(camera: &CameraConfig, now: Instant) -> Self {
        let after = (camera.silent_after_secs > 0.0).then(|| Duration::from_secs_f64(camera.silent_after_secs));
        Self { after, last_frame: now, raised: false }
    }

    /// A frame arrived: clears a raised issue.
    pub(crate) fn heard(&mut self, camera: &CameraConfig, now: Instant) -> Option<Finding> {
        let silent = now.duration_since(self.last_frame);
        self.last_frame = now;
        if !std::mem::take(&mut self.raised) {
            return None;
        }
        Some(Finding::Cleared {
            dedup_key: key(camera),
            actor: format!("camera:{}", camera.id),
            note: format!("cleared: frames analysed again after {} s", silent.as_secs()),
            after: None,
        })
    }

    /// No frame yet: opens the issue once the camera has been silent long enough.
    pub(crate) fn quiet(
        &mut self,
        camera: &CameraConfig,
        responsibility: &Responsibility,
        now: Instant,
    ) -> Option<Finding> {
        let silent = now.duration_since(self.last_frame);
        if self.raised || self.after.is_none_or(|after| silent < after) {
            return None;
        }
        self.raised = true;
        let issue = CandidateIssue {
            dedup_key: key(camera),
            category: Category::DeviceMaintenance,
            location: evidence::location(camera, None, None),
            cause: Cause {
                summary: format!(
                    "{}: camera {} analysed no frame for {} s",
                    Category::DeviceMaintenance.name_zh(),
                    camera.id,
                    silent.as_secs()
                ),
                rule: "device_maintenance/camera_silent".into(),
                confidence: 1.0,
                detections: Vec::new(),
            },
            responsibility: responsibility.clone(),
            priority: Category::DeviceMaintenance.default_priority(),
            channel: DiscoveryChannel::CommandCentreVideo,
            observed_at: UnixMillis::now(),
        };
        Some(Finding::Opened { issue: Box::new(issue), evidence: None })
    }
}

fn key(camera: &CameraConfig) -> String {
    format!("{}/device/{}", camera.id, Category::DeviceMaintenance)
}
