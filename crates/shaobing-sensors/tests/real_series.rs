//! A real PM2.5 series (EPA, Durham NC, 2011; see fixtures/README.md) through the decoder, the
//! IAQI and the rules: a clean year raises no air-pollution issue.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use shaobing_core::{Category, EscalationTier, Responsibility, UnixMillis};
use shaobing_sensors::aqi::{AqiLevel, Pollutant, realtime_iaqi};
use shaobing_sensors::{Mapping, RuleEngine, SensorsConfig};

const SERIES: &str = include_str!("../fixtures/pm25_2011_durham.csv");
const CONFIG: &str = include_str!("../fixtures/sensors.toml");
const DAY_MS: i64 = 86_400_000;

/// (day index since 2011-01-01, PM2.5) of the daily continuous monitor (POC 3).
fn daily_monitor() -> Vec<(i64, f64)> {
    SERIES
        .lines()
        .skip(1)
        .filter_map(|line| {
            let f: Vec<&str> = line.split(',').collect();
            (f[1] == "3").then(|| (day_of_2011(f[0]), f[2].parse().unwrap()))
        })
        .collect()
}

fn day_of_2011(date: &str) -> i64 {
    const CUMULATIVE: [i64; 12] = [0, 31, 59, 90, 120, 151, 181, 212, 243, 273, 304, 334];
    let parts: Vec<i64> = date.split('-').map(|p| p.parse().unwrap()).collect();
    assert_eq!(parts[0], 2011);
    CUMULATIVE[parts[1] as usize - 1] + parts[2] - 1
}

#[test]
fn the_fixture_is_what_its_readme_says() {
    assert_eq!(SERIES.lines().count(), 1 + 449);
    let daily = daily_monitor();
    assert_eq!(daily.len(), 358);
    let max = daily.iter().map(|d| d.1).fold(f64::MIN, f64::max);
    assert_eq!(max, 42.4458);
}

#[test]
fn the_worst_day_is_good_not_polluted() {
    // (100-50)/(75-35)*(42.4458-35)+50 = 59.307, rounded up.
    let worst = realtime_iaqi(Pollutant::Pm2_5, 42.4458).unwrap();
    assert_eq!((worst.value, worst.level()), (60, AqiLevel::Good));
    let daily = daily_monitor();
    let levels: Vec<AqiLevel> = daily.iter().map(|d| realtime_iaqi(Pollutant::Pm2_5, d.1).unwrap().level()).collect();
    let good = levels.iter().filter(|l| **l == AqiLevel::Good).count();
    let excellent = levels.iter().filter(|l| **l == AqiLevel::Excellent).count();
    assert_eq!(excellent + good, levels.len(), "no polluted day");
    // 35 ug/m3 is the line between 优 and 良: the days above it in the raw data are the 良 days.
    assert_eq!(good, daily.iter().filter(|d| d.1 > 35.0).count());
    assert!(good > 0);
}

#[test]
fn a_clean_year_raises_no_issue_through_decoder_and_rules() {
    let mapping = Mapping::new(toml::from_str::<SensorsConfig>(CONFIG).unwrap()).unwrap();
    let mut engine = RuleEngine::new(&mapping, |c: Category| Responsibility {
        department: c.to_string(),
        tier: EscalationTier::StreetToDistrict,
        resolution_path: String::new(),
        deadlines: Default::default(),
    });
    // 2011-01-01 00:00 UTC; each reading arrives at its own time, so none is too old.
    let year_start = 1_293_840_000_000;
    let mut decoded = 0;
    for (seq, (day, pm25)) in daily_monitor().into_iter().enumerate() {
        let ts = year_start + day * DAY_MS;
        let payload = format!(r#"{{"ts": {ts}, "seq": {seq}, "pm25": {pm25}}}"#);
        let message = mapping.decode("sanlitun/air/aq-gongti/state", payload.as_bytes(), UnixMillis(ts)).unwrap();
        assert_eq!(message.readings[0].value, pm25);
        decoded += 1;
        let issues = engine.observe(&message);
        assert!(issues.is_empty(), "day {day}: {issues:?}");
    }
    assert_eq!(decoded, 358);
}
