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

/// How often a camera's or sensor's candidates of one category were real: of those a person
/// judged, the share confirmed (confirmed / (confirmed + dismissed)).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Precision {
    /// The camera or sensor that raised them.
    pub source: String,
    pub category: String,
    /// Issues a person confirmed (whatever became of them after).
    pub confirmed: i64,
    pub dismissed: i64,
    /// `None` until someone has judged one.
    pub precision: Option<f64>,
}

/// Precision per source and category, least precise first.
pub fn precision(store: &Store) -> Result<Vec<Precision>, StoreError> {
    let mut stmt = store
        .conn
        .prepare(
            "SELECT source, category,
                    SUM(EXISTS (SELECT 1 FROM status_history h WHERE h.issue_id = i.id AND h.to_status = 'confirmed')),
                    SUM(status = 'dismissed')
             FROM issues i GROUP BY source, category",
        )
        .map_err(store.sql_err())?;
    let rows = stmt
        .query_map([], |r| {
            let (confirmed, dismissed): (i64, i64) = (r.get(2)?, r.get(3)?);
            let judged = confirmed + dismissed;
            Ok(Precision {
                source: r.get(0)?,
                category: r.get(1)?,
                confirmed,
                dismissed,
                precision: (judged > 0).then(|| confirmed as f64 / judged as f64),
            })
        })
        .map_err(store.sql_err())?;
    let mut all = rows.collect::<rusqlite::Result<Vec<_>>>().map_err(store.sql_err())?;
    all.sort_by(|a, b| {
        a.precision
            .unwrap_or(f64::INFINITY)
            .total_cmp(&b.precision.unwrap_or(f64::INFINITY))
            .then(a.source.cmp(&b.source))
    });
    Ok(all)
}
