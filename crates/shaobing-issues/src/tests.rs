//! The issues room on a real problem database: findings in, changes announced.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a failed step is a failed test

use super::*;
use shaobing_core::{Filing, Finding, Receipt, UnixMillis};
use shaobing_metrics::Metrics;
use shaobing_store::Store;
use shaobing_testkit::issue::candidate;
use tokio::sync::{broadcast, mpsc};

#[test]
fn a_hazard_raised_standing_and_cleared_is_filed_once_counted_and_told_to_the_console() {
    let dir = tempfile::tempdir().unwrap();
    let metrics = Metrics::new();
    let (events, mut console) = broadcast::channel(16);
    let announcer = Announcer::new(vec![Box::new(IssueMetrics(metrics.clone())), Box::new(ConsoleEvents::new(events))]);
    let (tx, rx) = mpsc::channel(FINDINGS_QUEUE);
    let (door, inbox) = verdicts(metrics.clone());
    let writer = spawn_writer(
        Store::open(dir.path(), "box-1").unwrap(),
        rx,
        inbox,
        announcer,
        Default::default(),
        Default::default(),
    )
    .unwrap();
    let seen = |s: i64| candidate("cam-1/kerb/illegal_parking", UnixMillis(1_700_000_000_000 + s * 1000));
    tx.blocking_send(Finding::Opened { issue: Box::new(seen(0)), evidence: Some(b"jpeg".to_vec()) }.into()).unwrap();
    for s in 1..=5 {
        tx.blocking_send(Finding::Ongoing { issue: Box::new(seen(s)), evidence: None }.into()).unwrap();
    }
    let cleared = Finding::Cleared {
        dedup_key: "cam-1/kerb/illegal_parking".into(),
        actor: "camera:cam-1".into(),
        note: "cleared: not seen for 60 s".into(),
        after: None,
    };
    tx.blocking_send(cleared.into()).unwrap();
    drop((tx, door));
    writer.join().unwrap();

    let store = Store::open(dir.path(), "box-1").unwrap();
    let rows = store.list(None, 10).unwrap();
    assert_eq!(rows.len(), 1, "one hazard, one issue");
    assert_eq!((rows[0].occurrences, rows[0].status.as_str()), (6, "resolved"));
    let text = metrics.render();
    assert!(
        text.contains("shaobing_issues_emitted_total{category=\"illegal_parking\",priority=\"routine\"} 1"),
        "{text}"
    );
    assert!(text.contains("shaobing_issue_occurrences_total{category=\"illegal_parking\"} 5"), "{text}");
    // New and resolved reach the console at once; the five folds, milliseconds after the new
    // issue and so within its update period, are not told.
    let mut told = Vec::new();
    while let Ok(event) = console.try_recv() {
        assert_eq!(event.issue.id, rows[0].id);
        told.push(event.change);
    }
    assert_eq!(told, vec![IssueChange::New, IssueChange::Resolved]);
}

/// A durable source hands its findings over again after a crash: each id is applied once,
/// and every receipt hears that its finding is filed.
#[test]
fn a_durable_finding_handed_over_twice_is_applied_once() {
    let dir = tempfile::tempdir().unwrap();
    let (tx, rx) = mpsc::channel(FINDINGS_QUEUE);
    let (door, inbox) = verdicts(Metrics::new());
    let store = Store::open(dir.path(), "box-1").unwrap();
    let writer =
        spawn_writer(store, rx, inbox, Announcer::new(Vec::new()), Default::default(), Default::default()).unwrap();
    let (filed_tx, filed_rx) = std::sync::mpsc::channel();
    let key = "sensor:air:aq-1:pm25";
    let opened = || Finding::Opened { issue: Box::new(candidate(key, UnixMillis(1_700_000_000_000))), evidence: None };
    let cleared =
        || Finding::Cleared { dedup_key: key.into(), actor: "sensor:pm25".into(), note: "cleared".into(), after: None };
    // Opened and cleared, then both again as after a restart: without the ids the second
    // opening would file a new issue that nothing clears until the second clearing.
    for (id, finding) in [("f1", opened()), ("f2", cleared()), ("f1", opened()), ("f2", cleared())] {
        let filed = filed_tx.clone();
        let receipt = Receipt::new(id.into(), move || filed.send(id).unwrap());
        tx.blocking_send(Filing { finding, receipt: Some(receipt) }).unwrap();
    }
    drop((tx, door));
    writer.join().unwrap();
    drop(filed_tx);
    assert_eq!(filed_rx.iter().collect::<Vec<_>>(), vec!["f1", "f2", "f1", "f2"]);
    let store = Store::open(dir.path(), "box-1").unwrap();
    let rows = store.list(None, 10).unwrap();
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert_eq!((rows[0].occurrences, rows[0].status.as_str()), (1, "resolved"));
    assert!(store.filed("f1").unwrap() && store.filed("f2").unwrap() && !store.filed("f3").unwrap());
}
