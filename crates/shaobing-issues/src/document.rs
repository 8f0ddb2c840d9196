//! The one outbound issue document.

use serde::Serialize;
use serde_json::{Value, json};
use shaobing_core::UnixMillis;
use shaobing_store::{Deadline, EvidenceRow, IssueRow, Store};

/// An issue as it leaves the box, the one shape for MQTT alerts, the console's event stream
/// and the API: times in RFC 3339, evidence as URLs of the API.
#[derive(Debug, Clone, Serialize)]
pub struct IssueDocument {
    pub id: String,
    pub dedup_key: String,
    pub status: String,
    pub category: String,
    pub event_code: String,
    pub priority: String,
    pub whistle_kind: String,
    pub channel: String,
    pub source: String,
    pub zone: Option<String>,
    pub lat: Option<f64>,
    pub lon: Option<f64>,
    pub address: Option<String>,
    pub grid_cell: Option<String>,
    pub department: String,
    pub tier: String,
    pub resolution_path: String,
    /// When a response (confirm, dismiss, dispatch) and the resolution are due (RFC 3339).
    pub respond_by: Option<String>,
    pub resolve_by: Option<String>,
    /// The deadlines missed (`response`, `resolution`); an open issue with one is overdue.
    pub missed: Vec<&'static str>,
    pub overdue: bool,
    /// When the command centre acknowledged it (an emergency's alarm stops), RFC 3339.
    pub acknowledged: Option<String>,
    pub cause: String,
    pub rule: String,
    pub confidence: f64,
    pub occurrences: i64,
    pub first_seen: String,
    pub last_seen: String,
    pub updated: String,
    pub evidence: Vec<Value>,
}

impl IssueDocument {
    pub fn new(row: IssueRow, evidence: &[EvidenceRow]) -> Self {
        let evidence = evidence
            .iter()
            .map(|e| {
                json!({
                    "kind": e.kind,
                    "url": format!("/api/v1/issues/{}/evidence/{}", row.id, e.kind),
                    "sha256": e.sha256,
                    "bytes": e.bytes,
                    "captured_at": UnixMillis(e.captured_ms).to_rfc3339(),
                })
            })
            .collect();
        let missed = [(row.response_late, Deadline::Response), (row.resolution_late, Deadline::Resolution)]
            .into_iter()
            .filter(|(late, _)| *late)
            .map(|(_, d)| d.as_str())
            .collect();
        Self {
            respond_by: row.respond_by_ms.map(|t| UnixMillis(t).to_rfc3339()),
            resolve_by: row.resolve_by_ms.map(|t| UnixMillis(t).to_rfc3339()),
            overdue: shaobing_store::is_overdue(&row),
            acknowledged: row.acknowledged_ms.map(|t| UnixMillis(t).to_rfc3339()),
            missed,
            first_seen: UnixMillis(row.first_seen_ms).to_rfc3339(),
            last_seen: UnixMillis(row.last_seen_ms).to_rfc3339(),
            updated: UnixMillis(row.updated_ms.max(row.last_seen_ms)).to_rfc3339(),
            id: row.id,
            dedup_key: row.dedup_key,
            status: row.status,
            category: row.category,
            event_code: row.event_code,
            priority: row.priority,
            whistle_kind: row.whistle_kind,
            channel: row.channel,
            source: row.source,
            zone: row.zone,
            lat: row.lat,
            lon: row.lon,
            address: row.address,
            grid_cell: row.grid_cell,
            department: row.department,
            tier: row.tier,
            resolution_path: row.resolution_path,
            cause: row.cause,
            rule: row.rule,
            confidence: row.confidence,
            occurrences: row.occurrences,
            evidence,
        }
    }

    /// The issue `id` as stored now.
    pub fn load(store: &Store, id: &str) -> Result<Self, shaobing_store::StoreError> {
        Ok(Self::new(store.get(id)?, &store.evidence_of(id)?))
    }
}

/// What happened to an issue.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum IssueChange {
    New,
    Updated,
    Resolved,
    /// A person's verdict moved the issue (or noted it): always told at once.
    Status,
    /// Marked handled, then still seen by its source: back to its department.
    Reopened,
    /// Marked handled, then seen gone (or not seen) by its source: verified.
    Verified,
    /// New evidence kept with the issue (a clip, which comes after the issue).
    Evidence,
    /// A deadline passed: the issue moved up a tier.
    Overdue,
}

impl IssueChange {
    pub fn as_str(self) -> &'static str {
        match self {
            IssueChange::New => "new",
            IssueChange::Updated => "updated",
            IssueChange::Resolved => "resolved",
            IssueChange::Status => "status",
            IssueChange::Reopened => "reopened",
            IssueChange::Verified => "verified",
            IssueChange::Evidence => "evidence",
            IssueChange::Overdue => "overdue",
        }
    }

    /// The change an alert row names (`new` for what it does not know).
    pub fn parse(s: &str) -> Self {
        [IssueChange::Resolved, IssueChange::Reopened, IssueChange::Overdue]
            .into_iter()
            .find(|c| c.as_str() == s)
            .unwrap_or(IssueChange::New)
    }
}

/// One change of the problem database, as the console's event stream and the MQTT alerts
/// send it.
#[derive(Debug, Clone, Serialize)]
pub struct IssueEvent {
    pub change: IssueChange,
    pub issue: IssueDocument,
}
