//! Shared by the camera tests: a camera with a consumer standing in for analysis, waiting
//! helpers, the street clip and a TCP proxy that can stall a link without closing it.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use shaobing_camera::{CameraExit, CameraSpec, FrameSlot, RetryPolicy, run_camera};
use shaobing_core::CameraId;
use shaobing_metrics::{CameraMetrics, Metrics};
use std::collections::BTreeSet;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;

pub fn vtest() -> PathBuf {
    let p = shaobing_rtsp_server::street_clip();
    assert!(p.is_file(), "{} is missing: run scripts/setup.sh", p.display());
    p
}

pub fn spec(id: &str, uri: &str) -> CameraSpec {
    CameraSpec {
        id: CameraId(id.into()),
        uri: uri.into(),
        credentials: None,
        rtsp_tcp: true,
        keyframes_only: false,
        key_frame_burst: 1,
        native_rtsp: true,
        analysis_fps: 5.0,
        analysis_width: None,
        decoder_threads: 1,
        restart_on_eos: true,
        realtime: true,
        watchdog: Duration::from_secs(3),
        retry: RetryPolicy {
            initial: Duration::from_millis(200),
            max: Duration::from_secs(2),
            budget: 1000,
            window: Duration::from_secs(60),
        },
        clips: None,
    }
}

/// A running camera and a consumer that takes every frame it can, as analysis would.
pub struct Cam {
    pub metrics: CameraMetrics,
    pub taken: Arc<AtomicU64>,
    pub sizes: Arc<Mutex<BTreeSet<(u32, u32)>>>,
    /// Capture times of the frames taken, in the order taken.
    pub times: Arc<Mutex<Vec<i64>>>,
    pub cancel: CancellationToken,
    pub task: tokio::task::JoinHandle<CameraExit>,
}

impl Cam {
    pub fn start(spec: CameraSpec, metrics: &Metrics) -> Cam {
        let slot = Arc::new(FrameSlot::new());
        let cm = metrics.camera(&spec.id.0);
        let cancel = CancellationToken::new();
        let task = tokio::spawn(run_camera(spec, slot.clone(), cm.clone(), cancel.clone()));
        let (taken, sizes) = (Arc::new(AtomicU64::new(0)), Arc::new(Mutex::new(BTreeSet::new())));
        let times = Arc::new(Mutex::new(Vec::new()));
        let (t, sz, at) = (taken.clone(), sizes.clone(), times.clone());
        tokio::spawn(async move {
            while let Ok(frame) = slot.take(Duration::from_millis(200)).await {
                if let Some(f) = frame {
                    assert!(f.is_well_formed());
                    t.fetch_add(1, Ordering::Relaxed);
                    sz.lock().unwrap().insert((f.width, f.height));
                    at.lock().unwrap().push(f.captured_at.0);
                }
            }
        });
        Cam { metrics: cm, taken, sizes, times, cancel, task }
    }

    pub fn taken(&self) -> u64 {
        self.taken.load(Ordering::Relaxed)
    }

    pub async fn stop(self) -> CameraExit {
        self.cancel.cancel();
        tokio::time::timeout(Duration::from_secs(10), self.task).await.expect("camera stops").unwrap()
    }
}

/// Polls `cond` every 50 ms; the time it took, or `None` at `timeout`.
pub async fn wait_for(timeout: Duration, mut cond: impl FnMut() -> bool) -> Option<Duration> {
    let start = Instant::now();
    while start.elapsed() < timeout {
        if cond() {
            return Some(start.elapsed());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    None
}

/// Frames `cam` hands to analysis over `window`, per second.
pub async fn rate(cam: &Cam, window: Duration) -> f64 {
    let before = cam.taken();
    tokio::time::sleep(window).await;
    (cam.taken() - before) as f64 / window.as_secs_f64()
}

/// Encodes a synthetic clip with GStreamer into `path` (a launch description's sink part).
pub fn encode(description: &str) {
    use gstreamer::prelude::*;
    shaobing_camera::init_gstreamer().unwrap();
    let pipeline = gstreamer::parse::launch(description).unwrap();
    pipeline.set_state(gstreamer::State::Playing).unwrap();
    let bus = pipeline.bus().unwrap();
    let msg = bus
        .timed_pop_filtered(
            gstreamer::ClockTime::from_seconds(60),
            &[gstreamer::MessageType::Eos, gstreamer::MessageType::Error],
        )
        .expect("encoding finishes");
    assert!(matches!(msg.view(), gstreamer::MessageView::Eos(_)), "encoding failed: {msg:?}");
    pipeline.set_state(gstreamer::State::Null).unwrap();
}
