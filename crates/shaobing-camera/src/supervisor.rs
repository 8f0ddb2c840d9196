//! Supervision of one camera: runs it on a [`Receiver`] until cancelled (or, for a finite
//! clip, until its end), and after every failed run waits out a backoff and starts again.

use crate::FrameSlot;
use crate::clock::StreamClock;
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
            Outcome::Eos if is_replay(spec, started) => {
                tracing::info!(camera = %spec.id, "the clip ended; playing it again");
                metrics.reconnected(Reason::Eos.as_str());
                continue;
            }
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

/// A recorded clip that played for a while and ended is played again at once, outside the
/// backoff and the restart budget: its end is no outage. One that ends at once (truncated,
/// empty) goes through the backoff like a failure, or it would spin.
fn is_replay(spec: &CameraSpec, started: Instant) -> bool {
    !StreamClock::is_live(&spec.uri) && started.elapsed() >= CLIP_PLAYED
}

/// How long a clip must have played for its end to count as an end, not a failure to play.
const CLIP_PLAYED: Duration = Duration::from_secs(1);

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
    use crate::spec::RetryPolicy;
    use crate::spec::tests::spec;
    use shaobing_metrics::{Metrics, RECONNECT_REASONS};
    use std::cell::RefCell;
    use std::rc::Rc;

    /// What a run found when the supervisor started it.
    #[derive(Debug, Clone, Copy)]
    struct Call {
        at: Instant,
        state: Option<CameraState>,
        up: i64,
    }

    /// A receiver that plays a script: each run streams (up, `Streaming`) for its time on the
    /// paused clock, then ends with its outcome. Past the script, runs last until cancelled.
    #[derive(Debug)]
    struct Scripted {
        script: VecDeque<(Duration, Outcome)>,
        calls: Rc<RefCell<Vec<Call>>>,
    }

    impl Scripted {
        fn new(script: impl IntoIterator<Item = Outcome>) -> Self {
            Self::timed(script.into_iter().map(|outcome| (Duration::ZERO, outcome)))
        }

        fn timed(script: impl IntoIterator<Item = (Duration, Outcome)>) -> Self {
            Self { script: script.into_iter().collect(), calls: Rc::default() }
        }
    }

    /// Borrowed, so that the test reads the calls after the supervisor is done with it.
    impl Receiver for &mut Scripted {
        async fn run_once(
            &mut self,
            _: &CameraSpec,
            _: &Arc<FrameSlot>,
            metrics: &CameraMetrics,
            cancel: &CancellationToken,
        ) -> Outcome {
            self.calls.borrow_mut().push(Call { at: Instant::now(), state: metrics.state(), up: metrics.up.get() });
            metrics.up.set(1);
            metrics.set_state(CameraState::Streaming);
            let Some((lasts, outcome)) = self.script.pop_front() else {
                cancel.cancelled().await;
                return Outcome::Cancelled;
            };
            tokio::select! {
                _ = cancel.cancelled() => Outcome::Cancelled,
                _ = tokio::time::sleep(lasts) => outcome,
            }
        }
    }

    fn failed(reason: Reason) -> Outcome {
        Outcome::failed(reason, "scripted")
    }

    /// A supervised camera's end and what it left behind.
    struct Supervised {
        exit: CameraExit,
        metrics: CameraMetrics,
        slot: Arc<FrameSlot>,
    }

    impl Supervised {
        /// The reconnects counted, by reason, in the metric's order.
        fn reconnects(&self) -> Vec<(&'static str, u64)> {
            RECONNECT_REASONS.iter().map(|r| (*r, self.metrics.reconnects(r))).filter(|(_, n)| *n > 0).collect()
        }

        async fn slot_closed(&self) -> bool {
            self.slot.take(Duration::ZERO).await.is_err()
        }
    }

    async fn supervised(
        spec: &CameraSpec,
        native: Option<&mut Scripted>,
        pipeline: &mut Scripted,
        cancel: &CancellationToken,
    ) -> Supervised {
        let (slot, metrics) = (Arc::new(FrameSlot::new()), Metrics::new().camera("unit"));
        // A supervisor that never returns fails the test rather than hanging it: the paused
        // clock jumps to this deadline once everything else waits.
        let day = Duration::from_secs(86_400);
        let supervising = supervise(spec, native, pipeline, &slot, &metrics, cancel);
        let exit = tokio::time::timeout(day, supervising).await.expect("the supervisor returns");
        Supervised { exit, metrics, slot }
    }

    fn calls(receiver: &Scripted) -> Vec<Call> {
        receiver.calls.borrow().clone()
    }

    fn gaps(calls: &[Call]) -> Vec<Duration> {
        calls.windows(2).map(|w| w[1].at - w[0].at).collect()
    }

    #[tokio::test(start_paused = true)]
    async fn every_failed_run_is_counted_by_reason_and_run_again() {
        let script = [Reason::Unreachable, Reason::NotFound, Reason::Stalled].map(failed);
        let mut camera = Scripted::new(script.into_iter().chain([Outcome::Eos, Outcome::Cancelled]));
        let run = supervised(&spec(Duration::from_secs(3)), None, &mut camera, &CancellationToken::new()).await;
        assert_eq!(run.exit, CameraExit::Cancelled);
        assert_eq!(run.reconnects(), [("eos", 1), ("stalled", 1), ("unreachable", 1), ("not_found", 1)]);
        let calls = calls(&camera);
        assert_eq!(calls.len(), 5);
        for call in &calls {
            assert_eq!((call.state, call.up), (Some(CameraState::Connecting), 0), "a run starts connecting, down");
        }
        assert_eq!((run.metrics.state(), run.metrics.up.get()), (Some(CameraState::Stopped), 0));
        assert!(run.slot_closed().await, "analysis learns that the camera stopped");
    }

    #[tokio::test(start_paused = true)]
    async fn the_backoff_grows_and_a_spent_restart_budget_waits_the_longest() {
        let mut s = spec(Duration::from_secs(3));
        s.retry =
            RetryPolicy { initial: ms(100), max: Duration::from_secs(10), budget: 3, window: Duration::from_secs(60) };
        let failures = std::iter::repeat_with(|| failed(Reason::Error)).take(5);
        let mut camera = Scripted::new(failures.chain([Outcome::Cancelled]));
        supervised(&s, None, &mut camera, &CancellationToken::new()).await;
        let gaps = gaps(&calls(&camera));
        let within = |gap: Duration, ceiling: Duration| gap >= ceiling * 3 / 4 && gap <= ceiling + ms(1);
        assert!(within(gaps[0], ms(100)) && within(gaps[1], ms(200)) && within(gaps[2], ms(400)), "{gaps:?}");
        assert!(within(gaps[3], Duration::from_secs(10)) && gaps[3] >= Duration::from_secs(10), "{gaps:?}");
        assert!(gaps[4] >= Duration::from_secs(10), "the budget stays spent within the window: {gaps:?}");
    }

    #[tokio::test(start_paused = true)]
    async fn a_run_that_lasted_past_the_window_starts_the_backoff_afresh() {
        let mut s = spec(Duration::from_secs(3));
        s.retry.window = Duration::from_secs(60);
        let quick = |_| (Duration::ZERO, failed(Reason::Unreachable));
        let long = (Duration::from_secs(61), failed(Reason::Eos));
        let script = (0..3).map(quick).chain([long, (Duration::ZERO, Outcome::Cancelled)]);
        let mut camera = Scripted::timed(script);
        supervised(&s, None, &mut camera, &CancellationToken::new()).await;
        let gaps = gaps(&calls(&camera));
        assert!(gaps[2] >= ms(300), "backed off to 400 ms: {gaps:?}");
        assert!(gaps[3] - Duration::from_secs(61) <= ms(101), "back to 100 ms after a long run: {gaps:?}");
    }

    #[tokio::test(start_paused = true)]
    async fn at_end_of_stream_a_clip_stops_without_a_reconnect() {
        let mut s = spec(Duration::from_secs(3));
        s.restart_on_eos = false;
        let mut clip = Scripted::new([Outcome::Eos]);
        let run = supervised(&s, None, &mut clip, &CancellationToken::new()).await;
        assert_eq!(run.exit, CameraExit::EndOfStream);
        assert_eq!(calls(&clip).len(), 1);
        assert_eq!(run.reconnects(), []);
        assert_eq!(run.metrics.state(), Some(CameraState::Stopped));
        assert!(run.slot_closed().await);
    }

    #[tokio::test(start_paused = true)]
    async fn cancellation_ends_a_run_in_progress() {
        let (cancel, started) = (CancellationToken::new(), Instant::now());
        let mut camera = Scripted::new([]);
        let cancel_later = async {
            tokio::time::sleep(Duration::from_secs(5)).await;
            cancel.cancel();
        };
        let s = spec(Duration::from_secs(3));
        let (run, ()) = tokio::join!(supervised(&s, None, &mut camera, &cancel), cancel_later);
        assert_eq!((run.exit, started.elapsed()), (CameraExit::Cancelled, Duration::from_secs(5)));
        assert_eq!(run.reconnects(), [], "a cancelled run is no failure");
        assert_eq!(run.metrics.state(), Some(CameraState::Stopped));
        assert!(run.slot_closed().await);
    }

    #[tokio::test(start_paused = true)]
    async fn cancellation_ends_the_wait_between_runs() {
        let mut s = spec(Duration::from_secs(3));
        s.retry.initial = Duration::from_secs(3600);
        s.retry.max = Duration::from_secs(3600);
        let (cancel, started) = (CancellationToken::new(), Instant::now());
        let mut camera = Scripted::new([failed(Reason::Unreachable)]);
        let metrics = Metrics::new().camera("unit");
        let slot = Arc::new(FrameSlot::new());
        let observe_then_cancel = async {
            tokio::time::sleep(Duration::from_secs(1)).await;
            let seen = (metrics.state(), metrics.up.get());
            cancel.cancel();
            seen
        };
        let (exit, seen) = tokio::join!(
            supervise(&s, None::<&mut Scripted>, &mut camera, &slot, &metrics, &cancel),
            observe_then_cancel
        );
        assert_eq!(seen, (Some(CameraState::Retrying), 0), "down and retrying while it waits");
        assert_eq!((exit, started.elapsed()), (CameraExit::Cancelled, Duration::from_secs(1)));
        assert_eq!(calls(&camera).len(), 1);
        assert_eq!(metrics.reconnects("unreachable"), 1);
    }

    #[tokio::test(start_paused = true)]
    async fn a_camera_retina_cannot_take_goes_to_the_pipeline_at_once_and_stays_there() {
        let mut native = Scripted::new([Outcome::NotNative("video is JPEG".into())]);
        let mut pipeline = Scripted::new([failed(Reason::BadStream), Outcome::Cancelled]);
        let run =
            supervised(&spec(Duration::from_secs(3)), Some(&mut native), &mut pipeline, &CancellationToken::new())
                .await;
        let (native, pipeline) = (calls(&native), calls(&pipeline));
        assert_eq!((native.len(), pipeline.len()), (1, 2), "retried on the pipeline, not on retina");
        assert_eq!(pipeline[0].at, native[0].at, "no backoff before the fallback");
        assert_eq!(run.reconnects(), [("bad_stream", 1)], "the fallback is not a reconnect");
        assert_eq!(run.exit, CameraExit::Cancelled);
    }

    #[tokio::test(start_paused = true)]
    async fn retina_keeps_a_camera_it_can_take_through_failures() {
        let mut native = Scripted::new([failed(Reason::Unauthorized), Outcome::Cancelled]);
        let mut pipeline = Scripted::new([]);
        let run =
            supervised(&spec(Duration::from_secs(3)), Some(&mut native), &mut pipeline, &CancellationToken::new())
                .await;
        assert_eq!((calls(&native).len(), calls(&pipeline).len()), (2, 0));
        assert_eq!(run.reconnects(), [("unauthorized", 1)]);
    }

    fn ms(ms: u64) -> Duration {
        Duration::from_millis(ms)
    }

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
