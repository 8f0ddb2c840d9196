//! The MQTT side of the sensor ingest: three tasks joined by bounded queues.
//!
//! - The **poll task** owns rumqttc's event loop: it connects (persistent session, stable
//!   client id), subscribes with QoS 1 after every CONNACK, announces availability, and forwards
//!   each PUBLISH to the queue. After a connection error it sleeps a capped, jittered backoff
//!   before polling again: rumqttc reconnects on the next poll, so polling at once would spin.
//! - The **decode task** takes what is queued (up to `batch_max`) and decodes and validates it,
//!   one batch ahead of the commit, so decoding and committing overlap on two cores.
//! - The **ingest task** commits a decoded batch's readings in one durable transaction, and
//!   only then acknowledges every message of the batch (accepted and rejected alike, in arrival
//!   order, as MQTT requires). Rules see a reading only after it is committed.
//!
//! The ingest task never waits for room in rumqttc's request channel: only the poll task
//! drains it (by polling), and the poll task may itself be waiting for room in the queue. Acks
//! that do not fit are kept in order and retried every few milliseconds while the ingest goes
//! on draining the queue. Both backlogs are bounded by the broker's window of unacknowledged
//! messages (`max_inflight_messages` in Mosquitto), since nothing is acked before its commit.
//!
//! Acks are therefore never sent for data that is not on disk. If the connection drops between
//! commit and ack, rumqttc discards the queued acks and the broker redelivers the messages
//! with their original packet ids (MQTT 3.1.1 section 4.4); the store ignores them as
//! duplicates and the rules ignore readings not newer than what they have seen.

use crate::config::{MqttConfig, MqttConfigError, availability_topic};
use crate::metrics::IngestMetrics;
use rumqttc::{
    AsyncClient, Event, EventLoop, LastWill, MqttOptions, NetworkOptions, Outgoing, Packet, Publish, QoS,
    SubscribeFilter, TlsConfiguration, Transport,
};
use shaobing_core::{Backoff, RateLimiter, UnixMillis};
use shaobing_sensors::{Mapping, ReadingsStore, RetentionConfig, RuleEngine, SensorIssue, SensorMessage};
use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

/// How long a clean shutdown may take to flush acks, say `offline` and disconnect.
const SHUTDOWN_FLUSH: Duration = Duration::from_secs(3);
/// One log line per error kind per this period.
const LOG_PERIOD: Duration = Duration::from_secs(10);
/// Queued requests (mostly acks) written per network flush.
const ACK_FLUSH_BATCH: usize = 256;
/// How soon acks that did not fit the request channel are offered again.
const ACK_RETRY: Duration = Duration::from_millis(2);

#[derive(Debug, thiserror::Error)]
pub enum MqttError {
    #[error(transparent)]
    Config(#[from] MqttConfigError),
    #[error("mqtt.tls.ca_file {path}: {message}")]
    Tls { path: PathBuf, message: String },
    #[error("the readings store task panicked; unacknowledged messages will be redelivered")]
    StorePanicked,
}

/// Everything the ingest needs; the daemon builds it from its configuration.
#[derive(Debug)]
pub struct SensorIngest {
    pub mqtt: MqttConfig,
    /// Identity of the box: default client id and availability topic.
    pub box_id: String,
    pub mapping: Mapping,
    pub store: ReadingsStore,
    pub engine: RuleEngine,
    pub retention: RetentionConfig,
    pub metrics: IngestMetrics,
    /// Where rules' findings go (the daemon files them into the problem database).
    pub issues: mpsc::Sender<SensorIssue>,
}

/// A message as the poll task hands it over.
struct Received {
    publish: Publish,
    at: UnixMillis,
}

impl SensorIngest {
    /// Runs until `cancel`; then finishes the batch in hand, acknowledges it, publishes
    /// `offline` and disconnects. Returns early only for a configuration error or a panic in
    /// the store task.
    pub async fn run(self, cancel: CancellationToken) -> Result<(), MqttError> {
        self.mqtt.validate()?;
        let options = mqtt_options(&self.mqtt, &self.box_id, self.mqtt.client_id_for(&self.box_id))?;
        // Room for a full queue and a batch of acks, so the subscription and availability
        // requests after a reconnect rarely find the channel full (they are retried if they do).
        let (client, mut eventloop) = AsyncClient::new(options, self.mqtt.queue_capacity + self.mqtt.batch_max + 64);
        let mut network = NetworkOptions::new();
        network.set_connection_timeout(self.mqtt.connect_timeout_secs);
        eventloop.set_network_options(network);
        let (tx, rx) = mpsc::channel(self.mqtt.queue_capacity);
        let ingest_done = CancellationToken::new();
        let poller = Poller {
            client: client.clone(),
            filters: self.mapping.subscriptions().map(|f| SubscribeFilter::new(f.into(), QoS::AtLeastOnce)).collect(),
            availability: availability_topic(&self.box_id),
            backoff: Backoff::new(
                Duration::from_millis(self.mqtt.backoff_initial_ms),
                Duration::from_millis(self.mqtt.backoff_max_ms),
            ),
            metrics: self.metrics.clone(),
            log: RateLimiter::new(LOG_PERIOD),
            announce_pending: false,
        };
        let decoder = Decoder {
            batch_max: self.mqtt.batch_max,
            mapping: self.mapping,
            metrics: self.metrics.clone(),
            log: RateLimiter::new(LOG_PERIOD),
        };
        let pipeline = Pipeline {
            stale_every: Duration::from_secs(self.mqtt.stale_check_secs),
            retention_every: Duration::from_secs(self.mqtt.retention_check_secs),
            store: Arc::new(Mutex::new(self.store)),
            engine: self.engine,
            retention: self.retention,
            metrics: self.metrics,
            issues: self.issues,
            client,
            unsent_acks: VecDeque::new(),
            log: RateLimiter::new(LOG_PERIOD),
        };
        // One decoded batch waits while another commits: memory stays bounded by the queue.
        let (decoded_tx, decoded_rx) = mpsc::channel(1);
        let ingest = async {
            let ((), result) = tokio::join!(decoder.run(rx, decoded_tx, &cancel), pipeline.run(decoded_rx, &cancel));
            ingest_done.cancel();
            result
        };
        let ((), result) = tokio::join!(poller.run(&mut eventloop, tx, &ingest_done), ingest);
        result
    }
}

/// The options, set explicitly. Never Debug-print them: rumqttc's Debug shows the password.
pub(crate) fn mqtt_options(c: &MqttConfig, box_id: &str, client_id: String) -> Result<MqttOptions, MqttError> {
    let mut o = MqttOptions::new(client_id, c.host.clone(), c.port);
    // A persistent session keeps our subscriptions and unacknowledged messages at the broker
    // while we are away; the library default (clean) would drop them on every reconnect.
    o.set_clean_session(false)
        .set_manual_acks(true)
        // A commit releases thousands of acks at once: let them share network flushes
        // (a patched rumqttc, vendor/rumqttc/PATCHED.md).
        .set_max_request_batch(ACK_FLUSH_BATCH)
        .set_keep_alive(c.keep_alive())
        .set_max_packet_size(c.max_packet_bytes, c.max_packet_bytes)
        .set_last_will(LastWill::new(availability_topic(box_id), "offline", QoS::AtLeastOnce, true));
    if let Some(user) = &c.username {
        o.set_credentials(user.clone(), c.password.as_ref().map_or("", |p| p.expose()));
    }
    if let Some(tls) = &c.tls {
        o.set_transport(tls_transport(&tls.ca_file)?);
    }
    Ok(o)
}

/// TLS with ring as the crypto provider (rumqttc's default provider, aws-lc, needs cmake and
/// doubles the build) and only the configured authorities as roots.
fn tls_transport(ca_file: &Path) -> Result<Transport, MqttError> {
    use rustls::pki_types::{CertificateDer, pem::PemObject};
    let tls_err = |message: String| MqttError::Tls { path: ca_file.to_path_buf(), message };
    let mut roots = rustls::RootCertStore::empty();
    let certs = CertificateDer::pem_file_iter(ca_file).map_err(|e| tls_err(e.to_string()))?;
    for cert in certs {
        roots.add(cert.map_err(|e| tls_err(e.to_string()))?).map_err(|e| tls_err(e.to_string()))?;
    }
    if roots.is_empty() {
        return Err(tls_err("expected at least one PEM certificate".into()));
    }
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
        .map_err(|e| tls_err(e.to_string()))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(Transport::tls_with_config(TlsConfiguration::Rustls(Arc::new(config))))
}

struct Poller {
    client: AsyncClient,
    filters: Vec<SubscribeFilter>,
    availability: String,
    backoff: Backoff,
    metrics: IngestMetrics,
    log: RateLimiter,
    /// Subscribe and `online` still to be queued after a CONNACK.
    announce_pending: bool,
}

impl Poller {
    async fn run(mut self, eventloop: &mut EventLoop, tx: mpsc::Sender<Received>, stop: &CancellationToken) {
        loop {
            if self.announce_pending {
                self.announce();
            }
            let event = tokio::select! {
                biased;
                () = stop.cancelled() => break,
                event = eventloop.poll() => event,
            };
            match event {
                Ok(Event::Incoming(Packet::ConnAck(ack))) => self.connected(ack.session_present),
                Ok(Event::Incoming(Packet::Publish(publish))) => {
                    let received = Received { publish, at: UnixMillis::now() };
                    // Waits while the queue is full: TCP back-pressure, the broker holds the rest.
                    if tx.send(received).await.is_err() {
                        break;
                    }
                }
                Ok(_) => {}
                Err(e) => {
                    if !self.disconnected(&e, stop).await {
                        break;
                    }
                }
            }
        }
        self.shutdown(eventloop).await;
    }

    fn connected(&mut self, session_present: bool) {
        self.backoff.reset();
        self.metrics.connection(true);
        self.metrics.connected.set(1);
        tracing::info!(session_present, "connected to the MQTT broker");
        self.announce_pending = true;
    }

    /// Subscribing again is harmless when the session survived and necessary when the broker
    /// lost it (restarted without persistence). try_*: this task must never wait on the channel
    /// that only it drains; if the channel is full, the next loop turn tries again.
    fn announce(&mut self) {
        let queued = self.client.try_subscribe_many(self.filters.clone()).is_ok()
            && self.client.try_publish(self.availability.clone(), QoS::AtLeastOnce, true, "online").is_ok();
        // A subscribe queued twice is harmless; an `online` without its subscribe never happens.
        self.announce_pending = !queued;
    }

    /// Logs (rate-limited), then sleeps the backoff; `false` if stopped meanwhile.
    async fn disconnected(&mut self, error: &rumqttc::ConnectionError, stop: &CancellationToken) -> bool {
        self.metrics.connection(false);
        self.metrics.connected.set(0);
        let delay = self.backoff.next_delay();
        if let Some(suppressed) = self.log.allow("mqtt_connection", Instant::now()) {
            tracing::warn!(%error, retry_in_ms = delay.as_millis() as u64, suppressed, "MQTT connection failed");
        }
        tokio::select! {
            () = stop.cancelled() => false,
            () = tokio::time::sleep(delay) => true,
        }
    }

    /// Flushes the acks already queued, says `offline` and disconnects, within a bound.
    async fn shutdown(&mut self, eventloop: &mut EventLoop) {
        self.metrics.connected.set(0);
        let _ = self.client.try_publish(self.availability.clone(), QoS::AtLeastOnce, true, "offline");
        let _ = self.client.try_disconnect();
        let flush = async {
            loop {
                match eventloop.poll().await {
                    Ok(Event::Outgoing(Outgoing::Disconnect)) | Err(_) => break,
                    Ok(_) => {}
                }
            }
        };
        if tokio::time::timeout(SHUTDOWN_FLUSH, flush).await.is_err() {
            tracing::warn!("MQTT disconnect did not complete in {SHUTDOWN_FLUSH:?}");
        }
    }
}

/// Decodes and validates what the poll task queued, batch by batch, while the pipeline commits
/// the previous batch: decoding is CPU work and the commit mostly SQLite's, so on two cores
/// they overlap instead of taking turns.
struct Decoder {
    batch_max: usize,
    mapping: Mapping,
    metrics: IngestMetrics,
    log: RateLimiter,
}

/// One batch as decoded: the readings to commit, and every message of the batch (accepted or
/// rejected) to acknowledge once they are committed.
struct Decoded {
    accepted: Vec<SensorMessage>,
    acks: Vec<Publish>,
}

impl Decoder {
    async fn run(mut self, mut rx: mpsc::Receiver<Received>, tx: mpsc::Sender<Decoded>, cancel: &CancellationToken) {
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
                    Ok(next) => self.decode_into(next, &mut batch),
                    Err(_) => break,
                }
            }
            if tx.send(batch).await.is_err() {
                break;
            }
        }
        // Closing the queue releases the poll task if it waits for room, so it goes on polling
        // (which drains the last acks) and then shuts down.
        rx.close();
    }

    fn decode_into(&mut self, r: Received, batch: &mut Decoded) {
        match self.mapping.decode(&r.publish.topic, &r.publish.payload, r.at) {
            Ok(message) => {
                self.metrics.received(Some(message.group));
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
        // Only the fields an ack needs are kept; the payload is committed or rejected.
        batch.acks.push(Publish { payload: Default::default(), ..r.publish });
    }
}

struct Pipeline {
    stale_every: Duration,
    retention_every: Duration,
    store: Arc<Mutex<ReadingsStore>>,
    engine: RuleEngine,
    retention: RetentionConfig,
    metrics: IngestMetrics,
    issues: mpsc::Sender<SensorIssue>,
    client: AsyncClient,
    /// Acks of committed (or rejected) messages not yet accepted by the request channel.
    unsent_acks: VecDeque<Publish>,
    log: RateLimiter,
}

impl Pipeline {
    async fn run(mut self, mut rx: mpsc::Receiver<Decoded>, cancel: &CancellationToken) -> Result<(), MqttError> {
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
    async fn process(&mut self, decoded: Decoded, cancel: &CancellationToken) -> Result<(), MqttError> {
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
    ) -> Result<Option<Vec<SensorMessage>>, MqttError> {
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
            .map_err(|_| MqttError::StorePanicked)?;
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
    /// the event loop outlives this task.
    fn send_acks(&mut self) {
        while let Some(publish) = self.unsent_acks.front() {
            if self.client.try_ack(publish).is_err() {
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
            if self.issues.send(issue).await.is_err() && self.log.allow("issue_sink", Instant::now()).is_some() {
                tracing::warn!("sensor issue dropped: the issue receiver is gone");
            }
        }
    }

    async fn enforce_retention(&mut self) -> Result<(), MqttError> {
        let (store, retention) = (self.store.clone(), self.retention.clone());
        let result = tokio::task::spawn_blocking(move || {
            store.lock().unwrap_or_else(PoisonError::into_inner).enforce_retention(&retention, UnixMillis::now())
        })
        .await
        .map_err(|_| MqttError::StorePanicked)?;
        match result {
            Ok(0) => {}
            Ok(deleted) => tracing::info!(deleted, "readings retention"),
            Err(e) => tracing::error!(error = %e, "readings retention failed"),
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bad_ca_file_is_a_clear_error() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("missing.pem");
        let e = tls_transport(&missing).err().unwrap().to_string();
        assert!(e.starts_with(&format!("mqtt.tls.ca_file {}", missing.display())), "{e}");
        let empty = dir.path().join("empty.pem");
        std::fs::write(&empty, "not a certificate\n").unwrap();
        let e = tls_transport(&empty).err().unwrap().to_string();
        assert!(e.contains("expected at least one PEM certificate"), "{e}");
    }
}
