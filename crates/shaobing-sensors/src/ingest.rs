//! The sensor stage: deliveries from the box's MQTT connection, decoded, committed, acked,
//! then through the rules. Two tasks joined by a one-batch queue:
//!
//! - The **decode task** takes what the connection delivered (up to `batch_max`) and decodes
//!   and validates it, one batch ahead of the commit, so decoding and committing overlap on two
//!   cores.
//! - The **commit task** commits a decoded batch's readings in one durable transaction, and
//!   only then acknowledges every message of the batch (accepted and rejected alike, in arrival
//!   order, as MQTT requires). Rules see a reading only after it is committed.
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
use crate::{Mapping, ReadingsStore, RetentionConfig, RuleEngine, SensorIssue, SensorMessage};
use shaobing_core::{Backoff, Finding, RateLimiter, UnixMillis};
use shaobing_mqtt::{Ack, Acker, Connection, Deliveries, Delivery, Subscription};
use std::collections::VecDeque;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};
use tokio::sync::mpsc;
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
    findings: mpsc::Sender<Finding>,
}

impl SensorIngest {
    /// Subscribes the sensor groups' topics on the box's connection (before it runs).
    pub fn new(
        connection: &mut Connection,
        mapping: Mapping,
        store: ReadingsStore,
        engine: RuleEngine,
        retention: RetentionConfig,
        metrics: IngestMetrics,
        findings: mpsc::Sender<Finding>,
    ) -> Self {
        let filters = mapping.subscriptions().map(str::to_string).collect::<Vec<_>>();
        let subscription = connection.subscribe(filters, mapping.config().queue_capacity);
        Self { subscription, mapping, store, engine, retention, metrics, findings }
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
        let Subscription { deliveries, acker } = self.subscription;
        let pipeline = Pipeline {
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
        };
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
    findings: mpsc::Sender<Finding>,
    acker: Acker,
    /// Acks of committed (or rejected) messages not yet accepted by the request channel.
    unsent_acks: VecDeque<Ack>,
    log: RateLimiter,
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
                    self.emit(found).await;
                }
                _ = retention.tick() => self.enforce_retention().await?,
            }
        }
    }

    /// Commit, acknowledge, then run the rules. Without a commit nothing is acked.
    async fn process(&mut self, decoded: Decoded, cancel: &CancellationToken) -> Result<(), IngestError> {
        let Decoded { accepted, acks } = decoded;
        let accepted = match self.commit(accepted, cancel).await? {
            Some(accepted) => accepted,
            // Stopped while the store was failing: leave the batch unacknowledged for redelivery.
            None => return Ok(()),
        };
        self.unsent_acks.extend(acks);
        self.send_acks();
        for message in &accepted {
            let found = self.engine.observe(message);
            self.emit(found).await;
        }
        Ok(())
    }

    /// Commits, retrying with backoff while the store fails (disk full, I/O error) so that the
    /// ingest resumes by itself; `None` when cancelled before a commit succeeded.
    async fn commit(
        &mut self,
        mut messages: Vec<SensorMessage>,
        cancel: &CancellationToken,
    ) -> Result<Option<Vec<SensorMessage>>, IngestError> {
        if messages.is_empty() {
            return Ok(Some(messages));
        }
        let mut backoff = Backoff::new(Duration::from_millis(100), Duration::from_secs(10));
        loop {
            let store = self.store.clone();
            let timer = self.metrics.commit_seconds.start_timer();
            let (back, result) = tokio::task::spawn_blocking(move || {
                let result = store.lock().unwrap_or_else(PoisonError::into_inner).commit(&messages);
                (messages, result)
            })
            .await
            .map_err(|_| IngestError::StorePanicked)?;
            messages = back;
            match result {
                Ok(outcome) => {
                    timer.observe_duration();
                    self.metrics.committed.inc_by(outcome.inserted);
                    self.metrics.duplicates.inc_by(outcome.duplicates);
                    return Ok(Some(messages));
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

    async fn emit(&mut self, found: Vec<SensorIssue>) {
        for issue in found {
            self.metrics.issue(issue.candidate.category.as_str(), issue.phase);
            if self.findings.send(issue.into_finding()).await.is_err()
                && self.log.allow("issue_sink", Instant::now()).is_some()
            {
                tracing::warn!("sensor issue dropped: the issue receiver is gone");
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
