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

mod evidence;
mod schema;

pub use evidence::EvidenceWriter;

use rusqlite::{Connection, OptionalExtension, params};
use shaobing_core::{CandidateIssue, UnixMillis};
use std::path::{Path, PathBuf};

/// Name of the database file inside the data directory.
pub const DB_FILE: &str = "shaobing.sqlite3";

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("problem database {path}: {source}")]
    Sqlite { path: PathBuf, source: rusqlite::Error },
    #[error("evidence file {path}: {source}")]
    Evidence { path: PathBuf, source: std::io::Error },
    #[error("issue `{0}` not found")]
    NotFound(String),
}

/// What happened to a candidate issue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Recorded {
    /// A new issue was filed under this id.
    Created { id: String },
    /// An open issue with the same dedup key absorbed the occurrence.
    Folded { id: String, occurrences: i64 },
}

/// An issue as stored.
#[derive(Debug, Clone, PartialEq)]
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
    pub evidence_path: Option<String>,
    pub evidence_sha256: Option<String>,
}

/// The problem database of one box.
#[derive(Debug)]
pub struct Store {
    conn: Connection,
    path: PathBuf,
    box_id: String,
    evidence: EvidenceWriter,
}

impl Store {
    /// Opens (creating if needed) `data_dir/shaobing.sqlite3` and `data_dir/evidence/`.
    pub fn open(data_dir: &Path, box_id: &str) -> Result<Self, StoreError> {
        let evidence = EvidenceWriter::new(&data_dir.join("evidence"))?;
        let path = data_dir.join(DB_FILE);
        let sql = |source| StoreError::Sqlite { path: path.clone(), source };
        let mut conn = Connection::open(&path).map_err(sql)?;
        schema::configure(&conn).map_err(sql)?;
        schema::migrate(&mut conn).map_err(sql)?;
        Ok(Self { conn, path, box_id: box_id.to_string(), evidence })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn evidence_dir(&self) -> &Path {
        self.evidence.dir()
    }

    fn sql_err(&self) -> impl Fn(rusqlite::Error) -> StoreError + '_ {
        move |source| StoreError::Sqlite { path: self.path.clone(), source }
    }

    /// Files a candidate issue, or folds it into the open issue with the same dedup key.
    /// `evidence` (a JPEG) is stored only when a new issue is created.
    pub fn record(&mut self, issue: &CandidateIssue, evidence: Option<&[u8]>) -> Result<Recorded, StoreError> {
        if let Some(folded) = self.fold(issue)? {
            return Ok(folded);
        }
        let id = uuid::Uuid::now_v7().to_string();
        let file = match evidence {
            Some(jpeg) => Some(self.evidence.write(&format!("{id}-before.jpg"), jpeg)?),
            None => None,
        };
        let path = self.path.clone();
        let tx = self.conn.transaction().map_err(|source| StoreError::Sqlite { path: path.clone(), source })?;
        schema::insert_issue(&tx, &id, &self.box_id, issue)
            .and_then(|()| match &file {
                Some(f) => schema::insert_evidence(&tx, &id, "before", f, issue.observed_at),
                None => Ok(()),
            })
            .and_then(|()| tx.commit())
            .map_err(|source| StoreError::Sqlite { path, source })?;
        Ok(Recorded::Created { id })
    }

    fn fold(&mut self, issue: &CandidateIssue) -> Result<Option<Recorded>, StoreError> {
        let err = self.sql_err();
        let open: Option<(String, i64)> = self
            .conn
            .query_row(
                "SELECT id, occurrences FROM issues WHERE dedup_key = ?1 AND status IN ('candidate','confirmed','dispatched')",
                params![issue.dedup_key],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()
            .map_err(&err)?;
        let Some((id, occurrences)) = open else { return Ok(None) };
        self.conn
            .execute(
                "UPDATE issues SET occurrences = occurrences + 1, last_seen_ms = MAX(last_seen_ms, ?2), updated_ms = ?3 WHERE id = ?1",
                params![id, issue.observed_at.0, UnixMillis::now().0],
            )
            .map_err(&err)?;
        Ok(Some(Recorded::Folded { id, occurrences: occurrences + 1 }))
    }

    /// Issues, newest first.
    pub fn list(&self, limit: usize) -> Result<Vec<IssueRow>, StoreError> {
        schema::list(&self.conn, limit).map_err(self.sql_err())
    }

    pub fn get(&self, id: &str) -> Result<IssueRow, StoreError> {
        schema::get(&self.conn, id).map_err(self.sql_err())?.ok_or_else(|| StoreError::NotFound(id.to_string()))
    }
}

#[cfg(test)]
mod tests;
