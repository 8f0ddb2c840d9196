use shaobing_core::{Frame, UnixMillis};
use std::collections::VecDeque;
use std::sync::Mutex;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;
use tokio::sync::Notify;

/// A mailbox between a camera and its analysis holding the newest delivery, one frame or one
/// key frame's burst: it replaces an unread one, so a slow consumer sees fresh frames and
/// memory stays bounded.
#[derive(Debug, Default)]
pub struct FrameSlot {
    frames: Mutex<VecDeque<Frame>>,
    closed: Mutex<bool>,
    notify: Notify,
    /// Capture time of the newest frame put: a camera's next run starts after it.
    last_captured: AtomicI64,
}

impl FrameSlot {
    pub fn new() -> Self {
        Self::default()
    }

    /// Stores `frame`; returns true when it replaced a frame nobody had taken (a drop).
    pub fn put(&self, frame: Frame) -> bool {
        self.put_all(vec![frame]) > 0
    }

    /// Stores frames taken one by one in this order; returns how many frames were dropped:
    /// unread ones they replaced, and those of these older than frames already put (two shared
    /// decoders can finish one camera's key frames out of order, and the analysis's clocks
    /// only go forward).
    pub fn put_all(&self, mut frames: Vec<Frame>) -> usize {
        let mut slot = self.frames.lock().unwrap_or_else(|p| p.into_inner());
        let before = frames.len();
        let floor = self.last_captured.load(Ordering::Relaxed);
        frames.retain(|f| f.captured_at.0 >= floor);
        let late = before - frames.len();
        let Some(newest) = frames.iter().map(|f| f.captured_at.0).max() else { return late };
        self.last_captured.fetch_max(newest, Ordering::Relaxed);
        let replaced = slot.len();
        *slot = frames.into();
        drop(slot);
        self.notify.notify_one();
        replaced + late
    }

    /// Capture time of the newest frame put so far.
    pub fn last_captured(&self) -> UnixMillis {
        UnixMillis(self.last_captured.load(Ordering::Relaxed))
    }

    /// Marks the source finished: `take` returns `None` once the slot is empty.
    pub fn close(&self) {
        *self.closed.lock().unwrap_or_else(|p| p.into_inner()) = true;
        self.notify.notify_one();
    }

    fn try_take(&self) -> Option<Frame> {
        self.frames.lock().unwrap_or_else(|p| p.into_inner()).pop_front()
    }

    fn is_closed(&self) -> bool {
        *self.closed.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Waits up to `timeout` for a frame. `Ok(None)` means none arrived in time; `Err(())`
    /// means the source is closed and drained.
    pub async fn take(&self, timeout: Duration) -> Result<Option<Frame>, ()> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let notified = self.notify.notified();
            if let Some(f) = self.try_take() {
                return Ok(Some(f));
            }
            if self.is_closed() {
                return Err(());
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                return Ok(None);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use shaobing_core::{CameraId, UnixMillis};

    fn frame(seq: u64) -> Frame {
        Frame {
            camera: CameraId("c".into()),
            seq,
            captured_at: UnixMillis(0),
            width: 1,
            height: 1,
            rgb: vec![0; 3].into(),
        }
    }

    #[tokio::test]
    async fn latest_frame_wins_and_drops_are_reported() {
        let slot = FrameSlot::new();
        assert!(!slot.put(frame(1)));
        assert!(slot.put(frame(2)), "an unread frame was replaced");
        let got = slot.take(Duration::from_millis(10)).await.unwrap().unwrap();
        assert_eq!(got.seq, 2);
        assert!(slot.take(Duration::from_millis(10)).await.unwrap().is_none());
        slot.put(frame(3));
        slot.close();
        assert_eq!(slot.take(Duration::from_millis(10)).await.unwrap().unwrap().seq, 3, "drained before closed");
        assert!(slot.take(Duration::from_millis(10)).await.is_err());
    }

    #[tokio::test]
    async fn a_burst_is_taken_in_order_and_replaced_whole() {
        let slot = FrameSlot::new();
        assert_eq!(slot.put_all(vec![frame(1), frame(2), frame(3)]), 0);
        assert_eq!(slot.take(Duration::from_millis(10)).await.unwrap().unwrap().seq, 1);
        assert_eq!(slot.put_all(vec![frame(4), frame(5)]), 2, "two unread frames of the last burst");
        assert_eq!(slot.take(Duration::from_millis(10)).await.unwrap().unwrap().seq, 4);
        assert_eq!(slot.take(Duration::from_millis(10)).await.unwrap().unwrap().seq, 5);
        assert!(slot.take(Duration::from_millis(10)).await.unwrap().is_none());
        let mut late = frame(6);
        late.captured_at = UnixMillis(-1);
        assert_eq!(slot.put_all(vec![late]), 1, "a burst older than what was put is dropped");
        assert!(slot.take(Duration::from_millis(10)).await.unwrap().is_none());
    }

    #[tokio::test]
    async fn take_wakes_on_put_from_another_thread() {
        let slot = std::sync::Arc::new(FrameSlot::new());
        let s2 = slot.clone();
        std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(20));
            s2.put(frame(7));
        });
        let got = slot.take(Duration::from_secs(5)).await.unwrap().unwrap();
        assert_eq!(got.seq, 7);
    }
}
