//! Per-camera analysis: frames from the camera's slot -> motion gate -> detectors -> rules ->
//! [`Finding`](shaobing_core::Finding)s, with evidence drawn when an issue opens and when the
//! camera sees it gone. Also owns the `[[cameras]]` entries of the configuration: what a
//! camera is, where it stands and what is watched in it.

mod analyser;
mod camera;
mod evidence;
mod gate;
mod models;
mod sight;
mod silence;
mod view;

pub use analyser::{Analyser, Setup, followed};
pub use camera::{CameraConfig, CameraConfigError, MotionGateSettings, ZoneConfig, ZoneKind};
pub use models::{ModelLoadError, Models};

#[cfg(test)]
mod tests;
