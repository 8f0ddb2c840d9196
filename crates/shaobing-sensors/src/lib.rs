//! The sensor stage of shaobing: the `[sensors]` configuration (topic filter -> sensor group,
//! id from a topic level, locations, payload decoders), payload validation with stable
//! rejection codes, HJ 633-2012 individual AQI, the rules that turn readings into findings,
//! the readings store, and the ingest that runs them over the box's MQTT connection.
//!
//! Per delivery from `shaobing-mqtt`: [`Mapping::decode`] -> [`ReadingsStore::commit`] ->
//! acknowledge -> [`RuleEngine::observe`] -> [`shaobing_core::Finding`]s for the issues room.

pub mod aqi;
mod config;
pub mod corpus;
mod decode;
mod gaps;
mod ingest;
mod metrics;
mod quantity;
mod rules;
mod store;

pub use config::{
    DecoderConfig, Direction, FieldConfig, RuleConfig, SensorGroupConfig, SensorKind, SensorsConfig,
    SensorsConfigError, Signal, TimestampUnit,
};
pub use decode::{Mapping, RejectCode, Rejection, SensorMessage, topic_matches};
pub use ingest::{IngestError, SensorIngest};
pub use metrics::{IngestMetrics, UNMATCHED_GROUP};
pub use quantity::{Quantity, Unit};
pub use rules::{Evidence, EvidencePoint, RuleEngine, SensorIssue};
pub use store::{
    CommitOutcome, READINGS_DB_FILE, ReadingsError, ReadingsStore, RetentionConfig, RuleWrites, StoredReading, Trend,
    TrendPoint,
};

#[cfg(test)]
pub(crate) mod testutil {
    use crate::{Mapping, SensorsConfig};
    use shaobing_core::UnixMillis;

    pub use crate::corpus::{AIR_TOPIC, EXAMPLE_CONFIG as EXAMPLE, PARKING_TOPIC};
    /// 2025-11-25 00:00:00 UTC: an arbitrary "now" for messages.
    pub const NOW: UnixMillis = UnixMillis(1_764_028_800_000);

    pub fn mapping() -> Mapping {
        let config: SensorsConfig = toml::from_str(EXAMPLE).unwrap();
        Mapping::new(config).unwrap()
    }
}
