//! Broken inputs: each ends a run with a classified reason and a retry, never a panic, and
//! fifty failures leave no pipeline, thread or file descriptor behind.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use shaobing_camera::live_pipelines;
use shaobing_metrics::Metrics;
use shaobing_rtsp_server::{RtspServer, Stream};
use std::time::Duration;
use support::{Cam, encode, spec, vtest, wait_for};

const REASONS: [&str; 9] =
    ["unreachable", "unauthorized", "not_found", "unsupported", "no_video", "bad_stream", "stalled", "eos", "error"];

fn file_uri(path: &std::path::Path) -> String {
    format!("file://{}", path.display())
}

fn fds() -> usize {
    std::fs::read_dir("/proc/self/fd").unwrap().count()
}

async fn first_reason(uri: &str, id: &str) -> &'static str {
    first_reason_of(spec(id, uri)).await
}

fn keyframe_spec(id: &str, uri: &str) -> shaobing_camera::CameraSpec {
    let mut s = spec(id, uri);
    s.keyframes_only = true;
    s
}

async fn first_reason_of(mut spec: shaobing_camera::CameraSpec) -> &'static str {
    // A broken clip is read as fast as it decodes: the fault, not the clip's length, is tested.
    spec.realtime = false;
    let uri = spec.uri.clone();
    let metrics = Metrics::new();
    let cam = Cam::start(spec, &metrics);
    let m = cam.metrics.clone();
    let found = wait_for(Duration::from_secs(15), || REASONS.iter().any(|r| m.reconnects(r) > 0)).await;
    cam.stop().await;
    assert!(found.is_some(), "{uri}: no classified failure");
    REASONS.into_iter().find(|r| m.reconnects(r) > 0).unwrap()
}

/// One test, run in order: the pipeline counter is process-wide.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_inputs_are_classified_retried_and_leave_nothing_behind() {
    let dir = tempfile::tempdir().unwrap();
    let garbage = dir.path().join("garbage.mp4");
    std::fs::write(&garbage, (0..200_000u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8).collect::<Vec<_>>())
        .unwrap();
    let audio = dir.path().join("audio-only.wav");
    encode(&format!("audiotestsrc num-buffers=20 ! wavenc ! filesink location={}", audio.display()));
    let truncated = dir.path().join("truncated.mkv");
    encode(&format!(
        "filesrc location={} ! decodebin ! videoconvert ! x264enc speed-preset=ultrafast key-int-max=10 \
         ! matroskamux ! filesink location={}",
        vtest().display(),
        truncated.display()
    ));
    let bytes = std::fs::read(&truncated).unwrap();
    std::fs::write(&truncated, &bytes[..bytes.len() / 3]).unwrap();
    let closed_port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();

    assert!(["unsupported", "bad_stream"].contains(&first_reason(&file_uri(&garbage), "garbage").await));
    assert_eq!(first_reason(&file_uri(&audio), "audio").await, "no_video");
    assert!(["eos", "bad_stream"].contains(&first_reason(&file_uri(&truncated), "truncated").await));
    assert_eq!(first_reason(&format!("rtsp://127.0.0.1:{closed_port}/x"), "refused").await, "unreachable");
    assert_eq!(first_reason(&file_uri(&dir.path().join("missing.mp4")), "missing").await, "not_found");
    // Key frames go to the shared decoders: a broken one is still this camera's error.
    let keyframes = keyframe_spec("truncated-k", &file_uri(&truncated));
    assert!(["eos", "bad_stream"].contains(&first_reason_of(keyframes).await));
    // Key-frame mode receives rtsp:// without GStreamer: its failures are classified alike.
    let refused = format!("rtsp://127.0.0.1:{closed_port}/x");
    assert_eq!(first_reason_of(keyframe_spec("refused-k", &refused)).await, "unreachable");
    let server = RtspServer::start(0, &[Stream::new("/street", &vtest())]).unwrap();
    assert_eq!(first_reason_of(keyframe_spec("no-mount-k", &server.url("/nowhere"))).await, "not_found");
    drop(server);

    // Fifty flaps against the corrupt file, and fifty of a key-frame camera (no pipeline,
    // a native RTSP session) against a port nobody listens on, quickly.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let (fds_before, pipelines_before) = (fds(), live_pipelines());
    flap_fifty(spec("flapping", &file_uri(&garbage))).await;
    flap_fifty(keyframe_spec("flapping-k", &refused)).await;
    // None left behind, whatever an earlier camera's pipeline was still tearing down when the
    // flaps began (CI once counted one there, gone by the end).
    assert!(
        wait_for(Duration::from_secs(5), || live_pipelines() == 0).await.is_some(),
        "pipelines leaked: {} (before the flaps: {pipelines_before})",
        live_pipelines()
    );
    assert!(fds() <= fds_before + 4, "file descriptors grew from {fds_before} to {}", fds());
}

async fn flap_fifty(mut s: shaobing_camera::CameraSpec) {
    s.retry.initial = Duration::from_millis(5);
    s.retry.max = Duration::from_millis(10);
    let metrics = Metrics::new();
    let cam = Cam::start(s, &metrics);
    let m = cam.metrics.clone();
    let flaps = || REASONS.iter().map(|r| m.reconnects(r)).sum::<u64>();
    assert!(wait_for(Duration::from_secs(60), || flaps() >= 50).await.is_some(), "only {} flaps", flaps());
    cam.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_resolution_change_mid_stream_is_followed() {
    let dir = tempfile::tempdir().unwrap();
    let mut joined = Vec::new();
    for (i, (w, h)) in [(320, 240), (640, 480)].into_iter().enumerate() {
        let part = dir.path().join(format!("part{i}.h264"));
        encode(&format!(
            "videotestsrc num-buffers=40 pattern=ball ! video/x-raw,width={w},height={h},framerate=20/1 \
             ! x264enc speed-preset=ultrafast key-int-max=10 ! video/x-h264,stream-format=byte-stream \
             ! filesink location={}",
            part.display()
        ));
        joined.extend(std::fs::read(&part).unwrap());
    }
    let clip = dir.path().join("resolution-change.h264");
    std::fs::write(&clip, joined).unwrap();
    let metrics = Metrics::new();
    let mut s = spec("caps-change", &file_uri(&clip));
    s.analysis_fps = 30.0;
    let cam = Cam::start(s, &metrics);
    let sizes = cam.sizes.clone();
    let both = wait_for(Duration::from_secs(20), || sizes.lock().unwrap().len() == 2).await;
    cam.stop().await;
    assert!(both.is_some(), "sizes seen: {:?}", sizes.lock().unwrap());
}
