//! Resident memory of the per-camera vision state (fire detector, motion gate) once warm:
//! `cargo run --release -p shaobing-vision --example memory_probe -- 20`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use shaobing_core::{CameraId, Frame, UnixMillis};
use shaobing_vision::{FireDetector, FireDetectorConfig, MotionGate, MotionGateConfig};

fn rss_mib() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let kb: f64 =
        status.lines().find(|l| l.starts_with("VmRSS:")).unwrap().split_whitespace().nth(1).unwrap().parse().unwrap();
    kb / 1024.0
}

fn main() {
    let n: usize = std::env::args().nth(1).map_or(20, |a| a.parse().unwrap());
    let (w, h) = (1280u32, 720u32);
    let frame = |seq: u64| Frame {
        camera: CameraId("probe".into()),
        seq,
        captured_at: UnixMillis(seq as i64 * 2000),
        width: w,
        height: h,
        rgb: (0..(w * h * 3) as usize).map(|i| ((i as u64 * 31 + seq * 7) % 251) as u8).collect::<Vec<u8>>().into(),
    };
    let frames: Vec<Frame> = (0..4).map(frame).collect();
    let before = rss_mib();
    let mut fires: Vec<FireDetector> = (0..n).map(|_| FireDetector::new(FireDetectorConfig::default())).collect();
    for (i, f) in fires.iter_mut().enumerate() {
        for fr in &frames {
            f.observe(fr).unwrap();
        }
        let _ = i;
    }
    let fire = rss_mib();
    let mut gates: Vec<MotionGate> =
        (0..n).map(|_| MotionGate::new(MotionGateConfig::default(), Vec::new(), Vec::new()).unwrap()).collect();
    for g in &mut gates {
        for fr in &frames {
            g.moving_fraction(fr).unwrap();
        }
    }
    let gate = rss_mib();
    println!(
        "per camera: fire detector {:.2} MiB, motion gate {:.2} MiB",
        (fire - before) / n as f64,
        (gate - fire) / n as f64
    );
}
