//! Which sightings of a frame a dwell rule follows, and what qualifies them.

use crate::Sighting;
use shaobing_core::{BBox, Detection, ObjectKind};

/// Overlap above which two sightings of any class are the same object: a detector often calls
/// one van `truck` and `car` with overlapping boxes, which must not become two tracks.
const SAME_OBJECT_IOU: f32 = 0.6;

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
    /// Derive tricycles from a cycle with a cargo-sized box attached.
    pub cargo_fallback: bool,
}

/// One object the rule follows in this frame.
#[derive(Debug, Clone, PartialEq)]
pub struct Subject {
    pub detection: Detection,
    /// Objects that made it qualify: the person at the stall, the cycle and its cargo.
    pub related: Vec<Detection>,
    pub note: Option<String>,
    pub confidence_factor: f32,
    /// False while a kind that needs a companion has none.
    pub qualified: bool,
}

/// The subjects of one frame, one per physical object, strongest first.
pub fn subjects(sightings: &[Sighting], config: &SubjectConfig) -> Vec<Subject> {
    let strong = |s: &&Sighting| s.detection.score >= config.min_score;
    let mut found: Vec<(ObjectKind, Subject)> = sightings
        .iter()
        .filter(strong)
        .filter(|s| config.kinds.contains(&s.kind))
        .map(|s| (s.kind, direct(s)))
        .collect();
    if config.cargo_fallback {
        found.extend(derived_tricycles(sightings, config.min_score).into_iter().map(|s| (ObjectKind::Tricycle, s)));
    }
    found.sort_by(|a, b| b.1.detection.score.total_cmp(&a.1.detection.score));
    let mut kept: Vec<(ObjectKind, Subject)> = Vec::with_capacity(found.len());
    for (kind, subject) in found {
        if kept.iter().all(|(_, k)| k.detection.bbox.iou(&subject.detection.bbox) <= SAME_OBJECT_IOU) {
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

fn direct(s: &Sighting) -> Subject {
    Subject { detection: s.detection.clone(), related: Vec::new(), note: None, confidence_factor: 1.0, qualified: true }
}

fn qualify_by_companion(subject: &mut Subject, sightings: &[Sighting], config: &SubjectConfig) {
    let b = subject.detection.bbox;
    let reach = config.companion_reach * (b.y2 - b.y1);
    let near = sightings
        .iter()
        .filter(|s| config.companion.contains(&s.kind) && s.detection.score >= config.min_score)
        .filter(|s| gap(&b, &s.detection.bbox) <= reach)
        .max_by(|a, c| a.detection.score.total_cmp(&c.detection.score));
    subject.qualified = near.is_some();
    subject.related = near.map(|s| vec![s.detection.clone()]).unwrap_or_default();
    if subject.qualified {
        subject.note = Some(format!("{} attended by a {}", subject.detection.label, subject.related[0].label));
    }
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
fn derived_tricycles(sightings: &[Sighting], min_score: f32) -> Vec<Subject> {
    let of = |kind| sightings.iter().filter(move |s| s.kind == kind && s.detection.score >= min_score);
    let mut out = Vec::new();
    for cycle in of(ObjectKind::Cycle) {
        let c = &cycle.detection;
        let cargo = of(ObjectKind::Cargo)
            .filter(|g| g.detection.bbox != c.bbox && attached(&c.bbox, &g.detection.bbox))
            .max_by(|a, b| a.detection.score.total_cmp(&b.detection.score));
        if let Some(g) = cargo {
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

/// The smallest box holding both.
pub(crate) fn union(a: &BBox, b: &BBox) -> BBox {
    BBox::from_corners(a.x1.min(b.x1), a.y1.min(b.y1), a.x2.max(b.x2), a.y2.max(b.y2))
}
