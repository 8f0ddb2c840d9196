//! Camera behaviour against a real RTSP server (gst-rtsp-server) on free loopback ports.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use shaobing_camera::CameraExit;
use shaobing_core::Secret;
use shaobing_metrics::{CameraState, Metrics};
use shaobing_rtsp_server::{Codec, RtspServer, Stream};
use shaobing_testkit::Proxy;
use std::time::Duration;
use support::{Cam, rate, spec, vtest, wait_for};

fn street(mount: &str) -> Stream {
    Stream { gop: 10, ..Stream::new(mount, &vtest()) }
}

/// A camera in either mode. Key-frame mode receives `rtsp://` with retina instead of a
/// GStreamer pipeline, so each supervision test runs in both.
fn camera(id: &str, uri: &str, keyframes: bool) -> shaobing_camera::CameraSpec {
    let mut s = spec(id, uri);
    s.keyframes_only = keyframes;
    s
}

/// The street clip with key frames often enough that key-frame mode has a rate to measure.
fn street_for(mount: &str, keyframes: bool) -> Stream {
    Stream { gop: if keyframes { 2 } else { 10 }, ..street(mount) }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_restart_is_survived_and_other_cameras_are_unaffected() {
    server_restart(false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_restart_is_survived_in_keyframe_mode() {
    server_restart(true).await;
}

async fn server_restart(keyframes: bool) {
    let a_server = RtspServer::start(0, &[street_for("/a", keyframes)]).unwrap();
    let port = a_server.port();
    let b_server = RtspServer::start(0, &[street_for("/b", keyframes)]).unwrap();
    let metrics = Metrics::new();
    let a = Cam::start(camera("cam-a", &a_server.url("/a"), keyframes), &metrics);
    let b = Cam::start(camera("cam-b", &b_server.url("/b"), keyframes), &metrics);
    assert!(wait_for(Duration::from_secs(15), || a.metrics.up.get() == 1 && b.metrics.up.get() == 1).await.is_some());
    assert_eq!(a.metrics.state(), Some(CameraState::Streaming));
    let b_before = rate(&b, Duration::from_secs(3)).await;

    drop(a_server);
    let down = wait_for(Duration::from_secs(10), || a.metrics.up.get() == 0).await;
    assert!(down.is_some(), "camera a still reported up after its server stopped");
    let b_during = rate(&b, Duration::from_secs(4)).await;
    assert!(b_during >= 0.8 * b_before, "camera b slowed from {b_before:.1} to {b_during:.1} fps");
    assert!(a.metrics.state() != Some(CameraState::Streaming));

    let a_server = RtspServer::start(port, &[street_for("/a", keyframes)]).unwrap();
    let taken = a.taken();
    let back = wait_for(Duration::from_secs(10), || a.metrics.up.get() == 1 && a.taken() > taken + 2).await;
    assert!(back.is_some(), "frames did not resume within 10 s of the server's return");
    let reasons = ["unreachable", "eos", "bad_stream", "stalled", "error"];
    let reconnects: u64 = reasons.iter().map(|r| a.metrics.reconnects(r)).sum();
    assert!(reconnects >= 1, "reconnects were not counted by reason");
    assert_eq!(b.metrics.reconnects("unreachable") + b.metrics.reconnects("stalled"), 0);
    assert_eq!(a.stop().await, CameraExit::Cancelled);
    assert_eq!(b.stop().await, CameraExit::Cancelled);
    drop(a_server);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stream_that_stops_without_closing_is_restarted_by_the_watchdog() {
    stalled_stream(false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_stream_is_restarted_in_keyframe_mode() {
    stalled_stream(true).await;
}

async fn stalled_stream(keyframes: bool) {
    let server = RtspServer::start(0, &[street("/s")]).unwrap();
    let proxy = Proxy::start(server.port()).await;
    let metrics = Metrics::new();
    let cam = Cam::start(camera("cam-s", &format!("rtsp://127.0.0.1:{}/s", proxy.port), keyframes), &metrics);
    assert!(wait_for(Duration::from_secs(15), || cam.metrics.up.get() == 1).await.is_some());
    proxy.stall(true);
    // Watchdog 3 s, then the restart itself: within 5 s plus the first backoff.
    let caught = wait_for(Duration::from_secs(8), || cam.metrics.reconnects("stalled") >= 1).await;
    assert!(caught.is_some(), "the stall was not caught");
    proxy.stall(false);
    let taken = cam.taken();
    assert!(wait_for(Duration::from_secs(15), || cam.taken() > taken + 2).await.is_some(), "no frames after the stall");
    cam.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keyframe_mode_decodes_one_frame_per_gop() {
    let gop = 10;
    let server = RtspServer::start(0, &[Stream { gop, ..Stream::new("/k", &vtest()) }]).unwrap();
    let metrics = Metrics::new();
    let mut s = spec("cam-k", &server.url("/k"));
    s.keyframes_only = true;
    s.analysis_fps = 30.0; // no cap: every key frame is analysed
    let cam = Cam::start(s, &metrics);
    let m = &cam.metrics;
    assert!(wait_for(Duration::from_secs(20), || m.frames_received.get() >= 80).await.is_some());
    let (received, decoded) = (m.frames_received.get(), m.frames_decoded.get());
    let expected = received as f64 / f64::from(gop);
    assert!(
        (decoded as f64 - expected).abs() <= 2.0,
        "decoded {decoded} of {received} frames; one per GOP of {gop} is {expected:.1}"
    );
    assert!(cam.taken() >= decoded.saturating_sub(2), "decoded key frames reach analysis");
    assert!(m.decode_seconds.get_sample_count() >= decoded.saturating_sub(2), "decode time observed");
    cam.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_frame_mode_decodes_all_and_analyses_at_the_configured_rate() {
    let server = RtspServer::start(0, &[street("/f")]).unwrap();
    let metrics = Metrics::new();
    let mut s = spec("cam-f", &server.url("/f"));
    s.analysis_fps = 2.0;
    s.analysis_width = Some(384);
    let cam = Cam::start(s, &metrics);
    let m = &cam.metrics;
    assert!(wait_for(Duration::from_secs(20), || m.frames_received.get() >= 60).await.is_some());
    let (received, decoded) = (m.frames_received.get(), m.frames_decoded.get());
    assert!(decoded + 3 >= received, "decoded {decoded} of {received}");
    let analysed_rate = rate(&cam, Duration::from_secs(4)).await;
    assert!((1.5..=2.75).contains(&analysed_rate), "analysed {analysed_rate:.2} frames/s, configured 2");
    assert!(m.frames_dropped.get() > 0, "frames not due are counted as dropped");
    assert_eq!(*cam.sizes.lock().unwrap(), [(384, 288)].into_iter().collect(), "scaled, aspect kept");
    cam.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn h265_cameras_work_in_both_modes() {
    let stream = Stream { codec: Codec::H265, gop: 10, size: Some((384, 288)), ..Stream::new("/h", &vtest()) };
    let server = RtspServer::start(0, &[stream]).unwrap();
    let metrics = Metrics::new();
    let mut keyframes = spec("cam-h265-k", &server.url("/h"));
    keyframes.keyframes_only = true;
    let all = Cam::start(spec("cam-h265", &server.url("/h")), &metrics);
    let key = Cam::start(keyframes, &metrics);
    let ok = wait_for(Duration::from_secs(20), || all.taken() >= 5 && key.taken() >= 2).await;
    assert!(ok.is_some(), "H.265 frames: all {}, key {}", all.taken(), key.taken());
    assert!(key.metrics.frames_decoded.get() * 4 < key.metrics.frames_received.get());
    all.stop().await;
    key.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn credentials_come_from_their_own_fields_and_a_wrong_password_is_classified() {
    credentials(false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn credentials_work_in_keyframe_mode() {
    credentials(true).await;
}

async fn credentials(keyframes: bool) {
    let server = RtspServer::start_with_auth(0, &[street("/p")], Some(("viewer", "canary-pw-7731"))).unwrap();
    let metrics = Metrics::new();
    let mut good = camera("cam-auth", &server.url("/p"), keyframes);
    good.credentials = Some(("viewer".into(), Secret::new("canary-pw-7731")));
    let mut bad = camera("cam-noauth", &server.url("/p"), keyframes);
    bad.credentials = Some(("viewer".into(), Secret::new("wrong")));
    assert!(!format!("{good:?}").contains("canary-pw"), "the spec's Debug must not print the password");
    let good = Cam::start(good, &metrics);
    let bad = Cam::start(bad, &metrics);
    assert!(wait_for(Duration::from_secs(15), || good.taken() >= 3).await.is_some());
    assert!(wait_for(Duration::from_secs(10), || bad.metrics.reconnects("unauthorized") >= 1).await.is_some());
    assert_eq!(bad.taken(), 0);
    good.stop().await;
    bad.stop().await;
}

/// Key frames of all cameras share a few decoders: cameras of different codecs and sizes,
/// interleaved on them, each get their own pictures, at their own size.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shared_key_frame_decoders_keep_cameras_apart() {
    let streams = [
        Stream { gop: 5, size: Some((384, 288)), ..Stream::new("/a", &vtest()) },
        Stream { gop: 5, size: Some((320, 176)), ..Stream::new("/b", &vtest()) },
        Stream { codec: Codec::H265, gop: 5, size: Some((256, 192)), ..Stream::new("/c", &vtest()) },
    ];
    let server = RtspServer::start(0, &streams).unwrap();
    let metrics = Metrics::new();
    let cams: Vec<Cam> = ["/a", "/b", "/c"]
        .iter()
        .map(|mount| {
            let mut s = spec(&format!("cam-shared{mount}").replace('/', "-"), &server.url(mount));
            s.keyframes_only = true;
            s.analysis_fps = 30.0;
            Cam::start(s, &metrics)
        })
        .collect();
    let ok = wait_for(Duration::from_secs(20), || cams.iter().all(|c| c.taken() >= 6)).await;
    assert!(ok.is_some(), "frames taken: {:?}", cams.iter().map(Cam::taken).collect::<Vec<_>>());
    for (cam, size) in cams.iter().zip([(384, 288), (320, 176), (256, 192)]) {
        assert_eq!(*cam.sizes.lock().unwrap(), [size].into_iter().collect(), "each camera sees only its own pictures");
        let (decoded, received) = (cam.metrics.frames_decoded.get(), cam.metrics.frames_received.get());
        assert!(decoded * 3 < received, "decoded {decoded} of {received}: key frames only");
        assert_eq!(cam.metrics.reconnects("bad_stream"), 0, "no key frame failed to decode");
    }
    for cam in cams {
        cam.stop().await;
    }
}

/// A camera that is neither H.264 nor H.265 still works in key-frame mode: it goes back from
/// the native RTSP client to a GStreamer pipeline, which decodes anything.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_motion_jpeg_camera_in_keyframe_mode_falls_back_to_gstreamer() {
    let stream = Stream { codec: Codec::Mjpeg, size: Some((320, 240)), ..Stream::new("/j", &vtest()) };
    let server = RtspServer::start(0, &[stream]).unwrap();
    let metrics = Metrics::new();
    let cam = Cam::start(camera("cam-mjpeg", &server.url("/j"), true), &metrics);
    let ok = wait_for(Duration::from_secs(20), || cam.taken() >= 3).await;
    assert!(ok.is_some(), "frames taken: {}", cam.taken());
    assert_eq!(*cam.sizes.lock().unwrap(), [(320, 240)].into_iter().collect());
    let reasons = ["unreachable", "unsupported", "bad_stream", "stalled", "error"];
    assert_eq!(reasons.iter().map(|r| cam.metrics.reconnects(r)).sum::<u64>(), 0, "the fallback is not a failure");
    cam.stop().await;
}

/// RTSP over UDP, chosen per camera, in both modes: rtspsrc's and retina's.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn udp_transport_works_in_both_modes() {
    let server = RtspServer::start(0, &[street_for("/u0", true), street_for("/u1", true)]).unwrap();
    let metrics = Metrics::new();
    let cams: Vec<Cam> = [false, true]
        .into_iter()
        .enumerate()
        .map(|(i, keyframes)| {
            let mut s = camera(&format!("cam-udp{i}"), &server.url(&format!("/u{i}")), keyframes);
            s.rtsp_tcp = false;
            Cam::start(s, &metrics)
        })
        .collect();
    let ok = wait_for(Duration::from_secs(20), || cams.iter().all(|c| c.taken() >= 3)).await;
    assert!(ok.is_some(), "frames taken over UDP: {:?}", cams.iter().map(Cam::taken).collect::<Vec<_>>());
    for cam in cams {
        cam.stop().await;
    }
}

/// The street clip in an MP4 file, H.264 high profile with three B-frames and a key frame every
/// 10 frames; its `file://` URI (the folder goes with the guard).
fn b_frame_file() -> (tempfile::TempDir, String) {
    let dir = tempfile::tempdir().unwrap();
    let clip = dir.path().join("bframes.mp4");
    support::encode(&format!(
        "filesrc location={} ! decodebin ! videoconvert ! x264enc speed-preset=ultrafast bframes=3 b-adapt=false \
         key-int-max=10 ! video/x-h264,profile=high ! mp4mux ! filesink location={}",
        vtest().display(),
        clip.display()
    ));
    let uri = format!("file://{}", clip.display());
    (dir, uri)
}

/// Key-frame cameras on `uris`, every key frame due, each decoding `burst` frames from it.
fn keyframe_cameras(prefix: &str, uris: &[String], burst: usize, metrics: &Metrics) -> Vec<Cam> {
    let start = |(i, uri): (usize, &String)| {
        let mut s = camera(&format!("{prefix}{i}"), uri, true);
        s.analysis_fps = 30.0;
        s.key_frame_burst = burst;
        Cam::start(s, metrics)
    };
    uris.iter().enumerate().map(start).collect()
}

/// Most cameras' main and high profiles send B-frames: a decoder given one key frame holds it
/// back for reordering, and key-frame mode must still get it out, over RTSP and from a file.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keyframe_mode_decodes_streams_with_b_frames() {
    let b = |mount: &str, codec| Stream { codec, gop: 10, bframes: 2, size: Some((384, 288)), ..street(mount) };
    let server = RtspServer::start(0, &[b("/b264", Codec::H264), b("/b265", Codec::H265)]).unwrap();
    let (_dir, clip) = b_frame_file();
    let metrics = Metrics::new();
    let uris = [server.url("/b264"), server.url("/b265"), clip];
    let cams = keyframe_cameras("cam-b", &uris, 1, &metrics);
    let ok = wait_for(Duration::from_secs(25), || cams.iter().all(|c| c.taken() >= 4)).await;
    let taken: Vec<u64> = cams.iter().map(Cam::taken).collect();
    assert!(ok.is_some(), "key frames analysed per camera (H.264 RTSP, H.265 RTSP, file): {taken:?}");
    for cam in cams {
        assert_eq!(cam.metrics.reconnects("bad_stream"), 0, "no key frame failed to decode");
        cam.stop().await;
    }
}

/// A camera that watches for fire decodes a burst from each key frame (the key frame and the
/// frames after it in decoding order, B-frames too), over RTSP with retina and from a file
/// through GStreamer: each burst reaches the analysis in presentation order, stamped apart by
/// the stream's own times, and only key frames start one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keyframe_mode_decodes_a_burst_from_each_key_frame() {
    let b = |mount: &str| Stream { gop: 10, bframes: 2, size: Some((384, 288)), ..street(mount) };
    let server = RtspServer::start(0, &[b("/burst"), Stream { gop: 10, ..street("/plain") }]).unwrap();
    let (_dir, clip) = b_frame_file();
    let metrics = Metrics::new();
    let uris = [server.url("/burst"), server.url("/plain"), clip];
    let cams = keyframe_cameras("cam-burst", &uris, 3, &metrics);
    let ok = wait_for(Duration::from_secs(30), || cams.iter().all(|c| c.taken() >= 15)).await;
    let taken: Vec<u64> = cams.iter().map(Cam::taken).collect();
    assert!(ok.is_some(), "bursts analysed per camera (B-frames RTSP, plain RTSP, B-frames file): {taken:?}");
    for (uri, cam) in uris.iter().zip(cams) {
        let times = cam.times.lock().unwrap().clone();
        // A GOP is 10 frames of a 10 frames/s clip: bursts start a second apart (a file played
        // again continues a millisecond after its last frame).
        let bursts: Vec<&[i64]> = times.chunk_by(|a, b| (2..500).contains(&(b - a))).collect();
        assert!(bursts.len() >= 5, "{uri}: {times:?}");
        let inner = &bursts[1..bursts.len() - 1];
        for burst in inner {
            assert_eq!(burst.len(), 3, "{uri}: a key frame and two followers: {times:?}");
            assert!(burst.windows(2).all(|w| (50..=450).contains(&(w[1] - w[0]))), "{uri}: {times:?}");
        }
        assert_eq!(cam.metrics.reconnects("bad_stream"), 0, "{uri}: no burst failed to decode");
        cam.stop().await;
    }
}

/// Cameras connected together, as after a power cut, each start at a key frame and so send
/// their key frames together every GOP: a burst larger than the shared decoders take at once.
/// Every key frame waits its turn and is analysed; none is shed, and no camera whose frames
/// wait is called stalled.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cameras_connected_together_have_every_key_frame_decoded_in_turn() {
    const CAMERAS: usize = 40;
    let dir = tempfile::tempdir().unwrap();
    let clip = dir.path().join("720p-gop10.mkv");
    support::encode(&format!(
        "filesrc location={} ! decodebin ! videoconvert ! videoscale ! video/x-raw,width=1280,height=720 \
         ! x264enc speed-preset=ultrafast bframes=0 key-int-max=10 ! h264parse ! matroskamux \
         ! filesink location={}",
        vtest().display(),
        clip.display()
    ));
    let streams: Vec<Stream> =
        (0..CAMERAS).map(|i| Stream { passthrough: true, ..Stream::new(&format!("/t{i}"), &clip) }).collect();
    let server = RtspServer::start(0, &streams).unwrap();
    let metrics = Metrics::new();
    let uris: Vec<String> = (0..CAMERAS).map(|i| server.url(&format!("/t{i}"))).collect();
    let cams = keyframe_cameras("cam-together", &uris, 1, &metrics);
    // A key frame a second (GOP 10 at 10 frames/s): 8 in 10 s, less the start.
    let ok = wait_for(Duration::from_secs(30), || cams.iter().all(|c| c.taken() >= 8)).await;
    let taken: Vec<u64> = cams.iter().map(Cam::taken).collect();
    assert!(ok.is_some(), "key frames analysed per camera: {taken:?}");
    for (i, cam) in cams.into_iter().enumerate() {
        let m = &cam.metrics;
        let shed = m.key_frames_expired.get() + m.key_frames_displaced.get();
        assert_eq!(shed, 0, "camera {i}: key frames shed");
        let reasons = ["unreachable", "bad_stream", "stalled", "error"];
        assert_eq!(reasons.iter().map(|r| m.reconnects(r)).sum::<u64>(), 0, "camera {i}: restarted");
        cam.stop().await;
    }
}

/// A clip served over RTSP ends with an RTCP BYE on a connection left open; with
/// `on_eos = "stop"` that is the camera's end in both modes, not a stall to restart.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_end_of_a_clip_over_rtsp_stops_the_camera_in_both_modes() {
    let short = std::env::temp_dir().join(format!("shaobing-short-{}.mkv", std::process::id()));
    support::encode(&format!(
        "videotestsrc pattern=ball num-buffers=40 ! video/x-raw,width=320,height=240,framerate=10/1 \
         ! x264enc speed-preset=ultrafast key-int-max=5 ! matroskamux ! filesink location={}",
        short.display()
    ));
    let server = RtspServer::start(0, &[Stream { passthrough: true, ..Stream::new("/end", &short) }]).unwrap();
    let metrics = Metrics::new();
    for keyframes in [false, true] {
        let mut s = camera(&format!("cam-end-{keyframes}"), &server.url("/end"), keyframes);
        s.restart_on_eos = false;
        s.watchdog = Duration::from_secs(8);
        let cam = Cam::start(s, &metrics);
        let exit = tokio::time::timeout(Duration::from_secs(20), cam.task).await;
        assert_eq!(
            exit.expect("the camera ends with its clip").unwrap(),
            CameraExit::EndOfStream,
            "keyframes={keyframes}"
        );
        assert_eq!(cam.metrics.reconnects("stalled"), 0, "keyframes={keyframes}: the end is not a stall");
        assert!(
            cam.taken.load(std::sync::atomic::Ordering::Relaxed) > 0,
            "keyframes={keyframes}: frames before the end"
        );
    }
    let _ = std::fs::remove_file(short);
}

/// With the shipped retry settings, a key-frame camera whose server is away for 15 s (long
/// enough to spend its restart budget) delivers again within 10 s of the server's return.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_a_long_outage_frames_resume_within_ten_seconds_with_the_default_retries() {
    let server = RtspServer::start(0, &[street_for("/long", true)]).unwrap();
    let (port, url) = (server.port(), server.url("/long"));
    let source: shaobing_camera::SourceConfig =
        toml::from_str(&format!("uri = \"{url}\"\nanalysis_mode = \"keyframes\"\n")).unwrap();
    let metrics = Metrics::new();
    let cam = Cam::start(source.spec(shaobing_core::CameraId("long-outage".into())), &metrics);
    assert!(wait_for(Duration::from_secs(15), || cam.metrics.up.get() == 1).await.is_some());
    drop(server);
    tokio::time::sleep(Duration::from_secs(15)).await;
    let server = RtspServer::start(port, &[street_for("/long", true)]).unwrap();
    let taken = cam.taken();
    let back = wait_for(Duration::from_secs(10), || cam.metrics.up.get() == 1 && cam.taken() > taken).await;
    assert!(back.is_some(), "frames did not resume within 10 s of the server's return");
    eprintln!("frames resumed {:?} after the server came back", back.unwrap());
    cam.stop().await;
    drop(server);
}
