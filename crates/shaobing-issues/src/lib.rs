//! The issues room: every rule's [`Finding`](shaobing_core::Finding), camera or sensor, is
//! filed into the problem database by one writer, and each stored change is announced as one
//! [`IssueDocument`] to the subscribers that want it: metrics, the central drain, the MQTT
//! alerts (from the store's alert queue), the console's event stream.

mod alerts;
mod announce;
mod document;
mod supervision;
mod verdicts;
mod writer;

pub use alerts::{issue_topic, publish_alerts};
pub use announce::{Announcer, Change, ConsoleEvents, IssueMetrics, Subscriber, UPDATE_EVENT_PERIOD, Wake};
pub use document::{IssueChange, IssueDocument, IssueEvent};
pub use supervision::{audit_evidence, supervise};
pub use verdicts::{VerdictError, VerdictInbox, Verdicts, verdicts};
pub use writer::{FINDINGS_QUEUE, spawn_writer};

#[cfg(test)]
mod tests;
