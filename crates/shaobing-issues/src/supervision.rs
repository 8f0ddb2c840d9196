//! The supervision whistle's figures: time to verified resolution per department (a
//! histogram of the verifications seen), the oldest open issue and the outbox backlog (gauges).

use shaobing_metrics::{Metrics, Supervision};
use shaobing_store::{EvidenceConfig, Store};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// How often the outbox backlog and new verifications are read: an alert on the backlog should
/// not lag by half a minute.
const PERIOD: Duration = Duration::from_secs(5);

/// Every how many periods the per-department figures (a scan of every issue) are recomputed.
const REPORT_EVERY: u32 = 6;
/// Every how many periods evidence retention runs (and once at start).
const RETENTION_EVERY: u32 = 120;

/// Keeps the supervision figures (time to verified resolution per department, the oldest open
/// issue) and the outbox backlog current. Status changes come from the CLI in another process,
/// so the figures are read from the database.
pub async fn supervise(store: Store, evidence: EvidenceConfig, metrics: Metrics, cancel: CancellationToken) {
    let store = Arc::new(Mutex::new(store));
    // Verifications before this start were counted by an earlier run, if at all: the
    // histogram counts what happens while it runs, and `issues report` keeps the whole record.
    let mut seen_until = shaobing_core::UnixMillis::now().0;
    for tick in 0u32.. {
        let s = store.clone();
        let with_report = tick % REPORT_EVERY == 0;
        if tick % RETENTION_EVERY == 0 {
            retention(&store, &evidence, &metrics).await;
        }
        let figures = tokio::task::spawn_blocking(move || {
            let store = s.lock().unwrap_or_else(|p| p.into_inner());
            let report = if with_report { Some(shaobing_store::report(&store)?) } else { None };
            Ok::<_, shaobing_store::StoreError>((
                report,
                store.outbox_stats()?,
                shaobing_store::verified_since(&store, seen_until)?,
            ))
        })
        .await;
        match figures {
            Ok(Ok((report, outbox, verified))) => {
                metrics.set_outbox(outbox.rows, outbox.bytes, outbox.dead_letters);
                if let Some(rows) = report {
                    metrics.set_supervision(&oldest_open(rows));
                }
                for v in verified {
                    metrics.issue_verified(&v.department, &v.category, v.secs);
                    seen_until = seen_until.max(v.verified_ms);
                }
            }
            Ok(Err(e)) => tracing::warn!(error = %e, "cannot compute supervision figures"),
            Err(e) => tracing::warn!(error = %e, "supervision task failed"),
        }
        tokio::select! {
            _ = cancel.cancelled() => return,
            _ = tokio::time::sleep(PERIOD) => {}
        }
    }
}

/// One evidence retention pass, with the disk use per category after it.
async fn retention(store: &Arc<Mutex<Store>>, config: &EvidenceConfig, metrics: &Metrics) {
    let (s, config) = (store.clone(), config.clone());
    let done = tokio::task::spawn_blocking(move || {
        let mut store = s.lock().unwrap_or_else(|p| p.into_inner());
        let purged = store.enforce_evidence_retention(&config, shaobing_core::UnixMillis::now())?;
        Ok::<_, shaobing_store::StoreError>((purged, store.evidence_bytes_by_category()?))
    })
    .await;
    match done {
        Ok(Ok((purged, by_category))) => {
            if purged.files > 0 {
                tracing::info!(
                    files = purged.files,
                    bytes = purged.bytes,
                    "evidence of closed issues deleted by retention"
                );
            }
            metrics.evidence_purged(purged.bytes);
            metrics.set_evidence_bytes(&by_category);
        }
        Ok(Err(e)) => tracing::warn!(error = %e, "evidence retention failed; trying again later"),
        Err(e) => tracing::warn!(error = %e, "evidence retention task failed"),
    }
}

/// The start-up audit of the evidence directory against its rows: reported, never fatal.
pub fn audit_evidence(store: &Store, metrics: &Metrics) {
    match store.audit_evidence() {
        Ok(audit) => {
            metrics.set_evidence_orphans(audit.files_without_row.len(), audit.rows_without_file.len());
            if !audit.files_without_row.is_empty() {
                let first = audit.files_without_row[0].display().to_string();
                tracing::warn!(
                    count = audit.files_without_row.len(),
                    first,
                    "evidence files without a row in the problem database"
                );
            }
            if let Some((issue, path)) = audit.rows_without_file.first() {
                tracing::warn!(count = audit.rows_without_file.len(), %issue, %path, "evidence rows whose file is missing");
            }
        }
        Err(e) => tracing::warn!(error = %e, "cannot audit the evidence directory"),
    }
}

/// The age of each department's oldest open issue per category.
fn oldest_open(rows: Vec<shaobing_store::DepartmentFigures>) -> Vec<Supervision> {
    let now = shaobing_core::UnixMillis::now();
    rows.into_iter()
        .map(|f| Supervision {
            oldest_open_secs: f.oldest_open_ms.map(|t| now.since(shaobing_core::UnixMillis(t)).as_secs_f64()),
            department: f.department,
            category: f.category,
        })
        .collect()
}
