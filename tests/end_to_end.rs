//! End-to-end tests on real parts: the committed model on ONNX Runtime, Debian's vtest.avi
//! street clip, and a real RTSP server (gst-rtsp-server) on a free loopback port.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a failed step is a failed test

use opencv::core::Vector;
use opencv::imgcodecs;
use opencv::prelude::*;
use shaobing::daemon::Daemon;
use shaobing_camera::decode_file_frames;
use shaobing_core::{BBox, Detection};
use shaobing_detect::{DetectError, Detector, Manifest, Runtime, RuntimeConfig};
use shaobing_rtsp_server::{RtspServer, Stream};
use shaobing_store::Store;
use std::path::PathBuf;
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;

const MODEL: &str = "centernet-mobilenetv3-coco";

/// Where the white van stands at the kerb, top right of vtest.avi, for the whole clip
/// (normalised x1, y1, x2, y2; read off the frames by eye and by the detector). A car stands
/// beside it at the right edge.
const VAN: BBox = BBox { x1: 0.835, y1: 0.071, x2: 0.942, y2: 0.173 };

fn vtest() -> PathBuf {
    let clip = shaobing_rtsp_server::street_clip();
    assert!(clip.is_file(), "{} is missing: run scripts/setup.sh", clip.display());
    clip
}

fn runtime() -> Runtime {
    Runtime::load(&RuntimeConfig { intra_threads: 2, ..Default::default() })
        .expect("ONNX Runtime (run scripts/setup.sh)")
}

fn detector() -> Detector {
    let manifest = Manifest::load(&shaobing_detect::manifest_path(None)).expect("models/manifest.toml");
    Detector::load(&runtime(), &manifest, MODEL).expect("shipped model loads")
}

fn best_match<'a>(dets: &'a [Detection], label: &[&str], truth: BBox) -> Option<&'a Detection> {
    dets.iter()
        .filter(|d| label.contains(&d.label.as_str()))
        .max_by(|a, b| a.bbox.iou(&truth).total_cmp(&b.bbox.iou(&truth)))
}

#[test]
fn persons_and_the_parked_van_are_detected_in_known_frames() {
    let mut detector = detector();
    let frames = decode_file_frames(&vtest(), |i| i == 0 || i == 400, 400).expect("vtest.avi decodes");
    assert_eq!(frames.iter().map(|f| f.seq).collect::<Vec<_>>(), vec![0, 400]);
    // Pedestrians checked by eye on the decoded frames (normalised boxes).
    let walkers: [(u64, &[BBox]); 2] = [
        (
            0,
            &[
                BBox { x1: 0.652, y1: 0.271, x2: 0.687, y2: 0.402 },
                BBox { x1: 0.834, y1: 0.413, x2: 0.886, y2: 0.558 },
                BBox { x1: 0.331, y1: 0.382, x2: 0.366, y2: 0.538 },
            ],
        ),
        (
            400,
            &[
                BBox { x1: 0.768, y1: 0.233, x2: 0.802, y2: 0.353 },
                BBox { x1: 0.899, y1: 0.520, x2: 0.963, y2: 0.709 },
                BBox { x1: 0.358, y1: 0.345, x2: 0.397, y2: 0.491 },
            ],
        ),
    ];
    for (frame, (seq, truths)) in frames.iter().zip(walkers) {
        assert_eq!((frame.width, frame.height), (768, 576));
        let dets = detector.detect(frame, 0.3).expect("inference runs");
        for truth in truths {
            let d = best_match(&dets, &["person"], *truth).unwrap_or_else(|| panic!("frame {seq}: no person"));
            assert!(d.bbox.iou(truth) > 0.6 && d.score > 0.45, "frame {seq}: person {truth:?} found as {d:?}");
        }
        let van = best_match(&dets, &["truck", "car", "bus"], VAN).unwrap_or_else(|| panic!("frame {seq}: no van"));
        assert!(van.bbox.iou(&VAN) > 0.7, "frame {seq}: van found as {van:?}");
    }
}

#[test]
fn a_model_that_fails_its_checksum_is_refused_by_name() {
    let dir = tempfile::tempdir().unwrap();
    let shipped = shaobing_detect::manifest_path(None);
    let manifest_copy = dir.path().join("manifest.toml");
    std::fs::copy(&shipped, &manifest_copy).unwrap();
    let file = Manifest::load(&shipped).unwrap().get(MODEL).unwrap().file.clone();
    let model = std::fs::read(shipped.parent().unwrap().join(&file)).unwrap();
    std::fs::write(dir.path().join(&file), &model[..model.len() / 2]).unwrap();
    let manifest = Manifest::load(&manifest_copy).unwrap();
    let err = Detector::load(&runtime(), &manifest, MODEL).unwrap_err();
    assert!(matches!(err, DetectError::ChecksumMismatch { .. }), "{err}");
    assert!(err.to_string().contains(file.to_str().unwrap()), "{err}");
}

#[test]
fn a_missing_runtime_library_says_what_to_do() {
    let err = Runtime::load(&RuntimeConfig {
        onnxruntime_path: Some("/nonexistent/libonnxruntime.so".into()),
        ..Default::default()
    })
    .unwrap_err();
    let msg = err.to_string();
    assert!(msg.contains("/nonexistent/libonnxruntime.so") && msg.contains("scripts/setup.sh"), "{msg}");
    assert!(msg.contains("runtime.onnxruntime_path"), "{msg}");
}

fn metric(text: &str, name: &str) -> f64 {
    text.lines().filter(|l| l.starts_with(name)).filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok()).sum()
}

/// The whole slice: RTSP server -> GStreamer -> letterbox -> ORT -> tracker and zone rule ->
/// one candidate issue per parked vehicle with an annotated JPEG in SQLite, and the metrics
/// that count them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn parked_vehicles_over_rtsp_are_filed_once_each_with_evidence() {
    let server = RtspServer::start(0, &[Stream::new("/street", &vtest())]).expect("RTSP server");
    let data = tempfile::tempdir().unwrap();
    let mut config = shaobing::demo::demo_config(&server.url("/street"), data.path()).unwrap();
    config.rules.illegal_parking.dwell_secs = 8.0;
    let cancel = CancellationToken::new();
    let daemon = Daemon::start(config, cancel.clone()).await.expect("daemon starts");
    let metrics = daemon.metrics().clone();
    let started = Instant::now();
    // Keep analysing for a good while after the issue is filed: repeats must fold into it.
    let mut filed_at = None;
    while started.elapsed() < Duration::from_secs(75) {
        tokio::time::sleep(Duration::from_millis(500)).await;
        if filed_at.is_none() && metric(&metrics.render(), "shaobing_issues_emitted_total") >= 1.0 {
            filed_at = Some(Instant::now());
        }
        if filed_at.is_some_and(|t| t.elapsed() > Duration::from_secs(12)) {
            break;
        }
    }
    cancel.cancel();
    daemon.wait().await.expect("clean shutdown");
    assert!(filed_at.is_some(), "no issue within 75 s:\n{}", metrics.render());

    let text = metrics.render();
    assert!(metric(&text, "shaobing_frames_decoded_total") >= 100.0, "{text}");
    assert!(metric(&text, "shaobing_frames_analysed_total") >= 20.0, "{text}");
    // Each analysed frame is either inferred or skipped by the motion gate, which on this
    // street skips about half (how many depends on timing, so only the sum is exact).
    let (inferred, skipped) =
        (metric(&text, "shaobing_inference_seconds_count"), metric(&text, "shaobing_inferences_skipped_total"));
    assert!(inferred >= 5.0 && inferred + skipped >= 20.0, "{text}");
    // The white van and the car behind it at the kerb: two vehicles, two issues.
    assert_eq!(metric(&text, "shaobing_issues_emitted_total"), 2.0, "{text}");

    let store = Store::open(data.path(), "sanlitun-demo").unwrap();
    let rows = store.list(None, 10).unwrap();
    assert_eq!(rows.len(), 2, "one issue per parked vehicle: {rows:#?}");
    assert_ne!(rows[0].dedup_key, rows[1].dedup_key);
    let mut subjects = Vec::new();
    for row in &rows {
        assert_parked_in_the_demo_zone(row);
        subjects.push(red_box_centre(row));
    }
    let apart = (subjects[0].0 - subjects[1].0).abs() + (subjects[0].1 - subjects[1].1).abs();
    assert!(apart > 10.0, "each issue's evidence marks its own vehicle: {subjects:?}");
    // The demo has no central database: nothing waits for one, so no backlog alert fires.
    assert_eq!(store.outbox_stats().unwrap(), shaobing_store::OutboxStats::default());
    assert_eq!(metric(&text, "shaobing_outbox_rows"), 0.0, "{text}");
}

fn assert_parked_in_the_demo_zone(row: &shaobing_store::IssueRow) {
    assert_eq!((row.category.as_str(), row.event_code.as_str()), ("illegal_parking", "0505"));
    assert_eq!((row.source.as_str(), row.zone.as_deref()), ("vtest-street", Some("kerb-north-east")));
    assert_eq!((row.status.as_str(), row.priority.as_str()), ("candidate", "routine"));
    assert_eq!((row.channel.as_str(), row.whistle_kind.as_str()), ("command_centre_video", "clear_rectify_improve"));
    assert_eq!((row.lat, row.lon), (Some(39.9334), Some(116.4551)));
    assert!(row.address.as_deref().is_some_and(|a| a.contains("三里屯")));
    assert!(row.department.contains("交通") && !row.resolution_path.is_empty() && row.tier == "street_to_district");
    assert!(row.cause.contains("in zone kerb-north-east"), "{}", row.cause);
    assert!(row.occurrences >= 5, "later sightings fold into the issue: {}", row.occurrences);
    assert!(row.last_seen_ms > row.first_seen_ms);
}

/// The centre of the red (subject) pixels of an issue's evidence, which must all lie in the
/// kerb zone (top right).
fn red_box_centre(row: &shaobing_store::IssueRow) -> (f64, f64) {
    let jpeg = std::fs::read(row.evidence_path.as_ref().expect("evidence recorded")).unwrap();
    let img = imgcodecs::imdecode(&Vector::from_slice(&jpeg), imgcodecs::IMREAD_COLOR).unwrap();
    assert_eq!((img.cols(), img.rows()), (768, 576), "evidence is the full analysed frame");
    let (mut n, mut sx, mut sy, mut outside) = (0.0, 0.0, 0.0, 0);
    for y in 0..img.rows() {
        for x in 0..img.cols() {
            let p = img.at_2d::<opencv::core::Vec3b>(y, x).unwrap();
            if i32::from(p[2]) - i32::from(p[1]) > 150 && p[0] < 100 {
                if x >= 560 && y < 160 {
                    (n, sx, sy) = (n + 1.0, sx + f64::from(x), sy + f64::from(y));
                } else if y >= 160 {
                    outside += 1;
                }
            }
        }
    }
    assert!(n > 100.0, "no red box in the kerb zone");
    assert!(outside < 20, "red outside the zone: {outside} px");
    (sx / n, sy / n)
}
