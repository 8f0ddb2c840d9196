//! Every camera issue gets a clip: a parked car and a fire, each on a key-frame camera (retina)
//! and on an every-frame camera (GStreamer), with B-frames on one and without on the other,
//! over a real RTSP server; each with an MP4 cut from the compressed stream that plays, starts
//! at a key frame and covers the moment of the issue's snapshot.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use shaobing::daemon::Daemon;
use shaobing_camera::{FileFrames, inspect_clip};
use shaobing_config::Config;
use shaobing_core::UnixMillis;
use shaobing_rtsp_server::{RtspServer, Stream};
use shaobing_store::Store;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;

const PRE: f64 = 6.0;
const POST: f64 = 4.0;
/// Both streams send a key frame every 10 frames: 1 s.
const GOP_SECS: f64 = 1.0;

/// The evaluation's flame on a street, lit 10 s in, as a 30 s video at 10 frames/s.
fn fire_footage(dir: &Path) -> PathBuf {
    let set = shaobing_eval::EvalSet::load(&Path::new(env!("CARGO_MANIFEST_DIR")).join("../eval/street.toml")).unwrap();
    let spec = set.clips.iter().find(|c| c.name == "fire-flame_on_street").expect("the eval's street fire");
    let footage = shaobing_eval::Footage::load(spec, 10.0, 1).unwrap();
    let path = dir.join("fire.mkv");
    common::encode_frames(footage.frames().map(|(_, f)| f), 10, &path);
    path
}

/// A camera on `uri`, in key-frame or every-frame mode, with the demo's kerb zone.
fn camera(id: &str, uri: &str, keyframes: bool) -> String {
    let mode = if keyframes { "keyframes" } else { "fps" };
    format!(
        "[[cameras]]\nid = \"{id}\"\nuri = \"{uri}\"\nanalysis_mode = \"{mode}\"\n[[cameras.zones]]\n\
         id = \"kerb-north-east\"\nkind = \"no_parking\"\n\
         polygon = [[0.78, 0.07], [1.0, 0.05], [1.0, 0.25], [0.78, 0.25]]\n"
    )
}

fn config(cameras: &[String], data: &Path) -> Config {
    let text = format!(
        "[daemon]\nbox_id = \"clips-test\"\ndata_dir = \"{}\"\n[metrics]\nlisten = \"127.0.0.1:0\"\n\
         [clips]\npre_secs = {PRE}\npost_secs = {POST}\n[rules.illegal_parking]\ndwell_secs = 6\nmin_score = 0.3\n{}",
        data.display(),
        cameras.concat()
    );
    let config = Config::parse(&text, Path::new("clips.toml")).unwrap();
    config.validate().unwrap();
    config
}

/// (camera, category, issue id) of the issues that have a clip by now.
fn clipped(store: &Store) -> Vec<(String, String, String)> {
    let rows = store.list(None, 50).unwrap();
    rows.into_iter()
        .filter(|r| store.evidence_of(&r.id).unwrap().iter().any(|e| e.kind == "clip"))
        .map(|r| (r.source, r.category, r.id))
        .collect()
}

/// What each camera must file with a clip.
const WANTED: [(&str, &str); 4] = [
    ("street-keyframes", "illegal_parking"),
    ("street-fps", "illegal_parking"),
    ("fire-keyframes", "fire_smoke"),
    ("fire-fps", "fire_smoke"),
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_parking_issue_and_a_fire_issue_each_get_a_playable_clip_covering_the_moment() {
    let dir = tempfile::tempdir().unwrap();
    let fire = fire_footage(dir.path());
    let street = shaobing_rtsp_server::street_clip();
    let stream = |mount: &str, file: &Path, bframes| Stream { gop: 10, bframes, ..Stream::new(mount, file) };
    let server = RtspServer::start(
        0,
        &[
            stream("/street", &street, 0),
            stream("/street-b", &street, 2),
            stream("/fire", &fire, 0),
            stream("/fire-b", &fire, 2),
        ],
    )
    .unwrap();
    let data = dir.path().join("data");
    let cameras = [
        camera("street-keyframes", &server.url("/street"), true),
        camera("street-fps", &server.url("/street-b"), false),
        camera("fire-keyframes", &server.url("/fire-b"), true),
        camera("fire-fps", &server.url("/fire"), false),
    ];
    let config = config(&cameras, &data);
    let cancel = CancellationToken::new();
    let daemon = Daemon::start(config, cancel.clone()).await.unwrap();
    let metrics = daemon.metrics().clone();
    let store = Store::open(&data, "clips-test").unwrap();
    let started = Instant::now();
    let wanted =
        |c: &[(String, String, String)]| WANTED.iter().all(|(s, k)| c.iter().any(|(cs, ck, _)| cs == s && ck == k));
    while !wanted(&clipped(&store)) && started.elapsed() < Duration::from_secs(120) {
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    cancel.cancel();
    daemon.wait().await.unwrap();
    let clips = clipped(&store);
    assert!(wanted(&clips), "a clip of each camera's issue within 120 s: {clips:?}\n{}", metrics.render());
    for (camera, category, id) in clips {
        let evidence = store.evidence_of(&id).unwrap();
        let before = evidence.iter().find(|e| e.kind == "before").expect("a snapshot");
        let clip = evidence.iter().find(|e| e.kind == "clip").unwrap();
        let info = inspect_clip(Path::new(&clip.path)).unwrap();
        let what = format!("{camera} {category} {id}: {info:?}");
        assert_eq!(info.codec, "video/x-h264", "{what}");
        assert!(info.starts_at_key_frame, "{what}");
        assert!((PRE + POST - GOP_SECS..=PRE + POST + 2.0 * GOP_SECS + 0.2).contains(&info.secs), "{what}");
        let (start, end) = (clip.captured_ms, clip.captured_ms + (info.secs * 1000.0) as i64);
        assert!(
            (start..end).contains(&before.captured_ms),
            "{what}: snapshot at {} outside {start}..{end}",
            before.captured_ms
        );
        assert_eq!(FileFrames::open(Path::new(&clip.path), UnixMillis(0)).unwrap().count(), info.frames, "{what}");
        let sha = shaobing_store::sha256_file(Path::new(&clip.path)).unwrap();
        assert_eq!(sha, clip.sha256, "{what}: the row's hash is the file's");
    }
    let text = metrics.render();
    assert!(text.lines().any(|l| l.starts_with("shaobing_clips_total") && l.contains("outcome=\"written\"")), "{text}");
}
