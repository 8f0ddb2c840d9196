use super::*;
use crate::testutil::{AIR_TOPIC, NOW, PARKING_TOPIC, mapping};

fn air(payload: &str) -> Result<SensorMessage, Rejection> {
    mapping().decode(AIR_TOPIC, payload.as_bytes(), NOW)
}

#[test]
fn json_fields_are_converted_to_canonical_units() {
    let ts = NOW.0 - 60_000;
    let m = air(&format!(r#"{{"ts": {ts}, "seq": 41, "pm25": 80, "gas": {{"no2": 30.5, "co": 1.2}}}}"#)).unwrap();
    assert_eq!((m.group, m.sensor.0.as_str(), m.seq, m.stamped), (0, "aq-gongti", Some(41), true));
    let got: Vec<(&str, f64, &str, i64)> =
        m.readings.iter().map(|r| (r.quantity.as_str(), r.value, r.unit.as_str(), r.observed_at.0)).collect();
    assert_eq!(got, vec![("pm2_5", 80.0, "ug/m3", ts), ("no2", 30.5, "ug/m3", ts), ("co", 1.2, "mg/m3", ts)]);
}

#[test]
fn plain_numbers_are_parsed_and_converted() {
    let m = mapping().decode(PARKING_TOPIC, b" 87.5\n", NOW).unwrap();
    assert_eq!(m.readings.len(), 1);
    assert_eq!(m.readings[0].value, 0.875);
    assert_eq!(m.readings[0].unit, "ratio");
    assert_eq!(m.readings[0].observed_at, NOW);
    assert!(!m.stamped && m.seq.is_none());
}

#[test]
fn routing_rejects_unknown_topics_and_sensors() {
    let r = mapping().decode("sanlitun/noise/x/state", b"1", NOW).unwrap_err();
    assert_eq!((r.group, r.code), (None, RejectCode::UnknownTopic));
    let r = mapping().decode("sanlitun/air/aq-elsewhere/state", b"{}", NOW).unwrap_err();
    assert_eq!((r.group, r.code), (Some(0), RejectCode::UnknownSensor));
    assert!(topic_matches("a/+/c", "a/b/c"));
    assert!(topic_matches("a/#", "a/b/c"));
    assert!(!topic_matches("a/+/c", "a/b/c/d"));
    assert!(!topic_matches("a/+", "a"));
}

#[test]
fn malformed_payloads_are_rejected_with_their_code() {
    let m = mapping();
    for case in crate::corpus::malformed(NOW) {
        match m.decode(case.topic, &case.payload, NOW) {
            Ok(message) => panic!("{} accepted: {message:?}", case.name),
            Err(r) => assert_eq!(r.code, case.code, "{}: {}", case.name, r.detail),
        }
    }
}

#[test]
fn a_conversion_that_overflows_is_not_finite() {
    let err = checked("pm25", 1e306, Quantity::Pm2_5, Unit::MilligramsPerM3).unwrap_err();
    assert_eq!(err.0, RejectCode::NotFinite);
    assert_eq!(checked("pm25", 0.08, Quantity::Pm2_5, Unit::MilligramsPerM3), Ok(80.0));
}

#[test]
fn brackets_inside_strings_do_not_count_as_depth() {
    assert!(!json_depth_exceeds(br#"{"a": "[[[[[[[[[[[[[[[[", "b": "\"[[[[[[[[[[["}"#, 2));
    assert!(json_depth_exceeds(br#"{"a": [[[1]]]}"#, 3));
    assert!(!json_depth_exceeds(br#"{"a": [[1]]}"#, 3));
}

#[test]
fn rejection_details_are_bounded() {
    let long_id = format!("sanlitun/air/{}/state", "x".repeat(10_000));
    let r = mapping().decode(&long_id, b"1", NOW).unwrap_err();
    assert_eq!(r.code, RejectCode::UnknownSensor);
    assert!(r.detail.len() < 200, "{}", r.detail.len());
    let codes: std::collections::BTreeSet<&str> = RejectCode::ALL.iter().map(|c| c.as_str()).collect();
    assert_eq!(codes.len(), RejectCode::ALL.len());
}

#[test]
fn a_bad_optional_field_is_left_out_and_the_rest_kept() {
    let ts = NOW.0 - 60_000;
    let m = air(&format!(r#"{{"ts": {ts}, "seq": 3, "pm25": 80, "pm10": -200, "gas": {{"no2": "n/a", "co": 1.2}}}}"#))
        .unwrap();
    let got: Vec<&str> = m.readings.iter().map(|r| r.quantity.as_str()).collect();
    assert_eq!(got, ["pm2_5", "co"], "the sentinel and the string are left out");
    assert_eq!(m.dropped, [RejectCode::OutOfRange, RejectCode::WrongType]);
    let r = air(&format!(r#"{{"ts": {ts}, "seq": 4, "pm25": -200, "pm10": 40}}"#)).unwrap_err();
    assert_eq!(r.code, RejectCode::OutOfRange, "a required field cannot be left out");
}
