//! The central schema and the idempotent writes into it.

use crate::SinkError;
use serde::Deserialize;
use shaobing_store::{HistoryRow, IssueRow, OutboxKind, OutboxRow};
use tokio_postgres::GenericClient;

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS shaobing_issues (
    id              TEXT PRIMARY KEY,
    box_id          TEXT NOT NULL,
    version         BIGINT NOT NULL,
    category        TEXT NOT NULL,
    event_code      TEXT NOT NULL,
    whistle_kind    TEXT NOT NULL,
    channel         TEXT NOT NULL,
    priority        TEXT NOT NULL,
    status          TEXT NOT NULL,
    source          TEXT NOT NULL,
    zone            TEXT,
    lat             DOUBLE PRECISION,
    lon             DOUBLE PRECISION,
    address         TEXT,
    cause           TEXT NOT NULL,
    rule            TEXT NOT NULL,
    confidence      DOUBLE PRECISION NOT NULL,
    department      TEXT NOT NULL,
    tier            TEXT NOT NULL,
    resolution_path TEXT NOT NULL,
    first_seen_ms   BIGINT NOT NULL,
    last_seen_ms    BIGINT NOT NULL,
    occurrences     BIGINT NOT NULL,
    created_ms      BIGINT NOT NULL,
    resolved_ms     BIGINT,
    verified_ms     BIGINT,
    received_at     TIMESTAMPTZ NOT NULL DEFAULT now()
);
-- Columns added since the first release, added in place so that a central database created
-- by older boxes gains them too.
ALTER TABLE shaobing_issues ADD COLUMN IF NOT EXISTS grid_cell TEXT;
ALTER TABLE shaobing_issues ADD COLUMN IF NOT EXISTS updated_ms BIGINT;
CREATE INDEX IF NOT EXISTS shaobing_issues_open ON shaobing_issues (status, priority);
CREATE TABLE IF NOT EXISTS shaobing_evidence (
    issue_id TEXT NOT NULL,
    kind     TEXT NOT NULL,
    sha256   TEXT NOT NULL,
    bytes    BIGINT NOT NULL,
    data     BYTEA NOT NULL,
    PRIMARY KEY (issue_id, kind, sha256)
);
CREATE TABLE IF NOT EXISTS shaobing_status_history (
    issue_id    TEXT NOT NULL,
    position    INTEGER NOT NULL,
    from_status TEXT,
    to_status   TEXT NOT NULL,
    actor       TEXT NOT NULL,
    note        TEXT,
    at_ms       BIGINT NOT NULL,
    PRIMARY KEY (issue_id, position)
);
-- Verdicts the command centre takes, for the box that filed the issue to apply: the city
-- platform inserts a row (verdict: confirm, dismiss (with reason), dispatch, handled, verify,
-- note); the box sets applied_at and result (`applied: <status>` or `refused: <why>`).
CREATE TABLE IF NOT EXISTS shaobing_verdicts (
    id         BIGSERIAL PRIMARY KEY,
    box_id     TEXT NOT NULL,
    issue_id   TEXT NOT NULL,
    verdict    TEXT NOT NULL,
    reason     TEXT,
    by_whom    TEXT NOT NULL,
    note       TEXT,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    applied_at TIMESTAMPTZ,
    result     TEXT
);
CREATE INDEX IF NOT EXISTS shaobing_verdicts_waiting ON shaobing_verdicts (box_id, id) WHERE applied_at IS NULL;
";

/// Creates the central tables, or adds the columns they lack. Safe to run from every box at
/// every start.
pub async fn migrate(client: &impl GenericClient) -> Result<(), SinkError> {
    client.batch_execute(SCHEMA).await?;
    Ok(())
}

/// The issue snapshot an outbox row carries: the store's row and its status history.
#[derive(Debug, Clone, Deserialize)]
pub struct CentralIssue {
    #[serde(flatten)]
    pub row: IssueRow,
    /// Every status change so far, oldest first.
    #[serde(default)]
    pub history: Vec<HistoryRow>,
}

#[derive(Debug, Deserialize)]
struct EvidenceRef {
    issue_id: String,
    kind: String,
    path: std::path::PathBuf,
    sha256: String,
}

fn bad(row: &OutboxRow, message: impl std::fmt::Display) -> SinkError {
    SinkError::BadRow { seq: row.seq, message: message.to_string() }
}

/// Writes one outbox row; writing it twice leaves the central database as writing it once.
pub async fn write(client: &impl GenericClient, row: &OutboxRow) -> Result<(), SinkError> {
    match row.kind {
        OutboxKind::Issue => write_issue(client, &serde_json::from_slice(&row.payload).map_err(|e| bad(row, e))?).await,
        OutboxKind::Evidence => write_evidence(client, row).await,
    }
}

async fn write_issue(client: &impl GenericClient, snapshot: &CentralIssue) -> Result<(), SinkError> {
    let i = &snapshot.row;
    // Snapshots queued before the box sent `updated_ms` read as 0: unknown, not 1970. The
    // update sets `grid_cell`, fixed for an issue's life, to fill rows that arrived before the
    // central table had the column.
    let updated_ms = (i.updated_ms > 0).then_some(i.updated_ms);
    client
        .execute(
            "INSERT INTO shaobing_issues (id, box_id, version, category, event_code, whistle_kind, channel, priority,
                status, source, zone, lat, lon, address, cause, rule, confidence, department, tier, resolution_path,
                first_seen_ms, last_seen_ms, occurrences, created_ms, resolved_ms, verified_ms, grid_cell, updated_ms)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20,
                $21, $22, $23, $24, $25, $26, $27, $28)
             ON CONFLICT (id) DO UPDATE SET version = EXCLUDED.version, status = EXCLUDED.status,
                last_seen_ms = EXCLUDED.last_seen_ms, occurrences = EXCLUDED.occurrences,
                resolved_ms = EXCLUDED.resolved_ms, verified_ms = EXCLUDED.verified_ms,
                grid_cell = EXCLUDED.grid_cell, updated_ms = EXCLUDED.updated_ms, received_at = now()
             WHERE shaobing_issues.version < EXCLUDED.version",
            &[
                &i.id,
                &i.box_id,
                &i.version,
                &i.category,
                &i.event_code,
                &i.whistle_kind,
                &i.channel,
                &i.priority,
                &i.status,
                &i.source,
                &i.zone,
                &i.lat,
                &i.lon,
                &i.address,
                &i.cause,
                &i.rule,
                &i.confidence,
                &i.department,
                &i.tier,
                &i.resolution_path,
                &i.first_seen_ms,
                &i.last_seen_ms,
                &i.occurrences,
                &i.created_ms,
                &i.resolved_ms,
                &i.verified_ms,
                &i.grid_cell,
                &updated_ms,
            ],
        )
        .await?;
    // History only grows: positions already there are left as they are.
    for (position, h) in snapshot.history.iter().enumerate() {
        client
            .execute(
                "INSERT INTO shaobing_status_history (issue_id, position, from_status, to_status, actor, note, at_ms)
                 VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT DO NOTHING",
                &[&i.id, &(position as i32), &h.from_status, &h.to_status, &h.actor, &h.note, &h.at_ms],
            )
            .await?;
    }
    Ok(())
}

async fn write_evidence(client: &impl GenericClient, row: &OutboxRow) -> Result<(), SinkError> {
    let r: EvidenceRef = serde_json::from_slice(&row.payload).map_err(|e| bad(row, e))?;
    let data = tokio::fs::read(&r.path).await.map_err(|e| bad(row, format!("{}: {e}", r.path.display())))?;
    let actual = hex::encode(<sha2::Sha256 as sha2::Digest>::digest(&data));
    if actual != r.sha256 {
        return Err(bad(row, format!("{} changed on disk: sha256 {actual}, expected {}", r.path.display(), r.sha256)));
    }
    client
        .execute(
            "INSERT INTO shaobing_evidence (issue_id, kind, sha256, bytes, data) VALUES ($1, $2, $3, $4, $5)
             ON CONFLICT DO NOTHING",
            &[&r.issue_id, &r.kind, &r.sha256, &(data.len() as i64), &data],
        )
        .await?;
    Ok(())
}
