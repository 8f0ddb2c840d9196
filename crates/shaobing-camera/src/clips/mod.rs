//! Clips around issues without decoding.
//!
//! A camera already receives every compressed frame and analyses a few. Each camera's
//! [`ClipRecorder`] keeps its last `pre_secs` of compressed video as received, in whole GOPs
//! (a clip must start at a key frame to play), and when an issue is filed, gathers the frames
//! from the GOP that holds the moment `pre_secs` before it until the first key frame
//! `post_secs` after it, then remuxes them into an MP4 (`mux`): no decode, no re-encode.
//! Emergencies are muxed before routine issues.
//!
//! The pre-roll of every camera together stays within `clips.memory_bytes`: a camera that
//! would pass it drops its own oldest GOP first (counted), so a box with many cameras keeps
//! shorter pre-rolls rather than growing.

mod inspect;
mod mux;
mod ring;

pub use inspect::{ClipInfo, inspect};
pub use mux::MuxError;
pub use ring::{ClipBudget, ClipRecorder};

use serde::Deserialize;

/// `[clips]`: a clip of compressed video around every camera issue.
#[derive(Debug, Clone, PartialEq, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ClipsConfig {
    /// Record a clip around each new camera issue and attach it as evidence.
    #[serde(default = "default_enabled")]
    pub enabled: bool,
    /// Seconds of video before the moment (its snapshot); the clip starts at the key
    /// frame at or before it, so it may begin up to a GOP earlier.
    #[serde(default = "default_secs")]
    pub pre_secs: f64,
    /// Seconds of video after the moment; the clip ends at the next key frame.
    #[serde(default = "default_secs")]
    pub post_secs: f64,
    /// Bytes of compressed pre-roll all cameras together may hold; past it, each camera sheds
    /// its oldest GOP first (`shaobing_clip_preroll_shed_total`). About 6 MiB per 1080p
    /// camera at 4 Mbit/s with the defaults.
    #[serde(default = "default_memory_bytes")]
    pub memory_bytes: u64,
}

fn default_enabled() -> bool {
    true
}

fn default_secs() -> f64 {
    10.0
}

fn default_memory_bytes() -> u64 {
    512 << 20
}

impl Default for ClipsConfig {
    fn default() -> Self {
        Self {
            enabled: default_enabled(),
            pre_secs: default_secs(),
            post_secs: default_secs(),
            memory_bytes: default_memory_bytes(),
        }
    }
}

impl ClipsConfig {
    /// Checks the section; the error names the key under `clips`.
    pub fn validate(&self) -> Result<(), crate::SourceConfigError> {
        for (key, secs) in [("clips.pre_secs", self.pre_secs), ("clips.post_secs", self.post_secs)] {
            if !(secs.is_finite() && (0.0..=120.0).contains(&secs)) {
                return Err(crate::SourceConfigError {
                    key: key.into(),
                    message: format!("expected 0 to 120 seconds, got {secs}"),
                });
            }
        }
        if self.enabled && self.memory_bytes < 1 << 20 {
            return Err(crate::SourceConfigError {
                key: "clips.memory_bytes".into(),
                message: format!("expected at least 1 MiB (1048576), got {}", self.memory_bytes),
            });
        }
        Ok(())
    }
}

/// A clip ready to keep: an MP4 and the span it covers on the camera's clock.
#[derive(Debug, Clone)]
pub struct Clip {
    pub mp4: Vec<u8>,
    /// The capture time of its first frame and its length.
    pub starts_at: shaobing_core::UnixMillis,
    pub secs: f64,
    pub frames: usize,
}

/// Why no clip could be made.
#[derive(Debug, thiserror::Error)]
pub enum ClipError {
    /// The camera had no pre-roll at the moment: not streaming yet, restarted, or not an
    /// H.264/H.265 stream.
    #[error("no video held for the moment asked for")]
    NoVideo,
    #[error(transparent)]
    Mux(#[from] MuxError),
}
