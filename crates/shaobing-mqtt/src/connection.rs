//! The box's one MQTT connection. The sensor ingest subscribes through it and the issue alerts
//! publish through it; one poll task owns rumqttc's event loop and is the only writer of the
//! availability topic.
//!
//! The poll task connects (persistent session, stable client id), subscribes with QoS 1 after
//! every CONNACK, announces `online`, and hands each PUBLISH to the subscriber's bounded queue
//! with its own [`Ack`]. After a connection error it sleeps a capped, jittered backoff before
//! polling again: rumqttc reconnects on the next poll, so polling at once would spin. It stops
//! once every [`Subscription`] and [`Publisher`] is dropped, so the acks and alerts their
//! owners queued on the way out still reach the broker; then it says `offline` and disconnects.

use crate::config::{MqttConfig, MqttConfigError, availability_topic};
use bytes::Bytes;
use prometheus::{IntCounterVec, IntGauge, Opts, Registry};
use rumqttc::{
    AsyncClient, Event, EventLoop, LastWill, MqttOptions, NetworkOptions, Outgoing, Packet, Publish, QoS,
    SubscribeFilter, TlsConfiguration, Transport,
};
use shaobing_core::{Backoff, RateLimiter, UnixMillis};
use std::collections::{HashMap, VecDeque};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, oneshot, watch};
use tokio_util::sync::CancellationToken;

/// How long a clean shutdown may take to flush acks, say `offline` and disconnect.
const SHUTDOWN_FLUSH: Duration = Duration::from_secs(3);
/// How long the connection outlives a cancel while its users finish their last acks.
const USERS_GRACE: Duration = Duration::from_secs(5);
/// One log line per error kind per this period.
const LOG_PERIOD: Duration = Duration::from_secs(10);
/// Queued requests (mostly acks) written per network flush.
const ACK_FLUSH_BATCH: usize = 256;
/// Room in the request channel beyond the subscriber's window, for subscribe, availability
/// and alert publishes after a reconnect.
const REQUEST_HEADROOM: usize = 1024;
/// Confirmed publishes handed to the client and not yet acknowledged by the broker.
const CONFIRMED_IN_FLIGHT: usize = 256;

#[derive(Debug, thiserror::Error)]
pub enum MqttError {
    #[error(transparent)]
    Config(#[from] MqttConfigError),
    #[error("mqtt.tls.ca_file {path}: {message}")]
    Tls { path: PathBuf, message: String },
    #[error("cannot register the MQTT metrics: {0}")]
    Metrics(#[from] prometheus::Error),
}

/// A request the client could not queue: the connection is gone or its channel is full.
#[derive(Debug, thiserror::Error)]
#[error("the MQTT request channel is full or closed")]
pub struct QueueFull;

/// One message from a subscribed topic, with the handle that acknowledges it.
#[derive(Debug)]
pub struct Delivery {
    pub topic: String,
    pub payload: Bytes,
    pub received_at: UnixMillis,
    pub ack: Ack,
}

/// Acknowledges one delivery (in arrival order, as MQTT requires). Holds only the packet id
/// and QoS: the payload is gone by the time it is acknowledged.
#[derive(Debug, Clone)]
pub struct Ack {
    pkid: u16,
    qos: QoS,
}

/// The subscriber's side: deliveries in arrival order, and where their acks go. The two
/// halves may live in different tasks (one decodes while the other commits and acks).
#[derive(Debug)]
pub struct Subscription {
    pub deliveries: Deliveries,
    pub acker: Acker,
    /// How often the broker came back without this box's session (what was published for
    /// the box meanwhile is lost).
    pub sessions_lost: watch::Receiver<u64>,
    /// `host:port` of the broker, for what the subscriber reports.
    pub broker: String,
}

/// Messages of the subscribed topics, in arrival order.
#[derive(Debug)]
pub struct Deliveries {
    rx: mpsc::Receiver<Delivery>,
    _user: Option<mpsc::Sender<()>>,
}

impl Deliveries {
    pub async fn recv(&mut self) -> Option<Delivery> {
        self.rx.recv().await
    }

    pub fn try_recv(&mut self) -> Option<Delivery> {
        self.rx.try_recv().ok()
    }

    /// No more deliveries: releases the poll task if it waits for room in the queue, so it goes
    /// on polling (which sends the last acks). What was not delivered is redelivered later.
    pub fn close(&mut self) {
        self.rx.close();
    }
}

/// Sends the acks of delivered messages.
#[derive(Debug)]
pub struct Acker {
    client: AsyncClient,
    _user: Option<mpsc::Sender<()>>,
}

impl Acker {
    /// Queues an ack without waiting: only the poll task drains the request channel, and it
    /// may itself be waiting for room in the delivery queue.
    pub fn try_ack(&self, ack: &Ack) -> Result<(), QueueFull> {
        let publish = Publish {
            dup: false,
            qos: ack.qos,
            retain: false,
            topic: String::new(),
            pkid: ack.pkid,
            payload: Bytes::new(),
        };
        self.client.try_ack(&publish).map_err(|_| QueueFull)
    }
}

/// Publishes on the box's connection with QoS 1, and says when the broker has the message.
#[derive(Debug, Clone)]
pub struct Publisher {
    requests: mpsc::Sender<Confirmed>,
    _user: Option<mpsc::Sender<()>>,
}

/// The connection stopped before the publish was handed to it.
#[derive(Debug, thiserror::Error)]
#[error("the MQTT connection has stopped")]
pub struct Closed;

/// A publish whose sender waits for the broker's PUBACK.
#[derive(Debug)]
struct Confirmed {
    topic: String,
    payload: Bytes,
    done: oneshot::Sender<()>,
}

impl Publisher {
    /// Queues a QoS 1 publish (waiting while many are in flight); the receiver completes once
    /// the broker has acknowledged it, and fails if the connection stops first. A publish
    /// queued while the broker is away goes out when it returns.
    pub async fn publish(&self, topic: String, payload: Vec<u8>) -> Result<oneshot::Receiver<()>, Closed> {
        let (done, acked) = oneshot::channel();
        self.requests.send(Confirmed { topic, payload: payload.into(), done }).await.map_err(|_| Closed)?;
        Ok(acked)
    }
}

/// Which publish a PUBACK answers. rumqttc numbers a publish only when it writes it, in the
/// order this task queued them (retransmissions keep their number), so the publishes queued
/// and not yet numbered are matched, in order, with the numbers the client reports.
#[derive(Debug, Default)]
struct Confirmations {
    /// Queued, not yet numbered; `None` for the connection's own (availability) publishes.
    queued: VecDeque<Option<oneshot::Sender<()>>>,
    in_flight: HashMap<u16, Option<oneshot::Sender<()>>>,
}

impl Confirmations {
    fn len(&self) -> usize {
        self.queued.len() + self.in_flight.len()
    }

    fn written(&mut self, pkid: u16) {
        if self.in_flight.contains_key(&pkid) {
            return; // a retransmission after a reconnect
        }
        if let Some(done) = self.queued.pop_front() {
            self.in_flight.insert(pkid, done);
        }
    }

    fn acknowledged(&mut self, pkid: u16) {
        if let Some(Some(done)) = self.in_flight.remove(&pkid) {
            let _ = done.send(());
        }
    }
}

#[derive(Debug, Clone)]
struct ConnectionMetrics {
    connections: IntCounterVec,
    connected: IntGauge,
    sessions_lost: prometheus::IntCounter,
}

impl ConnectionMetrics {
    fn register(registry: &Registry) -> prometheus::Result<Self> {
        let connections = IntCounterVec::new(
            Opts::new("shaobing_mqtt_connections_total", "Connection attempts to the MQTT broker, by outcome."),
            &["outcome"],
        )?;
        let connected = IntGauge::new("shaobing_mqtt_connected", "1 while connected to the MQTT broker.")?;
        let sessions_lost = prometheus::IntCounter::new(
            "shaobing_mqtt_sessions_lost_total",
            "Reconnections the broker answered without this box's session: what sensors published meanwhile is lost.",
        )?;
        registry.register(Box::new(connections.clone()))?;
        registry.register(Box::new(connected.clone()))?;
        registry.register(Box::new(sessions_lost.clone()))?;
        Ok(Self { connections, connected, sessions_lost })
    }

    fn attempt(&self, ok: bool) {
        self.connections.with_label_values(&[if ok { "ok" } else { "error" }]).inc();
        self.connected.set(i64::from(ok));
    }
}

/// The box's connection before it runs: take a subscription and publishers, then [`run`] it.
///
/// [`run`]: Connection::run
pub struct Connection {
    client: AsyncClient,
    eventloop: EventLoop,
    filters: Vec<SubscribeFilter>,
    deliveries: Option<mpsc::Sender<Delivery>>,
    /// Cloned into every handle; the poll task stops once all are dropped.
    users_tx: Option<mpsc::Sender<()>>,
    users: mpsc::Receiver<()>,
    availability: String,
    backoff: Backoff,
    metrics: ConnectionMetrics,
    log: RateLimiter,
    /// Subscribe and `online` still to be queued after a CONNACK.
    announce_pending: bool,
    /// The broker has held a session of this box before: a later CONNACK without one means
    /// it lost it.
    had_session: bool,
    publishes_tx: Option<mpsc::Sender<Confirmed>>,
    publishes: mpsc::Receiver<Confirmed>,
    /// A publish taken from `publishes` that found the request channel full.
    held: Option<Confirmed>,
    confirmations: Confirmations,
    sessions_lost: watch::Sender<u64>,
    broker: String,
}

impl std::fmt::Debug for Connection {
    // Never the options: rumqttc's Debug shows the password.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Connection").field("availability", &self.availability).finish_non_exhaustive()
    }
}

impl Connection {
    /// Validates the configuration and prepares the client; nothing is sent before [`run`].
    /// `window` is how many unacknowledged messages the subscriber may hold.
    ///
    /// [`run`]: Connection::run
    pub fn new(config: &MqttConfig, box_id: &str, window: usize, registry: &Registry) -> Result<Self, MqttError> {
        config.validate()?;
        let options = mqtt_options(config, box_id)?;
        let (client, mut eventloop) = AsyncClient::new(options, window + REQUEST_HEADROOM);
        let mut network = NetworkOptions::new();
        network.set_connection_timeout(config.connect_timeout_secs);
        eventloop.set_network_options(network);
        let (users_tx, users) = mpsc::channel(1);
        let (publishes_tx, publishes) = mpsc::channel(CONFIRMED_IN_FLIGHT);
        Ok(Self {
            client,
            eventloop,
            filters: Vec::new(),
            deliveries: None,
            users_tx: Some(users_tx),
            users,
            availability: availability_topic(box_id),
            backoff: Backoff::new(
                Duration::from_secs_f64(config.backoff_initial_secs),
                Duration::from_secs_f64(config.backoff_max_secs),
            ),
            metrics: ConnectionMetrics::register(registry)?,
            log: RateLimiter::new(LOG_PERIOD),
            announce_pending: false,
            had_session: false,
            publishes_tx: Some(publishes_tx),
            publishes,
            held: None,
            confirmations: Confirmations::default(),
            sessions_lost: watch::Sender::new(0),
            broker: format!("{}:{}", config.host, config.port),
        })
    }

    /// Subscribes to `filters` with QoS 1 and manual acks; `queue` messages wait at most, then
    /// the client stops reading the socket and the broker holds the rest.
    pub fn subscribe(&mut self, filters: impl IntoIterator<Item = String>, queue: usize) -> Subscription {
        self.filters.extend(filters.into_iter().map(|f| SubscribeFilter::new(f, QoS::AtLeastOnce)));
        let (tx, rx) = mpsc::channel(queue.max(1));
        self.deliveries = Some(tx);
        Subscription {
            deliveries: Deliveries { rx, _user: self.users_tx.clone() },
            acker: Acker { client: self.client.clone(), _user: self.users_tx.clone() },
            sessions_lost: self.sessions_lost.subscribe(),
            broker: self.broker.clone(),
        }
    }

    pub fn publisher(&self) -> Publisher {
        let requests = self.publishes_tx.clone().unwrap_or_else(|| mpsc::channel(1).0);
        Publisher { requests, _user: self.users_tx.clone() }
    }

    /// Polls until every subscription and publisher is gone (or `cancel` plus a grace period),
    /// then says `offline` and disconnects.
    pub async fn run(mut self, cancel: CancellationToken) {
        self.users_tx = None;
        self.publishes_tx = None;
        let grace = async {
            cancel.cancelled().await;
            tokio::time::sleep(USERS_GRACE).await;
        };
        tokio::pin!(grace);
        loop {
            if self.announce_pending {
                self.announce();
            }
            if let Some(held) = self.held.take() {
                self.queue_confirmed(held);
            }
            let room = self.held.is_none() && self.confirmations.len() < CONFIRMED_IN_FLIGHT;
            let event = tokio::select! {
                biased;
                None = self.users.recv() => break,
                () = &mut grace => break,
                Some(publish) = self.publishes.recv(), if room => {
                    self.queue_confirmed(publish);
                    continue;
                }
                event = self.eventloop.poll() => event,
            };
            match event {
                Ok(Event::Incoming(Packet::ConnAck(ack))) => self.connected(ack.session_present),
                Ok(Event::Incoming(Packet::Publish(publish))) => self.deliver(publish).await,
                Ok(Event::Outgoing(Outgoing::Publish(pkid))) => self.confirmations.written(pkid),
                Ok(Event::Incoming(Packet::PubAck(ack))) => self.confirmations.acknowledged(ack.pkid),
                Ok(_) => {}
                Err(e) => {
                    if !self.disconnected(&e, &cancel).await {
                        break;
                    }
                }
            }
        }
        self.shutdown().await;
    }

    /// Hands a publish to the client, or holds it while the request channel is full.
    fn queue_confirmed(&mut self, publish: Confirmed) {
        match self.client.try_publish(publish.topic.clone(), QoS::AtLeastOnce, false, publish.payload.clone()) {
            Ok(()) => self.confirmations.queued.push_back(Some(publish.done)),
            Err(_) => self.held = Some(publish),
        }
    }

    /// Waits while the queue is full: TCP back-pressure, the broker holds the rest. A closed
    /// subscription leaves the message unacknowledged, for redelivery.
    async fn deliver(&mut self, publish: Publish) {
        let Some(tx) = &self.deliveries else { return };
        let ack = Ack { pkid: publish.pkid, qos: publish.qos };
        let delivery = Delivery { topic: publish.topic, payload: publish.payload, received_at: UnixMillis::now(), ack };
        if tx.send(delivery).await.is_err() {
            self.deliveries = None;
        }
    }

    fn connected(&mut self, session_present: bool) {
        self.backoff.reset();
        self.metrics.attempt(true);
        if self.had_session && !session_present {
            self.metrics.sessions_lost.inc();
            self.sessions_lost.send_modify(|n| *n += 1);
            tracing::warn!(
                "the MQTT broker came back without this box's session (restarted without saving it?): \
                 readings published while the box was away were dropped by the broker"
            );
        } else {
            tracing::info!(session_present, "connected to the MQTT broker");
        }
        self.had_session = true;
        self.announce_pending = true;
    }

    /// Subscribing again is harmless when the session survived and necessary when the broker
    /// lost it (restarted without persistence). try_*: this task must never wait on the channel
    /// that only it drains; if the channel is full, the next loop turn tries again.
    fn announce(&mut self) {
        let subscribed = self.filters.is_empty() || self.client.try_subscribe_many(self.filters.clone()).is_ok();
        let queued =
            subscribed && self.client.try_publish(self.availability.clone(), QoS::AtLeastOnce, true, "online").is_ok();
        if queued {
            self.confirmations.queued.push_back(None);
        }
        // A subscribe queued twice is harmless; an `online` without its subscribe never happens.
        self.announce_pending = !queued;
    }

    /// Logs (rate-limited), then sleeps the backoff; `false` if stopped meanwhile.
    async fn disconnected(&mut self, error: &rumqttc::ConnectionError, cancel: &CancellationToken) -> bool {
        self.metrics.attempt(false);
        let delay = self.backoff.next_delay();
        if let Some(suppressed) = self.log.allow("mqtt_connection", Instant::now()) {
            tracing::warn!(%error, retry_in_ms = delay.as_millis() as u64, suppressed, "MQTT connection failed");
        }
        tokio::select! {
            () = cancel.cancelled() => false,
            () = tokio::time::sleep(delay) => true,
        }
    }

    /// Flushes the requests already queued, says `offline` and disconnects, within a bound.
    async fn shutdown(&mut self) {
        self.metrics.connected.set(0);
        let _ = self.client.try_publish(self.availability.clone(), QoS::AtLeastOnce, true, "offline");
        let _ = self.client.try_disconnect();
        let flush = async {
            loop {
                match self.eventloop.poll().await {
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

/// Loads what the connection would load from files (the TLS authorities), without
/// connecting: what `check-config` checks so that `run` cannot fail on it later.
pub fn preflight(config: &MqttConfig) -> Result<(), MqttError> {
    config.validate()?;
    mqtt_options(config, "preflight").map(drop)
}

/// The options, set explicitly. Never Debug-print them: rumqttc's Debug shows the password.
fn mqtt_options(c: &MqttConfig, box_id: &str) -> Result<MqttOptions, MqttError> {
    let mut o = MqttOptions::new(c.client_id_for(box_id), c.host.clone(), c.port);
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
    if let Some((user, password)) = c.credentials.pair() {
        o.set_credentials(user, password.expose());
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
