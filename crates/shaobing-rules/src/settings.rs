//! The `[rules]` section, owned here with the rules it sets.

use crate::TimeWindow;
use serde::Deserialize;
use shaobing_core::Category;
use std::time::Duration;

/// A configuration problem in `[rules]`, pointing at the key.
#[derive(Debug, thiserror::Error)]
#[error("{key}: {message}")]
pub struct RulesConfigError {
    pub key: String,
    pub message: String,
}

fn invalid(key: impl Into<String>, message: impl Into<String>) -> RulesConfigError {
    RulesConfigError { key: key.into(), message: message.into() }
}

/// The hazard rules. Which objects each rule follows comes from the models' class maps
/// (`[models.class_map]`): kinds `vehicle`, `stall`, `stall_proxy`, `tricycle`, `cycle`, `cargo`,
/// `person`, `flame`, `smoke`; and `new_object`, something newly standing still that the
/// still watch finds without a class model on cameras with `no_vending`, `no_tricycle` or
/// `no_clutter` zones (one the detectors see as a person or a vehicle is that).
#[derive(Debug, Clone, Default, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RulesConfig {
    /// 机动车乱停放: a `vehicle` stationary inside a `no_parking` zone.
    #[serde(default)]
    pub illegal_parking: DwellRuleSettings,
    /// 占道经营: a `stall` (or a `stall_proxy` or `new_object` with a `person` beside it)
    /// stationary inside a `no_vending` zone.
    #[serde(default)]
    pub street_vending: DwellRuleSettings,
    /// 黑三轮: a `tricycle` (or the COCO fallback: a `cycle` with `cargo` attached, or a
    /// `new_object` standing over a `cycle`, low confidence) stationary inside a `no_tricycle`
    /// zone.
    #[serde(default)]
    pub unlicensed_tricycle: DwellRuleSettings,
    /// 非机动车乱停放: a `cycle` (bicycle, motorbike) stationary inside a `no_cycle_parking`
    /// zone.
    #[serde(default)]
    pub non_motor_parking: DwellRuleSettings,
    /// 乱堆物料、暴露垃圾: a `new_object` (goods, materials, rubbish) stationary inside a
    /// `no_clutter` zone, with no `person`, `vehicle` or `cycle` that it is.
    #[serde(default)]
    pub street_clutter: DwellRuleSettings,
    /// 人群聚集: at least `min_people` `person`s standing in a `crowd_watch` zone for
    /// `dwell_secs`.
    #[serde(default)]
    pub crowd_gathering: CrowdRuleSettings,
    /// 烟火: flame or smoke anywhere outside `mask` zones; an emergency, no dwell.
    #[serde(default)]
    pub fire_smoke: FireRuleSettings,
}

impl RulesConfig {
    /// How long a hazard of `category` left open by an earlier run may go unseen after a
    /// restart before it counts as gone: the time its rule takes to raise it again (the
    /// rules start afresh) plus the time without it that clears it. A hazard the rule raises
    /// again within this time is simply the same open issue.
    pub fn restart_patience(&self, category: Category) -> Duration {
        let secs = match category {
            Category::IllegalParking => self.illegal_parking.dwell_secs + self.illegal_parking.clear_secs,
            Category::StreetVending => self.street_vending.dwell_secs + self.street_vending.clear_secs,
            Category::UnlicensedTricycle => self.unlicensed_tricycle.dwell_secs + self.unlicensed_tricycle.clear_secs,
            Category::NonMotorParking => self.non_motor_parking.dwell_secs + self.non_motor_parking.clear_secs,
            Category::StreetClutter => self.street_clutter.dwell_secs + self.street_clutter.clear_secs,
            Category::CrowdGathering => self.crowd_gathering.dwell_secs + self.crowd_gathering.clear_secs,
            Category::FireSmoke => self.fire_smoke.confirm_min_secs + self.fire_smoke.clear_secs,
            // A camera's own device issue: the frames analysed since the restart answer it.
            _ => 0.0,
        };
        Duration::from_secs_f64(secs.max(0.0))
    }

    pub fn validate(&self) -> Result<(), RulesConfigError> {
        self.illegal_parking.validate("rules.illegal_parking")?;
        self.street_vending.validate("rules.street_vending")?;
        self.unlicensed_tricycle.validate("rules.unlicensed_tricycle")?;
        self.non_motor_parking.validate("rules.non_motor_parking")?;
        self.street_clutter.validate("rules.street_clutter")?;
        self.crowd_gathering.validate("rules.crowd_gathering")?;
        self.fire_smoke.validate("rules.fire_smoke")
    }
}

/// Settings shared by the rules about objects that stay where they must not.
#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DwellRuleSettings {
    /// Off: the rule never raises.
    #[serde(default = "yes")]
    pub enabled: bool,
    /// Seconds an object must stay stationary inside the zone before an issue is raised.
    #[serde(default = "default_dwell_secs")]
    pub dwell_secs: f64,
    /// Minimum detector score for an object to count.
    #[serde(default = "default_min_score")]
    pub min_score: f32,
    /// An object is stationary while its box overlaps where it stopped by at least this IoU.
    #[serde(default = "default_stationary_iou")]
    pub stationary_iou: f32,
    /// Seconds a track survives without detections before it is forgotten. Whether a gap
    /// restarts the dwell clock is `occlusion_secs`.
    #[serde(default = "default_track_timeout_secs")]
    pub track_timeout_secs: f64,
    /// Seconds an object may go unseen at its place (an occlusion, a missed detection) and
    /// still count as having stood there all along. A longer gap restarts its dwell clock:
    /// time unseen is never time standing still. Never less than 2.5 frame intervals.
    #[serde(default = "default_occlusion_secs")]
    pub occlusion_secs: f64,
    /// Seconds without the object at its place after which the issue is resolved by
    /// observation, with an "after" snapshot. Gaps shorter than this never open a new issue.
    #[serde(default = "default_clear_secs")]
    pub clear_secs: f64,
    /// `street_vending` only: how far the person attending a `stall_proxy` may stand, in
    /// heights of the object's box.
    #[serde(default = "default_companion_reach")]
    pub companion_reach: f32,
    /// `unlicensed_tricycle` only: also raise the COCO fallback (a `cycle` with a cargo-sized
    /// box attached), marked low confidence.
    #[serde(default = "yes")]
    pub coco_fallback: bool,
    /// Hours (`"HH:MM-HH:MM"`, the box's local time: `daemon.utc_offset`) when the rule does not apply anywhere, e.g.
    /// `["18:00-22:00"]` for a permitted night market; a zone may add its own (`exempt`).
    #[serde(default)]
    pub exempt: Vec<TimeWindow>,
}

fn yes() -> bool {
    true
}
fn default_dwell_secs() -> f64 {
    300.0
}
fn default_min_score() -> f32 {
    0.3
}
fn default_stationary_iou() -> f32 {
    0.6
}
fn default_track_timeout_secs() -> f64 {
    10.0
}
fn default_occlusion_secs() -> f64 {
    5.0
}
fn default_clear_secs() -> f64 {
    120.0
}
fn default_companion_reach() -> f32 {
    1.5
}

impl Default for DwellRuleSettings {
    fn default() -> Self {
        Self {
            enabled: true,
            dwell_secs: default_dwell_secs(),
            min_score: default_min_score(),
            stationary_iou: default_stationary_iou(),
            track_timeout_secs: default_track_timeout_secs(),
            occlusion_secs: default_occlusion_secs(),
            clear_secs: default_clear_secs(),
            companion_reach: default_companion_reach(),
            coco_fallback: true,
            exempt: Vec::new(),
        }
    }
}

impl DwellRuleSettings {
    fn validate(&self, key: &str) -> Result<(), RulesConfigError> {
        seconds(key, "dwell_secs", self.dwell_secs)?;
        seconds(key, "track_timeout_secs", self.track_timeout_secs)?;
        seconds(key, "occlusion_secs", self.occlusion_secs)?;
        seconds(key, "clear_secs", self.clear_secs)?;
        unit(key, "min_score", self.min_score)?;
        unit(key, "stationary_iou", self.stationary_iou)?;
        if !(self.companion_reach.is_finite() && self.companion_reach >= 0.0) {
            return Err(invalid(
                format!("{key}.companion_reach"),
                format!("expected box heights >= 0, got {}", self.companion_reach),
            ));
        }
        Ok(())
    }
}

/// Crowds: how many people, for how long.
#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CrowdRuleSettings {
    /// Off: the rule never raises.
    #[serde(default = "yes")]
    pub enabled: bool,
    /// People standing in the zone at once that make a crowd.
    #[serde(default = "default_min_people")]
    pub min_people: usize,
    /// Seconds the zone must hold a crowd before an issue is raised.
    #[serde(default = "default_crowd_dwell_secs")]
    pub dwell_secs: f64,
    /// Minimum detector score of a person.
    #[serde(default = "default_min_score")]
    pub min_score: f32,
    /// Seconds the count may dip below `min_people` (people hidden behind each other, a
    /// missed detection) without restarting the clock.
    #[serde(default = "default_occlusion_secs")]
    pub occlusion_secs: f64,
    /// Seconds below `min_people` after which the issue is resolved by observation.
    #[serde(default = "default_clear_secs")]
    pub clear_secs: f64,
    /// Hours (`"HH:MM-HH:MM"`, the box's local time: `daemon.utc_offset`) when crowds are expected (a market, a concert).
    #[serde(default)]
    pub exempt: Vec<TimeWindow>,
}

fn default_min_people() -> usize {
    15
}
fn default_crowd_dwell_secs() -> f64 {
    60.0
}

impl Default for CrowdRuleSettings {
    fn default() -> Self {
        Self {
            enabled: true,
            min_people: default_min_people(),
            dwell_secs: default_crowd_dwell_secs(),
            min_score: default_min_score(),
            occlusion_secs: default_occlusion_secs(),
            clear_secs: default_clear_secs(),
            exempt: Vec::new(),
        }
    }
}

impl CrowdRuleSettings {
    fn validate(&self, key: &str) -> Result<(), RulesConfigError> {
        if self.min_people == 0 {
            return Err(invalid(format!("{key}.min_people"), "expected at least 1 person"));
        }
        seconds(key, "dwell_secs", self.dwell_secs)?;
        seconds(key, "occlusion_secs", self.occlusion_secs)?;
        seconds(key, "clear_secs", self.clear_secs)?;
        unit(key, "min_score", self.min_score)
    }
}

/// Flame and smoke: votes, confirmation and clearing.
#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FireRuleSettings {
    /// Off: the rule never raises.
    #[serde(default = "yes")]
    pub enabled: bool,
    /// Run the classical OpenCV flame/smoke detector (colour, flicker, growth) on every camera
    /// as a vote. Licence-clean and on by default.
    #[serde(default = "yes")]
    pub opencv: bool,
    /// Analysed frames with fire among the last `confirm_n` that confirm it.
    #[serde(default = "default_confirm_k")]
    pub confirm_k: usize,
    /// Window of the confirmation, in analysed frames.
    #[serde(default = "default_confirm_n")]
    pub confirm_n: usize,
    /// Seconds the confirming frames must spread over, first to last: a key frame's burst
    /// (`key_frame_burst`) is several frames of one moment. At the default 3 analysed
    /// frames/s, three frames already spread over 0.67 s. `(confirm_n - 1) / analysis_fps`
    /// must reach it on every camera.
    #[serde(default = "default_confirm_min_secs")]
    pub confirm_min_secs: f64,
    /// Distinct voters (the OpenCV detector, each flame model of the camera) that must see fire
    /// in the same frame. 1: any; 2: the OpenCV detector and a model must agree.
    #[serde(default = "default_votes_required")]
    pub votes_required: usize,
    /// Minimum score of a vote.
    #[serde(default = "default_fire_min_score")]
    pub min_score: f32,
    /// Seconds without fire after which the issue is resolved by observation.
    #[serde(default = "default_fire_clear_secs")]
    pub clear_secs: f64,
}

fn default_confirm_k() -> usize {
    3
}
fn default_confirm_n() -> usize {
    5
}
fn default_confirm_min_secs() -> f64 {
    0.5
}
fn default_votes_required() -> usize {
    1
}
fn default_fire_min_score() -> f32 {
    0.4
}
fn default_fire_clear_secs() -> f64 {
    60.0
}

impl Default for FireRuleSettings {
    fn default() -> Self {
        Self {
            enabled: true,
            opencv: true,
            confirm_k: default_confirm_k(),
            confirm_n: default_confirm_n(),
            confirm_min_secs: default_confirm_min_secs(),
            votes_required: default_votes_required(),
            min_score: default_fire_min_score(),
            clear_secs: default_fire_clear_secs(),
        }
    }
}

impl FireRuleSettings {
    fn validate(&self, key: &str) -> Result<(), RulesConfigError> {
        if !(1..=100).contains(&self.confirm_n) || !(1..=self.confirm_n).contains(&self.confirm_k) {
            return Err(invalid(
                format!("{key}.confirm_k"),
                format!(
                    "expected 1 <= confirm_k <= confirm_n <= 100, got confirm_k = {}, confirm_n = {}",
                    self.confirm_k, self.confirm_n
                ),
            ));
        }
        if !(1..=2).contains(&self.votes_required) {
            return Err(invalid(
                format!("{key}.votes_required"),
                format!("expected 1 or 2, got {}", self.votes_required),
            ));
        }
        unit(key, "min_score", self.min_score)?;
        seconds(key, "confirm_min_secs", self.confirm_min_secs)?;
        seconds(key, "clear_secs", self.clear_secs)
    }
}

fn seconds(key: &str, name: &str, v: f64) -> Result<(), RulesConfigError> {
    if v.is_finite() && v >= 0.0 {
        Ok(())
    } else {
        Err(invalid(format!("{key}.{name}"), format!("expected seconds >= 0, got {v}")))
    }
}

fn unit(key: &str, name: &str, v: f32) -> Result<(), RulesConfigError> {
    if (0.0..=1.0).contains(&v) {
        Ok(())
    } else {
        Err(invalid(format!("{key}.{name}"), format!("expected a number in 0..=1, got {v}")))
    }
}
