//! The problem database on the box (基础问题数据库): every candidate issue with its point
//! location, cause, category, responsible department, resolution path and evidence.
//!
//! # Write protocol
//!
//! 1. The evidence JPEG is written to a temporary file in `evidence/`, `fsync`ed, renamed to
//!    its final name, and the directory is `fsync`ed: the file exists durably before anything
//!    refers to it.
//! 2. The issue row and the evidence row (path + sha256) are inserted in one transaction.
//! 3. SQLite runs in WAL mode with `synchronous = FULL`: a transaction that returned is on disk
//!    and survives power loss, not only a process crash.
//!
//! An issue is **accepted** when step 3's commit returns. A crash between 1 and 3 leaves at
//! worst an orphan evidence file, never a row pointing at a missing or partial file.
//!
//! Repeated sightings of a hazard whose issue is still open (same dedup key) do not create a
//! new issue: they bump `occurrences` and `last_seen_ms` of the open one. A partial unique
//! index on the dedup key of open issues enforces this in the database itself.
//!
//! # Lifecycle and outbox
//!
//! Status changes follow candidate -> confirmed | dismissed -> dispatched -> resolved ->
//! verified, each recorded in `status_history` with who and when. Every change to an issue
//! bumps its `version` and, in the same transaction, leaves the issue's latest snapshot in the
//! `outbox` (one row per issue, replaced while unsent) for the central database: what is
//! committed here is what will be sent, and nothing is sent that was not committed.

mod alerts;
mod chain;
mod deadlines;
mod evidence;
mod lifecycle;
mod masks;
mod outbox;
mod recheck;
mod report;
mod retention;
mod schema;
mod verdicts;

pub use alerts::AlertRow;
pub use chain::{
    Chain, ChainEntry, Content, GENESIS, Link, Mismatch, compare as compare_chains, entry_hash, verify as verify_chain,
};
pub use deadlines::{Deadline, Overdue, is_overdue};
pub use evidence::{EvidenceFile, EvidenceWriter, sha256_file};
pub use lifecycle::{TransitionError, parse_status, verdicts_allowed, verdicts_for};
pub use masks::{MASK_AFTER_DISMISSALS, MASK_LOOKBACK_MS, MaskSuggestion, mask_suggestions};
pub use outbox::{OutboxKind, OutboxRow, OutboxStats, PRIORITY_EMERGENCY, PRIORITY_ROUTINE};
pub use recheck::{DEFAULT_VERIFY_SECS, Recheck};
pub use report::{DepartmentFigures, OnTime, Precision, Verification, on_time, precision, report, verified_since};
pub use retention::{EvidenceAudit, EvidenceConfig, Purged};
pub use verdicts::{DEFAULT_SUPPRESS_SECS, Suppression};

use rusqlite::{Connection, OptionalExtension, params};
use serde::{Deserialize, Serialize};
use shaobing_core::{CandidateIssue, IssueStatus, Priority, UnixMillis};
use std::path::{Path, PathBuf};

/// Name of the database file inside the data directory.
pub const DB_FILE: &str = "shaobing.sqlite3";

/// An open issue gets at most one occurrence-history row per this many milliseconds: enough
/// to see when a hazard came and went without a row per analysed frame.
const OCCURRENCE_SPACING_MS: i64 = 60_000;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("problem database {path}: {source}")]
    Sqlite { path: PathBuf, source: rusqlite::Error },
    #[error("evidence file {path}: {source}")]
    Evidence { path: PathBuf, source: std::io::Error },
    #[error("issue `{0}` not found")]
    NotFound(String),
    #[error(transparent)]
    Transition(#[from] TransitionError),
}

/// What `shaobing evidence verify` found on the box.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct EvidenceCheck {
    /// Chain entries (history entries and evidence rows) and evidence files checked.
    pub entries: usize,
    pub files: usize,
    pub mismatches: Vec<Mismatch>,
}

/// What happened to a candidate issue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Recorded {
    /// A new issue was filed under this id.
    Created { id: String },
    /// An open issue with the same dedup key absorbed the occurrence.
    Folded { id: String, occurrences: i64 },
    /// Not filed: an operator dismissed issue `dismissed` at this place and category, and its
    /// suppression is still in force (counted there).
    Suppressed { dismissed: String },
    /// Seen again while the issue, marked handled, is being re-checked; `reopened` once it
    /// is still there `verify_secs` after it was handled.
    Rechecked { id: String, reopened: bool },
}

/// An issue as stored; also the snapshot sent to the central database.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IssueRow {
    pub id: String,
    pub box_id: String,
    pub dedup_key: String,
    pub category: String,
    pub event_code: String,
    pub whistle_kind: String,
    pub channel: String,
    pub priority: String,
    pub status: String,
    pub source: String,
    pub zone: Option<String>,
    pub lat: Option<f64>,
    pub lon: Option<f64>,
    pub address: Option<String>,
    pub cause: String,
    pub rule: String,
    pub confidence: f64,
    pub department: String,
    pub tier: String,
    pub resolution_path: String,
    pub first_seen_ms: i64,
    pub last_seen_ms: i64,
    pub occurrences: i64,
    pub version: i64,
    pub created_ms: i64,
    pub resolved_ms: Option<i64>,
    pub verified_ms: Option<i64>,
    pub evidence_path: Option<String>,
    pub evidence_sha256: Option<String>,
    /// City-management grid cell of the place (absent in snapshots from before it was sent).
    #[serde(default)]
    pub grid_cell: Option<String>,
    /// Last change of the row (a sighting folded in, a status change).
    #[serde(default)]
    pub updated_ms: i64,
    /// When a response and the resolution are due (none: no deadline, or a snapshot from
    /// before deadlines).
    #[serde(default)]
    pub respond_by_ms: Option<i64>,
    #[serde(default)]
    pub resolve_by_ms: Option<i64>,
    /// The first confirm, dismissal or dispatch.
    #[serde(default)]
    pub responded_ms: Option<i64>,
    /// Deadlines missed (the issue went overdue and moved up a tier for each).
    #[serde(default)]
    pub response_late: bool,
    #[serde(default)]
    pub resolution_late: bool,
    /// When the command centre acknowledged it (an emergency's alarm stops).
    #[serde(default)]
    pub acknowledged_ms: Option<i64>,
}

/// Which issues a page holds: each field set narrows it, none set is every issue.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IssueFilter {
    /// Any of these statuses; empty: any status.
    pub statuses: Vec<IssueStatus>,
    pub category: Option<shaobing_core::Category>,
    /// The camera or sensor that raised it.
    pub source: Option<String>,
    pub priority: Option<Priority>,
    /// First seen at or after `since` and before `until`.
    pub since: Option<UnixMillis>,
    pub until: Option<UnixMillis>,
}

/// One evidence file of an issue: `before` (raised) or `after` (seen resolved).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EvidenceRow {
    pub kind: String,
    pub path: String,
    pub sha256: String,
    pub bytes: i64,
    pub captured_ms: i64,
}

/// One status change.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HistoryRow {
    pub from_status: Option<String>,
    pub to_status: String,
    pub actor: String,
    pub note: Option<String>,
    pub at_ms: i64,
    /// Its place in the box's hash chain (absent in snapshots sent before the chain).
    #[serde(flatten, default)]
    pub link: Link,
}

/// The problem database of one box.
#[derive(Debug)]
pub struct Store {
    conn: Connection,
    path: PathBuf,
    data_dir: PathBuf,
    box_id: String,
    evidence: EvidenceWriter,
}

impl Store {
    /// Opens (creating if needed) `data_dir/shaobing.sqlite3` and `data_dir/evidence/`.
    pub fn open(data_dir: &Path, box_id: &str) -> Result<Self, StoreError> {
        let evidence = EvidenceWriter::new(&data_dir.join(evidence::EVIDENCE_DIR))?;
        let path = data_dir.join(DB_FILE);
        let sql = |source| StoreError::Sqlite { path: path.clone(), source };
        let mut conn = Connection::open(&path).map_err(sql)?;
        schema::configure(&conn).map_err(sql)?;
        schema::migrate(&mut conn).map_err(sql)?;
        chain::backfill(&mut conn).map_err(sql)?;
        schema::forget_old_filed(&conn).map_err(sql)?;
        Ok(Self { conn, path, data_dir: data_dir.to_path_buf(), box_id: box_id.to_string(), evidence })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn evidence_dir(&self) -> &Path {
        self.evidence.dir()
    }

    /// A stored evidence path as a file to open: relative ones (every one written since
    /// paths are kept relative) under the data directory, absolute ones (older rows) as they are.
    fn resolve(&self, stored: &str) -> PathBuf {
        self.data_dir.join(stored)
    }

    fn resolve_row(&self, mut row: IssueRow) -> IssueRow {
        row.evidence_path = row.evidence_path.map(|p| self.resolve(&p).to_string_lossy().into_owned());
        row
    }

    fn sql_err(&self) -> impl Fn(rusqlite::Error) -> StoreError + '_ {
        move |source| StoreError::Sqlite { path: self.path.clone(), source }
    }

    /// Runs `f` in one transaction and commits it.
    fn write<T>(&mut self, f: impl FnOnce(&rusqlite::Transaction<'_>) -> rusqlite::Result<T>) -> Result<T, StoreError> {
        let path = self.path.clone();
        let tx = self.conn.transaction().map_err(|source| StoreError::Sqlite { path: path.clone(), source })?;
        (|| {
            let value = f(&tx)?;
            tx.commit()?;
            Ok(value)
        })()
        .map_err(|source| StoreError::Sqlite { path, source })
    }

    /// Files a candidate issue, or folds it into the open issue with the same dedup key.
    /// `evidence` (a JPEG) is stored only when a new issue is created.
    pub fn record(&mut self, issue: &CandidateIssue, evidence: Option<&[u8]>) -> Result<Recorded, StoreError> {
        self.record_from(issue, evidence, None)
    }

    /// Whether the durable finding `source` has been applied ([`Store::record_from`],
    /// [`Store::resolve_observed_from`]).
    pub fn filed(&self, source: &str) -> Result<bool, StoreError> {
        self.conn
            .query_row("SELECT 1 FROM filed_findings WHERE id = ?1", [source], |_| Ok(()))
            .optional()
            .map(|found| found.is_some())
            .map_err(self.sql_err())
    }

    /// [`Store::record`] for a durable finding named `source`, marked applied in the same
    /// transaction.
    pub fn record_from(
        &mut self,
        issue: &CandidateIssue,
        evidence: Option<&[u8]>,
        source: Option<&str>,
    ) -> Result<Recorded, StoreError> {
        let open = self.open_issue(&issue.dedup_key)?;
        if let Some((id, occurrences)) = open {
            self.fold(&id, issue, source)?;
            return Ok(Recorded::Folded { id, occurrences: occurrences + 1 });
        }
        if let Some((id, reopened)) = self.recheck_sighting(&issue.dedup_key, issue.observed_at, evidence, source)? {
            return Ok(Recorded::Rechecked { id, reopened });
        }
        let now = UnixMillis::now().0;
        let held = self.write(|tx| {
            let held = verdicts::hold_back(tx, &issue.dedup_key, now)?;
            if held.is_some() {
                schema::mark_filed(tx, source)?;
            }
            Ok(held)
        })?;
        if let Some(dismissed) = held {
            return Ok(Recorded::Suppressed { dismissed });
        }
        let id = uuid::Uuid::now_v7().to_string();
        let file = match evidence {
            Some(bytes) => Some(self.evidence.write(&format!("{id}-before.{}", evidence::extension_of(bytes)), bytes)?),
            None => None,
        };
        let (path, box_id) = (self.path.clone(), self.box_id.clone());
        let tx = self.conn.transaction().map_err(|source| StoreError::Sqlite { path: path.clone(), source })?;
        let at = issue.observed_at.0;
        let priority = outbox::priority_of(issue.priority);
        (|| {
            schema::insert_issue(&tx, &id, &box_id, issue)?;
            lifecycle::record_history(&tx, &id, None, IssueStatus::Candidate, "shaobing", Some(&issue.cause.rule), at)?;
            schema::insert_occurrence(&tx, &id, issue)?;
            if let Some(f) = &file {
                schema::insert_evidence(&tx, &id, "before", f, issue.observed_at)?;
                outbox::enqueue_evidence(&tx, &id, "before", f, priority)?;
            }
            outbox::enqueue_issue(&tx, &id, priority)?;
            alerts::enqueue(&tx, &id, "new", priority)?;
            schema::mark_filed(&tx, source)?;
            tx.commit()
        })()
        .map_err(|source| StoreError::Sqlite { path, source })?;
        Ok(Recorded::Created { id })
    }

    fn open_issue(&self, dedup_key: &str) -> Result<Option<(String, i64)>, StoreError> {
        self.conn
            .query_row(
                "SELECT id, occurrences FROM issues WHERE dedup_key = ?1 AND status IN ('candidate','confirmed','dispatched')",
                params![dedup_key],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()
            .map_err(self.sql_err())
    }

    fn fold(&mut self, id: &str, issue: &CandidateIssue, source: Option<&str>) -> Result<(), StoreError> {
        let path = self.path.clone();
        let tx = self.conn.transaction().map_err(|source| StoreError::Sqlite { path: path.clone(), source })?;
        let priority = outbox::priority_of(issue.priority);
        (|| {
            tx.execute(
                "UPDATE issues SET occurrences = occurrences + 1, last_seen_ms = MAX(last_seen_ms, ?2),
                    updated_ms = ?3, version = version + 1 WHERE id = ?1",
                params![id, issue.observed_at.0, UnixMillis::now().0],
            )?;
            let last: Option<i64> =
                tx.query_row("SELECT MAX(observed_ms) FROM occurrences WHERE issue_id = ?1", params![id], |r| {
                    r.get(0)
                })?;
            if last.is_none_or(|t| issue.observed_at.0 - t >= OCCURRENCE_SPACING_MS) {
                schema::insert_occurrence(&tx, id, issue)?;
            }
            outbox::enqueue_issue(&tx, id, priority)?;
            schema::mark_filed(&tx, source)?;
            tx.commit()
        })()
        .map_err(|source| StoreError::Sqlite { path, source })
    }

    /// Moves an issue to `to`, recording who did it; refuses transitions the lifecycle does
    /// not allow (a dismissed issue cannot be verified, say).
    pub fn transition(
        &mut self,
        id: &str,
        to: IssueStatus,
        actor: &str,
        note: Option<&str>,
    ) -> Result<IssueRow, StoreError> {
        self.transition_from(id, to, actor, note, None)
    }

    fn transition_from(
        &mut self,
        id: &str,
        to: IssueStatus,
        actor: &str,
        note: Option<&str>,
        source: Option<&str>,
    ) -> Result<IssueRow, StoreError> {
        let (current, from) = self.checked(id, Some(to))?;
        let priority = row_priority(&current);
        let path = self.path.clone();
        let tx = self.conn.transaction().map_err(|source| StoreError::Sqlite { path: path.clone(), source })?;
        let now = UnixMillis::now().0;
        (|| {
            lifecycle::apply(&tx, id, to, now)?;
            lifecycle::record_history(&tx, id, Some(from), to, actor, note, now)?;
            outbox::enqueue_issue(&tx, id, outbox::priority_of(priority))?;
            if to == IssueStatus::Resolved {
                alerts::enqueue(&tx, id, "resolved", outbox::priority_of(priority))?;
            }
            schema::mark_filed(&tx, source)?;
            tx.commit()
        })()
        .map_err(|source| StoreError::Sqlite { path, source })?;
        self.get(id)
    }

    /// The issue and its status, when the lifecycle allows a move to `to` from there (`None`,
    /// a note, is allowed from anywhere).
    fn checked(&self, id: &str, to: Option<IssueStatus>) -> Result<(IssueRow, IssueStatus), StoreError> {
        let current = self.get(id)?;
        let from = lifecycle::parse_status(&current.status)?;
        if let Some(to) = to {
            lifecycle::check(from, to)?;
        }
        Ok((current, from))
    }

    /// Marks the open issue with `dedup_key` resolved because its source saw the problem gone
    /// (a sensor back under its clear threshold, a camera seeing the place empty); `after` is
    /// the camera's snapshot of the cleared place. Returns the issue's id, or `None` when none
    /// is open.
    pub fn resolve_observed(
        &mut self,
        dedup_key: &str,
        actor: &str,
        note: &str,
        after: Option<(&[u8], UnixMillis)>,
    ) -> Result<Option<String>, StoreError> {
        self.resolve_observed_from(dedup_key, actor, note, after, None)
    }

    /// [`Store::resolve_observed`] for a durable finding named `source`, marked applied with
    /// the status change.
    pub fn resolve_observed_from(
        &mut self,
        dedup_key: &str,
        actor: &str,
        note: &str,
        after: Option<(&[u8], UnixMillis)>,
        source: Option<&str>,
    ) -> Result<Option<String>, StoreError> {
        let Some((id, _)) = self.open_issue(dedup_key)? else {
            // Marked handled and being re-checked: seen gone, verified.
            let Some(id) = self.rechecked_issue(dedup_key)? else { return Ok(None) };
            if let Some((bytes, at)) = after {
                self.attach_evidence(&id, "after", bytes, at)?;
            }
            self.recheck_gone(&id, note, source)?;
            return Ok(Some(id));
        };
        // The snapshot is stored first: an "after" image without the transition is harmless,
        // a resolution without the image it claims to rest on is not.
        if let Some((bytes, at)) = after {
            self.attach_evidence(&id, "after", bytes, at)?;
        }
        self.transition_from(&id, IssueStatus::Resolved, actor, Some(note), source)?;
        Ok(Some(id))
    }

    /// Keeps the clip around `moment` with the issue a finding of `dedup_key` at that moment
    /// filed or folded into; `None` when there is none (the finding was suppressed, or its
    /// issue is gone), and the clip is not kept.
    pub fn attach_clip(
        &mut self,
        dedup_key: &str,
        moment: UnixMillis,
        mp4: &[u8],
        starts_at: UnixMillis,
    ) -> Result<Option<String>, StoreError> {
        let id: Option<String> = self
            .conn
            .query_row(
                "SELECT id FROM issues WHERE dedup_key = ?1 AND first_seen_ms <= ?2 AND last_seen_ms >= ?2
                 ORDER BY first_seen_ms DESC LIMIT 1",
                params![dedup_key, moment.0],
                |r| r.get(0),
            )
            .optional()
            .map_err(self.sql_err())?;
        let Some(id) = id else { return Ok(None) };
        self.attach_evidence(&id, "clip", mp4, starts_at)?;
        Ok(Some(id))
    }

    fn attach_evidence(&mut self, id: &str, kind: &str, bytes: &[u8], at: UnixMillis) -> Result<(), StoreError> {
        // An issue may get more than one of a kind (an "after" snapshot and a clip again after a
        // reopen): each its own file, or the next would overwrite the file an earlier row hashed.
        let name = format!("{id}-{kind}-{}.{}", at.0, evidence::extension_of(bytes));
        let file = self.evidence.write(&name, bytes)?;
        let priority = outbox::priority_of(row_priority(&self.get(id)?));
        let path = self.path.clone();
        let tx = self.conn.transaction().map_err(|source| StoreError::Sqlite { path: path.clone(), source })?;
        (|| {
            schema::insert_evidence(&tx, id, kind, &file, at)?;
            outbox::enqueue_evidence(&tx, id, kind, &file, priority)?;
            tx.commit()
        })()
        .map_err(|source| StoreError::Sqlite { path, source })
    }

    /// One page of issues, newest first, those `filter` lets through; `after` is the (first
    /// seen, id) of the previous page's last row.
    pub fn page(
        &self,
        filter: &IssueFilter,
        limit: usize,
        after: Option<(i64, &str)>,
    ) -> Result<Vec<IssueRow>, StoreError> {
        let rows = schema::page(&self.conn, filter, limit, after).map_err(self.sql_err())?;
        Ok(rows.into_iter().map(|r| self.resolve_row(r)).collect())
    }

    /// The evidence files of an issue, with paths to open.
    pub fn evidence_of(&self, id: &str) -> Result<Vec<EvidenceRow>, StoreError> {
        let rows = schema::evidence_of(&self.conn, id).map_err(self.sql_err())?;
        Ok(rows
            .into_iter()
            .map(|r| EvidenceRow { path: self.resolve(&r.path).to_string_lossy().into_owned(), ..r })
            .collect())
    }

    /// Issues, newest first, optionally only those in `status`.
    pub fn list(&self, status: Option<IssueStatus>, limit: usize) -> Result<Vec<IssueRow>, StoreError> {
        let rows = schema::list(&self.conn, status.map(IssueStatus::as_str), limit).map_err(self.sql_err())?;
        Ok(rows.into_iter().map(|r| self.resolve_row(r)).collect())
    }

    /// The open issues a camera or sensor (`source`) raised, oldest first.
    pub fn open_issues_of(&self, source: &str) -> Result<Vec<IssueRow>, StoreError> {
        let rows = schema::open_of(&self.conn, source).map_err(self.sql_err())?;
        Ok(rows.into_iter().map(|r| self.resolve_row(r)).collect())
    }

    pub fn get(&self, id: &str) -> Result<IssueRow, StoreError> {
        let row = schema::get(&self.conn, id).map_err(self.sql_err())?;
        row.map(|r| self.resolve_row(r)).ok_or_else(|| StoreError::NotFound(id.to_string()))
    }

    /// The full id of the one issue whose id starts with `prefix`.
    pub fn resolve_id(&self, prefix: &str) -> Result<String, StoreError> {
        let mut stmt =
            self.conn.prepare("SELECT id FROM issues WHERE id LIKE ?1 || '%' LIMIT 2").map_err(self.sql_err())?;
        let ids: Vec<String> = stmt
            .query_map(params![prefix], |r| r.get(0))
            .map_err(self.sql_err())?
            .collect::<rusqlite::Result<_>>()
            .map_err(self.sql_err())?;
        match ids.as_slice() {
            [one] => Ok(one.clone()),
            _ => Err(StoreError::NotFound(if ids.is_empty() {
                prefix.to_string()
            } else {
                format!("{prefix} (ambiguous)")
            })),
        }
    }

    /// Status changes of an issue, oldest first.
    pub fn history(&self, id: &str) -> Result<Vec<HistoryRow>, StoreError> {
        lifecycle::history(&self.conn, id).map_err(self.sql_err())
    }

    /// `PRAGMA integrity_check`: "ok" for a sound database.
    /// The box's hash chain, in order, and the head it should end at.
    pub fn chain(&self) -> Result<Chain, StoreError> {
        chain::entries(&self.conn).map_err(self.sql_err())
    }

    /// Checks the hash chain and every evidence file still kept against its row: what does not
    /// match, first entry first (empty when all does).
    pub fn verify_evidence(&self) -> Result<EvidenceCheck, StoreError> {
        let Chain { entries, head } = self.chain()?;
        let mut mismatches = chain::verify(&entries, head.as_ref().map(|(s, h)| (*s, h.as_str())));
        let files = self.kept_files()?;
        for (seq, path, sha256, content) in &files {
            let problem = match evidence::sha256_file(&self.resolve(path)) {
                Ok(actual) if &actual == sha256 => continue,
                Ok(actual) => format!("its file {path} has sha256 {actual}, not the recorded one"),
                Err(e) => format!("its file {path} cannot be read: {e}"),
            };
            mismatches.push(Mismatch { seq: *seq, entry: content.to_string(), problem });
        }
        mismatches.sort_by_key(|m| m.seq);
        Ok(EvidenceCheck { entries: entries.len(), files: files.len(), mismatches })
    }

    /// Evidence files not deleted by retention, with their chain entry.
    fn kept_files(&self) -> Result<Vec<(i64, String, String, Content)>, StoreError> {
        let mut stmt = self
            .conn
            .prepare(
                "SELECT chain_seq, path, issue_id, kind, sha256, bytes, captured_ms FROM evidence
                 WHERE id NOT IN (SELECT evidence_id FROM evidence_purged) ORDER BY chain_seq",
            )
            .map_err(self.sql_err())?;
        let rows = stmt
            .query_map([], |r| {
                let content = chain::evidence_content(r, 2)?;
                let sha256 = r.get(4)?;
                Ok((r.get::<_, Option<i64>>(0)?.unwrap_or(0), r.get(1)?, sha256, content))
            })
            .map_err(self.sql_err())?;
        rows.collect::<rusqlite::Result<_>>().map_err(self.sql_err())
    }

    pub fn integrity_check(&self) -> Result<String, StoreError> {
        self.conn.query_row("PRAGMA integrity_check", [], |r| r.get(0)).map_err(self.sql_err())
    }
}

#[cfg(test)]
mod tests;

fn row_priority(row: &IssueRow) -> Priority {
    if row.priority == "emergency" { Priority::Emergency } else { Priority::Routine }
}
