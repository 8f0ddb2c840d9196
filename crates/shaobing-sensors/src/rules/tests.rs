use super::*;
use crate::SensorsConfig;
use crate::testutil::{AIR_TOPIC, NOW, PARKING_TOPIC, mapping};
use shaobing_core::EscalationTier;

const MIN: i64 = 60_000;

fn department_of(c: Category) -> Responsibility {
    Responsibility {
        department: format!("dept-{c}"),
        tier: EscalationTier::StreetToDistrict,
        resolution_path: format!("path-{c}"),
        deadlines: Default::default(),
    }
}

fn engine_for(mapping: &Mapping) -> RuleEngine {
    RuleEngine::new(mapping, department_of)
}

/// Feeds PM2.5 readings at the given minutes after `NOW`; returns (minute, rule, phase).
fn feed_pm25(engine: &mut RuleEngine, series: &[(i64, f64)]) -> Vec<(i64, String, Phase, SensorIssue)> {
    let m = mapping();
    let mut out = Vec::new();
    for (seq, &(minute, pm25)) in series.iter().enumerate() {
        let t = NOW.0 + minute * MIN;
        let payload = format!(r#"{{"ts": {t}, "seq": {seq}, "pm25": {pm25}}}"#);
        let message = m.decode(AIR_TOPIC, payload.as_bytes(), UnixMillis(t)).unwrap();
        for issue in engine.observe(&message) {
            out.push((minute, issue.evidence.rule.clone(), issue.phase, issue));
        }
    }
    out
}

fn episode_rule(found: &[(i64, String, Phase, SensorIssue)]) -> Vec<(i64, Phase)> {
    found.iter().filter(|f| f.1 == "sensor/air/pm25_episode").map(|f| (f.0, f.2)).collect()
}

/// Clean air for 20 min, a dip below the raise threshold that restarts the hour, 100 min at
/// IAQI 158 (中度污染) with a stretch at IAQI 119 (not cleared: hysteresis), then clean air.
fn sustained_episode() -> Vec<(i64, f64)> {
    let mut s: Vec<(i64, f64)> = (0..20).map(|m| (m, 60.0)).collect();
    s.extend((20..30).map(|m| (m, 120.0)));
    s.push((30, 90.0));
    s.extend((31..131).map(|m| (m, if (100..110).contains(&m) { 90.0 } else { 120.0 })));
    s.extend((131..140).map(|m| (m, 70.0)));
    s
}

#[test]
fn a_sustained_episode_is_one_issue_opened_once_then_ongoing_then_cleared() {
    let mut engine = engine_for(&mapping());
    let found = feed_pm25(&mut engine, &sustained_episode());
    // Raised at minute 31, so the hour is up at 91; ongoing every 15 min; 90 ug/m3 (IAQI 119)
    // at minutes 100-109 is between clear (100) and raise (151) and does not end it.
    let expected = vec![(91, Phase::Opened), (106, Phase::Ongoing), (121, Phase::Ongoing), (131, Phase::Cleared)];
    assert_eq!(episode_rule(&found), expected);
    let keys: std::collections::BTreeSet<&str> =
        found.iter().filter(|f| f.1 == "sensor/air/pm25_episode").map(|f| f.3.candidate.dedup_key.as_str()).collect();
    assert_eq!(keys.into_iter().collect::<Vec<_>>(), vec!["sensor:air:aq-gongti:pm25_episode"]);
}

#[test]
fn the_opened_issue_carries_location_department_and_evidence() {
    let mut engine = engine_for(&mapping());
    let found = feed_pm25(&mut engine, &sustained_episode());
    let opened = &found.iter().find(|f| f.2 == Phase::Opened && f.1.ends_with("pm25_episode")).unwrap().3;
    let c = &opened.candidate;
    assert_eq!(c.category, Category::AirPollution);
    assert_eq!(c.channel, DiscoveryChannel::CommandCentreSensor);
    assert_eq!((c.location.lat, c.location.lon), (Some(39.9334), Some(116.4470)));
    assert_eq!(c.location.grid_cell.as_deref(), Some("sanlitun-07"));
    assert_eq!(c.location.source, "aq-gongti");
    assert_eq!(c.responsibility.department, "dept-air_pollution");
    assert_eq!(c.cause.rule, "sensor/air/pm25_episode");
    assert_eq!(c.observed_at, UnixMillis(NOW.0 + 91 * MIN));
    assert!(c.cause.summary.contains("2025-11-25 08:31:00"), "{}", c.cause.summary);
    let e = &opened.evidence;
    assert_eq!(e.since, Some(UnixMillis(NOW.0 + 31 * MIN)));
    // evidence_before_secs = 600: from minute 21 to the firing reading at 91.
    assert_eq!(e.points.first().unwrap().t, UnixMillis(NOW.0 + 21 * MIN));
    assert_eq!(e.points.last().unwrap().t, UnixMillis(NOW.0 + 91 * MIN));
    assert_eq!(e.points.len(), 71);
    let at_30 = e.points.iter().find(|p| p.t == UnixMillis(NOW.0 + 30 * MIN)).unwrap();
    assert_eq!((at_30.value, at_30.signal), (90.0, 119.0));
    let json: serde_json::Value = serde_json::from_str(&e.to_json()).unwrap();
    assert_eq!(json["signal"], "iaqi");
    assert_eq!(json["points"][0]["signal"], 158.0);
}

#[test]
fn redelivered_and_out_of_order_readings_do_not_count() {
    let mut engine = engine_for(&mapping());
    let series: Vec<(i64, f64)> = (0..59).map(|m| (m, 120.0)).collect();
    assert!(episode_rule(&feed_pm25(&mut engine, &series)).is_empty());
    // The whole hour again (a broker redelivering), then one reading older than the last.
    assert!(feed_pm25(&mut engine, &series).is_empty());
    assert!(feed_pm25(&mut engine, &[(10, 300.0)]).is_empty());
    assert_eq!(episode_rule(&feed_pm25(&mut engine, &[(60, 120.0)])), vec![(60, Phase::Opened)]);
}

#[test]
fn a_sudden_rise_fires_the_rate_of_change_rule() {
    let mut engine = engine_for(&mapping());
    let mut series: Vec<(i64, f64)> = (0..10).map(|m| (m, 20.0)).collect();
    series.extend([(11, 60.0), (13, 125.0), (14, 140.0), (30, 140.0)]);
    let found = feed_pm25(&mut engine, &series);
    let spikes: Vec<(i64, Phase)> =
        found.iter().filter(|f| f.1 == "sensor/air/pm25_spike").map(|f| (f.0, f.2)).collect();
    // Minute 13: 125 - 20 (minute 3, the oldest within 10 min) = 105 >= 100. Minute 30: the
    // window holds only 140, so the rise is 0 <= 30: cleared.
    assert_eq!(spikes, vec![(13, Phase::Opened), (30, Phase::Cleared)]);
    let opened = &found.iter().find(|f| f.1 == "sensor/air/pm25_spike").unwrap().3;
    assert_eq!(opened.evidence.points.last().unwrap().signal, 105.0);
}

#[test]
fn below_rules_fire_on_low_values() {
    let mut config: SensorsConfig = mapping().config().clone();
    let rule = &mut config.groups[1].rules[0];
    (rule.direction, rule.raise, rule.clear, rule.min_duration_secs) = (Direction::Below, 0.05, 0.15, 0);
    let m = Mapping::new(config).unwrap();
    let mut engine = engine_for(&m);
    let mut phases = Vec::new();
    for (i, percent) in [50, 4, 10, 3, 20].into_iter().enumerate() {
        let msg = m.decode(PARKING_TOPIC, percent.to_string().as_bytes(), UnixMillis(NOW.0 + i as i64)).unwrap();
        phases.extend(engine.observe(&msg).into_iter().map(|s| (percent, s.phase, s.candidate.category)));
    }
    assert_eq!(
        phases,
        vec![(4, Phase::Opened, Category::ParkingSaturated), (20, Phase::Cleared, Category::ParkingSaturated)]
    );
}

#[test]
fn a_silent_sensor_raises_one_maintenance_issue_until_it_speaks() {
    let mut engine = engine_for(&mapping());
    assert!(engine.check_stale(NOW).is_empty());
    assert!(engine.check_stale(UnixMillis(NOW.0 + 899_000)).is_empty());
    let stale = engine.check_stale(UnixMillis(NOW.0 + 900_000));
    // Only the air group has stale_after_secs.
    assert_eq!(stale.len(), 1);
    let c = &stale[0].candidate;
    assert_eq!((stale[0].phase, c.category), (Phase::Opened, Category::DeviceMaintenance));
    assert_eq!(c.dedup_key, "sensor:air:aq-gongti:stale");
    assert_eq!(c.responsibility.department, "dept-device_maintenance");
    assert_eq!(c.location.address.as_deref(), Some("朝阳区工体北路 4 号"));
    assert!(engine.check_stale(UnixMillis(NOW.0 + 2_000_000)).is_empty(), "opened once");
    let back = feed_pm25(&mut engine, &[(40, 30.0)]);
    let phases: Vec<(&str, Phase)> = back.iter().map(|f| (f.1.as_str(), f.2)).collect();
    assert_eq!(phases, vec![("sensor/air/stale", Phase::Cleared)]);
    // Silent again from minute 40 (its last reading), for 15 minutes.
    assert!(engine.check_stale(UnixMillis(NOW.0 + 54 * MIN)).is_empty());
    assert_eq!(engine.check_stale(UnixMillis(NOW.0 + 55 * MIN)).len(), 1);
}
