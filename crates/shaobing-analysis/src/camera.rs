//! The `[[cameras]]` entries: the source, where the camera stands, and what is watched in it.

use serde::Deserialize;
use shaobing_camera::{CameraSpec, RetryPolicy};
use std::time::Duration;

/// A configuration problem in a camera entry, pointing at the key.
#[derive(Debug, thiserror::Error)]
#[error("{key}: {message}")]
pub struct CameraConfigError {
    pub key: String,
    pub message: String,
}

type ConfigError = CameraConfigError;

impl CameraConfigError {
    fn invalid(key: impl Into<String>, message: impl Into<String>) -> Self {
        Self { key: key.into(), message: message.into() }
    }
}

/// Ids become metric labels, file names and MQTT topic levels: keep them to a safe alphabet.
fn validate_identifier(key: &str, value: &str) -> Result<(), ConfigError> {
    if shaobing_core::is_identifier(value) {
        Ok(())
    } else {
        Err(ConfigError::invalid(key, format!("expected {}, got `{value}`", shaobing_core::IDENTIFIER_RULE)))
    }
}
use shaobing_core::{Credentials, Place, Polygon, ZoneId};

/// One camera. Unknown keys are rejected against the configuration's schema (serde cannot
/// deny them on a struct with flattened blocks).
#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
pub struct CameraConfig {
    /// Identifier, unique on this box; the `camera` label of every metric.
    pub id: String,
    /// Any GStreamer URI: `rtsp://`, `file://`, `http://`. Must not embed credentials, so
    /// that URIs can always be logged.
    pub uri: String,
    /// User name and password for the camera (RTSP or HTTP authentication).
    #[serde(flatten)]
    pub credentials: Credentials,
    /// RTSP lower transport. `tcp` survives lossy links and NAT; `udp` has less latency.
    #[serde(default)]
    pub transport: Transport,
    /// Who receives an `rtsp://` camera in `keyframes` mode. `retina`: a Rust RTSP client in
    /// the daemon's own tasks, which hands over only the key frames; about a quarter of the
    /// CPU of GStreamer's rtspsrc per camera (README, Performance). H.264 and H.265 only;
    /// other codecs go to GStreamer by themselves. `gstreamer`: rtspsrc, for a camera that
    /// retina does not get along with. `fps` mode always uses GStreamer.
    #[serde(default)]
    pub rtsp_client: RtspClient,
    /// Names of the models in the manifest that analyse this camera (`model = "…"` is
    /// accepted for one). The first is the object detector; add a flame model as a second
    /// fire vote. Each model runs in one shared pool per box, whichever cameras use it.
    #[serde(default = "default_models", alias = "model", deserialize_with = "one_or_many")]
    #[schemars(extend("x-aliases" = ["model"]))]
    pub models: Vec<String>,
    /// Skip inference while nothing in the picture moves.
    #[serde(default)]
    pub motion_gate: MotionGateSettings,
    /// `keyframes`: only key frames are decoded, one per GOP, on decoders all cameras share
    /// (the cheapest way to watch many cameras); `fps`: decode every frame on the camera's
    /// own decoder, analyse `analysis_fps` a second.
    #[serde(default)]
    pub analysis_mode: AnalysisMode,
    /// Frames analysed per second, at most; others are dropped before colour conversion and
    /// scaling. In `keyframes` mode it caps the key-frame rate.
    #[serde(default = "default_analysis_fps")]
    pub analysis_fps: f64,
    /// Width analysed frames are scaled to (height keeps the aspect ratio); unset keeps the
    /// stream's size. Scaling happens only for analysed frames.
    #[serde(default)]
    pub analysis_width: Option<u32>,
    /// Threads of the camera's video decoder in `fps` mode (key frames use the shared
    /// decoders, one thread each). One is plenty for 1080p at 25 frames/s and keeps memory
    /// per camera low; 0 lets the decoder use one per core (4K).
    #[serde(default = "default_decoder_threads")]
    pub decoder_threads: u32,
    /// First delay before reconnecting after a failure; doubles up to `retry_max_secs`, each
    /// delay drawn from [3/4, 1] of that.
    #[serde(default = "default_retry_initial_secs")]
    pub retry_initial_secs: f64,
    /// Longest delay between reconnection attempts.
    #[serde(default = "default_retry_max_secs")]
    pub retry_max_secs: f64,
    /// Restarts allowed within `restart_window_secs` before the camera waits `retry_max_secs`
    /// between attempts regardless of the backoff (a flapping camera must not eat the CPU).
    #[serde(default = "default_restart_budget")]
    pub restart_budget: u32,
    /// Window of the restart budget.
    #[serde(default = "default_restart_window_secs")]
    pub restart_window_secs: f64,
    /// What to do at end of stream: `restart` (a live camera) or `stop` (a finite clip).
    #[serde(default)]
    pub on_eos: OnEos,
    /// Seconds without a decoded frame after which a playing stream counts as stalled and is
    /// restarted: catches cameras that keep the connection open but stop sending.
    #[serde(default = "default_watchdog_secs")]
    pub watchdog_secs: f64,
    /// Where the place the camera watches is.
    #[serde(flatten)]
    pub place: Place,
    /// Zones in the camera's view.
    #[serde(default)]
    pub zones: Vec<ZoneConfig>,
}

fn default_models() -> Vec<String> {
    vec!["centernet-mobilenetv3-coco".into()]
}

fn one_or_many<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    #[derive(Deserialize, schemars::JsonSchema)]
    #[serde(untagged)]
    enum OneOrMany {
        One(String),
        Many(Vec<String>),
    }
    Ok(match OneOrMany::deserialize(d)? {
        OneOrMany::One(s) => vec![s],
        OneOrMany::Many(v) => v,
    })
}

/// Per-camera background subtraction in front of inference.
#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct MotionGateSettings {
    /// Off runs inference on every analysed frame.
    #[serde(default = "yes")]
    pub enabled: bool,
    /// Fraction of the (unmasked) picture that must change for a frame to count as motion.
    #[serde(default = "default_min_moving")]
    pub min_moving: f32,
    /// Seconds after which inference runs even on a still picture, so stationary objects (a
    /// parked van, a stall) are re-checked and their dwell clocks keep running on real sightings.
    #[serde(default = "default_recheck_secs")]
    pub recheck_secs: f64,
    /// Count only motion inside the camera's rule zones (no_parking, no_vending, no_tricycle)
    /// when none of its models looks for flame or smoke: people crossing the square are no
    /// reason to look again for a van at the kerb. The OpenCV fire detector runs on every
    /// frame regardless. Off: motion anywhere counts.
    #[serde(default = "yes")]
    pub zones_only: bool,
}

fn yes() -> bool {
    true
}
fn default_min_moving() -> f32 {
    0.002
}
fn default_recheck_secs() -> f64 {
    10.0
}

impl Default for MotionGateSettings {
    fn default() -> Self {
        Self { enabled: true, min_moving: default_min_moving(), recheck_secs: default_recheck_secs(), zones_only: true }
    }
}

fn default_analysis_fps() -> f64 {
    1.0
}

fn default_watchdog_secs() -> f64 {
    10.0
}

fn default_decoder_threads() -> u32 {
    1
}

fn default_retry_initial_secs() -> f64 {
    0.5
}

fn default_retry_max_secs() -> f64 {
    30.0
}

fn default_restart_budget() -> u32 {
    5
}

fn default_restart_window_secs() -> f64 {
    60.0
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum AnalysisMode {
    Keyframes,
    #[default]
    Fps,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Transport {
    #[default]
    Tcp,
    Udp,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum RtspClient {
    #[default]
    Retina,
    Gstreamer,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum OnEos {
    #[default]
    Restart,
    Stop,
}

/// A polygon in the camera's view, in normalised coordinates ([0,0] top left, [1,1] bottom
/// right). Objects are judged by the bottom centre of their box.
#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ZoneConfig {
    /// Identifier, unique within the camera.
    pub id: ZoneId,
    /// What the zone forbids.
    pub kind: ZoneKind,
    /// At least three `[x, y]` points in 0..=1.
    pub polygon: Polygon,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ZoneKind {
    /// Motor vehicles must not stay here (机动车乱停放).
    NoParking,
    /// No street vending: stalls must not stay here (占道经营).
    NoVending,
    /// Restricted to tricycles (黑三轮), e.g. a subway exit where they wait for fares.
    NoTricycle,
    /// Ignored: detections standing here, fire seen here and motion here never count (a
    /// private yard, an advertising screen, a flag in the wind).
    Mask,
}

impl ZoneKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ZoneKind::NoParking => "no_parking",
            ZoneKind::NoVending => "no_vending",
            ZoneKind::NoTricycle => "no_tricycle",
            ZoneKind::Mask => "mask",
        }
    }
}

impl CameraConfig {
    /// What the camera crate needs to receive this camera.
    pub fn source(&self) -> CameraSpec {
        let secs = Duration::from_secs_f64;
        CameraSpec {
            id: shaobing_core::CameraId(self.id.clone()),
            uri: self.uri.clone(),
            credentials: self.credentials.pair(),
            rtsp_tcp: self.transport == Transport::Tcp,
            keyframes_only: self.analysis_mode == AnalysisMode::Keyframes,
            native_rtsp: self.rtsp_client == RtspClient::Retina,
            analysis_fps: self.analysis_fps,
            analysis_width: self.analysis_width,
            decoder_threads: self.decoder_threads,
            restart_on_eos: self.on_eos == OnEos::Restart,
            watchdog: secs(self.watchdog_secs),
            retry: RetryPolicy {
                initial: secs(self.retry_initial_secs),
                max: secs(self.retry_max_secs),
                budget: self.restart_budget,
                window: secs(self.restart_window_secs),
            },
        }
    }

    pub fn validate(&self, key: &str) -> Result<(), ConfigError> {
        validate_identifier(&format!("{key}.id"), &self.id)?;
        validate_uri(&format!("{key}.uri"), &self.uri)?;
        let fps = self.analysis_fps;
        if !(fps.is_finite() && fps > 0.0 && fps <= 30.0) {
            return Err(ConfigError::invalid(
                format!("{key}.analysis_fps"),
                format!("expected frames per second in (0, 30], got {fps}"),
            ));
        }
        seconds_in(key, "watchdog_secs", self.watchdog_secs, 1.0, 3600.0)?;
        seconds_in(key, "retry_initial_secs", self.retry_initial_secs, 0.01, 600.0)?;
        seconds_in(key, "retry_max_secs", self.retry_max_secs, self.retry_initial_secs, 3600.0)?;
        seconds_in(key, "restart_window_secs", self.restart_window_secs, 1.0, 86_400.0)?;
        if let Some(w) = self.analysis_width.filter(|w| !(16..=7680).contains(w)) {
            return Err(ConfigError::invalid(
                format!("{key}.analysis_width"),
                format!("expected 16..=7680 pixels, got {w}"),
            ));
        }
        if let Err(e) = self.credentials.validate() {
            return Err(ConfigError::invalid(format!("{key}.{}", e.key), e.message));
        }
        self.validate_position(key)?;
        self.validate_models_and_gate(key)?;
        let mut ids = std::collections::BTreeSet::new();
        for (i, zone) in self.zones.iter().enumerate() {
            let zkey = format!("{key}.zones[{i}].id");
            validate_identifier(&zkey, &zone.id.0)?;
            if !ids.insert(&zone.id) {
                return Err(ConfigError::invalid(zkey, format!("zone id `{}` is used twice", zone.id)));
            }
        }
        Ok(())
    }

    fn validate_models_and_gate(&self, key: &str) -> Result<(), ConfigError> {
        if self.models.is_empty() {
            return Err(ConfigError::invalid(format!("{key}.models"), "expected at least one model name"));
        }
        let g = &self.motion_gate;
        if !(0.0..1.0).contains(&g.min_moving) {
            return Err(ConfigError::invalid(
                format!("{key}.motion_gate.min_moving"),
                format!("expected a fraction in [0, 1), got {}", g.min_moving),
            ));
        }
        seconds_in(&format!("{key}.motion_gate"), "recheck_secs", g.recheck_secs, 0.1, 3600.0)
    }

    fn validate_position(&self, key: &str) -> Result<(), ConfigError> {
        self.place.validate().map_err(|e| ConfigError::invalid(format!("{key}.{}", e.key), e.message))
    }
}

fn seconds_in(key: &str, name: &str, v: f64, lo: f64, hi: f64) -> Result<(), ConfigError> {
    if v.is_finite() && (lo..=hi).contains(&v) {
        Ok(())
    } else {
        Err(ConfigError::invalid(format!("{key}.{name}"), format!("expected seconds in {lo}..={hi}, got {v}")))
    }
}

/// Rejects URIs GStreamer cannot open and URIs that carry credentials: credentials belong in
/// separate secret fields so that a URI can always be logged.
fn validate_uri(key: &str, uri: &str) -> Result<(), ConfigError> {
    let Some((scheme, rest)) = uri.split_once("://") else {
        return Err(ConfigError::invalid(key, format!("expected a URI such as rtsp://host/path, got `{uri}`")));
    };
    let scheme_ok =
        !scheme.is_empty() && scheme.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'));
    if !scheme_ok {
        return Err(ConfigError::invalid(key, format!("`{scheme}` is not a URI scheme")));
    }
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    if authority.contains('@') {
        return Err(ConfigError::invalid(
            key,
            "the URI embeds credentials (user:password@host); put them in the camera's \
             credential fields instead, so the URI can be logged safely",
        ));
    }
    if uri.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(ConfigError::invalid(key, "the URI contains whitespace or control characters"));
    }
    Ok(())
}
