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
-- Deadlines: when a response and the resolution are due, the first response, the deadlines
-- missed (each moved the issue up a tier, so `tier` changes too).
ALTER TABLE shaobing_issues ADD COLUMN IF NOT EXISTS respond_by_ms BIGINT;
ALTER TABLE shaobing_issues ADD COLUMN IF NOT EXISTS resolve_by_ms BIGINT;
ALTER TABLE shaobing_issues ADD COLUMN IF NOT EXISTS responded_ms BIGINT;
ALTER TABLE shaobing_issues ADD COLUMN IF NOT EXISTS response_late BOOLEAN NOT NULL DEFAULT false;
ALTER TABLE shaobing_issues ADD COLUMN IF NOT EXISTS resolution_late BOOLEAN NOT NULL DEFAULT false;
ALTER TABLE shaobing_issues ADD COLUMN IF NOT EXISTS acknowledged_ms BIGINT;
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
-- The box's hash chain travels with its entries (shaobing evidence verify --central).
ALTER TABLE shaobing_status_history ADD COLUMN IF NOT EXISTS chain_seq BIGINT;
ALTER TABLE shaobing_status_history ADD COLUMN IF NOT EXISTS prev_hash TEXT;
ALTER TABLE shaobing_status_history ADD COLUMN IF NOT EXISTS hash TEXT;
ALTER TABLE shaobing_evidence ADD COLUMN IF NOT EXISTS captured_ms BIGINT;
ALTER TABLE shaobing_evidence ADD COLUMN IF NOT EXISTS chain_seq BIGINT;
ALTER TABLE shaobing_evidence ADD COLUMN IF NOT EXISTS prev_hash TEXT;
ALTER TABLE shaobing_evidence ADD COLUMN IF NOT EXISTS hash TEXT;
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
    /// Absent in rows queued before the chain.
    #[serde(default)]
    captured_ms: Option<i64>,
    #[serde(flatten, default)]
    link: shaobing_store::Link,
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
                first_seen_ms, last_seen_ms, occurrences, created_ms, resolved_ms, verified_ms, grid_cell, updated_ms,
                respond_by_ms, resolve_by_ms, responded_ms, response_late, resolution_late, acknowledged_ms)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20,
                $21, $22, $23, $24, $25, $26, $27, $28, $29, $30, $31, $32, $33, $34)
             ON CONFLICT (id) DO UPDATE SET version = EXCLUDED.version, status = EXCLUDED.status,
                last_seen_ms = EXCLUDED.last_seen_ms, occurrences = EXCLUDED.occurrences,
                resolved_ms = EXCLUDED.resolved_ms, verified_ms = EXCLUDED.verified_ms,
                grid_cell = EXCLUDED.grid_cell, updated_ms = EXCLUDED.updated_ms, tier = EXCLUDED.tier,
                respond_by_ms = EXCLUDED.respond_by_ms, resolve_by_ms = EXCLUDED.resolve_by_ms,
                responded_ms = EXCLUDED.responded_ms, response_late = EXCLUDED.response_late,
                resolution_late = EXCLUDED.resolution_late, acknowledged_ms = EXCLUDED.acknowledged_ms,
                received_at = now()
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
                &i.respond_by_ms,
                &i.resolve_by_ms,
                &i.responded_ms,
                &i.response_late,
                &i.resolution_late,
                &i.acknowledged_ms,
            ],
        )
        .await?;
    // History only grows: positions already there are left as they are, but for the chain
    // link an entry sent before the chain existed gets once the box has chained it.
    for (position, h) in snapshot.history.iter().enumerate() {
        let link = &h.link;
        client
            .execute(
                "INSERT INTO shaobing_status_history (issue_id, position, from_status, to_status, actor, note, at_ms,
                    chain_seq, prev_hash, hash)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
                 ON CONFLICT (issue_id, position) DO UPDATE SET chain_seq = EXCLUDED.chain_seq,
                    prev_hash = EXCLUDED.prev_hash, hash = EXCLUDED.hash
                 WHERE shaobing_status_history.hash IS NULL",
                &[
                    &i.id,
                    &(position as i32),
                    &h.from_status,
                    &h.to_status,
                    &h.actor,
                    &h.note,
                    &h.at_ms,
                    &link.chain_seq,
                    &link.prev_hash,
                    &link.hash,
                ],
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
            "INSERT INTO shaobing_evidence (issue_id, kind, sha256, bytes, data, captured_ms, chain_seq, prev_hash, hash)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
             ON CONFLICT (issue_id, kind, sha256) DO UPDATE SET captured_ms = EXCLUDED.captured_ms,
                chain_seq = EXCLUDED.chain_seq, prev_hash = EXCLUDED.prev_hash, hash = EXCLUDED.hash
             WHERE shaobing_evidence.hash IS NULL",
            &[
                &r.issue_id,
                &r.kind,
                &r.sha256,
                &(data.len() as i64),
                &data,
                &r.captured_ms,
                &r.link.chain_seq,
                &r.link.prev_hash,
                &r.link.hash,
            ],
        )
        .await?;
    Ok(())
}
