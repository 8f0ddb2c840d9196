//! Prometheus metrics of the daemon (served by the console's listener, `shaobing-api`).
//!
//! Names follow Prometheus conventions (`shaobing_*_total` counters, `*_seconds` histograms).
//! Label values come only from configuration (camera ids, model names, categories), never from
//! raw input, so cardinality is bounded by the config file.

mod process;

pub use prometheus::{Histogram, IntGauge};

use prometheus::{GaugeVec, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGaugeVec, Opts, Registry};

/// Every metric the daemon exports.
#[derive(Debug, Clone)]
pub struct Metrics {
    pub registry: Registry,
    frames_received: IntCounterVec,
    frames_decoded: IntCounterVec,
    decode_seconds: HistogramVec,
    camera_state: IntGaugeVec,
    down_reasons: DownReasons,
    frames_analysed: IntCounterVec,
    frames_dropped: IntCounterVec,
    key_frames_shed: IntCounterVec,
    analysis_latency: HistogramVec,
    inferences_skipped: IntCounterVec,
    scene_breaks: IntCounterVec,
    camera_up: IntGaugeVec,
    camera_reconnects: IntCounterVec,
    inference_seconds: HistogramVec,
    clips: IntCounterVec,
    preroll_shed: IntCounterVec,
    clip_buffer_bytes: IntGauge,
    issues_emitted: IntCounterVec,
    issues_updated: IntCounterVec,
    verdicts: IntCounterVec,
    rechecks: IntCounterVec,
    overdue: IntCounterVec,
    evidence_bytes: prometheus::IntGaugeVec,
    evidence_orphans: prometheus::IntGaugeVec,
    evidence_purged: prometheus::IntCounter,
    oldest_open: GaugeVec,
    verified_seconds: HistogramVec,
    outbox: [prometheus::IntGauge; 3],
    /// Set once the daemon has loaded its models and opened its stores: `/readyz` answers 200.
    ready: std::sync::Arc<std::sync::atomic::AtomicBool>,
}

/// Counters of one camera, resolved once so the per-frame path does no label look-ups.
#[derive(Debug, Clone)]
pub struct CameraMetrics {
    pub frames_received: IntCounter,
    pub frames_decoded: IntCounter,
    pub frames_analysed: IntCounter,
    pub frames_dropped: IntCounter,
    /// Analysed frames whose inference the motion gate skipped (nothing moved).
    pub inferences_skipped: IntCounter,
    /// Scene breaks after which the camera's temporal evidence started over: `cut`, `gap`.
    pub scene_cuts: IntCounter,
    pub scene_gaps: IntCounter,
    pub decode_seconds: Histogram,
    /// Key frames shed before decoding on a loaded box: `expired` waited past their deadline,
    /// `displaced` gave way to the camera's newer ones.
    pub key_frames_expired: IntCounter,
    pub key_frames_displaced: IntCounter,
    /// From a frame's capture to the end of its analysis.
    pub analysis_latency: Histogram,
    /// Clips written around issues, and those that could not be (no pre-roll, a mux error).
    pub clips_written: IntCounter,
    pub clips_failed: IntCounter,
    /// Pre-roll GOPs dropped early to keep the box within `clips.memory_bytes`.
    pub preroll_shed: IntCounter,
    pub up: IntGauge,
    states: [IntGauge; CameraState::ALL.len()],
    reconnects: IntCounterVec,
    down_reasons: DownReasons,
    camera: String,
}

/// Why each camera last restarted, while it is not streaming: what the console says beside a
/// camera that is down (Prometheus has the counts, by reason, in the reconnect counters).
type DownReasons = std::sync::Arc<std::sync::Mutex<std::collections::HashMap<String, &'static str>>>;

/// Every reason a camera pipeline restarts, the `reason` label of
/// `shaobing_camera_reconnects_total`. Each camera's series start at zero so that dashboards
/// and alerts see them before the first failure.
pub const RECONNECT_REASONS: [&str; 12] = [
    "eos",
    "stalled",
    "unreachable",
    "unauthorized",
    "not_found",
    "unsupported",
    "no_video",
    "bad_stream",
    "start_failed",
    "bus_closed",
    "error",
    "other",
];

/// A camera's life, after gst-plugins-rs' fallbacksrc: one gauge per state, 1 for the
/// current one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CameraState {
    Connecting,
    Streaming,
    Retrying,
    Stopped,
}

impl CameraState {
    pub const ALL: [CameraState; 4] =
        [CameraState::Connecting, CameraState::Streaming, CameraState::Retrying, CameraState::Stopped];

    pub fn as_str(self) -> &'static str {
        match self {
            CameraState::Connecting => "connecting",
            CameraState::Streaming => "streaming",
            CameraState::Retrying => "retrying",
            CameraState::Stopped => "stopped",
        }
    }
}

impl CameraMetrics {
    /// Counts a reconnection; a reason outside [`RECONNECT_REASONS`] counts as `other`, so
    /// the label set stays what dashboards expect.
    pub fn reconnected(&self, reason: &'static str) {
        let reason = if RECONNECT_REASONS.contains(&reason) { reason } else { "other" };
        self.reconnects.with_label_values(&[self.camera.as_str(), reason]).inc();
        self.reasons().insert(self.camera.clone(), reason);
    }

    /// Why the camera last restarted, while it is not streaming.
    pub fn down_reason(&self) -> Option<&'static str> {
        self.reasons().get(&self.camera).copied()
    }

    fn reasons(&self) -> std::sync::MutexGuard<'_, std::collections::HashMap<String, &'static str>> {
        self.down_reasons.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    pub fn reconnects(&self, reason: &'static str) -> u64 {
        self.reconnects.with_label_values(&[self.camera.as_str(), reason]).get()
    }

    pub fn set_state(&self, state: CameraState) {
        for (gauge, s) in self.states.iter().zip(CameraState::ALL) {
            gauge.set(i64::from(s == state));
        }
        if state == CameraState::Streaming {
            self.reasons().remove(&self.camera);
        }
    }

    pub fn state(&self) -> Option<CameraState> {
        self.states.iter().zip(CameraState::ALL).find(|(g, _)| g.get() == 1).map(|(_, s)| s)
    }
}

// Decoding one frame takes from 1 ms (a small H.264 frame) to 50 ms (4K HEVC on a small CPU).
const DECODE_BUCKETS: &[f64] = &[0.001, 0.002, 0.005, 0.01, 0.02, 0.035, 0.05, 0.1, 0.25];

// A frame is analysed within a second on an idle box; a loaded one queues key frames for up
// to their deadline (a few seconds) before they are shed.
const LATENCY_BUCKETS: &[f64] = &[0.05, 0.1, 0.25, 0.5, 1.0, 1.5, 2.0, 3.0, 5.0, 10.0];

// Inference on a small edge CPU takes 5 ms to 1 s; these buckets resolve that range.
const INFERENCE_BUCKETS: &[f64] = &[0.005, 0.01, 0.02, 0.035, 0.05, 0.075, 0.1, 0.15, 0.25, 0.5, 1.0, 2.5];

#[allow(clippy::expect_used)] // static definitions: a failure is a programming error
fn int_gauge_vec(registry: &Registry, name: &str, help: &str, labels: &[&str]) -> prometheus::IntGaugeVec {
    let g = prometheus::IntGaugeVec::new(Opts::new(name, help), labels).expect("static metric definition");
    registry.register(Box::new(g.clone())).expect("metric registered once");
    g
}

#[allow(clippy::expect_used)] // static definitions: a failure is a programming error
fn counter_vec(registry: &Registry, name: &str, help: &str, labels: &[&str]) -> IntCounterVec {
    let c = IntCounterVec::new(Opts::new(name, help), labels).expect("static metric definition");
    registry.register(Box::new(c.clone())).expect("metric registered once");
    c
}

#[allow(clippy::expect_used)] // static definitions: a failure is a programming error
fn histogram_vec(registry: &Registry, name: &str, help: &str, buckets: &[f64], labels: &[&str]) -> HistogramVec {
    let h = HistogramVec::new(HistogramOpts::new(name, help).buckets(buckets.to_vec()), labels)
        .expect("static metric definition");
    registry.register(Box::new(h.clone())).expect("metric registered once");
    h
}

#[allow(clippy::expect_used)] // static definitions: a failure is a programming error
fn gauge_vec(registry: &Registry, name: &str, help: &str) -> GaugeVec {
    let g = GaugeVec::new(Opts::new(name, help), &["department", "category"]).expect("static metric definition");
    registry.register(Box::new(g.clone())).expect("metric registered once");
    g
}

#[allow(clippy::expect_used)] // static definitions: a failure is a programming error
fn int_gauge(registry: &Registry, name: &str, help: &str) -> IntGauge {
    let g = IntGauge::new(name, help).expect("static metric definition");
    registry.register(Box::new(g.clone())).expect("metric registered once");
    g
}

/// One department's oldest open issue of one category, as the supervision gauge shows it.
#[derive(Debug, Clone, PartialEq)]
pub struct Supervision {
    pub department: String,
    pub category: String,
    pub oldest_open_secs: Option<f64>,
}

/// Time to verified resolution: a quarter of an hour to a month, where the seed's deadlines lie
/// (fire within the hour, a stall within the day, a repair within the week).
const VERIFIED_BUCKETS: [f64; 11] =
    [900.0, 3600.0, 7200.0, 14_400.0, 28_800.0, 86_400.0, 172_800.0, 259_200.0, 604_800.0, 1_209_600.0, 2_592_000.0];

impl Metrics {
    #[allow(clippy::expect_used)] // static definitions: a failure is a programming error
    pub fn new() -> Self {
        Self::with_registry(Registry::new())
    }

    /// Every series carries `box="<box_id>"`: camera and sensor ids are unique per box only,
    /// so a district's dashboards tell boxes apart by it. Also exports the build and the
    /// process figures.
    #[allow(clippy::expect_used)] // static definitions: a failure is a programming error
    pub fn for_box(box_id: &str) -> Self {
        let labels = std::collections::HashMap::from([("box".to_string(), box_id.to_string())]);
        let metrics = Self::with_registry(Registry::new_custom(None, Some(labels)).expect("a valid label"));
        let build = IntGaugeVec::new(
            Opts::new("shaobing_build_info", "1, labelled with the running build's version."),
            &["version"],
        )
        .expect("static metric definition");
        build.with_label_values(&[env!("CARGO_PKG_VERSION")]).set(1);
        metrics.registry.register(Box::new(build)).expect("metric registered once");
        metrics.registry.register(Box::new(process::ProcessCollector::new())).expect("metric registered once");
        metrics
    }

    #[allow(clippy::expect_used)] // static definitions: a failure is a programming error
    fn with_registry(registry: Registry) -> Self {
        let r = &registry;
        let camera_up = IntGaugeVec::new(
            Opts::new("shaobing_camera_up", "1 while the camera streams (frames decoded, or key frames reaching the decoders; see shaobing_key_frames_shed_total), 0 otherwise."),
            &["camera"],
        )
        .expect("static metric definition");
        registry.register(Box::new(camera_up.clone())).expect("metric registered once");
        let camera_state = IntGaugeVec::new(
            Opts::new(
                "shaobing_camera_state",
                "1 for the camera's current state (connecting, streaming, retrying, stopped).",
            ),
            &["camera", "state"],
        )
        .expect("static metric definition");
        registry.register(Box::new(camera_state.clone())).expect("metric registered once");
        let decode_seconds = histogram_vec(
            r,
            "shaobing_decode_seconds",
            "Time from a frame entering the decoder to leaving it.",
            DECODE_BUCKETS,
            &["camera"],
        );
        let inference_seconds = histogram_vec(
            r,
            "shaobing_inference_seconds",
            "Time of one model inference, pre- and post-processing included.",
            INFERENCE_BUCKETS,
            &["model"],
        );
        let analysis_latency = histogram_vec(
            r,
            "shaobing_analysis_latency_seconds",
            "Time from a frame's capture to the end of its analysis, queueing for the decoders included.",
            LATENCY_BUCKETS,
            &["camera"],
        );
        Self {
            frames_received: counter_vec(
                r,
                "shaobing_frames_received_total",
                "Compressed frames received from the camera.",
                &["camera"],
            ),
            frames_decoded: counter_vec(
                r,
                "shaobing_frames_decoded_total",
                "Frames decoded from the camera stream.",
                &["camera"],
            ),
            frames_analysed: counter_vec(
                r,
                "shaobing_frames_analysed_total",
                "Frames handed to analysis: motion gate, detectors and rules.",
                &["camera"],
            ),
            frames_dropped: counter_vec(
                r,
                "shaobing_frames_dropped_total",
                "Decoded frames not analysed: not due at the analysis rate, or replaced by a newer one.",
                &["camera"],
            ),
            key_frames_shed: counter_vec(
                r,
                "shaobing_key_frames_shed_total",
                "Key frames shed before decoding: waited past their deadline (expired) or gave way to the camera's newer ones (displaced).",
                &["camera", "reason"],
            ),
            inferences_skipped: counter_vec(
                r,
                "shaobing_inferences_skipped_total",
                "Analysed frames on which the motion gate skipped inference because nothing moved.",
                &["camera"],
            ),
            scene_breaks: counter_vec(
                r,
                "shaobing_scene_breaks_total",
                "Scene breaks after which background models, trackers and still clocks started over: a cut (the picture changed as a whole) or a gap (too long since the previous analysed frame).",
                &["camera", "kind"],
            ),
            camera_reconnects: counter_vec(
                r,
                "shaobing_camera_reconnects_total",
                "Camera pipeline restarts, by reason code.",
                &["camera", "reason"],
            ),
            clips: counter_vec(
                r,
                "shaobing_clips_total",
                "Video clips around issues: written (attached as evidence) or failed (no pre-roll, a mux error).",
                &["camera", "outcome"],
            ),
            preroll_shed: counter_vec(
                r,
                "shaobing_clip_preroll_shed_total",
                "Pre-roll GOPs dropped before their time to keep the box within clips.memory_bytes.",
                &["camera"],
            ),
            clip_buffer_bytes: int_gauge(
                r,
                "shaobing_clip_buffer_bytes",
                "Compressed video held for clips (pre-roll and clips being gathered), all cameras.",
            ),
            issues_emitted: counter_vec(
                r,
                "shaobing_issues_emitted_total",
                "New candidate issues filed into the problem database.",
                &["category", "priority"],
            ),
            issues_updated: counter_vec(
                r,
                "shaobing_issue_occurrences_total",
                "Occurrences folded into an already open issue.",
                &["category"],
            ),
            verdicts: counter_vec(
                r,
                "shaobing_verdicts_total",
                "Verdicts people gave on issues, by the camera or sensor that raised the issue, its category and the verdict.",
                &["source", "category", "verdict"],
            ),
            evidence_bytes: int_gauge_vec(
                r,
                "shaobing_evidence_bytes",
                "Bytes of evidence kept on disk, by category.",
                &["category"],
            ),
            evidence_orphans: int_gauge_vec(
                r,
                "shaobing_evidence_orphans",
                "What the start-up audit found: evidence files without a row, rows whose file is missing.",
                &["kind"],
            ),
            evidence_purged: {
                let c = prometheus::IntCounter::new(
                    "shaobing_evidence_purged_bytes_total",
                    "Bytes of evidence of closed issues deleted by retention (age or evidence.max_bytes).",
                )
                .expect("static metric definition");
                r.register(Box::new(c.clone())).expect("metric registered once");
                c
            },
            rechecks: counter_vec(
                r,
                "shaobing_issue_rechecks_total",
                "Issues marked handled that their camera or sensor then verified (seen gone) or reopened (still there).",
                &["category", "outcome"],
            ),
            overdue: counter_vec(
                r,
                "shaobing_issues_overdue_total",
                "Deadlines missed (a response or a resolution not given in time): each moved its issue up a tier.",
                &["department", "category"],
            ),
            oldest_open: gauge_vec(r, "shaobing_issue_oldest_open_seconds", "Age of the oldest issue still open."),
            verified_seconds: {
                let opts = HistogramOpts::new(
                    "shaobing_issue_verified_seconds",
                    "Time from an issue's creation to its verified resolution (督办), per verification.",
                )
                .buckets(VERIFIED_BUCKETS.to_vec());
                let h = HistogramVec::new(opts, &["department", "category"]).expect("static metric definition");
                r.register(Box::new(h.clone())).expect("metric registered once");
                h
            },
            ready: Default::default(),
            outbox: [
                int_gauge(r, "shaobing_outbox_rows", "Rows waiting in the outbox for the central database."),
                int_gauge(r, "shaobing_outbox_bytes", "Bytes waiting in the outbox for the central database."),
                int_gauge(r, "shaobing_outbox_dead_letters", "Rows the central database rejected, kept aside."),
            ],
            camera_up,
            camera_state,
            down_reasons: DownReasons::default(),
            decode_seconds,
            analysis_latency,
            inference_seconds,
            registry,
        }
    }

    pub fn camera(&self, camera: &str) -> CameraMetrics {
        for reason in RECONNECT_REASONS {
            self.camera_reconnects.with_label_values(&[camera, reason]);
        }
        CameraMetrics {
            frames_received: self.frames_received.with_label_values(&[camera]),
            frames_decoded: self.frames_decoded.with_label_values(&[camera]),
            frames_analysed: self.frames_analysed.with_label_values(&[camera]),
            frames_dropped: self.frames_dropped.with_label_values(&[camera]),
            inferences_skipped: self.inferences_skipped.with_label_values(&[camera]),
            scene_cuts: self.scene_breaks.with_label_values(&[camera, "cut"]),
            scene_gaps: self.scene_breaks.with_label_values(&[camera, "gap"]),
            decode_seconds: self.decode_seconds.with_label_values(&[camera]),
            key_frames_expired: self.key_frames_shed.with_label_values(&[camera, "expired"]),
            key_frames_displaced: self.key_frames_shed.with_label_values(&[camera, "displaced"]),
            analysis_latency: self.analysis_latency.with_label_values(&[camera]),
            clips_written: self.clips.with_label_values(&[camera, "written"]),
            clips_failed: self.clips.with_label_values(&[camera, "failed"]),
            preroll_shed: self.preroll_shed.with_label_values(&[camera]),
            up: self.camera_up.with_label_values(&[camera]),
            states: CameraState::ALL.map(|s| self.camera_state.with_label_values(&[camera, s.as_str()])),
            reconnects: self.camera_reconnects.clone(),
            down_reasons: self.down_reasons.clone(),
            camera: camera.to_string(),
        }
    }

    /// The box-wide gauge of compressed video held for clips.
    pub fn clip_buffer_bytes(&self) -> IntGauge {
        self.clip_buffer_bytes.clone()
    }

    pub fn inference(&self, model: &str) -> Histogram {
        self.inference_seconds.with_label_values(&[model])
    }

    /// Starts the issue series of `categories` at zero, so they exist before the first issue.
    pub fn init_issue_series<'a>(&self, categories: impl IntoIterator<Item = &'a str>) {
        for category in categories {
            for priority in ["routine", "emergency"] {
                self.issues_emitted.with_label_values(&[category, priority]);
            }
            self.issues_updated.with_label_values(&[category]);
        }
    }

    pub fn issue_emitted(&self, category: &str, priority: &str) {
        self.issues_emitted.with_label_values(&[category, priority]).inc();
    }

    /// Issues filed so far, every category and priority.
    pub fn issues_emitted_total(&self) -> u64 {
        use prometheus::core::Collector;
        self.issues_emitted
            .collect()
            .iter()
            .flat_map(|f| f.get_metric())
            .map(|m| m.get_counter().get_value() as u64)
            .sum()
    }

    pub fn issue_updated(&self, category: &str) {
        self.issues_updated.with_label_values(&[category]).inc();
    }

    /// Replaces the evidence-on-disk figures.
    pub fn set_evidence_bytes(&self, by_category: &[(String, u64)]) {
        self.evidence_bytes.reset();
        for (category, bytes) in by_category {
            self.evidence_bytes.with_label_values(&[category]).set(i64::try_from(*bytes).unwrap_or(i64::MAX));
        }
    }

    pub fn set_evidence_orphans(&self, files_without_row: usize, rows_without_file: usize) {
        self.evidence_orphans.with_label_values(&["file_without_row"]).set(files_without_row as i64);
        self.evidence_orphans.with_label_values(&["row_without_file"]).set(rows_without_file as i64);
    }

    pub fn evidence_purged(&self, bytes: u64) {
        self.evidence_purged.inc_by(bytes);
    }

    pub fn recheck(&self, category: &str, outcome: &str) {
        self.rechecks.with_label_values(&[category, outcome]).inc();
    }

    pub fn overdue(&self, department: &str, category: &str) {
        self.overdue.with_label_values(&[department, category]).inc();
    }

    pub fn verdict(&self, source: &str, category: &str, verdict: &str) {
        self.verdicts.with_label_values(&[source, category, verdict]).inc();
    }

    /// Replaces the supervision gauges with `figures` (departments come from the configured
    /// responsibility map, so the label set stays bounded).
    pub fn set_supervision(&self, figures: &[Supervision]) {
        self.oldest_open.reset();
        for f in figures {
            if let Some(v) = f.oldest_open_secs {
                self.oldest_open.with_label_values(&[f.department.as_str(), f.category.as_str()]).set(v);
            }
        }
    }

    /// Creates the time-to-verified series of each (department, category) pair at zero, so a
    /// dashboard finds them before the first verification.
    pub fn init_verified_series<'a>(&self, pairs: impl IntoIterator<Item = (&'a str, &'a str)>) {
        for (department, category) in pairs {
            self.verified_seconds.with_label_values(&[department, category]);
        }
    }

    /// An issue of `category` was verified `secs` after it was created.
    pub fn issue_verified(&self, department: &str, category: &str, secs: f64) {
        self.verified_seconds.with_label_values(&[department, category]).observe(secs);
    }

    /// The outbox's backlog (rows, bytes) and its dead letters, as last read from the store.
    pub fn set_outbox(&self, rows: i64, bytes: i64, dead_letters: i64) {
        for (g, v) in self.outbox.iter().zip([rows, bytes, dead_letters]) {
            g.set(v);
        }
    }

    pub fn set_ready(&self, ready: bool) {
        self.ready.store(ready, std::sync::atomic::Ordering::SeqCst);
    }

    pub fn is_ready(&self) -> bool {
        self.ready.load(std::sync::atomic::Ordering::SeqCst)
    }

    /// Whether any source delivers: a camera up or the sensors' broker connected, or no
    /// source configured at all. A box with every source down is alive but useless.
    pub fn any_source_up(&self) -> bool {
        let families = self.registry.gather();
        let sources: Vec<_> = families
            .iter()
            .filter(|f| matches!(f.name(), "shaobing_camera_up" | "shaobing_mqtt_connected"))
            .flat_map(|f| f.get_metric())
            .collect();
        sources.is_empty() || sources.iter().any(|m| m.get_gauge().get_value() > 0.0)
    }

    /// The text exposition format, as served on `/metrics`.
    pub fn render(&self) -> String {
        let mut out = String::new();
        let encoder = prometheus::TextEncoder::new();
        if let Err(e) = encoder.encode_utf8(&self.registry.gather(), &mut out) {
            tracing::warn!(error = %e, "cannot encode metrics");
        }
        out
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn supervision_gauges_are_replaced_not_accumulated() {
        let m = Metrics::new();
        let f = |dept: &str, oldest| Supervision {
            department: dept.into(),
            category: "illegal_parking".into(),
            oldest_open_secs: oldest,
        };
        m.set_supervision(&[f("交通支队", Some(3600.0)), f("城管", None)]);
        let text = m.render();
        assert!(
            text.contains(
                "shaobing_issue_oldest_open_seconds{category=\"illegal_parking\",department=\"交通支队\"} 3600"
            )
        );
        assert!(!text.contains("department=\"城管\""), "no figure, no sample");
        m.set_supervision(&[f("城管", Some(10.0))]);
        assert!(!m.render().contains("交通支队"), "departments without issues disappear");
    }

    #[test]
    fn verifications_are_a_histogram_per_department_and_category() {
        let m = Metrics::new();
        m.init_verified_series([("城管", "street_vending")]);
        assert!(
            m.render()
                .contains("shaobing_issue_verified_seconds_count{category=\"street_vending\",department=\"城管\"} 0")
        );
        m.issue_verified("城管", "street_vending", 5400.0);
        m.issue_verified("城管", "street_vending", 600.0);
        let text = m.render();
        let bucket = |le: &str| {
            format!(
                "shaobing_issue_verified_seconds_bucket{{category=\"street_vending\",department=\"城管\",le=\"{le}\"}}"
            )
        };
        assert!(text.contains(&format!("{} 1", bucket("900"))), "{text}");
        assert!(text.contains(&format!("{} 2", bucket("7200"))), "{text}");
        assert!(
            text.contains("shaobing_issue_verified_seconds_sum{category=\"street_vending\",department=\"城管\"} 6000")
        );
    }
    #[test]
    fn names_and_labels_render() {
        let m = Metrics::new();
        let cam = m.camera("gate-1");
        cam.frames_decoded.inc_by(3);
        cam.up.set(1);
        cam.reconnected("eos");
        cam.set_state(CameraState::Retrying);
        assert_eq!(m.camera("gate-1").down_reason(), Some("eos"), "the reason, whichever handle asks");
        m.camera("gate-1").set_state(CameraState::Streaming);
        assert_eq!(cam.down_reason(), None, "streaming again");
        cam.set_state(CameraState::Retrying);
        m.inference("centernet").observe(0.03);
        m.issue_emitted("illegal_parking", "routine");
        let text = m.render();
        for needle in [
            "shaobing_frames_decoded_total{camera=\"gate-1\"} 3",
            "shaobing_camera_up{camera=\"gate-1\"} 1",
            "shaobing_camera_reconnects_total{camera=\"gate-1\",reason=\"eos\"} 1",
            "shaobing_camera_state{camera=\"gate-1\",state=\"retrying\"} 1",
            "shaobing_camera_state{camera=\"gate-1\",state=\"streaming\"} 0",
            "shaobing_inference_seconds_bucket{model=\"centernet\",le=\"0.035\"} 1",
            "shaobing_issues_emitted_total{category=\"illegal_parking\",priority=\"routine\"} 1",
        ] {
            assert!(text.contains(needle), "missing `{needle}` in\n{text}");
        }
    }
}
