//! The analysis of one camera (motion gate, the shipped detector, the OpenCV fire detector,
//! the rules, evidence) on sequences composed from real photos, with frame timestamps so that
//! minutes of street time run in seconds.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a failed step is a failed test

use shaobing_analysis::Analyser;
use shaobing_config::Config;
use shaobing_core::{BBox, Category, Finding, Frame};
use shaobing_detect::{Detector, InferencePool, Manifest, Runtime, RuntimeConfig};
use shaobing_metrics::Metrics;
use shaobing_testkit::synth::{Rng, expose, flicker, frame_at};
use shaobing_vision::compose::{Cutout, unlit};
use shaobing_vision::{FireDetector, FireDetectorConfig};
use std::path::{Path, PathBuf};

fn media(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("media").join(rel)
}

fn read(rel: &str) -> Frame {
    shaobing_vision::read_image(&media(rel), "leuven").unwrap_or_else(|e| panic!("{rel}: {e}"))
}

fn rgb_bytes(f: &Frame) -> (u32, u32, Vec<u8>) {
    (f.width, f.height, f.rgb.to_vec())
}

/// A vendor's stall on the Leuven street (640x480): two chairs cut out of a studio photo,
/// standing on the pavement 160 px tall, the vendor beside them.
fn stall_scene(vendor_present: bool) -> Frame {
    let mut scene = read("stall/street_leuven.jpg");
    let chair = Cutout::load(&media("stall/chair.jpg"), true).unwrap();
    let (w, h) = (scene.width as f32, scene.height as f32);
    let mut set_down = |object: &Cutout, centre_x: f32, height: f32| {
        let rgb = object.set_down(&scene, [centre_x / w, 470.0 / h], height / h).unwrap();
        scene = Frame { rgb: rgb.into(), ..scene.clone() };
    };
    for centre_x in [206.5, 324.5] {
        set_down(&chair, centre_x, 160.0);
    }
    if vendor_present {
        set_down(&Cutout::load(&media("stall/person_standing.jpg"), false).unwrap(), 435.5, 272.0);
    }
    scene
}

async fn analyser(config_toml: &str, models: &[&str]) -> Analyser {
    let config = Config::parse(config_toml, Path::new("hazards.toml")).expect("test config");
    let runtime = Runtime::load(&RuntimeConfig { intra_threads: 2, ..Default::default() }).unwrap();
    let manifest = Manifest::load(&shaobing_detect::manifest_path(None)).unwrap();
    let pools = models
        .iter()
        .map(|m| InferencePool::start(vec![Detector::load(&runtime, &manifest, m).unwrap()]).unwrap())
        .collect();
    Analyser::new(&config.analysis_setup(), &config.cameras[0], pools, &Metrics::new()).unwrap()
}

/// What the analysis asked of the problem database, with the frame time of each request.
#[derive(Debug)]
enum Seen {
    Opened { at: i64, category: Category, evidence: usize, summary: String },
    Ongoing,
    Cleared { at: i64, key: String, after: usize },
}

async fn run(analyser: &mut Analyser, frames: impl Iterator<Item = Frame>) -> Vec<Seen> {
    let mut seen = Vec::new();
    for frame in frames {
        let at = frame.captured_at.0 / 1000;
        for work in analyser.process(&frame).await.unwrap() {
            seen.push(match work {
                Finding::Opened { issue, evidence } => Seen::Opened {
                    at,
                    category: issue.category,
                    evidence: evidence.map_or(0, |jpeg| jpeg.len()),
                    summary: issue.cause.summary.clone(),
                },
                // Clips come from the daemon's camera task, never from process().
                Finding::Ongoing { .. } | Finding::Clip { .. } => Seen::Ongoing,
                Finding::Cleared { dedup_key, after, .. } => {
                    Seen::Cleared { at, key: dedup_key, after: after.map_or(0, |(j, _)| j.len()) }
                }
            });
        }
    }
    seen
}

const STALL_CONFIG: &str = r#"
[[cameras]]
id = "leuven"
uri = "rtsp://127.0.0.1:1/unused"

[[cameras.zones]]
id = "pavement"
kind = "no_vending"
polygon = [[0.0, 0.6], [1.0, 0.6], [1.0, 1.0], [0.0, 1.0]]

[rules.street_vending]
clear_secs = 120
"#;

/// Minutes of street time, one analysed frame every two seconds: the empty street, a vendor
/// setting up two chairs and staying, stepping away for a minute, then packing up.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stall_set_up_on_the_pavement_is_one_issue_then_resolved_by_the_camera() {
    let empty = rgb_bytes(&read("stall/street_leuven.jpg"));
    let attended = rgb_bytes(&stall_scene(true));
    let unattended = rgb_bytes(&stall_scene(false));
    let mut rng = Rng(5);
    let frames = (0..600u64).map(|i| {
        let t = i * 2;
        let (w, h, base) = match t {
            0..60 => &empty,
            60..400 => &attended,
            400..460 => &unattended,
            460..700 => &attended,
            _ => &empty,
        };
        // Mild sensor noise: the motion gate must not call it motion, the detector must cope.
        frame_at("leuven", *w, *h, expose(base, 1.0, 2.0, &mut rng), i, 2000)
    });
    let mut a = analyser(STALL_CONFIG, &["centernet-mobilenetv3-coco"]).await;
    let seen = run(&mut a, frames).await;
    let opened: Vec<&Seen> = seen.iter().filter(|s| matches!(s, Seen::Opened { .. })).collect();
    assert_eq!(opened.len(), 1, "one stall, one issue: {seen:#?}");
    let Seen::Opened { at, category, evidence, summary } = opened[0] else { unreachable!() };
    assert_eq!(*category, Category::StreetVending);
    assert!((360..=380).contains(at), "raised after the 5-minute dwell from t=60 s: at {at} s");
    assert!(*evidence > 10_000, "an annotated JPEG");
    assert!(summary.contains("chair") && summary.contains("attended by a person"), "{summary}");
    let ongoing = seen.iter().filter(|s| matches!(s, Seen::Ongoing)).count();
    assert!(ongoing > 20, "sightings while it stands fold into the issue: {ongoing}");
    let cleared: Vec<&Seen> = seen.iter().filter(|s| matches!(s, Seen::Cleared { .. })).collect();
    assert_eq!(cleared.len(), 1, "{seen:#?}");
    let Seen::Cleared { at, key, after } = cleared[0] else { unreachable!() };
    assert!((820..=850).contains(at), "cleared 120 s after the stall was last seen at ~700 s: at {at} s");
    assert!(key.starts_with("leuven/pavement/street_vending/"), "{key}");
    assert!(*after > 10_000, "the after snapshot shows the empty pavement");
}

const FIRE_CONFIG: &str = r#"
[[cameras]]
id = "fire-test"
uri = "rtsp://127.0.0.1:1/unused"
"#;

fn photos(dir: &str) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(media(&format!("fire/{dir}")))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "jpg"))
        .collect();
    files.sort();
    files
}

fn photo_frame(path: &Path) -> Frame {
    let rel = path.strip_prefix(media("")).unwrap().to_str().unwrap().to_string();
    let (w, h, rgb) = rgb_bytes(&read(&rel));
    frame_at("fire-test", w, h, rgb, 0, 1000)
}

fn categories(seen: &[Seen]) -> Vec<Category> {
    seen.iter()
        .filter_map(|s| match s {
            Seen::Opened { category, .. } => Some(*category),
            _ => None,
        })
        .collect()
}

/// Floodlights, sunsets, red clothes, red cars and ordinary street scenes, watched for a
/// minute with sensor noise and auto-exposure drift, never raise a fire.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fire_look_alikes_never_raise_a_fire_issue() {
    let mut raised = Vec::new();
    for path in photos("negative") {
        let still = photo_frame(&path);
        let mut rng = Rng(3);
        let frames = (0..30u64).map(|i| {
            let gain = 1.0 + 0.06 * (i as f32 * 0.7).sin() + if i == 12 { 0.08 } else { 0.0 };
            frame_at("fire-test", still.width, still.height, expose(&still.rgb, gain, 5.0, &mut rng), i, 1000)
        });
        let mut a = analyser(FIRE_CONFIG, &["centernet-mobilenetv3-coco"]).await;
        if categories(&run(&mut a, frames).await).contains(&Category::FireSmoke) {
            raised.push(path.file_name().unwrap().to_string_lossy().into_owned());
        }
    }
    assert!(raised.is_empty(), "fire raised on look-alikes: {raised:?}");
}

/// A flame photo whose flame moves as flames do is an emergency issue within seconds.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flickering_flame_is_an_emergency_at_once() {
    for path in photos("positive").into_iter().filter(|p| !p.to_string_lossy().contains("smoke_")) {
        let still = photo_frame(&path);
        let flame: BBox = FireDetector::new(FireDetectorConfig::default()).candidates(&still).unwrap()[0].bbox;
        let mut rng = Rng(7);
        let frames = (0..20u64).map(|i| {
            let f = frame_at("fire-test", still.width, still.height, flicker(&still, flame, &mut rng), i, 1000);
            frame_at("fire-test", f.width, f.height, expose(&f.rgb, 1.0, 4.0, &mut rng), i, 1000)
        });
        let mut a = analyser(FIRE_CONFIG, &["centernet-mobilenetv3-coco"]).await;
        let seen = run(&mut a, frames).await;
        let fire = seen.iter().find_map(|s| match s {
            Seen::Opened { at, category: Category::FireSmoke, .. } => Some(*at),
            _ => None,
        });
        let name = path.file_name().unwrap().to_string_lossy();
        let at = fire.unwrap_or_else(|| panic!("{name}: no fire issue: {seen:#?}"));
        assert!(at <= 12, "{name}: raised at {at} s");
    }
}

/// Seconds from a flame lighting up in a watched scene to its emergency issue, with frames
/// analysed `fps` a second.
async fn flame_latency(path: &Path, fps: f64) -> Option<f64> {
    let still = photo_frame(path);
    let flame: BBox = FireDetector::new(FireDetectorConfig::default()).candidates(&still).unwrap()[0].bbox;
    let (before, step) = (unlit(&still, flame), (1000.0 / fps) as i64);
    let lit_at = 10_000;
    let mut rng = Rng(7);
    let frames = (0..(30.0 * fps) as u64).map(|i| {
        let t = i as i64 * step;
        let rgb = if t < lit_at { before.clone() } else { flicker(&still, flame, &mut rng) };
        let f = frame_at("fire-test", still.width, still.height, expose(&rgb, 1.0, 4.0, &mut rng), i, step);
        Frame { captured_at: shaobing_core::UnixMillis(t), ..f }
    });
    let mut a = analyser(FIRE_CONFIG, &["centernet-mobilenetv3-coco"]).await;
    let mut opened = None;
    for frame in frames {
        let t = frame.captured_at.0;
        let found = a.process(&frame).await.unwrap();
        if opened.is_none()
            && found.iter().any(|f| matches!(f, Finding::Opened { issue, .. } if issue.category == Category::FireSmoke))
        {
            opened = Some((t - lit_at) as f64 / 1000.0);
        }
    }
    opened
}

/// With the camera's default analysis rate, fire is an issue within 5 s of lighting up.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fire_is_raised_within_five_seconds_at_the_default_rate() {
    let config = Config::parse(FIRE_CONFIG, Path::new("hazards.toml")).unwrap();
    let fps = config.cameras[0].source.analysis_fps;
    let mut slow = Vec::new();
    for path in photos("positive").into_iter().filter(|p| !p.to_string_lossy().contains("smoke_")) {
        let latency = flame_latency(&path, fps).await;
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        eprintln!("{name}: fire raised {latency:?} s after it lit up, at {fps} frames/s");
        if latency.is_none_or(|s| !(0.0..=5.0).contains(&s)) {
            slow.push((name, latency));
        }
    }
    assert!(slow.is_empty(), "not raised within 5 s at {fps} frames/s: {slow:?}");
}
