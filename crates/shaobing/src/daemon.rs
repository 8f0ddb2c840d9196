//! Starting and stopping the whole pipeline.

use crate::analysis::{Analyser, IssueWork};
use anyhow::Context;
use shaobing_api::{ApiIssue, ApiState, CameraView, IssueEvent, LiveFrames, ZoneView};
use shaobing_camera::{CameraExit, CameraSpec, FrameSlot, RetryPolicy, init_gstreamer, run_camera};
use shaobing_config::{AnalysisMode, Config, ExecutionProviderKind, OnEos, RtspClient, Transport};
use shaobing_core::CameraId;
use shaobing_detect::{Detector, InferencePool, Manifest, Provider, Runtime, SessionOptions};
use shaobing_metrics::{Metrics, Supervision};
use shaobing_sink_postgres::{DrainConfig, DrainStats, drain};
use shaobing_store::{Recorded, Store};
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{Notify, broadcast, mpsc};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

/// Issues waiting for the store; bounded so a stuck disk pushes back on analysis (which then
/// drops frames, counted) instead of growing memory.
const ISSUE_QUEUE: usize = 256;

/// A started daemon.
#[derive(Debug)]
pub struct Daemon {
    cancel: CancellationToken,
    metrics: Metrics,
    metrics_addr: SocketAddr,
    cameras: JoinSet<CameraExit>,
    analysers: JoinSet<()>,
    sinks: JoinSet<()>,
    store: std::thread::JoinHandle<()>,
    store_path: PathBuf,
    evidence_dir: PathBuf,
}

impl Daemon {
    /// Loads runtime and models (refusing a model whose checksum differs), opens the store and
    /// starts metrics, cameras and analysis.
    pub async fn start(config: Config, cancel: CancellationToken) -> anyhow::Result<Self> {
        init_gstreamer().context("cannot initialise GStreamer")?;
        let options = SessionOptions {
            intra_threads: config.runtime.intra_threads,
            spinning: config.runtime.intra_op_spinning,
            provider: match config.runtime.execution_provider {
                ExecutionProviderKind::Cpu => Provider::Cpu,
                ExecutionProviderKind::Cuda => Provider::Cuda { device: config.runtime.cuda_device },
            },
        };
        let runtime = Runtime::load(config.runtime.onnxruntime_path.as_deref(), options)?;
        let manifest = Manifest::load(&crate::paths::manifest(config.models.manifest.as_deref()))?;
        let detectors = load_detectors(&config, &runtime, &manifest)?;
        let store = Store::open(&config.daemon.data_dir, &config.daemon.box_id)?;
        let (store_path, evidence_dir) = (store.path().to_path_buf(), store.evidence_dir().to_path_buf());
        let metrics = Metrics::new();
        metrics.init_issue_series(shaobing_core::Category::ALL.iter().map(|c| c.as_str()));
        let (events, _) = broadcast::channel(EVENT_QUEUE);
        let live = LiveFrames::default();
        let api = shaobing_api::router(api_state(&config, &metrics, &live, &events)?);
        let server = shaobing_metrics::serve(config.metrics.listen, metrics.clone(), api, cancel.child_token())
            .await
            .with_context(|| format!("cannot listen on metrics.listen = {}", config.metrics.listen))?;
        let wake = Arc::new(Notify::new());
        let mut sinks = JoinSet::new();
        if let Some(central) = &config.central {
            let drain = central_drain(&config, central, wake.clone(), cancel.child_token())?;
            sinks.spawn(drain.instrument(tracing::info_span!("central")));
        }
        sinks.spawn(supervise(
            Store::open(&config.daemon.data_dir, &config.daemon.box_id)?,
            metrics.clone(),
            cancel.child_token(),
        ));
        let (tx, rx) = mpsc::channel(ISSUE_QUEUE);
        let alerts = config.mqtt.as_ref().map(|mqtt| {
            let (alert_tx, alert_rx) = mpsc::channel(ISSUE_QUEUE);
            let publisher = shaobing_mqtt::publish_alerts(
                mqtt.clone(),
                config.daemon.box_id.clone(),
                alert_rx,
                cancel.child_token(),
            );
            sinks.spawn(async move {
                if let Err(e) = publisher.await {
                    tracing::error!(error = %e, "issue alerts stopped");
                }
            });
            alert_tx
        });
        if let (Some(mqtt), Some(sensors)) = (&config.mqtt, &config.sensors) {
            let ingest = sensor_ingest(&config, mqtt, sensors, &metrics, tx.clone(), cancel.child_token())?;
            sinks.spawn(ingest.instrument(tracing::info_span!("sensors", broker = %mqtt.host)));
        }
        let store = spawn_store(store, rx, Announcer::new(metrics.clone(), wake, alerts, events))?;
        let mut cameras = JoinSet::new();
        let mut analysers = JoinSet::new();
        for camera in &config.cameras {
            let slot = Arc::new(FrameSlot::new());
            let spec = camera_spec(camera);
            let cm = metrics.camera(&camera.id);
            // Every line a camera's tasks log carries the camera's id.
            let span = tracing::info_span!("camera", camera = %camera.id);
            cameras.spawn(run_camera(spec, slot.clone(), cm, cancel.child_token()).instrument(span.clone()));
            let pools = camera
                .models
                .iter()
                .map(|m| detectors.get(m).cloned().context("every camera's models are loaded"))
                .collect::<anyhow::Result<Vec<_>>>()?;
            let analyser = Analyser::new(&config, camera, pools, &metrics)?.with_live(live.clone());
            analysers.spawn(analyser.run(slot, tx.clone(), cancel.child_token()).instrument(span));
        }
        metrics.set_ready(true);
        Ok(Self {
            cancel,
            metrics,
            metrics_addr: server.local_addr,
            cameras,
            analysers,
            sinks,
            store,
            store_path,
            evidence_dir,
        })
    }

    pub fn metrics_addr(&self) -> SocketAddr {
        self.metrics_addr
    }

    pub fn metrics(&self) -> &Metrics {
        &self.metrics
    }

    pub fn store_path(&self) -> &std::path::Path {
        &self.store_path
    }

    pub fn evidence_dir(&self) -> &std::path::Path {
        &self.evidence_dir
    }

    /// Runs until cancelled or until every camera has ended (only finite clips end on their
    /// own), then drains analysis and the store before returning.
    pub async fn wait(mut self) -> anyhow::Result<()> {
        let had_cameras = !self.cameras.is_empty();
        loop {
            tokio::select! {
                _ = self.cancel.cancelled() => break,
                exit = self.cameras.join_next(), if had_cameras => match exit {
                    None => break,
                    Some(Err(e)) => tracing::error!(error = %e, "camera task failed"),
                    Some(Ok(_)) => {}
                },
            }
        }
        self.metrics.set_ready(false);
        self.cancel.cancel();
        while self.cameras.join_next().await.is_some() {}
        // Cameras closed their slots; analysers finish what they hold, then the issue channel
        // closes and the store thread commits the rest.
        while self.analysers.join_next().await.is_some() {}
        let store = self.store;
        tokio::task::spawn_blocking(move || store.join())
            .await?
            .map_err(|_| anyhow::anyhow!("store thread panicked"))?;
        while self.sinks.join_next().await.is_some() {}
        Ok(())
    }
}

/// The MQTT sensor ingest: readings committed to the box's readings store (acknowledged to
/// the broker only then), rules' findings forwarded to the problem database.
fn sensor_ingest(
    config: &Config,
    mqtt: &shaobing_mqtt::MqttConfig,
    sensors: &shaobing_sensors::SensorsConfig,
    metrics: &Metrics,
    issues: mpsc::Sender<IssueWork>,
    cancel: CancellationToken,
) -> anyhow::Result<impl std::future::Future<Output = ()> + Send + 'static> {
    let mapping = shaobing_sensors::Mapping::new(sensors.clone()).map_err(|e| anyhow::anyhow!("{e}"))?;
    let engine = shaobing_sensors::RuleEngine::new(&mapping, |c| config.responsibility_for(c).to_domain());
    let (found_tx, found_rx) = mpsc::channel(ISSUE_QUEUE);
    let ingest = shaobing_mqtt::SensorIngest {
        mqtt: mqtt.clone(),
        box_id: config.daemon.box_id.clone(),
        metrics: shaobing_mqtt::IngestMetrics::register(&metrics.registry, &mapping)?,
        store: shaobing_sensors::ReadingsStore::open_in(&config.daemon.data_dir)?,
        engine,
        retention: config.readings.clone(),
        mapping,
        issues: found_tx,
    };
    Ok(async move {
        let forward = tokio::spawn(forward_sensor_issues(found_rx, issues));
        if let Err(e) = ingest.run(cancel).await {
            tracing::error!(error = %e, "sensor ingest stopped");
        }
        let _ = forward.await;
    })
}

/// Sensor rules' findings as problem-database work: a raised or ongoing episode is recorded
/// (with the readings around it as evidence when raised), a cleared one resolves its issue.
async fn forward_sensor_issues(
    mut found: mpsc::Receiver<shaobing_sensors::SensorIssue>,
    issues: mpsc::Sender<IssueWork>,
) {
    use shaobing_sensors::Phase;
    while let Some(s) = found.recv().await {
        let work = match s.phase {
            Phase::Opened => {
                let evidence = serde_json::to_vec_pretty(&s.evidence).ok();
                IssueWork::Record { issue: Box::new(s.candidate), evidence }
            }
            Phase::Ongoing => IssueWork::Record { issue: Box::new(s.candidate), evidence: None },
            Phase::Cleared => IssueWork::Clear {
                dedup_key: s.candidate.dedup_key,
                actor: format!("sensor:{}", s.evidence.rule),
                note: "cleared: back under the clear threshold".into(),
                after: None,
            },
        };
        if issues.send(work).await.is_err() {
            return;
        }
    }
}

/// How often the supervision figures are recomputed from the problem database.
const SUPERVISION_PERIOD: Duration = Duration::from_secs(30);

/// Keeps the supervision gauges (time to verified resolution per department) and the outbox
/// backlog current. Status changes come from the CLI in another process, so the figures are
/// read from the database.
async fn supervise(store: Store, metrics: Metrics, cancel: CancellationToken) {
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

/// The outbox drain toward the central PostgreSQL, on its own connection to the store.
fn central_drain(
    config: &Config,
    central: &shaobing_config::CentralConfig,
    wake: Arc<Notify>,
    cancel: CancellationToken,
) -> anyhow::Result<impl std::future::Future<Output = ()> + Send + 'static> {
    let mut postgres: tokio_postgres::Config =
        central.url.parse().with_context(|| format!("central.url `{}` is not a connection string", central.url))?;
    if let Some(password) = &central.password {
        postgres.password(password.expose());
    }
    postgres.connect_timeout(Duration::from_secs(5)).keepalives_idle(Duration::from_secs(10));
    let mut store = Store::open(&config.daemon.data_dir, &config.daemon.box_id)?;
    store.set_outbox_cap(central.outbox_max_bytes);
    let drain_config =
        DrainConfig { batch: central.batch, max_attempts: central.max_attempts, ..DrainConfig::new(postgres) };
    let stats = Arc::new(DrainStats::default());
    Ok(drain(Arc::new(Mutex::new(store)), drain_config, wake, stats, cancel))
}

/// One inference pool per model in use, with `runtime.inference_workers` sessions each.
fn load_detectors(
    config: &Config,
    runtime: &Runtime,
    manifest: &Manifest,
) -> anyhow::Result<BTreeMap<String, InferencePool>> {
    let mut pools = BTreeMap::new();
    for camera in &config.cameras {
        for model in &camera.models {
            if pools.contains_key(model) {
                continue;
            }
            let sessions = (0..config.runtime.inference_workers.max(1))
                .map(|_| Detector::load(runtime, manifest, model))
                .collect::<Result<Vec<_>, _>>()
                .with_context(|| format!("cannot load model `{model}` for camera `{}`", camera.id))?;
            pools.insert(model.clone(), InferencePool::start(sessions)?);
        }
    }
    Ok(pools)
}

pub fn camera_spec(c: &shaobing_config::CameraConfig) -> CameraSpec {
    let secs = Duration::from_secs_f64;
    CameraSpec {
        id: CameraId(c.id.clone()),
        uri: c.uri.clone(),
        credentials: c.username.clone().map(|u| (u, c.password.clone().unwrap_or_default())),
        rtsp_tcp: c.transport == Transport::Tcp,
        keyframes_only: c.analysis_mode == AnalysisMode::Keyframes,
        native_rtsp: c.rtsp_client == RtspClient::Retina,
        analysis_fps: c.analysis_fps,
        analysis_width: c.analysis_width,
        decoder_threads: c.decoder_threads,
        restart_on_eos: c.on_eos == OnEos::Restart,
        watchdog: secs(c.watchdog_secs),
        retry: RetryPolicy {
            initial: secs(c.retry_initial_secs),
            max: secs(c.retry_max_secs),
            budget: c.restart_budget,
            window: secs(c.restart_window_secs),
        },
    }
}

/// Runs a store operation until it succeeds: the work stays in hand until the disk takes it
/// (a full disk, a locked file), with a capped backoff and a log line per failure.
fn retry<T>(mut op: impl FnMut() -> Result<T, shaobing_store::StoreError>, key: &str) -> T {
    let mut delay = Duration::from_millis(100);
    loop {
        match op() {
            Ok(v) => return v,
            Err(e) => {
                tracing::error!(error = %e, key, "cannot store issue; retrying");
                std::thread::sleep(delay);
                delay = (delay * 2).min(Duration::from_secs(10));
            }
        }
    }
}

/// Issue changes the console's event stream holds for a slow subscriber before it lags.
const EVENT_QUEUE: usize = 256;

/// A standing hazard folds a sighting into its issue on every analysed frame; the event stream
/// tells of it at most this often per issue (new and resolved are always told at once).
const UPDATE_EVENT_PERIOD: Duration = Duration::from_secs(10);

/// What the console and its API read: the configured cameras, the live frames, the problem
/// database, the sensors' readings, and the stream of issue changes.
fn api_state(
    config: &Config,
    metrics: &Metrics,
    live: &LiveFrames,
    events: &broadcast::Sender<IssueEvent>,
) -> anyhow::Result<ApiState> {
    let cameras = config
        .cameras
        .iter()
        .map(|c| CameraView {
            id: c.id.clone(),
            models: c.models.clone(),
            zones: c.zones.iter().map(|z| ZoneView::new(&z.id.0, z.kind.as_str(), &z.polygon)).collect(),
        })
        .collect();
    Ok(ApiState {
        cameras,
        live: live.clone(),
        metrics: metrics.clone(),
        // The API's own connection: WAL lets it read while the store thread writes.
        store: std::sync::Mutex::new(Store::open(&config.daemon.data_dir, &config.daemon.box_id)?),
        readings_db: config.sensors.as_ref().map(|_| config.daemon.data_dir.join(shaobing_sensors::READINGS_DB_FILE)),
        events: events.clone(),
        token: config.metrics.access_token.as_ref().map(|t| t.expose().to_string()),
    })
}

/// Who hears of a stored change: metrics, the central drain, the MQTT alerts, the console.
struct Announcer {
    metrics: Metrics,
    wake: Arc<Notify>,
    alerts: Option<mpsc::Sender<shaobing_mqtt::Alert>>,
    events: broadcast::Sender<IssueEvent>,
    /// When each issue's last `updated` event went out.
    last_update: std::cell::RefCell<std::collections::HashMap<String, std::time::Instant>>,
}

impl Announcer {
    fn new(
        metrics: Metrics,
        wake: Arc<Notify>,
        alerts: Option<mpsc::Sender<shaobing_mqtt::Alert>>,
        events: broadcast::Sender<IssueEvent>,
    ) -> Self {
        Self { metrics, wake, alerts, events, last_update: Default::default() }
    }

    /// Whether a change goes out now: always for new and resolved, for updates once a period.
    fn update_due(&self, id: &str, change: &str) -> bool {
        let mut last = self.last_update.borrow_mut();
        let now = std::time::Instant::now();
        match change {
            // The new issue is itself the latest news: updates start one period later.
            "new" => {
                last.insert(id.to_string(), now);
                true
            }
            "updated" => match last.get(id) {
                Some(at) if now.duration_since(*at) < UPDATE_EVENT_PERIOD => false,
                _ => {
                    last.insert(id.to_string(), now);
                    true
                }
            },
            _ => {
                last.remove(id);
                true
            }
        }
    }

    fn recorded(&self, store: &Store, recorded: &Recorded, issue: &shaobing_core::CandidateIssue) {
        match recorded {
            Recorded::Created { id } => {
                // The drain sends new issues at once rather than at its next poll.
                self.wake.notify_one();
                self.metrics.issue_emitted(issue.category.as_str(), issue.priority.as_str());
                tracing::info!(%id, category = %issue.category, cause = %issue.cause.summary, "issue filed");
                self.alert(store, id, "new");
                self.publish(store, id, "new");
            }
            Recorded::Folded { id, .. } => {
                self.metrics.issue_updated(issue.category.as_str());
                self.publish(store, id, "updated");
            }
        }
    }

    fn resolved(&self, store: &Store, id: &str) {
        self.wake.notify_one();
        self.alert(store, id, "resolved");
        self.publish(store, id, "resolved");
    }

    /// To the console's event stream, read back from the store only when someone listens.
    fn publish(&self, store: &Store, id: &str, change: &'static str) {
        if self.events.receiver_count() == 0 || !self.update_due(id, change) {
            return;
        }
        if let Ok(issue) = ApiIssue::load(store, id) {
            let _ = self.events.send(IssueEvent { change, issue });
        }
    }

    /// Never blocks the store: an alert that finds the queue full is logged and dropped (the
    /// issue itself is committed and goes to the centre through the outbox).
    fn alert(&self, store: &Store, id: &str, event: &'static str) {
        let Some(alerts) = &self.alerts else { return };
        let Ok(row) = store.get(id) else { return };
        let alert = shaobing_mqtt::Alert {
            event,
            priority: row.priority.clone(),
            category: row.category.clone(),
            issue: serde_json::to_value(&row).unwrap_or_default(),
        };
        if alerts.try_send(alert).is_err() {
            tracing::warn!(%id, event, "alert queue full; alert not published");
        }
    }
}

/// SQLite is synchronous: the store gets its own thread and drains the channel until every
/// sender is gone. A failed write is retried rather than dropped: the issue stays in hand
/// until the disk takes it.
fn spawn_store(
    mut store: Store,
    mut rx: mpsc::Receiver<IssueWork>,
    announce: Announcer,
) -> anyhow::Result<std::thread::JoinHandle<()>> {
    let thread = std::thread::Builder::new().name("store".into()).spawn(move || {
        while let Some(work) = rx.blocking_recv() {
            match work {
                IssueWork::Record { issue, evidence } => {
                    let recorded = retry(|| store.record(&issue, evidence.as_deref()), &issue.dedup_key);
                    announce.recorded(&store, &recorded, &issue);
                }
                IssueWork::Clear { dedup_key, actor, note, after } => {
                    let after = after.as_ref().map(|(bytes, at)| (bytes.as_slice(), *at));
                    if let Some(id) = retry(|| store.resolve_observed(&dedup_key, &actor, &note, after), &dedup_key) {
                        tracing::info!(%id, %actor, %note, "issue resolved by observation");
                        announce.resolved(&store, &id);
                    }
                }
            }
        }
    })?;
    Ok(thread)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn updates_of_a_standing_hazard_are_told_once_a_period_new_and_resolved_at_once() {
        let (events, _) = broadcast::channel(4);
        let a = Announcer::new(Metrics::new(), Arc::new(Notify::new()), None, events);
        assert!(a.update_due("i1", "new"));
        assert!(!a.update_due("i1", "updated"), "right after new");
        assert!(a.update_due("i2", "updated"), "another issue has its own period");
        assert!(!a.update_due("i2", "updated"));
        assert!(a.update_due("i1", "resolved"));
        assert!(a.update_due("i1", "updated"), "a resolved issue's period is forgotten");
    }
}
