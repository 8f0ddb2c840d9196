//! Verdicts on issues, and what a dismissal teaches: the same place and category (the
//! dismissed issue's dedup key, which names the camera, zone, category and the place in the
//! view) are not filed again until the suppression ends or someone lifts it.

use crate::outbox::{set_value, setting};
use crate::{IssueRow, Store, StoreError, alerts, lifecycle, outbox};
use rusqlite::{OptionalExtension, Transaction, params};
use serde::Serialize;
use shaobing_core::{IssueStatus, UnixMillis, Verdict};

/// How long a dismissal suppresses its place and category when no daemon has said otherwise.
pub const DEFAULT_SUPPRESS_SECS: u64 = 7 * 86_400;
const SUPPRESS_SECS: &str = "suppress_secs";

/// A place and category not filed again since an operator dismissed it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Suppression {
    pub dedup_key: String,
    /// The dismissed issue.
    pub issue_id: String,
    pub category: String,
    pub source: String,
    pub reason: String,
    pub by: String,
    pub created_ms: i64,
    pub until_ms: i64,
    /// Candidates not filed because of it.
    pub suppressed: i64,
}

/// The suppression in force for `dedup_key` at `now`, counting the candidate it holds back.
pub(crate) fn hold_back(tx: &Transaction<'_>, dedup_key: &str, now: i64) -> rusqlite::Result<Option<String>> {
    tx.query_row(
        "UPDATE suppressions SET suppressed = suppressed + 1 WHERE dedup_key = ?1 AND until_ms > ?2 RETURNING issue_id",
        params![dedup_key, now],
        |r| r.get(0),
    )
    .optional()
}

fn suppress(tx: &Transaction<'_>, row: &IssueRow, reason: &str, by: &str, now: i64) -> rusqlite::Result<()> {
    let secs: u64 = setting(tx, SUPPRESS_SECS)?.and_then(|v| v.parse().ok()).unwrap_or(DEFAULT_SUPPRESS_SECS);
    let until = UnixMillis(now).plus_secs(secs).0;
    tx.execute(
        "INSERT INTO suppressions (dedup_key, issue_id, category, source, reason, by, created_ms, until_ms, suppressed)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, 0)
         ON CONFLICT (dedup_key) DO UPDATE SET issue_id = excluded.issue_id, reason = excluded.reason,
            by = excluded.by, created_ms = excluded.created_ms, until_ms = excluded.until_ms, suppressed = 0",
        params![row.dedup_key, row.id, row.category, row.source, reason, by, now, until],
    )?;
    Ok(())
}

impl Store {
    /// How long a dismissal suppresses its place and category, for every process that writes
    /// this store (the daemon says it at start from its configuration; the CLI follows).
    pub fn set_suppress_secs(&mut self, secs: u64) -> Result<(), StoreError> {
        self.write(|tx| set_value(tx, SUPPRESS_SECS, &secs.to_string()))
    }

    /// Applies a verdict by `actor`: the status change the lifecycle allows (an illegal one is
    /// refused with the statuses allowed), recorded in the history with the note; a dismissal
    /// also suppresses the issue's place and category. Returns the issue as it now stands.
    pub fn apply_verdict(
        &mut self,
        id: &str,
        verdict: &Verdict,
        actor: &str,
        note: Option<&str>,
    ) -> Result<IssueRow, StoreError> {
        self.apply_verdict_from(id, verdict, actor, note, None)
    }

    /// [`Store::apply_verdict`] for a verdict named `source` by where it was taken (a row of
    /// the central database's verdicts), marked applied in the same transaction: one read
    /// again after a reconnect is not applied twice ([`Store::filed`] says it was).
    pub fn apply_verdict_from(
        &mut self,
        id: &str,
        verdict: &Verdict,
        actor: &str,
        note: Option<&str>,
        source: Option<&str>,
    ) -> Result<IssueRow, StoreError> {
        let (current, from) = self.checked(id, verdict.status())?;
        let to = verdict.status().unwrap_or(from);
        let priority = outbox::priority_of(crate::row_priority(&current));
        let note = match verdict {
            Verdict::Dismiss { reason } => Some(match note {
                Some(n) => format!("{}: {n}", reason.as_str()),
                None => reason.as_str().to_string(),
            }),
            _ => note.map(str::to_string),
        };
        let now = UnixMillis::now().0;
        self.write(|tx| {
            if to == from {
                tx.execute("UPDATE issues SET version = version + 1, updated_ms = ?2 WHERE id = ?1", params![id, now])?;
            } else {
                lifecycle::apply(tx, id, to, now)?;
            }
            lifecycle::record_history(tx, id, Some(from), to, actor, note.as_deref(), now)?;
            if let Verdict::Dismiss { reason } = verdict {
                suppress(tx, &current, reason.as_str(), actor, now)?;
            }
            if *verdict == Verdict::Handled {
                crate::recheck::start(tx, &current, now)?;
            }
            if *verdict == Verdict::Acknowledge {
                // Seeing the alarm is the department's first response.
                tx.execute(
                    "UPDATE issues SET acknowledged_ms = IFNULL(acknowledged_ms, ?2),
                        responded_ms = IFNULL(responded_ms, ?2) WHERE id = ?1",
                    params![id, now],
                )?;
            }
            outbox::enqueue_issue(tx, id, priority)?;
            if to == IssueStatus::Resolved && from != to {
                alerts::enqueue(tx, id, "resolved", priority)?;
            }
            crate::schema::mark_filed(tx, source)?;
            Ok(())
        })?;
        self.get(id)
    }

    /// The suppressions still in force, newest first.
    pub fn suppressions(&self) -> Result<Vec<Suppression>, StoreError> {
        let mut stmt = self
            .conn
            .prepare(
                "SELECT dedup_key, issue_id, category, source, reason, by, created_ms, until_ms, suppressed
                 FROM suppressions WHERE until_ms > ?1 ORDER BY created_ms DESC",
            )
            .map_err(self.sql_err())?;
        let rows = stmt
            .query_map([UnixMillis::now().0], |r| {
                Ok(Suppression {
                    dedup_key: r.get(0)?,
                    issue_id: r.get(1)?,
                    category: r.get(2)?,
                    source: r.get(3)?,
                    reason: r.get(4)?,
                    by: r.get(5)?,
                    created_ms: r.get(6)?,
                    until_ms: r.get(7)?,
                    suppressed: r.get(8)?,
                })
            })
            .map_err(self.sql_err())?;
        rows.collect::<rusqlite::Result<Vec<_>>>().map_err(self.sql_err())
    }

    /// Lifts the suppression a dismissal of issue `id` set (the undo), noting who in the
    /// issue's history; `false` when none is in force.
    pub fn lift_suppression(&mut self, id: &str, actor: &str) -> Result<bool, StoreError> {
        let row = self.get(id)?;
        let status = lifecycle::parse_status(&row.status)?;
        let now = UnixMillis::now().0;
        self.write(|tx| {
            let lifted =
                tx.execute("DELETE FROM suppressions WHERE issue_id = ?1 AND until_ms > ?2", params![id, now])? > 0;
            if lifted {
                let note = "suppression of this place and category lifted";
                lifecycle::record_history(tx, id, Some(status), status, actor, Some(note), now)?;
            }
            Ok(lifted)
        })
    }
}
