//! Supervision of one camera: runs it on a [`Receiver`] until cancelled (or, for a finite
//! clip, until its end), and after every failed run waits out a backoff and starts again.

use crate::FrameSlot;
use crate::gst_receiver::GstPipeline;
use crate::native_rtsp::{self, NativeRtsp};
use crate::reason::Reason;
use crate::run::{Outcome, Receiver};
use crate::spec::CameraSpec;
use shaobing_core::Backoff;
use shaobing_metrics::{CameraMetrics, CameraState};
use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

/// Why a camera's supervisor returned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CameraExit {
    Cancelled,
    /// The stream ended and the camera is configured to stop at end of stream.
    EndOfStream,
}

/// Restarts within a sliding window; past the budget a flapping camera waits the longest
/// delay between attempts, so fifty broken cameras cannot keep the box busy reconnecting.
#[derive(Debug)]
pub struct RestartBudget {
    window: Duration,
    budget: u32,
    recent: VecDeque<Instant>,
}

impl RestartBudget {
    pub fn new(budget: u32, window: Duration) -> Self {
        Self { window, budget, recent: VecDeque::new() }
    }

    /// Records a restart at `now`; false once the budget for the window is spent.
    pub fn record(&mut self, now: Instant) -> bool {
        while self.recent.front().is_some_and(|t| now.duration_since(*t) > self.window) {
            self.recent.pop_front();
        }
        self.recent.push_back(now);
        self.recent.len() <= self.budget as usize
    }
}

/// Runs a camera until cancelled (or, for a finite clip, until its end), restarting it with
/// backoff after errors, end of stream and stalls: on retina where it can take the camera,
/// on a GStreamer pipeline otherwise.
pub async fn run_camera(
    spec: CameraSpec,
    slot: Arc<FrameSlot>,
    metrics: CameraMetrics,
    cancel: CancellationToken,
) -> CameraExit {
    let native = native_rtsp::handles(&spec).then_some(NativeRtsp);
    supervise(&spec, native, GstPipeline, &slot, &metrics, &cancel).await
}

/// [`run_camera`] on any receivers: `native` first while it takes the camera, `pipeline` once
/// it answers `NotNative` or when there is none.
pub(crate) async fn supervise(
    spec: &CameraSpec,
    mut native: Option<impl Receiver>,
    mut pipeline: impl Receiver,
    slot: &Arc<FrameSlot>,
    metrics: &CameraMetrics,
    cancel: &CancellationToken,
) -> CameraExit {
    let mut retry = Retry::new(spec);
    let exit = loop {
        metrics.set_state(CameraState::Connecting);
        let started = Instant::now();
        let outcome = match native.as_mut() {
            Some(native) => native.run_once(spec, slot, metrics, cancel).await,
            None => pipeline.run_once(spec, slot, metrics, cancel).await,
        };
        metrics.up.set(0);
        let reason = match outcome {
            Outcome::Cancelled => break CameraExit::Cancelled,
            Outcome::NotNative(detail) => {
                tracing::info!(camera = %spec.id, %detail, "not H.264 or H.265: receiving through GStreamer");
                native = None;
                continue;
            }
            Outcome::Eos if !spec.restart_on_eos => break CameraExit::EndOfStream,
            Outcome::Eos => {
                tracing::info!(camera = %spec.id, "end of stream; reconnecting");
                Reason::Eos
            }
            Outcome::Failed { reason, detail } => {
                tracing::warn!(camera = %spec.id, reason = reason.as_str(), %detail, "camera run failed; retrying");
                reason
            }
        };
        metrics.reconnected(reason.as_str());
        metrics.set_state(CameraState::Retrying);
        tokio::select! {
            _ = cancel.cancelled() => break CameraExit::Cancelled,
            _ = tokio::time::sleep(retry.delay_after(started, spec)) => {}
        }
    };
    metrics.set_state(CameraState::Stopped);
    slot.close();
    exit
}

/// The wait before each restart: backoff, within the restart budget.
struct Retry {
    backoff: Backoff,
    budget: RestartBudget,
}

impl Retry {
    fn new(spec: &CameraSpec) -> Self {
        let policy = spec.retry;
        Self {
            backoff: Backoff::new(policy.initial, policy.max),
            budget: RestartBudget::new(policy.budget, policy.window),
        }
    }

    /// The delay after a run begun at `started` failed.
    fn delay_after(&mut self, started: Instant, spec: &CameraSpec) -> Duration {
        // A run that went well for a while earns a fresh start of the backoff.
        if started.elapsed() > spec.retry.window {
            self.backoff.reset();
        }
        let delay = self.backoff.next_delay();
        if self.budget.record(Instant::now()) {
            return delay;
        }
        tracing::warn!(camera = %spec.id, "restart budget spent; retrying at the longest interval");
        delay.max(spec.retry.max)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn restart_budget_is_per_window() {
        let mut budget = RestartBudget::new(3, Duration::from_secs(60));
        let t0 = Instant::now();
        let at = |s| t0 + Duration::from_secs(s);
        assert!(budget.record(at(0)) && budget.record(at(10)) && budget.record(at(20)));
        assert!(!budget.record(at(30)), "fourth restart within a minute");
        assert!(budget.record(at(85)), "the first two left the window");
    }
}
