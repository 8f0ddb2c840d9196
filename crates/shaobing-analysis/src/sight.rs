//! From model output to what the rules see: class names to hazard kinds, fire votes, masks.

use crate::view::View;
use shaobing_core::{BBox, Detection, Frame, ObjectKind, Polygon};
use shaobing_detect::ModelsConfig;
use shaobing_detect::{InferencePool, Pending};
use shaobing_metrics::{Histogram, Metrics};
use shaobing_rules::{FireVote, Sighting};
use shaobing_vision::{FireKind, FireRegion, StillRegion};
use std::collections::HashMap;

/// The classical detector's name as a voter.
const OPENCV: &str = "opencv";

/// Scores below this never reach a rule; each rule applies its own, higher floor.
const MIN_SCORE: f32 = 0.2;

/// One model of a camera: its pool and what its classes mean.
pub(crate) struct ModelRun {
    pool: InferencePool,
    kinds: HashMap<String, Vec<ObjectKind>>,
    models: ModelsConfig,
    inference: Histogram,
    /// The window the model looks at, when not the whole picture.
    view: Option<View>,
    /// Whether any class of the model means flame or smoke.
    fire: bool,
    /// Whether every class that means anything to the rules is flame or smoke: only such a
    /// model can look at a fire's window without losing the people and vehicles around it.
    only_fire: bool,
    /// Inferences started, for a fire model's turns between its window and the whole picture.
    looks: u64,
}

impl ModelRun {
    pub(crate) fn new(pool: InferencePool, models: &ModelsConfig, metrics: &Metrics) -> Self {
        let inference = metrics.inference(pool.model());
        let fire_kinds = [ObjectKind::Flame, ObjectKind::Smoke];
        let model = pool.model();
        let kinds: Vec<Vec<ObjectKind>> = pool.class_names().iter().map(|c| models.kinds_of(model, c)).collect();
        let fire = kinds.iter().flatten().any(|k| fire_kinds.contains(k));
        let only_fire = fire && kinds.iter().flatten().all(|k| fire_kinds.contains(k));
        let (view, looks) = (None, 0);
        Self { pool, kinds: HashMap::new(), models: models.clone(), inference, view, fire, only_fire, looks }
    }

    /// Makes the model look at `view` only.
    pub(crate) fn looking_at(mut self, view: Option<View>) -> Self {
        self.view = view;
        self
    }

    /// Whether any class of the model means flame or smoke: such a model needs the whole
    /// picture watched, not just the rule zones.
    pub(crate) fn sees_fire(&self) -> bool {
        self.fire
    }

    /// Whether the model looks at a fire's window: it sees nothing but flame and smoke.
    pub(crate) fn takes_fire_window(&self) -> bool {
        self.only_fire
    }

    /// A fire model's window for its next look: where it may be burning, every other look, and
    /// the whole picture in between, so that a fire the OpenCV detector does not follow (smoke,
    /// a flame of no flame colour) is missed for one look at most. Only for models that
    /// [`Self::takes_fire_window`]: one that also sees people or vehicles keeps the whole picture.
    pub(crate) fn look_at_fire(&mut self, around: Option<View>) {
        self.looks += 1;
        self.view = if self.looks.is_multiple_of(2) { around } else { None };
    }

    /// Queues `frame` for the model; `finish` collects the answer.
    pub(crate) fn start(&self, frame: &Frame) -> anyhow::Result<Pending> {
        let input = match &self.view {
            Some(view) => view.crop(frame),
            None => frame.clone(),
        };
        Ok(self.pool.submit(input, MIN_SCORE)?)
    }

    /// Adds the model's detections as sightings and fire votes.
    pub(crate) async fn finish(
        &mut self,
        pending: Pending,
        seen: &mut crate::analyser::Observation,
    ) -> anyhow::Result<()> {
        let (mut detections, took) = pending.wait().await?;
        if let Some(view) = &self.view {
            detections = detections.into_iter().map(|d| view.in_frame(d)).collect();
        }
        self.inference.observe(took.as_secs_f64());
        let (sightings, votes) = (&mut seen.sightings, &mut seen.fire_votes);
        seen.detections.extend(detections.iter().cloned());
        for d in detections {
            let kinds = self.kinds_of(&d.label).to_vec();
            for kind in kinds {
                match kind {
                    ObjectKind::Flame | ObjectKind::Smoke => {
                        votes.push(FireVote { voter: self.pool.model().to_string(), detection: d.clone() });
                    }
                    _ => sightings.push(Sighting { kind, detection: d.clone() }),
                }
            }
        }
        Ok(())
    }

    /// The class map looked up once per class name, not once per detection.
    fn kinds_of(&mut self, label: &str) -> &[ObjectKind] {
        let (models, model) = (&self.models, self.pool.model());
        self.kinds.entry(label.to_string()).or_insert_with(|| models.kinds_of(model, label))
    }
}

/// A region of the OpenCV fire detector as a vote of the `opencv` voter.
pub(crate) fn opencv_vote(region: &FireRegion) -> FireVote {
    let label = match region.kind {
        FireKind::Flame => "flame",
        FireKind::Smoke => "smoke",
    };
    FireVote {
        voter: OPENCV.into(),
        detection: Detection { class_id: 0, label: label.into(), score: region.score, bbox: region.bbox },
    }
}

/// A still-watch region as a sighting: something new stands here. The fuller its box, the
/// surer.
pub(crate) fn new_object(region: &StillRegion) -> Sighting {
    let detection =
        Detection { class_id: 0, label: "new object".into(), score: 0.5 + 0.5 * region.fill, bbox: region.bbox };
    Sighting { kind: ObjectKind::NewObject, detection }
}

/// Share of a classical smoke region that people and vehicles the detectors see cover above
/// which they explain it: a grey coat walking, a silver car turning. A flame is never
/// explained away (a car can burn); smoke from a burning car rises out of its box.
const EXPLAINED_SMOKE: f32 = 0.6;

/// Whether `vote` is the OpenCV detector's smoke over the people and vehicles of `sightings`.
pub(crate) fn explained(vote: &FireVote, sightings: &[Sighting]) -> bool {
    if vote.voter != OPENCV || vote.detection.label != "smoke" {
        return false;
    }
    let b = &vote.detection.bbox;
    let covered: f32 = sightings
        .iter()
        .filter(|s| matches!(s.kind, ObjectKind::Person | ObjectKind::Vehicle))
        .map(|s| s.detection.bbox.intersection(b))
        .sum();
    covered >= EXPLAINED_SMOKE * b.area()
}

/// Whether a box lies in a mask: judged by where it stands (bottom centre) for objects, by
/// its centre for fire and smoke, which float.
pub(crate) fn masked(bbox: &BBox, masks: &[Polygon], standing: bool) -> bool {
    let p = if standing { bbox.bottom_centre() } else { bbox.centre() };
    masks.iter().any(|m| m.contains(p))
}

pub(crate) fn unmasked(sightings: &[Sighting], masks: &[Polygon]) -> Vec<Sighting> {
    sightings.iter().filter(|s| !masked(&s.detection.bbox, masks, true)).cloned().collect()
}
