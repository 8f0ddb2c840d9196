//! Receiving a camera through its GStreamer pipeline: one run plays a freshly built pipeline
//! and ends with what its bus or the watchdog reports.

use crate::FrameSlot;
use crate::pipeline::{CameraPipeline, build};
use crate::reason::Reason;
use crate::run::{Outcome, Receiver, run_until, watchdog};
use crate::spec::CameraSpec;
use gstreamer as gst;
use gstreamer::prelude::*;
use shaobing_core::UnixMillis;
use shaobing_metrics::CameraMetrics;
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// Any camera GStreamer can open: files, HTTP, `rtsp://` through rtspsrc, any codec.
#[derive(Debug, Default)]
pub(crate) struct GstPipeline;

impl Receiver for GstPipeline {
    async fn run_once(
        &mut self,
        spec: &CameraSpec,
        slot: &Arc<FrameSlot>,
        metrics: &CameraMetrics,
        cancel: &CancellationToken,
    ) -> Outcome {
        let built = match build(spec, slot.clone(), metrics.clone()) {
            Ok(p) => p,
            Err(e) => return Outcome::failed(Reason::StartFailed, e.to_string()),
        };
        let outcome = match built.pipeline.set_state(gst::State::Playing) {
            Ok(_) => finished(watch(spec, &built, metrics, cancel).await, &built).await,
            // The element that refused (a missing file, say) posted why on the bus.
            Err(e) => built
                .pipeline
                .bus()
                .and_then(|bus| bus.pop_filtered(&[gst::MessageType::Error]))
                .and_then(|msg| classify(&msg))
                .unwrap_or_else(|| Outcome::failed(Reason::StartFailed, e.to_string())),
        };
        teardown(built).await;
        outcome
    }
}

/// How long the end of a stream waits for the shared decoders to deliver the camera's last key
/// frames: as long as they may wait in the queue, and a decode more.
const KEY_FRAMES_AT_END: Duration = Duration::from_secs(crate::keyframes::DEADLINE.as_secs() + 1);

/// At the end of a stream in key-frame mode the last key frames may still be at the shared
/// decoders: the camera's end waits for them, or a clip read in one go would deliver nothing.
async fn finished(outcome: Outcome, built: &CameraPipeline) -> Outcome {
    if matches!(outcome, Outcome::Eos)
        && let Some(to) = built.keyframes.get()
    {
        to.finish(KEY_FRAMES_AT_END).await;
    }
    outcome
}

async fn watch(
    spec: &CameraSpec,
    built: &CameraPipeline,
    metrics: &CameraMetrics,
    cancel: &CancellationToken,
) -> Outcome {
    let Some(bus) = built.pipeline.bus() else {
        return Outcome::failed(Reason::StartFailed, "pipeline has no bus");
    };
    let started = UnixMillis::now();
    let on_message = |_: &mut (), msg: Option<gst::Message>, _: &_| match msg {
        None => Some(Outcome::failed(Reason::BusClosed, "bus closed")),
        Some(msg) => classify(&msg),
    };
    let on_tick = |_: &mut ()| watchdog(spec, built.last_sign(), started, metrics);
    run_until(bus.stream(), &mut (), cancel, on_message, on_tick).await
}

/// The end of a run a bus message means, if any.
fn classify(msg: &gst::Message) -> Option<Outcome> {
    match msg.view() {
        gst::MessageView::Eos(_) => Some(Outcome::Eos),
        gst::MessageView::Error(e) => {
            let err = e.error();
            let src = e.src().map(|s| s.path_string().to_string()).unwrap_or_default();
            let detail = format!("{src}: {}", crate::gst_util::one_line(&err, e.debug()));
            Some(Outcome::failed(error_reason(&err), detail))
        }
        _ => None,
    }
}

/// By the error's domain and code, which every GStreamer element sets, whatever its message.
fn error_reason(err: &gst::glib::Error) -> Reason {
    use gst::{CoreError, ResourceError, StreamError};
    if let Some(e) = err.kind::<ResourceError>() {
        return match e {
            ResourceError::NotAuthorized => Reason::Unauthorized,
            ResourceError::NotFound => Reason::NotFound,
            _ => Reason::Unreachable,
        };
    }
    if let Some(e) = err.kind::<StreamError>() {
        return match e {
            StreamError::CodecNotFound | StreamError::TypeNotFound | StreamError::NotImplemented => Reason::Unsupported,
            StreamError::WrongType => Reason::NoVideo,
            _ => Reason::BadStream,
        };
    }
    if err.kind::<CoreError>() == Some(CoreError::MissingPlugin) {
        return Reason::Unsupported;
    }
    Reason::Error
}

/// Stopping an RTSP pipeline can block on a dead socket: do it off the async runtime, and
/// never let it hold up the supervisor for more than a few seconds.
async fn teardown(built: CameraPipeline) {
    let stop = tokio::task::spawn_blocking(move || drop(built));
    if tokio::time::timeout(Duration::from_secs(5), stop).await.is_err() {
        tracing::warn!("camera pipeline took over 5 s to stop; left to finish in the background");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use gst::glib::Error;
    use gst::{CoreError, LibraryError, ResourceError, StreamError};

    #[test]
    fn gstreamer_errors_are_classified_by_domain_and_code_whatever_their_message() {
        let cases = [
            (Error::new(ResourceError::NotAuthorized, "401"), Reason::Unauthorized),
            (Error::new(ResourceError::NotFound, "Could not open resource for reading."), Reason::NotFound),
            (Error::new(ResourceError::OpenRead, "not found"), Reason::Unreachable),
            (Error::new(ResourceError::Read, "Unauthorized"), Reason::Unreachable),
            (Error::new(StreamError::CodecNotFound, "x"), Reason::Unsupported),
            (Error::new(StreamError::TypeNotFound, "x"), Reason::Unsupported),
            (Error::new(StreamError::WrongType, "x"), Reason::NoVideo),
            (Error::new(StreamError::Decode, "x"), Reason::BadStream),
            (Error::new(StreamError::Demux, "x"), Reason::BadStream),
            (Error::new(CoreError::MissingPlugin, "x"), Reason::Unsupported),
            (Error::new(CoreError::Negotiation, "not authorized"), Reason::Error),
            (Error::new(LibraryError::Init, "x"), Reason::Error),
        ];
        for (err, reason) in cases {
            assert_eq!(error_reason(&err), reason, "{err:?}");
        }
    }
}
