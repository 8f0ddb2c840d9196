//! A real Mosquitto per test on a free loopback port (so a test can stop and restart it), and
//! a QoS 1 client for publishing and watching topics.

use rumqttc::{AsyncClient, Event, MqttOptions, Packet, QoS};
use shaobing_core::UnixMillis;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

pub const MOSQUITTO: &str = "/usr/sbin/mosquitto";

/// A Mosquitto of our own, with persistence in a temporary directory.
#[derive(Debug)]
pub struct Broker {
    pub port: u16,
    pub dir: tempfile::TempDir,
    child: Option<Child>,
}

impl Broker {
    pub fn start() -> Self {
        Self::start_with(|_| String::new())
    }

    /// `listener_options(dir)` is written right after the `listener` line (certificates and
    /// such apply to it); other global options may follow it too.
    pub fn start_with(listener_options: impl FnOnce(&std::path::Path) -> String) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let port = free_port();
        let extra = listener_options(dir.path());
        let anonymous = if extra.contains("allow_anonymous") { "" } else { "allow_anonymous true" };
        let config = format!(
            "listener {port} 127.0.0.1\n\
             {extra}\n\
             {anonymous}\n\
             # As root, mosquitto would switch to the `mosquitto` user, which cannot write the\n\
             # root-owned tempdir: no persistence file, sessions lost on restart. No effect\n\
             # when the tests run as another user.\n\
             user root\n\
             persistence true\n\
             persistence_location {dir}/\n\
             # Explicit, not the defaults (20 in flight, 1000 queued: the broker drops beyond that).\n\
             max_inflight_messages 100\n\
             max_queued_messages 1000000\n\
             log_dest file {dir}/mosquitto.log\n\
             log_type error\nlog_type warning\nlog_type notice\n",
            dir = dir.path().display()
        );
        std::fs::write(dir.path().join("mosquitto.conf"), config).unwrap();
        let mut broker = Self { port, dir, child: None };
        broker.spawn();
        broker
    }

    /// A broker with the delivery settings of the shipped `deploy/mosquitto/mosquitto.conf`
    /// (persistence, autosave, queue limits), listening on a free loopback port without TLS
    /// or passwords, persisting and logging in a temporary directory.
    pub fn start_shipped() -> Self {
        let shipped =
            std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../deploy/mosquitto/mosquitto.conf"))
                .expect("the shipped Mosquitto configuration");
        let dir = tempfile::tempdir().unwrap();
        let port = free_port();
        let local = [
            "listener",
            "certfile",
            "keyfile",
            "cafile",
            "allow_anonymous",
            "password_file",
            "persistence_location",
            "log_dest",
            "log_type",
        ];
        let kept: Vec<&str> =
            shipped.lines().filter(|l| !local.contains(&l.split_whitespace().next().unwrap_or_default())).collect();
        let config = format!(
            "listener {port} 127.0.0.1\nallow_anonymous true\nuser root\n{}\n\
             persistence_location {dir}/\nlog_dest file {dir}/mosquitto.log\n\
             log_type error\nlog_type warning\nlog_type notice\n",
            kept.join("\n"),
            dir = dir.path().display()
        );
        std::fs::write(dir.path().join("mosquitto.conf"), config).unwrap();
        let mut broker = Self { port, dir, child: None };
        broker.spawn();
        broker
    }

    /// SIGKILL, as a crash or a power cut: nothing is saved on the way out.
    pub fn kill(&mut self) {
        let Some(mut child) = self.child.take() else { return };
        child.kill().unwrap();
        child.wait().unwrap();
    }

    /// Starts the broker again (after [`Broker::stop`] or [`Broker::kill`]) on the same port
    /// and persistence directory.
    pub fn start_again(&mut self) {
        assert!(self.child.is_none(), "the broker still runs");
        self.spawn();
    }

    fn spawn(&mut self) {
        let child = Command::new(MOSQUITTO)
            .arg("-c")
            .arg(self.dir.path().join("mosquitto.conf"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        self.child = Some(child);
        let addr = SocketAddr::from(([127, 0, 0, 1], self.port));
        let deadline = Instant::now() + Duration::from_secs(10);
        while TcpStream::connect(addr).is_err() {
            assert!(Instant::now() < deadline, "mosquitto did not listen on {addr}: {}", self.log());
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// SIGTERM, as a service manager stops it: every connection drops, and the broker saves
    /// its persistent sessions and queued messages on the way out. (SIGKILL would lose what
    /// the broker accepted since its last autosave, which no client can prevent.)
    pub fn stop(&mut self) {
        let Some(mut child) = self.child.take() else { return };
        let status = Command::new("kill").arg("-TERM").arg(child.id().to_string()).status().unwrap();
        assert!(status.success());
        child.wait().unwrap();
    }

    pub fn restart(&mut self) {
        self.stop();
        self.spawn();
    }

    /// The broker's process id while it runs (a benchmark reads its CPU time).
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("mosquitto.log")).unwrap_or_default()
    }
}

impl Drop for Broker {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// A QoS 1 client with a persistent session whose event loop runs in the background and
/// reconnects (100 ms apart) until the client is dropped.
#[derive(Debug)]
pub struct Client {
    pub client: AsyncClient,
    pub events: mpsc::UnboundedReceiver<rumqttc::Publish>,
    task: JoinHandle<()>,
}

impl Client {
    pub fn connect(broker: &Broker, id: &str) -> Self {
        let mut options = MqttOptions::new(id, "127.0.0.1", broker.port);
        options.set_clean_session(false).set_keep_alive(Duration::from_secs(5)).set_max_packet_size(4 << 20, 4 << 20);
        Self::with_options(options)
    }

    pub fn with_options(options: MqttOptions) -> Self {
        let (client, mut eventloop) = AsyncClient::new(options, 100_000);
        let (tx, events) = mpsc::unbounded_channel();
        let task = tokio::spawn(async move {
            loop {
                match eventloop.poll().await {
                    Ok(Event::Incoming(Packet::Publish(p))) => {
                        let _ = tx.send(p);
                    }
                    Ok(_) => {}
                    Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
                }
            }
        });
        Self { client, events, task }
    }

    pub async fn publish(&self, topic: &str, payload: impl Into<Vec<u8>>) {
        self.client.publish(topic, QoS::AtLeastOnce, false, payload).await.unwrap();
    }

    /// The next message on any subscribed topic, within `timeout`.
    pub async fn next(&mut self, timeout: Duration) -> Option<rumqttc::Publish> {
        tokio::time::timeout(timeout, self.events.recv()).await.ok().flatten()
    }
}

impl Drop for Client {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Waits, up to `timeout`, for box `box_id` to announce `online` on `broker`. The box queues its
/// subscriptions before that announcement on the same connection, and the broker handles one
/// connection's packets in order, so from then on what is published to its topics is heard.
pub async fn until_online(broker: &Broker, box_id: &str, timeout: Duration) -> bool {
    let mut probe = Client::connect(broker, &format!("online-probe-{box_id}"));
    probe.client.subscribe(shaobing_mqtt::availability_topic(box_id), QoS::AtLeastOnce).await.unwrap();
    let deadline = tokio::time::Instant::now() + timeout;
    while let Some(left) = deadline.checked_duration_since(tokio::time::Instant::now()) {
        match probe.next(left).await {
            Some(p) if p.payload.as_ref() == b"online" => return true,
            Some(_) => {}
            None => return false,
        }
    }
    false
}

pub fn now_ms() -> i64 {
    UnixMillis::now().0
}

/// Publishes `n` JSON readings (`ts`, `seq`, `pm25` from `values`, cycled) to `topic` as fast
/// as the broker takes them, with increasing timestamps ending now; returns once the broker has
/// them all (a marker published after them has come back).
pub async fn publish_backlog(broker: &Broker, topic: &str, n: usize, values: &[f64]) {
    let publisher = Client::connect(broker, "backlog-publisher");
    // A clean session: a marker left queued by an earlier call must not end this one early
    // (the publisher would be dropped with half the backlog still unsent).
    let mut options = MqttOptions::new("backlog-marker", "127.0.0.1", broker.port);
    options.set_clean_session(true);
    let mut marker = Client::with_options(options);
    marker.client.subscribe("test/backlog-done", QoS::AtLeastOnce).await.unwrap();
    let start = now_ms() - n as i64;
    for i in 0..n {
        let payload = format!(r#"{{"ts": {}, "seq": {i}, "pm25": {}}}"#, start + i as i64, values[i % values.len()]);
        publisher.publish(topic, payload).await;
    }
    // The marker's subscription may still be on its way: publish until it comes back.
    loop {
        publisher.publish("test/backlog-done", "1").await;
        if marker.next(Duration::from_secs(1)).await.is_some() {
            return;
        }
    }
}
