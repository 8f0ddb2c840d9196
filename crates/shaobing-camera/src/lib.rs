//! Camera sources: one GStreamer pipeline per camera, decoding to RGB frames through an
//! appsink, with frames not due for analysis dropped before colour conversion and scaling. In
//! key-frame mode a camera's pipeline stops at compressed key frames (an `rtsp://` camera
//! needs no pipeline: retina receives it), and a few decoders shared by all cameras decode
//! them.
//!
//! The hand-off to analysis is a single-frame slot (latest frame wins): a slow detector makes
//! the camera drop frames, counted, and never builds an unbounded queue.
//!
//! Modules depend one way, data first: `spec`, `reason` and `slot` are plain data;
//! `gst_util`, `picker` and `run` (the [`run::Receiver`] trait) build on them; `keyframes`,
//! `probes` and `pipeline` make pipelines; `gst_receiver` and `native_rtsp` are the two
//! receivers; `supervisor` drives either.

pub mod alloc;
mod clip;
mod clips;
mod clock;
mod config;
mod decode_queue;
mod gst_receiver;
mod gst_util;
mod keyframes;
mod native_rtsp;
mod picker;
mod pipeline;
mod probes;
mod reason;
mod run;
mod slot;
mod spec;
mod supervisor;

pub use clip::{FileFrames, decode_file_frames};
pub use clips::{Clip, ClipBudget, ClipError, ClipInfo, ClipRecorder, ClipsConfig, MuxError, inspect as inspect_clip};
pub use config::{AnalysisMode, OnEos, RtspClient, SourceConfig, SourceConfigError, Transport};
pub use gst_util::PipelineError;
pub use run::live_pipelines;
pub use slot::FrameSlot;
pub use spec::{CameraSpec, RetryPolicy};
pub use supervisor::{CameraExit, RestartBudget, run_camera};

use std::sync::Once;

/// Initialises GStreamer once per process.
pub fn init_gstreamer() -> Result<(), gstreamer::glib::Error> {
    static INIT: Once = Once::new();
    let mut result = Ok(());
    INIT.call_once(|| result = gstreamer::init());
    result
}
