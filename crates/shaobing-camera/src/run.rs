//! One run of a camera, from connecting to what ends it: the [`Receiver`] trait the supervisor
//! drives, the [`Outcome`] it returns, and the parts every receiver's run shares (the live
//! count, the event loop, the watchdog).

use crate::FrameSlot;
use crate::reason::Reason;
use crate::spec::CameraSpec;
use futures_util::StreamExt;
use shaobing_core::UnixMillis;
use shaobing_metrics::{CameraMetrics, CameraState};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// One run's end.
#[derive(Debug)]
pub(crate) enum Outcome {
    Cancelled,
    Eos,
    /// `detail` is for the log only.
    Failed {
        reason: Reason,
        detail: String,
    },
    /// The native RTSP client cannot take this camera (its codec); a pipeline will.
    NotNative(String),
}

impl Outcome {
    pub fn failed(reason: Reason, detail: impl Into<String>) -> Self {
        Outcome::Failed { reason, detail: detail.into() }
    }
}

/// A way of receiving a camera: connects, delivers frames to `slot` and keeps `metrics` (`up`,
/// `Streaming`) until the run ends, and says how. Called once per connection attempt, so a
/// generic call here costs nothing per frame.
pub(crate) trait Receiver {
    async fn run_once(
        &mut self,
        spec: &CameraSpec,
        slot: &Arc<FrameSlot>,
        metrics: &CameraMetrics,
        cancel: &CancellationToken,
    ) -> Outcome;
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

/// Sets the up metric and state from the camera's `last` sign of streaming (a decoded frame, or
/// a key frame waiting for a decoder) in a run begun at `started`; a stall once there was none
/// for the watchdog's time.
pub(crate) fn watchdog(
    spec: &CameraSpec,
    last: UnixMillis,
    started: UnixMillis,
    metrics: &CameraMetrics,
) -> Option<Outcome> {
    let now = UnixMillis::now();
    let fresh = last >= started && now.since(last) < spec.watchdog;
    metrics.up.set(i64::from(fresh));
    if fresh {
        metrics.set_state(CameraState::Streaming);
    } else if now.since(last.max(started)) >= spec.watchdog {
        return Some(Outcome::failed(Reason::Stalled, format!("no frame decoded for {:?}", spec.watchdog)));
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use shaobing_metrics::Metrics;

    fn spec() -> CameraSpec {
        crate::spec::tests::spec(Duration::from_secs(3))
    }

    fn ago(ms: i64) -> UnixMillis {
        UnixMillis(UnixMillis::now().0 - ms)
    }

    #[test]
    fn the_watchdog_reports_a_fresh_frame_as_up_and_streaming() {
        let metrics = Metrics::new().camera("w");
        assert!(watchdog(&spec(), ago(100), ago(1000), &metrics).is_none());
        assert_eq!((metrics.up.get(), metrics.state()), (1, Some(CameraState::Streaming)));
    }

    #[test]
    fn the_watchdog_gives_a_new_run_its_time_then_calls_it_stalled() {
        let metrics = Metrics::new().camera("w");
        let never = UnixMillis(0);
        assert!(watchdog(&spec(), never, ago(1000), &metrics).is_none(), "within the watchdog's time");
        assert_eq!(metrics.up.get(), 0);
        let stalled = watchdog(&spec(), never, ago(3500), &metrics);
        assert!(matches!(stalled, Some(Outcome::Failed { reason: Reason::Stalled, .. })), "{stalled:?}");
        let stalled = watchdog(&spec(), ago(4000), ago(10_000), &metrics);
        assert!(matches!(stalled, Some(Outcome::Failed { reason: Reason::Stalled, .. })), "{stalled:?}");
        assert_eq!(metrics.up.get(), 0);
    }

    #[tokio::test(start_paused = true)]
    async fn a_run_ends_when_cancelled_at_the_end_of_its_events_or_on_a_tick() {
        let cancel = CancellationToken::new();
        cancel.cancel();
        let pending = futures_util::stream::pending::<()>();
        let outcome = run_until(pending, &mut (), &cancel, |_, _, _| None, |_| None).await;
        assert!(matches!(outcome, Outcome::Cancelled));

        let cancel = CancellationToken::new();
        let events = futures_util::stream::iter([1, 2]);
        let mut seen = Vec::new();
        let on_event = |seen: &mut Vec<i32>, e: Option<i32>, _: &_| match e {
            Some(e) => {
                seen.push(e);
                None
            }
            None => Some(Outcome::Eos),
        };
        let outcome = run_until(events, &mut seen, &cancel, on_event, |_| None).await;
        assert!(matches!(outcome, Outcome::Eos));
        assert_eq!(seen, [1, 2]);

        let mut ticks = 0;
        let on_tick = |ticks: &mut u32| {
            *ticks += 1;
            (*ticks == 3).then(|| Outcome::failed(Reason::Stalled, "third tick"))
        };
        let start = tokio::time::Instant::now();
        let pending = futures_util::stream::pending::<()>();
        let outcome = run_until(pending, &mut ticks, &cancel, |_, _, _| None, on_tick).await;
        assert!(matches!(outcome, Outcome::Failed { reason: Reason::Stalled, .. }));
        assert_eq!(start.elapsed(), Duration::from_millis(500), "ticks at 0, 250 and 500 ms");
    }
}
