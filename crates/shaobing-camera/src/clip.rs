//! Decoding a video file frame by frame, for `shaobing detect`, the evaluation, tests and
//! benchmarks.

use crate::clock::StreamClock;
use crate::gst_util::{PipelineError, frame_from_sample};
use gstreamer as gst;
use gstreamer::prelude::*;
use gstreamer_app as gst_app;
use shaobing_core::{CameraId, Frame, UnixMillis};
use std::path::Path;

/// The frames of a video file in order, decoded as they are asked for (a long clip never sits
/// in memory), each stamped with its presentation time from an anchor at the start.
pub struct FileFrames {
    pipeline: gst::Pipeline,
    sink: gst_app::AppSink,
    camera: CameraId,
    clock: StreamClock,
    index: u64,
}

impl std::fmt::Debug for FileFrames {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FileFrames").field("camera", &self.camera).field("index", &self.index).finish_non_exhaustive()
    }
}

impl FileFrames {
    /// Opens `path`; the frames' capture times start at `start`.
    pub fn open(path: &Path, start: UnixMillis) -> Result<Self, PipelineError> {
        crate::init_gstreamer().map_err(|e| PipelineError::Start(e.to_string()))?;
        let uri = gst::glib::filename_to_uri(path.canonicalize().unwrap_or_else(|_| path.to_path_buf()), None)
            .map_err(|e| PipelineError::Start(format!("{}: {e}", path.display())))?;
        let pipeline = gst::parse::launch(&format!(
            "uridecodebin uri=\"{uri}\" ! videoconvert ! video/x-raw,format=RGB ! appsink name=sink sync=false max-buffers=4"
        ))
        .map_err(|e| PipelineError::Assemble(e.to_string()))?;
        let pipeline =
            pipeline.downcast::<gst::Pipeline>().map_err(|_| PipelineError::Assemble("not a pipeline".into()))?;
        let sink = pipeline
            .by_name("sink")
            .and_then(|e| e.downcast::<gst_app::AppSink>().ok())
            .ok_or_else(|| PipelineError::Assemble("no appsink".into()))?;
        pipeline
            .set_state(gst::State::Playing)
            .map_err(|e| PipelineError::Start(format!("{}: {e}", path.display())))?;
        let camera = CameraId(path.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default());
        let clock = StreamClock::starting_at(start);
        Ok(Self { pipeline, sink, camera, clock, index: 0 })
    }
}

impl FileFrames {
    /// The clip's length, once the decoder knows it.
    pub fn duration(&self) -> Option<std::time::Duration> {
        self.pipeline.query_duration::<gst::ClockTime>().map(|d| std::time::Duration::from_nanos(d.nseconds()))
    }
}

impl Iterator for FileFrames {
    type Item = Frame;

    fn next(&mut self) -> Option<Frame> {
        loop {
            let sample = self.sink.pull_sample().ok()?;
            let captured_at = self.clock.stamp(sample.buffer().and_then(|b| b.pts()));
            let index = self.index;
            self.index += 1;
            if let Some(frame) = frame_from_sample(&sample, &self.camera, index, captured_at) {
                return Some(frame);
            }
        }
    }
}

impl Drop for FileFrames {
    fn drop(&mut self) {
        let _ = self.pipeline.set_state(gst::State::Null);
    }
}

/// Decodes `path` from the start and returns the frames whose 0-based index `wanted`
/// accepts, stopping after `last` (inclusive) or at the end of the file.
pub fn decode_file_frames(path: &Path, wanted: impl Fn(u64) -> bool, last: u64) -> Result<Vec<Frame>, PipelineError> {
    let mut frames = FileFrames::open(path, UnixMillis::now())?.take_while(|f| f.seq <= last).peekable();
    if frames.peek().is_none() {
        return Err(PipelineError::Start(format!("{}: no frame could be decoded", path.display())));
    }
    Ok(frames.filter(|f| wanted(f.seq)).collect())
}
