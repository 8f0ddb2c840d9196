//! Rules that turn per-frame detections into hazards: a tracker that knows which objects stand
//! still, zones judged by where an object touches the ground, dwell times, and K-of-N
//! confirmation for fire.
//!
//! Pure logic over `shaobing-core` types, driven by frame timestamps rather than the wall
//! clock, so every rule can be tested on recorded detection sequences.

mod crowd;
mod dwell;
mod fire;
mod settings;
mod subject;
mod tracker;
mod window;

pub use crowd::CrowdRule;
pub use dwell::{DwellRule, DwellRuleConfig, Dwelling};
pub use fire::{FireRule, FireVote};
pub use settings::{CrowdRuleSettings, DwellRuleSettings, FireRuleSettings, RulesConfig, RulesConfigError};
pub use subject::{FALLBACK_CONFIDENCE, Subject, SubjectConfig, subjects};
pub use tracker::{Track, Tracker, TrackerConfig};
pub use window::{TimeWindow, exempt};

use shaobing_core::{Category, Detection, ObjectKind, Phase, Polygon, ZoneId};
use std::time::Duration;

/// A detection and what it means to the rules (one detection may carry several kinds).
#[derive(Debug, Clone, PartialEq)]
pub struct Sighting {
    pub kind: ObjectKind,
    pub detection: Detection,
}

/// A zone of one camera where some objects must not stay.
#[derive(Debug, Clone)]
pub struct Zone {
    pub id: ZoneId,
    pub polygon: Polygon,
    /// Hours when the zone's rule does not apply (a permitted night market).
    pub exempt: Vec<TimeWindow>,
}

/// One hazard as of one frame.
#[derive(Debug, Clone, PartialEq)]
pub struct Hazard {
    pub phase: Phase,
    pub dedup_key: String,
    pub category: Category,
    /// The rule that raised it, for the cause (`street_vending/dwell`).
    pub rule: &'static str,
    pub zone: ZoneId,
    pub track_id: u64,
    /// The object itself.
    pub detection: Detection,
    /// What made it qualify: the person at a stall, a cycle and its cargo, every fire vote.
    pub related: Vec<Detection>,
    /// Why, in words, when more than the rule's name is needed (fallbacks say so).
    pub note: Option<String>,
    pub confidence: f32,
    /// Standing still (dwell rules) or burning (fire) for this long; for a cleared hazard,
    /// how long it has not been seen.
    pub duration: Duration,
}
