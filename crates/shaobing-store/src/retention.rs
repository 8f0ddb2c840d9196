//! A disk that never fills: evidence of open issues is kept; that of closed issues (resolved,
//! verified, dismissed) goes once the issue has not changed for `evidence.retention_days`,
//! and, while the evidence would exceed `evidence.max_bytes`, the oldest closed issues' goes
//! first. A purged file's row stays, marked in `evidence_purged`, so the record still says
//! what was there and its hash. At start an audit reports files without a row and rows whose
//! file is missing: counted and logged, never a crash.

use crate::{Store, StoreError};
use rusqlite::params;
use serde::Deserialize;
use shaobing_core::UnixMillis;
use std::collections::HashSet;
use std::path::PathBuf;

/// `[evidence]`: how long evidence of closed issues is kept and how much evidence the box
/// keeps at most.
#[derive(Debug, Clone, PartialEq, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct EvidenceConfig {
    /// Days the evidence of a closed issue (resolved, verified, dismissed) is kept after its
    /// last change.
    #[serde(default = "default_retention_days")]
    pub retention_days: f64,
    /// Bytes all evidence files may take; beyond, the oldest closed issues' evidence goes
    /// first. Open issues keep theirs whatever it takes.
    #[serde(default = "default_max_bytes")]
    pub max_bytes: u64,
}

fn default_retention_days() -> f64 {
    90.0
}

fn default_max_bytes() -> u64 {
    8 << 30
}

impl Default for EvidenceConfig {
    fn default() -> Self {
        Self { retention_days: default_retention_days(), max_bytes: default_max_bytes() }
    }
}

/// What a retention pass removed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Purged {
    pub files: u64,
    pub bytes: u64,
}

/// What the start-up audit found.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct EvidenceAudit {
    /// Files in the evidence directory no row refers to.
    pub files_without_row: Vec<PathBuf>,
    /// (issue id, path) of rows whose file is missing.
    pub rows_without_file: Vec<(String, String)>,
}

const CLOSED: &str = "i.status IN ('resolved','verified','dismissed')";
const KEPT: &str = "e.id NOT IN (SELECT evidence_id FROM evidence_purged)";
/// Evidence rows purged per statement.
const CHUNK: i64 = 200;

impl Store {
    /// One retention pass at `now`.
    pub fn enforce_evidence_retention(
        &mut self,
        config: &EvidenceConfig,
        now: UnixMillis,
    ) -> Result<Purged, StoreError> {
        let mut purged = Purged::default();
        let cutoff = now.0 - (config.retention_days * 86_400_000.0) as i64;
        loop {
            let old = self.closed_evidence(&format!("i.updated_ms < {cutoff}"))?;
            if old.is_empty() {
                break;
            }
            self.purge(&old, now, &mut purged)?;
        }
        while self.evidence_bytes()? > config.max_bytes {
            let oldest = self.closed_evidence("1")?;
            if oldest.is_empty() {
                tracing::warn!(
                    max_bytes = config.max_bytes,
                    "the evidence of open issues alone exceeds evidence.max_bytes; kept"
                );
                break;
            }
            let over = self.evidence_bytes()? - config.max_bytes;
            let mut taken = 0u64;
            let batch: Vec<_> = oldest
                .into_iter()
                .take_while(|(_, _, bytes)| {
                    let more = taken < over;
                    taken += *bytes;
                    more
                })
                .collect();
            self.purge(&batch, now, &mut purged)?;
        }
        Ok(purged)
    }

    /// Evidence of closed issues still on disk, oldest change first: (row id, path, bytes).
    fn closed_evidence(&self, condition: &str) -> Result<Vec<(i64, String, u64)>, StoreError> {
        let sql = format!(
            "SELECT e.id, e.path, e.bytes FROM evidence e JOIN issues i ON i.id = e.issue_id
             WHERE {CLOSED} AND {KEPT} AND {condition} ORDER BY i.updated_ms, e.id LIMIT {CHUNK}"
        );
        let mut stmt = self.conn.prepare(&sql).map_err(self.sql_err())?;
        let rows = stmt
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?, u64::try_from(r.get::<_, i64>(2)?).unwrap_or(0))))
            .map_err(self.sql_err())?;
        rows.collect::<rusqlite::Result<Vec<_>>>().map_err(self.sql_err())
    }

    /// Deletes the files, then marks their rows: a crash in between leaves a row whose file is
    /// gone, which the next pass marks too.
    fn purge(&mut self, rows: &[(i64, String, u64)], now: UnixMillis, purged: &mut Purged) -> Result<(), StoreError> {
        for (_, path, bytes) in rows {
            let file = self.resolve(path);
            match std::fs::remove_file(&file) {
                Ok(()) => {
                    purged.files += 1;
                    purged.bytes += bytes;
                }
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(source) => return Err(StoreError::Evidence { path: file, source }),
            }
        }
        self.write(|tx| {
            let mut mark =
                tx.prepare_cached("INSERT OR IGNORE INTO evidence_purged (evidence_id, purged_ms) VALUES (?1, ?2)")?;
            for (id, _, _) in rows {
                mark.execute(params![id, now.0])?;
            }
            Ok(())
        })
    }

    /// Bytes of the evidence files still kept.
    pub fn evidence_bytes(&self) -> Result<u64, StoreError> {
        let sql = format!("SELECT IFNULL(SUM(e.bytes), 0) FROM evidence e WHERE {KEPT}");
        let bytes: i64 = self.conn.query_row(&sql, [], |r| r.get(0)).map_err(self.sql_err())?;
        Ok(u64::try_from(bytes).unwrap_or(0))
    }

    /// Bytes of the evidence kept, per category.
    pub fn evidence_bytes_by_category(&self) -> Result<Vec<(String, u64)>, StoreError> {
        let sql = format!(
            "SELECT i.category, SUM(e.bytes) FROM evidence e JOIN issues i ON i.id = e.issue_id
             WHERE {KEPT} GROUP BY i.category ORDER BY i.category"
        );
        let mut stmt = self.conn.prepare(&sql).map_err(self.sql_err())?;
        let rows = stmt
            .query_map([], |r| Ok((r.get(0)?, u64::try_from(r.get::<_, i64>(1)?).unwrap_or(0))))
            .map_err(self.sql_err())?;
        rows.collect::<rusqlite::Result<Vec<_>>>().map_err(self.sql_err())
    }

    /// Files without a row, and kept rows without their file.
    pub fn audit_evidence(&self) -> Result<EvidenceAudit, StoreError> {
        let sql = format!("SELECT e.issue_id, e.path FROM evidence e WHERE {KEPT}");
        let mut stmt = self.conn.prepare(&sql).map_err(self.sql_err())?;
        let kept: Vec<(String, String)> = stmt
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
            .map_err(self.sql_err())?
            .collect::<rusqlite::Result<_>>()
            .map_err(self.sql_err())?;
        let known: HashSet<PathBuf> = kept.iter().map(|(_, p)| self.resolve(p)).collect();
        let rows_without_file = kept.into_iter().filter(|(_, p)| !self.resolve(p).is_file()).collect();
        let dir = self.evidence_dir().to_path_buf();
        let listing = std::fs::read_dir(&dir).map_err(|source| StoreError::Evidence { path: dir.clone(), source })?;
        let mut files_without_row: Vec<PathBuf> = listing
            .filter_map(Result::ok)
            .map(|entry| entry.path())
            // Temporary files of a write a crash interrupted start with a dot.
            .filter(|p| !p.file_name().is_some_and(|n| n.to_string_lossy().starts_with('.')))
            .filter(|p| !known.contains(p))
            .collect();
        files_without_row.sort();
        Ok(EvidenceAudit { files_without_row, rows_without_file })
    }
}
