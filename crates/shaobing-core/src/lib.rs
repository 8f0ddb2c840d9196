//! Domain types shared by every stage of shaobing.
//!
//! This crate is the vocabulary of the data flow (sources -> analysis -> issues -> sinks) and
//! deliberately depends on nothing heavy: no GStreamer, OpenCV, ONNX Runtime or database, so
//! that rules and tests can be written against it alone.

mod backoff;
mod blocks;
mod cadence;
mod finding;
mod frame;
mod geometry;
mod issue;
mod kind;
mod location;
mod ratelimit;
mod reading;
mod recheck;
mod secret;
mod time;
mod verdict;

pub use backoff::Backoff;
pub use blocks::{BlockError, Credentials, Place};
pub use cadence::Cadence;
pub use finding::{Filing, Finding, Phase, Receipt};
pub use frame::{CameraId, Frame, LiveView};
pub use geometry::{BBox, Point, Polygon, PolygonError};
pub use issue::{
    CandidateIssue, Category, Cause, Deadlines, Detection, DiscoveryChannel, EscalationTier, IssueStatus, Priority,
    Responsibility, WhistleKind,
};
pub use kind::{Followed, ObjectKind};
pub use location::{Location, ZoneId};
pub use ratelimit::RateLimiter;
pub use reading::{Reading, SensorId};
pub use recheck::RecheckWatch;
pub use secret::Secret;
pub use time::{UnixMillis, UtcOffset, box_zone, secs_as_millis, set_box_zone};
pub use verdict::{DismissReason, Verdict};

/// Whether `value` may be an identifier: ids become metric labels, file names, dedup keys and
/// MQTT topic levels, so they keep to 1 to 64 characters of a-z, A-Z, 0-9, `-` and `_`.
pub fn is_identifier(value: &str) -> bool {
    !value.is_empty() && value.len() <= 64 && value.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

/// What [`is_identifier`] expects, for error messages.
pub const IDENTIFIER_RULE: &str = "1 to 64 characters of a-z, A-Z, 0-9, `-` or `_`";
