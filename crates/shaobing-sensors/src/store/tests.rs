use super::*;
use crate::testutil::{AIR_TOPIC, NOW, PARKING_TOPIC, mapping};

fn air_message(seq: u64, ts: i64, pm25: f64) -> SensorMessage {
    thread_local! {
        static MAPPING: crate::Mapping = mapping();
    }
    let payload = format!(r#"{{"ts": {ts}, "seq": {seq}, "pm25": {pm25}}}"#);
    MAPPING.with(|m| m.decode(AIR_TOPIC, payload.as_bytes(), NOW).unwrap())
}

fn open() -> (tempfile::TempDir, ReadingsStore) {
    let dir = tempfile::tempdir().unwrap();
    let store = ReadingsStore::open_in(dir.path()).unwrap();
    (dir, store)
}

#[test]
fn duplicates_are_invisible_and_a_rebooted_sensor_is_not_a_duplicate() {
    let (_dir, mut store) = open();
    let batch: Vec<_> = (0..10).map(|i| air_message(i, NOW.0 - 10_000 + i as i64, 20.0 + i as f64)).collect();
    assert_eq!(store.commit(&batch).unwrap(), CommitOutcome { inserted: 10, duplicates: 0 });
    assert_eq!(store.commit(&batch[3..6]).unwrap(), CommitOutcome { inserted: 0, duplicates: 3 });
    // Same sequence numbers after a reboot, but later timestamps: new readings.
    let rebooted: Vec<_> = (0..2).map(|i| air_message(i, NOW.0 - 1_000 + i as i64, 50.0)).collect();
    assert_eq!(store.commit(&rebooted).unwrap(), CommitOutcome { inserted: 2, duplicates: 0 });
    let series = store.series(&batch[0].sensor, "pm2_5", UnixMillis(0), NOW).unwrap();
    assert_eq!(series.len(), 12);
    assert_eq!(series[4].seq, Some(4));
    assert_eq!(series[4].reading.value, 24.0);
}

#[test]
fn data_survives_reopening() {
    let (dir, mut store) = open();
    store.commit(&[air_message(1, NOW.0, 33.0)]).unwrap();
    drop(store);
    let store = ReadingsStore::open_in(dir.path()).unwrap();
    assert_eq!(store.count().unwrap(), 1);
    let mode: String = store.conn.pragma_query_value(None, "journal_mode", |r| r.get(0)).unwrap();
    let sync: i64 = store.conn.pragma_query_value(None, "synchronous", |r| r.get(0)).unwrap();
    assert_eq!((mode.as_str(), sync), ("wal", 2));
}

#[test]
fn arrival_time_readings_without_sequence_are_all_kept() {
    let (_dir, mut store) = open();
    let m = mapping();
    let batch: Vec<_> = (0..3).map(|i| m.decode(PARKING_TOPIC, b"50", UnixMillis(NOW.0 + i)).unwrap()).collect();
    assert_eq!(store.commit(&batch).unwrap().inserted, 3);
}

#[test]
fn retention_by_age_rows_and_bytes() {
    let (_dir, mut store) = open();
    let day = 86_400_000;
    let old: Vec<_> = (0..100).map(|i| air_message(i, NOW.0 - 5 * day + i as i64, 10.0)).collect();
    let new: Vec<_> = (100..400).map(|i| air_message(i, NOW.0 - 60_000 + i as i64, 10.0)).collect();
    store.commit(&old).unwrap();
    store.commit(&new).unwrap();
    let by_age = RetentionConfig { max_age_secs: 86_400, ..RetentionConfig::default() };
    assert_eq!(store.enforce_retention(&by_age, NOW).unwrap(), 100);
    assert_eq!(store.count().unwrap(), 300);

    let by_rows = RetentionConfig { max_rows: 120, ..RetentionConfig::default() };
    assert_eq!(store.enforce_retention(&by_rows, NOW).unwrap(), 180);
    let kept = store.series(&new[0].sensor, "pm2_5", UnixMillis(0), NOW).unwrap();
    assert_eq!((kept.len(), kept[0].seq), (120, Some(280)), "the newest rows are kept");

    let bulk: Vec<_> = (1_000..21_000).map(|i| air_message(i, NOW.0 - 60_000 + i as i64, 10.0)).collect();
    store.commit(&bulk).unwrap();
    let before = store.used_bytes().unwrap();
    let by_bytes = RetentionConfig { max_bytes: before / 2, ..RetentionConfig::default() };
    let deleted = store.enforce_retention(&by_bytes, NOW).unwrap();
    assert!(deleted >= 5_000, "deleted {deleted}");
    assert!(store.used_bytes().unwrap() <= before / 2);
    assert!(store.count().unwrap() > 0);
}

#[test]
fn latest_is_kept_per_series_and_only_moves_forward() {
    let (_dir, mut store) = open();
    let m = mapping();
    store.commit(&[air_message(2, NOW.0 - 1_000, 40.0), air_message(1, NOW.0 - 2_000, 30.0)]).unwrap();
    store.commit(&[m.decode(PARKING_TOPIC, b"50", NOW).unwrap()]).unwrap();
    // A late, older reading does not replace the newer one.
    store.commit(&[air_message(0, NOW.0 - 3_000, 20.0)]).unwrap();
    let latest = store.latest().unwrap();
    let pm25 = latest.iter().find(|r| r.quantity == "pm2_5").unwrap();
    assert_eq!((pm25.value, pm25.observed_at), (40.0, UnixMillis(NOW.0 - 1_000)));
    assert_eq!(latest.len(), 2, "{latest:?}");
    // Retention deletes readings, not what the console shows as a sensor's last word.
    let by_rows = RetentionConfig { max_rows: 0, ..RetentionConfig::default() };
    store.enforce_retention(&by_rows, NOW).unwrap();
    assert_eq!((store.count().unwrap(), store.latest().unwrap()), (0, latest));
}

#[test]
fn a_version_1_database_keeps_its_readings_and_their_identity() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(READINGS_DB_FILE);
    {
        let conn = Connection::open(&path).unwrap();
        conn.execute_batch(MIGRATIONS[0]).unwrap();
        conn.pragma_update(None, "user_version", 1).unwrap();
        let mut insert = conn
            .prepare(
                "INSERT INTO readings (sensor, quantity, id_seq, id_time, observed_ms, value, unit, committed_ms)
                 VALUES ('aq-gongti', 'pm2_5', ?1, ?2, ?2, ?3, 'ug/m3', ?2)",
            )
            .unwrap();
        for (seq, value) in [(0i64, 20.0), (1, 21.0), (2, 22.0)] {
            insert.execute(params![seq, NOW.0 - 1_000 + seq, value]).unwrap();
        }
    }
    let mut store = ReadingsStore::open(&path).unwrap();
    assert_eq!(store.count().unwrap(), 3);
    let latest = store.latest().unwrap();
    assert_eq!((latest.len(), latest[0].value), (1, 22.0));
    // The same reading arriving again is still recognised as a duplicate after the migration.
    let again = air_message(1, NOW.0 - 999, 21.0);
    assert_eq!(again.sensor.0, "aq-gongti");
    assert_eq!(store.commit(&[again]).unwrap(), CommitOutcome { inserted: 0, duplicates: 1 });
    let series = store.series(&latest[0].sensor, "pm2_5", UnixMillis(0), NOW).unwrap();
    assert_eq!(series.iter().map(|r| r.seq).collect::<Vec<_>>(), [Some(0), Some(1), Some(2)]);
}

#[test]
fn an_old_backfill_ages_out_behind_the_readings_inserted_before_it() {
    let (_dir, mut store) = open();
    let day = 86_400_000;
    store.commit(&[air_message(1, NOW.0 - 60_000, 10.0)]).unwrap();
    store.commit(&[air_message(0, NOW.0 - 5 * day, 10.0)]).unwrap();
    let by_age = RetentionConfig { max_age_secs: 86_400, ..RetentionConfig::default() };
    assert_eq!(store.enforce_retention(&by_age, NOW).unwrap(), 0);
    assert_eq!(store.enforce_retention(&by_age, UnixMillis(NOW.0 + day)).unwrap(), 2);
}

#[test]
fn a_trend_averages_each_bucket_and_leaves_out_what_is_outside_the_span() {
    let (_dir, mut store) = open();
    // 60 readings a second apart, values 0..60; one more a minute before the span.
    let start = NOW.0 - 60_000;
    let mut batch: Vec<_> = (0..60).map(|i| air_message(i, start + i as i64 * 1_000, i as f64)).collect();
    batch.push(air_message(99, start - 60_000, 1_000.0));
    store.commit(&batch).unwrap();
    let trends = store.trend(&batch[0].sensor, UnixMillis(start), UnixMillis(start + 60_000), 6).unwrap();
    assert_eq!(trends.len(), 1, "{trends:?}");
    let t = &trends[0];
    assert_eq!((t.quantity.as_str(), t.unit.as_str(), t.bucket_ms), ("pm2_5", "ug/m3", 10_000));
    assert_eq!(t.points.len(), 6);
    // The first ten seconds: readings 0..=9.
    assert_eq!(t.points[0], TrendPoint { start_ms: start, mean: 4.5, min: 0.0, max: 9.0, count: 10 });
    assert_eq!(t.points[5].start_ms, start + 50_000);
    assert!(t.points.iter().all(|p| p.max < 1_000.0), "the reading before the span is left out");
}
