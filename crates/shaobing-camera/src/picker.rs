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

#[cfg(test)]
mod tests {
    use super::*;

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
