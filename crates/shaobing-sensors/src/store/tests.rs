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
