//! The outbox toward the central database: at-least-once, ordered by priority then age, with
//! idempotent ids and versions so a row sent twice changes nothing.
//!
//! Nothing is ever shed: issues and their evidence wait however long the central database is
//! away, and the backlog shows in [`OutboxStats`] (the `shaobing_outbox_*` gauges).

use crate::evidence::EvidenceFile;
use crate::{Store, StoreError, schema};
use rusqlite::types::{FromSql, FromSqlError, FromSqlResult, ValueRef};
use rusqlite::{OptionalExtension, Transaction, params};
use shaobing_core::{Priority, UnixMillis};

pub const PRIORITY_EMERGENCY: i64 = 2;
pub const PRIORITY_ROUTINE: i64 = 1;

pub(crate) fn priority_of(p: Priority) -> i64 {
    match p {
        Priority::Emergency => PRIORITY_EMERGENCY,
        Priority::Routine => PRIORITY_ROUTINE,
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutboxKind {
    /// Payload: the issue's latest snapshot (`IssueRow` as JSON).
    Issue,
    /// Payload: `{issue_id, kind, path, sha256, bytes}`; the file travels with it.
    Evidence,
}

impl OutboxKind {
    fn as_str(self) -> &'static str {
        match self {
            OutboxKind::Issue => "issue",
            OutboxKind::Evidence => "evidence",
        }
    }
}

/// Any other kind is refused rather than guessed: the schema's migrations set aside rows of
/// kinds no longer sent (readings) as dead letters, so none should remain to read.
impl FromSql for OutboxKind {
    fn column_result(value: ValueRef<'_>) -> FromSqlResult<Self> {
        match value.as_str()? {
            "issue" => Ok(OutboxKind::Issue),
            "evidence" => Ok(OutboxKind::Evidence),
            other => Err(FromSqlError::Other(format!("unknown outbox kind `{other}`").into())),
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct OutboxRow {
    pub seq: i64,
    pub kind: OutboxKind,
    pub ref_id: String,
    /// Delivery is acknowledged only for this version: a newer snapshot written meanwhile
    /// stays queued.
    pub version: i64,
    pub priority: i64,
    pub payload: Vec<u8>,
    pub attempts: i64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct OutboxStats {
    pub rows: i64,
    pub bytes: i64,
    pub issues: i64,
    pub dead_letters: i64,
}

fn insert(
    tx: &Transaction<'_>,
    kind: OutboxKind,
    ref_id: &str,
    version: i64,
    priority: i64,
    bytes: i64,
    payload: &[u8],
) -> rusqlite::Result<()> {
    if !central_on(tx)? {
        return Ok(());
    }
    tx.execute(
        "INSERT INTO outbox (kind, ref_id, version, priority, bytes, payload, created_ms)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
         ON CONFLICT (ref_id) WHERE kind = 'issue' DO UPDATE SET
            version = excluded.version, priority = MAX(priority, excluded.priority),
            bytes = excluded.bytes, payload = excluded.payload, next_attempt_ms = 0",
        params![kind.as_str(), ref_id, version, priority, bytes, payload, UnixMillis::now().0],
    )?;
    Ok(())
}

const CENTRAL: &str = "central";

fn central_on(tx: &Transaction<'_>) -> rusqlite::Result<bool> {
    Ok(setting(tx, CENTRAL)?.as_deref() != Some("off"))
}

/// A setting's value; a transaction dereferences to the connection it runs on.
pub(crate) fn setting(conn: &rusqlite::Connection, key: &str) -> rusqlite::Result<Option<String>> {
    conn.query_row("SELECT value FROM settings WHERE key = ?1", [key], |r| r.get(0)).optional()
}

pub(crate) fn set_setting(tx: &Transaction<'_>, key: &str, on: bool) -> rusqlite::Result<()> {
    set_value(tx, key, if on { "on" } else { "off" })
}

pub(crate) fn set_value(tx: &Transaction<'_>, key: &str, value: &str) -> rusqlite::Result<()> {
    tx.execute(
        "INSERT INTO settings (key, value) VALUES (?1, ?2) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        params![key, value],
    )?;
    Ok(())
}

/// The outbox (and alert) priority of issue `id`.
pub(crate) fn priority_of_issue(tx: &Transaction<'_>, id: &str) -> rusqlite::Result<i64> {
    let priority: String = tx.query_row("SELECT priority FROM issues WHERE id = ?1", [id], |r| r.get(0))?;
    let emergency = priority == Priority::Emergency.as_str();
    Ok(priority_of(if emergency { Priority::Emergency } else { Priority::Routine }))
}

/// Queues the issue's current snapshot with its status history, replacing an unsent older one.
pub(crate) fn enqueue_issue(tx: &Transaction<'_>, id: &str, priority: i64) -> rusqlite::Result<()> {
    let Some(row) = schema::get(tx, id)? else { return Ok(()) };
    let history = crate::lifecycle::history(tx, id)?;
    let mut snapshot = serde_json::to_value(&row).map_err(|e| rusqlite::Error::ToSqlConversionFailure(Box::new(e)))?;
    snapshot["history"] = serde_json::to_value(&history).unwrap_or_default();
    let payload = snapshot.to_string().into_bytes();
    insert(tx, OutboxKind::Issue, id, row.version, priority, payload.len() as i64, &payload)
}

/// Every issue's snapshot and evidence, for a central database that was off.
fn requeue_everything(tx: &Transaction<'_>) -> rusqlite::Result<usize> {
    let issues: Vec<(String, String)> = tx
        .prepare("SELECT id, priority FROM issues ORDER BY first_seen_ms")?
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
        .collect::<rusqlite::Result<_>>()?;
    let mut queued = 0;
    for (id, priority) in issues {
        let priority = if priority == Priority::Emergency.as_str() { PRIORITY_EMERGENCY } else { PRIORITY_ROUTINE };
        for row in schema::evidence_of(tx, &id)? {
            let file = EvidenceFile {
                path: row.path.clone().into(),
                stored: row.path,
                sha256: row.sha256,
                bytes: row.bytes.try_into().unwrap_or(0),
            };
            enqueue_evidence(tx, &id, &row.kind, &file, priority)?;
            queued += 1;
        }
        enqueue_issue(tx, &id, priority)?;
        queued += 1;
    }
    Ok(queued)
}

pub(crate) fn enqueue_evidence(
    tx: &Transaction<'_>,
    issue_id: &str,
    kind: &str,
    file: &EvidenceFile,
    priority: i64,
) -> rusqlite::Result<()> {
    // The row was inserted first, in this transaction: its place in the chain goes along.
    let (captured_ms, seq, prev, hash): (i64, Option<i64>, Option<String>, Option<String>) = tx.query_row(
        "SELECT captured_ms, chain_seq, prev_hash, hash FROM evidence WHERE issue_id = ?1 AND kind = ?2 AND sha256 = ?3
         ORDER BY id DESC LIMIT 1",
        rusqlite::params![issue_id, kind, file.sha256],
        |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
    )?;
    let payload = serde_json::json!({
        "issue_id": issue_id, "kind": kind, "path": file.stored, "sha256": file.sha256, "bytes": file.bytes,
        "captured_ms": captured_ms, "chain_seq": seq, "prev_hash": prev, "hash": hash,
    });
    let bytes = i64::try_from(file.bytes).unwrap_or(i64::MAX);
    insert(tx, OutboxKind::Evidence, issue_id, 1, priority, bytes, payload.to_string().as_bytes())
}

impl Store {
    /// Says whether a central database drains the outbox, for every process that writes this
    /// store (the daemon, the CLI). Off: nothing is queued and what was queued is dropped (the
    /// issues stay here). On after off: every issue and its evidence is queued, so the centre
    /// learns what was filed meanwhile. Returns the rows dropped or queued.
    pub fn set_central(&mut self, on: bool) -> Result<usize, StoreError> {
        let path = self.path.clone();
        let tx = self.conn.transaction().map_err(|source| StoreError::Sqlite { path: path.clone(), source })?;
        (|| {
            let was_on = central_on(&tx)?;
            set_setting(&tx, CENTRAL, on)?;
            let changed = match (was_on, on) {
                (_, false) => tx.execute("DELETE FROM outbox", [])?,
                (false, true) => requeue_everything(&tx)?,
                (true, true) => 0,
            };
            tx.commit()?;
            Ok(changed)
        })()
        .map_err(|source| StoreError::Sqlite { path, source })
    }

    /// Up to `limit` rows due for delivery: emergencies first, then oldest first.
    pub fn outbox_batch(&self, limit: usize) -> Result<Vec<OutboxRow>, StoreError> {
        let mut stmt = self
            .conn
            .prepare(
                "SELECT seq, kind, ref_id, version, priority, payload, attempts FROM outbox
                 WHERE next_attempt_ms <= ?1 ORDER BY priority DESC, seq LIMIT ?2",
            )
            .map_err(self.sql_err())?;
        let rows = stmt
            .query_map(params![UnixMillis::now().0, limit as i64], |r| {
                Ok(OutboxRow {
                    seq: r.get(0)?,
                    kind: r.get(1)?,
                    ref_id: r.get(2)?,
                    version: r.get(3)?,
                    priority: r.get(4)?,
                    payload: r.get(5)?,
                    attempts: r.get(6)?,
                })
            })
            .map_err(self.sql_err())?;
        let mut rows = rows.collect::<rusqlite::Result<Vec<_>>>().map_err(self.sql_err())?;
        for row in rows.iter_mut().filter(|r| r.kind == OutboxKind::Evidence) {
            row.payload = self.resolve_payload_path(&row.payload);
        }
        Ok(rows)
    }

    /// An evidence row's payload with its file's path as the sink can open it.
    fn resolve_payload_path(&self, payload: &[u8]) -> Vec<u8> {
        let Ok(mut value) = serde_json::from_slice::<serde_json::Value>(payload) else { return payload.to_vec() };
        if let Some(path) = value["path"].as_str() {
            value["path"] = self.resolve(path).to_string_lossy().into_owned().into();
        }
        value.to_string().into_bytes()
    }

    /// Removes delivered rows, each only if it still holds the version that was delivered.
    pub fn outbox_delivered(&mut self, rows: &[(i64, i64)]) -> Result<(), StoreError> {
        let path = self.path.clone();
        let tx = self.conn.transaction().map_err(|source| StoreError::Sqlite { path: path.clone(), source })?;
        (|| {
            for (seq, version) in rows {
                tx.execute("DELETE FROM outbox WHERE seq = ?1 AND version = ?2", params![seq, version])?;
            }
            tx.commit()
        })()
        .map_err(|source| StoreError::Sqlite { path, source })
    }

    /// Records a failed delivery of one row. After `max_attempts` the row moves to the
    /// dead-letter table instead of blocking the rest; returns true when it did.
    pub fn outbox_failed(
        &mut self,
        seq: i64,
        error: &str,
        max_attempts: i64,
        retry_at: UnixMillis,
    ) -> Result<bool, StoreError> {
        let path = self.path.clone();
        let tx = self.conn.transaction().map_err(|source| StoreError::Sqlite { path: path.clone(), source })?;
        (|| {
            let attempts: Option<i64> = tx
                .query_row("UPDATE outbox SET attempts = attempts + 1, last_error = ?2, next_attempt_ms = ?3
                            WHERE seq = ?1 RETURNING attempts", params![seq, error, retry_at.0], |r| r.get(0))
                .optional()?;
            let dead = attempts.is_some_and(|a| a >= max_attempts);
            if dead {
                tx.execute(
                    "INSERT INTO dead_letter (seq, kind, ref_id, payload, attempts, last_error, created_ms, failed_ms)
                     SELECT seq, kind, ref_id, payload, attempts, last_error, created_ms, ?2 FROM outbox WHERE seq = ?1",
                    params![seq, UnixMillis::now().0],
                )?;
                tx.execute("DELETE FROM outbox WHERE seq = ?1", params![seq])?;
            }
            tx.commit()?;
            Ok(dead)
        })()
        .map_err(|source| StoreError::Sqlite { path, source })
    }

    pub fn outbox_stats(&self) -> Result<OutboxStats, StoreError> {
        self.conn
            .query_row(
                "SELECT COUNT(*), COALESCE(SUM(bytes), 0), COUNT(*) FILTER (WHERE kind = 'issue'),
                        (SELECT COUNT(*) FROM dead_letter) FROM outbox",
                [],
                |r| Ok(OutboxStats { rows: r.get(0)?, bytes: r.get(1)?, issues: r.get(2)?, dead_letters: r.get(3)? }),
            )
            .map_err(self.sql_err())
    }
}
