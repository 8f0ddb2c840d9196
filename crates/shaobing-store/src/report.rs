//! Supervision figures (督办): how long each department takes from an issue's creation to its
//! verified resolution, the evidence behind the seed's supervision whistle.

use crate::{Store, StoreError};
use serde::Serialize;

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DepartmentFigures {
    pub department: String,
    pub category: String,
    pub created: i64,
    pub open: i64,
    pub resolved: i64,
    pub verified: i64,
    /// Mean and longest time from creation to verified resolution, in seconds.
    pub mean_secs_to_verified: Option<f64>,
    pub max_secs_to_verified: Option<f64>,
    /// Creation time of the oldest issue still open (milliseconds since the epoch).
    pub oldest_open_ms: Option<i64>,
}

/// Figures per department and category, slowest departments first.
pub fn report(store: &Store) -> Result<Vec<DepartmentFigures>, StoreError> {
    let mut stmt = store
        .conn
        .prepare(
            "SELECT department, category, COUNT(*),
                    SUM(status IN ('candidate','confirmed','dispatched')),
                    SUM(resolved_ms IS NOT NULL), SUM(verified_ms IS NOT NULL),
                    AVG(verified_ms - created_ms) / 1000.0, MAX(verified_ms - created_ms) / 1000.0,
                    MIN(CASE WHEN status IN ('candidate','confirmed','dispatched') THEN created_ms END)
             FROM issues GROUP BY department, category
             ORDER BY AVG(verified_ms - created_ms) IS NULL, AVG(verified_ms - created_ms) DESC, department",
        )
        .map_err(store.sql_err())?;
    let rows = stmt
        .query_map([], |r| {
            Ok(DepartmentFigures {
                department: r.get(0)?,
                category: r.get(1)?,
                created: r.get(2)?,
                open: r.get(3)?,
                resolved: r.get(4)?,
                verified: r.get(5)?,
                mean_secs_to_verified: r.get(6)?,
                max_secs_to_verified: r.get(7)?,
                oldest_open_ms: r.get(8)?,
            })
        })
        .map_err(store.sql_err())?;
    rows.collect::<rusqlite::Result<Vec<_>>>().map_err(store.sql_err())
}

/// One issue's verified resolution.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Verification {
    pub department: String,
    pub category: String,
    /// From creation to verification.
    pub secs: f64,
    /// When it was verified (milliseconds since the epoch).
    pub verified_ms: i64,
}

/// Issues verified after `after_ms`, oldest verification first: what a process watching the
/// store (the daemon's supervision) has not seen yet, whoever verified them (the CLI, the
/// console, the centre).
pub fn verified_since(store: &Store, after_ms: i64) -> Result<Vec<Verification>, StoreError> {
    let mut stmt = store
        .conn
        .prepare(
            "SELECT department, category, (verified_ms - created_ms) / 1000.0, verified_ms FROM issues
             WHERE verified_ms > ?1 ORDER BY verified_ms",
        )
        .map_err(store.sql_err())?;
    let rows = stmt
        .query_map([after_ms], |r| {
            Ok(Verification { department: r.get(0)?, category: r.get(1)?, secs: r.get(2)?, verified_ms: r.get(3)? })
        })
        .map_err(store.sql_err())?;
    rows.collect::<rusqlite::Result<Vec<_>>>().map_err(store.sql_err())
}
