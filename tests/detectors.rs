//! The shipped models on real images against the reference outputs of their sources
//! (tests/media/reference, made by make_reference.py with each model's own pre- and
//! post-processing), plus the execution-provider fallback and batching.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a failed step is a failed test

use opencv::imgcodecs;
use opencv::imgproc;
use opencv::prelude::*;
use shaobing_core::{BBox, CameraId, Detection, Frame, UnixMillis};
use shaobing_detect::{Detector, ExecutionProviderKind, Manifest, OutputFormat, Provider, Runtime, RuntimeConfig};
use shaobing_testkit::CapturedLogs;
use std::path::{Path, PathBuf};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn image(rel: &str) -> Frame {
    let path = root().join(rel);
    let bgr = imgcodecs::imread(path.to_str().unwrap(), imgcodecs::IMREAD_COLOR).unwrap();
    assert!(!bgr.empty(), "{} is missing", path.display());
    let mut rgb = opencv::core::Mat::default();
    imgproc::cvt_color_def(&bgr, &mut rgb, imgproc::COLOR_BGR2RGB).unwrap();
    Frame {
        camera: CameraId("photo".into()),
        seq: 0,
        captured_at: UnixMillis(0),
        width: rgb.cols() as u32,
        height: rgb.rows() as u32,
        rgb: rgb.data_bytes().unwrap().to_vec().into(),
    }
}

fn runtime(provider: ExecutionProviderKind) -> Runtime {
    Runtime::load(&RuntimeConfig { intra_threads: 2, execution_provider: provider, ..Default::default() })
        .expect("ONNX Runtime")
}

fn detector(name: &str) -> Detector {
    let manifest = Manifest::load(&shaobing_detect::manifest_path(None)).unwrap();
    Detector::load(&runtime(ExecutionProviderKind::Cpu), &manifest, name).expect("shipped model loads")
}

#[derive(Debug, Clone)]
struct Expected {
    class: String,
    score: f32,
    bbox: BBox,
}

/// The reference detections of `model` per image file, from its JSON (`variant` picks one of
/// several preprocessing runs when the file has them).
fn reference(model: &str, variant: Option<&str>) -> Vec<(String, Vec<Expected>)> {
    let path = root().join(format!("tests/media/reference/{model}.json"));
    let json: serde_json::Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    let images = json["images"].as_array().unwrap();
    images
        .iter()
        .map(|im| {
            let dets = match variant {
                Some(v) => &im[v]["detections"],
                None => &im["detections"],
            };
            let expected = dets
                .as_array()
                .unwrap()
                .iter()
                .map(|d| {
                    let b: Vec<f32> = d["box"].as_array().unwrap().iter().map(|v| v.as_f64().unwrap() as f32).collect();
                    Expected {
                        class: d["class"].as_str().unwrap().to_string(),
                        score: d["score"].as_f64().unwrap() as f32,
                        bbox: BBox { x1: b[0], y1: b[1], x2: b[2], y2: b[3] },
                    }
                })
                .collect();
            (im["file"].as_str().unwrap().to_string(), expected)
        })
        .collect()
}

/// Same boxes (IoU >= 0.9), same classes, scores within 0.01. Boxes within 0.01 of the score
/// floor may fall either side of it in two float implementations and are not counted.
fn assert_matches(model: &str, file: &str, ours: &[Detection], expected: &[Expected]) {
    const FLOOR: f32 = 0.3;
    for e in expected.iter().filter(|e| e.score >= FLOOR + 0.01) {
        let found = ours
            .iter()
            .filter(|d| d.label == e.class)
            .max_by(|a, b| a.bbox.iou(&e.bbox).total_cmp(&b.bbox.iou(&e.bbox)))
            .unwrap_or_else(|| panic!("{model} on {file}: no {} (expected {e:?}); got {ours:#?}", e.class));
        assert!(found.bbox.iou(&e.bbox) >= 0.9, "{model} on {file}: {e:?} found as {found:?}");
        assert!((found.score - e.score).abs() <= 0.01, "{model} on {file}: {e:?} scored {found:?}");
    }
    let extra: Vec<&Detection> = ours
        .iter()
        .filter(|d| d.score >= FLOOR + 0.01)
        .filter(|d| !expected.iter().any(|e| e.class == d.label && e.bbox.iou(&d.bbox) >= 0.9))
        .collect();
    assert!(extra.is_empty(), "{model} on {file}: detections the reference does not have: {extra:#?}");
}

fn check_model(model: &str, variant: Option<&str>) {
    let mut detector = detector(model);
    for (file, expected) in reference(model, variant) {
        let ours = detector.detect(&image(&file), 0.3).unwrap();
        assert_matches(model, &file, &ours, &expected);
    }
}

#[test]
fn centernet_matches_its_source_on_debian_darknet_images() {
    check_model("centernet-mobilenetv3-coco", Some("stretch"));
    // And what a person sees in those photos.
    let mut d = detector("centernet-mobilenetv3-coco");
    let mut labels =
        |f: &str| -> Vec<String> { d.detect(&image(f), 0.35).unwrap().into_iter().map(|d| d.label).collect() };
    let dog = labels("tests/media/darknet/dog.jpg");
    assert!(["dog", "bicycle", "car"].iter().all(|l| dog.iter().any(|d| d == l)), "{dog:?}");
    assert!(labels("tests/media/darknet/horses.jpg").iter().any(|l| l == "horse"));
    assert!(labels("tests/media/darknet/person.jpg").iter().any(|l| l == "person"));
}

/// The default CenterNet is the converted graph cut at its heads, decoded in shaobing-detect
/// over the cells above the threshold only. On the darknet images and every 40th frame of
/// vtest.avi, at the daemon's threshold and at one low enough for the top 100 to bind, it finds
/// what the whole graph, decoded by its own tail (the file the peer runs), finds.
#[test]
fn centernet_decoded_from_its_heads_finds_what_the_graph_s_own_tail_finds() {
    const CENTERNET: &str = "centernet-mobilenetv3-coco";
    let mut manifest = Manifest::load(&shaobing_detect::manifest_path(None)).unwrap();
    let mut whole = manifest.get(CENTERNET).unwrap().clone();
    whole.name = "centernet with its tail".into();
    whole.file = "centernet-mobilenetv3-coco.onnx".into();
    whole.sha256 = shaobing_store::sha256_file(&manifest.dir.join(&whole.file)).unwrap();
    (whole.output.format, whole.output.name) = (OutputFormat::Centernet, Some("detections".into()));
    manifest.models.push(whole);
    let rt = runtime(ExecutionProviderKind::Cpu);
    let mut heads = Detector::load(&rt, &manifest, CENTERNET).unwrap();
    let mut tail = Detector::load(&rt, &manifest, "centernet with its tail").unwrap();
    let mut frames: Vec<(String, Frame)> = ["dog", "horses", "kite", "person"]
        .iter()
        .map(|n| (n.to_string(), image(&format!("tests/media/darknet/{n}.jpg"))))
        .collect();
    let vtest = Path::new(shaobing_rtsp_server::VTEST);
    let clip = shaobing_camera::decode_file_frames(vtest, |i| i % 40 == 0, 800).unwrap();
    frames.extend(clip.into_iter().map(|f| (format!("vtest#{}", f.seq), f)));
    let mut compared = 0;
    for min_score in [0.3, 0.05] {
        for (name, frame) in &frames {
            let (ours, theirs) = (heads.detect(frame, min_score).unwrap(), tail.detect(frame, min_score).unwrap());
            // A score within rounding of the floor may fall either side of it.
            let same = |a: &Detection, b: &Detection| {
                a.label == b.label && (a.score - b.score).abs() <= 1e-4 && a.bbox.iou(&b.bbox) >= 0.999
            };
            let clear = |d: &&Detection| d.score >= min_score + 1e-4;
            for (x, y, what) in [(&ours, &theirs, "the tail's"), (&theirs, &ours, "the heads'")] {
                let missing: Vec<_> = x.iter().filter(clear).filter(|a| !y.iter().any(|b| same(a, b))).collect();
                assert!(missing.is_empty(), "{name} at {min_score}: not among {what} detections: {missing:#?}");
            }
            compared += ours.len();
        }
    }
    assert!(frames.len() >= 20 && compared >= 200, "{} frames, {compared} detections compared", frames.len());
}

#[test]
fn ssd_with_nms_in_the_graph_matches_its_source() {
    check_model("ssdlite-mobilenetv2-person", None);
}

#[test]
fn yolov8_export_matches_ultralytics() {
    check_model("fire-yolov8-light", None);
}

#[test]
fn yolo_class_names_come_from_the_onnx_metadata_when_the_manifest_has_none() {
    let shipped = shaobing_detect::manifest_path(None);
    let dir = tempfile::tempdir().unwrap();
    let text = std::fs::read_to_string(&shipped).unwrap().replace("class_names = [\"smoke\", \"fire\"]", "");
    std::fs::write(dir.path().join("manifest.toml"), text).unwrap();
    let onnx = "fire-yolov8-light-dyn.onnx";
    std::os::unix::fs::symlink(shipped.parent().unwrap().join(onnx), dir.path().join(onnx)).unwrap();
    let manifest = Manifest::load(&dir.path().join("manifest.toml")).unwrap();
    let d = Detector::load(&runtime(ExecutionProviderKind::Cpu), &manifest, "fire-yolov8-light").unwrap();
    assert_eq!(d.class_names(), ["smoke", "fire"]);
}

#[test]
fn frames_of_several_cameras_in_one_batch_give_what_single_runs_give() {
    let mut d = detector("fire-yolov8-light");
    assert_eq!(d.max_batch(), shaobing_detect::MAX_BATCH);
    let frames =
        ["tests/media/opencv/licenseplate_motion.jpg", "tests/media/darknet/dog.jpg", "tests/media/darknet/kite.jpg"]
            .map(image);
    let single: Vec<Vec<Detection>> = frames.iter().map(|f| d.detect(f, 0.2).unwrap()).collect();
    let batched = d.detect_batch(&frames.iter().collect::<Vec<_>>(), 0.2).unwrap();
    assert_eq!(batched.len(), 3);
    assert!(!single[0].is_empty(), "the tail lights score as fire: the known weakness, and a non-empty check");
    for (s, b) in single.iter().zip(&batched) {
        assert_eq!(s.len(), b.len());
        for (x, y) in s.iter().zip(b) {
            assert_eq!(x.label, y.label);
            assert!((x.score - y.score).abs() < 1e-4 && x.bbox.iou(&y.bbox) > 0.999, "{x:?} vs {y:?}");
        }
    }
}

#[test]
fn cuda_without_a_gpu_falls_back_to_the_cpu_with_one_warning() {
    let logs = CapturedLogs::install();
    let rt = runtime(ExecutionProviderKind::Cuda);
    assert_eq!(rt.provider, Provider::Cpu, "the PyPI CPU wheel has no CUDA provider");
    let manifest = Manifest::load(&shaobing_detect::manifest_path(None)).unwrap();
    let mut d = Detector::load(&rt, &manifest, "ssdlite-mobilenetv2-person").unwrap();
    let people = d.detect(&image("tests/media/darknet/person.jpg"), 0.5).unwrap();
    assert_eq!(people.len(), 1, "{people:?}");
    let text = logs.text();
    let warnings: Vec<&str> = text.lines().filter(|l| l.contains("cannot use CUDA")).collect();
    assert_eq!(warnings.len(), 1, "{text}");
    assert!(warnings[0].contains("WARN") && warnings[0].contains("runtime.execution_provider"), "{}", warnings[0]);
}

/// `shaobing detect` prints, for a real image, what the model's own reference code finds.
#[test]
fn detect_command_matches_the_reference_and_writes_an_annotated_image() {
    let dir = tempfile::tempdir().unwrap();
    for (model, variant) in [("centernet-mobilenetv3-coco", Some("stretch")), ("ssdlite-mobilenetv2-person", None)] {
        for (file, expected) in reference(model, variant) {
            let out = dir.path().join(format!("{model}.jpg"));
            let run = std::process::Command::new(env!("CARGO_BIN_EXE_shaobing-under-test"))
                .args(["detect", "--model", model, "--json", "--out"])
                .arg(&out)
                .arg(root().join(&file))
                .output()
                .unwrap();
            assert!(run.status.success(), "{}", String::from_utf8_lossy(&run.stderr));
            let report: serde_json::Value = serde_json::from_slice(&run.stdout).unwrap();
            let ours: Vec<Detection> = report["detections"]
                .as_array()
                .unwrap()
                .iter()
                .map(|d| {
                    let b: Vec<f32> =
                        d["bbox"].as_array().unwrap().iter().map(|v| v.as_f64().unwrap() as f32).collect();
                    Detection {
                        class_id: d["class_id"].as_u64().unwrap() as u32,
                        label: d["class"].as_str().unwrap().to_string(),
                        score: d["score"].as_f64().unwrap() as f32,
                        bbox: BBox { x1: b[0], y1: b[1], x2: b[2], y2: b[3] },
                    }
                })
                .collect();
            assert_matches(model, &file, &ours, &expected);
            let jpeg = std::fs::read(&out).unwrap();
            assert!(jpeg.starts_with(&[0xFF, 0xD8]) && jpeg.len() > 10_000, "annotated JPEG for {file}");
        }
    }
}

#[test]
fn detect_command_names_a_missing_model_and_a_bad_input() {
    let run = |args: &[&str]| {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_shaobing-under-test")).args(args).output().unwrap();
        (out.status.success(), String::from_utf8_lossy(&out.stderr).into_owned())
    };
    let person = root().join("tests/media/darknet/person.jpg");
    let (ok, err) = run(&["detect", "--model", "yolo-nope", person.to_str().unwrap()]);
    assert!(!ok && err.contains("`yolo-nope` is not in the manifest") && err.contains("centernet"), "{err}");
    let (ok, err) = run(&["detect", "--model", "centernet-mobilenetv3-coco", "/nonexistent.jpg"]);
    assert!(!ok && err.contains("/nonexistent.jpg"), "{err}");
    let (ok, err) =
        run(&["detect", "--model", "centernet-mobilenetv3-coco", "--zones", "cam", person.to_str().unwrap()]);
    assert!(!ok && err.contains("--zones needs --config"), "{err}");
}

/// `shaobing detect` on a clip goes to its end unless `--frames` stops it, and says which.
#[test]
fn detect_on_a_clip_says_where_it_stopped() {
    let dir = tempfile::tempdir().unwrap();
    let clip = shaobing_rtsp_server::street_clip();
    let run = |extra: &[&str]| {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_shaobing-under-test"))
            .args(["detect", "--model", "ssdlite-mobilenetv2-person", "--json", "--every", "200", "--out"])
            .arg(dir.path().join("frames"))
            .args(extra)
            .arg(&clip)
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let frames: Vec<u64> = String::from_utf8_lossy(&out.stdout)
            .lines()
            .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap()["frame"].as_u64().unwrap())
            .collect();
        (frames, String::from_utf8_lossy(&out.stderr).into_owned())
    };
    let (frames, stderr) = run(&["--frames", "450"]);
    assert_eq!(frames, [0, 200, 400], "{stderr}");
    assert!(stderr.contains("3 frames analysed (every 200) of 450 decoded; stopped after 450 frames"), "{stderr}");
    let (frames, stderr) = run(&[]);
    assert_eq!(frames, [0, 200, 400, 600], "vtest.avi has 795 frames: {stderr}");
    assert!(stderr.contains("4 frames analysed (every 200) of 795 decoded, to the end of the clip"), "{stderr}");
}
