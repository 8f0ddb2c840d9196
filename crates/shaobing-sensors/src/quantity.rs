//! What sensors measure, in which unit readings are kept, and which values are plausible.

use serde::Deserialize;
use std::fmt;

/// A measured quantity. Readings are normalised to one canonical unit per quantity, so rules
/// and the store never compare micrograms with milligrams.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Quantity {
    /// Fine particulate matter, µg/m³.
    #[serde(rename = "pm2_5")]
    Pm2_5,
    /// Coarse particulate matter, µg/m³.
    Pm10,
    /// Nitrogen dioxide, µg/m³.
    No2,
    /// Sulphur dioxide, µg/m³.
    So2,
    /// Ozone, µg/m³.
    O3,
    /// Carbon monoxide, mg/m³ (HJ 633-2012 tabulates CO in mg/m³).
    Co,
    /// Share of a parking lot's spaces in use, 0..=1.
    Occupancy,
    /// Free spaces in a parking lot.
    FreeSpaces,
    /// Vehicles per hour on a road segment.
    Flow,
    /// Mean speed on a road segment, km/h.
    Speed,
    /// Congestion index of a road segment (Beijing's 0-10 traffic performance index scale).
    CongestionIndex,
}

impl Quantity {
    pub const ALL: [Quantity; 11] = [
        Quantity::Pm2_5,
        Quantity::Pm10,
        Quantity::No2,
        Quantity::So2,
        Quantity::O3,
        Quantity::Co,
        Quantity::Occupancy,
        Quantity::FreeSpaces,
        Quantity::Flow,
        Quantity::Speed,
        Quantity::CongestionIndex,
    ];

    /// The name used in configuration, `Reading::quantity` and the readings table.
    pub fn as_str(self) -> &'static str {
        match self {
            Quantity::Pm2_5 => "pm2_5",
            Quantity::Pm10 => "pm10",
            Quantity::No2 => "no2",
            Quantity::So2 => "so2",
            Quantity::O3 => "o3",
            Quantity::Co => "co",
            Quantity::Occupancy => "occupancy",
            Quantity::FreeSpaces => "free_spaces",
            Quantity::Flow => "flow",
            Quantity::Speed => "speed",
            Quantity::CongestionIndex => "congestion_index",
        }
    }

    /// The inverse of [`Quantity::as_str`].
    pub fn parse(name: &str) -> Option<Quantity> {
        Quantity::ALL.into_iter().find(|q| q.as_str() == name)
    }

    pub fn canonical_unit(self) -> Unit {
        match self {
            Quantity::Pm2_5 | Quantity::Pm10 | Quantity::No2 | Quantity::So2 | Quantity::O3 => Unit::MicrogramsPerM3,
            Quantity::Co => Unit::MilligramsPerM3,
            Quantity::Occupancy => Unit::Ratio,
            Quantity::FreeSpaces => Unit::Count,
            Quantity::Flow => Unit::VehiclesPerHour,
            Quantity::Speed => Unit::KilometresPerHour,
            Quantity::CongestionIndex => Unit::Index,
        }
    }

    /// Values outside this range (canonical unit) are a broken sensor or a forged message, not
    /// weather or traffic. The bounds are generous: PM10 reached about 8,000 µg/m³ in Beijing's
    /// March 2021 sandstorm, and a lot's free-space count has no natural cap.
    pub fn plausible_range(self) -> (f64, f64) {
        match self {
            Quantity::Pm2_5 => (0.0, 2_000.0),
            Quantity::Pm10 => (0.0, 10_000.0),
            Quantity::No2 => (0.0, 5_000.0),
            Quantity::So2 => (0.0, 10_000.0),
            Quantity::O3 => (0.0, 2_000.0),
            Quantity::Co => (0.0, 200.0),
            Quantity::Occupancy => (0.0, 1.0),
            Quantity::FreeSpaces => (0.0, 100_000.0),
            Quantity::Flow => (0.0, 20_000.0),
            Quantity::Speed => (0.0, 250.0),
            Quantity::CongestionIndex => (0.0, 10.0),
        }
    }

    /// The HJ 633-2012 pollutant this quantity is, if any.
    pub fn pollutant(self) -> Option<crate::aqi::Pollutant> {
        use crate::aqi::Pollutant;
        Some(match self {
            Quantity::Pm2_5 => Pollutant::Pm2_5,
            Quantity::Pm10 => Pollutant::Pm10,
            Quantity::No2 => Pollutant::No2,
            Quantity::So2 => Pollutant::So2,
            Quantity::O3 => Pollutant::O3,
            Quantity::Co => Pollutant::Co,
            _ => return None,
        })
    }
}

impl fmt::Display for Quantity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A unit a payload may use. Conversion happens only between units of the same dimension.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize, schemars::JsonSchema)]
pub enum Unit {
    #[serde(rename = "ug/m3")]
    MicrogramsPerM3,
    #[serde(rename = "mg/m3")]
    MilligramsPerM3,
    #[serde(rename = "ratio")]
    Ratio,
    #[serde(rename = "percent")]
    Percent,
    #[serde(rename = "count")]
    Count,
    #[serde(rename = "veh/h")]
    VehiclesPerHour,
    #[serde(rename = "veh/min")]
    VehiclesPerMinute,
    #[serde(rename = "km/h")]
    KilometresPerHour,
    #[serde(rename = "m/s")]
    MetresPerSecond,
    #[serde(rename = "index")]
    Index,
}

impl Unit {
    pub fn as_str(self) -> &'static str {
        match self {
            Unit::MicrogramsPerM3 => "ug/m3",
            Unit::MilligramsPerM3 => "mg/m3",
            Unit::Ratio => "ratio",
            Unit::Percent => "percent",
            Unit::Count => "count",
            Unit::VehiclesPerHour => "veh/h",
            Unit::VehiclesPerMinute => "veh/min",
            Unit::KilometresPerHour => "km/h",
            Unit::MetresPerSecond => "m/s",
            Unit::Index => "index",
        }
    }

    /// Dimension and factor to that dimension's base unit; units convert when dimensions match.
    fn base(self) -> (&'static str, f64) {
        match self {
            Unit::MicrogramsPerM3 => ("mass_concentration", 1.0),
            Unit::MilligramsPerM3 => ("mass_concentration", 1_000.0),
            Unit::Ratio => ("share", 1.0),
            Unit::Percent => ("share", 0.01),
            Unit::Count => ("count", 1.0),
            Unit::VehiclesPerHour => ("flow", 1.0),
            Unit::VehiclesPerMinute => ("flow", 60.0),
            Unit::KilometresPerHour => ("speed", 1.0),
            Unit::MetresPerSecond => ("speed", 3.6),
            Unit::Index => ("index", 1.0),
        }
    }

    /// The factor that turns a value in `self` into `to`, or `None` across dimensions.
    pub fn factor_to(self, to: Unit) -> Option<f64> {
        let ((from_dim, from_f), (to_dim, to_f)) = (self.base(), to.base());
        (from_dim == to_dim).then_some(from_f / to_f)
    }
}

impl fmt::Display for Unit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conversions_stay_within_a_dimension() {
        assert_eq!(Unit::MilligramsPerM3.factor_to(Unit::MicrogramsPerM3), Some(1_000.0));
        assert_eq!(Unit::MicrogramsPerM3.factor_to(Unit::MilligramsPerM3), Some(0.001));
        assert_eq!(Unit::Percent.factor_to(Unit::Ratio), Some(0.01));
        assert_eq!(Unit::VehiclesPerMinute.factor_to(Unit::VehiclesPerHour), Some(60.0));
        assert_eq!(Unit::MetresPerSecond.factor_to(Unit::KilometresPerHour), Some(3.6));
        assert_eq!(Unit::Percent.factor_to(Unit::KilometresPerHour), None);
    }

    #[test]
    fn every_quantity_has_a_sane_range_and_only_pollutants_have_an_aqi() {
        for q in Quantity::ALL {
            let (lo, hi) = q.plausible_range();
            assert!(lo < hi, "{q}");
            let is_air = q.canonical_unit().factor_to(Unit::MicrogramsPerM3).is_some();
            assert_eq!(q.pollutant().is_some(), is_air, "{q}");
        }
    }
}
