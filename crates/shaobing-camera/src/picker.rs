//! The choice of analysed frames, shared by pipelines and retina sessions.

use gstreamer as gst;

/// Chooses analysed frames by presentation time, so the rate holds whether the source runs
/// live or faster than real time.
#[derive(Debug)]
pub(crate) struct FramePicker {
    interval: gst::ClockTime,
    next_due: Option<gst::ClockTime>,
}

impl FramePicker {
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

/// Key-frame mode's choice of compressed frames: due key frames, each with the frames that
/// follow it up to a burst of `burst`. Delta frames stop here, before any parser or decoder.
#[derive(Debug)]
pub(crate) struct KeyFrameGate {
    picker: FramePicker,
    burst: usize,
    following: usize,
}

impl KeyFrameGate {
    pub fn new(fps: f64, burst: usize) -> Self {
        Self { picker: FramePicker::new(fps), burst: burst.max(1), following: 0 }
    }

    /// Whether a compressed frame goes on to the decoders. `pts` is asked only of key frames.
    pub fn admit(&mut self, key: bool, pts: impl FnOnce() -> Option<gst::ClockTime>) -> bool {
        if key {
            let due = self.picker.admit(pts());
            self.following = if due { self.burst - 1 } else { 0 };
            return due;
        }
        let follows = self.following > 0;
        self.following = self.following.saturating_sub(1);
        follows
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_due_key_frame_brings_its_burst_and_nothing_more() {
        let mut gate = KeyFrameGate::new(1.0, 3);
        // 25 frames/s, a key frame every 12 frames (0.48 s): due at 0 s and 1.44 s.
        let admitted: Vec<u64> = (0..50u64).filter(|i| gate.admit(i % 12 == 0, || ms(i * 40))).collect();
        assert_eq!(admitted, [0, 1, 2, 36, 37, 38]);
        let mut single = KeyFrameGate::new(1.0, 1);
        let admitted: Vec<u64> = (0..50u64).filter(|i| single.admit(i % 12 == 0, || ms(i * 40))).collect();
        assert_eq!(admitted, [0, 36]);
    }

    fn ms(ms: u64) -> Option<gst::ClockTime> {
        Some(gst::ClockTime::from_mseconds(ms))
    }

    #[test]
    fn admits_at_the_configured_rate_and_resynchronises_after_a_restart() {
        let mut gate = FramePicker::new(5.0);
        let admitted: Vec<u64> = (0..25).map(|i| i * 40).filter(|&t| gate.admit(ms(t))).collect();
        assert_eq!(admitted, [0, 200, 400, 600, 800]);
        assert!(gate.admit(ms(10)), "a timestamp far behind the schedule is a new stream");
        assert!(!gate.admit(ms(50)));
        assert!(gate.admit(None), "a frame without a timestamp cannot be scheduled: it passes");
    }
}
