//! Domain types shared by every stage of shaobing.
//!
//! This crate is the vocabulary of the data flow (sources -> analysis -> issues -> sinks) and
//! deliberately depends on nothing heavy: no GStreamer, OpenCV, ONNX Runtime or database, so
//! that rules and tests can be written against it alone.

mod frame;
mod geometry;
mod issue;
mod location;
mod ratelimit;
mod reading;
mod secret;
mod time;

pub use frame::{CameraId, Frame};
pub use geometry::{BBox, Point, Polygon, PolygonError};
pub use issue::{
    CandidateIssue, Category, Cause, Detection, DiscoveryChannel, EscalationTier, IssueStatus, Priority,
    Responsibility, WhistleKind,
};
pub use location::{Location, ZoneId};
pub use ratelimit::RateLimiter;
pub use reading::{Reading, SensorId};
pub use secret::Secret;
pub use time::UnixMillis;
