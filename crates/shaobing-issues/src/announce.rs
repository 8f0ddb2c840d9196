//! Who hears of a stored change. Each listener says which changes it wants; the document is
//! read back from the store once per change, and only when someone wants it.

use crate::document::{IssueChange, IssueDocument, IssueEvent};
use shaobing_metrics::Metrics;
use shaobing_store::Store;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::{Notify, broadcast};

/// A listener of the problem database. Called on the store thread: it must never block.
pub trait Subscriber: Send {
    /// Whether this change of issue `id` is wanted, before the document is read.
    fn wants(&mut self, change: IssueChange, id: &str) -> bool;
    fn announce(&mut self, event: &IssueEvent);
}

/// Hands each change to the subscribers that want it.
pub struct Announcer {
    subscribers: Vec<Box<dyn Subscriber>>,
}

impl std::fmt::Debug for Announcer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Announcer").field("subscribers", &self.subscribers.len()).finish()
    }
}

impl Announcer {
    pub fn new(subscribers: Vec<Box<dyn Subscriber>>) -> Self {
        Self { subscribers }
    }

    pub fn announce(&mut self, store: &Store, change: IssueChange, id: &str) {
        let wanted: Vec<usize> =
            (0..self.subscribers.len()).filter(|&i| self.subscribers[i].wants(change, id)).collect();
        if wanted.is_empty() {
            return;
        }
        let issue = match IssueDocument::load(store, id) {
            Ok(issue) => issue,
            Err(e) => return tracing::warn!(%id, error = %e, "cannot read a changed issue back; not announced"),
        };
        let event = IssueEvent { change, issue };
        for i in wanted {
            self.subscribers[i].announce(&event);
        }
    }
}

/// The issue counters: filed by category and priority, updated by category.
#[derive(Debug)]
pub struct IssueMetrics(pub Metrics);

impl Subscriber for IssueMetrics {
    fn wants(&mut self, change: IssueChange, _: &str) -> bool {
        change != IssueChange::Resolved
    }

    fn announce(&mut self, event: &IssueEvent) {
        let issue = &event.issue;
        match event.change {
            IssueChange::New => self.0.issue_emitted(&issue.category, &issue.priority),
            _ => self.0.issue_updated(&issue.category),
        }
    }
}

/// Wakes a sink that polls the outbox (the central drain) when an issue is filed or resolved,
/// so it sends at once rather than at its next poll.
#[derive(Debug)]
pub struct Wake(pub Arc<Notify>);

impl Subscriber for Wake {
    fn wants(&mut self, change: IssueChange, _: &str) -> bool {
        change != IssueChange::Updated
    }

    fn announce(&mut self, _: &IssueEvent) {
        self.0.notify_one();
    }
}

/// A standing hazard folds a sighting into its issue on every analysed frame; the event stream
/// tells of it at most this often per issue (new and resolved are always told at once).
pub const UPDATE_EVENT_PERIOD: Duration = Duration::from_secs(10);

/// The console's stream of changes, read back only while someone listens.
#[derive(Debug)]
pub struct ConsoleEvents {
    events: broadcast::Sender<IssueEvent>,
    /// When each issue's last `updated` event went out.
    last_update: HashMap<String, Instant>,
}

impl ConsoleEvents {
    pub fn new(events: broadcast::Sender<IssueEvent>) -> Self {
        Self { events, last_update: HashMap::new() }
    }

    /// Whether a change goes out now: always for new and resolved, for updates once a period.
    fn due(&mut self, id: &str, change: IssueChange, now: Instant) -> bool {
        match change {
            // The new issue is itself the latest news: updates start one period later.
            IssueChange::New => {
                self.last_update.insert(id.to_string(), now);
                true
            }
            IssueChange::Updated => match self.last_update.get(id) {
                Some(at) if now.duration_since(*at) < UPDATE_EVENT_PERIOD => false,
                _ => {
                    self.last_update.insert(id.to_string(), now);
                    true
                }
            },
            IssueChange::Resolved => {
                self.last_update.remove(id);
                true
            }
        }
    }
}

impl Subscriber for ConsoleEvents {
    fn wants(&mut self, change: IssueChange, id: &str) -> bool {
        self.events.receiver_count() > 0 && self.due(id, change, Instant::now())
    }

    fn announce(&mut self, event: &IssueEvent) {
        let _ = self.events.send(event.clone());
    }
}

/// Every new and resolved issue published at once with QoS 1 on a topic tree per box,
/// priority and category, so the command centre (and for a fire, every department) can
/// subscribe to exactly what it must act on.
///
/// ```text
/// shaobing/<box_id>/availability                   online | offline (retained, last will)
/// shaobing/<box_id>/issues/emergency/<category>    {"change":"new"|"resolved", "issue":{...}}
/// shaobing/<box_id>/issues/routine/<category>
/// ```
#[derive(Debug)]
pub struct MqttAlerts {
    pub publisher: shaobing_mqtt::Publisher,
    pub box_id: String,
}

pub fn issue_topic(box_id: &str, priority: &str, category: &str) -> String {
    format!("shaobing/{box_id}/issues/{priority}/{category}")
}

impl Subscriber for MqttAlerts {
    fn wants(&mut self, change: IssueChange, _: &str) -> bool {
        change != IssueChange::Updated
    }

    /// An alert that finds the connection's queue full is logged and dropped: the issue itself
    /// is committed and goes to the centre through the outbox.
    fn announce(&mut self, event: &IssueEvent) {
        let topic = issue_topic(&self.box_id, &event.issue.priority, &event.issue.category);
        let payload = serde_json::to_vec(event).unwrap_or_default();
        if self.publisher.try_publish(topic, payload).is_err() {
            tracing::warn!(id = %event.issue.id, change = event.change.as_str(), "alert queue full; alert not published");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn updates_of_a_standing_hazard_are_told_once_a_period_new_and_resolved_at_once() {
        let (events, _) = broadcast::channel(4);
        let mut c = ConsoleEvents::new(events);
        let t0 = Instant::now();
        assert!(c.due("i1", IssueChange::New, t0));
        assert!(!c.due("i1", IssueChange::Updated, t0), "right after new");
        assert!(c.due("i2", IssueChange::Updated, t0), "another issue has its own period");
        assert!(!c.due("i2", IssueChange::Updated, t0));
        assert!(c.due("i2", IssueChange::Updated, t0 + UPDATE_EVENT_PERIOD), "a period later");
        assert!(c.due("i1", IssueChange::Resolved, t0));
        assert!(c.due("i1", IssueChange::Updated, t0), "a resolved issue's period is forgotten");
    }
}
