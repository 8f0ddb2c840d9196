//! Who hears of a stored change. Each listener gets the change with the candidate that caused
//! it; the outbound document is read back from the store only when a listener asks for it, and
//! once per change however many ask (a standing hazard folds a sighting in on every analysed
//! frame: most of those changes need no read at all).

use crate::document::{IssueChange, IssueDocument, IssueEvent};
use shaobing_core::CandidateIssue;
use shaobing_metrics::Metrics;
use shaobing_store::Store;
use std::cell::OnceCell;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::{Notify, broadcast};

/// One stored change of the problem database.
pub struct Change<'a> {
    pub kind: IssueChange,
    pub id: &'a str,
    /// The candidate that was filed or folded in; none when a source saw the problem gone.
    pub candidate: Option<&'a CandidateIssue>,
    store: &'a Store,
    event: OnceCell<Option<IssueEvent>>,
}

impl std::fmt::Debug for Change<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Change").field("kind", &self.kind).field("id", &self.id).finish_non_exhaustive()
    }
}

impl<'a> Change<'a> {
    pub fn new(store: &'a Store, kind: IssueChange, id: &'a str, candidate: Option<&'a CandidateIssue>) -> Self {
        Self { kind, id, candidate, store, event: OnceCell::new() }
    }

    /// The issue as it leaves the box, read back from the store on first use.
    pub fn event(&self) -> Option<&IssueEvent> {
        self.event
            .get_or_init(|| match IssueDocument::load(self.store, self.id) {
                Ok(issue) => Some(IssueEvent { change: self.kind, issue }),
                Err(e) => {
                    tracing::warn!(id = %self.id, error = %e, "cannot read a changed issue back; not announced");
                    None
                }
            })
            .as_ref()
    }
}

/// A listener of the problem database. Called on the store thread: it must never block.
pub trait Subscriber: Send {
    fn announce(&mut self, change: &Change<'_>);
}

/// Hands each change to every subscriber.
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

    pub fn announce(&mut self, change: &Change<'_>) {
        for subscriber in &mut self.subscribers {
            subscriber.announce(change);
        }
    }
}

/// The issue counters: filed by category and priority, updated by category.
#[derive(Debug)]
pub struct IssueMetrics(pub Metrics);

impl Subscriber for IssueMetrics {
    fn announce(&mut self, change: &Change<'_>) {
        if let IssueChange::Reopened | IssueChange::Verified = change.kind {
            if let Some(event) = change.event() {
                self.0.recheck(&event.issue.category, change.kind.as_str());
            }
            return;
        }
        if change.kind == IssueChange::Overdue {
            if let Some(event) = change.event() {
                self.0.overdue(&event.issue.department, &event.issue.category);
            }
            return;
        }
        let Some(issue) = change.candidate else { return };
        match change.kind {
            IssueChange::New => self.0.issue_emitted(issue.category.as_str(), issue.priority.as_str()),
            IssueChange::Updated => self.0.issue_updated(issue.category.as_str()),
            IssueChange::Resolved
            | IssueChange::Status
            | IssueChange::Reopened
            | IssueChange::Verified
            | IssueChange::Evidence
            | IssueChange::Overdue => {}
        }
    }
}

/// Wakes a sink that polls the outbox (the central drain) when an issue is filed or resolved,
/// so it sends at once rather than at its next poll.
#[derive(Debug)]
pub struct Wake(pub Arc<Notify>);

impl Subscriber for Wake {
    fn announce(&mut self, change: &Change<'_>) {
        if change.kind != IssueChange::Updated {
            self.0.notify_one();
        }
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
            IssueChange::Status
            | IssueChange::Reopened
            | IssueChange::Verified
            | IssueChange::Evidence
            | IssueChange::Overdue => true,
        }
    }
}

impl Subscriber for ConsoleEvents {
    fn announce(&mut self, change: &Change<'_>) {
        if self.events.receiver_count() == 0 || !self.due(change.id, change.kind, Instant::now()) {
            return;
        }
        if let Some(event) = change.event() {
            let _ = self.events.send(event.clone());
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
