//! The alert queue toward the MQTT broker: a row per new or resolved issue, written in the
//! transaction that makes the change, deleted once the broker has acknowledged the alert.
//! At least once: an alert published when the box died before deleting its row goes out
//! again, with the same issue id, change and version for the subscriber to recognise.

use crate::outbox::{set_setting, setting};
use crate::{Store, StoreError};
use rusqlite::{Transaction, params};
use shaobing_core::UnixMillis;

const ALERTS: &str = "alerts";

/// One queued alert.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AlertRow {
    pub seq: i64,
    pub issue_id: String,
    /// `new` or `resolved`.
    pub change: String,
    /// The issue's version the change made.
    pub version: i64,
}

/// Queues an alert, when a broker takes them (absent means none: a store no daemon with a
/// broker has opened queues nothing).
pub(crate) fn enqueue(tx: &Transaction<'_>, issue_id: &str, change: &str, priority: i64) -> rusqlite::Result<()> {
    if setting(tx, ALERTS)?.as_deref() != Some("on") {
        return Ok(());
    }
    let version: i64 = tx.query_row("SELECT version FROM issues WHERE id = ?1", [issue_id], |r| r.get(0))?;
    tx.execute(
        "INSERT INTO alerts (issue_id, change, version, priority, created_ms) VALUES (?1, ?2, ?3, ?4, ?5)",
        params![issue_id, change, version, priority, UnixMillis::now().0],
    )?;
    Ok(())
}

impl Store {
    /// Says whether alerts are queued for a broker, for every process that writes this store
    /// (the daemon, the CLI). Off drops what was queued.
    pub fn set_alerts(&mut self, on: bool) -> Result<(), StoreError> {
        self.write(|tx| {
            set_setting(tx, ALERTS, on)?;
            if !on {
                tx.execute("DELETE FROM alerts", [])?;
            }
            Ok(())
        })
    }

    /// Up to `limit` queued alerts: emergencies first, then in the order of their changes.
    pub fn alerts_batch(&self, limit: usize) -> Result<Vec<AlertRow>, StoreError> {
        let mut stmt = self
            .conn
            .prepare_cached("SELECT seq, issue_id, change, version FROM alerts ORDER BY priority DESC, seq LIMIT ?1")
            .map_err(self.sql_err())?;
        let rows = stmt
            .query_map([limit as i64], |r| {
                Ok(AlertRow { seq: r.get(0)?, issue_id: r.get(1)?, change: r.get(2)?, version: r.get(3)? })
            })
            .map_err(self.sql_err())?;
        rows.collect::<rusqlite::Result<Vec<_>>>().map_err(self.sql_err())
    }

    /// Removes alerts the broker acknowledged.
    pub fn alerts_delivered(&mut self, seqs: &[i64]) -> Result<(), StoreError> {
        self.write(|tx| {
            let mut delete = tx.prepare_cached("DELETE FROM alerts WHERE seq = ?1")?;
            for seq in seqs {
                delete.execute([seq])?;
            }
            Ok(())
        })
    }

    /// Alerts waiting for the broker.
    pub fn alerts_queued(&self) -> Result<i64, StoreError> {
        self.conn.query_row("SELECT COUNT(*) FROM alerts", [], |r| r.get(0)).map_err(self.sql_err())
    }
}
