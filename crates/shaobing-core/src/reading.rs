use crate::UnixMillis;
use serde::{Deserialize, Serialize};

/// Identifier of a sensor (parking lot, road segment, air-quality monitor).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct SensorId(pub String);

/// One validated measurement from a sensor.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Reading {
    pub sensor: SensorId,
    /// What was measured, e.g. `pm2_5`, `occupancy`.
    pub quantity: String,
    pub value: f64,
    /// Unit after normalisation, e.g. `ug/m3`, `ratio`.
    pub unit: String,
    pub observed_at: UnixMillis,
}
