//! The `[[cameras]]` entries: the source, where the camera stands, and what is watched in it.

use serde::Deserialize;
use shaobing_camera::{CameraSpec, SourceConfig};

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
use shaobing_core::{Place, Polygon, ZoneId};

/// One camera. Unknown keys are rejected against the configuration's schema (serde cannot
/// deny them on a struct with flattened blocks).
#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
pub struct CameraConfig {
    /// Identifier, unique on this box; the `camera` label of every metric.
    pub id: String,
    /// Where the stream comes from and how it is received (the camera crate's keys).
    #[serde(flatten)]
    pub source: SourceConfig,
    /// Names of the models in the manifest that analyse this camera (`model = "…"` is
    /// accepted for one). The first is the object detector; add a flame model as a second
    /// fire vote. Each model runs in one shared pool per box, whichever cameras use it.
    #[serde(default = "default_models", alias = "model", deserialize_with = "one_or_many")]
    #[schemars(with = "OneOrMany", extend("x-aliases" = ["model"]))]
    pub models: Vec<String>,
    /// Skip inference while nothing in the picture moves.
    #[serde(default)]
    pub motion_gate: MotionGateSettings,
    /// Where the place the camera watches is.
    #[serde(flatten)]
    pub place: Place,
    /// Zones in the camera's view.
    #[serde(default)]
    pub zones: Vec<ZoneConfig>,
    /// Seconds without a single analysed frame after which the camera itself is filed as a
    /// `device_maintenance` issue (设备故障): a camera that sees nothing sees no fire either.
    /// Resolved by observation when frames come back. 0: never filed.
    #[serde(default = "default_silent_after_secs")]
    pub silent_after_secs: f64,
    /// Run the detectors on the part of the picture the rule zones cover (with a quarter of
    /// their size as margin) rather than the whole frame scaled down: objects in the zones
    /// reach the model several times larger, for the same inference. Models that look for
    /// flame or smoke look, every other time, at the window around the flame-coloured regions
    /// the OpenCV detector follows (at least 30% of the picture's side), and otherwise at the
    /// whole picture. Off: the whole frame for every model.
    #[serde(default = "yes")]
    pub crop_to_zones: bool,
}

fn default_silent_after_secs() -> f64 {
    60.0
}

fn default_models() -> Vec<String> {
    vec!["centernet-mobilenetv3-coco".into()]
}

/// One model name, or several.
#[derive(Deserialize, schemars::JsonSchema)]
#[serde(untagged)]
enum OneOrMany {
    One(String),
    Many(Vec<String>),
}

fn one_or_many<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
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
    /// Inference runs at most this often a second, however much moves, unless a model of the
    /// camera looks for flame or smoke (it then sees every analysed frame). The analysis rate
    /// (`analysis_fps`, 3 by default) is set for fire: the OpenCV fire detector and the scene
    /// watch see every analysed frame, while parking, stalls and tricycles dwell for minutes
    /// and need the detectors about once a second. 0: no cap.
    #[serde(default = "default_max_inference_fps")]
    pub max_inference_fps: f64,
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
fn default_max_inference_fps() -> f64 {
    1.0
}

impl Default for MotionGateSettings {
    fn default() -> Self {
        Self {
            enabled: true,
            min_moving: default_min_moving(),
            recheck_secs: default_recheck_secs(),
            zones_only: true,
            max_inference_fps: default_max_inference_fps(),
        }
    }
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
    /// Hours (`"HH:MM-HH:MM"`, the box's local time: `daemon.utc_offset`) when the zone forbids nothing: a night market
    /// permitted 18:00-22:00, a loading bay 06:00-08:00.
    #[serde(default)]
    pub exempt: Vec<shaobing_rules::TimeWindow>,
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
    /// No bicycles or motorbikes parked here (非机动车乱停放): a fire lane, a blind path.
    NoCycleParking,
    /// Watched for crowds (人群聚集): a square, a subway exit, a narrow pavement.
    CrowdWatch,
    /// Nothing may be left here (乱堆物料, 暴露垃圾): goods, materials, rubbish; a fire lane,
    /// a blind path, a corner where rubbish gets dumped. Found without a class model.
    NoClutter,
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
            ZoneKind::NoCycleParking => "no_cycle_parking",
            ZoneKind::CrowdWatch => "crowd_watch",
            ZoneKind::NoClutter => "no_clutter",
            ZoneKind::Mask => "mask",
        }
    }
}

impl CameraConfig {
    /// What the camera crate runs to receive this camera.
    pub fn spec(&self) -> CameraSpec {
        self.source.spec(shaobing_core::CameraId(self.id.clone()))
    }

    pub fn validate(&self, key: &str) -> Result<(), ConfigError> {
        validate_identifier(&format!("{key}.id"), &self.id)?;
        self.source.validate(key).map_err(|e| ConfigError::invalid(e.key, e.message))?;
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
        if !(self.silent_after_secs.is_finite() && self.silent_after_secs >= 0.0) {
            return Err(ConfigError::invalid(
                format!("{key}.silent_after_secs"),
                format!("expected seconds >= 0, got {}", self.silent_after_secs),
            ));
        }
        if !(g.recheck_secs.is_finite() && (0.1..=3600.0).contains(&g.recheck_secs)) {
            return Err(ConfigError::invalid(
                format!("{key}.motion_gate.recheck_secs"),
                format!("expected seconds in 0.1..=3600, got {}", g.recheck_secs),
            ));
        }
        Ok(())
    }

    fn validate_position(&self, key: &str) -> Result<(), ConfigError> {
        self.place.validate().map_err(|e| ConfigError::invalid(format!("{key}.{}", e.key), e.message))
    }
}
