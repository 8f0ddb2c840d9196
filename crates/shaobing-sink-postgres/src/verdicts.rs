//! Verdicts taken in the central database, where the command centre decides: rows the city
//! platform writes into `shaobing_verdicts` for this box are read on the drain's connection
//! about once a second, handed to the issues room's one door, and marked with what became of
//! them. Each row's id names its verdict on the box, so a row read again after a reconnect
//! (the box applied it but did not get to mark it) is not applied twice.

use crate::SinkError;
use shaobing_core::{DismissReason, Verdict};
use shaobing_issues::{VerdictError, Verdicts};
use shaobing_store::StoreError;
use tokio_postgres::Client;

/// Verdicts read per round.
const BATCH: i64 = 50;

/// Where central verdicts for this box go.
#[derive(Debug, Clone)]
pub struct Inbound {
    pub box_id: String,
    pub door: Verdicts,
}

/// What became of one central verdict, written back beside it.
enum Settled {
    Applied(String),
    Refused(String),
}

/// Applies the verdicts waiting for this box; returns how many were settled.
pub(crate) async fn take(client: &Client, inbound: &Inbound) -> Result<usize, SinkError> {
    let rows = client
        .query(
            "SELECT id, issue_id, verdict, reason, by_whom, note FROM shaobing_verdicts
             WHERE box_id = $1 AND applied_at IS NULL ORDER BY id LIMIT $2",
            &[&inbound.box_id, &BATCH],
        )
        .await?;
    for row in &rows {
        let id: i64 = row.get(0);
        let result = apply(inbound, id, row.get(1), row.get(2), row.get(3), row.get(4), row.get(5)).await?;
        let (applied, text) = match result {
            Settled::Applied(status) => (true, format!("applied: {status}")),
            Settled::Refused(why) => (false, format!("refused: {why}")),
        };
        if !applied {
            tracing::warn!(central_id = id, %text, "a central verdict was refused");
        }
        client
            .execute("UPDATE shaobing_verdicts SET applied_at = now(), result = $2 WHERE id = $1", &[&id, &text])
            .await?;
    }
    Ok(rows.len())
}

async fn apply(
    inbound: &Inbound,
    id: i64,
    issue_id: String,
    verdict: String,
    reason: Option<String>,
    by: String,
    note: Option<String>,
) -> Result<Settled, SinkError> {
    let verdict = match parse(&verdict, reason.as_deref()) {
        Ok(v) => v,
        Err(why) => return Ok(Settled::Refused(why)),
    };
    let actor = format!("central:{by}");
    let source = Some(format!("central-verdict:{id}"));
    match inbound.door.apply_from(&issue_id, verdict, &actor, note, source).await {
        Ok(row) => Ok(Settled::Applied(row.status)),
        Err(VerdictError::Store(StoreError::NotFound(_))) => {
            Ok(Settled::Refused(format!("issue `{issue_id}` not on this box")))
        }
        Err(VerdictError::Store(StoreError::Transition(e))) => Ok(Settled::Refused(e.to_string())),
        Err(VerdictError::Store(e)) => Err(SinkError::Store(e)),
        Err(VerdictError::Stopped) => Err(SinkError::BadRow { seq: -1, message: "stopping".into() }),
    }
}

/// A verdict as the central table writes it: its name, and a reason for a dismissal.
fn parse(verdict: &str, reason: Option<&str>) -> Result<Verdict, String> {
    Ok(match verdict {
        "confirm" => Verdict::Confirm,
        "dismiss" => {
            let reason: DismissReason = reason.ok_or("a dismissal needs its reason")?.parse()?;
            Verdict::Dismiss { reason }
        }
        "dispatch" => Verdict::Dispatch,
        "handled" => Verdict::Handled,
        "verify" => Verdict::Verify,
        "note" => Verdict::Note,
        "acknowledge" => Verdict::Acknowledge,
        other => return Err(format!("unknown verdict `{other}`")),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn central_rows_read_as_verdicts_or_say_why_not() {
        assert_eq!(parse("dismiss", Some("duplicate")), Ok(Verdict::Dismiss { reason: DismissReason::Duplicate }));
        assert_eq!(parse("handled", None), Ok(Verdict::Handled));
        assert_eq!(parse("dismiss", None), Err("a dismissal needs its reason".into()));
        assert!(parse("dismiss", Some("meh")).unwrap_err().contains("not_a_problem"));
        assert_eq!(parse("bless", None), Err("unknown verdict `bless`".into()));
    }
}
