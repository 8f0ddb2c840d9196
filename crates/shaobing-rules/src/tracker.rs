use shaobing_core::{BBox, Cadence, Detection, UnixMillis};
use std::time::Duration;

#[derive(Debug, Clone, Copy)]
pub struct TrackerConfig {
    /// Minimum IoU between a track's last box and a detection to be the same object.
    pub match_iou: f32,
    /// A track unseen for this long is forgotten.
    pub timeout: Duration,
    /// An object is stationary while its box overlaps its resting box by at least this IoU.
    pub stationary_iou: f32,
    /// Longest gap between two sightings at the resting place that counts as standing there
    /// all along (an occlusion, a missed detection). A longer gap restarts the still clock:
    /// what happened while nobody saw it is unknown, and a car passing the same spot twice
    /// has not stood still in between. Never less than the camera's own rhythm allows
    /// ([`Cadence::bound`]), so a slow camera does not restart it at every frame.
    pub max_unseen: Duration,
}

/// One object followed over frames.
#[derive(Debug, Clone, PartialEq)]
pub struct Track {
    pub id: u64,
    pub detection: Detection,
    pub first_seen: UnixMillis,
    pub last_seen: UnixMillis,
    /// Where the object came to rest; replaced when it moves away from it.
    pub rest_box: BBox,
    /// When the current still period began (the first sighting at the resting place).
    pub stationary_since: UnixMillis,
    /// Time seen standing at the resting place: the sum of gaps between sightings there, each
    /// no longer than the tracker's bound.
    pub still: Duration,
    pub hits: u32,
    /// Sightings since the object came to rest: a box seen twice ten seconds apart at one
    /// place is not yet an object standing there.
    pub still_hits: u32,
}

impl Track {
    /// How long the object has been seen standing still, as of its last sighting.
    pub fn stationary_for(&self) -> Duration {
        self.still
    }
}

/// Greedy IoU tracker. Simple on purpose: at one to a few analysed frames a second, parked and
/// slow objects overlap themselves from frame to frame, which is all this rule needs; a missed
/// detection (occlusion, a weak frame) does not end a track until `timeout` passes.
#[derive(Debug)]
pub struct Tracker {
    config: TrackerConfig,
    tracks: Vec<Track>,
    next_id: u64,
    /// The camera's rhythm, from the updates.
    cadence: Cadence,
}

impl Tracker {
    pub fn new(config: TrackerConfig) -> Self {
        Self { config, tracks: Vec::new(), next_id: 1, cadence: Cadence::new() }
    }

    pub fn tracks(&self) -> &[Track] {
        &self.tracks
    }

    /// Matches `detections` seen at `now` to tracks; returns the track id of each detection,
    /// in the order given.
    pub fn update(&mut self, detections: &[Detection], now: UnixMillis) -> Vec<u64> {
        self.cadence.note(now, self.config.max_unseen);
        let mut pairs: Vec<(f32, usize, usize)> = Vec::new();
        for (ti, t) in self.tracks.iter().enumerate() {
            for (di, d) in detections.iter().enumerate() {
                let iou = t.detection.bbox.iou(&d.bbox);
                if iou >= self.config.match_iou {
                    pairs.push((iou, ti, di));
                }
            }
        }
        pairs.sort_by(|a, b| b.0.total_cmp(&a.0));
        let mut track_used = vec![false; self.tracks.len()];
        let mut ids: Vec<Option<u64>> = vec![None; detections.len()];
        for (_, ti, di) in pairs {
            if track_used[ti] || ids[di].is_some() {
                continue;
            }
            track_used[ti] = true;
            self.refresh(ti, &detections[di], now);
            ids[di] = Some(self.tracks[ti].id);
        }
        let ids = ids.into_iter().zip(detections).map(|(id, d)| id.unwrap_or_else(|| self.spawn(d, now))).collect();
        let timeout = self.config.timeout;
        self.tracks.retain(|t| now.since(t.last_seen) <= timeout);
        ids
    }

    /// Forgets every track and the frame interval (ids keep counting).
    pub fn clear(&mut self) {
        self.tracks.clear();
        self.cadence.clear();
    }

    pub fn get(&self, id: u64) -> Option<&Track> {
        self.tracks.iter().find(|t| t.id == id)
    }

    /// The longest gap the still clock bridges.
    pub fn max_unseen(&self) -> Duration {
        self.cadence.bound(self.config.max_unseen)
    }

    fn refresh(&mut self, index: usize, d: &Detection, now: UnixMillis) {
        let (stationary_iou, bound) = (self.config.stationary_iou, self.max_unseen());
        let t = &mut self.tracks[index];
        let gap = now.since(t.last_seen);
        let moved = t.rest_box.iou(&d.bbox) < stationary_iou;
        if moved || gap > bound {
            if moved {
                t.rest_box = d.bbox;
            }
            t.stationary_since = now;
            t.still = Duration::ZERO;
            t.still_hits = 0;
        } else {
            t.still += gap;
        }
        t.still_hits += 1;
        t.detection = d.clone();
        t.last_seen = now;
        t.hits += 1;
    }

    fn spawn(&mut self, d: &Detection, now: UnixMillis) -> u64 {
        let id = self.next_id;
        self.next_id += 1;
        self.tracks.push(Track {
            id,
            detection: d.clone(),
            first_seen: now,
            last_seen: now,
            rest_box: d.bbox,
            stationary_since: now,
            still: Duration::ZERO,
            hits: 1,
            still_hits: 1,
        });
        id
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(crate) fn det(label: &str, x: f32, y: f32) -> Detection {
        Detection { class_id: 2, label: label.into(), score: 0.8, bbox: BBox::from_corners(x, y, x + 0.1, y + 0.1) }
    }

    fn tracker() -> Tracker {
        Tracker::new(TrackerConfig {
            match_iou: 0.3,
            timeout: Duration::from_secs(5),
            stationary_iou: 0.6,
            max_unseen: Duration::from_secs(3),
        })
    }

    #[test]
    fn parked_object_keeps_one_track_and_accumulates_stationary_time() {
        let mut t = tracker();
        for s in 0..10 {
            // Detector jitter of a few thousandths must not reset the stationary clock.
            let jitter = if s % 2 == 0 { 0.0 } else { 0.004 };
            t.update(&[det("car", 0.5 + jitter, 0.5)], UnixMillis(s * 1000));
        }
        assert_eq!(t.tracks().len(), 1);
        assert_eq!(t.tracks()[0].stationary_for(), Duration::from_secs(9));
        assert_eq!(t.tracks()[0].hits, 10);
    }

    #[test]
    fn moving_object_is_never_stationary_for_long() {
        let mut t = tracker();
        for s in 0..10 {
            t.update(&[det("car", 0.1 + s as f32 * 0.03, 0.5)], UnixMillis(s * 1000));
        }
        assert_eq!(t.tracks().len(), 1, "overlapping steps stay one track");
        assert!(t.tracks()[0].stationary_for() <= Duration::from_secs(2));
    }

    #[test]
    fn short_gap_keeps_the_track_long_gap_ends_it() {
        let mut t = tracker();
        for s in 0..3 {
            t.update(&[det("car", 0.5, 0.5)], UnixMillis(s * 1000));
        }
        t.update(&[], UnixMillis(4000));
        t.update(&[det("car", 0.5, 0.5)], UnixMillis(5000));
        assert_eq!(t.tracks()[0].id, 1);
        assert_eq!(t.tracks()[0].stationary_for(), Duration::from_secs(5), "a 3 s occlusion is bridged");
        t.update(&[], UnixMillis(11_000));
        assert!(t.tracks().is_empty());
        t.update(&[det("car", 0.5, 0.5)], UnixMillis(12_000));
        assert_eq!(t.tracks()[0].id, 2);
    }

    #[test]
    fn time_unseen_is_never_time_standing_still() {
        let mut t = tracker();
        // A car passes a spot, is gone for 4 s (beyond the 3 s bound at one frame a second,
        // inside the track timeout), and another pass puts a box at the same spot.
        t.update(&[det("car", 0.5, 0.5)], UnixMillis(0));
        t.update(&[], UnixMillis(1000));
        t.update(&[], UnixMillis(2000));
        t.update(&[], UnixMillis(3000));
        t.update(&[det("car", 0.5, 0.5)], UnixMillis(4000));
        assert_eq!(t.tracks()[0].stationary_for(), Duration::ZERO, "seen twice is not standing for 4 s");
        t.update(&[det("car", 0.5, 0.5)], UnixMillis(5000));
        assert_eq!(t.tracks()[0].stationary_for(), Duration::from_secs(1));
    }

    #[test]
    fn a_slow_camera_bridges_its_own_frame_interval() {
        let mut t = tracker();
        // Key frames every 4 s: longer than the 3 s bound, but one frame interval.
        for s in 0..6 {
            t.update(&[det("car", 0.5, 0.5)], UnixMillis(s * 4000));
        }
        assert_eq!(t.tracks()[0].stationary_for(), Duration::from_secs(20));
    }

    #[test]
    fn two_objects_two_tracks() {
        let mut t = tracker();
        t.update(&[det("car", 0.1, 0.1), det("car", 0.6, 0.6)], UnixMillis(0));
        let ids = t.update(&[det("car", 0.6, 0.6), det("car", 0.1, 0.1)], UnixMillis(1000));
        assert_eq!(t.tracks().len(), 2);
        assert_eq!(ids, vec![2, 1], "ids follow the order of the detections");
    }
}
