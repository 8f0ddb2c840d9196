//! The tamper-evident record, as an auditor would check it: `shaobing evidence verify
//! --central` (the shipped command line, as a process) on a box whose issues went to a real
//! PostgreSQL; then one byte of a snapshot changed, one history row edited, and the box's
//! record rewritten from an entry on with every hash recomputed: each time it fails, naming
//! the first entry that does not match.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use shaobing_config::Config;
use shaobing_core::{IssueStatus, UnixMillis};
use shaobing_store::{Content, Store, entry_hash};
use shaobing_testkit::Pg;
use shaobing_testkit::issue::candidate;
use std::path::Path;
use std::process::Output;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;

const BOX: &str = "box-audit";

fn verify(config: &Path) -> Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_shaobing-under-test"))
        .args(["evidence", "verify", "--central", "--config"])
        .arg(config)
        .output()
        .unwrap()
}

fn text(out: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr))
}

/// Files three issues with snapshots (one confirmed, one with a clip) and drains them to the
/// centre.
async fn a_box_filed_centrally(data: &Path, config: &Config) -> String {
    let mut store = Store::open(data, BOX).unwrap();
    store.set_central(true).unwrap();
    let mut ids = Vec::new();
    for i in 0..3 {
        let jpeg = [0xFF, 0xD8, 0xFF, i, 1, 2, 3];
        let recorded =
            store.record(&candidate(&format!("k{i}"), UnixMillis(1_700_000_000_000 + i64::from(i))), Some(&jpeg));
        let shaobing_store::Recorded::Created { id } = recorded.unwrap() else { panic!("not created") };
        ids.push(id);
    }
    store.transition(&ids[0], IssueStatus::Confirmed, "duty-officer", Some("seen on the console")).unwrap();
    let mp4 = b"\0\0\0\x18ftypisom\0\0\x02\0isommp41 clip".to_vec();
    store.attach_clip("k1", UnixMillis(1_700_000_000_001), &mp4, UnixMillis(1_699_999_990_000)).unwrap();
    let cancel = CancellationToken::new();
    let central = config.central.as_ref().unwrap();
    let drain = central.drain(Store::open(data, BOX).unwrap(), Arc::default(), None, cancel.clone()).unwrap();
    let task = tokio::spawn(drain);
    let started = Instant::now();
    while store.outbox_stats().unwrap().rows > 0 {
        assert!(started.elapsed() < Duration::from_secs(30), "not drained: {:?}", store.outbox_stats());
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    cancel.cancel();
    task.await.unwrap();
    ids.swap_remove(0)
}

/// The chain number of the history entry that confirmed an issue.
fn confirmed_entry(db: &rusqlite::Connection) -> i64 {
    db.query_row("SELECT chain_seq FROM status_history WHERE to_status = 'confirmed'", [], |r| r.get(0)).unwrap()
}

/// Rewrites the box's chain from entry `from` on, as a forger with write access would: every
/// hash recomputed so that the box's own chain still verifies.
fn rewrite_from(db: &rusqlite::Connection, store: &Store, from: i64) {
    let entries = store.chain().unwrap().entries;
    let mut prev = entries.iter().find(|e| e.seq == from).unwrap().prev_hash.clone();
    for e in entries.iter().filter(|e| e.seq >= from) {
        let hash = entry_hash(&prev, &e.content);
        let table = if matches!(e.content, Content::History { .. }) { "status_history" } else { "evidence" };
        let sql = format!("UPDATE {table} SET prev_hash = ?1, hash = ?2 WHERE chain_seq = ?3");
        db.execute(&sql, rusqlite::params![prev, hash, e.seq]).unwrap();
        prev = hash;
    }
    db.execute("UPDATE chain_head SET hash = ?1", [prev]).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_record_verifies_and_fails_naming_the_entry_a_byte_or_a_row_was_changed_at() {
    let pg = Pg::fresh().await;
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let text_config = format!(
        "[daemon]\nbox_id = \"{BOX}\"\ndata_dir = \"{}\"\n[central]\nurl = \"{}\"\n",
        data.display(),
        pg.conninfo()
    );
    let config_path = dir.path().join("shaobing.toml");
    std::fs::write(&config_path, &text_config).unwrap();
    let config = Config::parse(&text_config, &config_path).unwrap();
    let confirmed_id = a_box_filed_centrally(&data, &config).await;

    let out = verify(&config_path);
    assert!(out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("box: 8 chain entries, 4 evidence files: all match"), "{}", text(&out));
    assert!(text(&out).contains("central: 8 entries (0 of the box's not sent yet): all match"), "{}", text(&out));

    // One byte of a snapshot.
    let store = Store::open(&data, BOX).unwrap();
    let snapshot = store.evidence_of(&confirmed_id).unwrap().remove(0);
    let mut bytes = std::fs::read(&snapshot.path).unwrap();
    bytes[4] ^= 0x01;
    std::fs::write(&snapshot.path, &bytes).unwrap();
    let out = verify(&config_path);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let named = format!("(before evidence of issue {confirmed_id} (sha256 {}))", snapshot.sha256);
    assert!(text(&out).contains(&format!("first entry that does not match: entry 2 {named}")), "{}", text(&out));
    bytes[4] ^= 0x01;
    std::fs::write(&snapshot.path, &bytes).unwrap();

    // One history row.
    let db = rusqlite::Connection::open(data.join(shaobing_store::DB_FILE)).unwrap();
    let seq = confirmed_entry(&db);
    db.execute("UPDATE status_history SET note = 'never happened' WHERE chain_seq = ?1", [seq]).unwrap();
    let out = verify(&config_path);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let named = format!(
        "first entry that does not match: entry {seq} (history of issue {confirmed_id}: candidate -> confirmed"
    );
    assert!(text(&out).contains(&named), "{}", text(&out));

    // The box rewritten from that entry on: its own chain verifies, the centre's copy does not.
    rewrite_from(&db, &store, seq);
    let out = verify(&config_path);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(text(&out).contains("box: 8 chain entries, 4 evidence files: all match"), "{}", text(&out));
    assert!(text(&out).contains(&format!("entry {seq} (history of issue")), "{}", text(&out));
    assert!(text(&out).contains("the box's record was rewritten"), "{}", text(&out));
}
