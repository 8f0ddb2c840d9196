//! The `[sensors]` section: which topics carry which sensors, how their payloads decode, where
//! each sensor stands and which rules watch it.
//!
//! Same conventions as `shaobing-config`: unknown keys are rejected, every key has a doc comment
//! and (unless it has no sensible default) a default, and validation names the key it rejects.

use crate::quantity::{Quantity, Unit};
use serde::Deserialize;
use shaobing_core::{Category, Place};
use std::collections::{BTreeMap, BTreeSet};

/// A configuration problem in `[sensors]`, pointing at the key.
#[derive(Debug, thiserror::Error)]
#[error("{key}: {message}")]
pub struct SensorsConfigError {
    pub key: String,
    pub message: String,
}

fn invalid(key: impl Into<String>, message: impl Into<String>) -> SensorsConfigError {
    SensorsConfigError { key: key.into(), message: message.into() }
}

#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SensorsConfig {
    /// Payloads longer than this are rejected (`too_large`) before they are parsed.
    #[serde(default = "default_max_payload_bytes")]
    pub max_payload_bytes: usize,
    /// JSON nested deeper than this is rejected (`too_deep`) before it is parsed.
    #[serde(default = "default_max_json_depth")]
    pub max_json_depth: usize,
    /// Readings stamped further than this ahead of the box clock are rejected
    /// (`future_timestamp`): a sensor with a broken clock must not hold a rule open for years.
    #[serde(default = "default_max_future_skew_secs")]
    pub max_future_skew_secs: u64,
    /// Readings older than this when they arrive are rejected (`too_old`): a clock reset to
    /// 1970 is a broken sensor, and a week-old backlog is past every rule's window.
    #[serde(default = "default_max_age_secs")]
    pub max_age_secs: u64,
    /// Most messages committed in one transaction.
    #[serde(default = "default_batch_max")]
    pub batch_max: usize,
    /// Messages received but not yet committed; when full, the client stops reading the socket
    /// and the broker holds the rest.
    #[serde(default = "default_queue_capacity")]
    pub queue_capacity: usize,
    /// How often silent sensors are looked for.
    #[serde(default = "default_stale_check_secs")]
    pub stale_check_secs: u64,
    /// The sensor groups; a group is one topic filter with one payload format.
    #[serde(default)]
    pub groups: Vec<SensorGroupConfig>,
}

// At high rates commits dominate (about 3 ms for 500 readings, 11 ms for 3,000 in the
// benchmark): larger transactions drained a 200,000-reading backlog about 1.5x faster.
fn default_batch_max() -> usize {
    4096
}
fn default_queue_capacity() -> usize {
    8192
}
fn default_stale_check_secs() -> u64 {
    10
}

fn default_max_payload_bytes() -> usize {
    4096
}
fn default_max_json_depth() -> usize {
    8
}
fn default_max_future_skew_secs() -> u64 {
    300
}
fn default_max_age_secs() -> u64 {
    7 * 86_400
}

impl Default for SensorsConfig {
    fn default() -> Self {
        Self {
            max_payload_bytes: default_max_payload_bytes(),
            max_json_depth: default_max_json_depth(),
            max_future_skew_secs: default_max_future_skew_secs(),
            max_age_secs: default_max_age_secs(),
            batch_max: default_batch_max(),
            queue_capacity: default_queue_capacity(),
            stale_check_secs: default_stale_check_secs(),
            groups: Vec::new(),
        }
    }
}

/// What a group's sensors watch; picks the default issue category of its rules.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum SensorKind {
    AirQuality,
    Parking,
    Road,
}

impl SensorKind {
    pub fn as_str(self) -> &'static str {
        match self {
            SensorKind::AirQuality => "air_quality",
            SensorKind::Parking => "parking",
            SensorKind::Road => "road",
        }
    }

    pub fn default_category(self) -> Category {
        match self {
            SensorKind::AirQuality => Category::AirPollution,
            SensorKind::Parking => Category::ParkingSaturated,
            SensorKind::Road => Category::Congestion,
        }
    }
}

#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SensorGroupConfig {
    /// Name of the group: a metric label and part of issue dedup keys, so a safe identifier.
    pub name: String,
    /// What the group measures: `air_quality`, `parking` or `road`; sets the issue category.
    pub kind: SensorKind,
    /// MQTT topic filter, e.g. `city/air/+/state`; subscribed with QoS 1.
    pub topic: String,
    /// Zero-based topic level that holds the sensor id; that level of `topic` must be `+`.
    pub sensor_id_level: usize,
    /// How payloads decode into readings.
    pub decoder: DecoderConfig,
    /// A configured sensor silent for this long raises a device-maintenance issue; unset
    /// disables the check for the group.
    #[serde(default)]
    pub stale_after_secs: Option<u64>,
    /// The group's sensors by id, with their locations. Messages from ids not listed are
    /// rejected (`unknown_sensor`): only a sensor with a location can file an issue.
    pub sensors: BTreeMap<String, Place>,
    /// Rules over the group's readings.
    #[serde(default)]
    pub rules: Vec<RuleConfig>,
}

/// Payload formats.
#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(tag = "format", rename_all = "snake_case", deny_unknown_fields)]
pub enum DecoderConfig {
    /// A JSON object with one or more numeric fields.
    Json {
        /// The measured fields.
        fields: Vec<FieldConfig>,
        /// Dotted path of the observation time; unset uses the arrival time.
        #[serde(default)]
        timestamp: Option<String>,
        /// Unit of the timestamp field.
        #[serde(default)]
        timestamp_unit: TimestampUnit,
        /// Dotted path of the sensor's message sequence number (a non-negative integer). When
        /// set, a reading's identity in the store is its sequence number, so a redelivered
        /// message is recognised even if it carries no timestamp.
        #[serde(default)]
        sequence: Option<String>,
    },
    /// The whole payload is one number in ASCII, e.g. `0.87`.
    Plain {
        /// What the number measures, e.g. `occupancy`.
        quantity: Quantity,
        /// Unit of the number; defaults to the quantity's canonical unit.
        #[serde(default)]
        unit: Option<Unit>,
    },
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, serde::Serialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum TimestampUnit {
    #[default]
    Millis,
    Secs,
}

#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FieldConfig {
    /// Dotted path into the JSON object, e.g. `data.pm25`.
    pub path: String,
    /// The quantity the value measures, e.g. `pm2_5`, `occupancy`, `speed`.
    pub quantity: Quantity,
    /// Unit of the field; defaults to the quantity's canonical unit.
    #[serde(default)]
    pub unit: Option<Unit>,
    /// A missing optional field is skipped instead of rejecting the message.
    #[serde(default)]
    pub optional: bool,
}

impl FieldConfig {
    pub fn unit(&self) -> Unit {
        self.unit.unwrap_or(self.quantity.canonical_unit())
    }
}

/// Where a sensor stands: copied into every issue it raises.
/// What a rule compares with its thresholds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, serde::Serialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Signal {
    /// The reading itself, in the quantity's canonical unit.
    #[default]
    Value,
    /// The pollutant's individual AQI (HJ 633-2012), for air-quality quantities only.
    Iaqi,
    /// The change over the last `rise_window_secs` (latest minus the oldest reading in the window).
    Rise,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, serde::Serialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    /// A problem while the signal is high (pollution, occupancy, congestion index).
    #[default]
    Above,
    /// A problem while the signal is low (speed, free spaces).
    Below,
}

#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RuleConfig {
    /// Name of the rule, unique in its group; part of the dedup key and rule name.
    pub name: String,
    /// The quantity the rule watches.
    pub quantity: Quantity,
    /// `value` (the reading), `iaqi` (its individual air-quality index) or `rise` (its
    /// increase over `rise_window_secs`).
    #[serde(default)]
    pub signal: Signal,
    /// Window of a `rise` signal.
    #[serde(default = "default_rise_window_secs")]
    pub rise_window_secs: u64,
    /// `above`: raise when the signal goes above `raise`; `below`: when it goes below.
    #[serde(default)]
    pub direction: Direction,
    /// An episode starts when the signal reaches this (at or above for `above`, at or below
    /// for `below`) ...
    pub raise: f64,
    /// ... and ends only when it passes this one back, so a value hovering at `raise` does not
    /// open and close an issue on every reading.
    pub clear: f64,
    /// The signal must stay past `raise` this long (reading time) before an issue is filed.
    #[serde(default)]
    pub min_duration_secs: u64,
    /// Issue category; defaults to the group kind's (air_pollution, parking_saturated,
    /// congestion).
    #[serde(default)]
    pub category: Option<Category>,
    /// While an episode lasts, an ongoing occurrence is reported at most this often.
    #[serde(default = "default_ongoing_every_secs")]
    pub ongoing_every_secs: u64,
    /// Readings this long before the episode started are attached to the issue as evidence.
    #[serde(default = "default_evidence_before_secs")]
    pub evidence_before_secs: u64,
}

fn default_rise_window_secs() -> u64 {
    600
}
fn default_ongoing_every_secs() -> u64 {
    900
}
fn default_evidence_before_secs() -> u64 {
    600
}

/// Ids become metric labels, dedup keys and topic levels: the same alphabet as `box_id`.
fn validate_identifier(key: &str, value: &str) -> Result<(), SensorsConfigError> {
    if shaobing_core::is_identifier(value) {
        Ok(())
    } else {
        Err(invalid(key, format!("expected {}, got `{value}`", shaobing_core::IDENTIFIER_RULE)))
    }
}

impl SensorsConfig {
    pub fn validate(&self) -> Result<(), SensorsConfigError> {
        if !(64..=1 << 20).contains(&self.max_payload_bytes) {
            return Err(invalid(
                "sensors.max_payload_bytes",
                format!("expected 64 to 1048576 bytes, got {}", self.max_payload_bytes),
            ));
        }
        if !(1..=64).contains(&self.max_json_depth) {
            return Err(invalid("sensors.max_json_depth", format!("expected 1 to 64, got {}", self.max_json_depth)));
        }
        for (key, v) in [
            ("sensors.batch_max", self.batch_max),
            ("sensors.queue_capacity", self.queue_capacity),
            ("sensors.stale_check_secs", self.stale_check_secs as usize),
        ] {
            if v == 0 {
                return Err(invalid(key, "expected at least 1, got 0"));
            }
        }
        let mut names = BTreeSet::new();
        for (i, group) in self.groups.iter().enumerate() {
            let key = format!("sensors.groups[{i}]");
            group.validate(&key)?;
            if !names.insert(group.name.as_str()) {
                return Err(invalid(
                    format!("{key}.name"),
                    format!("expected unique group names, `{}` is defined twice", group.name),
                ));
            }
        }
        Ok(())
    }
}

impl SensorGroupConfig {
    fn validate(&self, key: &str) -> Result<(), SensorsConfigError> {
        validate_identifier(&format!("{key}.name"), &self.name)?;
        validate_topic_filter(&format!("{key}.topic"), &self.topic)?;
        if self.topic.split('/').nth(self.sensor_id_level) != Some("+") {
            return Err(invalid(
                format!("{key}.sensor_id_level"),
                format!("expected the index of a `+` level of `{}`, got {}", self.topic, self.sensor_id_level),
            ));
        }
        self.decoder.validate(&format!("{key}.decoder"))?;
        if self.stale_after_secs == Some(0) {
            return Err(invalid(format!("{key}.stale_after_secs"), "expected seconds > 0 (leave unset to disable)"));
        }
        if self.sensors.is_empty() {
            return Err(invalid(format!("{key}.sensors"), "expected at least one sensor with its location"));
        }
        for (id, location) in &self.sensors {
            validate_identifier(&format!("{key}.sensors"), id)?;
            location.validate().map_err(|e| invalid(format!("{key}.sensors.{id}.{}", e.key), e.message))?;
        }
        let quantities = self.decoder.quantities();
        let mut names = BTreeSet::new();
        for (i, rule) in self.rules.iter().enumerate() {
            let rule_key = format!("{key}.rules[{i}]");
            rule.validate(&rule_key, &quantities)?;
            if !names.insert(rule.name.as_str()) {
                return Err(invalid(
                    format!("{rule_key}.name"),
                    format!("expected unique rule names in a group, `{}` is defined twice", rule.name),
                ));
            }
        }
        Ok(())
    }

    pub fn category_of(&self, rule: &RuleConfig) -> Category {
        rule.category.unwrap_or(self.kind.default_category())
    }
}

/// `+` and `#` must fill a whole level and `#` must be last (MQTT 3.1.1 section 4.7).
fn validate_topic_filter(key: &str, filter: &str) -> Result<(), SensorsConfigError> {
    let levels: Vec<&str> = filter.split('/').collect();
    let bad_level = levels.iter().enumerate().find(|(i, level)| {
        let wildcard_inside = level.len() > 1 && (level.contains('+') || level.contains('#'));
        wildcard_inside || (**level == "#" && *i + 1 != levels.len())
    });
    if filter.is_empty() || filter.len() > 256 || bad_level.is_some() {
        return Err(invalid(key, format!("expected an MQTT topic filter such as `city/air/+/state`, got `{filter}`")));
    }
    Ok(())
}

impl DecoderConfig {
    /// The quantities a message of this format can carry.
    pub fn quantities(&self) -> BTreeSet<Quantity> {
        match self {
            DecoderConfig::Json { fields, .. } => fields.iter().map(|f| f.quantity).collect(),
            DecoderConfig::Plain { quantity, .. } => BTreeSet::from([*quantity]),
        }
    }

    fn validate(&self, key: &str) -> Result<(), SensorsConfigError> {
        match self {
            DecoderConfig::Json { fields, timestamp, sequence, .. } => {
                if fields.is_empty() {
                    return Err(invalid(format!("{key}.fields"), "expected at least one field"));
                }
                if self.quantities().len() != fields.len() {
                    return Err(invalid(format!("{key}.fields"), "expected each quantity at most once"));
                }
                for (i, field) in fields.iter().enumerate() {
                    validate_path(&format!("{key}.fields[{i}].path"), &field.path)?;
                    validate_unit(&format!("{key}.fields[{i}].unit"), field.quantity, field.unit())?;
                }
                for (name, path) in [("timestamp", timestamp), ("sequence", sequence)] {
                    if let Some(path) = path {
                        validate_path(&format!("{key}.{name}"), path)?;
                    }
                }
                Ok(())
            }
            DecoderConfig::Plain { quantity, unit } => {
                validate_unit(&format!("{key}.unit"), *quantity, unit.unwrap_or(quantity.canonical_unit()))
            }
        }
    }
}

fn validate_path(key: &str, path: &str) -> Result<(), SensorsConfigError> {
    if path.is_empty() || path.split('.').any(str::is_empty) {
        return Err(invalid(key, format!("expected a dotted path such as `data.pm25`, got `{path}`")));
    }
    Ok(())
}

fn validate_unit(key: &str, quantity: Quantity, unit: Unit) -> Result<(), SensorsConfigError> {
    match unit.factor_to(quantity.canonical_unit()) {
        Some(_) => Ok(()),
        None => Err(invalid(
            key,
            format!("expected a unit convertible to {} for {quantity}, got {unit}", quantity.canonical_unit()),
        )),
    }
}

impl RuleConfig {
    fn validate(&self, key: &str, quantities: &BTreeSet<Quantity>) -> Result<(), SensorsConfigError> {
        validate_identifier(&format!("{key}.name"), &self.name)?;
        if !quantities.contains(&self.quantity) {
            return Err(invalid(
                format!("{key}.quantity"),
                format!("expected a quantity the group's decoder produces, got {}", self.quantity),
            ));
        }
        if self.signal == Signal::Iaqi && self.quantity.pollutant().is_none() {
            return Err(invalid(
                format!("{key}.signal"),
                format!("expected `value` or `rise`: {} has no AQI", self.quantity),
            ));
        }
        if self.signal == Signal::Rise && self.rise_window_secs == 0 {
            return Err(invalid(format!("{key}.rise_window_secs"), "expected seconds > 0"));
        }
        for (name, v) in [("raise", self.raise), ("clear", self.clear)] {
            if !v.is_finite() {
                return Err(invalid(format!("{key}.{name}"), format!("expected a finite number, got {v}")));
            }
        }
        let ordered = match self.direction {
            Direction::Above => self.clear < self.raise,
            Direction::Below => self.clear > self.raise,
        };
        if !ordered {
            let side = if self.direction == Direction::Above { "below" } else { "above" };
            return Err(invalid(
                format!("{key}.clear"),
                format!("expected a clear threshold {side} raise = {} (hysteresis), got {}", self.raise, self.clear),
            ));
        }
        if self.ongoing_every_secs == 0 {
            return Err(invalid(format!("{key}.ongoing_every_secs"), "expected seconds > 0"));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests;
