//! The `[metrics]` section: where the console, its API and `/metrics` listen.

use serde::Deserialize;
use std::net::SocketAddr;

/// A configuration problem in `[metrics]`, pointing at the key.
#[derive(Debug, thiserror::Error)]
#[error("{key}: {message}")]
pub struct ConsoleConfigError {
    pub key: String,
    pub message: String,
}

#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ConsoleConfig {
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

impl Default for ConsoleConfig {
    fn default() -> Self {
        Self { listen: default_metrics_listen(), access_token: None }
    }
}

impl ConsoleConfig {
    pub fn validate(&self) -> Result<(), ConsoleConfigError> {
        if !self.listen.ip().is_loopback() && self.access_token.is_none() {
            return Err(ConsoleConfigError {
                key: "metrics.access_token".into(),
                message: format!(
                    "required when metrics.listen ({}) is not a loopback address: the console API shows the street",
                    self.listen
                ),
            });
        }
        Ok(())
    }
}
