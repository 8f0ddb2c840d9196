//! From an MQTT topic and payload to validated readings, or a rejection with a stable code.
//!
//! Nothing in here trusts the payload: its length is capped before it is looked at, JSON
//! nesting is measured by a linear scan before the parser sees it (the parser recurses), every
//! number is checked finite and plausible after unit conversion, and timestamps are bounded on
//! both sides by the arrival time.

use crate::config::{DecoderConfig, FieldConfig, SensorGroupConfig, SensorsConfig, SensorsConfigError, TimestampUnit};
use crate::quantity::{Quantity, Unit};
use serde_json::Value;
use shaobing_core::{Reading, SensorId, UnixMillis};
use std::fmt;

/// Why a message was rejected: a metric label, so a fixed, small set.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum RejectCode {
    UnknownTopic,
    UnknownSensor,
    TooLarge,
    NotUtf8,
    TooDeep,
    Truncated,
    BadJson,
    NotANumber,
    MissingField,
    WrongType,
    NotFinite,
    OutOfRange,
    FutureTimestamp,
    TooOld,
}

impl RejectCode {
    pub const ALL: [RejectCode; 14] = [
        RejectCode::UnknownTopic,
        RejectCode::UnknownSensor,
        RejectCode::TooLarge,
        RejectCode::NotUtf8,
        RejectCode::TooDeep,
        RejectCode::Truncated,
        RejectCode::BadJson,
        RejectCode::NotANumber,
        RejectCode::MissingField,
        RejectCode::WrongType,
        RejectCode::NotFinite,
        RejectCode::OutOfRange,
        RejectCode::FutureTimestamp,
        RejectCode::TooOld,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            RejectCode::UnknownTopic => "unknown_topic",
            RejectCode::UnknownSensor => "unknown_sensor",
            RejectCode::TooLarge => "too_large",
            RejectCode::NotUtf8 => "not_utf8",
            RejectCode::TooDeep => "too_deep",
            RejectCode::Truncated => "truncated",
            RejectCode::BadJson => "bad_json",
            RejectCode::NotANumber => "not_a_number",
            RejectCode::MissingField => "missing_field",
            RejectCode::WrongType => "wrong_type",
            RejectCode::NotFinite => "not_finite",
            RejectCode::OutOfRange => "out_of_range",
            RejectCode::FutureTimestamp => "future_timestamp",
            RejectCode::TooOld => "too_old",
        }
    }
}

impl fmt::Display for RejectCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A rejected message. `detail` is for a (rate-limited) log line and is short and free of
/// payload bytes beyond a field path and a number; `group` is known unless the topic was not.
#[derive(Debug, Clone, PartialEq)]
pub struct Rejection {
    pub group: Option<usize>,
    pub code: RejectCode,
    pub detail: String,
}

impl fmt::Display for Rejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.code, self.detail)
    }
}

/// The readings of one accepted message.
#[derive(Debug, Clone, PartialEq)]
pub struct SensorMessage {
    /// Index of the group in the configuration.
    pub group: usize,
    pub sensor: SensorId,
    /// The sensor's sequence number (at most `i64::MAX`), when the decoder has a `sequence` path.
    pub seq: Option<u64>,
    /// Whether the observation time came from the payload rather than the arrival time: only
    /// then does a redelivered copy carry the same time.
    pub stamped: bool,
    pub readings: Vec<Reading>,
    /// Optional fields left out for a bad value (a sentinel such as -200, a string): the
    /// message's other fields still count.
    pub dropped: Vec<RejectCode>,
}

/// The compiled `[sensors]` configuration: routes topics to groups and decodes payloads.
#[derive(Debug, Clone)]
pub struct Mapping {
    config: SensorsConfig,
}

/// A failure at one field, before the group is attached.
type FieldResult<T> = Result<T, (RejectCode, String)>;

impl Mapping {
    /// Validates the configuration.
    pub fn new(config: SensorsConfig) -> Result<Self, SensorsConfigError> {
        config.validate()?;
        Ok(Self { config })
    }

    pub fn config(&self) -> &SensorsConfig {
        &self.config
    }

    pub fn groups(&self) -> &[SensorGroupConfig] {
        &self.config.groups
    }

    /// The topic filters to subscribe to.
    pub fn subscriptions(&self) -> impl Iterator<Item = &str> {
        self.config.groups.iter().map(|g| g.topic.as_str())
    }

    /// The first group whose filter matches, and the sensor id from its id level.
    pub fn route(&self, topic: &str) -> Result<(usize, SensorId), Rejection> {
        let Some(group) = self.config.groups.iter().position(|g| topic_matches(&g.topic, topic)) else {
            return Err(Rejection { group: None, code: RejectCode::UnknownTopic, detail: truncate(topic, 128) });
        };
        let g = &self.config.groups[group];
        let id = topic.split('/').nth(g.sensor_id_level).unwrap_or_default();
        if !g.sensors.contains_key(id) {
            let detail = format!("sensor `{}` is not listed in group {}", truncate(id, 64), g.name);
            return Err(Rejection { group: Some(group), code: RejectCode::UnknownSensor, detail });
        }
        Ok((group, SensorId(id.to_string())))
    }

    /// Routes and decodes one message that arrived at `received_at` (box clock).
    pub fn decode(&self, topic: &str, payload: &[u8], received_at: UnixMillis) -> Result<SensorMessage, Rejection> {
        let (group, sensor) = self.route(topic)?;
        self.decode_payload(group, sensor, payload, received_at).map_err(|(code, detail)| Rejection {
            group: Some(group),
            code,
            detail,
        })
    }

    fn decode_payload(
        &self,
        group: usize,
        sensor: SensorId,
        payload: &[u8],
        received_at: UnixMillis,
    ) -> FieldResult<SensorMessage> {
        if payload.len() > self.config.max_payload_bytes {
            let limit = self.config.max_payload_bytes;
            return Err((RejectCode::TooLarge, format!("{} bytes, limit {limit}", payload.len())));
        }
        let text = std::str::from_utf8(payload)
            .map_err(|e| (RejectCode::NotUtf8, format!("invalid UTF-8 at byte {}", e.valid_up_to())))?;
        let make = |quantity: Quantity, value: f64, observed_at| Reading {
            sensor: sensor.clone(),
            quantity: quantity.as_str().to_string(),
            value,
            unit: quantity.canonical_unit().as_str().to_string(),
            observed_at,
        };
        let (seq, stamped, readings, dropped) = match &self.config.groups[group].decoder {
            DecoderConfig::Plain { quantity, unit } => {
                let value = parse_plain(text, *quantity, unit.unwrap_or(quantity.canonical_unit()))?;
                (None, false, vec![make(*quantity, value, received_at)], Vec::new())
            }
            DecoderConfig::Json { fields, timestamp, timestamp_unit, sequence } => {
                let object = self.parse_json(text)?;
                let observed_at = match timestamp {
                    Some(path) => self.timestamp(&object, path, *timestamp_unit, received_at)?,
                    None => received_at,
                };
                let seq = sequence.as_deref().map(|path| sequence_number(&object, path)).transpose()?;
                let (values, dropped) = field_values(&object, fields)?;
                let readings = values.into_iter().map(|(q, v)| make(q, v, observed_at)).collect();
                (seq, timestamp.is_some(), readings, dropped)
            }
        };
        Ok(SensorMessage { group, sensor, seq, stamped, readings, dropped })
    }

    fn parse_json(&self, text: &str) -> FieldResult<Value> {
        if json_depth_exceeds(text.as_bytes(), self.config.max_json_depth) {
            return Err((RejectCode::TooDeep, format!("nesting deeper than {}", self.config.max_json_depth)));
        }
        let value: Value = serde_json::from_str(text).map_err(|e| match e.classify() {
            serde_json::error::Category::Eof => (RejectCode::Truncated, e.to_string()),
            _ => (RejectCode::BadJson, e.to_string()),
        })?;
        if !value.is_object() {
            return Err((RejectCode::WrongType, "expected a JSON object".into()));
        }
        Ok(value)
    }

    fn timestamp(
        &self,
        object: &Value,
        path: &str,
        unit: TimestampUnit,
        received_at: UnixMillis,
    ) -> FieldResult<UnixMillis> {
        let raw = lookup(object, path)?.ok_or_else(|| missing(path))?;
        let number = raw.as_f64().ok_or_else(|| wrong_type(path, "a number"))?;
        let ms = match unit {
            TimestampUnit::Millis => number,
            TimestampUnit::Secs => number * 1000.0,
        };
        // Compared as f64 first, so an absurd number cannot overflow the conversion.
        let latest = received_at.0 as f64 + self.config.max_future_skew_secs as f64 * 1000.0;
        let earliest = received_at.0 as f64 - self.config.max_age_secs as f64 * 1000.0;
        if ms > latest {
            return Err((RejectCode::FutureTimestamp, format!("{path} = {number} is ahead of the box clock")));
        }
        if ms < earliest {
            return Err((RejectCode::TooOld, format!("{path} = {number} is older than max_age_secs")));
        }
        Ok(UnixMillis(ms.round() as i64))
    }
}

fn truncate(s: &str, max: usize) -> String {
    match s.char_indices().nth(max) {
        Some((end, _)) => format!("{}…", &s[..end]),
        None => s.to_string(),
    }
}

fn missing(path: &str) -> (RejectCode, String) {
    (RejectCode::MissingField, format!("no field {path}"))
}

fn wrong_type(path: &str, expected: &str) -> (RejectCode, String) {
    (RejectCode::WrongType, format!("{path}: expected {expected}"))
}

/// MQTT topic filter matching (MQTT 3.1.1 section 4.7): `+` one level, `#` the rest.
pub fn topic_matches(filter: &str, topic: &str) -> bool {
    let mut topic_levels = topic.split('/');
    for f in filter.split('/') {
        match (f, topic_levels.next()) {
            ("#", _) => return true,
            (_, None) => return false,
            ("+", Some(_)) => {}
            (f, Some(t)) if f == t => {}
            _ => return false,
        }
    }
    topic_levels.next().is_none()
}

/// Whether `[`/`{` nest deeper than `max`, ignoring brackets inside strings. serde_json
/// recurses per level; this bounds the recursion before it starts.
fn json_depth_exceeds(bytes: &[u8], max: usize) -> bool {
    let (mut depth, mut in_string, mut escaped) = (0usize, false, false);
    for &b in bytes {
        if in_string {
            match (escaped, b) {
                (true, _) => escaped = false,
                (false, b'\\') => escaped = true,
                (false, b'"') => in_string = false,
                _ => {}
            }
            continue;
        }
        match b {
            b'"' => in_string = true,
            b'{' | b'[' => {
                depth += 1;
                if depth > max {
                    return true;
                }
            }
            b'}' | b']' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    false
}

/// The value at a dotted path; `Ok(None)` when a level is missing, an error when a level on
/// the way is not an object.
fn lookup<'a>(object: &'a Value, path: &str) -> FieldResult<Option<&'a Value>> {
    let mut at = object;
    for (depth, key) in path.split('.').enumerate() {
        let Value::Object(map) = at else {
            let parent: Vec<&str> = path.split('.').take(depth).collect();
            return Err(wrong_type(&parent.join("."), "an object"));
        };
        match map.get(key) {
            Some(v) => at = v,
            None => return Ok(None),
        }
    }
    Ok(Some(at))
}

fn sequence_number(object: &Value, path: &str) -> FieldResult<u64> {
    let raw = lookup(object, path)?.ok_or_else(|| missing(path))?;
    // Capped at i64::MAX so that it fits an SQLite integer unchanged.
    raw.as_i64()
        .and_then(|n| u64::try_from(n).ok())
        .ok_or_else(|| wrong_type(path, "an integer in 0..=9223372036854775807"))
}

/// A message's values by quantity, and the codes of the optional fields left out.
type FieldValues = (Vec<(Quantity, f64)>, Vec<RejectCode>);

/// The configured fields' values, and the codes of the optional ones left out for a bad value.
/// A required field's bad value rejects the message: the mapping says it cannot do without.
fn field_values(object: &Value, fields: &[FieldConfig]) -> FieldResult<FieldValues> {
    let (mut out, mut dropped) = (Vec::with_capacity(fields.len()), Vec::new());
    for field in fields {
        let raw = match lookup(object, &field.path)? {
            Some(v) => v,
            None if field.optional => continue,
            None => return Err(missing(&field.path)),
        };
        let value = raw
            .as_f64()
            .ok_or_else(|| wrong_type(&field.path, "a number"))
            .and_then(|number| checked(&field.path, number, field.quantity, field.unit()));
        match value {
            Ok(v) => out.push((field.quantity, v)),
            Err((code, _)) if field.optional => dropped.push(code),
            Err(e) => return Err(e),
        }
    }
    if out.is_empty() {
        let message =
            if dropped.is_empty() { "none of the configured fields is present" } else { "no field has a usable value" };
        return Err((dropped.first().copied().unwrap_or(RejectCode::MissingField), message.into()));
    }
    Ok((out, dropped))
}

fn parse_plain(text: &str, quantity: Quantity, unit: Unit) -> FieldResult<f64> {
    let trimmed = text.trim_ascii();
    let number: f64 = trimmed
        .parse()
        .map_err(|_| (RejectCode::NotANumber, format!("payload of {} bytes is not a number", text.len())))?;
    checked("payload", number, quantity, unit)
}

/// Converts to the canonical unit, then checks finiteness and the plausible range.
fn checked(path: &str, number: f64, quantity: Quantity, unit: Unit) -> FieldResult<f64> {
    // Validation guarantees the units convert; a missing factor would be a programming error,
    // reported as a wrong type rather than a panic.
    let factor = unit.factor_to(quantity.canonical_unit()).ok_or_else(|| wrong_type(path, "a convertible unit"))?;
    let value = number * factor;
    if !value.is_finite() {
        return Err((RejectCode::NotFinite, format!("{path} is not a finite number")));
    }
    let (lo, hi) = quantity.plausible_range();
    if !(lo..=hi).contains(&value) {
        let unit = quantity.canonical_unit();
        return Err((RejectCode::OutOfRange, format!("{path} = {value} {unit}, plausible {lo}..={hi}")));
    }
    Ok(value)
}

#[cfg(test)]
mod tests;
