use super::*;

use crate::testutil::EXAMPLE;

fn parse(text: &str) -> Result<SensorsConfig, String> {
    let config: SensorsConfig = toml::from_str(text).map_err(|e| e.to_string())?;
    config.validate().map_err(|e| e.to_string())?;
    Ok(config)
}

fn error_of(text: &str) -> String {
    match parse(text) {
        Ok(_) => panic!("config was accepted:\n{text}"),
        Err(e) => e,
    }
}

/// The example with one line replaced, to test one key at a time against a valid whole.
fn example_with(from: &str, to: &str) -> String {
    assert!(EXAMPLE.contains(from), "example has no `{from}`");
    EXAMPLE.replacen(from, to, 1)
}

#[test]
fn example_parses_with_defaults() {
    let c = parse(EXAMPLE).unwrap();
    assert_eq!(c.groups.len(), 2);
    assert_eq!(c.max_json_depth, 8);
    let air = &c.groups[0];
    assert_eq!(air.kind, SensorKind::AirQuality);
    assert_eq!(air.sensors["aq-gongti"].grid_cell.as_deref(), Some("sanlitun-07"));
    assert_eq!(air.rules[0].signal, Signal::Iaqi);
    assert_eq!(air.rules[0].ongoing_every_secs, 900);
    assert_eq!(air.category_of(&air.rules[0]), Category::AirPollution);
    let DecoderConfig::Json { fields, sequence, .. } = &air.decoder else { panic!("json decoder expected") };
    assert_eq!(fields[3].unit(), Unit::MilligramsPerM3);
    assert_eq!(sequence.as_deref(), Some("seq"));
    let parking = &c.groups[1];
    assert_eq!(parking.rules[0].direction, Direction::Above);
    assert_eq!(parking.category_of(&parking.rules[0]), Category::ParkingSaturated);
}

#[test]
fn unknown_keys_are_rejected() {
    let e = error_of(&example_with("max_payload_bytes = 4096", "max_payload_byte = 4096"));
    assert!(e.contains("unknown field `max_payload_byte`"), "{e}");
    let e = error_of(&example_with("format = \"plain\"", "format = \"plain\", scale = 2"));
    assert!(e.contains("unknown field `scale`"), "{e}");
}

#[test]
fn validation_names_the_key() {
    let cases = [
        ("sensor_id_level = 2\nstale", "sensor_id_level = 1\nstale", "sensors.groups[0].sensor_id_level"),
        ("sanlitun/air/+/state", "sanlitun/air#/+/state", "sensors.groups[0].topic"),
        ("clear = 100.0", "clear = 160.0", "sensors.groups[0].rules[0].clear"),
        ("lat = 39.9334", "lat = 99.0", "sensors.groups[0].sensors.aq-gongti.lat"),
        ("name = \"parking\"", "name = \"air\"", "sensors.groups[1].name"),
        (
            "name = \"saturated\"\nquantity = \"occupancy\"",
            "name = \"saturated\"\nquantity = \"speed\"",
            "rules[0].quantity",
        ),
        ("unit = \"percent\"", "unit = \"km/h\"", "sensors.groups[1].decoder.unit"),
        ("stale_after_secs = 900", "stale_after_secs = 0", "sensors.groups[0].stale_after_secs"),
        ("name = \"air\"", "name = \"air quality\"", "sensors.groups[0].name"),
    ];
    for (from, to, key) in cases {
        let e = error_of(&example_with(from, to));
        assert!(e.starts_with(key) || e.contains(&format!("{key}:")), "`{to}` gave `{e}`, expected key {key}");
        assert!(e.contains("expected"), "{e}");
    }
}

#[test]
fn iaqi_signal_needs_a_pollutant() {
    let text = example_with(
        "name = \"saturated\"\nquantity = \"occupancy\"",
        "name = \"saturated\"\nquantity = \"occupancy\"\nsignal = \"iaqi\"",
    );
    let e = error_of(&text);
    assert!(e.contains("rules[0].signal") && e.contains("occupancy has no AQI"), "{e}");
}

#[test]
fn below_rules_need_the_clear_threshold_above() {
    let text = example_with("raise = 0.95\nclear = 0.85", "direction = \"below\"\nraise = 0.95\nclear = 0.85");
    let e = error_of(&text);
    assert!(e.contains("clear threshold above raise"), "{e}");
    assert!(
        parse(&example_with("raise = 0.95\nclear = 0.85", "direction = \"below\"\nraise = 0.05\nclear = 0.15")).is_ok()
    );
}

#[test]
fn topic_filters_follow_mqtt_rules() {
    for good in ["a/+/b", "a/#", "+", "#", "a/b"] {
        assert!(validate_topic_filter("k", good).is_ok(), "{good}");
    }
    for bad in ["", "a/#/b", "a/b+/c", "a/#b"] {
        assert!(validate_topic_filter("k", bad).is_err(), "{bad}");
    }
}
