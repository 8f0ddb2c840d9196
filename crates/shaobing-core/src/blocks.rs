//! Configuration blocks that several sections share, flattened into each: where something
//! stands, and who it logs in as.

use crate::Secret;
use serde::{Deserialize, Serialize};

/// A configuration problem in a shared block: the key under the block's section, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlockError {
    pub key: &'static str,
    pub message: String,
}

/// Where a camera or sensor stands, copied into every issue it files.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Place {
    /// WGS-84 latitude.
    #[serde(default)]
    pub lat: Option<f64>,
    /// WGS-84 longitude.
    #[serde(default)]
    pub lon: Option<f64>,
    /// Street address as the sub-district writes it.
    #[serde(default)]
    pub address: Option<String>,
    /// City-management grid cell (网格).
    #[serde(default)]
    pub grid_cell: Option<String>,
}

impl Place {
    pub fn validate(&self) -> Result<(), BlockError> {
        let check = |key: &'static str, v: Option<f64>, limit: f64| match v {
            Some(v) if !(v.is_finite() && v.abs() <= limit) => {
                Err(BlockError { key, message: format!("expected degrees in -{limit}..={limit}, got {v}") })
            }
            _ => Ok(()),
        };
        check("lat", self.lat, 90.0)?;
        check("lon", self.lon, 180.0)?;
        if self.lat.is_some() != self.lon.is_some() {
            return Err(BlockError { key: "lat", message: "expected lat and lon together".into() });
        }
        Ok(())
    }
}

/// A user name and its password, for a camera or a broker. The password is a [`Secret`].
#[derive(Debug, Clone, Default, Deserialize, schemars::JsonSchema)]
pub struct Credentials {
    /// User name, when the peer requires one.
    #[serde(default)]
    pub username: Option<String>,
    /// Password; never printed.
    #[serde(default)]
    pub password: Option<Secret>,
}

impl Credentials {
    pub fn validate(&self) -> Result<(), BlockError> {
        if self.password.is_some() && self.username.is_none() {
            return Err(BlockError { key: "username", message: "expected a user name: a password is set".into() });
        }
        Ok(())
    }

    /// The user name and password (empty when unset), when there is a user name.
    pub fn pair(&self) -> Option<(String, Secret)> {
        self.username.clone().map(|u| (u, self.password.clone().unwrap_or_default()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_place_needs_both_coordinates_in_range() {
        let at = |lat, lon| Place { lat, lon, ..Place::default() }.validate().map_err(|e| e.key);
        assert_eq!(at(Some(39.93), Some(116.45)), Ok(()));
        assert_eq!(at(None, None), Ok(()));
        assert_eq!(at(Some(99.0), Some(116.0)), Err("lat"));
        assert_eq!(at(Some(39.0), Some(-181.0)), Err("lon"));
        assert_eq!(at(Some(39.0), None), Err("lat"));
    }

    #[test]
    fn a_password_needs_a_user() {
        let without = Credentials { username: None, password: Some(Secret::new("x")) };
        assert_eq!(without.validate().map_err(|e| e.key), Err("username"));
        let with = Credentials { username: Some("viewer".into()), password: None };
        assert_eq!(with.pair().map(|(u, p)| (u, p.expose().to_string())), Some(("viewer".into(), String::new())));
    }
}
