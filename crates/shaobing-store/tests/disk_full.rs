//! A disk that fills up under the problem database: no corruption, nothing acknowledged that
//! was not stored, and writes resume by themselves when space returns. Uses a real, tiny
//! tmpfs, which needs root: ignored by default, run with `--ignored` by `scripts/test.sh` when
//! it runs as root (as CI does), where failing to mount fails the test.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use sha2::Digest;
use shaobing_core::UnixMillis;
use shaobing_store::{Recorded, Store};
use shaobing_testkit::Tmpfs;
use shaobing_testkit::issue::candidate;

#[test]
#[ignore = "needs root to mount a tmpfs; CI runs it with --ignored"]
fn a_full_disk_corrupts_nothing_acknowledges_nothing_unstored_and_recovers() {
    let dir = tempfile::tempdir().unwrap();
    let _fs = Tmpfs::mount(dir.path(), 2 << 20);
    let ballast = dir.path().join("ballast");
    std::fs::write(&ballast, vec![0u8; 256 << 10]).unwrap();
    let mut store = Store::open(dir.path(), "box-full").unwrap();
    let jpeg = |i: u32| (0..40_000u32).map(|b| (b.wrapping_mul(31) ^ i) as u8).collect::<Vec<u8>>();
    let mut acknowledged = Vec::new();
    let mut failures = 0;
    for i in 0..200u32 {
        let issue = candidate(&format!("k{i}"), UnixMillis(i64::from(i)));
        match store.record(&issue, Some(&jpeg(i))) {
            Ok(Recorded::Created { id }) => acknowledged.push((id, i)),
            Ok(other) => panic!("unexpected {other:?}"),
            Err(_) => failures += 1,
        }
    }
    assert!(failures > 0, "the 2 MiB disk never filled");
    assert!(!acknowledged.is_empty());
    assert_eq!(store.integrity_check().unwrap(), "ok");
    for (id, i) in &acknowledged {
        let row = store.get(id).unwrap();
        let bytes = std::fs::read(row.evidence_path.as_ref().unwrap()).unwrap();
        assert_eq!(bytes, jpeg(*i), "evidence of an acknowledged issue is whole");
        assert_eq!(row.evidence_sha256.unwrap(), hex::encode(sha2::Sha256::digest(&bytes)));
    }
    let stored = store.list(None, 1000).unwrap().len();
    assert_eq!(
        stored,
        acknowledged.len(),
        "nothing stored that was reported failed, nothing lost that was acknowledged"
    );

    // Space returns: the same store takes writes again without being reopened.
    std::fs::remove_file(&ballast).unwrap();
    let issue = candidate("after", UnixMillis(10_000));
    assert!(matches!(store.record(&issue, Some(&jpeg(999))), Ok(Recorded::Created { .. })));
    assert_eq!(store.integrity_check().unwrap(), "ok");
    drop(store);
    assert_eq!(Store::open(dir.path(), "box-full").unwrap().list(None, 1000).unwrap().len(), stored + 1);
}
