//! Decoding chosen frames of a video file, for `shaobing detect`, tests and benchmarks.

use crate::clock::StreamClock;
use crate::gst_util::{PipelineError, frame_from_sample};
use gstreamer as gst;
use gstreamer::prelude::*;
use gstreamer_app as gst_app;
use shaobing_core::{CameraId, Frame, UnixMillis};
use std::path::Path;

/// Decodes `path` from the start and returns the frames whose 0-based index `wanted`
/// accepts, stopping after `last` (inclusive) or at the end of the file.
pub fn decode_file_frames(path: &Path, wanted: impl Fn(u64) -> bool, last: u64) -> Result<Vec<Frame>, PipelineError> {
    crate::init_gstreamer().map_err(|e| PipelineError::Start(e.to_string()))?;
    let uri = gst::glib::filename_to_uri(path.canonicalize().unwrap_or_else(|_| path.to_path_buf()), None)
        .map_err(|e| PipelineError::Start(format!("{}: {e}", path.display())))?;
    let pipeline = gst::parse::launch(&format!(
        "uridecodebin uri=\"{uri}\" ! videoconvert ! video/x-raw,format=RGB ! appsink name=sink sync=false"
    ))
    .map_err(|e| PipelineError::Assemble(e.to_string()))?;
    let pipeline =
        pipeline.downcast::<gst::Pipeline>().map_err(|_| PipelineError::Assemble("not a pipeline".into()))?;
    let sink = pipeline
        .by_name("sink")
        .and_then(|e| e.downcast::<gst_app::AppSink>().ok())
        .ok_or_else(|| PipelineError::Assemble("no appsink".into()))?;
    pipeline.set_state(gst::State::Playing).map_err(|e| PipelineError::Start(format!("{}: {e}", path.display())))?;
    let camera = CameraId(path.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default());
    let mut frames = Vec::new();
    let mut index = 0u64;
    let mut clock = StreamClock::new(false, UnixMillis::now());
    while index <= last {
        let Ok(sample) = sink.pull_sample() else { break };
        if wanted(index)
            && let Some(frame) =
                frame_from_sample(&sample, &camera, index, clock.stamp(sample.buffer().and_then(|b| b.pts())))
        {
            frames.push(frame);
        }
        index += 1;
    }
    let _ = pipeline.set_state(gst::State::Null);
    if index == 0 {
        return Err(PipelineError::Start(format!("{}: no frame could be decoded", path.display())));
    }
    Ok(frames)
}
