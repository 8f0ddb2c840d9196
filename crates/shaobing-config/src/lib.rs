//! Configuration of the shaobing daemon.
//!
//! Every key is documented where it is declared. Unknown keys are rejected (a typo must not
//! silently fall back to a default), and semantic checks name the key they reject and say what
//! is expected, e.g. ``cameras[1].analysis_fps: expected frames per second in (0, 30], got 0``.
//! Relative paths are resolved against the directory of the configuration file.

mod camera;
mod responsibility;
mod rules;

pub use camera::{AnalysisMode, CameraConfig, MotionGateSettings, OnEos, RtspClient, Transport, ZoneConfig, ZoneKind};

pub use responsibility::{ResponsibilityEntry, default_responsibility};
pub use rules::{DwellRuleSettings, FireRuleSettings, RulesConfig};

use serde::Deserialize;
use shaobing_core::{Category, ObjectKind};
use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

/// A configuration problem, pointing at the key when there is one.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {path}: {source}")]
    Read { path: PathBuf, source: std::io::Error },
    #[error("{path}: {message}")]
    Parse { path: PathBuf, message: String },
    #[error("{key}: {message}")]
    Invalid { key: String, message: String },
}

impl ConfigError {
    pub(crate) fn invalid(key: impl Into<String>, message: impl Into<String>) -> Self {
        ConfigError::Invalid { key: key.into(), message: message.into() }
    }
}

/// The whole configuration file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Identity of this edge box and where it keeps its data.
    #[serde(default)]
    pub daemon: DaemonConfig,
    /// Where the ONNX Runtime library is and how many threads inference may use.
    #[serde(default)]
    pub runtime: RuntimeConfig,
    /// The Prometheus endpoint.
    #[serde(default)]
    pub metrics: MetricsConfig,
    /// The model manifest (models/manifest.toml in the repository).
    #[serde(default)]
    pub models: ModelsConfig,
    /// The cameras this box watches.
    #[serde(default)]
    pub cameras: Vec<CameraConfig>,
    /// Thresholds of the hazard rules.
    #[serde(default)]
    pub rules: RulesConfig,
    /// The district's central PostgreSQL that the box's outbox drains into. Unset: the box
    /// keeps its problem database to itself.
    #[serde(default)]
    pub central: Option<shaobing_sink_postgres::CentralConfig>,
    /// The MQTT broker the sensors publish to; also where this box announces its
    /// availability and publishes issue alerts.
    #[serde(default)]
    pub mqtt: Option<shaobing_mqtt::MqttConfig>,
    /// Traffic-guidance and air-quality sensors: topic mapping, payload decoders, rules.
    /// Needs `[mqtt]`.
    #[serde(default)]
    pub sensors: Option<shaobing_sensors::SensorsConfig>,
    /// How many readings the box keeps (by age, count and size).
    #[serde(default)]
    pub readings: shaobing_sensors::RetentionConfig,
    /// Category -> responsible department, escalation tier and resolution path. Copied into
    /// each issue when it is created. Categories left out keep the built-in entry.
    #[serde(default)]
    pub responsibility: BTreeMap<Category, ResponsibilityEntry>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DaemonConfig {
    /// Identifier of this edge box; part of every issue id so ids stay unique across boxes.
    #[serde(default = "default_box_id")]
    pub box_id: String,
    /// Directory for the problem database (`shaobing.sqlite3`) and evidence snapshots.
    #[serde(default = "default_data_dir")]
    pub data_dir: PathBuf,
}

fn default_box_id() -> String {
    "shaobing-edge".into()
}

fn default_data_dir() -> PathBuf {
    PathBuf::from("var")
}

impl Default for DaemonConfig {
    fn default() -> Self {
        Self { box_id: default_box_id(), data_dir: default_data_dir() }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuntimeConfig {
    /// Path of `libonnxruntime.so`. When unset, the environment variable `SHAOBING_ORT_LIB`
    /// is used, then `.local/onnxruntime/libonnxruntime.so` (installed by scripts/setup.sh).
    #[serde(default)]
    pub onnxruntime_path: Option<PathBuf>,
    /// Threads one inference may use; 0 lets ONNX Runtime choose (one per core).
    #[serde(default)]
    pub intra_threads: usize,
    /// Inference sessions per model, each on its own thread, serving all cameras in arrival
    /// order. One suits a small box; a second lets inference use two cores.
    #[serde(default = "default_inference_workers")]
    pub inference_workers: usize,
    /// Let idle inference threads spin-wait: lower latency on an idle box, stolen CPU on a
    /// box busy decoding many cameras.
    #[serde(default)]
    pub intra_op_spinning: bool,
    /// `cpu`, or `cuda` for an NVIDIA GPU. CUDA needs an ONNX Runtime library built with it
    /// (onnxruntime-gpu); without one the daemon warns once and runs on the CPU.
    #[serde(default)]
    pub execution_provider: ExecutionProviderKind,
    /// GPU index for `cuda`.
    #[serde(default)]
    pub cuda_device: i32,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ExecutionProviderKind {
    #[default]
    Cpu,
    Cuda,
}

fn default_inference_workers() -> usize {
    1
}

impl Default for RuntimeConfig {
    fn default() -> Self {
        Self {
            onnxruntime_path: None,
            intra_threads: 0,
            inference_workers: 1,
            intra_op_spinning: false,
            execution_provider: ExecutionProviderKind::Cpu,
            cuda_device: 0,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MetricsConfig {
    /// Address of the `/metrics` endpoint. Loopback by default: metrics reveal camera ids and
    /// must not be exposed to the street network unless the operator decides so.
    #[serde(default = "default_metrics_listen")]
    pub listen: SocketAddr,
    /// Token the console's JSON API (`/api/...`) requires as `Authorization: Bearer <token>`.
    /// Required when `listen` is not a loopback address; never printed.
    #[serde(default)]
    pub access_token: Option<shaobing_core::Secret>,
}

fn default_metrics_listen() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 9464))
}

impl Default for MetricsConfig {
    fn default() -> Self {
        Self { listen: default_metrics_listen(), access_token: None }
    }
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelsConfig {
    /// Path of the model manifest; models are looked up by name in it. When unset,
    /// `models/manifest.toml` under the working directory, else the one in the source tree
    /// the binary was built from.
    #[serde(default)]
    pub manifest: Option<PathBuf>,
    /// Per model, model class name -> hazard kinds (a kind or a list; `[]` ignores the class).
    /// Classes not listed keep their default kinds: COCO names (`car` is a `vehicle`, `dining
    /// table` a `stall_proxy`), `tricycle`/`awning-tricycle`, `stall`, `fire`/`flame`, `smoke`.
    /// E.g. `[models.class_map.my-stall-model]` with `booth = "stall"`.
    #[serde(default)]
    pub class_map: BTreeMap<String, BTreeMap<String, KindList>>,
}

/// One hazard kind or several.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(try_from = "KindListRepr")]
pub struct KindList(Vec<ObjectKind>);

#[derive(Deserialize)]
#[serde(untagged)]
enum KindListRepr {
    One(String),
    Many(Vec<String>),
}

impl TryFrom<KindListRepr> for KindList {
    type Error = String;
    fn try_from(r: KindListRepr) -> Result<Self, String> {
        let names = match r {
            KindListRepr::One(s) => vec![s],
            KindListRepr::Many(v) => v,
        };
        let kinds = names
            .iter()
            .map(|n| {
                ObjectKind::ALL.into_iter().find(|k| k.as_str() == n).ok_or_else(|| {
                    let known: Vec<&str> = ObjectKind::ALL.iter().map(|k| k.as_str()).collect();
                    format!("unknown hazard kind `{n}`; expected one of {} (or a list of them)", known.join(", "))
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(KindList(kinds))
    }
}

impl KindList {
    pub fn kinds(&self) -> &[ObjectKind] {
        &self.0
    }
}

impl ModelsConfig {
    /// The kinds `class` of `model` means to the rules.
    pub fn kinds_of(&self, model: &str, class: &str) -> Vec<ObjectKind> {
        match self.class_map.get(model).and_then(|m| m.get(class)) {
            Some(list) => list.kinds().to_vec(),
            None => ObjectKind::defaults_for(class).to_vec(),
        }
    }
}

impl Config {
    /// Reads, parses, resolves relative paths against the file's directory and validates.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let text =
            std::fs::read_to_string(path).map_err(|source| ConfigError::Read { path: path.to_path_buf(), source })?;
        let mut config = Self::parse(&text, path)?;
        let base = path.parent().unwrap_or(Path::new("."));
        config.resolve_paths_against(base);
        Ok(config)
    }

    /// Parses and validates without touching the file system; `origin` names the text in errors.
    pub fn parse(text: &str, origin: &Path) -> Result<Self, ConfigError> {
        let config: Config = toml::from_str(text)
            .map_err(|e| ConfigError::Parse { path: origin.to_path_buf(), message: e.to_string() })?;
        config.validate()?;
        Ok(config)
    }

    /// Resolves relative paths against `base` (`load` uses the file's directory).
    pub fn resolve_paths_against(&mut self, base: &Path) {
        let resolve = |p: &mut PathBuf| {
            if p.is_relative() {
                *p = base.join(&*p);
            }
        };
        resolve(&mut self.daemon.data_dir);
        for p in [self.models.manifest.as_mut(), self.runtime.onnxruntime_path.as_mut()].into_iter().flatten() {
            resolve(p);
        }
    }

    pub fn validate(&self) -> Result<(), ConfigError> {
        validate_identifier("daemon.box_id", &self.daemon.box_id)?;
        let mut seen = BTreeSet::new();
        for (i, camera) in self.cameras.iter().enumerate() {
            let key = format!("cameras[{i}]");
            camera.validate(&key)?;
            if !seen.insert(camera.id.as_str()) {
                return Err(ConfigError::invalid(
                    format!("{key}.id"),
                    format!("camera id `{}` is used twice; ids must be unique", camera.id),
                ));
            }
        }
        self.rules.validate()?;
        if !self.metrics.listen.ip().is_loopback() && self.metrics.access_token.is_none() {
            return Err(ConfigError::invalid(
                "metrics.access_token",
                format!(
                    "required when metrics.listen ({}) is not a loopback address: the console API shows the street",
                    self.metrics.listen
                ),
            ));
        }
        if let Some(central) = &self.central {
            central.validate().map_err(|e| ConfigError::invalid(e.key, e.message))?;
        }
        self.validate_mqtt()?;
        for (category, entry) in &self.responsibility {
            entry.validate(&format!("responsibility.{category}"))?;
        }
        Ok(())
    }

    fn validate_mqtt(&self) -> Result<(), ConfigError> {
        if let Some(mqtt) = &self.mqtt {
            mqtt.validate().map_err(|e| ConfigError::invalid(e.key, e.message))?;
        }
        if let Some(sensors) = &self.sensors {
            sensors.validate().map_err(|e| ConfigError::invalid(e.key, e.message))?;
            if self.mqtt.is_none() {
                return Err(ConfigError::invalid("sensors", "sensors need a broker: add an [mqtt] section"));
            }
        }
        Ok(())
    }

    /// The responsibility entry for a category: configured, else built in.
    pub fn responsibility_for(&self, category: Category) -> ResponsibilityEntry {
        self.responsibility.get(&category).cloned().unwrap_or_else(|| default_responsibility(category))
    }
}

/// Ids become metric labels, file names and MQTT topic levels: keep them to a safe alphabet.
pub(crate) fn validate_identifier(key: &str, value: &str) -> Result<(), ConfigError> {
    if shaobing_core::is_identifier(value) {
        Ok(())
    } else {
        Err(ConfigError::invalid(key, format!("expected {}, got `{value}`", shaobing_core::IDENTIFIER_RULE)))
    }
}

#[cfg(test)]
mod tests;
