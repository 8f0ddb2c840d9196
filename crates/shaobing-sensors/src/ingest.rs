//! The sensor stage: deliveries from the box's MQTT connection, decoded, committed, acked,
//! then through the rules. Two tasks joined by a one-batch queue:
//!
//! - The **decode task** takes what the connection delivered (up to `batch_max`) and decodes
//!   and validates it, one batch ahead of the commit, so decoding and committing overlap on two
//!   cores.
//! - The **commit task** runs the rules over a decoded batch, commits its readings, the rules'
//!   changed state and their findings in one durable transaction, and only then acknowledges
//!   every message of the batch (accepted and rejected alike, in arrival order, as MQTT
//!   requires) and hands the findings to the issues room.
//!
//! A finding stays in the readings store (`pending_findings`) until the issues room says the
//! problem database holds it; after a crash, a kill or a full disk the pending ones are handed
//! over again at start, and the problem database applies each id once. So an acknowledged
//! reading never loses the issue it raised, and a restart resumes the rules where they stood.
//!
//! The commit task never waits for room in the connection's request channel: only the
//! connection's poll task drains it, and that task may itself be waiting for room in the
//! delivery queue. Acks that do not fit are kept in order and retried every few milliseconds
//! while the stage goes on draining the queue. Both backlogs are bounded by the broker's window
//! of unacknowledged messages (`max_inflight_messages` in Mosquitto), since nothing is acked
//! before its commit.
//!
//! Acks are therefore never sent for data that is not on disk. If the connection drops between
//! commit and ack, rumqttc discards the queued acks and the broker redelivers the messages
//! with their original packet ids (MQTT 3.1.1 section 4.4); the store ignores them as
//! duplicates and the rules ignore readings not newer than what they have seen.

use crate::gaps::SequenceWatch;
use crate::metrics::IngestMetrics;
use crate::store::{ReadingsError, RuleWrites};
use crate::{Mapping, ReadingsStore, RetentionConfig, RuleEngine, SensorIssue, SensorMessage};
use shaobing_core::{Backoff, Filing, RateLimiter, Receipt, UnixMillis};
use shaobing_mqtt::{Ack, Acker, Connection, Deliveries, Delivery, Subscription};
use std::collections::VecDeque;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, watch};
use tokio_util::sync::CancellationToken;

/// One log line per error kind per this period.
const LOG_PERIOD: Duration = Duration::from_secs(10);
/// How soon acks that did not fit the request channel are offered again.
const ACK_RETRY: Duration = Duration::from_millis(2);

#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    #[error("the readings store task panicked; unacknowledged messages will be redelivered")]
    StorePanicked,
}

/// The sensor stage, subscribed and ready to run.
#[derive(Debug)]
pub struct SensorIngest {
    subscription: Subscription,
    mapping: Mapping,
    store: ReadingsStore,
    engine: RuleEngine,
    retention: RetentionConfig,
    metrics: IngestMetrics,
    /// Where the rules' findings go: the issues room files them.
    findings: mpsc::Sender<Filing>,
    /// Findings committed before a restart that the issues room had not yet filed.
    pending: Vec<(String, SensorIssue)>,
}

impl SensorIngest {
    /// Subscribes the sensor groups' topics on the box's connection (before it runs), and
    /// restores the rules' state and the findings not yet filed from the readings store.
    pub fn new(
        connection: &mut Connection,
        mapping: Mapping,
        store: ReadingsStore,
        mut engine: RuleEngine,
        retention: RetentionConfig,
        metrics: IngestMetrics,
        findings: mpsc::Sender<Filing>,
    ) -> Result<Self, ReadingsError> {
        engine.restore(&store)?;
        let pending = store
            .pending_findings()?
            .into_iter()
            .filter_map(|(id, json)| match serde_json::from_str(&json) {
                Ok(issue) => Some((id, issue)),
                Err(e) => {
                    tracing::error!(%id, error = %e, "a pending sensor finding is unreadable; not filed");
                    None
                }
            })
            .collect::<Vec<_>>();
        if !pending.is_empty() {
            tracing::info!(findings = pending.len(), "sensor findings committed before the restart are filed now");
        }
        let filters = mapping.subscriptions().map(str::to_string).collect::<Vec<_>>();
        let subscription = connection.subscribe(filters, mapping.config().queue_capacity);
        Ok(Self { subscription, mapping, store, engine, retention, metrics, findings, pending })
    }

    /// Runs until `cancel`; then finishes the batch in hand and acknowledges it. Returns early
    /// only for a panic in the store task.
    pub async fn run(self, cancel: CancellationToken) -> Result<(), IngestError> {
        let config = self.mapping.config();
        let stale_every = Duration::from_secs(config.stale_check_secs);
        let decoder = Decoder {
            batch_max: config.batch_max,
            mapping: self.mapping,
            metrics: self.metrics.clone(),
            log: RateLimiter::new(LOG_PERIOD),
            sequences: SequenceWatch::default(),
        };
        let Subscription { deliveries, acker, sessions_lost, broker } = self.subscription;
        let (filed_tx, filed_rx) = mpsc::unbounded_channel();
        let mut pipeline = Pipeline {
            stale_every,
            retention_every: Duration::from_secs(self.retention.check_secs.max(1)),
            store: Arc::new(Mutex::new(self.store)),
            engine: self.engine,
            retention: self.retention,
            metrics: self.metrics,
            findings: self.findings,
            acker,
            unsent_acks: VecDeque::new(),
            log: RateLimiter::new(LOG_PERIOD),
            filed_tx,
            filed_rx,
            sessions_lost,
            broker,
        };
        pipeline.emit(self.pending).await;
        // One decoded batch waits while another commits: memory stays bounded by the queue.
        let (decoded_tx, decoded_rx) = mpsc::channel(1);
        let ((), result) =
            tokio::join!(decoder.run(deliveries, decoded_tx, &cancel), pipeline.run(decoded_rx, &cancel));
        result
    }
}

/// Decodes and validates what the connection delivered, batch by batch, while the pipeline commits
/// the previous batch: decoding is CPU work and the commit mostly SQLite's, so on two cores
/// they overlap instead of taking turns.
struct Decoder {
    batch_max: usize,
    mapping: Mapping,
    metrics: IngestMetrics,
    log: RateLimiter,
    sequences: SequenceWatch,
}

/// One batch as decoded: the readings to commit, and every message of the batch (accepted or
/// rejected) to acknowledge once they are committed.
struct Decoded {
    accepted: Vec<SensorMessage>,
    acks: Vec<Ack>,
}

impl Decoder {
    async fn run(mut self, mut rx: Deliveries, tx: mpsc::Sender<Decoded>, cancel: &CancellationToken) {
        loop {
            let first = tokio::select! {
                biased;
                () = cancel.cancelled() => break,
                first = rx.recv() => first,
            };
            let Some(first) = first else { break };
            let mut batch = Decoded { accepted: Vec::new(), acks: Vec::new() };
            self.decode_into(first, &mut batch);
            while batch.acks.len() < self.batch_max {
                match rx.try_recv() {
                    Some(next) => self.decode_into(next, &mut batch),
                    None => break,
                }
            }
            if tx.send(batch).await.is_err() {
                break;
            }
        }
        // Closing the queue releases the poll task if it waits for room, so it goes on polling
        // (which drains the last acks).
        rx.close();
    }

    /// Counts (and logs, rate-limited) the messages a gap in the sensor's numbers says were lost.
    fn count_missing(&mut self, message: &SensorMessage) {
        let Some(seq) = message.seq else { return };
        let missing = self.sequences.missing(&message.sensor, seq);
        if missing == 0 {
            return;
        }
        self.metrics.missing(message.group, missing);
        if let Some(suppressed) = self.log.allow("sequence_gap", Instant::now()) {
            tracing::warn!(sensor = %message.sensor.0, missing, before = seq, suppressed,
                "messages of a sensor never reached the box (a gap in its sequence numbers)");
        }
    }

    fn decode_into(&mut self, d: Delivery, batch: &mut Decoded) {
        match self.mapping.decode(&d.topic, &d.payload, d.received_at) {
            Ok(message) => {
                self.metrics.received(Some(message.group));
                self.count_missing(&message);
                for code in &message.dropped {
                    self.metrics.field_rejected(message.group, *code);
                }
                batch.accepted.push(message);
            }
            Err(rejection) => {
                self.metrics.received(rejection.group);
                self.metrics.rejected(rejection.group, rejection.code);
                if let Some(suppressed) = self.log.allow(rejection.code.as_str(), Instant::now()) {
                    let group = rejection.group.map(|g| self.mapping.groups()[g].name.as_str());
                    tracing::warn!(code = %rejection.code, group, detail = %rejection.detail, suppressed,
                        "sensor message rejected");
                }
            }
        }
        // Only the ack is kept; the payload is committed or rejected.
        batch.acks.push(d.ack);
    }
}

struct Pipeline {
    stale_every: Duration,
    retention_every: Duration,
    store: Arc<Mutex<ReadingsStore>>,
    engine: RuleEngine,
    retention: RetentionConfig,
    metrics: IngestMetrics,
    findings: mpsc::Sender<Filing>,
    acker: Acker,
    /// Acks of committed (or rejected) messages not yet accepted by the request channel.
    unsent_acks: VecDeque<Ack>,
    log: RateLimiter,
    /// The ids of findings the issues room has filed, told by their receipts; no longer
    /// pending as of the next commit.
    filed_tx: mpsc::UnboundedSender<String>,
    filed_rx: mpsc::UnboundedReceiver<String>,
    sessions_lost: watch::Receiver<u64>,
    broker: String,
}

impl Pipeline {
    async fn run(mut self, mut rx: mpsc::Receiver<Decoded>, cancel: &CancellationToken) -> Result<(), IngestError> {
        let mut stale = tokio::time::interval(self.stale_every);
        let mut retention = tokio::time::interval(self.retention_every);
        stale.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        retention.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                biased;
                () = cancel.cancelled() => {
                    rx.close();
                    self.flush_acks_before_exit().await;
                    return Ok(());
                }
                () = tokio::time::sleep(ACK_RETRY), if !self.unsent_acks.is_empty() => self.send_acks(),
                decoded = rx.recv() => {
                    let Some(decoded) = decoded else { return Ok(()) };
                    self.process(decoded, cancel).await?;
                }
                _ = stale.tick() => {
                    let found = self.engine.check_stale(UnixMillis::now());
                    self.file_without_readings(found, cancel).await?;
                }
                _ = retention.tick() => self.enforce_retention().await?,
                Ok(()) = self.sessions_lost.changed() => {
                    let lost = *self.sessions_lost.borrow_and_update();
                    let found = vec![self.engine.session_lost(&self.broker, lost, UnixMillis::now())];
                    self.file_without_readings(found, cancel).await?;
                }
            }
        }
    }

    /// Rules, then one commit of readings, rule state and findings, then acks and the findings
    /// to the issues room. Without a commit nothing is acked.
    async fn process(&mut self, decoded: Decoded, cancel: &CancellationToken) -> Result<(), IngestError> {
        let Decoded { accepted, acks } = decoded;
        let found = accepted.iter().flat_map(|m| self.engine.observe(m)).collect();
        let Some(found) = self.commit(accepted, found, cancel).await? else {
            // Stopped while the store was failing: leave the batch unacknowledged for redelivery.
            return Ok(());
        };
        self.unsent_acks.extend(acks);
        self.send_acks();
        self.emit(found).await;
        Ok(())
    }

    /// Findings of the clock or the connection rather than of a batch: committed (with the
    /// rule state and the receipts in hand), then handed over.
    async fn file_without_readings(
        &mut self,
        found: Vec<SensorIssue>,
        cancel: &CancellationToken,
    ) -> Result<(), IngestError> {
        if let Some(found) = self.commit(Vec::new(), found, cancel).await? {
            self.emit(found).await;
        }
        Ok(())
    }

    /// Commits readings with the rules' changed state, their findings (named here) and the
    /// findings filed since the last commit, retrying with backoff while the store fails (disk
    /// full, I/O error) so that the ingest resumes by itself. Returns the named findings, or
    /// `None` when cancelled before a commit succeeded.
    async fn commit(
        &mut self,
        messages: Vec<SensorMessage>,
        found: Vec<SensorIssue>,
        cancel: &CancellationToken,
    ) -> Result<Option<Vec<(String, SensorIssue)>>, IngestError> {
        let named: Vec<(String, SensorIssue)> =
            found.into_iter().map(|issue| (uuid::Uuid::now_v7().to_string(), issue)).collect();
        let mut rules = RuleWrites {
            states: self.engine.take_changed(),
            // Plain data keyed by strings: serialisation cannot fail.
            findings: named.iter().map(|(id, i)| (id.clone(), serde_json::to_string(i).unwrap_or_default())).collect(),
            filed: std::iter::from_fn(|| self.filed_rx.try_recv().ok()).collect(),
        };
        if messages.is_empty() && rules.is_empty() {
            return Ok(Some(named));
        }
        let mut messages = messages;
        let mut backoff = Backoff::new(Duration::from_millis(100), Duration::from_secs(10));
        loop {
            let store = self.store.clone();
            let timer = self.metrics.commit_seconds.start_timer();
            let (back, back_rules, result) = tokio::task::spawn_blocking(move || {
                let result = store.lock().unwrap_or_else(PoisonError::into_inner).commit_with(&messages, &rules);
                (messages, rules, result)
            })
            .await
            .map_err(|_| IngestError::StorePanicked)?;
            (messages, rules) = (back, back_rules);
            match result {
                Ok(outcome) => {
                    timer.observe_duration();
                    self.metrics.committed.inc_by(outcome.inserted);
                    self.metrics.duplicates.inc_by(outcome.duplicates);
                    return Ok(Some(named));
                }
                Err(e) => {
                    timer.stop_and_discard();
                    let delay = backoff.next_delay();
                    if let Some(suppressed) = self.log.allow("store_commit", Instant::now()) {
                        tracing::error!(error = %e, retry_in_ms = delay.as_millis() as u64, suppressed,
                            "cannot commit readings; not acknowledging them");
                    }
                    tokio::select! {
                        () = cancel.cancelled() => return Ok(None),
                        () = tokio::time::sleep(delay) => {}
                    }
                }
            }
        }
    }

    /// Queues acks in order until the request channel is full. It cannot be closed meanwhile:
    /// the connection runs until this task drops its acker.
    fn send_acks(&mut self) {
        while let Some(ack) = self.unsent_acks.front() {
            if self.acker.try_ack(ack).is_err() {
                return;
            }
            self.unsent_acks.pop_front();
        }
    }

    /// Gives acks still held here a bounded moment to drain. Acks that miss the connection
    /// only cost a redelivery, ignored as duplicates.
    async fn flush_acks_before_exit(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(1);
        while !self.unsent_acks.is_empty() && Instant::now() < deadline {
            self.send_acks();
            tokio::time::sleep(ACK_RETRY).await;
        }
    }

    /// Hands committed findings to the issues room, each with a receipt that marks it filed.
    async fn emit(&mut self, found: Vec<(String, SensorIssue)>) {
        for (id, issue) in found {
            self.metrics.issue(issue.candidate.category.as_str(), issue.phase);
            let filed = self.filed_tx.clone();
            let receipt = Receipt::new(id.clone(), move || {
                let _ = filed.send(id);
            });
            let filing = Filing { finding: issue.into_finding(), receipt: Some(receipt) };
            if self.findings.send(filing).await.is_err() && self.log.allow("issue_sink", Instant::now()).is_some() {
                tracing::warn!("sensor issue not filed now: the issue receiver is gone (it stays pending)");
            }
        }
    }

    async fn enforce_retention(&mut self) -> Result<(), IngestError> {
        let (store, retention) = (self.store.clone(), self.retention.clone());
        let result = tokio::task::spawn_blocking(move || {
            store.lock().unwrap_or_else(PoisonError::into_inner).enforce_retention(&retention, UnixMillis::now())
        })
        .await
        .map_err(|_| IngestError::StorePanicked)?;
        match result {
            Ok(0) => {}
            Ok(deleted) => tracing::info!(deleted, "readings retention"),
            Err(e) => tracing::error!(error = %e, "readings retention failed"),
        }
        Ok(())
    }
}
