//! The status lifecycle: which changes are allowed, and the history that records them.

use crate::HistoryRow;
use rusqlite::{Connection, Transaction, params};
use shaobing_core::IssueStatus;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum TransitionError {
    #[error("an issue cannot go from `{from}` to `{to}` (allowed from `{from}`: {allowed})")]
    NotAllowed { from: &'static str, to: &'static str, allowed: String },
    #[error("unknown status `{0}` (expected candidate, confirmed, dismissed, dispatched, resolved or verified)")]
    UnknownStatus(String),
}

const ALL: [IssueStatus; 6] = [
    IssueStatus::Candidate,
    IssueStatus::Confirmed,
    IssueStatus::Dismissed,
    IssueStatus::Dispatched,
    IssueStatus::Resolved,
    IssueStatus::Verified,
];

pub fn parse_status(s: &str) -> Result<IssueStatus, TransitionError> {
    ALL.into_iter().find(|st| st.as_str() == s).ok_or_else(|| TransitionError::UnknownStatus(s.to_string()))
}

/// candidate -> confirmed | dismissed -> dispatched -> resolved -> verified. An open issue may
/// also be resolved directly (the camera saw the hazard gone), and a resolution that did not
/// hold sends the issue back to dispatched.
fn allowed(from: IssueStatus) -> &'static [IssueStatus] {
    use IssueStatus::*;
    match from {
        Candidate => &[Confirmed, Dismissed, Resolved],
        Confirmed => &[Dispatched, Dismissed, Resolved],
        Dispatched => &[Resolved],
        Resolved => &[Verified, Dispatched],
        Dismissed | Verified => &[],
    }
}

/// The verdicts a person may give an issue in `status`, by name: those whose status the
/// lifecycle allows from there, and a note, always. What the console offers.
pub fn verdicts_allowed(status: &str) -> Vec<&'static str> {
    use shaobing_core::{DismissReason, Verdict};
    let Ok(from) = parse_status(status) else { return vec!["note"] };
    let verdicts = [
        Verdict::Confirm,
        Verdict::Dismiss { reason: DismissReason::NotAProblem },
        Verdict::Dispatch,
        Verdict::Handled,
        Verdict::Verify,
    ];
    let mut names: Vec<&'static str> = verdicts
        .iter()
        .filter(|v| v.status().is_some_and(|to| allowed(from).contains(&to)))
        .map(Verdict::as_str)
        .collect();
    names.push(Verdict::Note.as_str());
    names
}

/// The verdicts a person may give `row`: [`verdicts_allowed`] by its status, and for an
/// emergency not yet acknowledged, the acknowledgement that stops its alarm.
pub fn verdicts_for(row: &crate::IssueRow) -> Vec<&'static str> {
    let mut names = verdicts_allowed(&row.status);
    if row.priority == shaobing_core::Priority::Emergency.as_str() && row.acknowledged_ms.is_none() {
        names.push(shaobing_core::Verdict::Acknowledge.as_str());
    }
    names
}

pub fn check(from: IssueStatus, to: IssueStatus) -> Result<(), TransitionError> {
    if allowed(from).contains(&to) {
        return Ok(());
    }
    let list: Vec<&str> = allowed(from).iter().map(|s| s.as_str()).collect();
    Err(TransitionError::NotAllowed {
        from: from.as_str(),
        to: to.as_str(),
        allowed: if list.is_empty() { "none, it is final".into() } else { list.join(", ") },
    })
}

pub(crate) fn apply(tx: &Transaction<'_>, id: &str, to: IssueStatus, now: i64) -> rusqlite::Result<()> {
    tx.execute(
        "UPDATE issues SET status = ?2, version = version + 1, updated_ms = ?3,
            responded_ms = CASE WHEN ?2 IN ('confirmed','dismissed','dispatched') THEN IFNULL(responded_ms, ?3)
                ELSE responded_ms END,
            resolved_ms = CASE WHEN ?2 = 'resolved' THEN ?3 ELSE resolved_ms END,
            verified_ms = CASE WHEN ?2 = 'verified' THEN ?3 ELSE verified_ms END
         WHERE id = ?1",
        params![id, to.as_str(), now],
    )?;
    Ok(())
}

pub(crate) fn record_history(
    tx: &Transaction<'_>,
    id: &str,
    from: Option<IssueStatus>,
    to: IssueStatus,
    actor: &str,
    note: Option<&str>,
    at_ms: i64,
) -> rusqlite::Result<()> {
    let content = crate::chain::Content::History {
        issue_id: id.to_string(),
        from_status: from.map(|s| s.as_str().to_string()),
        to_status: to.as_str().to_string(),
        actor: actor.to_string(),
        note: note.map(str::to_string),
        at_ms,
    };
    let (seq, prev, hash) = crate::chain::append(tx, &content)?;
    tx.execute(
        "INSERT INTO status_history (issue_id, from_status, to_status, actor, note, at_ms, chain_seq, prev_hash, hash)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
        params![id, from.map(IssueStatus::as_str), to.as_str(), actor, note, at_ms, seq, prev, hash],
    )?;
    Ok(())
}

pub(crate) fn history(conn: &Connection, id: &str) -> rusqlite::Result<Vec<HistoryRow>> {
    let mut stmt = conn.prepare(
        "SELECT from_status, to_status, actor, note, at_ms, chain_seq, prev_hash, hash FROM status_history
         WHERE issue_id = ?1 ORDER BY id",
    )?;
    let rows = stmt.query_map(params![id], |r| {
        Ok(HistoryRow {
            from_status: r.get(0)?,
            to_status: r.get(1)?,
            actor: r.get(2)?,
            note: r.get(3)?,
            at_ms: r.get(4)?,
            link: crate::Link { chain_seq: r.get(5)?, prev_hash: r.get(6)?, hash: r.get(7)? },
        })
    })?;
    rows.collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use IssueStatus::*;

    #[test]
    fn the_verdicts_offered_are_those_the_lifecycle_allows() {
        assert_eq!(verdicts_allowed("candidate"), ["confirm", "dismiss", "handled", "note"]);
        assert_eq!(verdicts_allowed("confirmed"), ["dismiss", "dispatch", "handled", "note"]);
        assert_eq!(verdicts_allowed("dispatched"), ["handled", "note"]);
        assert_eq!(verdicts_allowed("resolved"), ["dispatch", "verify", "note"]);
        assert_eq!(verdicts_allowed("dismissed"), ["note"]);
    }

    #[test]
    fn lifecycle_allows_the_seed_path_and_refuses_shortcuts() {
        for (a, b) in [(Candidate, Confirmed), (Confirmed, Dispatched), (Dispatched, Resolved), (Resolved, Verified)] {
            assert_eq!(check(a, b), Ok(()), "{a:?} -> {b:?}");
        }
        assert!(check(Candidate, Resolved).is_ok(), "resolved by observation");
        assert!(check(Resolved, Dispatched).is_ok(), "reopened");
        let e = check(Dismissed, Verified).unwrap_err().to_string();
        assert!(e.contains("none, it is final"), "{e}");
        let e = check(Candidate, Verified).unwrap_err().to_string();
        assert!(e.contains("confirmed, dismissed, resolved"), "{e}");
        assert_eq!(parse_status("verified"), Ok(Verified));
        assert!(parse_status("done").is_err());
    }
}
