//! The GStreamer pipeline of a camera: what it is built from and how its pads are linked.
//! What runs per frame is in `probes`; running the pipeline is `gst_receiver`'s.

use crate::FrameSlot;
use crate::clock::StreamClock;
use crate::gst_util::{CapsExt, PipelineError, assemble, discard, element, media_of, scaler, sink_caps};
use crate::keyframes::{Destination, Reporter};
use crate::picker::{FramePicker, KeyFrameGate};
use crate::probes::{DecodeClock, Intake, install_intake, install_keyframe_sink, install_output, install_sink};
use crate::run::LiveGuard;
use crate::spec::CameraSpec;
use gstreamer as gst;
use gstreamer::prelude::*;
use gstreamer_app as gst_app;
use shaobing_core::UnixMillis;
use shaobing_metrics::CameraMetrics;
use std::sync::atomic::AtomicI64;
use std::sync::{Arc, Mutex};

/// A built pipeline and the clock of its last decoded frame, for the watchdog. Dropping it
/// stops the pipeline, which may block on the network: drop it off the async runtime.
#[derive(Debug)]
pub(crate) struct CameraPipeline {
    pub pipeline: gst::Pipeline,
    pub last_frame_ms: Arc<AtomicI64>,
    /// In key-frame mode, where the key frames go: waited on at the end of a stream.
    pub keyframes: std::sync::OnceLock<Arc<crate::keyframes::Destination>>,
    _live: LiveGuard,
}

impl CameraPipeline {
    /// When the camera last showed it streams: a decoded frame, or in key-frame mode a key
    /// frame still waiting for the shared decoders.
    pub fn last_sign(&self) -> UnixMillis {
        let decoded = UnixMillis(self.last_frame_ms.load(std::sync::atomic::Ordering::Relaxed));
        self.keyframes.get().map_or(decoded, |to| to.last_sign().max(decoded))
    }
}

impl Drop for CameraPipeline {
    fn drop(&mut self) {
        let _ = self.pipeline.set_state(gst::State::Null);
    }
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
        keyframes: std::sync::OnceLock::new(),
        _live: LiveGuard::new(),
    };
    let src = gst::ElementFactory::make("uridecodebin")
        .property("uri", spec.uri.as_str())
        .property("caps", gst::Caps::from_str_or_any(SOURCE_CAPS))
        .build()
        .map_err(|_| PipelineError::MissingElement("uridecodebin"))?;
    pipeline.add(&src).map_err(assemble)?;
    configure_source(&src, spec);
    if let Some(clips) = &spec.clips {
        clips.restart();
    }
    let parts = Parts { spec, src: &src, built: &built, slot, metrics };
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
    slot: Arc<FrameSlot>,
    metrics: CameraMetrics,
}

fn build_every_frame(Parts { spec, src, built, slot, metrics }: Parts<'_>) -> Result<(), PipelineError> {
    let gate = Arc::new(Mutex::new(FramePicker::new(spec.analysis_fps)));
    let pipeline = &built.pipeline;
    let decode = element("decodebin")?;
    let scale = scaler()?;
    let sink = gst_app::AppSink::builder()
        .caps(&sink_caps(spec.analysis_width))
        .max_buffers(1)
        .drop(true)
        .sync(spec.paced())
        .build();
    pipeline.add_many([&decode, &scale, sink.upcast_ref()]).map_err(assemble)?;
    gst::Element::link_many([&scale, sink.upcast_ref()]).map_err(assemble)?;
    configure_decoder(&decode, spec.decoder_threads);
    link_first_video(src, &decode, pipeline);
    link_first_video(&decode, &scale, pipeline);
    report_missing_video(src, &decode);
    let clock = Arc::new(DecodeClock::default());
    let intake = decode.static_pad("sink").ok_or_else(|| assemble("decodebin has no sink pad"))?;
    let clips = spec.clips.clone();
    install_intake(&intake, Intake { keyframe_gate: None, clock: Some(clock.clone()), clips }, metrics.clone());
    install_output(&scale, gate, clock, metrics.clone(), built.last_frame_ms.clone())?;
    let clock = StreamClock::new(StreamClock::is_live(&spec.uri), slot.last_captured());
    install_sink(&sink, spec.id.clone(), clock, slot, metrics, spec.clips.clone());
    Ok(())
}

/// Compressed key frames, each carrying its parameter sets (`config-interval = -1`), so that a
/// decoder that last saw another camera can decode it alone.
const KEYFRAME_CAPS: &str = "video/x-h264, stream-format=byte-stream, alignment=au; \
     video/x-h265, stream-format=byte-stream, alignment=au; video/x-raw(ANY)";

fn build_keyframes(Parts { spec, src, built, slot, metrics }: Parts<'_>) -> Result<(), PipelineError> {
    let gate = Arc::new(Mutex::new(KeyFrameGate::new(spec.analysis_fps, spec.key_frame_burst)));
    let caps = gst::Caps::from_str_or_any(KEYFRAME_CAPS);
    let sink = gst_app::AppSink::builder().caps(&caps).max_buffers(1).drop(true).sync(spec.paced()).build();
    built.pipeline.add(&sink).map_err(assemble)?;
    let sink_element: gst::Element = sink.clone().upcast();
    let (intake_metrics, clips) = (metrics.clone(), spec.clips.clone());
    link_keyframes(src, &sink_element, &built.pipeline, move |pad| {
        let intake = Intake { keyframe_gate: Some(gate.clone()), clock: None, clips: clips.clone() };
        install_intake(pad, intake, intake_metrics.clone());
    });
    report_missing_video(src, &sink_element);
    let reporter = Reporter::Element(sink_element.downgrade());
    let to_decoders = Arc::new(Destination::new(spec, slot, metrics, built.last_frame_ms.clone(), reporter));
    let _ = built.keyframes.set(to_decoders.clone());
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
