use shaobing_core::{Frame, UnixMillis};
use std::sync::Mutex;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;
use tokio::sync::Notify;

/// A one-frame mailbox between a camera and its analysis: the newest frame replaces an unread
/// one, so a slow consumer sees fresh frames and memory stays bounded.
#[derive(Debug, Default)]
pub struct FrameSlot {
    frame: Mutex<Option<Frame>>,
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
        self.last_captured.fetch_max(frame.captured_at.0, Ordering::Relaxed);
        let replaced = match self.frame.lock() {
            Ok(mut slot) => slot.replace(frame).is_some(),
            Err(poisoned) => poisoned.into_inner().replace(frame).is_some(),
        };
        self.notify.notify_one();
        replaced
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
        self.frame.lock().unwrap_or_else(|p| p.into_inner()).take()
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
