//! What runs for every frame in a camera pipeline: pad probes before and after the decoder
//! and the appsink callbacks. Per-frame code: no allocation beyond the frame itself, no
//! dynamic dispatch.

use crate::FrameSlot;
use crate::clock::StreamClock;
use crate::gst_util::{PipelineError, assemble, frame_from_sample};
use crate::keyframes::Destination;
use crate::picker::{FramePicker, KeyFrameGate};
use gstreamer as gst;
use gstreamer::prelude::*;
use gstreamer_app as gst_app;
use shaobing_core::{CameraId, UnixMillis};
use shaobing_metrics::CameraMetrics;
use std::collections::VecDeque;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Entry times of buffers into the decoder, matched by timestamp on the way out.
#[derive(Debug, Default)]
pub(crate) struct DecodeClock(Mutex<VecDeque<(gst::ClockTime, Instant)>>);

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

/// What the intake probe does besides counting.
pub(crate) struct Intake {
    /// Let through only due key frames and their bursts.
    pub keyframe_gate: Option<Arc<Mutex<KeyFrameGate>>>,
    /// Note when each frame entered the camera's decoder.
    pub clock: Option<Arc<DecodeClock>>,
    /// Keep every compressed frame for clips.
    pub clips: Option<Arc<crate::ClipRecorder>>,
}

/// Before any decoder: count what arrives, keep it for clips, gate it, time it.
pub(crate) fn install_intake(pad: &gst::Pad, Intake { keyframe_gate, clock, clips }: Intake, metrics: CameraMetrics) {
    pad.add_probe(gst::PadProbeType::BUFFER, move |pad, info| {
        let Some(buffer) = info.buffer() else { return gst::PadProbeReturn::Ok };
        let (pts, delta) = (buffer.pts(), buffer.flags().contains(gst::BufferFlags::DELTA_UNIT));
        metrics.frames_received.inc();
        // The caps are looked up only for a camera that keeps clips: this runs for every frame.
        if let Some(clips) = &clips
            && let Some(caps) = pad.current_caps()
        {
            clips.push(buffer, &caps, !delta);
        }
        if let Some(gate) = &keyframe_gate
            && !gate.lock().unwrap_or_else(|p| p.into_inner()).admit(!delta, || pts)
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
pub(crate) fn install_output(
    scale: &gst::Element,
    gate: Arc<Mutex<FramePicker>>,
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
pub(crate) fn install_sink(
    sink: &gst_app::AppSink,
    camera: CameraId,
    clock: StreamClock,
    slot: Arc<FrameSlot>,
    metrics: CameraMetrics,
    clips: Option<Arc<crate::ClipRecorder>>,
) {
    let seq = AtomicU64::new(0);
    let clock = Mutex::new(clock);
    sink.set_callbacks(
        gst_app::AppSinkCallbacks::builder()
            .new_sample(move |sink| {
                let sample = sink.pull_sample().map_err(|_| gst::FlowError::Eos)?;
                let pts = sample.buffer().and_then(|b| b.pts());
                let captured_at = clock.lock().unwrap_or_else(|p| p.into_inner()).stamp(pts);
                if let Some(clips) = &clips {
                    clips.stamped(pts, captured_at);
                }
                let seq = seq.fetch_add(1, Ordering::Relaxed);
                let Some(frame) = frame_from_sample(&sample, &camera, seq, captured_at) else {
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

/// Hands each compressed key frame reaching the appsink to the shared decoders.
pub(crate) fn install_keyframe_sink(sink: &gst_app::AppSink, to: Arc<Destination>) {
    sink.set_callbacks(
        gst_app::AppSinkCallbacks::builder()
            .new_sample(move |sink| {
                to.send(sink.pull_sample().map_err(|_| gst::FlowError::Eos)?);
                Ok(gst::FlowSuccess::Ok)
            })
            .build(),
    );
}
