use crate::tracker::{Track, Tracker, TrackerConfig};
use shaobing_core::{CameraId, Category, Detection, Polygon, UnixMillis, ZoneId};
use std::collections::HashMap;
use std::time::Duration;

/// Cells per side of the grid that names a place in the dedup key: coarse enough that a
/// vehicle re-detected after a long occlusion lands in the same cell, fine enough that two
/// vehicles at different ends of a kerb are two issues.
const PLACE_GRID: f32 = 8.0;

/// Overlap above which two vehicle detections of any class are the same object.
const SAME_OBJECT_IOU: f32 = 0.6;

#[derive(Debug, Clone)]
pub struct ParkingRuleConfig {
    pub dwell: Duration,
    pub min_score: f32,
    pub vehicle_classes: Vec<String>,
    pub stationary_iou: f32,
    pub track_timeout: Duration,
}

/// A no-parking zone of one camera.
#[derive(Debug, Clone)]
pub struct Zone {
    pub id: ZoneId,
    pub polygon: Polygon,
}

/// Whether a hazard was just raised or is a continued sighting of a raised one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HazardPhase {
    Opened,
    Ongoing,
}

/// A vehicle that has stood in a no-parking zone for longer than the dwell time.
#[derive(Debug, Clone, PartialEq)]
pub struct Hazard {
    pub phase: HazardPhase,
    pub dedup_key: String,
    pub category: Category,
    pub zone: ZoneId,
    pub track_id: u64,
    pub detection: Detection,
    pub stationary_for: Duration,
}

/// 机动车乱停放: a motor vehicle stationary inside a no-parking zone for longer than the
/// dwell time is one hazard, raised once and then reported as ongoing.
#[derive(Debug)]
pub struct ParkingRule {
    camera: CameraId,
    zones: Vec<Zone>,
    config: ParkingRuleConfig,
    tracker: Tracker,
    /// Tracks already raised, with the key they were raised under.
    raised: HashMap<u64, String>,
}

impl ParkingRule {
    pub fn new(camera: CameraId, zones: Vec<Zone>, config: ParkingRuleConfig) -> Self {
        let tracker = Tracker::new(TrackerConfig {
            match_iou: 0.3,
            timeout: config.track_timeout,
            stationary_iou: config.stationary_iou,
        });
        Self { camera, zones, config, tracker, raised: HashMap::new() }
    }

    pub fn zones(&self) -> &[Zone] {
        &self.zones
    }

    /// Feeds one analysed frame's detections; returns the hazards standing at `now`.
    pub fn observe(&mut self, detections: &[Detection], now: UnixMillis) -> Vec<Hazard> {
        let vehicles = self.vehicles(detections);
        let seen = self.tracker.update(&vehicles, now);
        let live: Vec<u64> = self.tracker.tracks().iter().map(|t| t.id).collect();
        self.raised.retain(|id, _| live.contains(id));
        let mut hazards = Vec::new();
        for track in self.tracker.tracks().iter().filter(|t| seen.contains(&t.id)) {
            if track.stationary_for() < self.config.dwell {
                continue;
            }
            let Some(zone) = self.zone_of(track) else { continue };
            let (phase, dedup_key) = match self.raised.get(&track.id) {
                Some(key) => (HazardPhase::Ongoing, key.clone()),
                None => (HazardPhase::Opened, self.dedup_key(zone, track)),
            };
            hazards.push(Hazard {
                phase,
                dedup_key,
                category: Category::IllegalParking,
                zone: zone.id.clone(),
                track_id: track.id,
                detection: track.detection.clone(),
                stationary_for: track.stationary_for(),
            });
        }
        for h in hazards.iter().filter(|h| h.phase == HazardPhase::Opened) {
            self.raised.insert(h.track_id, h.dedup_key.clone());
        }
        hazards
    }

    /// Vehicles above the score floor, one per object: a detector often calls the same van
    /// `truck` and `car` with overlapping boxes, which must not become two tracks.
    fn vehicles(&self, detections: &[Detection]) -> Vec<Detection> {
        let mut candidates: Vec<&Detection> = detections
            .iter()
            .filter(|d| d.score >= self.config.min_score && self.config.vehicle_classes.contains(&d.label))
            .collect();
        candidates.sort_by(|a, b| b.score.total_cmp(&a.score));
        let mut kept: Vec<Detection> = Vec::with_capacity(candidates.len());
        for d in candidates {
            if kept.iter().all(|k| k.bbox.iou(&d.bbox) <= SAME_OBJECT_IOU) {
                kept.push(d.clone());
            }
        }
        kept
    }

    /// Zones are judged by the bottom centre of the resting box: where the vehicle stands.
    fn zone_of(&self, track: &Track) -> Option<&Zone> {
        let foot = track.rest_box.bottom_centre();
        self.zones.iter().find(|z| z.polygon.contains(foot))
    }

    fn dedup_key(&self, zone: &Zone, track: &Track) -> String {
        let foot = track.rest_box.bottom_centre();
        let cell = |v: f32| ((v * PLACE_GRID) as u32).min(PLACE_GRID as u32 - 1);
        format!("{}/{}/{}/{}-{}", self.camera, zone.id, Category::IllegalParking, cell(foot.x), cell(foot.y))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use shaobing_core::{BBox, Point};

    fn rule(dwell_secs: u64) -> ParkingRule {
        let polygon = Polygon::new(vec![
            Point { x: 0.5, y: 0.0 },
            Point { x: 1.0, y: 0.0 },
            Point { x: 1.0, y: 0.5 },
            Point { x: 0.5, y: 0.5 },
        ])
        .unwrap();
        ParkingRule::new(
            CameraId("cam".into()),
            vec![Zone { id: ZoneId("kerb".into()), polygon }],
            ParkingRuleConfig {
                dwell: Duration::from_secs(dwell_secs),
                min_score: 0.3,
                vehicle_classes: vec!["car".into(), "truck".into()],
                stationary_iou: 0.6,
                track_timeout: Duration::from_secs(10),
            },
        )
    }

    fn det(label: &str, score: f32, x1: f32, y1: f32, x2: f32, y2: f32) -> Detection {
        Detection { class_id: 2, label: label.into(), score, bbox: BBox::from_corners(x1, y1, x2, y2) }
    }

    fn van() -> Detection {
        det("truck", 0.7, 0.8, 0.1, 0.9, 0.2)
    }

    #[test]
    fn parked_van_raises_once_after_dwell_then_ongoing() {
        let mut r = rule(20);
        let mut phases = Vec::new();
        for s in 0..60 {
            for h in r.observe(&[van()], UnixMillis(s * 1000)) {
                phases.push((s, h.phase, h.dedup_key));
            }
        }
        assert_eq!(phases[0].0, 20, "raised exactly when the dwell time is reached");
        assert_eq!(phases[0].1, HazardPhase::Opened);
        assert_eq!(phases.iter().filter(|p| p.1 == HazardPhase::Opened).count(), 1);
        assert!(phases.iter().all(|p| p.2 == "cam/kerb/illegal_parking/6-1"), "{:?}", phases[0]);
        assert_eq!(phases.len(), 40);
    }

    #[test]
    fn label_flicker_and_short_occlusion_do_not_reset_or_duplicate() {
        let mut r = rule(20);
        let mut opened = 0;
        for s in 0..60 {
            let frame = match s % 7 {
                0 => vec![],                                      // missed detection
                3 => vec![det("car", 0.5, 0.805, 0.1, 0.9, 0.2)], // label flicker + jitter
                _ => vec![van()],
            };
            opened += r.observe(&frame, UnixMillis(s * 1000)).iter().filter(|h| h.phase == HazardPhase::Opened).count();
        }
        assert_eq!(opened, 1);
    }

    #[test]
    fn outside_zone_moving_or_weak_or_not_a_vehicle_never_raise() {
        let mut r = rule(5);
        for s in 0..30 {
            let x = 0.5 + s as f32 * 0.02; // drives along the kerb
            let frame = [
                det("car", 0.8, 0.1, 0.6, 0.2, 0.7),      // parked outside the zone
                det("truck", 0.8, x, 0.1, x + 0.08, 0.2), // moving inside
                det("car", 0.1, 0.7, 0.2, 0.8, 0.3),      // too weak
                det("person", 0.9, 0.6, 0.3, 0.65, 0.45), // not a vehicle
            ];
            assert!(r.observe(&frame, UnixMillis(s * 1000)).is_empty(), "second {s}");
        }
    }

    #[test]
    fn one_vehicle_called_two_classes_is_one_track() {
        let mut r = rule(0);
        let both = [van(), det("car", 0.5, 0.801, 0.1, 0.9, 0.201)];
        let hazards = r.observe(&both, UnixMillis(0));
        assert_eq!(hazards.len(), 1);
        assert_eq!(hazards[0].detection.label, "truck", "the higher score names the object");
    }

    #[test]
    fn zone_judged_by_bottom_centre() {
        let mut r = rule(0);
        // Roof inside the zone, wheels below its edge at y=0.5: not parked in the zone.
        assert!(r.observe(&[det("car", 0.9, 0.6, 0.4, 0.7, 0.6)], UnixMillis(0)).is_empty());
        // Wheels inside: raised at once with a zero dwell.
        assert_eq!(r.observe(&[det("car", 0.9, 0.6, 0.3, 0.7, 0.45)], UnixMillis(0)).len(), 1);
    }
}
