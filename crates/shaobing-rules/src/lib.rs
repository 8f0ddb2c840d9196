//! Rules that turn per-frame detections into hazards: a tracker that knows which objects stand
//! still, zones judged by where an object touches the ground, and dwell times.
//!
//! Pure logic over `shaobing-core` types, driven by frame timestamps rather than the wall
//! clock, so every rule can be tested on recorded detection sequences.

mod parking;
mod tracker;

pub use parking::{Hazard, HazardPhase, ParkingRule, ParkingRuleConfig, Zone};
pub use tracker::{Track, Tracker, TrackerConfig};
