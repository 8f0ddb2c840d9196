//! A clip file read back by demuxing it, without decoding: what the tests check a clip by.

use super::MuxError;
use gstreamer as gst;
use gstreamer::prelude::*;
use gstreamer_app as gst_app;
use std::path::Path;

/// What an MP4 clip holds.
#[derive(Debug, Clone, PartialEq)]
pub struct ClipInfo {
    /// `video/x-h264` or `video/x-h265`.
    pub codec: String,
    pub frames: usize,
    /// Whether its first frame is a key frame (a clip that starts elsewhere shows garbage).
    pub starts_at_key_frame: bool,
    pub key_frames: usize,
    /// From the first frame shown to the end of the last.
    pub secs: f64,
}

/// Demuxes `path` to its end.
pub fn inspect(path: &Path) -> Result<ClipInfo, MuxError> {
    crate::init_gstreamer().map_err(|e| MuxError::Pipeline(e.to_string()))?;
    let location = path
        .to_str()
        .filter(|s| !s.contains(['"', '\\']))
        .ok_or(MuxError::Pipeline(format!("{}: not a path a pipeline can name", path.display())))?;
    let description = format!("filesrc location=\"{location}\" ! qtdemux ! appsink name=sink sync=false");
    let pipeline = gst::parse::launch(&description).map_err(|e| MuxError::Pipeline(e.to_string()))?;
    let pipeline = pipeline.downcast::<gst::Pipeline>().map_err(|_| MuxError::Pipeline("not a pipeline".into()))?;
    let sink = pipeline
        .by_name("sink")
        .and_then(|e| e.downcast::<gst_app::AppSink>().ok())
        .ok_or(MuxError::Pipeline("no appsink".into()))?;
    let result = read(&pipeline, &sink);
    let _ = pipeline.set_state(gst::State::Null);
    result
}

fn read(pipeline: &gst::Pipeline, sink: &gst_app::AppSink) -> Result<ClipInfo, MuxError> {
    pipeline.set_state(gst::State::Playing).map_err(|e| MuxError::Failed(e.to_string()))?;
    let (mut codec, mut pts, mut keys, mut first_key) = (String::new(), Vec::new(), 0, None);
    while let Some(sample) = sink.try_pull_sample(gst::ClockTime::from_seconds(10)) {
        if codec.is_empty() {
            codec = sample.caps().and_then(|c| c.structure(0)).map(|s| s.name().to_string()).unwrap_or_default();
        }
        let Some(buffer) = sample.buffer() else { continue };
        let key = !buffer.flags().contains(gst::BufferFlags::DELTA_UNIT);
        first_key.get_or_insert(key);
        keys += usize::from(key);
        pts.extend(buffer.pts().map(gst::ClockTime::nseconds));
    }
    if let Some(error) = super::mux::bus_error(pipeline) {
        return Err(MuxError::Failed(error));
    }
    let (lo, hi) = (pts.iter().min().copied().unwrap_or(0), pts.iter().max().copied().unwrap_or(0));
    let frame = if pts.len() > 1 { (hi - lo) / (pts.len() as u64 - 1) } else { 0 };
    Ok(ClipInfo {
        codec,
        frames: pts.len(),
        starts_at_key_frame: first_key.unwrap_or(false),
        key_frames: keys,
        secs: (hi - lo + frame) as f64 / 1e9,
    })
}
