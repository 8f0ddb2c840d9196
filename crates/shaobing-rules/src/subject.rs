//! Which sightings of a frame a dwell rule follows, and what qualifies them.

use crate::Sighting;
use shaobing_core::{BBox, Detection, ObjectKind, UnixMillis};
use std::time::Duration;

/// Overlap above which two sightings of any class are the same object: a detector often calls
/// one van `truck` and `car` with overlapping boxes, which must not become two tracks.
const SAME_OBJECT_IOU: f32 = 0.6;
/// Share of a detection inside a new object (or of a new object inside a detection) that
/// makes them one thing: the chair of a stall the still watch sees as the whole stall.
const SAME_OBJECT_NESTED: f32 = 0.7;

/// Weight of a tricycle derived from a cycle and a cargo box: a guess from a model that has
/// no tricycle class, and marked as such.
pub const FALLBACK_CONFIDENCE: f32 = 0.5;

#[derive(Debug, Clone)]
pub struct SubjectConfig {
    /// Kinds of object the rule follows.
    pub kinds: Vec<ObjectKind>,
    pub min_score: f32,
    /// Of those, the kinds that only count with a companion close by (a table is a stall
    /// when someone stands at it).
    pub needs_companion: Vec<ObjectKind>,
    pub companion: Vec<ObjectKind>,
    /// How far the companion may be, in heights of the subject's box.
    pub companion_reach: f32,
    /// Derive tricycles from a cycle with a cargo-sized box attached, or with a new object
    /// standing over it.
    pub cargo_fallback: bool,
    /// Kinds whose detection covering half of a `new_object` says what it is: then it is not
    /// this rule's subject (a person standing still is not a stall).
    pub explained_by: Vec<ObjectKind>,
}

/// Share of a new object a detection must cover to say what it is.
const EXPLAINS: f32 = 0.5;

/// One object the rule follows in this frame.
#[derive(Debug, Clone, PartialEq)]
pub struct Subject {
    pub detection: Detection,
    /// Objects that made it qualify: the person at the stall, the cycle and its cargo.
    pub related: Vec<Detection>,
    pub note: Option<String>,
    pub confidence_factor: f32,
    /// False while a kind that needs a companion has not had one often enough.
    pub qualified: bool,
    /// For a kind that needs a companion, how long one has stayed beside it (kept by the
    /// rule per track); `qualified` then says only whether one is beside it in this frame.
    pub attended: Option<Attendance>,
}

/// A vendor stands at the stall for a while (then may step away to serve); people walking
/// past a chair on a busy pavement are beside it for a moment.
const ATTEND: Duration = Duration::from_secs(10);
/// A companion unseen this long (a missed detection, someone walking in front) still counts
/// as staying.
const ATTEND_GAP: Duration = Duration::from_secs(3);

/// Overlap with where a companion stood when it came that still means it stands there.
const SAME_PLACE_IOU: f32 = 0.3;

/// Whether a companion has stood beside a subject, in one place, for [`ATTEND`] at a stretch:
/// people walking past one after another are beside it all the time, but none stays.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Attendance {
    /// Each place a companion stands at now: when it came, where, and when last seen there.
    stretches: Vec<(UnixMillis, BBox, UnixMillis)>,
    pub attended: bool,
}

/// Places followed at once, at most: a crowd around a stall is not a reason to grow.
const PLACES: usize = 8;

impl Attendance {
    /// This frame at `now`, with the companions beside the subject. Each companion keeps its
    /// stretch while seen at its place, or unseen for a moment, whoever else walks past.
    pub fn then(mut self, companions: &[BBox], now: UnixMillis) -> Self {
        self.stretches.retain(|s| now.since(s.2) <= ATTEND_GAP);
        for b in companions {
            let full = self.stretches.len() >= PLACES;
            match self.stretches.iter_mut().find(|s| s.1.iou(b) >= SAME_PLACE_IOU) {
                Some(s) => s.2 = now,
                None if !full => self.stretches.push((now, *b, now)),
                None => {}
            }
        }
        self.attended |= self.stretches.iter().any(|(from, _, last)| last.since(*from) >= ATTEND);
        self
    }
}

/// The subjects of one frame, one per physical object, strongest first.
pub fn subjects(sightings: &[Sighting], config: &SubjectConfig) -> Vec<Subject> {
    let strong = |s: &&Sighting| s.detection.score >= config.min_score;
    let mut found: Vec<(ObjectKind, Subject)> = sightings
        .iter()
        .filter(strong)
        .filter(|s| config.kinds.contains(&s.kind))
        .filter(|s| s.kind != ObjectKind::NewObject || !explained(s, sightings, &config.explained_by))
        .map(|s| (s.kind, direct(s)))
        .collect();
    if config.cargo_fallback {
        let derived = derived_tricycles(sightings, config.min_score, &config.explained_by);
        found.extend(derived.into_iter().map(|s| (ObjectKind::Tricycle, s)));
    }
    // What a model names comes before what only the still watch sees, then by score.
    found.sort_by(|a, b| {
        let named = |k: ObjectKind| k != ObjectKind::NewObject;
        named(b.0).cmp(&named(a.0)).then(b.1.detection.score.total_cmp(&a.1.detection.score))
    });
    let mut kept: Vec<(ObjectKind, Subject)> = Vec::with_capacity(found.len());
    for (kind, subject) in found {
        if kept.iter().all(|(k, s)| !same_object(*k, &s.detection.bbox, kind, &subject.detection.bbox)) {
            kept.push((kind, subject));
        }
    }
    kept.into_iter()
        .map(|(kind, mut s)| {
            if config.needs_companion.contains(&kind) {
                qualify_by_companion(&mut s, sightings, config);
            }
            s
        })
        .collect()
}

fn same_object(ka: ObjectKind, a: &BBox, kb: ObjectKind, b: &BBox) -> bool {
    let new = ka == ObjectKind::NewObject || kb == ObjectKind::NewObject;
    a.iou(b) > SAME_OBJECT_IOU || (new && a.nested(b) >= SAME_OBJECT_NESTED)
}

/// Whether a detection of one of `kinds` covers half of the new object `s`.
fn explained(s: &Sighting, sightings: &[Sighting], kinds: &[ObjectKind]) -> bool {
    let b = &s.detection.bbox;
    sightings
        .iter()
        .filter(|o| kinds.contains(&o.kind))
        .any(|o| o.detection.bbox.intersection(b) >= EXPLAINS * b.area())
}

fn direct(s: &Sighting) -> Subject {
    Subject {
        detection: s.detection.clone(),
        related: Vec::new(),
        note: None,
        confidence_factor: 1.0,
        qualified: true,
        attended: None,
    }
}

fn qualify_by_companion(subject: &mut Subject, sightings: &[Sighting], config: &SubjectConfig) {
    let b = subject.detection.bbox;
    let reach = config.companion_reach * (b.y2 - b.y1);
    let mut near: Vec<Detection> = sightings
        .iter()
        .filter(|s| config.companion.contains(&s.kind) && s.detection.score >= config.min_score)
        .filter(|s| gap(&b, &s.detection.bbox) <= reach && same_ground(&b, &s.detection.bbox))
        .map(|s| s.detection.clone())
        .collect();
    near.sort_by(|a, c| c.score.total_cmp(&a.score));
    subject.qualified = !near.is_empty();
    subject.attended = Some(Attendance::default());
    subject.related = near;
    if subject.qualified {
        subject.note = Some(format!("{} attended by a {}", subject.detection.label, subject.related[0].label));
    }
}

/// Whether a companion is at the subject rather than metres behind it (higher in the
/// picture): the bottom of its box between the subject's top (a vendor seated behind a table
/// shows down to the table top) and half the subject's height below the subject's foot.
fn same_ground(subject: &BBox, companion: &BBox) -> bool {
    (subject.y1..=subject.y2 + 0.5 * (subject.y2 - subject.y1)).contains(&companion.y2)
}

/// Distance between two boxes (0 when they touch or overlap).
fn gap(a: &BBox, b: &BBox) -> f32 {
    let dx = (b.x1 - a.x2).max(a.x1 - b.x2).max(0.0);
    let dy = (b.y1 - a.y2).max(a.y1 - b.y2).max(0.0);
    (dx * dx + dy * dy).sqrt()
}

/// The COCO fallback for 黑三轮: a bicycle or motorcycle with a box of cargo size beside or on
/// it, standing on the same ground. COCO has no tricycle; its detectors see the rider's half
/// as a cycle and the load as a truck, car, bench or suitcase.
fn derived_tricycles(sightings: &[Sighting], min_score: f32, explained_by: &[ObjectKind]) -> Vec<Subject> {
    let of = |kind| sightings.iter().filter(move |s| s.kind == kind && s.detection.score >= min_score);
    let mut out = Vec::new();
    for cycle in of(ObjectKind::Cycle) {
        let c = &cycle.detection;
        let cargo = of(ObjectKind::Cargo)
            .filter(|g| g.detection.bbox != c.bbox && attached(&c.bbox, &g.detection.bbox))
            .max_by(|a, b| a.detection.score.total_cmp(&b.detection.score));
        let over = of(ObjectKind::NewObject)
            .filter(|o| stands_over(&o.detection.bbox, &c.bbox) && !explained(o, sightings, explained_by))
            .max_by(|a, b| a.detection.bbox.area().total_cmp(&b.detection.bbox.area()));
        if let Some(g) = cargo.or(over) {
            let g = &g.detection;
            out.push(Subject {
                detection: Detection {
                    class_id: c.class_id,
                    label: format!("tricycle? ({} + {})", c.label, g.label),
                    score: c.score.min(g.score),
                    bbox: union(&c.bbox, &g.bbox),
                },
                related: vec![c.clone(), g.clone()],
                note: Some(format!(
                    "COCO fallback, low confidence: a {} with a {}-sized load attached",
                    c.label, g.label
                )),
                confidence_factor: FALLBACK_CONFIDENCE,
                qualified: true,
                attended: None,
            });
        }
    }
    out
}

/// Cargo rides with the cycle: it touches it sideways, its bottom lies within the cycle's
/// height band (on the frame or the ground beside it) and it is load-sized: at least half the
/// cycle's area and at most four times it.
fn attached(cycle: &BBox, cargo: &BBox) -> bool {
    let (cw, ch) = (cycle.x2 - cycle.x1, cycle.y2 - cycle.y1);
    let side_gap = (cargo.x1 - cycle.x2).max(cycle.x1 - cargo.x2);
    let ratio = cargo.area() / cycle.area().max(f32::EPSILON);
    side_gap <= 0.25 * cw
        && cargo.y2 >= cycle.y1 + 0.3 * ch
        && cargo.y2 <= cycle.y2 + 0.2 * ch
        && (0.5..=4.0).contains(&ratio)
}

/// A new object stands over a cycle: it holds most of the cycle's box and is clearly larger
/// (a cargo box on a tricycle's frame), not just the parked bicycle itself.
fn stands_over(object: &BBox, cycle: &BBox) -> bool {
    object.intersection(cycle) >= 0.6 * cycle.area() && object.area() >= 1.5 * cycle.area()
}

/// The smallest box holding both.
pub(crate) fn union(a: &BBox, b: &BBox) -> BBox {
    BBox::from_corners(a.x1.min(b.x1), a.y1.min(b.y1), a.x2.max(b.x2), a.y2.max(b.y2))
}
