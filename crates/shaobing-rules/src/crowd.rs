//! 人群聚集: more people standing in a watched zone than it safely holds, for a while.
//!
//! People are counted, not tracked: in a crowd boxes merge and split from frame to frame, and
//! what matters is how many there are. The clock runs while the count stays at or above the
//! threshold, bridging dips shorter than the occlusion bound (people hidden behind each
//! other); one issue per zone, cleared once the zone has held no crowd for `clear_secs`.

use crate::settings::CrowdRuleSettings;
use crate::subject::union;
use crate::window::exempt;
use crate::{Hazard, Sighting, Zone};
use shaobing_core::{BBox, CameraId, Category, Detection, ObjectKind, Phase, UnixMillis};
use std::collections::HashMap;
use std::time::Duration;

/// One zone's crowd, as of the latest frame.
#[derive(Debug, Clone, Default)]
struct Crowding {
    /// When the zone last began to hold a crowd, and when it last did.
    since: Option<UnixMillis>,
    last_crowded: Option<UnixMillis>,
    raised: Option<Hazard>,
}

#[derive(Debug)]
pub struct CrowdRule {
    camera: CameraId,
    zones: Vec<Zone>,
    settings: CrowdRuleSettings,
    state: HashMap<usize, Crowding>,
}

impl CrowdRule {
    pub fn new(camera: CameraId, zones: Vec<Zone>, settings: CrowdRuleSettings) -> Self {
        Self { camera, zones, settings, state: HashMap::new() }
    }

    pub fn zones(&self) -> &[Zone] {
        &self.zones
    }

    /// Feeds one analysed frame; returns crowds opened, still standing, or cleared at `now`.
    pub fn observe(&mut self, sightings: &[Sighting], now: UnixMillis) -> Vec<Hazard> {
        let mut out = Vec::new();
        for i in 0..self.zones.len() {
            let people = self.people_in(i, sightings, now);
            out.extend(self.step(i, people, now));
        }
        out
    }

    /// The people standing in zone `i` (none outside its hours).
    fn people_in(&self, i: usize, sightings: &[Sighting], now: UnixMillis) -> Vec<Detection> {
        let zone = &self.zones[i];
        if exempt(&self.settings.exempt, now) || exempt(&zone.exempt, now) {
            return Vec::new();
        }
        sightings
            .iter()
            .filter(|s| s.kind == ObjectKind::Person && s.detection.score >= self.settings.min_score)
            .filter(|s| zone.polygon.contains(s.detection.bbox.bottom_centre()))
            .map(|s| s.detection.clone())
            .collect()
    }

    fn step(&mut self, i: usize, people: Vec<Detection>, now: UnixMillis) -> Option<Hazard> {
        let s = &self.settings;
        let (dwell, occlusion) = (Duration::from_secs_f64(s.dwell_secs), Duration::from_secs_f64(s.occlusion_secs));
        let clear_after = Duration::from_secs_f64(s.clear_secs);
        let crowded = people.len() >= s.min_people;
        let state = self.state.entry(i).or_default();
        if !crowded {
            let quiet = state.last_crowded.map(|t| now.since(t));
            if quiet.is_some_and(|q| q > occlusion) {
                state.since = None;
            }
            if quiet.is_some_and(|q| q >= clear_after) {
                let raised = state.raised.take()?;
                return Some(Hazard { phase: Phase::Cleared, duration: quiet.unwrap_or_default(), ..raised });
            }
            return None;
        }
        let since = *state.since.get_or_insert(now);
        state.last_crowded = Some(now);
        let lasted = now.since(since);
        let phase = match &state.raised {
            Some(_) => Phase::Ongoing,
            None if lasted >= dwell => Phase::Opened,
            None => return None,
        };
        let hazard = self.hazard(i, phase, people, lasted);
        self.state.entry(i).or_default().raised = Some(hazard.clone());
        Some(hazard)
    }

    fn hazard(&self, i: usize, phase: Phase, people: Vec<Detection>, lasted: Duration) -> Hazard {
        let zone = &self.zones[i];
        let bbox = people
            .iter()
            .map(|d| d.bbox)
            .reduce(|a, b| union(&a, &b))
            .unwrap_or(BBox::from_corners(0.0, 0.0, 0.0, 0.0));
        let score = people.iter().map(|d| d.score).sum::<f32>() / people.len().max(1) as f32;
        Hazard {
            phase,
            dedup_key: format!("{}/{}/{}", self.camera, zone.id, Category::CrowdGathering),
            category: Category::CrowdGathering,
            rule: "crowd_gathering/count",
            zone: zone.id.clone(),
            track_id: 0,
            detection: Detection { class_id: 0, label: format!("crowd of {}", people.len()), score, bbox },
            note: Some(format!("{} people in the zone (threshold {})", people.len(), self.settings.min_people)),
            related: people,
            confidence: score,
            duration: lasted,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use shaobing_core::{Point, Polygon, ZoneId};

    fn square() -> Zone {
        let p = |x, y| Point { x, y };
        let polygon = Polygon::new(vec![p(0.0, 0.5), p(1.0, 0.5), p(1.0, 1.0), p(0.0, 1.0)]).unwrap();
        Zone { id: ZoneId("square".into()), polygon, exempt: Vec::new() }
    }

    fn people(n: usize) -> Vec<Sighting> {
        (0..n)
            .map(|i| {
                let x = 0.05 + 0.06 * i as f32;
                let bbox = BBox::from_corners(x, 0.6, x + 0.04, 0.8);
                Sighting {
                    kind: ObjectKind::Person,
                    detection: Detection { class_id: 0, label: "person".into(), score: 0.8, bbox },
                }
            })
            .collect()
    }

    fn rule() -> CrowdRule {
        let settings = CrowdRuleSettings { min_people: 10, dwell_secs: 30.0, clear_secs: 60.0, ..Default::default() };
        CrowdRule::new(CameraId("cam".into()), vec![square()], settings)
    }

    fn run(rule: &mut CrowdRule, secs: std::ops::Range<i64>, n: impl Fn(i64) -> usize) -> Vec<(i64, Phase)> {
        secs.flat_map(|s| rule.observe(&people(n(s)), UnixMillis(s * 1000)).into_iter().map(move |h| (s, h.phase)))
            .collect()
    }

    #[test]
    fn a_crowd_that_stays_is_one_issue_then_cleared() {
        let mut r = rule();
        // Twelve people, one hidden now and then (a dip to 9 for a second).
        let events = run(&mut r, 0..200, |s| match s {
            0..100 if s % 7 == 3 => 9,
            0..100 => 12,
            _ => 2,
        });
        let opened: Vec<i64> = events.iter().filter(|e| e.1 == Phase::Opened).map(|e| e.0).collect();
        assert_eq!(opened, vec![30]);
        let cleared: Vec<i64> = events.iter().filter(|e| e.1 == Phase::Cleared).map(|e| e.0).collect();
        assert_eq!(cleared, vec![159], "60 s after the last crowded frame");
    }

    #[test]
    fn a_passing_group_or_a_few_people_are_no_crowd() {
        let mut r = rule();
        // A tour group of 12 crosses in 20 s, then a few people linger.
        assert!(run(&mut r, 0..300, |s| if s < 20 { 12 } else { 4 }).is_empty());
        // Crowded 20 s, thin 10 s, crowded 20 s: the gap restarts the clock.
        let mut r = rule();
        assert!(run(&mut r, 0..50, |s| if (20..30).contains(&s) { 3 } else { 12 }).is_empty());
    }
}
