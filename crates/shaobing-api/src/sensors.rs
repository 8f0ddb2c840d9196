//! Sensors with their latest readings and, for air quality, the HJ 633 level.

use crate::{ApiError, ApiState, SensorView};
use axum::Json;
use axum::extract::{Path, Query, State};
use serde_json::{Value, json};
use shaobing_core::{Reading, SensorId, UnixMillis};
use shaobing_sensors::{Quantity, ReadingsStore, aqi};
use std::sync::Arc;

/// Every configured sensor, with its latest readings (none yet: an empty list).
pub(crate) async fn list(State(state): State<Arc<ApiState>>) -> Result<Json<Value>, ApiError> {
    let Some(path) = state.readings_db.clone() else { return Ok(Json(json!({ "items": [] }))) };
    let latest = tokio::task::spawn_blocking(move || -> Result<Vec<Reading>, ApiError> {
        if !path.exists() {
            return Ok(Vec::new());
        }
        ReadingsStore::open(&path).and_then(|s| s.latest()).map_err(ApiError::internal)
    })
    .await
    .map_err(ApiError::internal)??;
    Ok(Json(json!({ "items": with_readings(&state.sensors, &latest) })))
}

/// The configured sensors in order, each with its latest readings; readings of sensors no
/// longer configured are left out (nothing says where they stand).
fn with_readings(sensors: &[SensorView], latest: &[Reading]) -> Vec<Value> {
    let mut read = by_sensor(latest);
    sensors
        .iter()
        .map(|s| {
            let mut item = json!({"id": s.id, "group": s.group, "kind": s.kind, "location": s.location});
            let found = read.iter_mut().find(|r| r["id"] == s.id.as_str());
            let (latest, level) = found.map_or((json!([]), Value::Null), |r| (r["latest"].take(), r["level"].take()));
            item["latest"] = latest;
            item["level"] = level;
            item
        })
        .collect()
}

#[derive(Debug, serde::Deserialize)]
pub(crate) struct TrendQuery {
    hours: Option<u32>,
}

/// Points per quantity on a trend chart: one every 90 s over 6 hours.
const TREND_BUCKETS: u32 = 240;
/// The longest look-back a chart offers: three days.
const MAX_TREND_HOURS: u32 = 72;

/// A sensor's readings over the last `hours` (6 by default), per quantity, in buckets.
pub(crate) async fn trend(
    State(state): State<Arc<ApiState>>,
    Path(id): Path<String>,
    Query(q): Query<TrendQuery>,
) -> Result<Json<Value>, ApiError> {
    let hours = q.hours.unwrap_or(6);
    if !(1..=MAX_TREND_HOURS).contains(&hours) {
        return Err(ApiError::bad_request(format!("hours: expected 1 to {MAX_TREND_HOURS}, got {hours}")));
    }
    let sensor =
        state.sensors.iter().find(|s| s.id == id).ok_or_else(|| ApiError::not_found(format!("no sensor `{id}`")))?;
    let to = UnixMillis::now();
    let from = UnixMillis(to.0 - i64::from(hours) * 3_600_000);
    let path = state.readings_db.clone();
    let sensor_id = SensorId(sensor.id.clone());
    let quantities = tokio::task::spawn_blocking(move || match path {
        Some(path) if path.exists() => ReadingsStore::open(&path)
            .and_then(|s| s.trend(&sensor_id, from, to, TREND_BUCKETS))
            .map_err(ApiError::internal),
        _ => Ok(Vec::new()),
    })
    .await
    .map_err(ApiError::internal)??;
    Ok(Json(json!({ "sensor": sensor.id, "from_ms": from.0, "to_ms": to.0, "quantities": quantities })))
}

/// Groups the latest readings by sensor; the worst individual AQI of a sensor is its level.
fn by_sensor(latest: &[Reading]) -> Vec<Value> {
    let mut items: Vec<Value> = Vec::new();
    for chunk in latest.chunk_by(|a, b| a.sensor == b.sensor) {
        let readings: Vec<Value> = chunk
            .iter()
            .map(
                |r| json!({"quantity": r.quantity, "value": r.value, "unit": r.unit, "at": r.observed_at.to_rfc3339()}),
            )
            .collect();
        let worst = chunk
            .iter()
            .filter_map(|r| Quantity::parse(&r.quantity)?.pollutant().and_then(|p| aqi::realtime_iaqi(p, r.value)))
            .map(|i| i.value)
            .max();
        let level = worst.map(|v| {
            let level = aqi::AqiLevel::of(v);
            json!({"iaqi": v, "category": level, "category_zh": level.name_zh()})
        });
        items.push(json!({"id": chunk[0].sensor.0, "latest": readings, "level": level}));
    }
    items
}

#[cfg(test)]
mod tests {
    use super::*;
    use shaobing_core::{SensorId, UnixMillis};

    fn reading(sensor: &str, quantity: &str, value: f64) -> Reading {
        Reading {
            sensor: SensorId(sensor.into()),
            quantity: quantity.into(),
            value,
            unit: "ug/m3".into(),
            observed_at: UnixMillis(1_795_000_000_000),
        }
    }

    #[test]
    fn readings_group_by_sensor_and_the_worst_pollutant_sets_the_level() {
        let latest =
            [reading("aq-01", "pm10", 60.0), reading("aq-01", "pm2_5", 80.0), reading("lot-7", "occupancy", 0.9)];
        let items = by_sensor(&latest);
        assert_eq!(items.len(), 2);
        assert_eq!(items[0]["id"], "aq-01");
        assert_eq!(items[0]["latest"].as_array().unwrap().len(), 2);
        // PM2.5 80 ug/m3 (24-h table): 106.25, rounded up as HJ 633 says, is 107, lightly
        // polluted; PM10 60 is only 55.
        assert_eq!(items[0]["level"]["iaqi"], 107);
        assert_eq!(items[0]["level"]["category"], "lightly_polluted");
        assert_eq!(items[0]["level"]["category_zh"], "轻度污染");
        assert!(items[1]["level"].is_null(), "a parking sensor has no air-quality level");
    }
}
