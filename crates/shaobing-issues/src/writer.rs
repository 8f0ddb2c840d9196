//! The problem database's one writer. SQLite is synchronous: the writer gets its own thread
//! and drains the findings channel until every source is gone. A failed write is retried
//! rather than dropped: the finding stays in hand until the disk takes it.

use crate::announce::{Announcer, Change};
use crate::document::IssueChange;
use shaobing_core::{Backoff, CandidateIssue, Filing, Finding};
use shaobing_store::{Recorded, Store, StoreError};
use std::time::Duration;
use tokio::sync::mpsc;

/// Findings waiting for the store; bounded so a stuck disk pushes back on the sources
/// (analysis then drops frames, counted) instead of growing memory.
pub const FINDINGS_QUEUE: usize = 256;

/// Starts the writer thread; it ends once every sender of `findings` is dropped.
pub fn spawn_writer(
    mut store: Store,
    mut findings: mpsc::Receiver<Filing>,
    mut announcer: Announcer,
) -> std::io::Result<std::thread::JoinHandle<()>> {
    std::thread::Builder::new().name("store".into()).spawn(move || {
        while let Some(Filing { finding, receipt }) = findings.blocking_recv() {
            let source = receipt.as_ref().map(|r| r.id.as_str());
            let applied = source.is_some_and(|id| retry(|| store.filed(id), id));
            if !applied {
                file(&mut store, &mut announcer, finding, source);
            }
            if let Some(receipt) = receipt {
                receipt.filed();
            }
        }
    })
}

fn file(store: &mut Store, announcer: &mut Announcer, finding: Finding, source: Option<&str>) {
    match finding {
        Finding::Opened { issue, evidence } => {
            let recorded = retry(|| store.record_from(&issue, evidence.as_deref(), source), &issue.dedup_key);
            if let Recorded::Created { id } = &recorded {
                tracing::info!(%id, category = %issue.category, cause = %issue.cause.summary, "issue filed");
            }
            announce_recorded(store, announcer, &recorded, &issue);
        }
        Finding::Ongoing { issue } => {
            let recorded = retry(|| store.record_from(&issue, None, source), &issue.dedup_key);
            announce_recorded(store, announcer, &recorded, &issue);
        }
        Finding::Cleared { dedup_key, actor, note, after } => {
            let after = after.as_ref().map(|(bytes, at)| (bytes.as_slice(), *at));
            if let Some(id) =
                retry(|| store.resolve_observed_from(&dedup_key, &actor, &note, after, source), &dedup_key)
            {
                tracing::info!(%id, %actor, %note, "issue resolved by observation");
                announcer.announce(&Change::new(store, IssueChange::Resolved, &id, None));
            }
        }
    }
}

fn announce_recorded(store: &Store, announcer: &mut Announcer, recorded: &Recorded, issue: &CandidateIssue) {
    let (kind, id) = match recorded {
        Recorded::Created { id } => (IssueChange::New, id),
        Recorded::Folded { id, .. } => (IssueChange::Updated, id),
    };
    announcer.announce(&Change::new(store, kind, id, Some(issue)));
}

/// Runs a store operation until it succeeds (a full disk, a locked file), with the
/// workspace's backoff and a log line per failure.
fn retry<T>(mut op: impl FnMut() -> Result<T, StoreError>, key: &str) -> T {
    let mut backoff = Backoff::new(Duration::from_millis(100), Duration::from_secs(10));
    loop {
        match op() {
            Ok(v) => return v,
            Err(e) => {
                tracing::error!(error = %e, key, "cannot store issue; retrying");
                std::thread::sleep(backoff.next_delay());
            }
        }
    }
}
