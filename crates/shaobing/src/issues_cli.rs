//! `shaobing issues list | show | report` and one verb per status change (`confirm`,
//! `dismiss`, `dispatch`, `resolve`, `verify`) on the box's problem database.

use crate::table;
use anyhow::{Context, bail};
use clap::{Args, Subcommand};
use shaobing_core::{IssueStatus, UnixMillis};
use shaobing_store::{IssueRow, Store};
use std::path::Path;

#[derive(Subcommand, Debug)]
pub enum IssuesCommand {
    /// Issues, newest first.
    List {
        /// Only issues in this status (candidate, confirmed, dismissed, dispatched, resolved, verified).
        #[arg(long)]
        status: Option<String>,
        /// At most this many issues.
        #[arg(long, default_value_t = 50)]
        limit: usize,
    },
    /// One issue with its status history and evidence.
    Show {
        /// The issue's id, or a unique prefix of it.
        id: String,
    },
    /// A candidate is a real problem: confirmed.
    Confirm(Change),
    /// A candidate is not a problem (say why in --note): dismissed.
    Dismiss(Change),
    /// A confirmed issue is handed to its department: dispatched.
    Dispatch(Change),
    /// The department has handled it: resolved, waiting to be verified.
    Resolve(Change),
    /// The resolution was checked on the street: verified, closed.
    Verify(Change),
    /// Time from creation to verified resolution per department and category (督办).
    Report,
}

/// Who changes an issue's status, and why.
#[derive(Args, Debug)]
pub struct Change {
    /// The issue's id, or a unique prefix of it.
    id: String,
    /// Who makes the change (a name or a department); recorded in the issue's history.
    #[arg(long)]
    by: String,
    /// Why, recorded beside the change.
    #[arg(long)]
    note: Option<String>,
}

impl IssuesCommand {
    /// The status a change verb moves an issue to.
    fn change(self) -> Option<(IssueStatus, Change)> {
        match self {
            IssuesCommand::Confirm(c) => Some((IssueStatus::Confirmed, c)),
            IssuesCommand::Dismiss(c) => Some((IssueStatus::Dismissed, c)),
            IssuesCommand::Dispatch(c) => Some((IssueStatus::Dispatched, c)),
            IssuesCommand::Resolve(c) => Some((IssueStatus::Resolved, c)),
            IssuesCommand::Verify(c) => Some((IssueStatus::Verified, c)),
            _ => None,
        }
    }
}

/// Runs `command` on the database in `data_dir`; `json` prints JSON instead of tables.
pub fn run(data_dir: &Path, command: IssuesCommand, json: bool) -> anyhow::Result<()> {
    if !data_dir.join(shaobing_store::DB_FILE).is_file() {
        bail!("no problem database in {} (give --data-dir or --config)", data_dir.display());
    }
    let mut store = Store::open(data_dir, "cli")?;
    let out = |value: serde_json::Value, text: String| {
        if json {
            println!("{value}");
        } else {
            print!("{text}");
        }
    };
    match command {
        IssuesCommand::List { status, limit } => {
            let status = status.map(|s| shaobing_store::parse_status(&s)).transpose()?;
            let rows = store.list(status, limit)?;
            out(serde_json::to_value(&rows)?, list_table(&rows));
        }
        IssuesCommand::Show { id } => {
            let id = store.resolve_id(&id)?;
            let (row, history) = (store.get(&id)?, store.history(&id)?);
            let value = serde_json::json!({ "issue": row, "history": history, "evidence": store.evidence_of(&id)? });
            out(value, show(&row, &history));
        }
        IssuesCommand::Report => {
            let figures = shaobing_store::report(&store).context("cannot compute the report")?;
            out(serde_json::to_value(&figures)?, report_table(&figures));
        }
        change => {
            let Some((to, Change { id, by, note })) = change.change() else {
                unreachable!("every other verb is a change")
            };
            let id = store.resolve_id(&id)?;
            let row = store.transition(&id, to, &by, note.as_deref())?;
            out(serde_json::to_value(&row)?, format!("{}: {} (by {by})\n", row.id, row.status));
        }
    }
    Ok(())
}

fn time(ms: i64) -> String {
    UnixMillis(ms).to_china_time_string()
}

pub fn list_table(rows: &[IssueRow]) -> String {
    let header = ["id", "status", "category", "where", "department", "first seen (CST)", "seen", "cause"];
    let cells: Vec<Vec<String>> = rows
        .iter()
        .map(|r| {
            vec![
                r.id.chars().take(13).collect(),
                r.status.clone(),
                format!("{} {}", r.event_code, r.category),
                format!("{}/{}", r.source, r.zone.as_deref().unwrap_or("-")),
                r.department.clone(),
                time(r.first_seen_ms),
                r.occurrences.to_string(),
                r.cause.clone(),
            ]
        })
        .collect();
    format!("{} issue(s)\n\n{}", rows.len(), table::render(&header, &cells))
}

fn show(r: &IssueRow, history: &[shaobing_store::HistoryRow]) -> String {
    let location = match (r.lat, r.lon) {
        (Some(lat), Some(lon)) => format!("{lat:.5}, {lon:.5}"),
        _ => "-".into(),
    };
    let fields = [
        ("id", r.id.clone()),
        ("status", r.status.clone()),
        ("category", format!("{} {} ({})", r.event_code, r.category, r.whistle_kind)),
        ("priority", r.priority.clone()),
        ("cause", r.cause.clone()),
        ("rule", format!("{} (confidence {:.2})", r.rule, r.confidence)),
        ("source", format!("{} / zone {}", r.source, r.zone.as_deref().unwrap_or("-"))),
        ("location", location),
        ("address", r.address.clone().unwrap_or_default()),
        ("department", format!("{} [{}]", r.department, r.tier)),
        ("resolution path", r.resolution_path.clone()),
        ("first / last seen", format!("{} / {} CST", time(r.first_seen_ms), time(r.last_seen_ms))),
        ("occurrences", r.occurrences.to_string()),
        ("discovered via", r.channel.clone()),
        ("evidence", r.evidence_path.clone().unwrap_or_else(|| "-".into())),
    ];
    let mut text: String = fields.iter().map(|(k, v)| format!("{k:>18}  {v}\n")).collect();
    let cells: Vec<Vec<String>> = history
        .iter()
        .map(|h| {
            let from = h.from_status.clone().unwrap_or_else(|| "-".into());
            vec![
                time(h.at_ms),
                format!("{from} -> {}", h.to_status),
                h.actor.clone(),
                h.note.clone().unwrap_or_default(),
            ]
        })
        .collect();
    text.push_str(&format!("\n{}\n", table::render(&["when (CST)", "change", "by", "note"], &cells)));
    text
}

fn hours(secs: Option<f64>) -> String {
    secs.map_or_else(|| "-".into(), |s| format!("{:.1}", s / 3600.0))
}

fn report_table(figures: &[shaobing_store::DepartmentFigures]) -> String {
    let now = UnixMillis::now();
    let cells: Vec<Vec<String>> = figures
        .iter()
        .map(|f| {
            vec![
                f.department.clone(),
                f.category.clone(),
                f.created.to_string(),
                f.open.to_string(),
                f.resolved.to_string(),
                f.verified.to_string(),
                hours(f.mean_secs_to_verified),
                hours(f.max_secs_to_verified),
                hours(f.oldest_open_ms.map(|t| now.since(UnixMillis(t)).as_secs_f64())),
            ]
        })
        .collect();
    let header =
        ["department", "category", "created", "open", "resolved", "verified", "mean h", "max h", "oldest open h"];
    format!("time from creation to verified resolution (slowest first)\n\n{}", table::render(&header, &cells))
}
