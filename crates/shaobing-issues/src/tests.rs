//! The issues room on a real problem database: findings in, changes announced.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a failed step is a failed test

use super::*;
use shaobing_core::{Finding, UnixMillis};
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
    let writer = spawn_writer(Store::open(dir.path(), "box-1").unwrap(), rx, announcer).unwrap();
    let seen = |s: i64| candidate("cam-1/kerb/illegal_parking", UnixMillis(1_700_000_000_000 + s * 1000));
    tx.blocking_send(Finding::Opened { issue: Box::new(seen(0)), evidence: Some(b"jpeg".to_vec()) }).unwrap();
    for s in 1..=5 {
        tx.blocking_send(Finding::Ongoing { issue: Box::new(seen(s)) }).unwrap();
    }
    let cleared = Finding::Cleared {
        dedup_key: "cam-1/kerb/illegal_parking".into(),
        actor: "camera:cam-1".into(),
        note: "cleared: not seen for 60 s".into(),
        after: None,
    };
    tx.blocking_send(cleared).unwrap();
    drop(tx);
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
