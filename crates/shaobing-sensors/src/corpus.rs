//! The decoder's rejection contract: malformed payloads and the code each must be rejected
//! with, for the example configuration (`fixtures/sensors.toml`). The unit tests, the ingest
//! test that sends them through a real broker and the fuzz target's seed corpus all hold the
//! decoder to it.

use crate::RejectCode;
use shaobing_core::UnixMillis;

/// The example `[sensors]` section the corpus is written for.
pub const EXAMPLE_CONFIG: &str = include_str!("../fixtures/sensors.toml");
pub const AIR_TOPIC: &str = "sanlitun/air/aq-gongti/state";
pub const PARKING_TOPIC: &str = "sanlitun/parking/taikoo-p2/occupancy";

/// One malformed message.
#[derive(Debug, Clone)]
pub struct Case {
    pub name: &'static str,
    pub topic: &'static str,
    pub payload: Vec<u8>,
    pub code: RejectCode,
}

/// The corpus for messages arriving at `now` (timestamps are relative to it).
pub fn malformed(now: UnixMillis) -> Vec<Case> {
    let ts = now.0;
    let json = |name, body: String, code| Case { name, topic: AIR_TOPIC, payload: body.into_bytes(), code };
    let plain = |name, body: &str, code| Case { name, topic: PARKING_TOPIC, payload: body.as_bytes().to_vec(), code };
    let nested = format!("{}{}", "[".repeat(1_500), "]".repeat(1_500));
    vec![
        json("truncated", format!(r#"{{"ts": {ts}, "seq": 1, "pm25": 3"#), RejectCode::Truncated),
        json("empty", String::new(), RejectCode::Truncated),
        json("nan_literal", format!(r#"{{"ts": {ts}, "seq": 1, "pm25": NaN}}"#), RejectCode::BadJson),
        json("single_quotes", "{'pm25': 5}".into(), RejectCode::BadJson),
        json("number_overflow", format!(r#"{{"ts": {ts}, "seq": 1, "pm25": 1e999}}"#), RejectCode::BadJson),
        json("huge_1e308", format!(r#"{{"ts": {ts}, "seq": 1, "pm25": 1e308}}"#), RejectCode::OutOfRange),
        json("huge_negative", format!(r#"{{"ts": {ts}, "seq": 1, "pm25": -1e308}}"#), RejectCode::OutOfRange),
        json("negative", format!(r#"{{"ts": {ts}, "seq": 1, "pm25": -3}}"#), RejectCode::OutOfRange),
        json("string_number", format!(r#"{{"ts": {ts}, "seq": 1, "pm25": "35"}}"#), RejectCode::WrongType),
        json("null_value", format!(r#"{{"ts": {ts}, "seq": 1, "pm25": null}}"#), RejectCode::WrongType),
        json("scalar_parent", format!(r#"{{"ts": {ts}, "seq": 1, "pm25": 5, "gas": 7}}"#), RejectCode::WrongType),
        json("negative_seq", format!(r#"{{"ts": {ts}, "seq": -1, "pm25": 5}}"#), RejectCode::WrongType),
        json("fractional_seq", format!(r#"{{"ts": {ts}, "seq": 1.5, "pm25": 5}}"#), RejectCode::WrongType),
        json("string_ts", format!(r#"{{"ts": "{ts}", "seq": 1, "pm25": 5}}"#), RejectCode::WrongType),
        json("array", "[1, 2, 3]".into(), RejectCode::WrongType),
        json("bare_string", r#""pm25""#.into(), RejectCode::WrongType),
        json(
            "long_string",
            format!(r#"{{"ts": {ts}, "seq": 1, "pm25": "{}"}}"#, "9".repeat(3000)),
            RejectCode::WrongType,
        ),
        json("missing_value", format!(r#"{{"ts": {ts}, "seq": 1}}"#), RejectCode::MissingField),
        json("missing_seq", format!(r#"{{"ts": {ts}, "pm25": 5}}"#), RejectCode::MissingField),
        json("missing_ts", r#"{"seq": 1, "pm25": 5}"#.into(), RejectCode::MissingField),
        json("future_ts", format!(r#"{{"ts": {}, "seq": 1, "pm25": 5}}"#, ts + 3_600_000), RejectCode::FutureTimestamp),
        json("absurd_ts", r#"{"ts": 1e300, "seq": 1, "pm25": 5}"#.into(), RejectCode::FutureTimestamp),
        json("epoch_ts", r#"{"ts": 0, "seq": 1, "pm25": 5}"#.into(), RejectCode::TooOld),
        json("deep_nesting", format!(r#"{{"ts": {ts}, "seq": 1, "pm25": 5, "x": {nested}}}"#), RejectCode::TooDeep),
        json(
            "mib_string",
            format!(r#"{{"ts": {ts}, "seq": 1, "pm25": "{}"}}"#, "9".repeat(1 << 20)),
            RejectCode::TooLarge,
        ),
        Case {
            name: "not_utf8",
            topic: AIR_TOPIC,
            payload: b"{\"pm25\": \"\xff\xfe\"}".to_vec(),
            code: RejectCode::NotUtf8,
        },
        Case {
            name: "unknown_sensor",
            topic: "sanlitun/air/aq-unlisted/state",
            payload: format!(r#"{{"ts": {ts}, "seq": 1, "pm25": 5}}"#).into_bytes(),
            code: RejectCode::UnknownSensor,
        },
        plain("plain_nan", "NaN", RejectCode::NotFinite),
        plain("plain_inf", "inf", RejectCode::NotFinite),
        plain("plain_overflow", "1e400", RejectCode::NotFinite),
        plain("plain_1e308", "1e308", RejectCode::OutOfRange),
        plain("plain_over_100_percent", "101", RejectCode::OutOfRange),
        plain("plain_empty", "", RejectCode::NotANumber),
        plain("plain_hex", "0x10", RejectCode::NotANumber),
        plain("plain_json", "{\"v\": 1}", RejectCode::NotANumber),
    ]
}
