//! Every new and resolved issue published with QoS 1 on a topic tree per box, priority and
//! category, so the command centre (and for a fire, every department) can subscribe to
//! exactly what it must act on:
//!
//! ```text
//! shaobing/<box_id>/availability                   online | offline (retained, last will)
//! shaobing/<box_id>/issues/emergency/<category>    {"change":"new"|"resolved"|"reopened"|"overdue", "version":N, "issue":{...}}
//! shaobing/<box_id>/issues/routine/<category>
//! ```
//!
//! Alerts come from the store's alert queue, filled in the transaction of the change itself,
//! and leave it only once the broker has acknowledged them: a burst, a slow or absent broker
//! or a crash delays an alert, never loses it. At least once: after a crash between the
//! broker's acknowledgement and the row's deletion the alert goes again, with the same issue
//! id, change and version for a subscriber to recognise it.

use crate::document::{IssueChange, IssueDocument, IssueEvent};
use shaobing_mqtt::Publisher;
use shaobing_store::{AlertRow, Store, StoreError};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;
use tokio::sync::{Notify, oneshot};
use tokio_util::sync::CancellationToken;

/// Alerts published before their acknowledgements are awaited.
const BATCH: usize = 64;
/// How often the queue is looked at without a wake-up (changes made by the CLI, retries).
const POLL: Duration = Duration::from_secs(1);

pub fn issue_topic(box_id: &str, priority: &str, category: &str) -> String {
    format!("shaobing/{box_id}/issues/{priority}/{category}")
}

/// Publishes the alert queue until cancelled; `wake` is notified when an issue is filed or
/// resolved.
pub async fn publish_alerts(
    store: Store,
    publisher: Publisher,
    box_id: String,
    wake: Arc<Notify>,
    cancel: CancellationToken,
) {
    let store = Arc::new(Mutex::new(store));
    let mut failing = false;
    while !cancel.is_cancelled() {
        let id = box_id.clone();
        let batch = match with_store(&store, move |s| next_batch(s, &id)).await {
            Ok(batch) => {
                failing = false;
                batch
            }
            Err(e) => {
                if !failing {
                    tracing::error!(error = %e, "cannot read the alert queue; retrying");
                }
                failing = true;
                Vec::new()
            }
        };
        if batch.is_empty() {
            tokio::select! {
                () = cancel.cancelled() => return,
                () = wake.notified() => {}
                () = tokio::time::sleep(POLL) => {}
            }
            continue;
        }
        let (delivered, stopped) = publish(&publisher, batch, &cancel).await;
        if let Err(e) = with_store(&store, move |s| s.alerts_delivered(&delivered)).await {
            tracing::warn!(error = %e, "cannot clear published alerts; they go again");
        }
        if stopped {
            return;
        }
    }
}

/// One alert ready to go: its queue row, topic and payload (`None` for an issue no longer in
/// the store, whose row is simply cleared).
struct Outgoing {
    seq: i64,
    message: Option<(String, Vec<u8>)>,
}

fn next_batch(store: &mut Store, box_id: &str) -> Result<Vec<Outgoing>, StoreError> {
    let rows = store.alerts_batch(BATCH)?;
    rows.into_iter()
        .map(|row| {
            let message = match IssueDocument::load(store, &row.issue_id) {
                Ok(issue) => Some(message(box_id, &row, issue)),
                Err(StoreError::NotFound(_)) => None,
                Err(e) => return Err(e),
            };
            Ok(Outgoing { seq: row.seq, message })
        })
        .collect()
}

fn message(box_id: &str, row: &AlertRow, issue: IssueDocument) -> (String, Vec<u8>) {
    let topic = issue_topic(box_id, &issue.priority, &issue.category);
    let change = IssueChange::parse(&row.change);
    let mut payload = serde_json::to_value(IssueEvent { change, issue }).unwrap_or_default();
    payload["version"] = row.version.into();
    (topic, payload.to_string().into_bytes())
}

/// Publishes a batch and waits for the broker; returns the rows it acknowledged, and whether
/// to stop (cancelled, or the connection stopped: the rest stay queued).
async fn publish(publisher: &Publisher, batch: Vec<Outgoing>, cancel: &CancellationToken) -> (Vec<i64>, bool) {
    let mut acks: Vec<(i64, Option<oneshot::Receiver<()>>)> = Vec::with_capacity(batch.len());
    let mut stopped = false;
    for alert in batch {
        let ack = match alert.message {
            Some((topic, payload)) => tokio::select! {
                () = cancel.cancelled() => None,
                sent = publisher.publish(topic, payload) => sent.ok(),
            },
            None => {
                acks.push((alert.seq, None));
                continue;
            }
        };
        let Some(ack) = ack else {
            stopped = true;
            break;
        };
        acks.push((alert.seq, Some(ack)));
    }
    let mut delivered = Vec::with_capacity(acks.len());
    for (seq, ack) in acks {
        if let Some(ack) = ack {
            let acked = tokio::select! {
                () = cancel.cancelled() => false,
                acked = ack => acked.is_ok(),
            };
            if !acked {
                return (delivered, true);
            }
        }
        delivered.push(seq);
    }
    (delivered, stopped)
}

async fn with_store<T: Send + 'static>(
    store: &Arc<Mutex<Store>>,
    f: impl FnOnce(&mut Store) -> Result<T, StoreError> + Send + 'static,
) -> Result<T, StoreError> {
    let store = store.clone();
    match tokio::task::spawn_blocking(move || f(&mut store.lock().unwrap_or_else(PoisonError::into_inner))).await {
        Ok(result) => result,
        Err(e) => std::panic::resume_unwind(e.into_panic()),
    }
}
