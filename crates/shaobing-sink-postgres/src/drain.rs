//! The drain loop: outbox batch -> one central transaction -> acknowledge; reconnect with
//! capped, jittered backoff; isolate and dead-letter rows the central database rejects.

use crate::{SinkError, central};
use shaobing_core::{Backoff, UnixMillis};
use shaobing_store::{OutboxRow, Store};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::Notify;
use tokio_postgres::{Client, NoTls};
use tokio_util::sync::CancellationToken;

#[derive(Debug, Clone)]
pub struct DrainConfig {
    /// Connection settings, password included (kept out of any URL so URLs can be logged).
    pub postgres: tokio_postgres::Config,
    /// Rows per central transaction.
    pub batch: usize,
    /// Deliveries a row may fail before it moves to the dead-letter table.
    pub max_attempts: i64,
    pub retry_initial: Duration,
    pub retry_max: Duration,
    /// A delivery that takes longer than this is a dead link, even without a TCP error.
    pub timeout: Duration,
    /// Where the command centre's verdicts for this box go; none: they are not read.
    pub verdicts: Option<crate::Inbound>,
}

impl DrainConfig {
    pub fn new(postgres: tokio_postgres::Config) -> Self {
        Self {
            postgres,
            batch: 200,
            max_attempts: 5,
            retry_initial: Duration::from_millis(500),
            // Within seconds of the centre's return; an attempt every 5 s is no load.
            retry_max: Duration::from_secs(5),
            timeout: Duration::from_secs(15),
            verdicts: None,
        }
    }
}

/// Counters of the drain, for metrics and tests.
#[derive(Debug, Default)]
pub struct DrainStats {
    pub delivered: AtomicU64,
    pub dead_lettered: AtomicU64,
    pub connect_failures: AtomicU64,
}

type SharedStore = Arc<Mutex<Store>>;

async fn with_store<T: Send + 'static>(
    store: &SharedStore,
    f: impl FnOnce(&mut Store) -> Result<T, shaobing_store::StoreError> + Send + 'static,
) -> Result<T, SinkError> {
    let store = store.clone();
    let joined = tokio::task::spawn_blocking(move || f(&mut store.lock().unwrap_or_else(|p| p.into_inner()))).await;
    joined.map_err(|e| SinkError::BadRow { seq: -1, message: e.to_string() })?.map_err(SinkError::from)
}

/// Drains until cancelled. `wake` is notified when something urgent was committed.
pub async fn drain(
    store: SharedStore,
    config: DrainConfig,
    wake: Arc<Notify>,
    stats: Arc<DrainStats>,
    cancel: CancellationToken,
) {
    let mut backoff = Backoff::new(config.retry_initial, config.retry_max);
    let mut last_warning: Option<Instant> = None;
    while !cancel.is_cancelled() {
        let delay = backoff.ceiling();
        // Shutdown never waits on the central database: a connection or a batch in flight is
        // abandoned, its rows stay unacknowledged in the outbox and go again (idempotently)
        // on the next run.
        let outcome = tokio::select! {
            outcome = session(&store, &config, &wake, &stats, &cancel) => outcome,
            _ = cancel.cancelled() => return,
        };
        match outcome {
            Ok(()) => return,
            Err(e) => {
                stats.connect_failures.fetch_add(1, Ordering::Relaxed);
                // One line per 10 s at most while the central database stays away.
                if last_warning.is_none_or(|t| t.elapsed() > Duration::from_secs(10)) {
                    tracing::warn!(error = %e, retry_in = ?delay, "central database unavailable; issues stay in the outbox");
                    last_warning = Some(Instant::now());
                }
            }
        }
        tokio::select! {
            _ = cancel.cancelled() => return,
            _ = tokio::time::sleep(backoff.next_delay()) => {}
        }
    }
}

/// One connection's life: returns Ok only when cancelled, Err when the link failed.
async fn session(
    store: &SharedStore,
    config: &DrainConfig,
    wake: &Notify,
    stats: &DrainStats,
    cancel: &CancellationToken,
) -> Result<(), SinkError> {
    let (mut client, connection) = tokio::time::timeout(config.timeout, config.postgres.connect(NoTls))
        .await
        .map_err(|_| SinkError::BadRow { seq: -1, message: "connection timed out".into() })??;
    let _connection = AbortOnDrop(tokio::spawn(connection));
    async {
        central::migrate(&client).await?;
        loop {
            if let Some(inbound) = &config.verdicts {
                tokio::time::timeout(config.timeout, crate::verdicts::take(&client, inbound))
                    .await
                    .map_err(|_| SinkError::BadRow { seq: -1, message: "reading verdicts timed out".into() })??;
            }
            let limit = config.batch;
            let batch = with_store(store, move |s| s.outbox_batch(limit)).await?;
            if batch.is_empty() {
                tokio::select! {
                    _ = cancel.cancelled() => return Ok(()),
                    _ = wake.notified() => {}
                    _ = tokio::time::sleep(Duration::from_secs(1)) => {}
                }
                continue;
            }
            deliver(&mut client, store, config, stats, batch).await?;
            if cancel.is_cancelled() {
                return Ok(());
            }
        }
    }
    .await
}

/// The connection's task ends with its session, however the session ends (an error, or the
/// drain dropping it at shutdown).
struct AbortOnDrop(tokio::task::JoinHandle<Result<(), tokio_postgres::Error>>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

fn is_link_failure(e: &SinkError) -> bool {
    match e {
        SinkError::Postgres(pg) => pg.as_db_error().is_none(),
        _ => false,
    }
}

/// Sends a batch in one transaction; when the central database rejects it, row by row so
/// that a poison row cannot hold back the others.
async fn deliver(
    client: &mut Client,
    store: &SharedStore,
    config: &DrainConfig,
    stats: &DrainStats,
    batch: Vec<OutboxRow>,
) -> Result<(), SinkError> {
    let whole = tokio::time::timeout(config.timeout, send_batch(client, &batch)).await;
    match whole {
        Err(_) => return Err(SinkError::BadRow { seq: -1, message: "delivery timed out".into() }),
        Ok(Ok(())) => return acknowledge(store, stats, batch.iter().map(|r| (r.seq, r.version)).collect()).await,
        Ok(Err(e)) if is_link_failure(&e) => return Err(e),
        Ok(Err(_)) => {}
    }
    for row in batch {
        match tokio::time::timeout(config.timeout, central::write(&*client, &row)).await {
            Err(_) => return Err(SinkError::BadRow { seq: row.seq, message: "delivery timed out".into() }),
            Ok(Ok(())) => acknowledge(store, stats, vec![(row.seq, row.version)]).await?,
            Ok(Err(e)) if is_link_failure(&e) => return Err(e),
            Ok(Err(e)) => reject(store, config, stats, &row, &e.to_string()).await?,
        }
    }
    Ok(())
}

async fn send_batch(client: &mut Client, batch: &[OutboxRow]) -> Result<(), SinkError> {
    let tx = client.transaction().await?;
    for row in batch {
        central::write(&tx, row).await?;
    }
    tx.commit().await?;
    Ok(())
}

async fn acknowledge(store: &SharedStore, stats: &DrainStats, rows: Vec<(i64, i64)>) -> Result<(), SinkError> {
    let n = rows.len() as u64;
    with_store(store, move |s| s.outbox_delivered(&rows)).await?;
    stats.delivered.fetch_add(n, Ordering::Relaxed);
    Ok(())
}

async fn reject(
    store: &SharedStore,
    config: &DrainConfig,
    stats: &DrainStats,
    row: &OutboxRow,
    error: &str,
) -> Result<(), SinkError> {
    let (seq, max, error_text) = (row.seq, config.max_attempts, error.to_string());
    let retry_at = UnixMillis::now().saturating_add(config.retry_initial * 2u32.pow(row.attempts.clamp(0, 10) as u32));
    let dead = with_store(store, move |s| s.outbox_failed(seq, &error_text, max, retry_at)).await?;
    if dead {
        stats.dead_lettered.fetch_add(1, Ordering::Relaxed);
        tracing::error!(seq, kind = ?row.kind, ref_id = %row.ref_id, error, "outbox row moved to the dead-letter table");
    } else {
        tracing::warn!(seq, kind = ?row.kind, ref_id = %row.ref_id, error, "central database rejected an outbox row; will retry");
    }
    Ok(())
}
