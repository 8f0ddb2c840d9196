//! `shaobing issues list | show | report | suppressions`, one verb per verdict (`confirm`,
//! `dismiss`, `dispatch`, `resolve`, `verify`, `note`) and `unsuppress`, on the box's problem
//! database, under the same lifecycle rules as the console's verdicts.

use crate::table;
use anyhow::{Context, bail};
use clap::{Args, Subcommand};
use shaobing_core::{DismissReason, UnixMillis, Verdict};
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
    /// A candidate is not one to act on: dismissed, and its place and category are not filed
    /// again for `daemon.dismissed_suppress_days`.
    Dismiss {
        #[command(flatten)]
        change: Change,
        /// Why: not_a_problem, wrong_category, permitted or duplicate.
        #[arg(long, default_value = "not_a_problem")]
        reason: DismissReason,
    },
    /// A confirmed issue is handed to its department: dispatched.
    Dispatch(Change),
    /// The department has handled it: resolved, waiting to be verified.
    Resolve(Change),
    /// The resolution was checked on the street: verified, closed.
    Verify(Change),
    /// A note in the issue's history; the status stays.
    Note(Change),
    /// An emergency seen by the command centre: its alarm stops; the status stays.
    Acknowledge(Change),
    /// Places and categories dismissed and not filed again, with who, why, until when and how
    /// many candidates each held back.
    Suppressions,
    /// Files the place and category of a dismissed issue again (undoes its suppression).
    Unsuppress {
        /// The dismissed issue's id, or a unique prefix of it.
        id: String,
        /// Who lifts it; recorded in the issue's history.
        #[arg(long)]
        by: String,
    },
    /// Time from creation to verified resolution per department and category (督办), and
    /// each camera's and sensor's precision per category (confirmed / (confirmed + dismissed)).
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
    /// The verdict a change verb gives.
    fn verdict(self) -> Option<(Verdict, Change)> {
        match self {
            IssuesCommand::Confirm(c) => Some((Verdict::Confirm, c)),
            IssuesCommand::Dismiss { change, reason } => Some((Verdict::Dismiss { reason }, change)),
            IssuesCommand::Dispatch(c) => Some((Verdict::Dispatch, c)),
            IssuesCommand::Resolve(c) => Some((Verdict::Handled, c)),
            IssuesCommand::Verify(c) => Some((Verdict::Verify, c)),
            IssuesCommand::Note(c) => Some((Verdict::Note, c)),
            IssuesCommand::Acknowledge(c) => Some((Verdict::Acknowledge, c)),
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
            let precision = shaobing_store::precision(&store).context("cannot compute the precision")?;
            let on_time = shaobing_store::on_time(&figures);
            let value = serde_json::json!({ "departments": figures, "on_time": on_time, "precision": precision });
            let text = [report_table(&figures), on_time_table(&on_time), precision_table(&precision)].join("\n");
            out(value, text);
        }
        IssuesCommand::Suppressions => {
            let held = store.suppressions()?;
            out(serde_json::to_value(&held)?, suppressions_table(&held));
        }
        IssuesCommand::Unsuppress { id, by } => {
            let id = store.resolve_id(&id)?;
            let lifted = store.lift_suppression(&id, &by)?;
            let text = if lifted { "suppression lifted" } else { "no suppression in force" };
            out(serde_json::json!({ "id": id, "lifted": lifted }), format!("{id}: {text} (by {by})\n"));
        }
        change => {
            let Some((verdict, Change { id, by, note })) = change.verdict() else {
                unreachable!("every other verb is a verdict")
            };
            if verdict == Verdict::Note && note.is_none() {
                bail!("note: give the text with --note");
            }
            let id = store.resolve_id(&id)?;
            let row = store.apply_verdict(&id, &verdict, &by, note.as_deref())?;
            out(serde_json::to_value(&row)?, format!("{}: {} (by {by})\n", row.id, row.status));
        }
    }
    Ok(())
}

fn suppressions_table(held: &[shaobing_store::Suppression]) -> String {
    let until = zoned("until");
    let header = ["dismissed issue", "category", "source", "reason", "by", &until, "held back"];
    let cells: Vec<Vec<String>> = held
        .iter()
        .map(|h| {
            vec![
                h.issue_id.chars().take(13).collect(),
                h.category.clone(),
                h.source.clone(),
                h.reason.clone(),
                h.by.clone(),
                time(h.until_ms),
                h.suppressed.to_string(),
            ]
        })
        .collect();
    table::render(&header, &cells)
}

fn time(ms: i64) -> String {
    UnixMillis(ms).to_local_string()
}

/// A time column's heading with the box's zone: `first seen (CST)`.
fn zoned(heading: &str) -> String {
    format!("{heading} ({})", shaobing_core::box_zone().abbreviation())
}

pub fn list_table(rows: &[IssueRow]) -> String {
    let first_seen = zoned("first seen");
    let header = ["id", "status", "category", "where", "department", &first_seen, "seen", "cause"];
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
        ("due", deadlines(r)),
        ("resolution path", r.resolution_path.clone()),
        (
            "first / last seen",
            format!("{} / {}", time(r.first_seen_ms), UnixMillis(r.last_seen_ms).to_local_string_zoned()),
        ),
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
    text.push_str(&format!("\n{}\n", table::render(&[&zoned("when"), "change", "by", "note"], &cells)));
    text
}

/// When a response and the resolution are due, and which deadlines were missed.
fn deadlines(r: &shaobing_store::IssueRow) -> String {
    let at = |t: Option<i64>| t.map_or_else(|| "-".into(), |t| UnixMillis(t).to_local_string_zoned());
    let mut text = format!("respond by {}, resolve by {}", at(r.respond_by_ms), at(r.resolve_by_ms));
    let missed: Vec<&str> = [(r.response_late, "response"), (r.resolution_late, "resolution")]
        .into_iter()
        .filter_map(|(late, what)| late.then_some(what))
        .collect();
    if !missed.is_empty() {
        text.push_str(&format!(" (missed: {})", missed.join(", ")));
    }
    text
}

fn share(on_time: i64, late: i64, rate: Option<f64>) -> String {
    rate.map_or_else(|| "-".into(), |r| format!("{on_time}/{} ({:.0} %)", on_time + late, r * 100.0))
}

fn on_time_table(rows: &[shaobing_store::OnTime]) -> String {
    let cells: Vec<Vec<String>> = rows
        .iter()
        .map(|o| {
            vec![
                o.department.clone(),
                share(o.responses_on_time, o.responses_late, o.response_rate),
                share(o.resolutions_on_time, o.resolutions_late, o.resolution_rate),
                o.overdue.to_string(),
            ]
        })
        .collect();
    let header = ["department", "responded on time", "resolved on time", "overdue now"];
    format!("deadlines kept per department (least punctual first)\n\n{}", table::render(&header, &cells))
}

fn hours(secs: Option<f64>) -> String {
    secs.map_or_else(|| "-".into(), |s| format!("{:.1}", s / 3600.0))
}

fn precision_table(rows: &[shaobing_store::Precision]) -> String {
    let cells: Vec<Vec<String>> = rows
        .iter()
        .map(|p| {
            vec![
                p.source.clone(),
                p.category.clone(),
                p.confirmed.to_string(),
                p.dismissed.to_string(),
                p.precision.map_or_else(|| "-".into(), |v| format!("{:.0} %", v * 100.0)),
            ]
        })
        .collect();
    let header = ["source", "category", "confirmed", "dismissed", "precision"];
    format!("candidates people judged, least precise first\n\n{}", table::render(&header, &cells))
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
