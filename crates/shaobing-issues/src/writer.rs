//! The problem database's one writer. SQLite is synchronous: the writer gets its own thread
//! and drains the findings channel until every source is gone. A failed write is retried
//! rather than dropped: the finding stays in hand until the disk takes it.

use crate::announce::{Announcer, Change};
use crate::document::IssueChange;
use crate::verdicts::{Decision, Outcome, Request, VerdictInbox};
use shaobing_core::{Backoff, CandidateIssue, Filing, Finding, RecheckWatch};
use shaobing_store::{Recorded, Store, StoreError};
use std::time::Duration;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

/// Findings waiting for the store; bounded so a stuck disk pushes back on the sources
/// (analysis then drops frames, counted) instead of growing memory.
pub const FINDINGS_QUEUE: usize = 256;
/// How often handled issues not seen since are verified, and overdue issues escalated.
const RECHECK_EVERY: Duration = Duration::from_secs(2);

/// Starts the writer thread; it ends once every sender of `findings` and every [`Verdicts`]
/// handle is dropped.
///
/// [`Verdicts`]: crate::Verdicts Once
/// `stopping` fires, a write that fails is given up instead of retried, so a full disk cannot
/// hold the shutdown: a sensor finding stays pending at its source (its receipt is not
/// called) and is filed at the next start; a camera's was never acknowledged to anyone.
/// `rechecks` is kept naming the handled issues a sensor is to look at again.
pub fn spawn_writer(
    mut store: Store,
    mut findings: mpsc::Receiver<Filing>,
    verdicts: VerdictInbox,
    mut announcer: Announcer,
    rechecks: RecheckWatch,
    stopping: CancellationToken,
) -> std::io::Result<std::thread::JoinHandle<()>> {
    // The thread's own single-threaded runtime only waits on the two channels; every store
    // call is synchronous on this thread.
    let runtime = tokio::runtime::Builder::new_current_thread().enable_time().build()?;
    std::thread::Builder::new().name("store".into()).spawn(move || {
        let mut writer =
            Writer { store: &mut store, announcer: &mut announcer, rechecks: &rechecks, stopping: &stopping };
        let VerdictInbox(mut verdicts) = verdicts;
        // Until both sides are gone (a box without cameras or sensors still takes verdicts), or,
        // once stopping, until the findings are: a console's open event stream may keep a
        // verdict handle alive past the shutdown.
        runtime.block_on(async {
            let mut recheck = tokio::time::interval(RECHECK_EVERY);
            let (mut deciding, mut filing) = (true, true);
            while deciding || filing {
                tokio::select! {
                    biased;
                    request = verdicts.recv(), if deciding => match request {
                        Some(request) => {
                            writer.decide(request);
                            writer.watch_rechecks();
                        }
                        None => deciding = false,
                    },
                    found = findings.recv(), if filing => match found {
                        Some(found) => writer.take(found),
                        None => filing = false,
                    },
                    () = stopping.cancelled(), if !filing => break,
                    _ = recheck.tick() => {
                        writer.settle_rechecks();
                        writer.escalate_overdue();
                        // Verdicts given by the CLI, or by the centre through another door.
                        writer.watch_rechecks();
                    }
                }
            }
        });
    })
}

struct Writer<'a> {
    store: &'a mut Store,
    announcer: &'a mut Announcer,
    rechecks: &'a RecheckWatch,
    stopping: &'a CancellationToken,
}

impl Writer<'_> {
    fn take(&mut self, Filing { finding, receipt }: Filing) {
        let source = receipt.as_ref().map(|r| r.id.as_str());
        let filed = match source {
            Some(id) => self.retry(|s| s.filed(id), id).and_then(|applied| applied.then_some(())),
            None => None,
        };
        let filed = filed.or_else(|| self.file(finding, source));
        if let (Some(()), Some(receipt)) = (filed, receipt) {
            receipt.filed();
        }
    }

    /// Verifies the handled issues their sources have not seen since for `verify_secs`.
    fn settle_rechecks(&mut self) {
        match self.store.settle_rechecks(shaobing_core::UnixMillis::now()) {
            Ok(done) => {
                for shaobing_store::Recheck::Verified { id } | shaobing_store::Recheck::Reopened { id } in done {
                    tracing::info!(%id, "verified: not seen since it was handled");
                    self.announcer.announce(&Change::new(self.store, IssueChange::Verified, &id, None));
                }
            }
            Err(e) => tracing::warn!(error = %e, "cannot settle re-checks; trying again"),
        }
    }

    /// Tells the sensor stage and the cameras which handled issues to report on at their due
    /// time.
    fn watch_rechecks(&mut self) {
        match self.store.rechecks_due() {
            Ok(due) => self.rechecks.set(due),
            Err(e) => tracing::warn!(error = %e, "cannot read the re-checks; trying again"),
        }
    }

    /// Moves every issue past a deadline up a tier, once per deadline, and tells of it.
    fn escalate_overdue(&mut self) {
        match self.store.escalate_overdue(shaobing_core::UnixMillis::now()) {
            Ok(overdue) => {
                for o in overdue {
                    tracing::warn!(
                        id = %o.id,
                        missed = o.missed.as_str(),
                        department = %o.department,
                        tier = %o.tier,
                        "overdue: escalated"
                    );
                    self.announcer.announce(&Change::new(self.store, IssueChange::Overdue, &o.id, None));
                }
            }
            Err(e) => tracing::warn!(error = %e, "cannot escalate overdue issues; trying again"),
        }
    }

    /// Applies an operator's decision and announces the change; a refusal goes back to the
    /// operator, never retried (a person decides again).
    fn decide(&mut self, Request { id, actor, decision, reply }: Request) {
        let outcome = match decision {
            Decision::Verdict { source: Some(source), .. } if self.store.filed(&source).unwrap_or(false) => {
                self.store.get(&id).map(|row| Outcome::Issue(Box::new(row)))
            }
            Decision::Verdict { verdict, note, source } => {
                let applied = self.store.apply_verdict_from(&id, &verdict, &actor, note.as_deref(), source.as_deref());
                applied.map(|row| {
                    tracing::info!(%id, %actor, verdict = verdict.as_str(), status = %row.status, "verdict");
                    let kind = if row.status == "resolved" { IssueChange::Resolved } else { IssueChange::Status };
                    self.announcer.announce(&Change::new(self.store, kind, &id, None));
                    Outcome::Issue(Box::new(row))
                })
            }
            Decision::Lift => self.store.lift_suppression(&id, &actor).map(Outcome::Lifted),
        };
        let _ = reply.send(outcome);
    }

    /// Applies a finding; `None` when given up at shutdown.
    fn file(&mut self, finding: Finding, source: Option<&str>) -> Option<()> {
        match finding {
            Finding::Opened { issue, evidence } => {
                let recorded = self.retry(|s| s.record_from(&issue, evidence.as_deref(), source), &issue.dedup_key)?;
                if let Recorded::Created { id } = &recorded {
                    tracing::info!(%id, category = %issue.category, cause = %issue.cause.summary, "issue filed");
                }
                announce_recorded(self.store, self.announcer, &recorded, &issue);
            }
            Finding::Ongoing { issue, evidence } => {
                let recorded = self.retry(|s| s.record_from(&issue, evidence.as_deref(), source), &issue.dedup_key)?;
                announce_recorded(self.store, self.announcer, &recorded, &issue);
            }
            Finding::Cleared { dedup_key, actor, note, after } => {
                let after = after.as_ref().map(|(bytes, at)| (bytes.as_slice(), *at));
                let resolved =
                    self.retry(|s| s.resolve_observed_from(&dedup_key, &actor, &note, after, source), &dedup_key)?;
                if let Some(id) = resolved {
                    // A handled issue being re-checked is verified rather than resolved.
                    let verified = self.store.get(&id).is_ok_and(|row| row.status == "verified");
                    let kind = if verified { IssueChange::Verified } else { IssueChange::Resolved };
                    tracing::info!(%id, %actor, %note, change = kind.as_str(), "issue seen gone by its source");
                    self.announcer.announce(&Change::new(self.store, kind, &id, None));
                }
            }
            Finding::Clip { dedup_key, moment, mp4, starts_at } => {
                let kept = self.retry(|s| s.attach_clip(&dedup_key, moment, &mp4, starts_at), &dedup_key)?;
                match kept {
                    Some(id) => {
                        tracing::info!(%id, bytes = mp4.len(), "clip kept");
                        self.announcer.announce(&Change::new(self.store, IssueChange::Evidence, &id, None));
                    }
                    None => tracing::debug!(key = %dedup_key, "clip of a finding that filed no issue; not kept"),
                }
            }
        }
        Some(())
    }

    /// Runs a store operation until it succeeds (a full disk, a locked file), with the
    /// workspace's backoff and a log line per failure; gives up (`None`) once stopping.
    fn retry<T>(&mut self, mut op: impl FnMut(&mut Store) -> Result<T, StoreError>, key: &str) -> Option<T> {
        let mut backoff = Backoff::new(Duration::from_millis(100), Duration::from_secs(10));
        loop {
            match op(self.store) {
                Ok(v) => return Some(v),
                Err(e) if self.stopping.is_cancelled() => {
                    tracing::error!(error = %e, key, "cannot store issue at shutdown; given up (a sensor finding is filed at the next start)");
                    return None;
                }
                Err(e) => {
                    tracing::error!(error = %e, key, "cannot store issue; retrying");
                    let until = std::time::Instant::now() + backoff.next_delay();
                    while std::time::Instant::now() < until && !self.stopping.is_cancelled() {
                        std::thread::sleep(Duration::from_millis(50));
                    }
                }
            }
        }
    }
}

fn announce_recorded(store: &Store, announcer: &mut Announcer, recorded: &Recorded, issue: &CandidateIssue) {
    let (kind, id) = match recorded {
        Recorded::Created { id } => (IssueChange::New, id),
        Recorded::Folded { id, .. } => (IssueChange::Updated, id),
        Recorded::Rechecked { id, reopened: true } => {
            tracing::info!(%id, key = %issue.dedup_key, "reopened: still present after it was handled");
            (IssueChange::Reopened, id)
        }
        Recorded::Rechecked { .. } => return,
        Recorded::Suppressed { dismissed } => {
            // Counted in the suppression itself, which the console lists.
            tracing::debug!(key = %issue.dedup_key, %dismissed, "not filed: dismissed here before");
            return;
        }
    };
    announcer.announce(&Change::new(store, kind, id, Some(issue)));
}
