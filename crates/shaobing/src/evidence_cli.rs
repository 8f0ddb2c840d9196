//! `shaobing evidence verify [--central]`: the box's hash chain and evidence files, and with
//! `--central` the central copy of the chain, checked; the first entry that does not match is
//! named and the exit code is 1.

use anyhow::{Context, bail};
use shaobing_store::{Mismatch, Store};
use std::path::Path;

#[derive(clap::Subcommand, Debug)]
pub enum EvidenceCommand {
    /// Check every history entry and evidence row against the box's hash chain and every kept
    /// evidence file against its sha256; exit 1 naming the first entry that does not match.
    Verify {
        /// Also check the central database's copy of the chain (needs the configuration's
        /// `[central]`): entries there must hash to themselves and equal the box's.
        #[arg(long)]
        central: bool,
    },
}

/// What a verification found, as `--json` prints it.
#[derive(Debug, serde::Serialize)]
struct Report {
    entries: usize,
    files: usize,
    mismatches: Vec<Mismatch>,
    central: Option<CentralReport>,
}

#[derive(Debug, serde::Serialize)]
struct CentralReport {
    entries: usize,
    not_yet_sent: usize,
    mismatches: Vec<Mismatch>,
}

pub async fn run(
    data_dir: &Path,
    config: Option<&shaobing_config::Config>,
    command: EvidenceCommand,
    json: bool,
) -> anyhow::Result<()> {
    let EvidenceCommand::Verify { central } = command;
    if !data_dir.join(shaobing_store::DB_FILE).is_file() {
        bail!("no problem database in {} (give --data-dir or --config)", data_dir.display());
    }
    let store = Store::open(data_dir, "cli")?;
    let check = store.verify_evidence()?;
    let central = match central {
        false => None,
        true => Some(central_report(&store, config).await?),
    };
    let report = Report { entries: check.entries, files: check.files, mismatches: check.mismatches, central };
    print(&report, json)?;
    let first = report.mismatches.first().or(report.central.as_ref().and_then(|c| c.mismatches.first()));
    match first {
        Some(m) => bail!("the record does not verify; the first entry that does not match: {m}"),
        None => Ok(()),
    }
}

async fn central_report(store: &Store, config: Option<&shaobing_config::Config>) -> anyhow::Result<CentralReport> {
    let config = config.context("--central needs the daemon's configuration (--config) for [central]")?;
    let central = config.central.as_ref().context("--central: the configuration has no [central] section")?;
    let held =
        central.read_chain(&config.daemon.box_id).await.context("cannot read the chain from the central database")?;
    let local = store.chain()?.entries;
    let (mut mismatches, not_yet_sent) = shaobing_store::compare_chains(&local, &held.entries);
    mismatches.extend(held.bad_data);
    mismatches.sort_by_key(|m| m.seq);
    Ok(CentralReport { entries: held.entries.len(), not_yet_sent, mismatches })
}

/// One line saying whether all matched, then each mismatch.
fn section(what: &str, mismatches: &[Mismatch]) {
    match mismatches.len() {
        0 => println!("{what}: all match"),
        n => println!("{what}: {n} do not match"),
    }
    for m in mismatches {
        println!("  {m}");
    }
}

fn print(report: &Report, json: bool) -> anyhow::Result<()> {
    if json {
        println!("{}", serde_json::to_string(report)?);
        return Ok(());
    }
    let box_line = format!("box: {} chain entries, {} evidence files", report.entries, report.files);
    section(&box_line, &report.mismatches);
    if let Some(c) = &report.central {
        section(
            &format!("central: {} entries ({} of the box's not sent yet)", c.entries, c.not_yet_sent),
            &c.mismatches,
        );
    }
    Ok(())
}
