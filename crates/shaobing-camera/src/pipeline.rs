use crate::FrameSlot;
use crate::keyframes::{Destination, Reporter};
use gstreamer as gst;
use gstreamer::prelude::*;
use gstreamer_app as gst_app;
use gstreamer_video as gst_video;
use shaobing_core::{CameraId, Frame, Secret, UnixMillis};
use shaobing_metrics::CameraMetrics;
use std::collections::VecDeque;
use std::sync::atomic::{AtomicI64, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// What a camera pipeline needs to know.
#[derive(Debug, Clone)]
pub struct CameraSpec {
    pub id: CameraId,
    pub uri: String,
    /// User name and password for RTSP/HTTP authentication, kept out of the URI.
    pub credentials: Option<(String, Secret)>,
    /// RTSP over TCP (`true`) or UDP.
    pub rtsp_tcp: bool,
    /// Only key frames are decoded, by the decoders all cameras share.
    pub keyframes_only: bool,
    /// In key-frame mode, an `rtsp://` camera is received by retina rather than rtspsrc.
    pub native_rtsp: bool,
    /// Frames analysed per second, at most.
    pub analysis_fps: f64,
    /// Width of analysed frames; the stream's when `None`.
    pub analysis_width: Option<u32>,
    /// Threads of the camera's own video decoder (every-frame mode); 0 lets it choose (one
    /// per core, more memory).
    pub decoder_threads: u32,
    /// Restart the pipeline at end of stream (a live camera) or stop (a finite clip).
    pub restart_on_eos: bool,
    /// No decoded frame for this long while playing means the stream is stalled.
    pub watchdog: Duration,
    pub retry: RetryPolicy,
}

/// How a camera reconnects after failures.
#[derive(Debug, Clone, Copy)]
pub struct RetryPolicy {
    pub initial: Duration,
    pub max: Duration,
    /// Restarts allowed within `window` before every retry waits `max`.
    pub budget: u32,
    pub window: Duration,
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

static LIVE_PIPELINES: AtomicUsize = AtomicUsize::new(0);

/// Camera pipelines built and not yet torn down, process-wide, a native RTSP session counting
/// as one: a leak shows up here.
pub fn live_pipelines() -> usize {
    LIVE_PIPELINES.load(Ordering::SeqCst)
}

/// One live camera run in [`live_pipelines`], for as long as it is held.
#[derive(Debug)]
pub(crate) struct LiveGuard(());

impl LiveGuard {
    pub fn new() -> Self {
        LIVE_PIPELINES.fetch_add(1, Ordering::SeqCst);
        Self(())
    }
}

impl Drop for LiveGuard {
    fn drop(&mut self) {
        LIVE_PIPELINES.fetch_sub(1, Ordering::SeqCst);
    }
}

/// A built pipeline and the clock of its last decoded frame, for the watchdog. Dropping it
/// stops the pipeline, which may block on the network: drop it off the async runtime.
#[derive(Debug)]
pub(crate) struct CameraPipeline {
    pub pipeline: gst::Pipeline,
    pub last_frame_ms: Arc<AtomicI64>,
    _live: LiveGuard,
}

impl Drop for CameraPipeline {
    fn drop(&mut self) {
        let _ = self.pipeline.set_state(gst::State::Null);
    }
}

/// One pass that scales and converts (GStreamer 1.22's videoconvertscale): one buffer pool
/// and one walk over the picture fewer than `videoscale ! videoconvert`. Without chroma
/// filtering (`chroma-mode = none`): at half size a 4:2:0 picture's chroma already has the
/// output's resolution, and the detectors judge shapes; 4.3 instead of 6.8 ms of CPU per
/// 1080p frame scaled to 960 wide.
pub(crate) fn scaler() -> Result<gst::Element, PipelineError> {
    let scale = element("videoconvertscale")?;
    scale.set_property_from_str("chroma-mode", "none");
    Ok(scale)
}

fn element(factory: &'static str) -> Result<gst::Element, PipelineError> {
    gst::ElementFactory::make(factory).build().map_err(|_| PipelineError::MissingElement(factory))
}

fn assemble(e: impl std::fmt::Display) -> PipelineError {
    PipelineError::Assemble(e.to_string())
}

/// The source stops at compressed video (or raw, for raw sources) so that frames can be
/// chosen before they cost a decode; audio is decoded to raw and discarded.
const SOURCE_CAPS: &str = "video/x-h264; video/x-h265; video/x-raw(ANY); audio/x-raw(ANY)";

/// Every frame: `uridecodebin(compressed) -[received]-> decodebin -[decoded, due-frame gate]->
/// videoconvertscale -> RGB appsink`. Key frames: `uridecodebin(compressed) -[received, due key
/// frames only]-> parser -> compressed appsink`, and the shared decoders of [`crate::keyframes`]
/// decode what reaches the appsink.
///
/// Frames that will not be analysed are dropped as early as they can be: delta frames before
/// any decoder in key-frame mode, frames not due before scaling and colour conversion.
pub(crate) fn build(
    spec: &CameraSpec,
    slot: Arc<FrameSlot>,
    metrics: CameraMetrics,
) -> Result<CameraPipeline, PipelineError> {
    let pipeline = gst::Pipeline::with_name(&format!("camera-{}", spec.id));
    let built = CameraPipeline {
        pipeline: pipeline.clone(),
        last_frame_ms: Arc::new(AtomicI64::new(0)),
        _live: LiveGuard::new(),
    };
    let src = gst::ElementFactory::make("uridecodebin")
        .property("uri", spec.uri.as_str())
        .property("caps", gst::Caps::from_str_or_any(SOURCE_CAPS))
        .build()
        .map_err(|_| PipelineError::MissingElement("uridecodebin"))?;
    pipeline.add(&src).map_err(assemble)?;
    configure_source(&src, spec);
    let gate = Arc::new(Mutex::new(Gate::new(spec.analysis_fps)));
    let parts = Parts { spec, src: &src, built: &built, gate, slot, metrics };
    if spec.keyframes_only {
        build_keyframes(parts)?
    } else {
        build_every_frame(parts)?
    }
    Ok(built)
}

/// What either kind of camera pipeline is built from.
struct Parts<'a> {
    spec: &'a CameraSpec,
    src: &'a gst::Element,
    built: &'a CameraPipeline,
    gate: Arc<Mutex<Gate>>,
    slot: Arc<FrameSlot>,
    metrics: CameraMetrics,
}

fn build_every_frame(Parts { spec, src, built, gate, slot, metrics }: Parts<'_>) -> Result<(), PipelineError> {
    let pipeline = &built.pipeline;
    let decode = element("decodebin")?;
    let scale = scaler()?;
    let sink =
        gst_app::AppSink::builder().caps(&sink_caps(spec.analysis_width)).max_buffers(1).drop(true).sync(false).build();
    pipeline.add_many([&decode, &scale, sink.upcast_ref()]).map_err(assemble)?;
    gst::Element::link_many([&scale, sink.upcast_ref()]).map_err(assemble)?;
    configure_decoder(&decode, spec.decoder_threads);
    link_first_video(src, &decode, pipeline);
    link_first_video(&decode, &scale, pipeline);
    report_missing_video(src, &decode);
    let clock = Arc::new(DecodeClock::default());
    let intake = decode.static_pad("sink").ok_or_else(|| assemble("decodebin has no sink pad"))?;
    install_intake(&intake, None, Some(clock.clone()), metrics.clone());
    install_output(&scale, gate, clock, metrics.clone(), built.last_frame_ms.clone())?;
    install_sink(&sink, spec.id.clone(), slot, metrics);
    Ok(())
}

/// Compressed key frames, each carrying its parameter sets (`config-interval = -1`), so that a
/// decoder that last saw another camera can decode it alone.
const KEYFRAME_CAPS: &str = "video/x-h264, stream-format=byte-stream, alignment=au; \
     video/x-h265, stream-format=byte-stream, alignment=au; video/x-raw(ANY)";

fn build_keyframes(Parts { spec, src, built, gate, slot, metrics }: Parts<'_>) -> Result<(), PipelineError> {
    let caps = gst::Caps::from_str_or_any(KEYFRAME_CAPS);
    let sink = gst_app::AppSink::builder().caps(&caps).max_buffers(1).drop(true).sync(false).build();
    built.pipeline.add(&sink).map_err(assemble)?;
    let sink_element: gst::Element = sink.clone().upcast();
    let intake_metrics = metrics.clone();
    link_keyframes(src, &sink_element, &built.pipeline, move |pad| {
        install_intake(pad, Some(gate.clone()), None, intake_metrics.clone());
    });
    report_missing_video(src, &sink_element);
    let to_decoders = Arc::new(Destination {
        camera: spec.id.clone(),
        width: spec.analysis_width,
        slot,
        metrics,
        last_frame_ms: built.last_frame_ms.clone(),
        reporter: Reporter::Element(sink_element.downgrade()),
        seq: AtomicU64::new(0),
    });
    install_keyframe_sink(&sink, to_decoders);
    Ok(())
}

/// Links the first video pad of `src` through the parser its codec needs to `sink`, with the
/// intake installed on the pad; other pads go to a fakesink.
fn link_keyframes(
    src: &gst::Element,
    sink: &gst::Element,
    pipeline: &gst::Pipeline,
    intake: impl Fn(&gst::Pad) + Send + Sync + 'static,
) {
    let sink = sink.downgrade();
    let pipeline = pipeline.downgrade();
    src.connect_pad_added(move |_, pad| {
        let (Some(sink), Some(pipeline)) = (sink.upgrade(), pipeline.upgrade()) else { return };
        let media = media_of(pad);
        let free = sink.static_pad("sink").is_some_and(|p| !p.is_linked());
        let result = if media.starts_with("video/") && free {
            intake(pad);
            link_through_parser(pad, &media, &sink, &pipeline)
        } else {
            discard(pad, &pipeline)
        };
        if let Err(e) = result {
            tracing::warn!(pad = %pad.name(), error = %e, "cannot link a key-frame pad");
        }
    });
}

fn link_through_parser(
    pad: &gst::Pad,
    media: &str,
    sink: &gst::Element,
    pipeline: &gst::Pipeline,
) -> Result<(), String> {
    let parser = match media {
        "video/x-h264" => Some("h264parse"),
        "video/x-h265" => Some("h265parse"),
        _ => None,
    };
    let Some(parser) = parser else {
        let target = sink.static_pad("sink").ok_or("appsink has no pad")?;
        return pad.link(&target).map(|_| ()).map_err(|e| e.to_string());
    };
    let parser = element(parser).map_err(|e| e.to_string())?;
    parser.set_property("config-interval", -1i32);
    pipeline.add(&parser).map_err(|e| e.to_string())?;
    parser.link(sink).map_err(|e| e.to_string())?;
    parser.sync_state_with_parent().map_err(|e| e.to_string())?;
    let target = parser.static_pad("sink").ok_or("parser has no sink pad")?;
    pad.link(&target).map(|_| ()).map_err(|e| e.to_string())
}

fn install_keyframe_sink(sink: &gst_app::AppSink, to: Arc<Destination>) {
    sink.set_callbacks(
        gst_app::AppSinkCallbacks::builder()
            .new_sample(move |sink| {
                to.send(sink.pull_sample().map_err(|_| gst::FlowError::Eos)?);
                Ok(gst::FlowSuccess::Ok)
            })
            .build(),
    );
}

trait CapsExt {
    fn from_str_or_any(s: &str) -> gst::Caps;
}

impl CapsExt for gst::Caps {
    fn from_str_or_any(s: &str) -> gst::Caps {
        s.parse().unwrap_or_else(|_| gst::Caps::new_any())
    }
}

pub(crate) fn sink_caps(width: Option<u32>) -> gst::Caps {
    let caps = gst_video::VideoCapsBuilder::new().format(gst_video::VideoFormat::Rgb);
    match width.and_then(|w| i32::try_from(w).ok()) {
        // Square pixels let the scaler derive the height that keeps the picture's aspect.
        Some(w) => caps.width(w).pixel_aspect_ratio(gst::Fraction::new(1, 1)).build(),
        None => caps.build(),
    }
}

/// Transport, credentials and timeouts for the network source uridecodebin creates.
fn configure_source(src: &gst::Element, spec: &CameraSpec) {
    let tcp = spec.rtsp_tcp;
    let credentials = spec.credentials.clone();
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
        if let Some((user, password)) = &credentials
            && source.has_property("user-id")
            && source.has_property("user-pw")
        {
            source.set_property("user-id", user.as_str());
            source.set_property("user-pw", password.expose());
        }
        None
    });
}

/// Frame threading buys a decoder nothing when it decodes one key frame in fifty, and costs a
/// set of frame buffers per thread: dozens of cameras on a small box want one thread each.
fn configure_decoder(decode: &gst::Element, threads: u32) {
    let Ok(bin) = decode.clone().downcast::<gst::Bin>() else { return };
    bin.connect_element_added(move |_, element| {
        if element.has_property("max-threads") {
            element.set_property("max-threads", i32::try_from(threads).unwrap_or(0));
        }
    });
}

/// Links the first video pad `from` exposes to `to`; other pads (audio, a second video) go to
/// a fakesink so they never stall the stream with not-linked errors.
fn link_first_video(from: &gst::Element, to: &gst::Element, pipeline: &gst::Pipeline) {
    let to = to.downgrade();
    let pipeline = pipeline.downgrade();
    from.connect_pad_added(move |_, pad| {
        let (Some(to), Some(pipeline)) = (to.upgrade(), pipeline.upgrade()) else { return };
        let is_video = media_of(pad).starts_with("video/");
        let target = to.static_pad("sink").filter(|p| is_video && !p.is_linked());
        let result = match target {
            Some(sink_pad) => pad.link(&sink_pad).map(|_| ()).map_err(|e| e.to_string()),
            None => discard(pad, &pipeline),
        };
        if let Err(e) = result {
            tracing::warn!(pad = %pad.name(), error = %e, "cannot link a decoded pad");
        }
    });
}

/// The media type of what a new pad carries (`video/x-h264`, `audio/x-raw`, …), or "".
fn media_of(pad: &gst::Pad) -> String {
    pad.current_caps()
        .unwrap_or_else(|| pad.query_caps(None))
        .structure(0)
        .map_or_else(String::new, |s| s.name().to_string())
}

fn discard(pad: &gst::Pad, pipeline: &gst::Pipeline) -> Result<(), String> {
    let sink = element("fakesink").map_err(|e| e.to_string())?;
    sink.set_property("sync", false);
    pipeline.add(&sink).map_err(|e| e.to_string())?;
    sink.sync_state_with_parent().map_err(|e| e.to_string())?;
    let sink_pad = sink.static_pad("sink").ok_or("fakesink has no pad")?;
    pad.link(&sink_pad).map(|_| ()).map_err(|e| e.to_string())
}

/// A source with no video stream (an audio-only URL, a wrong path on an NVR) is an error of
/// its own, not a silent stall.
fn report_missing_video(src: &gst::Element, decode: &gst::Element) {
    let decode = decode.downgrade();
    src.connect_no_more_pads(move |src| {
        let linked = decode.upgrade().and_then(|d| d.static_pad("sink")).is_some_and(|p| p.is_linked());
        if !linked {
            gst::element_error!(src, gst::StreamError::WrongType, ("the source has no video stream"));
        }
    });
}

/// Chooses analysed frames by presentation time, so the rate holds whether the source runs
/// live or faster than real time.
#[derive(Debug)]
pub(crate) struct Gate {
    interval: gst::ClockTime,
    next_due: Option<gst::ClockTime>,
}

impl Gate {
    pub fn new(fps: f64) -> Self {
        Self { interval: gst::ClockTime::from_nseconds((1e9 / fps) as u64), next_due: None }
    }

    pub fn admit(&mut self, pts: Option<gst::ClockTime>) -> bool {
        let Some(pts) = pts else { return true };
        match self.next_due {
            // A timestamp far behind the schedule means the stream restarted: resynchronise.
            Some(due) if pts < due && due.saturating_sub(pts) <= self.interval * 2 => false,
            _ => {
                self.next_due = Some(pts + self.interval);
                true
            }
        }
    }
}

/// Entry times of buffers into the decoder, matched by timestamp on the way out.
#[derive(Debug, Default)]
struct DecodeClock(Mutex<VecDeque<(gst::ClockTime, Instant)>>);

impl DecodeClock {
    const DEPTH: usize = 64;

    fn entered(&self, pts: Option<gst::ClockTime>) {
        let Some(pts) = pts else { return };
        let mut q = self.0.lock().unwrap_or_else(|p| p.into_inner());
        if q.len() == Self::DEPTH {
            q.pop_front();
        }
        q.push_back((pts, Instant::now()));
    }

    fn left(&self, pts: Option<gst::ClockTime>) -> Option<Duration> {
        let pts = pts?;
        let mut q = self.0.lock().unwrap_or_else(|p| p.into_inner());
        let i = q.iter().position(|(p, _)| *p == pts)?;
        let (_, t) = q.drain(..=i).next_back()?;
        Some(t.elapsed())
    }
}

/// Drops a buffer in a probe. Answering `Handled` after taking it, rather than `Drop`,
/// avoids GStreamer 1.22 unreffing a buffer the bindings already released.
fn drop_buffer(info: &mut gst::PadProbeInfo<'_>) -> gst::PadProbeReturn {
    drop(info.data.take());
    gst::PadProbeReturn::Handled
}

/// Before any decoder: count what arrives; with a `keyframe_gate`, let through only key
/// frames that are due; with a `clock`, note when each frame entered the camera's decoder.
fn install_intake(
    pad: &gst::Pad,
    keyframe_gate: Option<Arc<Mutex<Gate>>>,
    clock: Option<Arc<DecodeClock>>,
    metrics: CameraMetrics,
) {
    pad.add_probe(gst::PadProbeType::BUFFER, move |_, info| {
        let Some(buffer) = info.buffer() else { return gst::PadProbeReturn::Ok };
        let (pts, delta) = (buffer.pts(), buffer.flags().contains(gst::BufferFlags::DELTA_UNIT));
        metrics.frames_received.inc();
        if let Some(gate) = &keyframe_gate
            && (delta || !gate.lock().unwrap_or_else(|p| p.into_inner()).admit(pts))
        {
            return drop_buffer(info);
        }
        if let Some(clock) = &clock {
            clock.entered(pts);
        }
        gst::PadProbeReturn::Ok
    });
}

/// After the decoder: count and time decoded frames, feed the watchdog, and drop frames not
/// due before they are scaled and converted.
fn install_output(
    scale: &gst::Element,
    gate: Arc<Mutex<Gate>>,
    clock: Arc<DecodeClock>,
    metrics: CameraMetrics,
    last_frame_ms: Arc<AtomicI64>,
) -> Result<(), PipelineError> {
    let pad = scale.static_pad("sink").ok_or_else(|| assemble("videoconvertscale has no sink pad"))?;
    pad.add_probe(gst::PadProbeType::BUFFER, move |_, info| {
        let Some(pts) = info.buffer().map(|b| b.pts()) else { return gst::PadProbeReturn::Ok };
        metrics.frames_decoded.inc();
        if let Some(took) = clock.left(pts) {
            metrics.decode_seconds.observe(took.as_secs_f64());
        }
        last_frame_ms.store(UnixMillis::now().0, Ordering::Relaxed);
        if !gate.lock().unwrap_or_else(|p| p.into_inner()).admit(pts) {
            metrics.frames_dropped.inc();
            return drop_buffer(info);
        }
        gst::PadProbeReturn::Ok
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
    // Rows without padding (most widths) are copied once, straight into the frame; a Vec
    // turned into an `Arc<[u8]>` would be a second megabyte-sized copy.
    let rgb: std::sync::Arc<[u8]> = if stride == row {
        map.get(..row * h as usize)?.into()
    } else {
        let mut rgb = Vec::with_capacity(row * h as usize);
        for y in 0..h as usize {
            rgb.extend_from_slice(map.get(y * stride..y * stride + row)?);
        }
        rgb.into()
    };
    Some(Frame { camera: camera.clone(), seq, captured_at: UnixMillis::now(), width: w, height: h, rgb })
}
