//! One camera's analysis state and its loop over the camera's frames.

use crate::camera::{CameraConfig, ZoneKind};
use crate::gate::InferenceGate;
use crate::silence::Silence;
use crate::view::View;
use crate::{evidence, sight};
use shaobing_camera::{ClipRecorder, FrameSlot};
use shaobing_core::{
    CameraId, Category, Filing, Finding, Followed, Frame, LiveView, ObjectKind, Phase, Polygon, RecheckWatch,
    Responsibility, UnixMillis,
};
use shaobing_detect::{InferencePool, ModelsConfig, Pending};
use shaobing_metrics::{CameraMetrics, Metrics};
use shaobing_rules::{
    CrowdRule, DwellRule, DwellRuleConfig, DwellRuleSettings, FireRule, FireVote, Hazard, RulesConfig, Sighting, Zone,
};
use shaobing_vision::{FireDetector, FireDetectorConfig, SceneBreak, SceneWatch, StillWatch, StillWatchConfig};
use sight::ModelRun;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

/// What every camera's analysis shares: the rules' settings, the models' class maps, and who
/// answers for each category.
#[derive(Debug, Clone)]
pub struct Setup {
    pub rules: RulesConfig,
    pub models: ModelsConfig,
    pub responsibility: HashMap<Category, Responsibility>,
}

impl Setup {
    pub fn new(rules: RulesConfig, models: ModelsConfig, responsibility: impl Fn(Category) -> Responsibility) -> Self {
        let responsibility = Category::ALL.into_iter().map(|c| (c, responsibility(c))).collect();
        Self { rules, models, responsibility }
    }
}

/// The best sighting of an object that may become a hazard: the evidence shows it at its
/// clearest rather than whenever the dwell clock ran out. Kept as the finished JPEG, not the
/// frame: a raw 1080p frame per waiting object would be most of a camera's memory.
struct BestShot {
    score: f32,
    jpeg: Vec<u8>,
    /// The still period it belongs to: a shot from before the object last moved is not
    /// evidence of the dwell that raises the issue.
    since: UnixMillis,
}

/// Rules that take new objects of no class: a stall (with its vendor), a tricycle (over a
/// cycle), clutter.
const NEW_OBJECT_RULES: [Category; 3] =
    [Category::StreetVending, Category::UnlicensedTricycle, Category::StreetClutter];

/// Shots are taken only in the second half of a dwell: the object has been seen standing
/// there by then, and its label's seconds say so.
const SHOT_AFTER_DWELL: f64 = 0.5;
/// While a re-check of a standing hazard is due, its sightings carry a fresh snapshot this
/// often: the "still present" evidence when the re-check finds it there after it was marked
/// handled. Only then: a JPEG per hazard every few seconds for nobody would be drawing and
/// encoding on the analysis's hot path.
const STILL_SHOT_EVERY: Duration = Duration::from_secs(5);

/// The analysis state of one camera: inference goes to the shared pools, rules run here.
pub struct Analyser {
    camera: CameraConfig,
    models: Vec<ModelRun>,
    gate: Option<InferenceGate>,
    fire_detector: Option<FireDetector>,
    dwell_rules: Vec<DwellRule>,
    crowd_rule: Option<CrowdRule>,
    fire_rule: Option<FireRule>,
    scene: SceneWatch,
    /// What newly stands still, for rules that take things of no class (stalls, tricycles,
    /// clutter); only on cameras with such rules.
    still: Option<StillWatch>,
    masks: Vec<Polygon>,
    responsibility: HashMap<Category, Responsibility>,
    best: HashMap<(Category, u64), BestShot>,
    /// When each standing hazard's last fresh snapshot was taken, by dedup key.
    still_shots: HashMap<String, UnixMillis>,
    /// The handled issues whose re-check is due, by dedup key (the issues room keeps it).
    rechecks: RecheckWatch,
    last: Observation,
    /// When the last frame that every part of the analysis saw was captured.
    last_full: Option<UnixMillis>,
    metrics: CameraMetrics,
    live: Option<Arc<dyn LiveView>>,
    /// Hazards an earlier run left open on this camera, by dedup key, each with how long it
    /// may go unraised after the restart before it counts as gone.
    restored: HashMap<String, Duration>,
    /// When the first frame analysed since the start was captured.
    first_frame: Option<UnixMillis>,
    restart_rules: RulesConfig,
    /// The camera's pre-roll, asked for a clip around each issue it raises.
    clips: Option<Arc<ClipRecorder>>,
    /// Frames the detectors ran on (not skipped by the motion gate, not a burst's follower).
    inferences: u64,
}

/// What the detectors saw in the latest inferred frame; reused while the gate holds.
#[derive(Debug, Default, Clone)]
pub(crate) struct Observation {
    pub(crate) sightings: Vec<Sighting>,
    pub(crate) fire_votes: Vec<FireVote>,
    /// Everything the models found, once per detection, for the console's live view.
    pub(crate) detections: Vec<shaobing_core::Detection>,
}

impl std::fmt::Debug for Analyser {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Analyser").field("camera", &self.camera.id).finish_non_exhaustive()
    }
}

impl Analyser {
    /// `pools` are the camera's models in configuration order, by name.
    pub fn new(
        setup: &Setup,
        camera: &CameraConfig,
        pools: Vec<InferencePool>,
        metrics: &Metrics,
    ) -> anyhow::Result<Self> {
        let masks = zones_of(camera, ZoneKind::Mask).into_iter().map(|z| z.polygon).collect::<Vec<_>>();
        let dwell_rules = dwell_rules(&setup.rules, camera);
        let crowd_rule = crowd_rule(&setup.rules, camera);
        let zones: Vec<Polygon> = rule_zones(&dwell_rules, &crowd_rule).map(|z| z.polygon.clone()).collect();
        let view = camera.crop_to_zones.then(|| View::over(&zones)).flatten();
        let models: Vec<ModelRun> = pools
            .into_iter()
            .map(|pool| ModelRun::new(pool, &setup.models, metrics))
            .map(|m| if m.sees_fire() { m } else { m.looking_at(view) })
            .collect();
        let sees_fire = models.iter().any(ModelRun::sees_fire);
        let focus = match camera.motion_gate.zones_only && !sees_fire {
            true => zones,
            false => Vec::new(),
        };
        let gate = camera
            .motion_gate
            .enabled
            .then(|| InferenceGate::new(&camera.motion_gate, masks.clone(), focus, !sees_fire))
            .transpose()?;
        let still = dwell_rules
            .iter()
            .any(|r| NEW_OBJECT_RULES.contains(&r.category()))
            .then(|| StillWatch::new(StillWatchConfig::default()));
        let fire = &setup.rules.fire_smoke;
        let fire_detector = (fire.enabled && fire.opencv).then(|| FireDetector::new(FireDetectorConfig::default()));
        let fire_rule = fire.enabled.then(|| FireRule::new(CameraId(camera.id.clone()), fire.clone()));
        let responsibility = setup.responsibility.clone();
        Ok(Self {
            dwell_rules,
            crowd_rule,
            camera: camera.clone(),
            models,
            gate,
            fire_detector,
            fire_rule,
            scene: SceneWatch::new(),
            still,
            masks,
            responsibility,
            best: HashMap::new(),
            still_shots: HashMap::new(),
            rechecks: RecheckWatch::default(),
            last: Observation::default(),
            last_full: None,
            metrics: metrics.camera(&camera.id),
            inferences: 0,
            live: None,
            restored: HashMap::new(),
            first_frame: None,
            restart_rules: setup.rules.clone(),
            clips: None,
        })
    }

    /// Publishes every analysed frame with its detections for the console's live view.
    /// Takes "still present" snapshots of the hazards whose re-check `rechecks` says is due.
    pub fn with_rechecks(mut self, rechecks: RecheckWatch) -> Self {
        self.rechecks = rechecks;
        self
    }

    pub fn with_live(mut self, live: Arc<dyn LiveView>) -> Self {
        self.live = Some(live);
        self
    }

    /// Asks `clips` for a clip around each issue this camera raises.
    pub fn with_clips(mut self, clips: Arc<ClipRecorder>) -> Self {
        self.clips = Some(clips);
        self
    }

    /// The hazards this camera's issues still open from an earlier run stand for: the rules
    /// start afresh, so each is resolved by observation if they do not raise it again within
    /// its rule's dwell and clearing time (at once, for the camera's own device issue, by the
    /// first analysed frame).
    pub fn with_open_issues(mut self, open: impl IntoIterator<Item = (String, Category)>) -> Self {
        self.restored = open.into_iter().map(|(key, c)| (key, self.restart_rules.restart_patience(c))).collect();
        self
    }

    /// Frames the detectors have run on so far.
    pub fn inferences(&self) -> u64 {
        self.inferences
    }

    /// Analyses one frame; returns what the rules found in it.
    pub async fn process(&mut self, frame: &Frame) -> anyhow::Result<Vec<Finding>> {
        let found = self.analyse(frame).await;
        if found.is_ok() {
            self.metrics.analysis_latency.observe(UnixMillis::now().since(frame.captured_at).as_secs_f64());
        }
        found
    }

    async fn analyse(&mut self, frame: &Frame) -> anyhow::Result<Vec<Finding>> {
        self.metrics.frames_analysed.inc();
        if self.follows(frame) {
            return tokio::task::block_in_place(|| self.watch_fire(frame));
        }
        self.last_full = Some(frame.captured_at);
        if let Some(kind) = tokio::task::block_in_place(|| self.scene.observe(frame))? {
            self.restart(kind)?;
        }
        let mut fire_votes = self.look(frame).await?;
        let standing = match &mut self.still {
            Some(still) => tokio::task::block_in_place(|| still.observe(frame))?,
            None => Vec::new(),
        };
        let new_objects: Vec<Sighting> = standing.iter().map(sight::new_object).collect();
        if let Some(live) = &self.live {
            let extra = fire_votes.iter().map(|v| &v.detection).chain(new_objects.iter().map(|s| &s.detection));
            live.publish(frame, &self.last.detections.iter().chain(extra).cloned().collect::<Vec<_>>());
        }
        let mut sightings = sight::unmasked(&self.last.sightings, &self.masks);
        sightings.extend(sight::unmasked(&new_objects, &self.masks));
        self.admit_votes(&mut fire_votes, &sightings);
        // Rules are cheap, but drawing evidence is milliseconds of CPU: not on an async worker's time.
        tokio::task::block_in_place(|| {
            let hazards = self.apply_rules(&sightings, &fire_votes, frame)?;
            let mut found =
                hazards.iter().map(|h| self.work(frame, h, &sightings)).collect::<anyhow::Result<Vec<_>>>()?;
            self.settle_restored(frame, &mut found)?;
            Ok(found)
        })
    }

    /// Hands hazards restored from an earlier run back to the rules that raised them again,
    /// and resolves those whose patience ran out unraised, with the scene as it is now.
    fn settle_restored(&mut self, frame: &Frame, found: &mut Vec<Finding>) -> anyhow::Result<()> {
        if self.restored.is_empty() {
            return Ok(());
        }
        for finding in found.iter() {
            self.restored.remove(finding.dedup_key());
        }
        let waited = frame.captured_at.since(*self.first_frame.get_or_insert(frame.captured_at));
        let due: Vec<String> =
            self.restored.iter().filter(|(_, patience)| waited >= **patience).map(|(key, _)| key.clone()).collect();
        for dedup_key in due {
            self.restored.remove(&dedup_key);
            let ctx = evidence::Context { camera: &self.camera, zones: &[], masks: &self.masks };
            let after = evidence::scene(&ctx, frame, "not raised again since the restart")?;
            found.push(Finding::Cleared {
                dedup_key,
                actor: format!("camera:{}", self.camera.id),
                note: format!("cleared: not seen in the {} s after a restart", waited.as_secs()),
                after: Some((after, frame.captured_at)),
            });
        }
        Ok(())
    }

    /// Whether `frame` came sooner than the analysis rate allows after the last fully analysed
    /// one (three quarters of an interval: the camera's gate spaces the frames it picks by a
    /// whole one): a follower of a key frame's burst (`key_frame_burst`), a moment later. The
    /// fire watch sees it; detectors, dwell rules and the scene watch, whose rhythm is the
    /// key frames', do not.
    fn follows(&self, frame: &Frame) -> bool {
        let soon = 750.0 / self.camera.source.analysis_fps;
        self.last_full.is_some_and(|t| (0.0..soon).contains(&((frame.captured_at.0 - t.0) as f64)))
    }

    /// The fire detector and the fire rule on a follower, with the detectors' latest findings.
    fn watch_fire(&mut self, frame: &Frame) -> anyhow::Result<Vec<Finding>> {
        if self.fire_rule.is_none() {
            return Ok(Vec::new());
        }
        let regions = match &mut self.fire_detector {
            Some(detector) => detector.observe(frame)?,
            None => Vec::new(),
        };
        let mut votes = self.last.fire_votes.clone();
        votes.extend(regions.iter().map(sight::opencv_vote));
        let sightings = sight::unmasked(&self.last.sightings, &self.masks);
        self.admit_votes(&mut votes, &sightings);
        let hazards: Vec<Hazard> =
            self.fire_rule.as_mut().and_then(|rule| rule.observe(&votes, frame.captured_at)).into_iter().collect();
        hazards.iter().map(|h| self.work(frame, h, &sightings)).collect()
    }

    /// Drops fire votes in masks and those the detectors' people and vehicles explain.
    fn admit_votes(&self, votes: &mut Vec<FireVote>, sightings: &[Sighting]) {
        votes.retain(|v| !sight::masked(&v.detection.bbox, &self.masks, false) && !sight::explained(v, sightings));
    }

    /// Across any break the fire detector's pixel evidence starts over. Across a cut nothing
    /// else compares either: trackers, still clocks and the fire window start over, and the
    /// detectors look at the new picture at once. A gap leaves those: the tracker bounds the
    /// unseen time it bridges, and fire seen before a gap is still fire.
    fn restart(&mut self, kind: SceneBreak) -> anyhow::Result<()> {
        if let Some(detector) = &mut self.fire_detector {
            detector.restart()?;
        }
        if kind == SceneBreak::Gap {
            self.metrics.scene_gaps.inc();
            return Ok(());
        }
        self.metrics.scene_cuts.inc();
        tracing::debug!(camera = %self.camera.id, kind = kind.as_str(), "scene break: temporal evidence starts over");
        self.dwell_rules.iter_mut().for_each(DwellRule::restart);
        if let Some(still) = &mut self.still {
            still.restart();
        }
        if let Some(rule) = &mut self.fire_rule {
            rule.restart();
        }
        if let Some(gate) = &mut self.gate {
            gate.restart();
        }
        self.best.clear();
        Ok(())
    }

    /// The motion gate, the models (their findings are kept in `last` while the gate holds)
    /// and the OpenCV fire detector on one frame; returns every fire vote of the frame.
    async fn look(&mut self, frame: &Frame) -> anyhow::Result<Vec<FireVote>> {
        let infer = match &mut self.gate {
            Some(gate) => tokio::task::block_in_place(|| gate.should_infer(frame))?,
            None => true,
        };
        if infer && self.camera.crop_to_zones && self.models.iter().any(ModelRun::takes_fire_window) {
            // Where the OpenCV detector followed flame colours up to the previous frame.
            let watched = self.fire_detector.as_ref().map(FireDetector::watched).unwrap_or_default();
            let around = View::around(&watched);
            self.models.iter_mut().filter(|m| m.takes_fire_window()).for_each(|m| m.look_at_fire(around));
        }
        // The models run on the pool's threads while this one runs the fire detector.
        let pending = if infer {
            self.inferences += 1;
            Some(self.models.iter().map(|m| m.start(frame)).collect::<anyhow::Result<Vec<_>>>()?)
        } else {
            self.metrics.inferences_skipped.inc();
            None
        };
        let regions = match &mut self.fire_detector {
            Some(detector) => tokio::task::block_in_place(|| detector.observe(frame))?,
            None => Vec::new(),
        };
        if let Some(pending) = pending {
            self.last = self.collect(pending).await?;
        }
        let mut votes = self.last.fire_votes.clone();
        votes.extend(regions.iter().map(sight::opencv_vote));
        Ok(votes)
    }

    async fn collect(&mut self, pending: Vec<Pending>) -> anyhow::Result<Observation> {
        let mut seen = Observation::default();
        for (model, p) in self.models.iter_mut().zip(pending) {
            model.finish(p, &mut seen).await?;
        }
        Ok(seen)
    }

    fn apply_rules(
        &mut self,
        sightings: &[Sighting],
        votes: &[FireVote],
        frame: &Frame,
    ) -> anyhow::Result<Vec<Hazard>> {
        let now = frame.captured_at;
        let mut hazards = Vec::new();
        for i in 0..self.dwell_rules.len() {
            hazards.extend(self.dwell_rules[i].observe(sightings, now));
            self.take_best_shots(i, frame, sightings)?;
        }
        let rules = &self.dwell_rules;
        self.best.retain(|(category, track), _| rules.iter().any(|r| r.category() == *category && r.is_live(*track)));
        if let Some(rule) = &mut self.crowd_rule {
            hazards.extend(rule.observe(sightings, now));
        }
        if let Some(rule) = &mut self.fire_rule {
            hazards.extend(rule.observe(votes, now));
        }
        Ok(hazards)
    }

    /// Renders the snapshot of each waiting object whose score beats its best so far.
    fn take_best_shots(&mut self, rule: usize, frame: &Frame, sightings: &[Sighting]) -> anyhow::Result<()> {
        let r = &self.dwell_rules[rule];
        let from = r.dwell().mul_f64(SHOT_AFTER_DWELL);
        for p in r.pending(frame.captured_at).filter(|p| p.still >= from) {
            let key = (r.category(), p.track_id);
            if self.best.get(&key).is_some_and(|b| b.since == p.since && b.score >= p.detection.score) {
                continue;
            }
            let zones: Vec<&Zone> = r.zones().iter().filter(|z| &z.id == p.zone).collect();
            let ctx = evidence::Context { camera: &self.camera, zones: &zones, masks: &self.masks };
            let subject =
                evidence::Pictured { detection: p.detection, related: p.related, still: p.still, rule: r.rule_name() };
            let jpeg = evidence::before(&ctx, frame, &subject, sightings)?;
            self.best.insert(key, BestShot { score: p.detection.score, jpeg, since: p.since });
        }
        Ok(())
    }

    fn work(&mut self, frame: &Frame, hazard: &Hazard, sightings: &[Sighting]) -> anyhow::Result<Finding> {
        let zones: Vec<&Zone> =
            rule_zones(&self.dwell_rules, &self.crowd_rule).filter(|z| z.id == hazard.zone).collect();
        let ctx = evidence::Context { camera: &self.camera, zones: &zones, masks: &self.masks };
        if hazard.phase == Phase::Cleared {
            self.still_shots.remove(&hazard.dedup_key);
        }
        match hazard.phase {
            Phase::Cleared => Ok(Finding::Cleared {
                dedup_key: hazard.dedup_key.clone(),
                actor: format!("camera:{}", self.camera.id),
                note: format!("cleared: not seen for {} s", hazard.duration.as_secs()),
                after: Some((evidence::after(&ctx, frame, hazard)?, frame.captured_at)),
            }),
            Phase::Ongoing => {
                let issue = evidence::issue(&ctx, frame, hazard, &self.responsibility[&hazard.category]);
                let due = self.rechecks.is_due(&hazard.dedup_key, frame.captured_at)
                    && self
                        .still_shots
                        .get(&hazard.dedup_key)
                        .is_none_or(|at| frame.captured_at.since(*at) >= STILL_SHOT_EVERY);
                let evidence = if due {
                    self.still_shots.insert(hazard.dedup_key.clone(), frame.captured_at);
                    Some(evidence::before(&ctx, frame, &evidence::Pictured::of(hazard), sightings)?)
                } else {
                    None
                };
                Ok(Finding::Ongoing { issue: Box::new(issue), evidence })
            }
            Phase::Opened => {
                let issue = evidence::issue(&ctx, frame, hazard, &self.responsibility[&hazard.category]);
                let jpeg = match self.best.remove(&(hazard.category, hazard.track_id)) {
                    Some(best) => best.jpeg,
                    None => evidence::before(&ctx, frame, &evidence::Pictured::of(hazard), sightings)?,
                };
                Ok(Finding::Opened { issue: Box::new(issue), evidence: Some(jpeg) })
            }
        }
    }

    /// Takes frames until the camera closes its slot or `cancel` fires; files the camera as a
    /// device issue while it delivers none.
    pub async fn run(mut self, slot: Arc<FrameSlot>, findings: mpsc::Sender<Filing>, cancel: CancellationToken) {
        let mut log = shaobing_core::RateLimiter::new(Duration::from_secs(10));
        let mut silence = Silence::new(&self.camera, Instant::now());
        let maintenance = self.responsibility[&Category::DeviceMaintenance].clone();
        loop {
            let frame = tokio::select! {
                _ = cancel.cancelled() => return,
                taken = slot.take(Duration::from_secs(1)) => match taken {
                    Ok(Some(frame)) => frame,
                    Ok(None) => {
                        let quiet = silence.quiet(&self.camera, &maintenance, Instant::now());
                        if let Some(f) = quiet && findings.send(f.into()).await.is_err() {
                            return;
                        }
                        continue;
                    }
                    Err(()) => return,
                },
            };
            let heard = silence.heard(&self.camera, Instant::now());
            if let Some(f) = heard
                && findings.send(f.into()).await.is_err()
            {
                return;
            }
            match self.process(&frame).await {
                Ok(found) => {
                    for finding in found {
                        self.clip_of(&finding, &findings, &cancel);
                        if findings.send(finding.into()).await.is_err() {
                            return;
                        }
                    }
                }
                Err(e) => {
                    if let Some(suppressed) = log.allow("analysis_failed", std::time::Instant::now()) {
                        tracing::warn!(camera = %self.camera.id, error = %e, suppressed, "frame analysis failed");
                    }
                }
            }
        }
    }
}

impl Analyser {
    /// The clip of a new issue comes `post_secs` later, by its own task, through the same
    /// channel as the finding it belongs to (and after it: the issue exists by then).
    fn clip_of(&self, finding: &Finding, findings: &mpsc::Sender<Filing>, cancel: &CancellationToken) {
        let (Some(recorder), Finding::Opened { issue, .. }) = (&self.clips, finding) else { return };
        let (recorder, findings, cancel) = (recorder.clone(), findings.clone(), cancel.clone());
        let (dedup_key, moment) = (issue.dedup_key.clone(), issue.observed_at);
        let urgent = issue.priority == shaobing_core::Priority::Emergency;
        tokio::spawn(async move {
            match recorder.clip(moment, urgent, &cancel).await {
                Ok(clip) => {
                    let (mp4, starts_at) = (clip.mp4, clip.starts_at);
                    let _ = findings.send(Finding::Clip { dedup_key, moment, mp4, starts_at }.into()).await;
                }
                Err(e) => tracing::warn!(key = %dedup_key, error = %e, "no clip for the issue"),
            }
        });
    }
}

fn zones_of(camera: &CameraConfig, kind: ZoneKind) -> Vec<Zone> {
    camera
        .zones
        .iter()
        .filter(|z| z.kind == kind)
        .map(|z| Zone { id: z.id.clone(), polygon: z.polygon.clone(), exempt: z.exempt.clone() })
        .collect()
}

/// The dwell rules of a camera: one per category that is enabled and has zones here.
pub(crate) fn dwell_rules(r: &RulesConfig, camera: &CameraConfig) -> Vec<DwellRule> {
    use ObjectKind::*;
    let specs: [(&DwellRuleSettings, Category, &'static str, ZoneKind, Vec<ObjectKind>); 5] = [
        (&r.illegal_parking, Category::IllegalParking, "illegal_parking/dwell", ZoneKind::NoParking, vec![Vehicle]),
        (
            &r.street_vending,
            Category::StreetVending,
            "street_vending/dwell",
            ZoneKind::NoVending,
            vec![Stall, StallProxy, NewObject],
        ),
        (
            &r.unlicensed_tricycle,
            Category::UnlicensedTricycle,
            "unlicensed_tricycle/dwell",
            ZoneKind::NoTricycle,
            vec![Tricycle],
        ),
        (
            &r.non_motor_parking,
            Category::NonMotorParking,
            "non_motor_parking/dwell",
            ZoneKind::NoCycleParking,
            vec![Cycle],
        ),
        (&r.street_clutter, Category::StreetClutter, "street_clutter/dwell", ZoneKind::NoClutter, vec![NewObject]),
    ];
    specs
        .into_iter()
        .filter(|(s, ..)| s.enabled)
        .filter_map(|(s, category, rule, zone_kind, kinds)| {
            let zones = zones_of(camera, zone_kind);
            let config = DwellRuleConfig::new(category, rule, kinds, s);
            (!zones.is_empty()).then(|| DwellRule::new(CameraId(camera.id.clone()), zones, config))
        })
        .collect()
}

/// The crowd rule of a camera, when enabled and the camera has `crowd_watch` zones.
pub(crate) fn crowd_rule(r: &RulesConfig, camera: &CameraConfig) -> Option<CrowdRule> {
    let zones = zones_of(camera, ZoneKind::CrowdWatch);
    (r.crowd_gathering.enabled && !zones.is_empty())
        .then(|| CrowdRule::new(CameraId(camera.id.clone()), zones, r.crowd_gathering.clone()))
}

/// What the rules of `camera` follow, from the same rules the analysis runs. A `new_object`
/// is found without a detector, so no detection is one.
pub fn followed(r: &RulesConfig, camera: &CameraConfig) -> Vec<Followed> {
    let mut out: Vec<Followed> = Vec::new();
    let mut add = |kind: ObjectKind, min_score: f32, category: Category| {
        if kind == ObjectKind::NewObject {
            return;
        }
        match out.iter_mut().find(|f| f.kind == kind) {
            Some(f) => {
                f.min_score = f.min_score.min(min_score);
                if !f.categories.contains(&category) {
                    f.categories.push(category);
                }
            }
            None => out.push(Followed { kind, min_score, categories: vec![category] }),
        }
    };
    for rule in dwell_rules(r, camera) {
        let c = rule.config();
        let s = &c.subject;
        let attended = s.kinds.iter().any(|k| s.needs_companion.contains(k));
        let fallback = if s.cargo_fallback { &[ObjectKind::Cycle, ObjectKind::Cargo][..] } else { &[] };
        let companions = if attended { &s.companion[..] } else { &[] };
        for &kind in s.kinds.iter().chain(companions).chain(fallback) {
            add(kind, s.min_score, c.category);
        }
    }
    if crowd_rule(r, camera).is_some() {
        add(ObjectKind::Person, r.crowd_gathering.min_score, Category::CrowdGathering);
    }
    if r.fire_smoke.enabled {
        for kind in [ObjectKind::Flame, ObjectKind::Smoke] {
            add(kind, r.fire_smoke.min_score, Category::FireSmoke);
        }
    }
    out
}

/// The zones every rule of a camera watches.
fn rule_zones<'a>(dwell: &'a [DwellRule], crowd: &'a Option<CrowdRule>) -> impl Iterator<Item = &'a Zone> {
    dwell.iter().flat_map(|r| r.zones()).chain(crowd.iter().flat_map(|r| r.zones()))
}
