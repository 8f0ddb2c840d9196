//! Per-camera analysis: frames from the slot -> detector -> rules -> candidate issues.

use shaobing_camera::FrameSlot;
use shaobing_config::{CameraConfig, Config, ZoneKind};
use shaobing_core::{
    CameraId, CandidateIssue, Category, Cause, Detection, DiscoveryChannel, Frame, Location, Responsibility,
};
use shaobing_detect::InferencePool;
use shaobing_metrics::{CameraMetrics, Histogram, Metrics};
use shaobing_rules::{Hazard, HazardPhase, ParkingRule, ParkingRuleConfig, Zone};
use shaobing_vision::{Annotation, render_evidence};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

/// What the sources ask of the problem database.
#[derive(Debug)]
pub enum IssueWork {
    /// File a candidate issue (or fold it into the open one), with its evidence when just
    /// raised: a JPEG snapshot, or the readings around the event as JSON.
    Record { issue: Box<CandidateIssue>, evidence: Option<Vec<u8>> },
    /// The source saw the problem gone: resolve the open issue with this key.
    Clear { dedup_key: String, actor: String, note: String },
}

/// The analysis state of one camera: inference goes to the shared pool, rules run here.
pub struct Analyser {
    camera: CameraConfig,
    pool: InferencePool,
    rule: ParkingRule,
    min_score: f32,
    vehicle_classes: Vec<String>,
    responsibility: Responsibility,
    metrics: CameraMetrics,
    inference: Histogram,
}

impl std::fmt::Debug for Analyser {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Analyser").field("camera", &self.camera.id).finish_non_exhaustive()
    }
}

impl Analyser {
    pub fn new(config: &Config, camera: &CameraConfig, pool: InferencePool, metrics: &Metrics) -> Self {
        let p = &config.rules.illegal_parking;
        let zones = camera
            .zones
            .iter()
            .filter(|z| z.kind == ZoneKind::NoParking)
            .map(|z| Zone { id: z.id.clone(), polygon: z.polygon.clone() })
            .collect();
        let rule = ParkingRule::new(
            CameraId(camera.id.clone()),
            zones,
            ParkingRuleConfig {
                dwell: Duration::from_secs_f64(p.dwell_secs),
                min_score: p.min_score,
                vehicle_classes: p.vehicle_classes.clone(),
                stationary_iou: p.stationary_iou,
                track_timeout: Duration::from_secs_f64(p.track_timeout_secs),
            },
        );
        let model = camera.model.clone();
        Self {
            camera: camera.clone(),
            pool,
            rule,
            min_score: p.min_score,
            vehicle_classes: p.vehicle_classes.clone(),
            responsibility: config.responsibility_for(Category::IllegalParking).to_domain(),
            metrics: metrics.camera(&camera.id),
            inference: metrics.inference(&model),
        }
    }

    /// Analyses one frame; returns the issues it produced.
    pub async fn process(&mut self, frame: &Frame) -> anyhow::Result<Vec<IssueWork>> {
        let (detections, took) = self.pool.detect(frame.clone(), self.min_score).await?;
        self.inference.observe(took.as_secs_f64());
        self.metrics.frames_analysed.inc();
        let hazards = self.rule.observe(&detections, frame.captured_at);
        if hazards.is_empty() {
            return Ok(Vec::new());
        }
        // Drawing the evidence is a few milliseconds of CPU: not on an async worker's time.
        tokio::task::block_in_place(|| hazards.iter().map(|h| self.issue(frame, h, &detections)).collect())
    }

    fn issue(&self, frame: &Frame, hazard: &Hazard, detections: &[Detection]) -> anyhow::Result<IssueWork> {
        let d = &hazard.detection;
        let summary = format!(
            "{}: {} stationary for {} s in no-parking zone {} (score {:.2})",
            hazard.category.name_zh(),
            d.label,
            hazard.stationary_for.as_secs(),
            hazard.zone,
            d.score
        );
        let issue = CandidateIssue {
            dedup_key: hazard.dedup_key.clone(),
            category: hazard.category,
            location: Location {
                lat: self.camera.lat,
                lon: self.camera.lon,
                address: self.camera.address.clone(),
                grid_cell: self.camera.grid_cell.clone(),
                source: self.camera.id.clone(),
                zone: Some(hazard.zone.clone()),
                image_point: Some(d.bbox.bottom_centre()),
            },
            cause: Cause {
                summary,
                rule: "illegal_parking/dwell".into(),
                confidence: d.score,
                detections: vec![d.clone()],
            },
            responsibility: self.responsibility.clone(),
            priority: hazard.category.default_priority(),
            channel: DiscoveryChannel::CommandCentreVideo,
            observed_at: frame.captured_at,
        };
        let evidence = match hazard.phase {
            HazardPhase::Opened => Some(self.evidence(frame, hazard, detections)?),
            HazardPhase::Ongoing => None,
        };
        Ok(IssueWork::Record { issue: Box::new(issue), evidence })
    }

    fn evidence(&self, frame: &Frame, hazard: &Hazard, detections: &[Detection]) -> anyhow::Result<Vec<u8>> {
        let subject = &hazard.detection;
        let mut boxes = vec![(
            format!("{} {:.2} parked {} s", subject.label, subject.score, hazard.stationary_for.as_secs()),
            subject.bbox,
        )];
        boxes.extend(
            detections
                .iter()
                // Other vehicles give context; every pedestrian and ball would bury the subject.
                .filter(|d| d.bbox != subject.bbox && self.vehicle_classes.contains(&d.label))
                .map(|d| (format!("{} {:.2}", d.label, d.score), d.bbox)),
        );
        let note = Annotation {
            zones: self.rule.zones().iter().map(|z| (z.id.0.as_str(), &z.polygon)).collect(),
            boxes,
            caption: format!("{} {} CST  illegal_parking", self.camera.id, frame.captured_at.to_china_time_string()),
        };
        Ok(render_evidence(frame, &note)?)
    }

    /// Takes frames until the camera closes its slot or `cancel` fires.
    pub async fn run(mut self, slot: Arc<FrameSlot>, issues: mpsc::Sender<IssueWork>, cancel: CancellationToken) {
        let mut log = shaobing_core::RateLimiter::new(Duration::from_secs(10));
        loop {
            let frame = tokio::select! {
                _ = cancel.cancelled() => return,
                taken = slot.take(Duration::from_secs(1)) => match taken {
                    Ok(Some(frame)) => frame,
                    Ok(None) => continue,
                    Err(()) => return,
                },
            };
            let result = self.process(&frame).await;
            match result {
                Ok(works) => {
                    for work in works {
                        if issues.send(work).await.is_err() {
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
