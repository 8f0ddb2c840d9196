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
