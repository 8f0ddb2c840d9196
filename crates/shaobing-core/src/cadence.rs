//! A camera's own rhythm: the usual interval between its analysed frames, learnt from the
//! frames, and how long a silence is still that rhythm rather than a gap. Everything that
//! compares frames over time (still clocks, scene breaks) judges gaps by it, so a key-frame
//! camera sending a frame every 4 s is not "gapped" at every frame.

use crate::UnixMillis;
use std::time::Duration;

/// Intervals up to this many usual ones are the source's rhythm.
pub const GAP_FRAMES: f64 = 2.5;

#[derive(Debug, Clone, Default)]
pub struct Cadence {
    last: Option<UnixMillis>,
    usual: Option<Duration>,
}

impl Cadence {
    pub fn new() -> Self {
        Self::default()
    }

    /// The usual interval, once one has been seen.
    pub fn usual(&self) -> Option<Duration> {
        self.usual
    }

    /// The longest interval that is still the rhythm: `floor`, or [`GAP_FRAMES`] usual
    /// intervals when longer.
    pub fn bound(&self, floor: Duration) -> Duration {
        floor.max(self.usual.unwrap_or_default().mul_f64(GAP_FRAMES))
    }

    /// Notes a frame at `now` and returns the interval since the previous one. An interval
    /// within `bound(floor)` teaches the usual one; a gap (a burst of dropped frames) does not.
    pub fn note(&mut self, now: UnixMillis, floor: Duration) -> Option<Duration> {
        let dt = now.since(self.last.replace(now)?);
        if self.usual.is_none() || dt <= self.bound(floor) {
            self.usual = Some(self.usual.map_or(dt, |m| m.mul_f64(0.8) + dt.mul_f64(0.2)));
        }
        Some(dt)
    }

    /// Forgets the rhythm (a new scene, a new source).
    pub fn clear(&mut self) {
        *self = Self::default();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gaps_do_not_teach_the_rhythm() {
        let mut c = Cadence::new();
        let floor = Duration::from_millis(1500);
        for s in 0..5 {
            c.note(UnixMillis(s * 500), floor);
        }
        assert_eq!(c.usual(), Some(Duration::from_millis(500)));
        assert_eq!(c.note(UnixMillis(6000), floor), Some(Duration::from_millis(4000)));
        assert_eq!(c.usual(), Some(Duration::from_millis(500)), "a 4 s burst of drops is not the rhythm");
        assert_eq!(c.bound(floor), floor);
        assert_eq!(c.bound(Duration::ZERO), Duration::from_millis(1250));
    }
}
