use super::*;
use shaobing_core::IssueStatus;

fn candidate(key: &str, at: i64) -> CandidateIssue {
    shaobing_testkit::issue::candidate(key, UnixMillis(at))
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

    let rows = store.list(None, 10).unwrap();
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
    assert_eq!(store.list(None, 10).unwrap().len(), 1, "migrations are not re-run over data");
    let mode: String = store.conn.pragma_query_value(None, "journal_mode", |r| r.get(0)).unwrap();
    let sync: i64 = store.conn.pragma_query_value(None, "synchronous", |r| r.get(0)).unwrap();
    assert_eq!((mode.as_str(), sync), ("wal", 2));
}

#[test]
fn lifecycle_is_recorded_and_figures_follow() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open(dir.path(), "box-1").unwrap();
    let Recorded::Created { id } = store.record(&candidate("k1", 1_000), None).unwrap() else { panic!() };
    store.transition(&id, IssueStatus::Confirmed, "duty-officer", None).unwrap();
    store.transition(&id, IssueStatus::Dispatched, "duty-officer", Some("交通支队")).unwrap();
    let err = store.transition(&id, IssueStatus::Verified, "someone", None).unwrap_err();
    assert!(err.to_string().contains("from `dispatched` to `verified`"), "{err}");
    store.transition(&id, IssueStatus::Resolved, "traffic-police", Some("vehicle moved")).unwrap();
    let row = store.transition(&id, IssueStatus::Verified, "camera", None).unwrap();
    assert_eq!(row.status, "verified");
    assert!(row.verified_ms.is_some() && row.resolved_ms.is_some());
    assert_eq!(row.version, 5, "created + four changes");
    let history = store.history(&id).unwrap();
    let path: Vec<&str> = history.iter().map(|h| h.to_status.as_str()).collect();
    assert_eq!(path, ["candidate", "confirmed", "dispatched", "resolved", "verified"]);
    assert_eq!(history[3].actor, "traffic-police");
    assert_eq!(history[3].note.as_deref(), Some("vehicle moved"));

    // An open issue in another category, for the report.
    store.record(&candidate("k2", 2_000), None).unwrap();
    let figures = report(&store).unwrap();
    assert_eq!(figures.len(), 1, "one department and category");
    let f = &figures[0];
    assert_eq!((f.created, f.open, f.resolved, f.verified), (2, 1, 1, 1));
    assert!(f.mean_secs_to_verified.is_some_and(|s| s >= 0.0));
    assert!(f.oldest_open_ms.is_some());
}

#[test]
fn outbox_holds_the_latest_snapshot_and_delivers_once() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open(dir.path(), "box-1").unwrap();
    let Recorded::Created { id } = store.record(&candidate("k1", 1_000), Some(b"\xFF\xD8jpeg")).unwrap() else {
        panic!()
    };
    let batch = store.outbox_batch(10).unwrap();
    assert_eq!(batch.iter().map(|r| r.kind).collect::<Vec<_>>(), [OutboxKind::Evidence, OutboxKind::Issue]);
    let issue = batch.iter().find(|r| r.kind == OutboxKind::Issue).unwrap().clone();
    // A later sighting replaces the unsent snapshot rather than queueing another.
    store.record(&candidate("k1", 2_000), None).unwrap();
    let again = store.outbox_batch(10).unwrap();
    let newer = again.iter().find(|r| r.kind == OutboxKind::Issue).unwrap();
    assert_eq!((newer.seq, newer.version), (issue.seq, issue.version + 1));
    // Acknowledging the older version must not drop the newer snapshot.
    store.outbox_delivered(&[(issue.seq, issue.version)]).unwrap();
    assert_eq!(store.outbox_stats().unwrap().issues, 1);
    store.outbox_delivered(&again.iter().map(|r| (r.seq, r.version)).collect::<Vec<_>>()).unwrap();
    assert_eq!(store.outbox_stats().unwrap().rows, 0);
    let snapshot: serde_json::Value = serde_json::from_slice(&newer.payload).unwrap();
    assert_eq!(snapshot["id"], id.as_str());
    assert_eq!(snapshot["occurrences"], 2);
}

#[test]
fn poison_rows_go_to_dead_letters() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open(dir.path(), "box-1").unwrap();
    store.record(&candidate("k1", 1_000), None).unwrap();
    let issue_seq = store.outbox_batch(1).unwrap()[0].seq;
    let retry = UnixMillis(0);
    assert!(!store.outbox_failed(issue_seq, "bad row", 3, retry).unwrap());
    assert!(!store.outbox_failed(issue_seq, "bad row", 3, retry).unwrap());
    assert!(store.outbox_failed(issue_seq, "bad row", 3, retry).unwrap(), "third failure dead-letters");
    let stats = store.outbox_stats().unwrap();
    assert_eq!((stats.issues, stats.dead_letters), (0, 1));
    assert_eq!(store.integrity_check().unwrap(), "ok");
}

#[test]
fn readings_queued_by_an_older_version_become_dead_letters_and_issues_still_drain() {
    let dir = tempfile::tempdir().unwrap();
    {
        let mut store = Store::open(dir.path(), "box-1").unwrap();
        store.record(&candidate("k1", 1_000), None).unwrap();
        // A database as the version that queued readings left it: schema 2, a reading queued.
        store
            .conn
            .execute_batch(
                "INSERT INTO outbox (kind, ref_id, version, priority, bytes, payload, created_ms)
                    VALUES ('reading', 'pm25-1', 1, 0, 2, X'7B7D', 5);
                 PRAGMA user_version = 2;",
            )
            .unwrap();
    }
    let store = Store::open(dir.path(), "box-1").unwrap();
    let batch = store.outbox_batch(10).unwrap();
    assert_eq!(batch.iter().map(|r| r.kind).collect::<Vec<_>>(), [OutboxKind::Issue]);
    let (kind, ref_id, payload): (String, String, Vec<u8>) = store
        .conn
        .query_row("SELECT kind, ref_id, payload FROM dead_letter", [], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .unwrap();
    assert_eq!((kind.as_str(), ref_id.as_str(), payload.as_slice()), ("reading", "pm25-1", b"{}".as_slice()));
    assert_eq!(store.outbox_stats().unwrap().dead_letters, 1);
}

#[test]
fn unknown_issue_is_not_found() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path(), "b").unwrap();
    assert!(matches!(store.get("nope"), Err(StoreError::NotFound(_))));
}

#[test]
fn pages_walk_every_issue_once_newest_first_and_after_evidence_is_listed() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open(dir.path(), "box-1").unwrap();
    // Two issues first seen in the same millisecond: the id breaks the tie, none is skipped.
    for (key, at) in [("a", 1_000), ("b", 2_000), ("c", 2_000), ("d", 3_000), ("e", 4_000)] {
        store.record(&candidate(key, at), Some(b"\xFF\xD8before")).unwrap();
    }
    let mut seen = Vec::new();
    let mut after: Option<(i64, String)> = None;
    loop {
        let page = store.page(&IssueFilter::default(), 2, after.as_ref().map(|(t, id)| (*t, id.as_str()))).unwrap();
        seen.extend(page.iter().map(|r| (r.first_seen_ms, r.dedup_key.clone())));
        let Some(last) = page.last().filter(|_| page.len() == 2) else { break };
        after = Some((last.first_seen_ms, last.id.clone()));
    }
    let keys: Vec<&str> = seen.iter().map(|(_, k)| k.as_str()).collect();
    assert_eq!(keys.len(), 5, "{keys:?}");
    assert!(seen.windows(2).all(|w| w[0].0 >= w[1].0), "newest first: {seen:?}");
    assert_eq!((keys[0], keys[4]), ("e", "a"));

    let id = store.list(None, 1).unwrap()[0].id.clone();
    store.resolve_observed("e", "camera:cam", "gone", Some((b"\xFF\xD8after", UnixMillis(9_000)))).unwrap();
    let kinds: Vec<String> = store.evidence_of(&id).unwrap().into_iter().map(|e| e.kind).collect();
    assert_eq!(kinds, vec!["before", "after"]);
    assert_eq!(store.get(&id).unwrap().status, "resolved");
}

#[test]
fn without_a_central_database_nothing_is_queued_and_adding_one_queues_everything() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open(dir.path(), "box-1").unwrap();
    store.record(&candidate("k1", 1_000), Some(b"\xFF\xD8jpeg")).unwrap();
    assert_eq!(store.set_central(false).unwrap(), 2, "the queued issue and its snapshot are dropped");
    store.record(&candidate("k2", 2_000), Some(b"\xFF\xD8jpeg")).unwrap();
    let Recorded::Created { id } = store.record(&candidate("k3", 3_000), None).unwrap() else { panic!() };
    // Another process writing the same store (the CLI) follows the setting too.
    let mut cli = Store::open(dir.path(), "box-1").unwrap();
    cli.transition(&id, IssueStatus::Confirmed, "duty-officer", None).unwrap();
    assert_eq!(store.outbox_stats().unwrap(), OutboxStats::default(), "nothing queued without a central database");
    assert_eq!(store.set_central(false).unwrap(), 0);

    assert_eq!(store.set_central(true).unwrap(), 5, "three issues and two snapshots");
    let batch = store.outbox_batch(10).unwrap();
    assert_eq!(batch.iter().filter(|r| r.kind == OutboxKind::Issue).count(), 3);
    let k3 = batch.iter().find(|r| r.ref_id == id && r.kind == OutboxKind::Issue).unwrap();
    let snapshot: serde_json::Value = serde_json::from_slice(&k3.payload).unwrap();
    assert_eq!(snapshot["status"], "confirmed", "the latest snapshot, with its history");
    assert_eq!(store.set_central(true).unwrap(), 0, "already on: nothing queued twice");
}

#[test]
fn verifications_are_read_after_a_watermark_oldest_first() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open(dir.path(), "box-1").unwrap();
    let mut verify = |key: &str| {
        let Recorded::Created { id } = store.record(&candidate(key, 1_000), None).unwrap() else { panic!() };
        for to in [IssueStatus::Confirmed, IssueStatus::Dispatched, IssueStatus::Resolved, IssueStatus::Verified] {
            store.transition(&id, to, "duty-officer", None).unwrap();
        }
    };
    verify("first");
    let all = report::verified_since(&store, 0).unwrap();
    assert_eq!(all.len(), 1);
    assert_eq!((all[0].department.as_str(), all[0].category.as_str()), ("交通支队", "illegal_parking"));
    assert!(all[0].secs > 0.0, "created at 1 s after the epoch, verified now");
    assert!(report::verified_since(&store, all[0].verified_ms).unwrap().is_empty(), "nothing after the mark");
}

#[test]
fn a_data_dir_restored_elsewhere_still_finds_its_evidence() {
    let dir = tempfile::tempdir().unwrap();
    let (old, new) = (dir.path().join("old"), dir.path().join("restored"));
    let id = {
        let mut store = Store::open(&old, "box-1").unwrap();
        store.set_central(true).unwrap();
        let Recorded::Created { id } = store.record(&candidate("k1", 1_000), Some(b"\xFF\xD8jpeg")).unwrap() else {
            panic!("not created")
        };
        id
    };
    std::fs::rename(&old, &new).unwrap();
    let store = Store::open(&new, "box-1").unwrap();
    let stored: String =
        store.conn.query_row("SELECT path FROM evidence WHERE issue_id = ?1", [&id], |r| r.get(0)).unwrap();
    assert_eq!(stored, format!("evidence/{id}-before.jpg"), "kept relative to the data directory");
    let evidence = store.evidence_of(&id).unwrap();
    assert_eq!(std::fs::read(&evidence[0].path).unwrap(), b"\xFF\xD8jpeg");
    assert!(evidence[0].path.starts_with(new.to_str().unwrap()), "{}", evidence[0].path);
    let row = store.get(&id).unwrap();
    assert_eq!(row.evidence_path.as_deref(), Some(evidence[0].path.as_str()));
    // The outbox hands the central drain a path it can open.
    let queued = store.outbox_batch(10).unwrap();
    let file = queued.iter().find(|r| r.kind == OutboxKind::Evidence).expect("evidence queued");
    let payload: serde_json::Value = serde_json::from_slice(&file.payload).unwrap();
    assert_eq!(std::fs::read(payload["path"].as_str().unwrap()).unwrap(), b"\xFF\xD8jpeg");
}

#[test]
fn a_dismissal_suppresses_its_place_and_category_until_lifted() {
    use shaobing_core::{DismissReason, Verdict};
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open(dir.path(), "box-1").unwrap();
    let Recorded::Created { id } = store.record(&candidate("cam-1/kerb/illegal_parking/7-9", 1_000), None).unwrap()
    else {
        panic!("not created")
    };
    store.apply_verdict(&id, &Verdict::Note, "duty-officer", Some("looks like a loading van")).unwrap();
    let dismissed = Verdict::Dismiss { reason: DismissReason::Permitted };
    let row = store.apply_verdict(&id, &dismissed, "duty-officer", Some("loading bay")).unwrap();
    assert_eq!(row.status, "dismissed");
    let history = store.history(&id).unwrap();
    let last: Vec<(&str, &str, Option<&str>)> =
        history.iter().rev().take(2).map(|h| (h.to_status.as_str(), h.actor.as_str(), h.note.as_deref())).collect();
    assert_eq!(
        last,
        [
            ("dismissed", "duty-officer", Some("permitted: loading bay")),
            ("candidate", "duty-officer", Some("looks like a loading van"))
        ]
    );
    // The same place and category, next day: not filed, counted.
    for t in 2..=4 {
        let again = store.record(&candidate("cam-1/kerb/illegal_parking/7-9", t * 1_000), None).unwrap();
        assert_eq!(again, Recorded::Suppressed { dismissed: id.clone() });
    }
    assert!(
        matches!(
            store.record(&candidate("cam-1/kerb/illegal_parking/2-9", 5_000), None).unwrap(),
            Recorded::Created { .. }
        ),
        "another place is filed"
    );
    let held = store.suppressions().unwrap();
    assert_eq!(held.len(), 1);
    assert_eq!((held[0].suppressed, held[0].reason.as_str(), held[0].by.as_str()), (3, "permitted", "duty-officer"));
    assert!(held[0].until_ms - held[0].created_ms == (DEFAULT_SUPPRESS_SECS * 1000) as i64);
    // A verdict the lifecycle does not allow is refused, naming what is.
    let e = store.apply_verdict(&id, &Verdict::Confirm, "duty-officer", None).unwrap_err().to_string();
    assert!(e.contains("none, it is final"), "{e}");
    // Undo: filed again.
    assert!(store.lift_suppression(&id, "supervisor").unwrap());
    assert!(!store.lift_suppression(&id, "supervisor").unwrap(), "nothing left to lift");
    assert!(store.suppressions().unwrap().is_empty());
    assert!(matches!(
        store.record(&candidate("cam-1/kerb/illegal_parking/7-9", 6_000), None).unwrap(),
        Recorded::Created { .. }
    ));
}

#[test]
fn the_configured_suppression_time_applies_to_every_writer() {
    use shaobing_core::{DismissReason, Verdict};
    let dir = tempfile::tempdir().unwrap();
    Store::open(dir.path(), "box-1").unwrap().set_suppress_secs(3_600).unwrap();
    let mut cli = Store::open(dir.path(), "box-1").unwrap();
    let Recorded::Created { id } = cli.record(&candidate("k", 1_000), None).unwrap() else { panic!() };
    cli.apply_verdict(&id, &Verdict::Dismiss { reason: DismissReason::Duplicate }, "cli", None).unwrap();
    let held = cli.suppressions().unwrap();
    assert_eq!(held[0].until_ms - held[0].created_ms, 3_600_000);
}

#[test]
fn a_handled_issue_is_verified_when_its_source_sees_it_gone_and_reopened_when_still_there() {
    use shaobing_core::Verdict;
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open(dir.path(), "box-1").unwrap();
    store.set_alerts(true).unwrap();
    store.set_verify_secs(0).unwrap();
    let mut file = |key: &str| match store.record(&candidate(key, UnixMillis::now().0), None).unwrap() {
        Recorded::Created { id } => id,
        other => panic!("{other:?}"),
    };
    let (gone, still, quiet) = (file("gone"), file("still"), file("quiet"));
    for id in [&gone, &still, &quiet] {
        store.apply_verdict(id, &Verdict::Handled, "交通支队", None).unwrap();
    }
    // Seen gone by its source: verified, with the after snapshot.
    let after = (b"\xFF\xD8after".as_slice(), UnixMillis::now());
    assert_eq!(
        store.resolve_observed("gone", "camera:c", "not seen for 60 s", Some(after)).unwrap(),
        Some(gone.clone())
    );
    assert_eq!(store.get(&gone).unwrap().status, "verified");
    assert!(store.evidence_of(&gone).unwrap().iter().any(|e| e.kind == "after"));
    // Still seen after the verdict: a camera's sighting without a snapshot waits for one...
    let seen = store.record(&candidate("still", UnixMillis::now().0 + 10), None).unwrap();
    assert_eq!(seen, Recorded::Rechecked { id: still.clone(), reopened: false });
    assert_eq!(store.get(&still).unwrap().status, "resolved");
    // ...and the next with one reopens it to its department, alerted, the snapshot kept.
    let seen = store.record(&candidate("still", UnixMillis::now().0 + 20), Some(b"\xFF\xD8still")).unwrap();
    assert_eq!(seen, Recorded::Rechecked { id: still.clone(), reopened: true });
    assert_eq!(store.get(&still).unwrap().status, "dispatched");
    let kinds: Vec<String> = store.evidence_of(&still).unwrap().into_iter().map(|e| e.kind).collect();
    assert_eq!(kinds, vec!["still_present"]);
    let last = store.history(&still).unwrap().pop().unwrap();
    assert_eq!((last.actor.as_str(), last.to_status.as_str()), ("shaobing:recheck", "dispatched"));
    assert!(store.alerts_batch(50).unwrap().iter().any(|a| a.issue_id == still && a.change == "reopened"));
    // Not seen at all: verified by the timer.
    let settled = store.settle_rechecks(UnixMillis::now()).unwrap();
    assert_eq!(settled, vec![Recheck::Verified { id: quiet.clone() }]);
    assert_eq!(store.get(&quiet).unwrap().status, "verified");
    assert!(store.settle_rechecks(UnixMillis::now()).unwrap().is_empty(), "each once");
}

#[test]
fn evidence_of_closed_issues_goes_by_age_then_oldest_first_over_budget_and_open_issues_keep_theirs() {
    use shaobing_core::{DismissReason, Verdict};
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open(dir.path(), "box-1").unwrap();
    let jpeg = vec![0xFF, 0xD8, 1, 2, 3, 4, 5, 6, 7, 8];
    let mut file = |key: &str| match store.record(&candidate(key, 1_000), Some(&jpeg)).unwrap() {
        Recorded::Created { id } => id,
        other => panic!("{other:?}"),
    };
    let (open, closed_a, closed_b) = (file("open"), file("closed-a"), file("closed-b"));
    let dismiss = Verdict::Dismiss { reason: DismissReason::NotAProblem };
    store.apply_verdict(&closed_a, &dismiss, "x", None).unwrap();
    std::thread::sleep(std::time::Duration::from_millis(5));
    store.apply_verdict(&closed_b, &dismiss, "x", None).unwrap();
    let path = |s: &Store, id: &str| s.get(id).unwrap().evidence_path;
    let a_file = path(&store, &closed_a).unwrap();
    assert_eq!(store.evidence_bytes().unwrap(), 30);

    // Within the retention time and the budget: nothing goes.
    let keep = EvidenceConfig { retention_days: 90.0, max_bytes: 1_000 };
    assert_eq!(store.enforce_evidence_retention(&keep, UnixMillis::now()).unwrap(), Purged::default());
    // Over budget: the oldest closed issue's evidence first, only as much as needed.
    let tight = EvidenceConfig { retention_days: 90.0, max_bytes: 25 };
    assert_eq!(store.enforce_evidence_retention(&tight, UnixMillis::now()).unwrap(), Purged { files: 1, bytes: 10 });
    assert!(!std::path::Path::new(&a_file).exists());
    assert_eq!(path(&store, &closed_a), None, "a purged file is no longer offered");
    assert!(path(&store, &closed_b).is_some());
    // Past the retention time: every closed issue's evidence goes; the open one keeps its own
    // even over the budget.
    let later = UnixMillis::now().saturating_add(std::time::Duration::from_secs(91 * 86_400));
    let none = EvidenceConfig { retention_days: 90.0, max_bytes: 0 };
    assert_eq!(store.enforce_evidence_retention(&none, later).unwrap(), Purged { files: 1, bytes: 10 });
    assert!(std::path::Path::new(&path(&store, &open).unwrap()).exists(), "an open issue keeps its evidence");
    assert_eq!(store.evidence_bytes_by_category().unwrap(), vec![("illegal_parking".to_string(), 10)]);

    // The audit: a stray file and a row whose file went missing are reported.
    std::fs::write(store.evidence_dir().join("stray.jpg"), b"x").unwrap();
    std::fs::remove_file(path(&store, &open).unwrap()).unwrap();
    let audit = store.audit_evidence().unwrap();
    assert_eq!(audit.files_without_row, vec![store.evidence_dir().join("stray.jpg")]);
    assert_eq!(audit.rows_without_file.iter().map(|(id, _)| id.as_str()).collect::<Vec<_>>(), [open.as_str()]);
}

#[test]
fn a_clip_goes_with_the_issue_its_moment_filed_and_nowhere_when_none_was() {
    use shaobing_core::{DismissReason, Verdict};
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open(dir.path(), "box-1").unwrap();
    let key = "cam-1/kerb/illegal_parking/7-9";
    let Recorded::Created { id } = store.record(&candidate(key, 1_000), None).unwrap() else { panic!("not created") };
    let mp4 = b"\0\0\0\x18ftypisom\0\0\x02\0isommp41".to_vec();
    assert_eq!(store.attach_clip(key, UnixMillis(1_000), &mp4, UnixMillis(0)).unwrap().as_deref(), Some(id.as_str()));
    store.record(&candidate(key, 5_000), None).unwrap();
    assert_eq!(store.attach_clip(key, UnixMillis(5_000), &mp4, UnixMillis(4_000)).unwrap(), Some(id.clone()));
    let clips: Vec<EvidenceRow> = store.evidence_of(&id).unwrap().into_iter().filter(|e| e.kind == "clip").collect();
    assert_eq!(clips.len(), 2, "one file per clip: {clips:?}");
    assert!(clips.iter().all(|c| c.path.ends_with(".mp4") && std::fs::read(&c.path).unwrap() == mp4));
    store.apply_verdict(&id, &Verdict::Dismiss { reason: DismissReason::NotAProblem }, "duty-officer", None).unwrap();
    assert!(matches!(store.record(&candidate(key, 9_000), None).unwrap(), Recorded::Suppressed { .. }));
    assert_eq!(
        store.attach_clip(key, UnixMillis(9_000), &mp4, UnixMillis(8_000)).unwrap(),
        None,
        "suppressed: no clip"
    );
    assert_eq!(store.attach_clip("another/key", UnixMillis(1_000), &mp4, UnixMillis(0)).unwrap(), None);
}

#[test]
fn the_chain_verifies_and_names_the_entry_when_a_snapshot_byte_or_a_history_row_changes() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open(dir.path(), "box-1").unwrap();
    let jpeg = [0xFF, 0xD8, 1, 2, 3, 4];
    let Recorded::Created { id } = store.record(&candidate("k1", 1_000), Some(&jpeg)).unwrap() else { panic!() };
    store.transition(&id, IssueStatus::Confirmed, "duty-officer", Some("seen")).unwrap();
    store.record(&candidate("k2", 2_000), Some(&jpeg)).unwrap();
    let check = store.verify_evidence().unwrap();
    assert_eq!((check.entries, check.files, check.mismatches.clone()), (5, 2, vec![]), "{check:?}");
    let history = store.history(&id).unwrap();
    let entries = store.chain().unwrap().entries;
    assert!(entries.windows(2).all(|w| w[1].prev_hash == w[0].hash), "each entry carries the hash before it");
    assert!(history.iter().all(|h| h.link.hash.is_some()), "history entries carry their link");

    // One byte of the first snapshot.
    let path = dir.path().join(store.evidence_of(&id).unwrap()[0].path.clone());
    let mut bytes = std::fs::read(&path).unwrap();
    bytes[3] ^= 1;
    std::fs::write(&path, &bytes).unwrap();
    let found = store.verify_evidence().unwrap().mismatches;
    assert_eq!(found.len(), 1, "{found:?}");
    assert!(found[0].entry.contains("before evidence of issue") && found[0].problem.contains("sha256"), "{}", found[0]);
    bytes[3] ^= 1;
    std::fs::write(&path, &bytes).unwrap();

    // One history row, edited behind the store's back.
    store.conn.execute("UPDATE status_history SET actor = 'nobody' WHERE to_status = 'confirmed'", []).unwrap();
    let found = store.verify_evidence().unwrap().mismatches;
    let seq = history[1].link.chain_seq.unwrap();
    assert_eq!(found.iter().map(|m| m.seq).collect::<Vec<_>>(), vec![seq], "{found:?}");
    assert!(found[0].to_string().contains("candidate -> confirmed by nobody"), "{}", found[0]);

    // A row removed: named as missing.
    store.conn.execute("UPDATE status_history SET actor = 'duty-officer' WHERE to_status = 'confirmed'", []).unwrap();
    store.conn.execute("DELETE FROM status_history WHERE to_status = 'confirmed'", []).unwrap();
    let found = store.verify_evidence().unwrap().mismatches;
    assert_eq!((found[0].seq, found[0].problem.as_str()), (seq, "missing"), "{found:?}");
}

#[test]
fn a_second_after_snapshot_is_a_file_of_its_own_and_the_record_still_verifies() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open(dir.path(), "box-1").unwrap();
    let key = "cam-1/kerb/illegal_parking/7-9";
    let Recorded::Created { id } = store.record(&candidate(key, 1_000), None).unwrap() else { panic!() };
    store.attach_evidence(&id, "after", &[0xFF, 0xD8, 1], UnixMillis(2_000)).unwrap();
    store.attach_evidence(&id, "after", &[0xFF, 0xD8, 2], UnixMillis(3_000)).unwrap();
    let after: Vec<EvidenceRow> = store.evidence_of(&id).unwrap().into_iter().filter(|e| e.kind == "after").collect();
    assert_eq!(after.len(), 2);
    assert_ne!(after[0].path, after[1].path);
    assert_eq!(store.verify_evidence().unwrap().mismatches, vec![], "the first after snapshot was not overwritten");
}

#[test]
fn an_issue_past_a_deadline_moves_up_a_tier_once_per_deadline_and_counts_against_its_department() {
    use shaobing_core::Verdict;
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open(dir.path(), "box-1").unwrap();
    store.set_alerts(true).unwrap();
    let now = UnixMillis::now();
    let mut file = |key: &str, respond: Option<u64>, resolve: Option<u64>| {
        let mut c = candidate(key, now.0);
        c.responsibility.tier = shaobing_core::EscalationTier::CommunityToStreet;
        c.responsibility.deadlines = shaobing_core::Deadlines { respond_secs: respond, resolve_secs: resolve };
        match store.record(&c, None).unwrap() {
            Recorded::Created { id } => id,
            other => panic!("{other:?}"),
        }
    };
    let unanswered = file("unanswered", Some(0), Some(0));
    let answered = file("answered", Some(60), Some(0));
    let in_time = file("in-time", Some(60), Some(60));
    let no_deadline = file("none", None, None);
    store.apply_verdict(&answered, &Verdict::Confirm, "交通支队", None).unwrap();
    store.apply_verdict(&in_time, &Verdict::Confirm, "交通支队", None).unwrap();
    store.apply_verdict(&in_time, &Verdict::Handled, "交通支队", None).unwrap();

    let later = UnixMillis(now.0 + 1_000);
    let mut overdue = store.escalate_overdue(later).unwrap();
    overdue.sort_by_key(|o| (o.id.clone(), o.missed.as_str()));
    let missed: Vec<(&str, &str)> = overdue.iter().map(|o| (o.id.as_str(), o.missed.as_str())).collect();
    let mut expected =
        vec![(unanswered.as_str(), "resolution"), (unanswered.as_str(), "response"), (answered.as_str(), "resolution")];
    expected.sort();
    assert_eq!(missed, expected);
    assert!(store.escalate_overdue(UnixMillis(now.0 + 2_000)).unwrap().is_empty(), "each deadline once");

    // Two deadlines missed, two tiers up; one missed, one up; none where none is missed.
    let tier = |id: &str| store.get(id).unwrap().tier;
    assert_eq!(tier(&unanswered), "district_supervision");
    assert_eq!(tier(&answered), "street_to_district");
    assert_eq!(tier(&in_time), "community_to_street");
    assert_eq!(tier(&no_deadline), "community_to_street");
    assert!(is_overdue(&store.get(&unanswered).unwrap()) && !is_overdue(&store.get(&in_time).unwrap()));
    let last = store.history(&answered).unwrap().pop().unwrap();
    assert_eq!(
        (last.actor.as_str(), last.from_status.as_deref(), last.to_status.as_str()),
        ("shaobing:deadline", Some("confirmed"), "confirmed")
    );
    let alerted = store.alerts_batch(50).unwrap().into_iter().filter(|a| a.change == "overdue").count();
    assert_eq!(alerted, 3);
    assert!(store.verify_evidence().unwrap().mismatches.is_empty(), "escalations join the hash chain");

    let figures = report(&store).unwrap();
    let police = &on_time(&figures)[0];
    assert_eq!(police.department, "交通支队");
    assert_eq!((police.responses_on_time, police.responses_late), (2, 1), "{police:?}");
    assert_eq!((police.resolutions_on_time, police.resolutions_late), (1, 2), "{police:?}");
    assert_eq!(police.overdue, 2);
    assert_eq!(police.response_rate, Some(2.0 / 3.0));
}

#[test]
fn a_place_dismissed_again_and_again_is_offered_as_a_mask() {
    use shaobing_core::{BBox, DismissReason, Verdict};
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open(dir.path(), "box-1").unwrap();
    let dismiss = |store: &mut Store, key: &str, bbox: BBox| {
        let mut c = candidate(key, 1_000);
        c.cause.detections[0].bbox = bbox;
        c.location.image_point = Some(bbox.bottom_centre());
        let Recorded::Created { id } = store.record(&c, None).unwrap() else { panic!() };
        store.apply_verdict(&id, &Verdict::Dismiss { reason: DismissReason::Permitted }, "值班员", None).unwrap();
    };
    // Three dismissals at one place (boxes that differ a little, standing in one cell), two
    // at another.
    dismiss(&mut store, "a1", BBox::from_corners(0.50, 0.40, 0.60, 0.55));
    dismiss(&mut store, "a2", BBox::from_corners(0.51, 0.42, 0.60, 0.56));
    dismiss(&mut store, "b1", BBox::from_corners(0.10, 0.70, 0.20, 0.80));
    assert!(mask_suggestions(&store, UnixMillis::now()).unwrap().is_empty(), "twice is not yet again and again");
    dismiss(&mut store, "a3", BBox::from_corners(0.49, 0.41, 0.58, 0.55));
    dismiss(&mut store, "b2", BBox::from_corners(0.10, 0.70, 0.20, 0.80));
    let offered = mask_suggestions(&store, UnixMillis::now()).unwrap();
    assert_eq!(offered.len(), 1, "{offered:?}");
    assert_eq!((offered[0].camera.as_str(), offered[0].dismissals), ("cam-1", 3));
    assert_eq!(offered[0].polygon, vec![[0.49, 0.4], [0.6, 0.4], [0.6, 0.56], [0.49, 0.56]]);
    let in_a_month = UnixMillis::now().0 + MASK_LOOKBACK_MS + 1;
    assert!(mask_suggestions(&store, UnixMillis(in_a_month)).unwrap().is_empty(), "old dismissals no longer count");
}

#[test]
fn an_emergency_is_acknowledged_once_without_changing_its_status() {
    use shaobing_core::{Priority, Verdict};
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open(dir.path(), "box-1").unwrap();
    let mut fire = candidate("fire", 1_000);
    fire.priority = Priority::Emergency;
    let Recorded::Created { id } = store.record(&fire, None).unwrap() else { panic!() };
    let Recorded::Created { id: routine } = store.record(&candidate("car", 1_000), None).unwrap() else { panic!() };
    assert!(verdicts_for(&store.get(&id).unwrap()).contains(&"acknowledge"));
    assert!(!verdicts_for(&store.get(&routine).unwrap()).contains(&"acknowledge"), "only emergencies sound");
    let first = store.apply_verdict(&id, &Verdict::Acknowledge, "console:值班长", None).unwrap();
    assert_eq!(first.status, "candidate");
    assert!(first.acknowledged_ms.is_some() && first.responded_ms == first.acknowledged_ms);
    assert!(!verdicts_for(&first).contains(&"acknowledge"), "acknowledged");
    let again = store.apply_verdict(&id, &Verdict::Acknowledge, "console:another", None).unwrap();
    assert_eq!(again.acknowledged_ms, first.acknowledged_ms, "the first acknowledgement stands");
    let last = store.history(&id).unwrap().pop().unwrap();
    assert_eq!((last.actor.as_str(), last.to_status.as_str()), ("console:another", "candidate"));
}

#[test]
fn a_page_holds_what_its_filter_lets_through() {
    use shaobing_core::{Category, Priority, Verdict};
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open(dir.path(), "box-1").unwrap();
    let mut fire = candidate("fire", 3_000);
    (fire.category, fire.priority, fire.location.source) = (Category::FireSmoke, Priority::Emergency, "cam-2".into());
    store.record(&fire, None).unwrap();
    for (key, at) in [("a", 1_000), ("b", 2_000), ("c", 4_000)] {
        store.record(&candidate(key, at), None).unwrap();
    }
    let keys = |f: IssueFilter| -> Vec<String> {
        store.page(&f, 10, None).unwrap().into_iter().map(|r| r.dedup_key).collect()
    };
    assert_eq!(keys(IssueFilter { category: Some(Category::FireSmoke), ..Default::default() }), ["fire"]);
    assert_eq!(keys(IssueFilter { priority: Some(Priority::Routine), ..Default::default() }), ["c", "b", "a"]);
    assert_eq!(keys(IssueFilter { source: Some("cam-2".into()), ..Default::default() }), ["fire"]);
    let window = IssueFilter { since: Some(UnixMillis(2_000)), until: Some(UnixMillis(4_000)), ..Default::default() };
    assert_eq!(keys(window), ["fire", "b"]);
    assert_eq!(keys(IssueFilter { statuses: vec![IssueStatus::Verified], ..Default::default() }), Vec::<String>::new());
    let id = |key: &str| store.list(None, 10).unwrap().into_iter().find(|r| r.dedup_key == key).unwrap().id;
    let (a, b) = (id("a"), id("b"));
    let dismiss = Verdict::Dismiss { reason: shaobing_core::DismissReason::NotAProblem };
    store.apply_verdict(&a, &dismiss, "duty", None).unwrap();
    store.apply_verdict(&b, &Verdict::Confirm, "duty", None).unwrap();
    let keys = |f: IssueFilter| -> Vec<String> {
        store.page(&f, 10, None).unwrap().into_iter().map(|r| r.dedup_key).collect()
    };
    let open = IssueFilter { statuses: vec![IssueStatus::Candidate, IssueStatus::Confirmed], ..Default::default() };
    assert_eq!(keys(open), ["c", "fire", "b"], "either status, the dismissed one left out");
}
