//! Re-check by the source (核查): an issue a person marks handled is watched by the camera or
//! sensor that raised it. Its source seeing the hazard gone verifies it at once; still seen
//! `verify_secs` after the verdict reopens it (back to dispatched: the department is told
//! again). A camera's hazard is sighted on every analysed frame while it stands, so a camera's
//! issue not seen for `verify_secs` after the verdict is verified too; a sensor's episode is
//! reported only every `ongoing_every_secs`, so only its clearing verifies it.

use crate::outbox::set_value;
use crate::{Store, StoreError, alerts, lifecycle, outbox, schema};
use rusqlite::{OptionalExtension, Transaction, params};
use shaobing_core::{IssueStatus, UnixMillis};

/// How long after "handled" the source looks, when no daemon has said otherwise.
pub const DEFAULT_VERIFY_SECS: u64 = 60;
const VERIFY_SECS: &str = "verify_secs";
/// How much longer than `verify_secs` a camera's re-check waits for a sighting with a
/// snapshot before it reopens without one.
pub const STILL_SHOT_WAIT_MS: i64 = 30_000;
/// Who a re-check's own changes are recorded as.
const ACTOR: &str = "shaobing:recheck";

/// What a re-check decided.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Recheck {
    Verified { id: String },
    Reopened { id: String },
}

/// Starts watching `row`, marked handled at `now`.
pub(crate) fn start(tx: &Transaction<'_>, row: &crate::IssueRow, now: i64) -> rusqlite::Result<()> {
    let unseen_verifies = row.channel != shaobing_core::DiscoveryChannel::CommandCentreSensor.as_str();
    tx.execute(
        "INSERT INTO rechecks (issue_id, dedup_key, handled_ms, last_seen_ms, unseen_verifies) VALUES (?1, ?2, ?3, NULL, ?4)
         ON CONFLICT (issue_id) DO UPDATE SET handled_ms = excluded.handled_ms, last_seen_ms = NULL",
        params![row.id, row.dedup_key, now, unseen_verifies],
    )?;
    Ok(())
}

fn verify_ms(conn: &rusqlite::Connection) -> rusqlite::Result<i64> {
    let secs = outbox::setting(conn, VERIFY_SECS)?.and_then(|v| v.parse().ok()).unwrap_or(DEFAULT_VERIFY_SECS);
    Ok(shaobing_core::secs_as_millis(secs))
}

/// Moves a re-checked issue on and ends its re-check.
fn conclude(tx: &Transaction<'_>, id: &str, to: IssueStatus, note: &str, now: i64) -> rusqlite::Result<()> {
    let priority = outbox::priority_of_issue(tx, id)?;
    lifecycle::apply(tx, id, to, now)?;
    lifecycle::record_history(tx, id, Some(IssueStatus::Resolved), to, ACTOR, Some(note), now)?;
    outbox::enqueue_issue(tx, id, priority)?;
    if to == IssueStatus::Dispatched {
        alerts::enqueue(tx, id, "reopened", priority)?;
    }
    tx.execute("DELETE FROM rechecks WHERE issue_id = ?1", [id])?;
    Ok(())
}

impl Store {
    /// How long after "handled" a source looks before it verifies or reopens, for every
    /// process that writes this store.
    pub fn set_verify_secs(&mut self, secs: u64) -> Result<(), StoreError> {
        self.write(|tx| set_value(tx, VERIFY_SECS, &secs.to_string()))
    }

    /// A sighting of `dedup_key` at `seen` while its issue is being re-checked: counted, and
    /// the issue reopened once it is still seen `verify_secs` after it was handled, keeping the
    /// sighting's `evidence` as the "still present" evidence. A camera's sightings carry a
    /// snapshot only now and then: its issue waits for one (up to [`STILL_SHOT_WAIT_MS`] more)
    /// so that the department sees what is still there. `None` when no re-check waits for
    /// this key.
    pub(crate) fn recheck_sighting(
        &mut self,
        dedup_key: &str,
        seen: UnixMillis,
        evidence: Option<&[u8]>,
        source: Option<&str>,
    ) -> Result<Option<(String, bool)>, StoreError> {
        let now = UnixMillis::now().0;
        let watched: Option<(String, i64, bool)> = self
            .conn
            .query_row(
                "SELECT issue_id, handled_ms, unseen_verifies FROM rechecks WHERE dedup_key = ?1",
                [dedup_key],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )
            .optional()
            .map_err(self.sql_err())?;
        let Some((id, handled, camera)) = watched else { return Ok(None) };
        let verify = verify_ms(&self.conn).map_err(self.sql_err())?;
        let standing = seen.0.max(now) - handled;
        let due = standing >= verify && seen.0 >= handled;
        let pictured = evidence.is_some() || !camera || standing >= verify + STILL_SHOT_WAIT_MS;
        let reopen = due && pictured;
        if let (true, Some(bytes)) = (reopen, evidence) {
            // Stored first, as an "after" snapshot is: evidence without the change is harmless.
            self.attach_evidence(&id, "still_present", bytes, seen)?;
        }
        self.write(|tx| {
            tx.execute(
                "UPDATE rechecks SET last_seen_ms = MAX(IFNULL(last_seen_ms, 0), ?2) WHERE issue_id = ?1",
                params![id, seen.0],
            )?;
            if reopen {
                conclude(tx, &id, IssueStatus::Dispatched, "reopened: still present after it was handled", now)?;
            }
            schema::mark_filed(tx, source)
        })?;
        Ok(Some((id, reopen)))
    }

    /// Every re-check waiting, as (dedup key, when it falls due): what
    /// [`shaobing_core::RecheckWatch`] holds. A sensor reports its episode then; a camera sends
    /// a fresh snapshot with its sightings from then on.
    pub fn rechecks_due(&self) -> Result<Vec<(String, UnixMillis)>, StoreError> {
        let verify = verify_ms(&self.conn).map_err(self.sql_err())?;
        let mut stmt =
            self.conn.prepare_cached("SELECT dedup_key, handled_ms FROM rechecks").map_err(self.sql_err())?;
        let rows = stmt
            .query_map([], |r| Ok((r.get::<_, String>(0)?, UnixMillis(r.get::<_, i64>(1)?.saturating_add(verify)))))
            .map_err(self.sql_err())?;
        rows.collect::<rusqlite::Result<Vec<_>>>().map_err(self.sql_err())
    }

    /// The issue being re-checked under `dedup_key`, if any.
    pub(crate) fn rechecked_issue(&self, dedup_key: &str) -> Result<Option<String>, StoreError> {
        self.conn
            .query_row("SELECT issue_id FROM rechecks WHERE dedup_key = ?1", [dedup_key], |r| r.get(0))
            .optional()
            .map_err(self.sql_err())
    }

    /// The source saw re-checked issue `id` gone: verified.
    pub(crate) fn recheck_gone(&mut self, id: &str, note: &str, source: Option<&str>) -> Result<(), StoreError> {
        let now = UnixMillis::now().0;
        self.write(|tx| {
            conclude(tx, id, IssueStatus::Verified, &format!("verified by its source: {note}"), now)?;
            schema::mark_filed(tx, source)
        })
    }

    /// Verifies every re-checked camera issue its camera has not seen for `verify_secs` since
    /// it was handled (or last seen). Called on a timer by the issues room's writer.
    pub fn settle_rechecks(&mut self, now: UnixMillis) -> Result<Vec<Recheck>, StoreError> {
        self.write(|tx| {
            let limit = verify_ms(tx)?;
            let due: Vec<String> = tx
                .prepare(
                    "SELECT issue_id FROM rechecks
                     WHERE unseen_verifies AND ?1 - MAX(handled_ms, IFNULL(last_seen_ms, 0)) >= ?2",
                )?
                .query_map(params![now.0, limit], |r| r.get(0))?
                .collect::<rusqlite::Result<_>>()?;
            let note = format!("verified: not seen for {} s after it was handled", limit / 1000);
            for id in &due {
                conclude(tx, id, IssueStatus::Verified, &note, now.0)?;
            }
            Ok(due.into_iter().map(|id| Recheck::Verified { id }).collect())
        })
    }
}
