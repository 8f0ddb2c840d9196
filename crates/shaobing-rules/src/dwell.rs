//! Objects that stay where they must not: parked vehicles, street stalls, tricycles.
//!
//! One rule, configured per category: which kinds of object count, which zones forbid them,
//! how long they must stand still, and what else must be true (a person beside a table before
//! the table is a stall; a cargo box on a bicycle before it is a tricycle).

use crate::settings::DwellRuleSettings;
use crate::subject::{Subject, SubjectConfig, subjects};
use crate::tracker::{Track, Tracker, TrackerConfig};
use crate::{Hazard, Sighting, Zone};
use shaobing_core::{CameraId, Category, Detection, ObjectKind, Phase, UnixMillis, ZoneId};
use std::collections::HashMap;
use std::time::Duration;

/// Cells per side of the grid that names a place in the dedup key: coarse enough that an
/// object re-detected after a long occlusion lands in the same cell, fine enough that two
/// objects at different ends of a kerb are two issues.
const PLACE_GRID: f32 = 8.0;

/// How long a new track at a raised hazard's place must stand still to be that hazard again:
/// long enough that traffic passing through the cell does not keep a stale issue open.
const REACQUIRE: Duration = Duration::from_secs(10);
const REACQUIRE_HITS: u32 = 3;

#[derive(Debug, Clone)]
pub struct DwellRuleConfig {
    pub category: Category,
    /// Name of the rule in the cause, e.g. `street_vending/dwell`.
    pub rule: &'static str,
    pub subject: SubjectConfig,
    /// How long an object must stand still inside a zone before it is a hazard.
    pub dwell: Duration,
    pub stationary_iou: f32,
    /// A track unseen for this long is forgotten (occlusion, missed detections).
    pub track_timeout: Duration,
    /// A raised hazard not seen for this long is gone: the issue is resolved by observation.
    pub clear_after: Duration,
}

impl DwellRuleConfig {
    /// A dwell rule of `category` following `kinds`, as `[rules.<category>]` sets it.
    pub fn new(category: Category, rule: &'static str, kinds: Vec<ObjectKind>, s: &DwellRuleSettings) -> Self {
        Self {
            category,
            rule,
            subject: SubjectConfig {
                kinds,
                min_score: s.min_score,
                needs_companion: vec![ObjectKind::StallProxy],
                companion: vec![ObjectKind::Person],
                companion_reach: s.companion_reach,
                cargo_fallback: category == Category::UnlicensedTricycle && s.coco_fallback,
            },
            dwell: Duration::from_secs_f64(s.dwell_secs),
            stationary_iou: s.stationary_iou,
            track_timeout: Duration::from_secs_f64(s.track_timeout_secs),
            clear_after: Duration::from_secs_f64(s.clear_secs),
        }
    }
}

/// An object that may become a hazard, as of the latest frame.
#[derive(Debug, Clone, Copy)]
pub struct Dwelling<'a> {
    pub track_id: u64,
    pub zone: &'a ZoneId,
    pub detection: &'a Detection,
    pub related: &'a [Detection],
    pub still: Duration,
}

/// A raised hazard, remembered by its place rather than its track: a track lost behind a bus
/// and found again is a new track, but the same stall.
#[derive(Debug, Clone)]
struct Raised {
    last: Hazard,
    last_seen: UnixMillis,
}

#[derive(Debug)]
pub struct DwellRule {
    camera: CameraId,
    zones: Vec<Zone>,
    config: DwellRuleConfig,
    tracker: Tracker,
    /// Subject details (companions, fallback notes) of each live track.
    subjects: HashMap<u64, Subject>,
    raised: HashMap<String, Raised>,
}

impl DwellRule {
    pub fn new(camera: CameraId, zones: Vec<Zone>, config: DwellRuleConfig) -> Self {
        let tracker = Tracker::new(TrackerConfig {
            match_iou: 0.3,
            timeout: config.track_timeout,
            stationary_iou: config.stationary_iou,
        });
        Self { camera, zones, config, tracker, subjects: HashMap::new(), raised: HashMap::new() }
    }

    pub fn zones(&self) -> &[Zone] {
        &self.zones
    }

    pub fn category(&self) -> Category {
        self.config.category
    }

    pub fn rule_name(&self) -> &'static str {
        self.config.rule
    }

    /// Objects seen this frame standing in a zone, qualified, not yet raised: they may become
    /// hazards, and the analysis keeps a best shot of each so the evidence shows the object at
    /// its clearest, not whenever the clock ran out.
    pub fn pending(&self, now: UnixMillis) -> impl Iterator<Item = Dwelling<'_>> + '_ {
        self.tracker.tracks().iter().filter(move |t| t.last_seen == now).filter_map(|t| {
            let zone = self.zone_of(t)?;
            let subject = self.subjects.get(&t.id).filter(|s| s.qualified)?;
            if self.raised.contains_key(&self.dedup_key(zone, t)) {
                return None;
            }
            Some(Dwelling {
                track_id: t.id,
                zone: &zone.id,
                detection: &t.detection,
                related: &subject.related,
                still: t.stationary_for(),
            })
        })
    }

    /// Whether the rule still follows `track` (seen within the track timeout).
    pub fn is_live(&self, track: u64) -> bool {
        self.tracker.get(track).is_some()
    }

    /// Feeds one analysed frame; returns hazards opened, still standing, or cleared at `now`.
    pub fn observe(&mut self, sightings: &[Sighting], now: UnixMillis) -> Vec<Hazard> {
        let found = subjects(sightings, &self.config.subject);
        let detections: Vec<_> = found.iter().map(|s| s.detection.clone()).collect();
        let ids = self.tracker.update(&detections, now);
        self.remember_subjects(&ids, found);
        let mut hazards = Vec::new();
        for id in ids {
            if let Some(h) = self.hazard_of(id, now) {
                hazards.push(h);
            }
        }
        hazards.extend(self.cleared(now));
        hazards
    }

    fn remember_subjects(&mut self, ids: &[u64], found: Vec<Subject>) {
        for (id, mut subject) in ids.iter().zip(found) {
            // A companion seen once stays credited to the track: the vendor steps away.
            if let Some(old) = self.subjects.get(id) {
                subject.qualified |= old.qualified;
                if subject.related.is_empty() {
                    subject.related = old.related.clone();
                }
            }
            self.subjects.insert(*id, subject);
        }
        let live: Vec<u64> = self.tracker.tracks().iter().map(|t| t.id).collect();
        self.subjects.retain(|id, _| live.contains(id));
    }

    fn hazard_of(&mut self, id: u64, now: UnixMillis) -> Option<Hazard> {
        let track = self.tracker.get(id)?;
        let subject = self.subjects.get(&id).filter(|s| s.qualified)?;
        let zone = self.zone_of(track)?;
        let key = self.dedup_key(zone, track);
        let still = track.stationary_for();
        let phase = match self.raised.get(&key) {
            Some(_) if still >= self.config.dwell.min(REACQUIRE) && track.still_hits >= REACQUIRE_HITS => {
                Phase::Ongoing
            }
            None if still >= self.config.dwell => Phase::Opened,
            _ => return None,
        };
        let confidence = track.detection.score * subject.confidence_factor;
        let hazard = Hazard {
            phase,
            dedup_key: key.clone(),
            category: self.config.category,
            rule: self.config.rule,
            zone: zone.id.clone(),
            track_id: id,
            detection: track.detection.clone(),
            related: subject.related.clone(),
            note: subject.note.clone(),
            confidence,
            duration: still,
        };
        self.raised.insert(key, Raised { last: hazard.clone(), last_seen: now });
        Some(hazard)
    }

    /// Raised hazards unseen for `clear_after`: the camera sees the place empty.
    fn cleared(&mut self, now: UnixMillis) -> Vec<Hazard> {
        let clear_after = self.config.clear_after;
        let gone: Vec<String> =
            self.raised.iter().filter(|(_, r)| now.since(r.last_seen) >= clear_after).map(|(k, _)| k.clone()).collect();
        gone.into_iter()
            .filter_map(|k| self.raised.remove(&k))
            .map(|r| Hazard { phase: Phase::Cleared, duration: now.since(r.last_seen), ..r.last })
            .collect()
    }

    /// Zones are judged by the bottom centre of the resting box: where the object stands.
    fn zone_of(&self, track: &Track) -> Option<&Zone> {
        let foot = track.rest_box.bottom_centre();
        self.zones.iter().find(|z| z.polygon.contains(foot))
    }

    fn dedup_key(&self, zone: &Zone, track: &Track) -> String {
        let foot = track.rest_box.bottom_centre();
        let cell = |v: f32| ((v * PLACE_GRID) as u32).min(PLACE_GRID as u32 - 1);
        format!("{}/{}/{}/{}-{}", self.camera, zone.id, self.config.category, cell(foot.x), cell(foot.y))
    }
}

#[cfg(test)]
mod tests;
