//! `shaobing issues list | show | resolve | report` on the box's problem database.

use crate::table;
use anyhow::{Context, bail};
use clap::Subcommand;
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
        #[arg(long, default_value_t = 50)]
        limit: usize,
    },
    /// One issue with its status history and evidence. ID may be a unique prefix.
    Show { id: String },
    /// Change an issue's status (default: resolved), recording who did it.
    Resolve {
        id: String,
        /// Who makes the change (a name or a department).
        #[arg(long)]
        by: String,
        /// The new status: confirmed, dismissed, dispatched, resolved or verified.
        #[arg(long, default_value = "resolved")]
        status: String,
        #[arg(long)]
        note: Option<String>,
    },
    /// Time from creation to verified resolution per department and category (督办).
    Report,
}

pub fn run(data_dir: &Path, command: IssuesCommand) -> anyhow::Result<()> {
    if !data_dir.join(shaobing_store::DB_FILE).is_file() {
        bail!("no problem database in {} (give --data-dir or --config)", data_dir.display());
    }
    let mut store = Store::open(data_dir, "cli")?;
    match command {
        IssuesCommand::List { status, limit } => {
            let status = status.map(|s| shaobing_store::parse_status(&s)).transpose()?;
            print!("{}", list_table(&store.list(status, limit)?));
        }
        IssuesCommand::Show { id } => show(&store, &store.resolve_id(&id)?)?,
        IssuesCommand::Resolve { id, by, status, note } => {
            let id = store.resolve_id(&id)?;
            let to: IssueStatus = shaobing_store::parse_status(&status)?;
            let row = store.transition(&id, to, &by, note.as_deref())?;
            println!("{}: {} (by {by})", row.id, row.status);
        }
        IssuesCommand::Report => print!("{}", report_table(&store)?),
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

fn show(store: &Store, id: &str) -> anyhow::Result<()> {
    let r = store.get(id)?;
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
    for (k, v) in fields {
        println!("{k:>18}  {v}");
    }
    let history = store.history(id)?;
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
    println!("\n{}", table::render(&["when (CST)", "change", "by", "note"], &cells));
    Ok(())
}

fn hours(secs: Option<f64>) -> String {
    secs.map_or_else(|| "-".into(), |s| format!("{:.1}", s / 3600.0))
}

fn report_table(store: &Store) -> anyhow::Result<String> {
    let now = UnixMillis::now();
    let figures = shaobing_store::report(store).context("cannot compute the report")?;
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
    Ok(format!("time from creation to verified resolution (slowest first)\n\n{}", table::render(&header, &cells)))
}
