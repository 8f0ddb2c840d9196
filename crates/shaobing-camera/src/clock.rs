//! When a frame was taken, from the stream's own timestamps.
//!
//! Rules time dwells, confirmations and clearing on `Frame::captured_at`. Reading the wall
//! clock when a frame reaches the appsink would make those durations depend on how fast the
//! box decodes: a recorded clip analysed faster than real time would compress every dwell
//! ("flame seen for 0 s"), a loaded box would stretch them. So a run anchors the first
//! frame's presentation time to the wall clock and every later frame is that anchor plus its
//! presentation time since: the same clip gives the same clocks at any speed.
//!
//! Live sources follow the wall clock in the long run: a camera's clock drifts against ours
//! and a stream can jump (a camera restarted mid-session), so when stream time and wall time
//! part by more than [`LIVE_DRIFT`] the anchor is moved to now. A file is never re-anchored.
//! Times never go backwards, across runs too: a restarted run starts after the last frame.

use gstreamer as gst;
use shaobing_core::UnixMillis;

/// How far a live stream's time may part from the wall clock before it is re-anchored: more
/// than a jitter buffer and a slow decode, less than any rule's interest.
const LIVE_DRIFT_MS: i64 = 2_000;

#[derive(Debug)]
pub(crate) struct StreamClock {
    live: bool,
    /// Wall time (ms) of the anchor frame and its presentation time (ns).
    anchor: Option<(i64, u64)>,
    /// The last time handed out: the next is later.
    last: i64,
    /// Where a file's time starts, whatever the wall clock says.
    origin: Option<i64>,
}

impl StreamClock {
    /// A clock for a run whose frames must come after `after` (the camera's last frame).
    pub fn new(live: bool, after: UnixMillis) -> Self {
        Self { live, anchor: None, last: after.0, origin: None }
    }

    /// A file's clock whose first frame is at `start`: a clip's times do not depend on when
    /// or how fast it is decoded.
    pub fn starting_at(start: UnixMillis) -> Self {
        Self { live: false, anchor: None, last: start.0 - 1, origin: Some(start.0) }
    }

    /// Whether `uri` is a live source (a camera) rather than a file played as fast as it decodes.
    pub fn is_live(uri: &str) -> bool {
        !uri.starts_with("file:")
    }

    /// The capture time of the frame presented at `pts` (now when the stream gives none).
    pub fn stamp(&mut self, pts: Option<gst::ClockTime>) -> UnixMillis {
        self.stamp_at(pts.map(gst::ClockTime::nseconds), UnixMillis::now().0)
    }

    fn stamp_at(&mut self, pts: Option<u64>, now: i64) -> UnixMillis {
        let Some(pts) = pts else { return self.hand_out(now) };
        let first = self.origin.unwrap_or(now).max(self.last + 1);
        let (wall, base) = *self.anchor.get_or_insert((first, pts));
        let offset_ms = (i128::from(pts) - i128::from(base)) / 1_000_000;
        let mut t = wall.saturating_add(i64::try_from(offset_ms).unwrap_or(i64::MAX));
        let drifted = self.live && (t - now).abs() > LIVE_DRIFT_MS;
        // A stream that jumps back (a new segment, a file looped inside one run) restarts
        // its clock after the last frame rather than rewinding the rules.
        if drifted || t <= self.last {
            let wall = if drifted { now.max(self.last + 1) } else { self.last + 1 };
            self.anchor = Some((wall, pts));
            t = wall;
        }
        self.hand_out(t)
    }

    fn hand_out(&mut self, t: i64) -> UnixMillis {
        self.last = t.max(self.last + 1);
        UnixMillis(self.last)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: u64 = 1_000_000_000;

    #[test]
    fn a_file_runs_on_its_own_time_however_fast_it_decodes() {
        let mut clock = StreamClock::new(false, UnixMillis(0));
        // Thirty frames of a 10 frames/s clip decoded within 5 ms of wall time.
        let stamps: Vec<i64> = (0..30).map(|i| clock.stamp_at(Some(i * S / 10), 1_000 + i as i64 / 6).0).collect();
        assert_eq!(stamps[0], 1_000);
        assert_eq!(stamps[29] - stamps[0], 2_900, "2.9 s of stream, whatever the wall clock did");
    }

    #[test]
    fn a_live_stream_follows_the_wall_clock_when_it_drifts_or_jumps() {
        let mut clock = StreamClock::new(true, UnixMillis(0));
        assert_eq!(clock.stamp_at(Some(0), 10_000).0, 10_000);
        assert_eq!(clock.stamp_at(Some(S), 11_050).0, 11_000, "small drift: stream time");
        // The camera's clock jumps an hour ahead: re-anchored to now.
        assert_eq!(clock.stamp_at(Some(3_600 * S), 12_000).0, 12_000);
        assert_eq!(clock.stamp_at(Some(3_601 * S), 13_000).0, 13_000);
    }

    #[test]
    fn times_never_go_back_within_or_across_runs() {
        let mut clock = StreamClock::new(false, UnixMillis(0));
        let a = clock.stamp_at(Some(50 * S), 1_000);
        let b = clock.stamp_at(Some(0), 1_001); // looped back inside the run
        assert!(b > a);
        let c = clock.stamp_at(Some(S), 1_002);
        assert_eq!(c.0 - b.0, 1_000, "then stream time again from the new anchor");
        // A restarted run of a clip played faster than real time starts after its last frame.
        let mut next = StreamClock::new(false, c);
        assert!(next.stamp_at(Some(0), 1_003) > c);
        assert!(clock.stamp_at(None, 0) > c, "no timestamp: now, but never before the last");
    }
}
