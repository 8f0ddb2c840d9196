//! The readings store: a time-series table in its own SQLite file next to the problem database.
//!
//! # Write protocol
//!
//! 1. A batch of decoded messages is inserted in **one transaction** (`INSERT OR IGNORE`).
//! 2. SQLite runs in WAL mode with `synchronous = FULL`: when [`ReadingsStore::commit`] returns,
//!    the batch is on disk and survives power loss.
//! 3. Only then may the caller acknowledge the messages to the broker (PUBACK). A crash before
//!    step 2 returns leaves the messages unacknowledged, so the broker redelivers them.
//!
//! Redelivery makes duplicates normal, so each reading has an identity and a duplicate is
//! ignored by a unique index: (sensor, quantity, sequence number, observation time), where the
//! sequence number is -1 when the payload has none, and the time is -1 when there is a
//! sequence number but the time is only the arrival time (which a redelivered copy does not
//! share). Keeping the time in the identity when both exist means a sensor that restarts its
//! sequence at 0 after a reboot is not mistaken for a flood of duplicates.
//!
//! # Layout
//!
//! Each (sensor, quantity) is a row of `series`, which also keeps its latest reading; a
//! reading row holds only the series' integer id, its identity, time and value. Two B-trees
//! per reading (the row and the identity index) instead of three with text keys made a commit
//! about a third cheaper, and the ingest is bound by exactly that cost.
//!
//! A separate file, not a table in the problem database: readings arrive a thousand times more
//! often than issues, and must neither hold the problem database's write lock nor share its
//! migrations (`user_version`) and size budget.
//!
//! Retention ([`ReadingsStore::enforce_retention`]) deletes by age, by row count and by the
//! bytes the database's pages use, always oldest inserted first: a reading goes once it and
//! every reading inserted before it are past the age limit. Readings arrive nearly in time
//! order, so this costs no time index; a late backfill of old readings waits (at most the age
//! limit) behind younger ones. Deleted pages are reused by later inserts, so the file stops
//! growing at the size bound without a `VACUUM` (which would rewrite the whole file).

use crate::decode::SensorMessage;
use rusqlite::{Connection, OptionalExtension, params};
use serde::Deserialize;
use shaobing_core::{Reading, SensorId, UnixMillis};
use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// Name of the readings database inside the data directory.
pub const READINGS_DB_FILE: &str = "readings.sqlite3";

/// Readings inserted per statement (8 parameters each, far below SQLite's limit).
const ROWS_PER_INSERT: usize = 128;

/// Values bound per reading row.
const COLUMNS: usize = 6;

type SeriesIds = HashMap<String, HashMap<String, i64>>;

/// One reading with the columns it is stored under.
struct Row<'a> {
    reading: &'a Reading,
    series: i64,
    id_seq: i64,
    id_time: i64,
}

fn insert_sql(rows: usize) -> String {
    let one = "(?, ?, ?, ?, ?, ?)";
    format!(
        "INSERT OR IGNORE INTO readings (series, id_seq, id_time, observed_ms, value, committed_ms) VALUES {}",
        vec![one; rows].join(", ")
    )
}

/// Rows deleted per statement, so retention never holds the write lock for long.
const DELETE_CHUNK: i64 = 5_000;

const MIGRATIONS: &[&str] = &[
    r#"
CREATE TABLE readings (
    id           INTEGER PRIMARY KEY,
    sensor       TEXT NOT NULL,
    quantity     TEXT NOT NULL,
    id_seq       INTEGER NOT NULL,
    id_time      INTEGER NOT NULL,
    observed_ms  INTEGER NOT NULL,
    value        REAL NOT NULL,
    unit         TEXT NOT NULL,
    committed_ms INTEGER NOT NULL
);
CREATE UNIQUE INDEX readings_identity ON readings (sensor, quantity, id_seq, id_time);
CREATE INDEX readings_observed ON readings (observed_ms);
"#,
    r#"
CREATE TABLE series (
    id           INTEGER PRIMARY KEY,
    sensor       TEXT NOT NULL,
    quantity     TEXT NOT NULL,
    unit         TEXT NOT NULL,
    latest_ms    INTEGER,
    latest_value REAL,
    UNIQUE (sensor, quantity)
);
INSERT INTO series (sensor, quantity, unit, latest_ms, latest_value)
    SELECT sensor, quantity, unit, MAX(observed_ms), value FROM readings GROUP BY sensor, quantity;
ALTER TABLE readings RENAME TO readings_v1;
CREATE TABLE readings (
    id           INTEGER PRIMARY KEY,
    series       INTEGER NOT NULL REFERENCES series (id),
    id_seq       INTEGER NOT NULL,
    id_time      INTEGER NOT NULL,
    observed_ms  INTEGER NOT NULL,
    value        REAL NOT NULL,
    committed_ms INTEGER NOT NULL
);
INSERT INTO readings (id, series, id_seq, id_time, observed_ms, value, committed_ms)
    SELECT r.id, s.id, r.id_seq, r.id_time, r.observed_ms, r.value, r.committed_ms
    FROM readings_v1 r JOIN series s ON s.sensor = r.sensor AND s.quantity = r.quantity;
DROP TABLE readings_v1;
CREATE UNIQUE INDEX readings_identity ON readings (series, id_seq, id_time);
"#,
    // The rules' state and their findings not yet filed, committed with the readings that
    // caused them: what is acknowledged to the broker is never lost to a crash or a full disk
    // on the way to the problem database, and a restart picks up episodes where they stood.
    r#"
CREATE TABLE rule_state (
    group_name TEXT NOT NULL,
    sensor     TEXT NOT NULL,
    state      TEXT NOT NULL,
    PRIMARY KEY (group_name, sensor)
);
CREATE TABLE pending_findings (
    seq     INTEGER PRIMARY KEY,
    id      TEXT NOT NULL UNIQUE,
    finding TEXT NOT NULL
);
"#,
    // A sensor's trend reads hours of one series: without this it scans the series' whole
    // retention.
    "CREATE INDEX readings_series_observed ON readings (series, observed_ms);",
];

#[derive(Debug, thiserror::Error)]
#[error("readings database {path}: {source}")]
pub struct ReadingsError {
    pub path: PathBuf,
    pub source: rusqlite::Error,
}

/// How much history the box keeps.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RetentionConfig {
    /// Readings observed longer ago than this are deleted, in insertion order (an old reading
    /// inserted late waits for the younger ones inserted before it).
    #[serde(default = "default_max_age_secs")]
    pub max_age_secs: u64,
    /// At most this many readings are kept; the oldest inserted go first.
    #[serde(default = "default_max_rows")]
    pub max_rows: u64,
    /// The pages in use are kept under this many bytes (the file itself may be a little larger:
    /// WAL and free pages).
    #[serde(default = "default_max_bytes")]
    pub max_bytes: u64,
    /// How often retention runs.
    #[serde(default = "default_check_secs")]
    pub check_secs: u64,
}

fn default_check_secs() -> u64 {
    300
}

fn default_max_age_secs() -> u64 {
    30 * 86_400
}
fn default_max_rows() -> u64 {
    5_000_000
}
fn default_max_bytes() -> u64 {
    512 << 20
}

impl Default for RetentionConfig {
    fn default() -> Self {
        Self {
            max_age_secs: default_max_age_secs(),
            max_rows: default_max_rows(),
            max_bytes: default_max_bytes(),
            check_secs: default_check_secs(),
        }
    }
}

/// What a commit did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CommitOutcome {
    pub inserted: u64,
    /// Readings already stored (redeliveries), ignored.
    pub duplicates: u64,
}

/// What the rules decided over a batch, committed in the same transaction as its readings.
#[derive(Debug, Default)]
pub struct RuleWrites {
    /// The rule state of each sensor whose state changed: (group, sensor, state as JSON).
    pub states: Vec<(String, String, String)>,
    /// New findings, in order: (id, finding as JSON).
    pub findings: Vec<(String, String)>,
    /// Ids of findings the problem database now holds: no longer pending.
    pub filed: Vec<String>,
}

impl RuleWrites {
    pub fn is_empty(&self) -> bool {
        self.states.is_empty() && self.findings.is_empty() && self.filed.is_empty()
    }
}

/// A stored reading with its sequence number.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredReading {
    pub reading: Reading,
    pub seq: Option<u64>,
}

#[derive(Debug)]
pub struct ReadingsStore {
    conn: Connection,
    path: PathBuf,
    /// Series ids by sensor, then quantity (nested so a lookup borrows instead of building a
    /// key); a series is never deleted, so entries never go stale.
    series_ids: SeriesIds,
}

impl ReadingsStore {
    /// Opens (creating if needed) `data_dir/readings.sqlite3`.
    pub fn open_in(data_dir: &Path) -> Result<Self, ReadingsError> {
        Self::open(&data_dir.join(READINGS_DB_FILE))
    }

    pub fn open(path: &Path) -> Result<Self, ReadingsError> {
        let err = |source| ReadingsError { path: path.to_path_buf(), source };
        let mut conn = Connection::open(path).map_err(err)?;
        configure(&conn).map_err(err)?;
        migrate(&mut conn).map_err(err)?;
        Ok(Self { conn, path: path.to_path_buf(), series_ids: HashMap::new() })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    fn err(&self) -> impl Fn(rusqlite::Error) -> ReadingsError + '_ {
        move |source| ReadingsError { path: self.path.clone(), source }
    }

    /// Inserts every reading of `messages` in one durable transaction; duplicates are ignored.
    pub fn commit(&mut self, messages: &[SensorMessage]) -> Result<CommitOutcome, ReadingsError> {
        self.commit_with(messages, &RuleWrites::default())
    }

    /// [`ReadingsStore::commit`], with what the rules decided over these readings in the same
    /// transaction.
    pub fn commit_with(
        &mut self,
        messages: &[SensorMessage],
        rules: &RuleWrites,
    ) -> Result<CommitOutcome, ReadingsError> {
        let outcome = self.try_commit(messages, rules);
        if outcome.is_err() {
            // A series created in the rolled-back transaction does not exist: forget them all.
            self.series_ids.clear();
        }
        outcome
    }

    fn try_commit(&mut self, messages: &[SensorMessage], rules: &RuleWrites) -> Result<CommitOutcome, ReadingsError> {
        let path = self.path.clone();
        let err = |source| ReadingsError { path: path.clone(), source };
        let now = UnixMillis::now().0;
        let tx = self.conn.transaction().map_err(err)?;
        let mut rows = Vec::with_capacity(messages.iter().map(|m| m.readings.len()).sum());
        for message in messages {
            let id_seq = message.seq.and_then(|s| i64::try_from(s).ok()).unwrap_or(-1);
            for reading in &message.readings {
                let id_time = if message.stamped || message.seq.is_none() { reading.observed_at.0 } else { -1 };
                let series = series_id(&tx, &mut self.series_ids, reading).map_err(err)?;
                rows.push(Row { reading, series, id_seq, id_time });
            }
        }
        let mut inserted = 0u64;
        // Many rows per statement: per-statement overhead was most of the cost of a commit.
        for chunk in rows.chunks(ROWS_PER_INSERT) {
            let mut insert = tx.prepare_cached(&insert_sql(chunk.len())).map_err(err)?;
            let mut values: Vec<&dyn rusqlite::ToSql> = Vec::with_capacity(chunk.len() * COLUMNS);
            for row in chunk {
                let r = row.reading;
                values.extend_from_slice(&[&row.series, &row.id_seq, &row.id_time, &r.observed_at.0, &r.value, &now]);
            }
            inserted += insert.execute(values.as_slice()).map_err(err)? as u64;
        }
        update_latest(&tx, &rows).map_err(err)?;
        write_rules(&tx, rules).map_err(err)?;
        tx.commit().map_err(err)?;
        Ok(CommitOutcome { inserted, duplicates: rows.len() as u64 - inserted })
    }

    /// Every sensor's saved rule state: (group, sensor, state as JSON).
    pub fn rule_states(&self) -> Result<Vec<(String, String, String)>, ReadingsError> {
        let mut stmt = self.conn.prepare("SELECT group_name, sensor, state FROM rule_state").map_err(self.err())?;
        let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?))).map_err(self.err())?;
        rows.collect::<Result<_, _>>().map_err(self.err())
    }

    /// The findings not yet filed, oldest first: (id, finding as JSON).
    pub fn pending_findings(&self) -> Result<Vec<(String, String)>, ReadingsError> {
        let mut stmt =
            self.conn.prepare("SELECT id, finding FROM pending_findings ORDER BY seq").map_err(self.err())?;
        let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?))).map_err(self.err())?;
        rows.collect::<Result<_, _>>().map_err(self.err())
    }

    /// Deletes what `retention` no longer allows at `now`; returns the rows deleted.
    pub fn enforce_retention(&mut self, retention: &RetentionConfig, now: UnixMillis) -> Result<u64, ReadingsError> {
        let cutoff =
            now.0.saturating_sub(i64::try_from(retention.max_age_secs.saturating_mul(1000)).unwrap_or(i64::MAX));
        // The first reading, in insertion order, that is young enough ends the age cut.
        let first_young: Option<i64> = self
            .conn
            .query_row("SELECT id FROM readings WHERE observed_ms >= ?1 ORDER BY id LIMIT 1", [cutoff], |r| r.get(0))
            .optional()
            .map_err(self.err())?;
        let mut deleted = self.delete_chunks("id < ?1", first_young.unwrap_or(i64::MAX))?;
        let max_rows = i64::try_from(retention.max_rows).unwrap_or(i64::MAX);
        let newest: i64 =
            self.conn.query_row("SELECT IFNULL(MAX(id), 0) FROM readings", [], |r| r.get(0)).map_err(self.err())?;
        // Ids grow with insertion, so the newest `max_rows` ids bound the row count.
        deleted += self.delete_chunks("id <= ?1", newest.saturating_sub(max_rows))?;
        while self.used_bytes()? > retention.max_bytes && self.count()? > 0 {
            let oldest: i64 =
                self.conn.query_row("SELECT MIN(id) FROM readings", [], |r| r.get(0)).map_err(self.err())?;
            deleted += self.delete_chunks("id < ?1", oldest + DELETE_CHUNK)?;
        }
        Ok(deleted)
    }

    fn delete_chunks(&mut self, condition: &str, bound: i64) -> Result<u64, ReadingsError> {
        let sql = format!(
            "DELETE FROM readings WHERE id IN (SELECT id FROM readings WHERE {condition} ORDER BY id LIMIT ?2)"
        );
        let mut total = 0u64;
        loop {
            let n = self.conn.execute(&sql, params![bound, DELETE_CHUNK]).map_err(self.err())?;
            total += n as u64;
            if (n as i64) < DELETE_CHUNK {
                return Ok(total);
            }
        }
    }

    /// The latest reading of every (sensor, quantity), sensor by sensor; kept even when
    /// retention has deleted the reading itself, so a silent sensor still shows when it last spoke.
    pub fn latest(&self) -> Result<Vec<Reading>, ReadingsError> {
        let mut stmt = self
            .conn
            .prepare_cached(
                "SELECT sensor, quantity, latest_value, unit, latest_ms FROM series
                 WHERE latest_ms IS NOT NULL ORDER BY sensor, quantity",
            )
            .map_err(self.err())?;
        let rows = stmt
            .query_map([], |r| {
                Ok(Reading {
                    sensor: SensorId(r.get(0)?),
                    quantity: r.get(1)?,
                    value: r.get(2)?,
                    unit: r.get(3)?,
                    observed_at: UnixMillis(r.get(4)?),
                })
            })
            .map_err(self.err())?;
        rows.collect::<Result<_, _>>().map_err(self.err())
    }

    /// Bytes of the pages in use (page count minus free pages, times the page size).
    pub fn used_bytes(&self) -> Result<u64, ReadingsError> {
        let pragma = |name: &str| -> Result<i64, ReadingsError> {
            self.conn.pragma_query_value(None, name, |r| r.get(0)).map_err(self.err())
        };
        let pages = pragma("page_count")? - pragma("freelist_count")?;
        Ok(u64::try_from(pages * pragma("page_size")?).unwrap_or(0))
    }

    pub fn count(&self) -> Result<u64, ReadingsError> {
        let n: i64 = self.conn.query_row("SELECT COUNT(*) FROM readings", [], |r| r.get(0)).map_err(self.err())?;
        Ok(u64::try_from(n).unwrap_or(0))
    }

    /// A sensor's readings of one quantity observed in `from..=to`, oldest first.
    pub fn series(
        &self,
        sensor: &SensorId,
        quantity: &str,
        from: UnixMillis,
        to: UnixMillis,
    ) -> Result<Vec<StoredReading>, ReadingsError> {
        let mut stmt = self
            .conn
            .prepare_cached(
                "SELECT s.sensor, s.quantity, r.value, s.unit, r.observed_ms, r.id_seq
                 FROM series s JOIN readings r ON r.series = s.id
                 WHERE s.sensor = ?1 AND s.quantity = ?2 AND r.observed_ms BETWEEN ?3 AND ?4
                 ORDER BY r.observed_ms, r.id",
            )
            .map_err(self.err())?;
        let rows = stmt
            .query_map(params![sensor.0, quantity, from.0, to.0], |r| {
                let seq: i64 = r.get(5)?;
                Ok(StoredReading {
                    reading: Reading {
                        sensor: SensorId(r.get(0)?),
                        quantity: r.get(1)?,
                        value: r.get(2)?,
                        unit: r.get(3)?,
                        observed_at: UnixMillis(r.get(4)?),
                    },
                    seq: u64::try_from(seq).ok(),
                })
            })
            .map_err(self.err())?;
        rows.collect::<Result<_, _>>().map_err(self.err())
    }
}

/// One bucket of a trend: the readings of one quantity observed in `[start_ms, start_ms + width)`.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct TrendPoint {
    pub start_ms: i64,
    pub mean: f64,
    pub min: f64,
    pub max: f64,
    pub count: u64,
}

/// A quantity's readings over a span, in buckets.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Trend {
    pub quantity: String,
    pub unit: String,
    pub bucket_ms: i64,
    pub points: Vec<TrendPoint>,
}

impl ReadingsStore {
    /// Every quantity of `sensor` observed in `from..to`, averaged into at most `buckets`
    /// buckets each (a chart a few hundred pixels wide needs no more, whatever the rate).
    pub fn trend(
        &self,
        sensor: &SensorId,
        from: UnixMillis,
        to: UnixMillis,
        buckets: u32,
    ) -> Result<Vec<Trend>, ReadingsError> {
        let width = ((to.0 - from.0) / i64::from(buckets.max(1))).max(1);
        let mut stmt = self
            .conn
            .prepare_cached(
                "SELECT s.quantity, s.unit, (r.observed_ms - ?2) / ?4 AS b,
                        AVG(r.value), MIN(r.value), MAX(r.value), COUNT(*)
                 FROM series s JOIN readings r ON r.series = s.id
                 WHERE s.sensor = ?1 AND r.observed_ms >= ?2 AND r.observed_ms < ?3
                 GROUP BY s.id, b ORDER BY s.quantity, b",
            )
            .map_err(self.err())?;
        let rows = stmt
            .query_map(params![sensor.0, from.0, to.0, width], |r| {
                let point = TrendPoint {
                    start_ms: from.0 + r.get::<_, i64>(2)? * width,
                    mean: r.get(3)?,
                    min: r.get(4)?,
                    max: r.get(5)?,
                    count: u64::try_from(r.get::<_, i64>(6)?).unwrap_or(0),
                };
                Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?, point))
            })
            .map_err(self.err())?;
        let mut trends: Vec<Trend> = Vec::new();
        for row in rows {
            let (quantity, unit, point) = row.map_err(self.err())?;
            match trends.last_mut() {
                Some(t) if t.quantity == quantity => t.points.push(point),
                _ => trends.push(Trend { quantity, unit, bucket_ms: width, points: vec![point] }),
            }
        }
        Ok(trends)
    }
}

/// The id of `reading`'s series, created on first sight.
fn series_id(tx: &rusqlite::Transaction<'_>, cache: &mut SeriesIds, reading: &Reading) -> rusqlite::Result<i64> {
    if let Some(&id) = cache.get(&reading.sensor.0).and_then(|q| q.get(&reading.quantity)) {
        return Ok(id);
    }
    tx.prepare_cached("INSERT OR IGNORE INTO series (sensor, quantity, unit) VALUES (?1, ?2, ?3)")?
        .execute(params![reading.sensor.0, reading.quantity, reading.unit])?;
    let id = tx
        .prepare_cached("SELECT id FROM series WHERE sensor = ?1 AND quantity = ?2")?
        .query_row(params![reading.sensor.0, reading.quantity], |r| r.get(0))?;
    cache.entry(reading.sensor.0.clone()).or_default().insert(reading.quantity.clone(), id);
    Ok(id)
}

/// Moves each series' latest reading forward to the newest of `rows`, if newer.
fn update_latest(tx: &rusqlite::Transaction<'_>, rows: &[Row<'_>]) -> rusqlite::Result<()> {
    let mut newest: HashMap<i64, &Reading> = HashMap::new();
    for row in rows {
        let slot = newest.entry(row.series).or_insert(row.reading);
        if row.reading.observed_at > slot.observed_at {
            *slot = row.reading;
        }
    }
    let mut update = tx.prepare_cached(
        "UPDATE series SET latest_ms = ?2, latest_value = ?3 WHERE id = ?1 AND IFNULL(latest_ms, -1) < ?2",
    )?;
    for (series, reading) in newest {
        update.execute(params![series, reading.observed_at.0, reading.value])?;
    }
    Ok(())
}

fn write_rules(tx: &rusqlite::Transaction<'_>, rules: &RuleWrites) -> rusqlite::Result<()> {
    let mut state = tx.prepare_cached(
        "INSERT INTO rule_state (group_name, sensor, state) VALUES (?1, ?2, ?3)
         ON CONFLICT (group_name, sensor) DO UPDATE SET state = excluded.state",
    )?;
    for (group, sensor, json) in &rules.states {
        state.execute(params![group, sensor, json])?;
    }
    let mut pending = tx.prepare_cached("INSERT OR IGNORE INTO pending_findings (id, finding) VALUES (?1, ?2)")?;
    for (id, json) in &rules.findings {
        pending.execute(params![id, json])?;
    }
    let mut filed = tx.prepare_cached("DELETE FROM pending_findings WHERE id = ?1")?;
    for id in &rules.filed {
        filed.execute([id])?;
    }
    Ok(())
}

/// WAL lets a console read while the ingest writes; FULL makes a commit durable across power
/// loss, which is what makes acknowledging after the commit safe.
fn configure(conn: &Connection) -> rusqlite::Result<()> {
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(None, "synchronous", "FULL")?;
    conn.busy_timeout(std::time::Duration::from_secs(5))
}

fn migrate(conn: &mut Connection) -> rusqlite::Result<()> {
    let done: usize = conn.pragma_query_value(None, "user_version", |r| r.get(0))?;
    for (i, sql) in MIGRATIONS.iter().enumerate().skip(done) {
        let tx = conn.transaction()?;
        tx.execute_batch(sql)?;
        tx.pragma_update(None, "user_version", i + 1)?;
        tx.commit()?;
    }
    Ok(())
}

#[cfg(test)]
mod tests;
