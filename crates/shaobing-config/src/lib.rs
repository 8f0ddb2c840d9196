//! Configuration of the shaobing daemon.
//!
//! Every key is documented where it is declared. Unknown keys are rejected (a typo must not
//! silently fall back to a default), and semantic checks name the key they reject and say what
//! is expected, e.g. ``cameras[1].analysis_fps: expected frames per second in (0, 30], got 0``.
//! Relative paths are resolved against the directory of the configuration file.

mod camera;
mod responsibility;
mod rules;

pub use camera::{AnalysisMode, CameraConfig, OnEos, Transport, ZoneConfig, ZoneKind};
pub use responsibility::{ResponsibilityEntry, default_responsibility};
pub use rules::{IllegalParkingRule, RulesConfig};

use serde::Deserialize;
use shaobing_core::Category;
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

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuntimeConfig {
    /// Path of `libonnxruntime.so`. When unset, the environment variable `SHAOBING_ORT_LIB`
    /// is used, then `.local/onnxruntime/libonnxruntime.so` (installed by scripts/setup.sh).
    #[serde(default)]
    pub onnxruntime_path: Option<PathBuf>,
    /// Threads one inference may use; 0 lets ONNX Runtime choose (one per core).
    #[serde(default)]
    pub intra_threads: usize,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MetricsConfig {
    /// Address of the `/metrics` endpoint. Loopback by default: metrics reveal camera ids and
    /// must not be exposed to the street network unless the operator decides so.
    #[serde(default = "default_metrics_listen")]
    pub listen: SocketAddr,
}

fn default_metrics_listen() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 9464))
}

impl Default for MetricsConfig {
    fn default() -> Self {
        Self { listen: default_metrics_listen() }
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
        for (category, entry) in &self.responsibility {
            entry.validate(&format!("responsibility.{category}"))?;
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
    let ok = !value.is_empty()
        && value.len() <= 64
        && value.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    if ok {
        Ok(())
    } else {
        Err(ConfigError::invalid(
            key,
            format!("expected 1 to 64 characters of a-z, A-Z, 0-9, `-` or `_`, got `{value}`"),
        ))
    }
}

#[cfg(test)]
mod tests;
