//! Configuration of the shaobing daemon.
//!
//! Every key is documented where it is declared. Unknown keys are rejected (a typo must not
//! silently fall back to a default), and semantic checks name the key they reject and say what
//! is expected, e.g. ``cameras[1].analysis_fps: expected frames per second in (0, 30], got 0``.
//! Relative paths are resolved against the directory of the configuration file.

mod keys;
mod responsibility;

pub use responsibility::{ResponsibilityEntry, default_responsibility};

use serde::Deserialize;
use shaobing_core::Category;
use std::collections::{BTreeMap, BTreeSet};
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
    /// The value at `key` is wrong, for `message`'s reason.
    pub fn invalid(key: impl Into<String>, message: impl Into<String>) -> Self {
        ConfigError::Invalid { key: key.into(), message: message.into() }
    }
}

/// The whole configuration file.
#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Identity of this edge box and where it keeps its data.
    #[serde(default)]
    pub daemon: DaemonConfig,
    /// Where the ONNX Runtime library is and how many threads inference may use.
    #[serde(default)]
    pub runtime: shaobing_detect::RuntimeConfig,
    /// The Prometheus endpoint.
    #[serde(default)]
    pub metrics: shaobing_api::ConsoleConfig,
    /// The model manifest (models/manifest.toml in the repository).
    #[serde(default)]
    pub models: shaobing_detect::ModelsConfig,
    /// The cameras this box watches.
    #[serde(default)]
    pub cameras: Vec<shaobing_analysis::CameraConfig>,
    /// Thresholds of the hazard rules.
    #[serde(default)]
    pub rules: shaobing_rules::RulesConfig,
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
    /// How long evidence of closed issues is kept, and how much evidence at most.
    #[serde(default)]
    pub evidence: shaobing_store::EvidenceConfig,
    /// A video clip around every camera issue, cut from the compressed stream.
    #[serde(default)]
    pub clips: shaobing_camera::ClipsConfig,
    /// Category -> responsible department, escalation tier and resolution path. Copied into
    /// each issue when it is created. Categories left out keep the built-in entry.
    #[serde(default)]
    pub responsibility: BTreeMap<Category, ResponsibilityEntry>,
}

#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DaemonConfig {
    /// Identifier of this edge box; part of every issue id so ids stay unique across boxes.
    #[serde(default = "default_box_id")]
    pub box_id: String,
    /// Directory for the problem database (`shaobing.sqlite3`) and evidence snapshots.
    #[serde(default = "default_data_dir")]
    pub data_dir: PathBuf,
    /// Days a dismissed candidate's place and category (its dedup key on that camera or
    /// sensor) are not filed again; the console and `shaobing issues unsuppress` lift one
    /// earlier. 0 turns the suppression off.
    #[serde(default = "default_dismissed_suppress_days")]
    pub dismissed_suppress_days: f64,
    /// Seconds an issue marked handled is watched by the camera or sensor that raised it:
    /// seen gone (or not seen for this long) verifies it, still seen this long after the
    /// verdict reopens it to its department.
    #[serde(default = "default_verify_secs")]
    pub verify_secs: u64,
    /// The box's clock, as an offset from UTC (`+08:00`, `-03:30`): the times on the console,
    /// the evidence captions and the command line, and the zones' and rules' permitted hours
    /// (`exempt`). Beijing time by default; the console names the zone beside its times.
    #[serde(default = "default_utc_offset")]
    pub utc_offset: shaobing_core::UtcOffset,
}

fn default_utc_offset() -> shaobing_core::UtcOffset {
    shaobing_core::UtcOffset::CHINA
}

fn default_verify_secs() -> u64 {
    60
}

fn default_dismissed_suppress_days() -> f64 {
    7.0
}

fn default_box_id() -> String {
    "shaobing-edge".into()
}

fn default_data_dir() -> PathBuf {
    PathBuf::from("var")
}

impl Default for DaemonConfig {
    fn default() -> Self {
        Self {
            box_id: default_box_id(),
            data_dir: default_data_dir(),
            dismissed_suppress_days: default_dismissed_suppress_days(),
            verify_secs: default_verify_secs(),
            utc_offset: default_utc_offset(),
        }
    }
}

impl DaemonConfig {
    /// How long a dismissal suppresses its place and category.
    pub fn dismissed_suppress_secs(&self) -> u64 {
        (self.dismissed_suppress_days * 86_400.0).round() as u64
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
        let parse_error =
            |e: toml::de::Error| ConfigError::Parse { path: origin.to_path_buf(), message: located(&e, text) };
        let raw: toml::Value = toml::from_str(text).map_err(parse_error)?;
        if raw.as_table().is_some_and(toml::Table::is_empty) {
            // Every key has a default, so an empty file would start a box that watches nothing;
            // it is far likelier a file that was truncated or never written.
            let message = "the file is empty (no keys); start from deploy/shaobing.example.toml".to_string();
            return Err(ConfigError::Parse { path: origin.to_path_buf(), message });
        }
        let schema = serde_json::to_value(schemars::schema_for!(Config)).unwrap_or_default();
        if let Some(p) = keys::first_problem(&raw, &schema).or_else(|| keys::unreadable_secret_file(&raw, "")) {
            let message = format!("{}: {}", p.key, p.message);
            return Err(ConfigError::Parse { path: origin.to_path_buf(), message });
        }
        // From the text again, not the parsed value: serde's own errors then carry line and
        // column.
        let config: Config = toml::from_str(text).map_err(parse_error)?;
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
        let days = self.daemon.dismissed_suppress_days;
        if !(days.is_finite() && (0.0..=3650.0).contains(&days)) {
            return Err(ConfigError::invalid(
                "daemon.dismissed_suppress_days",
                format!("expected 0 to 3650 days, got {days}"),
            ));
        }
        let mut seen = BTreeSet::new();
        for (i, camera) in self.cameras.iter().enumerate() {
            let key = format!("cameras[{i}]");
            camera.validate(&key).map_err(|e| ConfigError::invalid(e.key, e.message))?;
            if !seen.insert(camera.id.as_str()) {
                return Err(ConfigError::invalid(
                    format!("{key}.id"),
                    format!("camera id `{}` is used twice; ids must be unique", camera.id),
                ));
            }
        }
        self.rules.validate().map_err(|e| ConfigError::invalid(e.key, e.message))?;
        self.clips.validate().map_err(|e| ConfigError::invalid(e.key, e.message))?;
        self.validate_fire_window()?;
        self.metrics.validate().map_err(|e| ConfigError::invalid(e.key, e.message))?;
        if let Some(central) = &self.central {
            central.validate().map_err(|e| ConfigError::invalid(e.key, e.message))?;
        }
        self.validate_mqtt()?;
        for (category, entry) in &self.responsibility {
            entry.validate(&format!("responsibility.{category}"))?;
        }
        Ok(())
    }

    /// The fire rule's window of `confirm_n` analysed frames must be able to spread over
    /// `confirm_min_secs` at every camera's rate, or fire could never be confirmed there.
    fn validate_fire_window(&self) -> Result<(), ConfigError> {
        let fire = &self.rules.fire_smoke;
        if !fire.enabled {
            return Ok(());
        }
        let spans = |fps: f64| (fire.confirm_n.saturating_sub(1)) as f64 / fps;
        let fastest =
            self.cameras.iter().enumerate().max_by(|a, b| a.1.source.analysis_fps.total_cmp(&b.1.source.analysis_fps));
        match fastest {
            Some((i, camera)) if spans(camera.source.analysis_fps) < fire.confirm_min_secs => {
                Err(ConfigError::invalid(
                    "rules.fire_smoke.confirm_min_secs",
                    format!(
                        "{} s cannot be spread over by confirm_n = {} frames at cameras[{i}].analysis_fps = {} \
                     ({:.2} s): raise confirm_n or lower confirm_min_secs",
                        fire.confirm_min_secs,
                        fire.confirm_n,
                        camera.source.analysis_fps,
                        spans(camera.source.analysis_fps)
                    ),
                ))
            }
            _ => Ok(()),
        }
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

    /// What every camera's analysis shares.
    pub fn analysis_setup(&self) -> shaobing_analysis::Setup {
        shaobing_analysis::Setup::new(self.rules.clone(), self.models.clone(), |c| {
            self.responsibility_for(c).to_domain()
        })
    }

    /// The responsibility entry for a category: configured, else built in.
    pub fn responsibility_for(&self, category: Category) -> ResponsibilityEntry {
        match self.responsibility.get(&category) {
            Some(entry) => entry.clone().with_default_deadlines(category),
            None => default_responsibility(category),
        }
    }
}

/// Ids become metric labels, file names and MQTT topic levels: keep them to a safe alphabet.
/// A TOML error as `line L, column C: message`, without the excerpt of the file toml prints:
/// the line at fault may be a `password = …`.
fn located(e: &toml::de::Error, text: &str) -> String {
    let message = e.message().trim_end();
    match e.span() {
        Some(span) => {
            let before = &text[..span.start.min(text.len())];
            let line = before.matches('\n').count() + 1;
            let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
            match key_at(text, line) {
                Some(key) => format!("line {line}, column {column}, `{key}`: {message}"),
                None => format!("line {line}, column {column}: {message}"),
            }
        }
        None => message.to_string(),
    }
}

/// The dotted key set on `line` (1-based), under the table header above it: named without the
/// value, which may be a secret.
fn key_at(text: &str, line: usize) -> Option<String> {
    let lines: Vec<&str> = text.lines().collect();
    let (key, _) = lines.get(line.checked_sub(1)?)?.split_once('=')?;
    let key = key.trim();
    if key.is_empty() || key.starts_with('[') || key.contains('"') && !key.starts_with('"') {
        return None;
    }
    let table = lines[..line - 1].iter().rev().map(|l| l.trim()).find(|l| l.starts_with('['));
    let table = table.map(|t| t.trim_matches(['[', ']']).trim());
    Some(table.map_or_else(|| key.to_string(), |t| format!("{t}.{key}")))
}

pub(crate) fn validate_identifier(key: &str, value: &str) -> Result<(), ConfigError> {
    if shaobing_core::is_identifier(value) {
        Ok(())
    } else {
        Err(ConfigError::invalid(key, format!("expected {}, got `{value}`", shaobing_core::IDENTIFIER_RULE)))
    }
}

#[cfg(test)]
mod tests;
