//! Objects that stay where they must not: parked vehicles, street stalls, tricycles.
//!
//! One rule, configured per category: which kinds of object count, which zones forbid them,
//! how long they must stand still, and what else must be true (a person beside a table before
//! the table is a stall; a cargo box on a bicycle before it is a tricycle).

use crate::settings::DwellRuleSettings;
use crate::subject::{Subject, SubjectConfig, subjects};
use crate::tracker::{Track, Tracker, TrackerConfig};
use crate::window::exempt;
use crate::{Hazard, Sighting, TimeWindow, Zone};
use shaobing_core::{BBox, CameraId, Category, Detection, ObjectKind, Phase, UnixMillis, ZoneId};
use std::collections::HashMap;
use std::time::Duration;

/// Two resting boxes are one place (one hazard) when they overlap by this IoU: an object
/// re-detected after an occlusion, with a slightly different box.
const SAME_PLACE_IOU: f32 = 0.3;
/// ... or when this share of the smaller box lies inside the larger: a second, nested box on
/// the same vehicle (its cab, its front half).
const SAME_PLACE_NESTED: f32 = 0.7;
/// Cells per side of the grid that names a new hazard's place in its key.
const KEY_GRID: f32 = 16.0;

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
    /// The longest gap between sightings that still counts as standing there.
    pub occlusion: Duration,
    /// A raised hazard not seen for this long is gone: the issue is resolved by observation.
    pub clear_after: Duration,
    /// Hours when the rule does not apply anywhere.
    pub exempt: Vec<TimeWindow>,
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
                // Something new with a person beside it is a stall; elsewhere it is clutter.
                needs_companion: match category {
                    Category::StreetVending => vec![ObjectKind::StallProxy, ObjectKind::NewObject],
                    _ => vec![ObjectKind::StallProxy],
                },
                companion: vec![ObjectKind::Person],
                companion_reach: s.companion_reach,
                cargo_fallback: category == Category::UnlicensedTricycle && s.coco_fallback,
                explained_by: match category {
                    Category::StreetClutter => vec![ObjectKind::Person, ObjectKind::Vehicle, ObjectKind::Cycle],
                    _ => vec![ObjectKind::Person, ObjectKind::Vehicle],
                },
            },
            dwell: Duration::from_secs_f64(s.dwell_secs),
            stationary_iou: s.stationary_iou,
            track_timeout: Duration::from_secs_f64(s.track_timeout_secs),
            occlusion: Duration::from_secs_f64(s.occlusion_secs),
            clear_after: Duration::from_secs_f64(s.clear_secs),
            exempt: s.exempt.clone(),
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
    /// When its current still period began: a snapshot from an earlier period (the same
    /// track before it moved) is not evidence of this one.
    pub since: UnixMillis,
}

/// A raised hazard, remembered by its place rather than its track: a track lost behind a bus
/// and found again is a new track, but the same stall.
#[derive(Debug, Clone)]
struct Raised {
    last: Hazard,
    last_seen: UnixMillis,
    /// Where the object rested when the hazard was raised: the hazard's place.
    place: BBox,
}

/// Whether two resting boxes are the same place: overlapping, or one nested in the other.
fn same_place(a: &BBox, b: &BBox) -> bool {
    a.iou(b) >= SAME_PLACE_IOU || a.nested(b) >= SAME_PLACE_NESTED
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
    /// The last frame at which each zone was outside its hours: its dwell counts from then,
    /// so a stall permitted until 22:00 has the whole dwell to pack up after it.
    last_exempt: HashMap<ZoneId, UnixMillis>,
}

impl DwellRule {
    pub fn new(camera: CameraId, zones: Vec<Zone>, config: DwellRuleConfig) -> Self {
        let tracker = Tracker::new(TrackerConfig {
            match_iou: 0.3,
            timeout: config.track_timeout,
            stationary_iou: config.stationary_iou,
            max_unseen: config.occlusion,
        });
        let (subjects, raised, last_exempt) = (HashMap::new(), HashMap::new(), HashMap::new());
        Self { camera, zones, config, tracker, subjects, raised, last_exempt }
    }

    pub fn config(&self) -> &DwellRuleConfig {
        &self.config
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
        self.tracker.tracks().iter().filter(move |t| t.last_seen == now).filter_map(move |t| {
            let zone = self.zone_of(t, now)?;
            let subject = self.subjects.get(&t.id).filter(|s| s.qualified)?;
            if self.raised_at(zone, t).is_some() {
                return None;
            }
            Some(Dwelling {
                track_id: t.id,
                zone: &zone.id,
                detection: &t.detection,
                related: &subject.related,
                still: t.stationary_for(),
                since: t.stationary_since,
            })
        })
    }

    /// Whether the rule still follows `track` (seen within the track timeout).
    pub fn is_live(&self, track: u64) -> bool {
        self.tracker.get(track).is_some()
    }

    /// How long an object must stand still before it is raised.
    pub fn dwell(&self) -> Duration {
        self.config.dwell
    }

    /// After a scene break (a cut, a pan, a gap): every object is followed afresh and every
    /// still clock starts over. Raised hazards stay: they are found again by their place.
    pub fn restart(&mut self) {
        self.tracker.clear();
        self.subjects.clear();
    }

    /// Feeds one analysed frame; returns hazards opened, still standing, or cleared at `now`.
    pub fn observe(&mut self, sightings: &[Sighting], now: UnixMillis) -> Vec<Hazard> {
        self.note_exemptions(now);
        let found = subjects(sightings, &self.config.subject);
        let detections: Vec<_> = found.iter().map(|s| s.detection.clone()).collect();
        let ids = self.tracker.update(&detections, now);
        self.remember_subjects(&ids, found, now);
        let mut hazards = Vec::new();
        for id in ids {
            if let Some(h) = self.hazard_of(id, now) {
                hazards.push(h);
            }
        }
        hazards.extend(self.cleared(now));
        hazards
    }

    fn remember_subjects(&mut self, ids: &[u64], found: Vec<Subject>, now: UnixMillis) {
        for (id, mut subject) in ids.iter().zip(found) {
            // A companion beside it often enough stays credited to the track: the vendor
            // steps away to serve; a passer-by now and then is no vendor.
            let old = self.subjects.get(id);
            if subject.attended.is_some() {
                let before = old.and_then(|o| o.attended.clone()).unwrap_or_default();
                let companions: Vec<BBox> =
                    subject.related.iter().filter(|_| subject.qualified).map(|d| d.bbox).collect();
                let attendance = before.then(&companions, now);
                subject.qualified = attendance.attended;
                subject.attended = Some(attendance);
            }
            if let Some(old) = old
                && subject.related.is_empty()
            {
                subject.related = old.related.clone();
            }
            self.subjects.insert(*id, subject);
        }
        let live: Vec<u64> = self.tracker.tracks().iter().map(|t| t.id).collect();
        self.subjects.retain(|id, _| live.contains(id));
    }

    fn hazard_of(&mut self, id: u64, now: UnixMillis) -> Option<Hazard> {
        let track = self.tracker.get(id)?;
        let subject = self.subjects.get(&id).filter(|s| s.qualified)?;
        let zone = self.zone_of(track, now)?;
        let raised = self.raised_at(zone, track).map(str::to_owned);
        let applies = self.last_exempt.get(&zone.id).map_or(Duration::MAX, |t| now.since(*t));
        let still = track.stationary_for().min(applies);
        let phase = match raised {
            Some(_) if still >= self.config.dwell.min(REACQUIRE) && track.still_hits >= REACQUIRE_HITS => {
                Phase::Ongoing
            }
            None if still >= self.config.dwell => Phase::Opened,
            _ => return None,
        };
        let place = raised.as_ref().and_then(|k| self.raised.get(k)).map_or(track.rest_box, |r| r.place);
        let key = raised.unwrap_or_else(|| self.dedup_key(zone, track));
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
        self.raised.insert(key, Raised { last: hazard.clone(), last_seen: now, place });
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

    fn note_exemptions(&mut self, now: UnixMillis) {
        let all = exempt(&self.config.exempt, now);
        for z in self.zones.iter().filter(|z| all || exempt(&z.exempt, now)) {
            self.last_exempt.insert(z.id.clone(), now);
        }
    }

    /// The zone a track stands in, judged by the bottom centre of its resting box. Outside
    /// its hours a zone (or the whole rule) forbids nothing: an object there is followed but
    /// never dwells.
    fn zone_of(&self, track: &Track, now: UnixMillis) -> Option<&Zone> {
        if exempt(&self.config.exempt, now) {
            return None;
        }
        let foot = track.rest_box.bottom_centre();
        self.zones.iter().find(|z| z.polygon.contains(foot) && !exempt(&z.exempt, now))
    }

    /// The key of the raised hazard in `zone` whose place `track` rests at, if any.
    fn raised_at(&self, zone: &Zone, track: &Track) -> Option<&str> {
        self.raised
            .iter()
            .filter(|(_, r)| r.last.zone == zone.id && same_place(&r.place, &track.rest_box))
            .max_by(|a, b| a.1.place.iou(&track.rest_box).total_cmp(&b.1.place.iou(&track.rest_box)))
            .map(|(k, _)| k.as_str())
    }

    /// A new hazard's key names its place: the cell of a coarse grid where the object stands,
    /// numbered when another raised hazard already holds that cell (two cars side by side are
    /// two keys). Later sightings in this run find the hazard by overlap, not by the key; the
    /// coarse cell is for a restarted daemon, whose first sighting of a car still standing
    /// lands, but for a car on a cell's edge, on the key of the issue it already filed.
    fn dedup_key(&self, zone: &Zone, track: &Track) -> String {
        let foot = track.rest_box.bottom_centre();
        let cell = |v: f32| ((v.clamp(0.0, 1.0) * KEY_GRID) as u32).min(KEY_GRID as u32 - 1);
        let base = format!("{}/{}/{}/{}-{}", self.camera, zone.id, self.config.category, cell(foot.x), cell(foot.y));
        (1..)
            .map(|n| if n == 1 { base.clone() } else { format!("{base}+{n}") })
            .find(|k| !self.raised.contains_key(k))
            .unwrap_or(base)
    }
}

#[cfg(test)]
mod tests;
