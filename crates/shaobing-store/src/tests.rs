use super::*;
use shaobing_core::{
    BBox, Category, Cause, Detection, DiscoveryChannel, EscalationTier, Location, Point, Priority, Responsibility,
    ZoneId,
};

fn candidate(key: &str, at: i64) -> CandidateIssue {
    CandidateIssue {
        dedup_key: key.into(),
        category: Category::IllegalParking,
        location: Location {
            lat: Some(39.93),
            lon: Some(116.45),
            address: Some("三里屯路 19 号".into()),
            grid_cell: None,
            source: "cam-1".into(),
            zone: Some(ZoneId("kerb".into())),
            image_point: Some(Point { x: 0.85, y: 0.2 }),
        },
        cause: Cause {
            summary: "truck stationary 25 s in no-parking zone kerb".into(),
            rule: "illegal_parking/dwell".into(),
            confidence: 0.7,
            detections: vec![Detection {
                class_id: 7,
                label: "truck".into(),
                score: 0.7,
                bbox: BBox::from_corners(0.8, 0.1, 0.9, 0.2),
            }],
        },
        responsibility: Responsibility {
            department: "交通支队".into(),
            tier: EscalationTier::StreetToDistrict,
            resolution_path: "劝离".into(),
        },
        priority: Priority::Routine,
        channel: DiscoveryChannel::CommandCentreVideo,
        observed_at: UnixMillis(at),
    }
}

#[test]
fn repeated_sightings_fold_into_one_open_issue() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open(dir.path(), "box-1").unwrap();
    let first = store.record(&candidate("k1", 1_000), Some(b"\xFF\xD8jpeg")).unwrap();
    let Recorded::Created { id } = first else { panic!("{first:?}") };
    for t in 2..=5 {
        let r = store.record(&candidate("k1", t * 1_000), Some(b"\xFF\xD8other")).unwrap();
        assert_eq!(r, Recorded::Folded { id: id.clone(), occurrences: t });
    }
    let other = store.record(&candidate("k2", 9_000), None).unwrap();
    assert!(matches!(other, Recorded::Created { .. }));

    let rows = store.list(10).unwrap();
    assert_eq!(rows.len(), 2);
    let row = store.get(&id).unwrap();
    assert_eq!((row.occurrences, row.first_seen_ms, row.last_seen_ms), (5, 1_000, 5_000));
    assert_eq!(
        (row.category.as_str(), row.event_code.as_str(), row.status.as_str()),
        ("illegal_parking", "0505", "candidate")
    );
    assert_eq!(row.whistle_kind, "clear_rectify_improve");
    assert_eq!(row.department, "交通支队");
    assert_eq!(row.zone.as_deref(), Some("kerb"));
    let path = row.evidence_path.unwrap();
    assert_eq!(std::fs::read(&path).unwrap(), b"\xFF\xD8jpeg", "the first evidence is kept");
    assert_eq!(row.evidence_sha256.unwrap(), hex::encode(<sha2::Sha256 as sha2::Digest>::digest(b"\xFF\xD8jpeg")));
}

#[test]
fn database_is_wal_full_and_reopens_with_data() {
    let dir = tempfile::tempdir().unwrap();
    {
        let mut store = Store::open(dir.path(), "box-1").unwrap();
        store.record(&candidate("k1", 1), None).unwrap();
    }
    let store = Store::open(dir.path(), "box-1").unwrap();
    assert_eq!(store.list(10).unwrap().len(), 1, "migrations are not re-run over data");
    let mode: String = store.conn.pragma_query_value(None, "journal_mode", |r| r.get(0)).unwrap();
    let sync: i64 = store.conn.pragma_query_value(None, "synchronous", |r| r.get(0)).unwrap();
    assert_eq!((mode.as_str(), sync), ("wal", 2));
}

#[test]
fn unknown_issue_is_not_found() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path(), "b").unwrap();
    assert!(matches!(store.get("nope"), Err(StoreError::NotFound(_))));
}
