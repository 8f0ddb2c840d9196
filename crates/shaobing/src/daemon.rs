//! Starting and stopping the whole pipeline.

use crate::preflight::Prepared;
use anyhow::Context;
use shaobing_analysis::Analyser;
use shaobing_api::{ApiState, CameraView, ClassKinds, LiveFrames, SensorView, ZoneView};
use shaobing_camera::{CameraExit, ClipRecorder, FrameSlot, init_gstreamer, run_camera};
use shaobing_config::Config;
use shaobing_core::Filing;
use shaobing_issues::{ConsoleEvents, FINDINGS_QUEUE, IssueEvent, IssueMetrics, Subscriber, Wake};
use shaobing_metrics::Metrics;
use shaobing_store::Store;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use tokio::sync::{Notify, broadcast, mpsc};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

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
        Self::start_prepared(Prepared::from_config(config)?, cancel).await
    }

    /// Opens the store and starts metrics, cameras and analysis with what was loaded.
    pub async fn start_prepared(prepared: Prepared, cancel: CancellationToken) -> anyhow::Result<Self> {
        init_gstreamer().context("cannot initialise GStreamer")?;
        let Prepared { config, runtime: _runtime, models } = prepared;
        let mut store = Store::open(&config.daemon.data_dir, &config.daemon.box_id)?;
        let central = config.central.is_some();
        match store.set_central(central)? {
            0 => {}
            n if central => tracing::info!(rows = n, "central database added: every issue is queued for it"),
            n => tracing::info!(rows = n, "no [central] section: the outbox toward a central database is emptied"),
        }
        store.set_alerts(config.mqtt.is_some())?;
        store.set_suppress_secs(config.daemon.dismissed_suppress_secs())?;
        store.set_verify_secs(config.daemon.verify_secs)?;
        let (store_path, evidence_dir) = (store.path().to_path_buf(), store.evidence_dir().to_path_buf());
        let metrics = Metrics::for_box(&config.daemon.box_id);
        metrics.init_issue_series(shaobing_core::Category::ALL.iter().map(|c| c.as_str()));
        let departments: Vec<(String, &str)> = shaobing_core::Category::ALL
            .iter()
            .map(|c| (config.responsibility_for(*c).department, c.as_str()))
            .collect();
        metrics.init_verified_series(departments.iter().map(|(d, c)| (d.as_str(), *c)));
        let (events, _) = broadcast::channel(EVENT_QUEUE);
        let live = Arc::new(LiveFrames::default());
        let (verdicts, verdict_inbox) = shaobing_issues::verdicts(metrics.clone());
        let console = api_state(&config, &metrics, &live, &events, &verdicts)?;
        let server = shaobing_api::serve(config.metrics.listen, console, cancel.child_token())
            .await
            .with_context(|| format!("cannot listen on metrics.listen = {}", config.metrics.listen))?;
        let wake = Arc::new(Notify::new());
        let mut subscribers: Vec<Box<dyn Subscriber>> = vec![
            Box::new(IssueMetrics(metrics.clone())),
            Box::new(Wake(wake.clone())),
            Box::new(ConsoleEvents::new(events)),
        ];
        let mut sinks = JoinSet::new();
        if let Some(central) = &config.central {
            let outbox = Store::open(&config.daemon.data_dir, &config.daemon.box_id)?;
            let inbound =
                shaobing_sink_postgres::Inbound { box_id: config.daemon.box_id.clone(), door: verdicts.clone() };
            let drain = central.drain(outbox, wake, Some(inbound), cancel.child_token())?;
            sinks.spawn(drain.instrument(tracing::info_span!("central")));
        }
        let supervision = Store::open(&config.daemon.data_dir, &config.daemon.box_id)?;
        shaobing_issues::audit_evidence(&supervision, &metrics);
        let evidence = config.evidence.clone();
        sinks.spawn(shaobing_issues::supervise(supervision, evidence, metrics.clone(), cancel.child_token()));
        let (tx, rx) = mpsc::channel(FINDINGS_QUEUE);
        let rechecks = shaobing_core::RecheckWatch::default();
        if let Some(mqtt) = &config.mqtt {
            let mut connection =
                shaobing_mqtt::Connection::new(mqtt, &config.daemon.box_id, window(&config), &metrics.registry)?;
            let alerts_wake = Arc::new(Notify::new());
            subscribers.push(Box::new(Wake(alerts_wake.clone())));
            let alerts = shaobing_issues::publish_alerts(
                Store::open(&config.daemon.data_dir, &config.daemon.box_id)?,
                connection.publisher(),
                config.daemon.box_id.clone(),
                alerts_wake,
                cancel.child_token(),
            );
            sinks.spawn(alerts.instrument(tracing::info_span!("alerts", broker = %mqtt.host)));
            if let Some(sensors) = &config.sensors {
                let stage = SensorStage { findings: tx.clone(), rechecks: rechecks.clone() };
                let ingest = sensor_ingest(&config, sensors, &mut connection, &metrics, stage, cancel.child_token())?;
                sinks.spawn(ingest.instrument(tracing::info_span!("sensors", broker = %mqtt.host)));
            }
            sinks.spawn(
                connection.run(cancel.child_token()).instrument(tracing::info_span!("mqtt", broker = %mqtt.host)),
            );
        }
        let announcer = shaobing_issues::Announcer::new(subscribers);
        // Read before the writer takes the store: what each camera left open.
        let opened = Store::open(&config.daemon.data_dir, &config.daemon.box_id)?;
        let store =
            shaobing_issues::spawn_writer(store, rx, verdict_inbox, announcer, rechecks.clone(), cancel.clone())?;
        let mut cameras = JoinSet::new();
        let mut analysers = JoinSet::new();
        let setup = config.analysis_setup();
        let clip_budget = config
            .clips
            .enabled
            .then(|| shaobing_camera::ClipBudget::new(config.clips.memory_bytes, metrics.clip_buffer_bytes()));
        for camera in &config.cameras {
            let slot = Arc::new(FrameSlot::new());
            let cm = metrics.camera(&camera.id);
            // Every line a camera's tasks log carries the camera's id.
            let span = tracing::info_span!("camera", camera = %camera.id);
            let mut spec = camera.spec();
            if !setup.rules.fire_smoke.enabled {
                // The burst's followers are for the fire watch only.
                spec.key_frame_burst = 1;
            }
            let clips = clip_budget.as_ref().map(|b| ClipRecorder::new(&config.clips, b.clone(), cm.clone()));
            spec.clips = clips.clone();
            cameras.spawn(run_camera(spec, slot.clone(), cm, cancel.child_token()).instrument(span.clone()));
            let open = open_hazards(&opened, &camera.id)?;
            let mut analyser = Analyser::new(&setup, camera, models.for_camera(camera)?, &metrics)?
                .with_live(live.clone())
                .with_rechecks(rechecks.clone())
                .with_open_issues(open);
            if let Some(clips) = clips {
                analyser = analyser.with_clips(clips);
            }
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

/// The open issues a camera raised before this start, as (dedup key, category).
fn open_hazards(store: &Store, camera: &str) -> anyhow::Result<Vec<(String, shaobing_core::Category)>> {
    let rows = store.open_issues_of(camera)?;
    Ok(rows.into_iter().filter_map(|r| Some((r.dedup_key, r.category.parse().ok()?))).collect())
}

/// How many unacknowledged sensor messages the box's MQTT connection may hold.
fn window(config: &Config) -> usize {
    config.sensors.as_ref().map_or(0, |s| s.queue_capacity + s.batch_max)
}

/// What the sensor stage hands on and is told: findings to the issues room, the handled
/// issues to report on again.
struct SensorStage {
    findings: mpsc::Sender<Filing>,
    rechecks: shaobing_core::RecheckWatch,
}

/// The sensor stage: readings committed to the box's readings store (acknowledged to the
/// broker only then), the rules' findings filed into the problem database.
fn sensor_ingest(
    config: &Config,
    sensors: &shaobing_sensors::SensorsConfig,
    connection: &mut shaobing_mqtt::Connection,
    metrics: &Metrics,
    SensorStage { findings, rechecks }: SensorStage,
    cancel: CancellationToken,
) -> anyhow::Result<impl std::future::Future<Output = ()> + Send + 'static> {
    let mapping = shaobing_sensors::Mapping::new(sensors.clone()).map_err(|e| anyhow::anyhow!("{e}"))?;
    let engine =
        shaobing_sensors::RuleEngine::new(&mapping, |c| config.responsibility_for(c).to_domain()).watching(rechecks);
    let metrics = shaobing_sensors::IngestMetrics::register(&metrics.registry, &mapping)?;
    let store = shaobing_sensors::ReadingsStore::open_in(&config.daemon.data_dir)?;
    let retention = config.readings.clone();
    let ingest = shaobing_sensors::SensorIngest::new(connection, mapping, store, engine, retention, metrics, findings)?;
    Ok(async move {
        if let Err(e) = ingest.run(cancel).await {
            tracing::error!(error = %e, "sensor ingest stopped");
        }
    })
}

/// Issue changes the console's event stream holds for a slow subscriber before it lags.
const EVENT_QUEUE: usize = 256;

/// What the console and its API read: the configured cameras, the live frames, the problem
/// database, the sensors' readings, and the stream of issue changes.
/// The configured sensors as the console lists them.
fn sensor_views(config: &Config) -> Vec<SensorView> {
    let groups = config.sensors.iter().flat_map(|s| &s.groups);
    groups
        .flat_map(|g| {
            g.sensors.iter().map(|(id, place)| SensorView {
                id: id.clone(),
                group: g.name.clone(),
                kind: g.kind.as_str().to_string(),
                location: place.clone(),
            })
        })
        .collect()
}

/// A configured camera as the console shows it, with what its rules follow.
fn camera_view(config: &Config, c: &shaobing_analysis::CameraConfig) -> CameraView {
    let followed = shaobing_analysis::followed(&config.rules, c);
    let (models, camera_models) = (config.models.clone(), c.models.clone());
    let kinds_of =
        ClassKinds(Arc::new(move |class: &str| camera_models.iter().flat_map(|m| models.kinds_of(m, class)).collect()));
    CameraView {
        id: c.id.clone(),
        models: c.models.clone(),
        zones: c.zones.iter().map(|z| ZoneView::new(&z.id.0, z.kind.as_str(), &z.polygon)).collect(),
        place: c.place.clone(),
        followed,
        kinds_of,
    }
}

fn api_state(
    config: &Config,
    metrics: &Metrics,
    live: &Arc<LiveFrames>,
    events: &broadcast::Sender<IssueEvent>,
    verdicts: &shaobing_issues::Verdicts,
) -> anyhow::Result<ApiState> {
    let cameras = config.cameras.iter().map(|c| camera_view(config, c)).collect();
    Ok(ApiState {
        cameras,
        live: LiveFrames::clone(live),
        metrics: metrics.clone(),
        // The API's own connection: WAL lets it read while the store thread writes.
        store: std::sync::Mutex::new(Store::open(&config.daemon.data_dir, &config.daemon.box_id)?),
        readings_db: config.sensors.as_ref().map(|_| config.daemon.data_dir.join(shaobing_sensors::READINGS_DB_FILE)),
        sensors: sensor_views(config),
        events: events.clone(),
        token: config.metrics.access_token.as_ref().map(|t| t.expose().to_string()),
        viewer_token: config.metrics.viewer_token.as_ref().map(|t| t.expose().to_string()),
        verdicts: Some(verdicts.clone()),
        evidence_max_bytes: config.evidence.max_bytes,
        map: config.metrics.map.clone(),
        render: Arc::new(|frame, zones, detections, caption| {
            shaobing_vision::render_live(frame, zones, detections, caption).map_err(|e| e.to_string())
        }),
    })
}
