//! Everything `run` loads from disk before it starts work, loaded the same way by
//! `check-config`: a configuration that passes the check starts, and one that does not names
//! the key at fault, with the same exit code (2) from both commands.

use shaobing_analysis::Models;
use shaobing_config::{Config, ConfigError};
use shaobing_detect::{DetectError, Manifest, Runtime};
use std::path::Path;

/// A configuration with its runtime and models loaded: ready to start.
#[derive(Debug)]
pub struct Prepared {
    pub config: Config,
    pub runtime: Runtime,
    pub models: Models,
}

impl Prepared {
    /// Reads and validates `path`, then loads what it refers to.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        Self::from_config(Config::load(path)?)
    }

    /// Loads the ONNX Runtime library, the model manifest, every model a camera names
    /// (checksums included) and the files the broker connection reads.
    pub fn from_config(config: Config) -> Result<Self, ConfigError> {
        shaobing_core::set_box_zone(config.daemon.utc_offset);
        let runtime = Runtime::load(&config.runtime).map_err(|e| at(runtime_key(&e), e))?;
        let manifest_path = shaobing_detect::manifest_path(config.models.manifest.as_deref());
        let manifest = Manifest::load(&manifest_path).map_err(|e| at("models.manifest", e))?;
        let workers = config.runtime.inference_workers;
        let models = Models::load(&runtime, &manifest, &config.cameras, workers)
            .map_err(|e| at(format!("cameras[{}].models", e.camera), e))?;
        if let Some(mqtt) = &config.mqtt {
            shaobing_mqtt::preflight(mqtt).map_err(mqtt_error)?;
        }
        Ok(Self { config, runtime, models })
    }
}

fn at(key: impl Into<String>, error: impl std::fmt::Display) -> ConfigError {
    ConfigError::invalid(key, error.to_string())
}

fn runtime_key(e: &DetectError) -> &'static str {
    match e {
        DetectError::RuntimeMissing { .. } | DetectError::RuntimeLoad { .. } => "runtime.onnxruntime_path",
        _ => "runtime",
    }
}

fn mqtt_error(e: shaobing_mqtt::MqttError) -> ConfigError {
    use shaobing_mqtt::MqttError;
    match e {
        MqttError::Config(c) => ConfigError::invalid(c.key, c.message),
        MqttError::Tls { path, message } => at("mqtt.tls.ca_file", format!("{}: {message}", path.display())),
        MqttError::Metrics(e) => at("mqtt", e),
    }
}
