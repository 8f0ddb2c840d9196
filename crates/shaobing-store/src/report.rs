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
    /// Responses (confirm, dismiss, dispatch) given by their deadline, and missed (late, or
    /// still awaited past it).
    pub responses_on_time: i64,
    pub responses_late: i64,
    /// Issues resolved by their deadline, and missed (resolved late, or open past it);
    /// dismissed issues count in neither.
    pub resolutions_on_time: i64,
    pub resolutions_late: i64,
    /// Open issues that have missed a deadline.
    pub overdue: i64,
}

/// A department's deadlines kept, over every category it answers for: the supervision
/// whistle's response and resolution rates.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct OnTime {
    pub department: String,
    pub responses_on_time: i64,
    pub responses_late: i64,
    /// Responses on time among those due; `None` before any was.
    pub response_rate: Option<f64>,
    pub resolutions_on_time: i64,
    pub resolutions_late: i64,
    pub resolution_rate: Option<f64>,
    /// Open issues that have missed a deadline.
    pub overdue: i64,
}

/// [`OnTime`] per department from the figures per department and category, the least
/// punctual (by resolution) first.
pub fn on_time(figures: &[DepartmentFigures]) -> Vec<OnTime> {
    let mut by: std::collections::BTreeMap<&str, [i64; 5]> = std::collections::BTreeMap::new();
    for f in figures {
        let sums = by.entry(&f.department).or_default();
        let add = [f.responses_on_time, f.responses_late, f.resolutions_on_time, f.resolutions_late, f.overdue];
        for (sum, n) in sums.iter_mut().zip(add) {
            *sum += n;
        }
    }
    let mut all: Vec<OnTime> = by
        .into_iter()
        .map(|(department, [r_on, r_late, s_on, s_late, overdue])| OnTime {
            department: department.to_string(),
            responses_on_time: r_on,
            responses_late: r_late,
            response_rate: rate(r_on, r_late),
            resolutions_on_time: s_on,
            resolutions_late: s_late,
            resolution_rate: rate(s_on, s_late),
            overdue,
        })
        .collect();
    all.sort_by(|a, b| {
        let key = |o: &OnTime| o.resolution_rate.unwrap_or(f64::INFINITY);
        key(a).total_cmp(&key(b)).then(b.overdue.cmp(&a.overdue)).then(a.department.cmp(&b.department))
    });
    all
}

fn rate(on_time: i64, late: i64) -> Option<f64> {
    let due = on_time + late;
    (due > 0).then(|| on_time as f64 / due as f64)
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
                    MIN(CASE WHEN status IN ('candidate','confirmed','dispatched') THEN created_ms END),
                    SUM(responded_ms <= respond_by_ms AND NOT response_late),
                    SUM(response_late OR responded_ms > respond_by_ms
                        OR (responded_ms IS NULL AND status = 'candidate' AND respond_by_ms < ?1)),
                    SUM(status IN ('resolved','verified') AND resolved_ms <= resolve_by_ms AND NOT resolution_late),
                    SUM(status != 'dismissed' AND (resolution_late OR resolved_ms > resolve_by_ms
                        OR (status IN ('candidate','confirmed','dispatched') AND resolve_by_ms < ?1))),
                    SUM(status IN ('candidate','confirmed','dispatched') AND (response_late OR resolution_late))
             FROM issues GROUP BY department, category
             ORDER BY AVG(verified_ms - created_ms) IS NULL, AVG(verified_ms - created_ms) DESC, department",
        )
        .map_err(store.sql_err())?;
    let rows = stmt
        .query_map([shaobing_core::UnixMillis::now().0], |r| {
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
                responses_on_time: r.get::<_, Option<i64>>(9)?.unwrap_or(0),
                responses_late: r.get::<_, Option<i64>>(10)?.unwrap_or(0),
                resolutions_on_time: r.get::<_, Option<i64>>(11)?.unwrap_or(0),
                resolutions_late: r.get::<_, Option<i64>>(12)?.unwrap_or(0),
                overdue: r.get::<_, Option<i64>>(13)?.unwrap_or(0),
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
