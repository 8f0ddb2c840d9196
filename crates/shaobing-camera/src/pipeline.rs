use crate::FrameSlot;
use gstreamer as gst;
use gstreamer::prelude::*;
use gstreamer_app as gst_app;
use gstreamer_video as gst_video;
use shaobing_core::{CameraId, Frame, UnixMillis};
use shaobing_metrics::CameraMetrics;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// What a camera pipeline needs to know.
#[derive(Debug, Clone)]
pub struct CameraSpec {
    pub id: CameraId,
    pub uri: String,
    /// RTSP over TCP (`true`) or UDP.
    pub rtsp_tcp: bool,
    /// Frames analysed per second.
    pub analysis_fps: f64,
    /// Restart the pipeline at end of stream (a live camera) or stop (a finite clip).
    pub restart_on_eos: bool,
    /// No decoded frame for this long while playing means the stream is stalled.
    pub watchdog: Duration,
}

#[derive(Debug, thiserror::Error)]
pub enum PipelineError {
    #[error("GStreamer element `{0}` is missing; is the matching gstreamer1.0-plugins package installed?")]
    MissingElement(&'static str),
    #[error("cannot assemble the pipeline: {0}")]
    Assemble(String),
    #[error("the pipeline refused to start: {0}")]
    Start(String),
}

/// A built pipeline and the clock of its last decoded frame, for the watchdog.
#[derive(Debug)]
pub(crate) struct CameraPipeline {
    pub pipeline: gst::Pipeline,
    pub last_frame_ms: Arc<AtomicI64>,
}

fn element(factory: &'static str) -> Result<gst::Element, PipelineError> {
    gst::ElementFactory::make(factory).build().map_err(|_| PipelineError::MissingElement(factory))
}

/// `uridecodebin ! [due-frame gate] videoconvert ! RGB ! appsink`.
///
/// The gate is a pad probe in front of `videoconvert`: frames that are not due for analysis
/// are dropped there, so colour conversion is paid only for analysed frames.
pub(crate) fn build(
    spec: &CameraSpec,
    slot: Arc<FrameSlot>,
    metrics: CameraMetrics,
) -> Result<CameraPipeline, PipelineError> {
    let pipeline = gst::Pipeline::with_name(&format!("camera-{}", spec.id));
    let src = gst::ElementFactory::make("uridecodebin")
        .property("uri", spec.uri.as_str())
        .build()
        .map_err(|_| PipelineError::MissingElement("uridecodebin"))?;
    let convert = element("videoconvert")?;
    let caps = gst_video::VideoCapsBuilder::new().format(gst_video::VideoFormat::Rgb).build();
    let sink = gst_app::AppSink::builder().caps(&caps).max_buffers(1).drop(true).sync(false).build();
    pipeline.add_many([&src, &convert, sink.upcast_ref()]).map_err(|e| PipelineError::Assemble(e.to_string()))?;
    convert.link(&sink).map_err(|e| PipelineError::Assemble(e.to_string()))?;

    configure_source(&src, spec.rtsp_tcp);
    link_video_pad(&src, &convert);
    let last_frame_ms = Arc::new(AtomicI64::new(0));
    install_gate(&convert, spec.analysis_fps, metrics.clone(), last_frame_ms.clone())?;
    install_sink(&sink, spec.id.clone(), slot, metrics);
    Ok(CameraPipeline { pipeline, last_frame_ms })
}

/// RTSP sources get the configured transport and a bounded connect timeout.
fn configure_source(src: &gst::Element, tcp: bool) {
    src.connect("source-setup", false, move |values| {
        let source = values.get(1)?.get::<gst::Element>().ok()?;
        if source.has_property("protocols") {
            source.set_property_from_str("protocols", if tcp { "tcp" } else { "udp" });
        }
        if source.has_property("tcp-timeout") {
            // Microseconds: give up on a dead server after 5 s instead of the 20 s default.
            source.set_property("tcp-timeout", 5_000_000u64);
        }
        if source.has_property("latency") {
            source.set_property("latency", 200u32);
        }
        None
    });
}

/// Links the decoder's first video pad; audio and other pads are left unlinked (and
/// uridecodebin discards them).
fn link_video_pad(src: &gst::Element, convert: &gst::Element) {
    let convert = convert.downgrade();
    src.connect_pad_added(move |_, pad| {
        let Some(convert) = convert.upgrade() else { return };
        let is_video =
            pad.current_caps().and_then(|c| c.structure(0).map(|s| s.name().starts_with("video/"))).unwrap_or(false);
        let Some(sink_pad) = convert.static_pad("sink") else { return };
        if is_video
            && !sink_pad.is_linked()
            && let Err(e) = pad.link(&sink_pad)
        {
            tracing::warn!(error = ?e, "cannot link decoded video pad");
        }
    });
}

/// Counts every decoded frame and lets through only those due for analysis, judged by
/// presentation time so that the rate holds whether the source runs live or faster.
fn install_gate(
    convert: &gst::Element,
    fps: f64,
    metrics: CameraMetrics,
    last_frame_ms: Arc<AtomicI64>,
) -> Result<(), PipelineError> {
    let pad =
        convert.static_pad("sink").ok_or_else(|| PipelineError::Assemble("videoconvert has no sink pad".into()))?;
    let interval = gst::ClockTime::from_nseconds((1e9 / fps) as u64);
    let next_due: Mutex<Option<gst::ClockTime>> = Mutex::new(None);
    pad.add_probe(gst::PadProbeType::BUFFER, move |_, info| {
        metrics.frames_decoded.inc();
        last_frame_ms.store(UnixMillis::now().0, Ordering::Relaxed);
        let Some(pts) = info.buffer().and_then(|b| b.pts()) else { return gst::PadProbeReturn::Ok };
        let mut due = next_due.lock().unwrap_or_else(|p| p.into_inner());
        match *due {
            // A timestamp far behind the schedule means the stream restarted: resynchronise.
            // Taking the buffer and answering Handled drops it; answering Drop makes GStreamer
            // 1.22 unref a buffer the bindings already released (a CRITICAL per frame).
            Some(d) if pts < d && d.saturating_sub(pts) <= interval * 2 => {
                drop(info.data.take());
                gst::PadProbeReturn::Handled
            }
            _ => {
                *due = Some(pts + interval);
                gst::PadProbeReturn::Ok
            }
        }
    });
    Ok(())
}

/// Copies each converted frame out of GStreamer (dropping row padding) into the slot.
fn install_sink(sink: &gst_app::AppSink, camera: CameraId, slot: Arc<FrameSlot>, metrics: CameraMetrics) {
    let seq = AtomicU64::new(0);
    sink.set_callbacks(
        gst_app::AppSinkCallbacks::builder()
            .new_sample(move |sink| {
                let sample = sink.pull_sample().map_err(|_| gst::FlowError::Eos)?;
                let Some(frame) = frame_from_sample(&sample, &camera, seq.fetch_add(1, Ordering::Relaxed)) else {
                    tracing::warn!(camera = %camera, "dropping a frame without readable caps or buffer");
                    return Ok(gst::FlowSuccess::Ok);
                };
                if slot.put(frame) {
                    metrics.frames_dropped.inc();
                }
                Ok(gst::FlowSuccess::Ok)
            })
            .build(),
    );
}

pub(crate) fn frame_from_sample(sample: &gst::Sample, camera: &CameraId, seq: u64) -> Option<Frame> {
    let info = gst_video::VideoInfo::from_caps(sample.caps()?).ok()?;
    let map = sample.buffer()?.map_readable().ok()?;
    let (w, h) = (info.width(), info.height());
    let row = w as usize * 3;
    let stride = usize::try_from(*info.stride().first()?).ok()?;
    let mut rgb = Vec::with_capacity(row * h as usize);
    for y in 0..h as usize {
        rgb.extend_from_slice(map.get(y * stride..y * stride + row)?);
    }
    Some(Frame { camera: camera.clone(), seq, captured_at: UnixMillis::now(), width: w, height: h, rgb: rgb.into() })
}
