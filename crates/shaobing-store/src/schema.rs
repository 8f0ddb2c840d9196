//! Tables, migrations and row mapping.

use crate::IssueRow;
use crate::evidence::EvidenceFile;
use rusqlite::{Connection, OptionalExtension, Row, Transaction, params};
use shaobing_core::{CandidateIssue, UnixMillis};

/// Applied in order; `PRAGMA user_version` records how many ran.
const MIGRATIONS: &[&str] = &[
    r#"
CREATE TABLE issues (
    id              TEXT PRIMARY KEY,
    box_id          TEXT NOT NULL,
    dedup_key       TEXT NOT NULL,
    category        TEXT NOT NULL,
    event_code      TEXT NOT NULL,
    whistle_kind    TEXT NOT NULL,
    channel         TEXT NOT NULL,
    priority        TEXT NOT NULL CHECK (priority IN ('routine','emergency')),
    status          TEXT NOT NULL CHECK (status IN
                        ('candidate','confirmed','dismissed','dispatched','resolved','verified')),
    source          TEXT NOT NULL,
    zone            TEXT,
    lat             REAL,
    lon             REAL,
    address         TEXT,
    grid_cell       TEXT,
    image_x         REAL,
    image_y         REAL,
    cause           TEXT NOT NULL,
    rule            TEXT NOT NULL,
    confidence      REAL NOT NULL,
    detections_json TEXT NOT NULL,
    department      TEXT NOT NULL,
    tier            TEXT NOT NULL,
    resolution_path TEXT NOT NULL,
    first_seen_ms   INTEGER NOT NULL,
    last_seen_ms    INTEGER NOT NULL,
    occurrences     INTEGER NOT NULL DEFAULT 1,
    created_ms      INTEGER NOT NULL,
    updated_ms      INTEGER NOT NULL
);
CREATE UNIQUE INDEX issues_open_dedup ON issues (dedup_key)
    WHERE status IN ('candidate','confirmed','dispatched');
CREATE INDEX issues_first_seen ON issues (first_seen_ms);
CREATE TABLE evidence (
    id          INTEGER PRIMARY KEY,
    issue_id    TEXT NOT NULL REFERENCES issues (id),
    kind        TEXT NOT NULL CHECK (kind IN ('before','after')),
    path        TEXT NOT NULL,
    sha256      TEXT NOT NULL,
    bytes       INTEGER NOT NULL,
    captured_ms INTEGER NOT NULL
);
CREATE INDEX evidence_issue ON evidence (issue_id);
"#,
    r#"
ALTER TABLE issues ADD COLUMN version INTEGER NOT NULL DEFAULT 1;
ALTER TABLE issues ADD COLUMN resolved_ms INTEGER;
ALTER TABLE issues ADD COLUMN verified_ms INTEGER;
CREATE TABLE status_history (
    id          INTEGER PRIMARY KEY,
    issue_id    TEXT NOT NULL REFERENCES issues (id),
    from_status TEXT,
    to_status   TEXT NOT NULL,
    actor       TEXT NOT NULL,
    note        TEXT,
    at_ms       INTEGER NOT NULL
);
CREATE INDEX status_history_issue ON status_history (issue_id);
CREATE TABLE occurrences (
    id          INTEGER PRIMARY KEY,
    issue_id    TEXT NOT NULL REFERENCES issues (id),
    observed_ms INTEGER NOT NULL,
    confidence  REAL NOT NULL,
    summary     TEXT NOT NULL
);
CREATE INDEX occurrences_issue ON occurrences (issue_id, observed_ms);
CREATE TABLE outbox (
    seq             INTEGER PRIMARY KEY AUTOINCREMENT,
    kind            TEXT NOT NULL CHECK (kind IN ('issue','evidence','reading')),
    ref_id          TEXT NOT NULL,
    version         INTEGER NOT NULL,
    priority        INTEGER NOT NULL,
    bytes           INTEGER NOT NULL,
    payload         BLOB NOT NULL,
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_ms INTEGER NOT NULL DEFAULT 0,
    last_error      TEXT,
    created_ms      INTEGER NOT NULL
);
CREATE UNIQUE INDEX outbox_issue ON outbox (ref_id) WHERE kind = 'issue';
CREATE INDEX outbox_order ON outbox (priority DESC, seq);
CREATE TABLE dead_letter (
    seq        INTEGER PRIMARY KEY,
    kind       TEXT NOT NULL,
    ref_id     TEXT NOT NULL,
    payload    BLOB NOT NULL,
    attempts   INTEGER NOT NULL,
    last_error TEXT,
    created_ms INTEGER NOT NULL,
    failed_ms  INTEGER NOT NULL
);
"#,
    // Readings no longer travel through the outbox (the sensors keep their own store): any
    // still queued are set aside, not sent and not lost. The outbox's CHECK still admits
    // 'reading' because SQLite changes a CHECK only by rebuilding the table.
    r#"
INSERT INTO dead_letter (seq, kind, ref_id, payload, attempts, last_error, created_ms, failed_ms)
    SELECT seq, kind, ref_id, payload, attempts, 'no longer sent to the central database', created_ms,
        unixepoch() * 1000
    FROM outbox WHERE kind NOT IN ('issue', 'evidence');
DELETE FROM outbox WHERE kind NOT IN ('issue', 'evidence');
"#,
    // Whether anything is queued for a central database: a box without one must not grow a
    // queue nobody drains. Absent means on (a database the daemon never opened).
    r#"
CREATE TABLE IF NOT EXISTS settings (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
"#,
    // The durable findings (sensor findings kept on disk until filed) applied here, by the id
    // their source gave them: one handed over again after a crash is not applied twice.
    r#"
CREATE TABLE IF NOT EXISTS filed_findings (
    id       TEXT PRIMARY KEY,
    filed_ms INTEGER NOT NULL
);
"#,
    // Alerts (new and resolved issues) for the MQTT broker, queued with the change itself
    // and deleted once the broker has acknowledged them: a full memory queue, a slow broker
    // or a crash can delay an alert, never lose it.
    r#"
CREATE TABLE IF NOT EXISTS alerts (
    seq        INTEGER PRIMARY KEY,
    issue_id   TEXT NOT NULL,
    change     TEXT NOT NULL,
    version    INTEGER NOT NULL,
    priority   INTEGER NOT NULL,
    created_ms INTEGER NOT NULL
);
"#,
    // A dismissed candidate's place and category (its dedup key), not filed again until
    // `until_ms` unless lifted; `suppressed` counts the candidates held back.
    r#"
CREATE TABLE IF NOT EXISTS suppressions (
    dedup_key  TEXT PRIMARY KEY,
    issue_id   TEXT NOT NULL,
    category   TEXT NOT NULL,
    source     TEXT NOT NULL,
    reason     TEXT NOT NULL,
    by         TEXT NOT NULL,
    created_ms INTEGER NOT NULL,
    until_ms   INTEGER NOT NULL,
    suppressed INTEGER NOT NULL DEFAULT 0
);
"#,
    // Issues a person marked handled, watched by their source until verified or reopened.
    r#"
CREATE TABLE IF NOT EXISTS rechecks (
    issue_id     TEXT PRIMARY KEY,
    dedup_key    TEXT NOT NULL,
    handled_ms   INTEGER NOT NULL,
    last_seen_ms INTEGER,
    -- A camera's hazard is sighted on every analysed frame: not seen means gone.
    unseen_verifies INTEGER NOT NULL DEFAULT 1
);
CREATE INDEX IF NOT EXISTS rechecks_key ON rechecks (dedup_key);
"#,
    // Evidence files deleted by retention: the row stays (what was there, its hash).
    r#"
CREATE TABLE IF NOT EXISTS evidence_purged (
    evidence_id INTEGER PRIMARY KEY,
    purged_ms   INTEGER NOT NULL
);
"#,
    // Video clips around issues (a kind of evidence the first CHECK did not know) and the hash
    // chain (chain.rs): in code, `evolve`, so that running them again is harmless.
    "",
    // Deadlines (deadlines.rs) and the "still present" snapshot of a re-check that reopened
    // its issue: `evolve` again, with the columns and evidence kinds it now knows.
    "",
];

/// Columns the issues table gained after its first release, with their types.
const ISSUE_COLUMNS: [(&str, &str); 6] = [
    // When a response and a resolution are due, when the department responded, and which
    // deadlines it missed.
    ("respond_by_ms", "INTEGER"),
    ("resolve_by_ms", "INTEGER"),
    ("responded_ms", "INTEGER"),
    ("response_late", "INTEGER NOT NULL DEFAULT 0"),
    ("resolution_late", "INTEGER NOT NULL DEFAULT 0"),
    // When the command centre acknowledged an emergency (its alarm stops).
    ("acknowledged_ms", "INTEGER"),
];

/// Every kind of evidence file an issue may have.
const EVIDENCE_KINDS: &str = "'before','after','clip','still_present'";

/// The columns `table` has.
fn columns(tx: &Transaction<'_>, table: &str) -> rusqlite::Result<Vec<String>> {
    let mut stmt = tx.prepare(&format!("SELECT name FROM pragma_table_info('{table}')"))?;
    let names = stmt.query_map([], |r| r.get(0))?;
    names.collect()
}

/// The evidence table with every kind of [`EVIDENCE_KINDS`], every table with its chain
/// columns and the issues with their [`ISSUE_COLUMNS`], whatever state an earlier version left
/// them in. SQLite cannot change a CHECK: the evidence
/// table is rebuilt, its ids kept (evidence_purged names them) and every column it had copied.
fn evolve(tx: &Transaction<'_>) -> rusqlite::Result<()> {
    let sql: String =
        tx.query_row("SELECT sql FROM sqlite_master WHERE type = 'table' AND name = 'evidence'", [], |r| r.get(0))?;
    if !sql.contains(EVIDENCE_KINDS) {
        tx.execute_batch(&format!(
            "CREATE TABLE evidence_new (
                id          INTEGER PRIMARY KEY,
                issue_id    TEXT NOT NULL REFERENCES issues (id),
                kind        TEXT NOT NULL CHECK (kind IN ({EVIDENCE_KINDS})),
                path        TEXT NOT NULL,
                sha256      TEXT NOT NULL,
                bytes       INTEGER NOT NULL,
                captured_ms INTEGER NOT NULL,
                chain_seq   INTEGER,
                prev_hash   TEXT,
                hash        TEXT
            );"
        ))?;
        let kept = columns(tx, "evidence")?.join(", ");
        tx.execute_batch(&format!(
            "INSERT INTO evidence_new ({kept}) SELECT {kept} FROM evidence;
             DROP TABLE evidence;
             ALTER TABLE evidence_new RENAME TO evidence;
             CREATE INDEX evidence_issue ON evidence (issue_id);"
        ))?;
    }
    let chain = [("chain_seq", "INTEGER"), ("prev_hash", "TEXT"), ("hash", "TEXT")];
    for (table, wanted) in [("status_history", &chain[..]), ("evidence", &chain[..]), ("issues", &ISSUE_COLUMNS[..])] {
        let have = columns(tx, table)?;
        for (column, kind) in wanted {
            if !have.iter().any(|c| c == column) {
                tx.execute_batch(&format!("ALTER TABLE {table} ADD COLUMN {column} {kind}"))?;
            }
        }
    }
    tx.execute_batch(
        "CREATE UNIQUE INDEX IF NOT EXISTS status_history_chain ON status_history (chain_seq);
         CREATE UNIQUE INDEX IF NOT EXISTS evidence_chain ON evidence (chain_seq);
         CREATE TABLE IF NOT EXISTS chain_head (
             id   INTEGER PRIMARY KEY CHECK (id = 1),
             seq  INTEGER NOT NULL,
             hash TEXT NOT NULL
         );",
    )
}

/// How long a filed finding's id is remembered: far longer than any source keeps one unfiled.
const FILED_FINDINGS_KEEP_MS: i64 = 30 * 86_400_000;

/// Records that the finding `source` is applied, in the transaction that applies it.
pub(crate) fn mark_filed(tx: &rusqlite::Transaction<'_>, source: Option<&str>) -> rusqlite::Result<()> {
    let Some(id) = source else { return Ok(()) };
    tx.execute(
        "INSERT OR IGNORE INTO filed_findings (id, filed_ms) VALUES (?1, ?2)",
        rusqlite::params![id, shaobing_core::UnixMillis::now().0],
    )?;
    Ok(())
}

pub(crate) fn forget_old_filed(conn: &Connection) -> rusqlite::Result<usize> {
    let cutoff = shaobing_core::UnixMillis::now().0 - FILED_FINDINGS_KEEP_MS;
    conn.execute("DELETE FROM filed_findings WHERE filed_ms < ?1", [cutoff])
}

/// WAL lets readers (the CLI, a console) read while the daemon writes; FULL makes a commit
/// durable across power loss, which an unattended box on a street pole will see.
pub(crate) fn configure(conn: &Connection) -> rusqlite::Result<()> {
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(None, "synchronous", "FULL")?;
    conn.pragma_update(None, "foreign_keys", "ON")?;
    conn.busy_timeout(std::time::Duration::from_secs(5))
}

pub(crate) fn migrate(conn: &mut Connection) -> rusqlite::Result<()> {
    let done: usize = conn.pragma_query_value(None, "user_version", |r| r.get(0))?;
    for (i, sql) in MIGRATIONS.iter().enumerate().skip(done) {
        let tx = conn.transaction()?;
        tx.execute_batch(sql)?;
        // An empty step is the one done in code.
        if sql.is_empty() {
            evolve(&tx)?;
        }
        tx.pragma_update(None, "user_version", i + 1)?;
        tx.commit()?;
    }
    Ok(())
}

pub(crate) fn insert_issue(tx: &Transaction<'_>, id: &str, box_id: &str, i: &CandidateIssue) -> rusqlite::Result<()> {
    let detections = serde_json::to_string(&i.cause.detections).unwrap_or_else(|_| "[]".into());
    let now = UnixMillis::now().0;
    let loc = &i.location;
    let (ix, iy) = loc.image_point.map_or((None, None), |p| (Some(p.x), Some(p.y)));
    tx.execute(
        "INSERT INTO issues (id, box_id, dedup_key, category, event_code, whistle_kind, channel, priority, status,
            source, zone, lat, lon, address, grid_cell, image_x, image_y, cause, rule, confidence, detections_json,
            department, tier, resolution_path, first_seen_ms, last_seen_ms, occurrences, created_ms, updated_ms,
            respond_by_ms, resolve_by_ms)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, 'candidate', ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19,
            ?20, ?21, ?22, ?23, ?24, ?24, 1, ?25, ?25, ?26, ?27)",
        params![
            id,
            box_id,
            i.dedup_key,
            i.category.as_str(),
            i.category.event_code(),
            i.category.whistle_kind().as_str(),
            i.channel.as_str(),
            i.priority.as_str(),
            loc.source,
            loc.zone.as_ref().map(|z| z.0.as_str()),
            loc.lat,
            loc.lon,
            loc.address,
            loc.grid_cell,
            ix,
            iy,
            i.cause.summary,
            i.cause.rule,
            f64::from(i.cause.confidence),
            detections,
            i.responsibility.department,
            i.responsibility.tier.as_str(),
            i.responsibility.resolution_path,
            i.observed_at.0,
            now,
            due(now, i.responsibility.deadlines.respond_secs),
            due(now, i.responsibility.deadlines.resolve_secs),
        ],
    )?;
    Ok(())
}

/// When a deadline of `secs` from `from` falls.
fn due(from: i64, secs: Option<u64>) -> Option<i64> {
    secs.map(|s| UnixMillis(from).plus_secs(s).0)
}

pub(crate) fn insert_occurrence(tx: &Transaction<'_>, issue_id: &str, i: &CandidateIssue) -> rusqlite::Result<()> {
    tx.execute(
        "INSERT INTO occurrences (issue_id, observed_ms, confidence, summary) VALUES (?1, ?2, ?3, ?4)",
        params![issue_id, i.observed_at.0, f64::from(i.cause.confidence), i.cause.summary],
    )?;
    Ok(())
}

pub(crate) fn insert_evidence(
    tx: &Transaction<'_>,
    issue_id: &str,
    kind: &str,
    file: &EvidenceFile,
    captured: UnixMillis,
) -> rusqlite::Result<()> {
    let content = crate::chain::Content::Evidence {
        issue_id: issue_id.to_string(),
        kind: kind.to_string(),
        sha256: file.sha256.clone(),
        bytes: i64::try_from(file.bytes).unwrap_or(i64::MAX),
        captured_ms: captured.0,
    };
    let (seq, prev, hash) = crate::chain::append(tx, &content)?;
    tx.execute(
        "INSERT INTO evidence (issue_id, kind, path, sha256, bytes, captured_ms, chain_seq, prev_hash, hash)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
        params![issue_id, kind, file.stored, file.sha256, file.bytes as i64, captured.0, seq, prev, hash],
    )?;
    Ok(())
}

const SELECT: &str = "SELECT i.id, i.box_id, i.dedup_key, i.category, i.event_code, i.whistle_kind, i.channel,
    i.priority, i.status, i.source, i.zone, i.lat, i.lon, i.address, i.cause, i.rule, i.confidence, i.department,
    i.tier, i.resolution_path, i.first_seen_ms, i.last_seen_ms, i.occurrences, i.version, i.created_ms,
    i.resolved_ms, i.verified_ms,
    (SELECT path FROM evidence e WHERE e.issue_id = i.id AND e.kind = 'before'
        AND e.id NOT IN (SELECT evidence_id FROM evidence_purged) ORDER BY e.id LIMIT 1),
    (SELECT sha256 FROM evidence e WHERE e.issue_id = i.id AND e.kind = 'before'
        AND e.id NOT IN (SELECT evidence_id FROM evidence_purged) ORDER BY e.id LIMIT 1),
    i.grid_cell, i.updated_ms, i.respond_by_ms, i.resolve_by_ms, i.responded_ms, i.response_late,
    i.resolution_late, i.acknowledged_ms
    FROM issues i";

fn row(r: &Row<'_>) -> rusqlite::Result<IssueRow> {
    Ok(IssueRow {
        id: r.get(0)?,
        box_id: r.get(1)?,
        dedup_key: r.get(2)?,
        category: r.get(3)?,
        event_code: r.get(4)?,
        whistle_kind: r.get(5)?,
        channel: r.get(6)?,
        priority: r.get(7)?,
        status: r.get(8)?,
        source: r.get(9)?,
        zone: r.get(10)?,
        lat: r.get(11)?,
        lon: r.get(12)?,
        address: r.get(13)?,
        cause: r.get(14)?,
        rule: r.get(15)?,
        confidence: r.get(16)?,
        department: r.get(17)?,
        tier: r.get(18)?,
        resolution_path: r.get(19)?,
        first_seen_ms: r.get(20)?,
        last_seen_ms: r.get(21)?,
        occurrences: r.get(22)?,
        version: r.get(23)?,
        created_ms: r.get(24)?,
        resolved_ms: r.get(25)?,
        verified_ms: r.get(26)?,
        evidence_path: r.get(27)?,
        evidence_sha256: r.get(28)?,
        grid_cell: r.get(29)?,
        updated_ms: r.get(30)?,
        respond_by_ms: r.get(31)?,
        resolve_by_ms: r.get(32)?,
        responded_ms: r.get(33)?,
        response_late: r.get(34)?,
        resolution_late: r.get(35)?,
        acknowledged_ms: r.get(36)?,
    })
}

/// One page of issues, newest first: those before `after` (the last row of the previous page).
pub(crate) fn page(
    conn: &Connection,
    filter: &crate::IssueFilter,
    limit: usize,
    after: Option<(i64, &str)>,
) -> rusqlite::Result<Vec<IssueRow>> {
    let mut stmt = conn.prepare_cached(&format!(
        "{SELECT} WHERE (?1 IS NULL OR instr(?1, ',' || i.status || ',') > 0) AND (?3 IS NULL OR (i.first_seen_ms, i.id) < (?3, ?4))
            AND (?5 IS NULL OR i.category = ?5) AND (?6 IS NULL OR i.source = ?6) AND (?7 IS NULL OR i.priority = ?7)
            AND (?8 IS NULL OR i.first_seen_ms >= ?8) AND (?9 IS NULL OR i.first_seen_ms < ?9)
         ORDER BY i.first_seen_ms DESC, i.id DESC LIMIT ?2"
    ))?;
    let (at, id) = after.map_or((None, None), |(t, i)| (Some(t), Some(i)));
    let f = filter;
    // One statement for any set of statuses: `,candidate,confirmed,` holds `,confirmed,`.
    let statuses = (!f.statuses.is_empty())
        .then(|| f.statuses.iter().fold(",".to_string(), |list, s| format!("{list}{},", s.as_str())));
    let rows = stmt.query_map(
        params![
            statuses,
            limit as i64,
            at,
            id,
            f.category.map(|c| c.as_str()),
            f.source,
            f.priority.map(|p| p.as_str()),
            f.since.map(|t| t.0),
            f.until.map(|t| t.0)
        ],
        row,
    )?;
    rows.collect()
}

/// Every evidence file of an issue, in the order it was stored.
pub(crate) fn evidence_of(conn: &Connection, id: &str) -> rusqlite::Result<Vec<crate::EvidenceRow>> {
    let mut stmt = conn.prepare_cached(
        "SELECT kind, path, sha256, bytes, captured_ms FROM evidence
         WHERE issue_id = ?1 AND id NOT IN (SELECT evidence_id FROM evidence_purged) ORDER BY id",
    )?;
    let rows = stmt.query_map(params![id], |r| {
        Ok(crate::EvidenceRow {
            kind: r.get(0)?,
            path: r.get(1)?,
            sha256: r.get(2)?,
            bytes: r.get(3)?,
            captured_ms: r.get(4)?,
        })
    })?;
    rows.collect()
}

/// Issues newest first, optionally only those with `status`.
pub(crate) fn list(conn: &Connection, status: Option<&str>, limit: usize) -> rusqlite::Result<Vec<IssueRow>> {
    let mut stmt = conn.prepare(&format!(
        "{SELECT} WHERE (?1 IS NULL OR i.status = ?1) ORDER BY i.first_seen_ms DESC, i.id DESC LIMIT ?2"
    ))?;
    let rows = stmt.query_map(params![status, limit as i64], row)?;
    rows.collect()
}

/// Every issue still open (candidate, confirmed, dispatched) whose place was seen by `source`.
pub(crate) fn open_of(conn: &Connection, source: &str) -> rusqlite::Result<Vec<IssueRow>> {
    let mut stmt = conn.prepare(&format!(
        "{SELECT} WHERE i.source = ?1 AND i.status IN ('candidate','confirmed','dispatched') ORDER BY i.first_seen_ms"
    ))?;
    let rows = stmt.query_map(params![source], row)?;
    rows.collect()
}

pub(crate) fn get(conn: &Connection, id: &str) -> rusqlite::Result<Option<IssueRow>> {
    conn.query_row(&format!("{SELECT} WHERE i.id = ?1"), params![id], row).optional()
}
