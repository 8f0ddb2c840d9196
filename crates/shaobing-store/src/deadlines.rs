//! Deadlines and escalation (分级响应, the supervision whistle): each issue carries, from the
//! responsibility map, when a response (confirm, dismiss, dispatch) and its resolution are due.
//! An open issue that misses one is overdue: it moves up a tier (community -> sub-district ->
//! district), the change is recorded in its history, sent to the centre and alerted on MQTT,
//! once per deadline missed.

use crate::{Store, StoreError, alerts, lifecycle, outbox};
use rusqlite::{Transaction, params};
use shaobing_core::{EscalationTier, UnixMillis};

/// Who an escalation is recorded as.
const ACTOR: &str = "shaobing:deadline";

/// A deadline an issue can miss.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Deadline {
    Response,
    Resolution,
}

impl Deadline {
    pub fn as_str(self) -> &'static str {
        match self {
            Deadline::Response => "response",
            Deadline::Resolution => "resolution",
        }
    }

    fn column(self) -> &'static str {
        match self {
            Deadline::Response => "response_late",
            Deadline::Resolution => "resolution_late",
        }
    }
}

/// An issue that went overdue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Overdue {
    pub id: String,
    pub missed: Deadline,
    pub department: String,
    pub category: String,
    /// The tier it moved up to.
    pub tier: String,
}

/// Open issues past a deadline not yet marked missed: awaiting a response while still a
/// candidate, or awaiting resolution while open (a handled issue being re-checked is not late;
/// reopened, it is again).
const DUE: &str = "SELECT id, status, department, category, 'response' FROM issues
    WHERE status = 'candidate' AND respond_by_ms < ?1 AND NOT response_late
    UNION ALL
    SELECT id, status, department, category, 'resolution' FROM issues
    WHERE status IN ('candidate','confirmed','dispatched') AND resolve_by_ms < ?1 AND NOT resolution_late";

struct Due {
    id: String,
    status: String,
    department: String,
    category: String,
    missed: Deadline,
}

fn escalate(tx: &Transaction<'_>, due: Due, now: i64) -> rusqlite::Result<Overdue> {
    // The tier may have been changed by an earlier miss in this same pass.
    let tier: String = tx.query_row("SELECT tier FROM issues WHERE id = ?1", [&due.id], |r| r.get(0))?;
    let up = EscalationTier::parse(&tier).map_or(tier.clone(), |t| t.up().as_str().to_string());
    tx.execute(
        &format!(
            "UPDATE issues SET {} = 1, tier = ?2, version = version + 1, updated_ms = ?3 WHERE id = ?1",
            due.missed.column()
        ),
        params![due.id, up, now],
    )?;
    let status = lifecycle::parse_status(&due.status).map_err(|e| rusqlite::Error::ToSqlConversionFailure(e.into()))?;
    let note = format!("overdue: no {} by its deadline; escalated from {} to {up}", due.missed.as_str(), tier);
    lifecycle::record_history(tx, &due.id, Some(status), status, ACTOR, Some(&note), now)?;
    let priority = outbox::priority_of_issue(tx, &due.id)?;
    outbox::enqueue_issue(tx, &due.id, priority)?;
    alerts::enqueue(tx, &due.id, "overdue", priority)?;
    Ok(Overdue { id: due.id, missed: due.missed, department: due.department, category: due.category, tier: up })
}

impl Store {
    /// Escalates every open issue that has missed a deadline by `now`, each deadline once.
    /// Called on a timer by the issues room's writer.
    pub fn escalate_overdue(&mut self, now: UnixMillis) -> Result<Vec<Overdue>, StoreError> {
        self.write(|tx| {
            let due: Vec<Due> = tx
                .prepare_cached(DUE)?
                .query_map([now.0], |r| {
                    let missed: String = r.get(4)?;
                    Ok(Due {
                        id: r.get(0)?,
                        status: r.get(1)?,
                        department: r.get(2)?,
                        category: r.get(3)?,
                        missed: if missed == "response" { Deadline::Response } else { Deadline::Resolution },
                    })
                })?
                .collect::<rusqlite::Result<_>>()?;
            due.into_iter().map(|d| escalate(tx, d, now.0)).collect()
        })
    }
}

/// Whether an open issue `row` is overdue now.
pub fn is_overdue(row: &crate::IssueRow) -> bool {
    let open = matches!(row.status.as_str(), "candidate" | "confirmed" | "dispatched");
    open && (row.response_late || row.resolution_late)
}
