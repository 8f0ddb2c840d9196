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
    /// Token every path but `/healthz` and `/readyz` requires: as `Authorization: Bearer
    /// <token>` (the API, Prometheus), or as the password of HTTP Basic authentication for
    /// reading (a browser loading the console). At least 12 characters. Required when `listen`
    /// is not a loopback address; never printed.
    #[serde(default)]
    pub access_token: Option<shaobing_core::Secret>,
    /// A second token that may only read (the API, `/metrics`, the console): for wall screens
    /// and staff who watch but do not decide. Verdicts need `access_token`. At least 12
    /// characters, different from `access_token`; needs `access_token`.
    #[serde(default)]
    pub viewer_token: Option<shaobing_core::Secret>,
}

/// Shortest token accepted: guessing 12 random characters over the network is hopeless, and
/// a word someone typed is refused.
const MIN_TOKEN_CHARS: usize = 12;

fn default_metrics_listen() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 9464))
}

impl Default for ConsoleConfig {
    fn default() -> Self {
        Self { listen: default_metrics_listen(), access_token: None, viewer_token: None }
    }
}

impl ConsoleConfig {
    pub fn validate(&self) -> Result<(), ConsoleConfigError> {
        if self.access_token.as_ref().is_some_and(|t| t.expose().trim().len() < MIN_TOKEN_CHARS) {
            // An empty token would otherwise read as "no token": authentication off by accident.
            return Err(ConsoleConfigError {
                key: "metrics.access_token".into(),
                message: format!(
                    "expected at least {MIN_TOKEN_CHARS} characters (e.g. `openssl rand -hex 24`); \
                     remove the key to run without a token on loopback"
                ),
            });
        }
        if let Some(viewer) = &self.viewer_token {
            let problem = if viewer.expose().trim().len() < MIN_TOKEN_CHARS {
                Some(format!("expected at least {MIN_TOKEN_CHARS} characters"))
            } else if self.access_token.is_none() {
                Some("needs metrics.access_token: without it everyone may already do everything".to_string())
            } else if self.access_token.as_ref() == Some(viewer) {
                Some("must differ from metrics.access_token".to_string())
            } else {
                None
            };
            if let Some(message) = problem {
                return Err(ConsoleConfigError { key: "metrics.viewer_token".into(), message });
            }
        }
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
