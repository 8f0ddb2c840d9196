use crate::ConfigError;
use serde::Deserialize;

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RulesConfig {
    /// 机动车乱停放: a motor vehicle stationary inside a `no_parking` zone.
    #[serde(default)]
    pub illegal_parking: IllegalParkingRule,
}

impl RulesConfig {
    pub(crate) fn validate(&self) -> Result<(), ConfigError> {
        self.illegal_parking.validate("rules.illegal_parking")
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IllegalParkingRule {
    /// Seconds a vehicle must stay stationary inside the zone before an issue is raised.
    #[serde(default = "default_dwell_secs")]
    pub dwell_secs: f64,
    /// Minimum detector score for a vehicle to count.
    #[serde(default = "default_min_score")]
    pub min_score: f32,
    /// Model class names that count as motor vehicles.
    #[serde(default = "default_vehicle_classes")]
    pub vehicle_classes: Vec<String>,
    /// A vehicle is stationary while its box overlaps where it stopped by at least this IoU.
    #[serde(default = "default_stationary_iou")]
    pub stationary_iou: f32,
    /// Seconds a track survives without detections (occlusion, a missed frame) before it is
    /// forgotten; shorter gaps do not restart the dwell clock.
    #[serde(default = "default_track_timeout_secs")]
    pub track_timeout_secs: f64,
}

fn default_dwell_secs() -> f64 {
    300.0
}
fn default_min_score() -> f32 {
    0.3
}
fn default_vehicle_classes() -> Vec<String> {
    ["car", "truck", "bus", "motorcycle"].map(String::from).to_vec()
}
fn default_stationary_iou() -> f32 {
    0.6
}
fn default_track_timeout_secs() -> f64 {
    10.0
}

impl Default for IllegalParkingRule {
    fn default() -> Self {
        Self {
            dwell_secs: default_dwell_secs(),
            min_score: default_min_score(),
            vehicle_classes: default_vehicle_classes(),
            stationary_iou: default_stationary_iou(),
            track_timeout_secs: default_track_timeout_secs(),
        }
    }
}

impl IllegalParkingRule {
    fn validate(&self, key: &str) -> Result<(), ConfigError> {
        let positive = |name: &str, v: f64| {
            if v.is_finite() && v >= 0.0 {
                Ok(())
            } else {
                Err(ConfigError::invalid(format!("{key}.{name}"), format!("expected seconds >= 0, got {v}")))
            }
        };
        positive("dwell_secs", self.dwell_secs)?;
        positive("track_timeout_secs", self.track_timeout_secs)?;
        let unit = |name: &str, v: f32| {
            if (0.0..=1.0).contains(&v) {
                Ok(())
            } else {
                Err(ConfigError::invalid(format!("{key}.{name}"), format!("expected a number in 0..=1, got {v}")))
            }
        };
        unit("min_score", self.min_score)?;
        unit("stationary_iou", self.stationary_iou)?;
        if self.vehicle_classes.is_empty() {
            return Err(ConfigError::invalid(
                format!("{key}.vehicle_classes"),
                "expected at least one class name, e.g. [\"car\", \"truck\"]",
            ));
        }
        Ok(())
    }
}
