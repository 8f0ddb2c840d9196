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
    /// The console's map of the box's cameras, sensors and open issues.
    #[serde(default)]
    pub map: MapConfig,
}

/// Where the console's map gets its background. A command centre serves map tiles on its
/// intranet; the internet is not assumed. Without `tiles_url` the map is a plain coordinate
/// grid with the same points on it.
#[derive(Debug, Clone, PartialEq, serde::Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct MapConfig {
    /// An XYZ tile URL template with `{z}`, `{x}` and `{y}` (Leaflet's syntax, `{s}` for
    /// subdomains allowed), e.g. `http://tiles.intranet:8080/{z}/{x}/{y}.png`. The tiles must
    /// be in WGS-84 Web Mercator (EPSG:3857) for points to sit where they are.
    #[serde(default)]
    pub tiles_url: Option<String>,
    /// The tiles' attribution, shown in the map's corner as their licence asks.
    #[serde(default)]
    pub attribution: Option<String>,
    /// The deepest zoom level the tile server has.
    #[serde(default = "default_max_zoom")]
    pub max_zoom: u8,
}

fn default_max_zoom() -> u8 {
    18
}

impl Default for MapConfig {
    fn default() -> Self {
        Self { tiles_url: None, attribution: None, max_zoom: default_max_zoom() }
    }
}

/// Shortest token accepted: guessing 12 random characters over the network is hopeless, and
/// a word someone typed is refused.
const MIN_TOKEN_CHARS: usize = 12;

fn default_metrics_listen() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 9464))
}

impl Default for ConsoleConfig {
    fn default() -> Self {
        Self { listen: default_metrics_listen(), access_token: None, viewer_token: None, map: MapConfig::default() }
    }
}

impl ConsoleConfig {
    pub fn validate(&self) -> Result<(), ConsoleConfigError> {
        self.map.validate()?;
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

impl MapConfig {
    fn validate(&self) -> Result<(), ConsoleConfigError> {
        let problem =
            |key: &str, message: String| Err(ConsoleConfigError { key: format!("metrics.map.{key}"), message });
        if let Some(url) = &self.tiles_url {
            if !(url.starts_with("http://") || url.starts_with("https://") || url.starts_with('/')) {
                return problem("tiles_url", format!("expected an http(s) URL or a path on this box, got `{url}`"));
            }
            if let Some(missing) = ["{z}", "{x}", "{y}"].into_iter().find(|p| !url.contains(p)) {
                return problem(
                    "tiles_url",
                    format!("expected {{z}}, {{x}} and {{y}} in the template; {missing} is missing"),
                );
            }
        }
        if !(1..=24).contains(&self.max_zoom) {
            return problem("max_zoom", format!("expected 1 to 24, got {}", self.max_zoom));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(text: &str) -> Result<(), String> {
        let m: MapConfig = toml::from_str(text).map_err(|e| e.to_string())?;
        m.validate().map_err(|e| e.to_string())
    }

    #[test]
    fn a_tile_template_needs_its_placeholders_and_a_scheme() {
        assert_eq!(map(""), Ok(()));
        assert_eq!(MapConfig::default().validate().map_err(|e| e.to_string()), Ok(()), "no [metrics.map] at all");
        assert_eq!(map("tiles_url = \"http://tiles.intranet/{z}/{x}/{y}.png\""), Ok(()));
        let missing = map("tiles_url = \"http://tiles.intranet/{z}/{x}.png\"").unwrap_err();
        assert!(missing.starts_with("metrics.map.tiles_url:") && missing.contains("{y} is missing"), "{missing}");
        assert!(map("tiles_url = \"ftp://x/{z}/{x}/{y}\"").unwrap_err().contains("http(s)"));
        assert!(map("max_zoom = 30").unwrap_err().starts_with("metrics.map.max_zoom"));
    }
}
