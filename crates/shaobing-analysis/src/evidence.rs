//! A hazard as a candidate issue, and the annotated snapshots a person reads to trust it.

use crate::camera::CameraConfig;
use shaobing_core::{
    CandidateIssue, Cause, Detection, DiscoveryChannel, Frame, Location, Point, Polygon, Responsibility, ZoneId,
};
use shaobing_rules::{Hazard, Sighting, Zone};
use shaobing_vision::{Annotation, render_evidence};

/// Context boxes weaker than this are noise to the person reading the evidence.
const CONTEXT_MIN_SCORE: f32 = 0.3;

pub(crate) struct Context<'a> {
    pub camera: &'a CameraConfig,
    /// The hazard's zone (none for fire, which is judged on the whole picture).
    pub zones: &'a [&'a Zone],
    pub masks: &'a [Polygon],
}

pub(crate) fn issue(
    ctx: &Context<'_>,
    frame: &Frame,
    hazard: &Hazard,
    responsibility: &Responsibility,
) -> CandidateIssue {
    let d = &hazard.detection;
    CandidateIssue {
        dedup_key: hazard.dedup_key.clone(),
        category: hazard.category,
        location: location(ctx.camera, Some(hazard.zone.clone()), Some(d.bbox.bottom_centre())),
        cause: Cause {
            summary: summary(hazard),
            rule: hazard.rule.into(),
            confidence: hazard.confidence,
            detections: std::iter::once(d.clone()).chain(hazard.related.iter().cloned()).collect(),
        },
        responsibility: responsibility.clone(),
        priority: hazard.category.default_priority(),
        channel: DiscoveryChannel::CommandCentreVideo,
        observed_at: frame.captured_at,
    }
}

/// Where an issue of `camera` is: the camera's place, its zone and the point in the picture.
pub(crate) fn location(camera: &CameraConfig, zone: Option<ZoneId>, image_point: Option<Point>) -> Location {
    let c = camera;
    Location {
        lat: c.place.lat,
        lon: c.place.lon,
        address: c.place.address.clone(),
        grid_cell: c.place.grid_cell.clone(),
        source: c.id.clone(),
        zone,
        image_point,
    }
}

fn summary(hazard: &Hazard) -> String {
    let d = &hazard.detection;
    let secs = hazard.duration.as_secs();
    let what = match hazard.category {
        shaobing_core::Category::FireSmoke => format!("{} seen for {secs} s", d.label),
        shaobing_core::Category::CrowdGathering => format!("{} for {secs} s in zone {}", d.label, hazard.zone),
        _ => format!("{} stationary for {secs} s in zone {}", d.label, hazard.zone),
    };
    let note = hazard.note.as_deref().map(|n| format!("; {n}")).unwrap_or_default();
    format!("{}: {what} (score {:.2}){note}", hazard.category.name_zh(), d.score)
}

/// What a "before" snapshot shows: the subject in red, what qualified it, how long it stood.
pub(crate) struct Pictured<'a> {
    pub detection: &'a Detection,
    pub related: &'a [Detection],
    pub still: std::time::Duration,
    pub rule: &'a str,
}

impl<'a> Pictured<'a> {
    pub(crate) fn of(hazard: &'a Hazard) -> Self {
        Self { detection: &hazard.detection, related: &hazard.related, still: hazard.duration, rule: hazard.rule }
    }
}

/// The "before" snapshot: the subject in red, what qualified it, the zone, time and rule.
pub(crate) fn before(
    ctx: &Context<'_>,
    frame: &Frame,
    subject: &Pictured<'_>,
    sightings: &[Sighting],
) -> anyhow::Result<Vec<u8>> {
    let d = subject.detection;
    let mut boxes = vec![(format!("{} {:.2} {} s", d.label, d.score, subject.still.as_secs()), d.bbox)];
    boxes.extend(subject.related.iter().filter(|r| r.bbox != d.bbox).map(labelled));
    // Other objects of the subject's class give context; every pedestrian would bury it.
    boxes.extend(
        sightings
            .iter()
            .map(|s| &s.detection)
            .filter(|o| o.score >= CONTEXT_MIN_SCORE && o.bbox != d.bbox && o.label == d.label)
            .filter(|o| !subject.related.iter().any(|r| r.bbox == o.bbox))
            .map(labelled),
    );
    render(ctx, frame, boxes, subject.rule)
}

/// The "after" snapshot: the place seen empty, with where the subject stood.
pub(crate) fn after(ctx: &Context<'_>, frame: &Frame, hazard: &Hazard) -> anyhow::Result<Vec<u8>> {
    let gone = (format!("was: {}", hazard.detection.label), hazard.detection.bbox);
    render(ctx, frame, vec![gone], &format!("{} cleared", hazard.rule))
}

/// The scene as it is, captioned: a hazard seen gone without a subject to box.
pub(crate) fn scene(ctx: &Context<'_>, frame: &Frame, what: &str) -> anyhow::Result<Vec<u8>> {
    render(ctx, frame, Vec::new(), what)
}

fn labelled(d: &Detection) -> (String, shaobing_core::BBox) {
    (format!("{} {:.2}", d.label, d.score), d.bbox)
}

fn render(
    ctx: &Context<'_>,
    frame: &Frame,
    boxes: Vec<(String, shaobing_core::BBox)>,
    what: &str,
) -> anyhow::Result<Vec<u8>> {
    let mut zones: Vec<(&str, &Polygon)> = ctx.zones.iter().map(|z| (z.id.0.as_str(), &z.polygon)).collect();
    zones.extend(ctx.masks.iter().map(|m| ("mask", m)));
    let note = Annotation {
        zones,
        boxes,
        caption: format!("{} {}  {what}", ctx.camera.id, frame.captured_at.to_local_string_zoned()),
    };
    Ok(render_evidence(frame, &note)?)
}
