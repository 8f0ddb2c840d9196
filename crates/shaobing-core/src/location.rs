use crate::Point;
use serde::{Deserialize, Serialize};
use std::fmt;

/// Identifier of a zone within a camera's view.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(transparent)]
pub struct ZoneId(pub String);

impl fmt::Display for ZoneId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Where a problem is: the concrete point location the problem database requires.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Location {
    /// WGS-84 latitude of the observed place (or of the camera when the place is unknown).
    pub lat: Option<f64>,
    pub lon: Option<f64>,
    /// Street address as the sub-district writes it.
    pub address: Option<String>,
    /// City-management grid cell (网格) the place belongs to.
    pub grid_cell: Option<String>,
    /// The camera or sensor that saw it.
    pub source: String,
    /// The zone within the camera's view, when a zone rule fired.
    pub zone: Option<ZoneId>,
    /// Bottom centre of the object in the camera image, normalised.
    pub image_point: Option<Point>,
}
