//! The issues room: every rule's [`Finding`](shaobing_core::Finding), camera or sensor, is
//! filed into the problem database by one writer, and each stored change is announced as one
//! [`IssueDocument`] to the subscribers that want it: metrics, the central drain, MQTT alerts,
//! the console's event stream.

mod announce;
mod document;
mod supervision;
mod writer;

pub use announce::{
    Announcer, Change, ConsoleEvents, IssueMetrics, MqttAlerts, Subscriber, UPDATE_EVENT_PERIOD, Wake, issue_topic,
};
pub use document::{IssueChange, IssueDocument, IssueEvent};
pub use supervision::supervise;
pub use writer::{FINDINGS_QUEUE, spawn_writer};

#[cfg(test)]
mod tests;
