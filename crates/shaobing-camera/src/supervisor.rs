use crate::FrameSlot;
use crate::pipeline::{CameraPipeline, CameraSpec, build};
use futures_util::StreamExt;
use gstreamer as gst;
use gstreamer::prelude::*;
use shaobing_core::{Backoff, UnixMillis};
use shaobing_metrics::{CameraMetrics, CameraState};
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// Why a camera's supervisor returned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CameraExit {
    Cancelled,
    /// The stream ended and the camera is configured to stop at end of stream.
    EndOfStream,
}

/// One pipeline run's end.
#[derive(Debug)]
pub(crate) enum Outcome {
    Cancelled,
    Eos,
    /// `reason` is a fixed code (a metric label); `detail` is for the log only.
    Failed {
        reason: &'static str,
        detail: String,
    },
    /// The native RTSP client cannot take this camera (its codec); a pipeline will.
    NotNative(String),
}

/// Restarts within a sliding window; past the budget a flapping camera waits the longest
/// delay between attempts, so fifty broken cameras cannot keep the box busy reconnecting.
#[derive(Debug)]
pub struct RestartBudget {
    window: Duration,
    budget: u32,
    recent: std::collections::VecDeque<tokio::time::Instant>,
}

impl RestartBudget {
    pub fn new(budget: u32, window: Duration) -> Self {
        Self { window, budget, recent: std::collections::VecDeque::new() }
    }

    /// Records a restart at `now`; false once the budget for the window is spent.
    pub fn record(&mut self, now: tokio::time::Instant) -> bool {
        while self.recent.front().is_some_and(|t| now.duration_since(*t) > self.window) {
            self.recent.pop_front();
        }
        self.recent.push_back(now);
        self.recent.len() <= self.budget as usize
    }
}

/// Runs a camera until cancelled (or, for a finite clip, until its end), restarting the
/// pipeline with backoff after errors, end of stream and stalls.
pub async fn run_camera(
    spec: CameraSpec,
    slot: Arc<FrameSlot>,
    metrics: CameraMetrics,
    cancel: CancellationToken,
) -> CameraExit {
    let mut backoff = Backoff::new(spec.retry.initial, spec.retry.max);
    let mut budget = RestartBudget::new(spec.retry.budget, spec.retry.window);
    let mut native = crate::native_rtsp::handles(&spec);
    let exit = loop {
        metrics.set_state(CameraState::Connecting);
        let started = tokio::time::Instant::now();
        let outcome = if native {
            crate::native_rtsp::run_once(&spec, &slot, &metrics, &cancel).await
        } else {
            run_once(&spec, &slot, &metrics, &cancel).await
        };
        metrics.up.set(0);
        let reason = match outcome {
            Outcome::Cancelled => break CameraExit::Cancelled,
            Outcome::NotNative(detail) => {
                tracing::info!(camera = %spec.id, %detail, "not H.264 or H.265: receiving through GStreamer");
                native = false;
                continue;
            }
            Outcome::Eos if !spec.restart_on_eos => break CameraExit::EndOfStream,
            Outcome::Eos => {
                tracing::info!(camera = %spec.id, "end of stream; reconnecting");
                "eos"
            }
            Outcome::Failed { reason, detail } => {
                tracing::warn!(camera = %spec.id, reason, %detail, "camera pipeline failed; retrying");
                reason
            }
        };
        metrics.reconnected(reason);
        metrics.set_state(CameraState::Retrying);
        // A pipeline that ran well for a while earns a fresh start of the backoff.
        if started.elapsed() > spec.retry.window {
            backoff.reset();
        }
        let mut delay = backoff.next_delay();
        if !budget.record(tokio::time::Instant::now()) {
            tracing::warn!(camera = %spec.id, "restart budget spent; retrying at the longest interval");
            delay = delay.max(spec.retry.max);
        }
        tokio::select! {
            _ = cancel.cancelled() => break CameraExit::Cancelled,
            _ = tokio::time::sleep(delay) => {}
        }
    };
    metrics.set_state(CameraState::Stopped);
    slot.close();
    exit
}

async fn run_once(
    spec: &CameraSpec,
    slot: &Arc<FrameSlot>,
    metrics: &CameraMetrics,
    cancel: &CancellationToken,
) -> Outcome {
    let built = match build(spec, slot.clone(), metrics.clone()) {
        Ok(p) => p,
        Err(e) => return Outcome::Failed { reason: "start_failed", detail: e.to_string() },
    };
    let outcome = match built.pipeline.set_state(gst::State::Playing) {
        Ok(_) => watch(spec, &built, metrics, cancel).await,
        // The element that refused (a missing file, say) posted why on the bus.
        Err(e) => built
            .pipeline
            .bus()
            .and_then(|bus| bus.pop_filtered(&[gst::MessageType::Error]))
            .and_then(|msg| classify(&msg))
            .unwrap_or(Outcome::Failed { reason: "start_failed", detail: e.to_string() }),
    };
    teardown(built).await;
    outcome
}

async fn watch(
    spec: &CameraSpec,
    built: &CameraPipeline,
    metrics: &CameraMetrics,
    cancel: &CancellationToken,
) -> Outcome {
    let Some(bus) = built.pipeline.bus() else {
        return Outcome::Failed { reason: "start_failed", detail: "pipeline has no bus".into() };
    };
    let started = UnixMillis::now();
    let on_message = |_: &mut (), msg: Option<gst::Message>, _: &_| match msg {
        None => Some(Outcome::Failed { reason: "bus_closed", detail: "bus closed".into() }),
        Some(msg) => classify(&msg),
    };
    let on_tick = |_: &mut ()| watchdog(spec, &built.last_frame_ms, started, metrics);
    run_until(bus.stream(), &mut (), cancel, on_message, on_tick).await
}

/// One run's loop, pipeline or not: it ends when cancelled, or with the outcome `on_event`
/// makes of an event of `events` (`None` once they end), or that `on_tick` makes, four times
/// a second.
pub(crate) async fn run_until<S: futures_util::Stream + Unpin, T>(
    mut events: S,
    state: &mut T,
    cancel: &CancellationToken,
    mut on_event: impl FnMut(&mut T, Option<S::Item>, &S) -> Option<Outcome>,
    mut on_tick: impl FnMut(&mut T) -> Option<Outcome>,
) -> Outcome {
    let mut tick = tokio::time::interval(Duration::from_millis(250));
    loop {
        let outcome = tokio::select! {
            biased;
            _ = cancel.cancelled() => Some(Outcome::Cancelled),
            event = events.next() => on_event(state, event, &events),
            _ = tick.tick() => on_tick(state),
        };
        if let Some(outcome) = outcome {
            return outcome;
        }
    }
}

/// Sets the up metric and state from the last decoded frame of a run begun at `started`; a
/// stall once no frame came for the watchdog's time.
pub(crate) fn watchdog(
    spec: &CameraSpec,
    last_frame_ms: &AtomicI64,
    started: UnixMillis,
    metrics: &CameraMetrics,
) -> Option<Outcome> {
    let last = UnixMillis(last_frame_ms.load(Ordering::Relaxed));
    let now = UnixMillis::now();
    let fresh = last >= started && now.since(last) < spec.watchdog;
    metrics.up.set(i64::from(fresh));
    if fresh {
        metrics.set_state(CameraState::Streaming);
    } else if now.since(last.max(started)) >= spec.watchdog {
        let detail = format!("no frame decoded for {:?}", spec.watchdog);
        return Some(Outcome::Failed { reason: "stalled", detail });
    }
    None
}

/// Maps a bus message to the end of a run, with a reason code from a fixed set: the
/// `reason` label of the reconnects metric.
fn classify(msg: &gst::Message) -> Option<Outcome> {
    match msg.view() {
        gst::MessageView::Eos(_) => Some(Outcome::Eos),
        gst::MessageView::Error(e) => {
            let err = e.error();
            let src = e.src().map(|s| s.path_string().to_string()).unwrap_or_default();
            let detail = format!("{src}: {err} ({})", e.debug().unwrap_or_default());
            Some(Outcome::Failed { reason: error_reason(&err), detail })
        }
        _ => None,
    }
}

fn error_reason(err: &gst::glib::Error) -> &'static str {
    use gst::{CoreError, ResourceError, StreamError};
    if let Some(e) = err.kind::<ResourceError>() {
        return match e {
            ResourceError::NotAuthorized => "unauthorized",
            ResourceError::NotFound => "not_found",
            _ => "unreachable",
        };
    }
    if let Some(e) = err.kind::<StreamError>() {
        return match e {
            StreamError::CodecNotFound | StreamError::TypeNotFound | StreamError::NotImplemented => "unsupported",
            StreamError::WrongType => "no_video",
            _ => "bad_stream",
        };
    }
    if err.kind::<CoreError>() == Some(CoreError::MissingPlugin) {
        return "unsupported";
    }
    "error"
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

    #[test]
    fn restart_budget_is_per_window() {
        let mut budget = RestartBudget::new(3, Duration::from_secs(60));
        let t0 = tokio::time::Instant::now();
        let at = |s| t0 + Duration::from_secs(s);
        assert!(budget.record(at(0)) && budget.record(at(10)) && budget.record(at(20)));
        assert!(!budget.record(at(30)), "fourth restart within a minute");
        assert!(budget.record(at(85)), "the first two left the window");
    }
}
