//! Recorded clips as cameras: a clip plays at its own frame rate unless told to go as fast as
//! it decodes, and its end is an end, not an outage that spends the restart budget.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use shaobing_camera::CameraExit;
use shaobing_metrics::Metrics;
use std::time::{Duration, Instant};
use support::{Cam, encode, spec, wait_for};

/// A clip of `frames` frames at 10 frames/s with a key frame every 10, in `dir`.
fn clip(dir: &std::path::Path, frames: u32) -> String {
    let path = dir.join(format!("clip-{frames}.mkv"));
    encode(&format!(
        "videotestsrc pattern=ball num-buffers={frames} ! video/x-raw,width=320,height=240,framerate=10/1 \
         ! x264enc speed-preset=ultrafast key-int-max=10 ! matroskamux ! filesink location={}",
        path.display()
    ));
    format!("file://{}", path.display())
}

/// Plays `uri` once to its end; the wall time it took and the frames analysed.
async fn play_to_end(uri: &str, keyframes: bool, realtime: bool) -> (Duration, u64) {
    let mut s = spec(&format!("clip-k{keyframes}-r{realtime}"), uri);
    (s.keyframes_only, s.realtime, s.restart_on_eos, s.analysis_fps) = (keyframes, realtime, false, 30.0);
    let metrics = Metrics::new();
    let started = Instant::now();
    let cam = Cam::start(s, &metrics);
    let exit = tokio::time::timeout(Duration::from_secs(30), cam.task).await.expect("the clip ends").unwrap();
    assert_eq!(exit, CameraExit::EndOfStream, "{uri}");
    assert!(
        wait_for(Duration::from_secs(2), || cam.taken.load(std::sync::atomic::Ordering::Relaxed) > 0).await.is_some()
    );
    (started.elapsed(), cam.taken.load(std::sync::atomic::Ordering::Relaxed))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_clip_plays_at_its_own_rate_unless_told_otherwise() {
    let dir = tempfile::tempdir().unwrap();
    let uri = clip(dir.path(), 50);
    for keyframes in [false, true] {
        let (paced, analysed) = play_to_end(&uri, keyframes, true).await;
        // Its last key frame is shown at 4 s: key-frame mode has nothing to wait for after it.
        assert!(paced >= Duration::from_millis(3900), "keyframes={keyframes}: a 5 s clip took {paced:?}");
        let expected = if keyframes { 5 } else { 45 };
        assert!(analysed >= expected, "keyframes={keyframes}: {analysed} frames analysed of 50");
        let (batch, _) = play_to_end(&uri, keyframes, false).await;
        assert!(batch * 2 < paced, "keyframes={keyframes}: as fast as it decodes took {batch:?}, paced {paced:?}");
    }
}

/// A looping clip plays again at once each time it ends, however often: no backoff, and the
/// restart budget (one restart a minute here) is kept for real failures.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_looping_clip_plays_again_outside_the_restart_budget() {
    let dir = tempfile::tempdir().unwrap();
    let uri = clip(dir.path(), 15);
    let mut s = spec("looping", &uri);
    s.retry.budget = 1;
    s.retry.initial = Duration::from_secs(20);
    s.retry.max = Duration::from_secs(20);
    let metrics = Metrics::new();
    let cam = Cam::start(s, &metrics);
    let m = cam.metrics.clone();
    let looped = wait_for(Duration::from_secs(15), || m.reconnects("eos") >= 3).await;
    assert!(looped.is_some(), "a 1.5 s clip ended {} times in 15 s", m.reconnects("eos"));
    assert!(cam.taken() >= 15, "frames analysed over three plays at 5 a second: {}", cam.taken());
    cam.stop().await;
}
