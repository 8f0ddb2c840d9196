//! The supervision whistle's figures: time to verified resolution per department, and the
//! outbox backlog, kept current as gauges.

use shaobing_metrics::{Metrics, Supervision};
use shaobing_store::Store;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// How often the supervision figures are recomputed from the problem database.
const SUPERVISION_PERIOD: Duration = Duration::from_secs(30);

/// Keeps the supervision gauges (time to verified resolution per department) and the outbox
/// backlog current. Status changes come from the CLI in another process, so the figures are
/// read from the database.
pub async fn supervise(store: Store, metrics: Metrics, cancel: CancellationToken) {
    let store = Arc::new(Mutex::new(store));
    loop {
        let s = store.clone();
        let figures = tokio::task::spawn_blocking(move || {
            let store = s.lock().unwrap_or_else(|p| p.into_inner());
            Ok::<_, shaobing_store::StoreError>((shaobing_store::report(&store)?, store.outbox_stats()?))
        })
        .await;
        match figures {
            Ok(Ok((rows, outbox))) => {
                metrics.set_outbox(outbox.rows, outbox.bytes, outbox.dead_letters);
                let now = shaobing_core::UnixMillis::now();
                let gauges: Vec<Supervision> = rows
                    .into_iter()
                    .map(|f| Supervision {
                        oldest_open_secs: f
                            .oldest_open_ms
                            .map(|t| now.since(shaobing_core::UnixMillis(t)).as_secs_f64()),
                        department: f.department,
                        category: f.category,
                        mean_verified_secs: f.mean_secs_to_verified,
                        max_verified_secs: f.max_secs_to_verified,
                    })
                    .collect();
                metrics.set_supervision(&gauges);
            }
            Ok(Err(e)) => tracing::warn!(error = %e, "cannot compute supervision figures"),
            Err(e) => tracing::warn!(error = %e, "supervision task failed"),
        }
        tokio::select! {
            _ = cancel.cancelled() => return,
            _ = tokio::time::sleep(SUPERVISION_PERIOD) => {}
        }
    }
}
