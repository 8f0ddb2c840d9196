//! The fire detector on real photos (tests/media/fire, provenance in its README).
//!
//! Photos are still, so flame motion is synthesised: the pixels of the flame region are warped
//! and their brightness jittered from frame to frame, the rest of the picture stays still.
//! Negatives get sensor noise and slow global brightness changes (auto-exposure), which is
//! what a fixed camera does to a scene with no fire.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test helpers: a failed step fails the test

use opencv::imgcodecs;
use opencv::imgproc;
use opencv::prelude::*;
use shaobing_core::{BBox, Frame};
use shaobing_testkit::synth::{Rng, expose, flicker, frame_at};
use shaobing_vision::compose::{panned, resized};
use shaobing_vision::{FireDetector, FireDetectorConfig, FireKind, SceneWatch};
use std::path::{Path, PathBuf};
use std::time::Instant;

fn media(dir: &str) -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/media/fire").join(dir);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&root)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "jpg"))
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no photos in {root:?}");
    files
}

fn name(p: &Path) -> String {
    p.file_stem().unwrap().to_string_lossy().into_owned()
}

fn load(p: &Path) -> Frame {
    let bgr = imgcodecs::imread(p.to_str().unwrap(), imgcodecs::IMREAD_COLOR).unwrap();
    let mut rgb = opencv::core::Mat::default();
    imgproc::cvt_color_def(&bgr, &mut rgb, imgproc::COLOR_BGR2RGB).unwrap();
    frame(rgb.cols() as u32, rgb.rows() as u32, rgb.data_bytes().unwrap().to_vec(), 0)
}

fn frame(width: u32, height: u32, rgb: Vec<u8>, seq: u64) -> Frame {
    frame_at("t", width, height, rgb, seq, 100)
}

/// Flame photos (smoke-only photos are named smoke_*).
fn flame_photos() -> Vec<PathBuf> {
    media("positive").into_iter().filter(|p| !name(p).starts_with("smoke_")).collect()
}

fn confirmed(det: &mut FireDetector, frames: impl Iterator<Item = Frame>) -> usize {
    confirmed_kind(det, frames, FireKind::Flame)
}

/// Frames in which `observe` reported at least one region of `kind`.
fn confirmed_kind(det: &mut FireDetector, frames: impl Iterator<Item = Frame>, kind: FireKind) -> usize {
    frames.map(|f| det.observe(&f).unwrap().iter().filter(|r| r.kind == kind).count()).filter(|&n| n > 0).count()
}

/// Negatives the single-image test cannot reject: a lit tail light is an emitter with a clipped
/// white centre and a red-orange fringe, which is what a flame looks like in one frame (its
/// colour, hue spread and clipping fall inside the candle's and the flames' ranges; only the
/// shape differs, and a candle flame is as compact as a lamp). Listed so the gap stays visible;
/// `observe` rejects them because a lamp does not flicker.
const KNOWN_SINGLE_IMAGE_FALSE_FLAMES: &[&str] = &["tail_lights"];

#[test]
fn candidates_on_photos() {
    let mut det = FireDetector::new(FireDetectorConfig::default());
    let mut failures = Vec::new();
    for p in flame_photos() {
        let found = det.candidates(&load(&p)).unwrap();
        eprintln!("positive {:28} -> {} region(s) {:?}", name(&p), found.len(), found);
        if found.is_empty() {
            failures.push(format!("missed flame in {}", name(&p)));
        }
    }
    for p in media("negative") {
        let found = det.candidates(&load(&p)).unwrap();
        eprintln!("negative {:28} -> {} region(s) {:?}", name(&p), found.len(), found);
        if !found.is_empty() && !KNOWN_SINGLE_IMAGE_FALSE_FLAMES.contains(&name(&p).as_str()) {
            failures.push(format!("false flame in {}", name(&p)));
        }
    }
    assert!(failures.is_empty(), "{failures:#?}");
}

#[test]
fn flickering_flame_is_confirmed_and_still_scenes_are_not() {
    for p in flame_photos() {
        let still = load(&p);
        let mut probe = FireDetector::new(FireDetectorConfig::default());
        let bbox = probe.candidates(&still).unwrap()[0].bbox;
        let mut rng = Rng(29);
        let mut det = FireDetector::new(FireDetectorConfig::default());
        let moving = (0..20).map(|i| {
            let warped = frame(still.width, still.height, flicker(&still, bbox, &mut rng), i);
            frame(still.width, still.height, expose(&warped.rgb, 1.0, 4.0, &mut rng), i)
        });
        let hits = confirmed(&mut det, moving);
        let mut det = FireDetector::new(FireDetectorConfig::default());
        let mut rng = Rng(29);
        let static_frames =
            (0..20).map(|i| frame(still.width, still.height, expose(&still.rgb, 1.0, 4.0, &mut rng), i));
        let static_hits = confirmed(&mut det, static_frames);
        eprintln!("{:28} flickering: confirmed in {hits}/20 frames, static: {static_hits}/20", name(&p));
        assert!(hits >= 10, "{}: flickering flame confirmed in only {hits}/20 frames", name(&p));
        assert_eq!(static_hits, 0, "{}: a still photo was confirmed as fire", name(&p));
    }
}

#[test]
fn negatives_with_noise_and_auto_exposure_are_never_confirmed() {
    let mut failures = Vec::new();
    for p in media("negative") {
        let still = load(&p);
        let mut det = FireDetector::new(FireDetectorConfig::default());
        let mut rng = Rng(29);
        let frames = (0..20).map(|i| {
            // A slow exposure drift with a jump, as auto-exposure does when a car passes.
            let gain = 1.0 + 0.06 * (i as f32 * 0.7).sin() + if i == 12 { 0.08 } else { 0.0 };
            frame(still.width, still.height, expose(&still.rgb, gain, 5.0, &mut rng), i)
        });
        let (mut flame, mut smoke) = (0, 0);
        for f in frames {
            let found = det.observe(&f).unwrap();
            flame += usize::from(found.iter().any(|r| r.kind == FireKind::Flame));
            smoke += usize::from(found.iter().any(|r| r.kind == FireKind::Smoke));
        }
        eprintln!("negative {:28} flame in {flame}/20 frames, smoke in {smoke}/20", name(&p));
        if flame + smoke > 0 {
            failures.push(name(&p));
        }
    }
    assert!(failures.is_empty(), "confirmed as fire or smoke: {failures:?}");
}

/// Known smoke miss: the Tux Paint plume is a dense cut-out with its own puff texture, so over
/// the street it does not soften the background's edges (frame/background edge energy about
/// 0.93 against the 0.8 limit), and it covers 1 % of the frame only in the last frames. Real
/// thin smoke is the case the edge rule is for; a translucent fixture (or real footage) is
/// needed before the rule can be judged, so the positive half of the test is not enforced.
/// The smoke plume of positive/smoke_on_street.jpg, normalised (a cut-out pasted over the
/// street; see the fixture README). Only grey pixels that differ from the clean street frame
/// inside this box are taken as smoke.
const PLUME: BBox = BBox { x1: 0.12, y1: 0.14, x2: 0.36, y2: 0.72 };

fn grey(px: &[u8]) -> bool {
    px.iter().max().unwrap() - px.iter().min().unwrap() <= 40
}

/// Smoke rising from a fixed source: the plume grows from 40 % to full size about its base,
/// drifts a little sideways, and its density wavers, over a street that was clear before.
fn smoke_frame(street: &Frame, smoke: &Frame, t: u32, rng: &mut Rng) -> Frame {
    let (w, h) = (street.width as i32, street.height as i32);
    let mut out = street.rgb.to_vec();
    if t >= 10 {
        let p = ((t - 10) as f32 / 30.0).min(1.0);
        let scale = 0.4 + 0.6 * p;
        let alpha = rng.range(0.7, 0.95);
        let (x0, x1) = ((PLUME.x1 * w as f32) as i32, (PLUME.x2 * w as f32) as i32);
        let (y0, y1) = ((PLUME.y1 * h as f32) as i32, (PLUME.y2 * h as f32) as i32);
        let (base_x, base_y) = ((x0 + x1) as f32 / 2.0, y1 as f32);
        let drift = 8.0 * p;
        for y in y0..y1 {
            for x in (x0 - 10).max(0)..(x1 + 10).min(w) {
                let sx = (base_x + (x as f32 - base_x - drift) / scale).round() as i32;
                let sy = (base_y + (y as f32 - base_y) / scale).round() as i32;
                if sx < x0 || sx >= x1 || sy < y0 || sy >= y1 {
                    continue;
                }
                let (d, s) = (((y * w + x) * 3) as usize, ((sy * w + sx) * 3) as usize);
                let (src, bg) = (&smoke.rgb[s..s + 3], &street.rgb[s..s + 3]);
                let differs = src.iter().zip(bg).any(|(a, b)| a.abs_diff(*b) > 40);
                if differs && grey(src) {
                    for c in 0..3 {
                        let v = alpha * src[c] as f32 + (1.0 - alpha) * street.rgb[d + c] as f32;
                        out[d + c] = v.round() as u8;
                    }
                }
            }
        }
    }
    frame(street.width, street.height, expose(&out, 1.0, 4.0, rng), t as u64)
}

#[test]
/// Smoke is never reported before it appears, never as flame, never away from the plume, and a
/// passer-by is not smoke. Whether this dense cut-out plume is confirmed is only printed: it is
/// not (see the fixture README), and an assertion that tolerates that would assert nothing.
fn smoke_is_never_early_misplaced_or_flame_and_a_passer_by_is_not_smoke() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/media/fire");
    let smoke = load(&dir.join("positive/smoke_on_street.jpg"));
    // Same camera, same view, no smoke: the street before the fire.
    let street = load(&dir.join("negative/street_vtest_300.jpg"));
    let mut det = FireDetector::new(FireDetectorConfig::default());
    let mut rng = Rng(13);
    let (mut smoke_frames, mut flame_frames, mut before) = (0, 0, 0);
    for t in 0..40 {
        let found = det.observe(&smoke_frame(&street, &smoke, t, &mut rng)).unwrap();
        for r in found.iter().filter(|r| r.kind == FireKind::Smoke) {
            assert!(r.bbox.intersection(&PLUME) > 0.0, "smoke away from the plume: {r:?}");
        }
        let has_smoke = found.iter().any(|r| r.kind == FireKind::Smoke);
        before += usize::from(t < 10 && has_smoke);
        smoke_frames += usize::from(has_smoke);
        flame_frames += usize::from(found.iter().any(|r| r.kind == FireKind::Flame));
    }
    eprintln!("smoke_on_street: smoke in {smoke_frames}/30 smoky frames, flame in {flame_frames}/40");
    assert_eq!(before, 0, "smoke reported before there was any");
    assert_eq!(flame_frames, 0, "smoke reported as flame");

    // A person-sized dark grey figure walks across the street: grey, moving, big enough, but it
    // leaves where it was first seen.
    let street = load(&dir.join("negative/street_vtest_010.jpg"));
    let (w, h) = (street.width as i32, street.height as i32);
    let (bw, bh) = (w / 16, h / 4);
    let mut det = FireDetector::new(FireDetectorConfig::default());
    let mut rng = Rng(17);
    let walker = (0..40).map(|t| {
        let mut rgb = street.rgb.to_vec();
        let (x0, y0) = (w / 8 + t * w / 160, h / 2);
        for y in y0..(y0 + bh).min(h) {
            for x in x0..(x0 + bw).min(w) {
                let v = 80 + ((x * 7 + y * 13) % 23) as u8;
                let i = ((y * w + x) * 3) as usize;
                rgb[i..i + 3].copy_from_slice(&[v, v, v + 4]);
            }
        }
        frame(street.width, street.height, expose(&rgb, 1.0, 4.0, &mut rng), t as u64)
    });
    let walker_smoke = confirmed_kind(&mut det, walker, FireKind::Smoke);
    eprintln!("walker on street_vtest_010: smoke in {walker_smoke}/40 frames");
    assert_eq!(walker_smoke, 0, "a passer-by was confirmed as smoke");
}

#[test]
fn cost_per_frame_at_320() {
    let still = load(&flame_photos()[0]);
    let mut det = FireDetector::new(FireDetectorConfig::default());
    let mut rng = Rng(5);
    let frames: Vec<Frame> =
        (0..10).map(|i| frame(still.width, still.height, expose(&still.rgb, 1.0, 4.0, &mut rng), i)).collect();
    let n = 60;
    let start = Instant::now();
    for i in 0..n {
        det.observe(&frames[i % frames.len()]).unwrap();
    }
    let per = start.elapsed() / n as u32;
    eprintln!(
        "observe(): {per:?} per {}x{} frame at analysis width {} ({} build)",
        still.width,
        still.height,
        det.config().analysis_width,
        if cfg!(debug_assertions) { "debug" } else { "release" }
    );
}

/// Frames of Debian's vtest.avi street clip (10 frames/s), RGB.
fn street_clip() -> Vec<Frame> {
    let path = Path::new("/usr/share/doc/opencv-doc/examples/data/vtest.avi");
    let out = shaobing_camera::decode_file_frames(path, |_| true, u64::MAX).unwrap();
    assert!(out.len() > 700, "vtest.avi: {} frames", out.len());
    out
}

/// The same street as a loaded box sees it (irregular gaps: frames dropped in bursts), cut
/// against other scenes and panned like a PTZ camera on tour: people walk, cars pass, the
/// picture jumps. None of it is fire.
#[test]
fn street_footage_under_overload_scene_cuts_and_pans_is_never_fire() {
    let clip = street_clip();
    let other = load(&media("negative")[0]);
    for seed in [29, 11, 41] {
        let (frames, fire) = watch_loaded_street(&clip, &other, seed);
        assert!(frames > 80, "seed {seed}: {frames} frames analysed");
        assert!(
            fire.is_empty(),
            "seed {seed}: fire or smoke on a street ({} of {frames} frames): {fire:?}",
            fire.len()
        );
    }
}

/// One pass over the street as a loaded box sees it; returns the frames analysed and every
/// region the detector reported (frame index, kind, box).
fn watch_loaded_street(clip: &[Frame], other: &Frame, seed: u64) -> (usize, Vec<(usize, FireKind, BBox)>) {
    let mut rng = Rng(seed);
    let mut det = FireDetector::new(FireDetectorConfig::default());
    // As the analysis runs them: one scene watch per camera restarts the detector on a break.
    let mut watch = SceneWatch::new();
    let (mut t_ms, mut i, mut frames, mut fire) = (0i64, 0usize, 0, Vec::new());
    while i < clip.len() {
        // A loaded box: mostly every 5th frame (2/s), with bursts of drops of up to 4 s.
        let step = if rng.range(0.0, 1.0) < 0.15 { rng.range(5.0, 40.0) as usize } else { 5 };
        i += step;
        t_ms += step as i64 * 100;
        let Some(f) = clip.get(i) else { break };
        let scene = match (i / 120) % 4 {
            // A cut to another scene for a while, then back.
            1 => frame(f.width, f.height, resized(other, f.width, f.height), 0),
            // A pan: the view slides sideways, then cuts back.
            3 => {
                let dx = ((i % 120) as f32 / 120.0 * 0.3 * f.width as f32) as usize;
                frame(f.width, f.height, panned(&f.rgb, f.width as usize, f.height as usize, dx), 0)
            }
            _ => f.clone(),
        };
        let exposed = expose(&scene.rgb, 1.0, 3.0, &mut rng);
        let stamped =
            Frame { captured_at: shaobing_core::UnixMillis(t_ms), ..frame(scene.width, scene.height, exposed, 0) };
        frames += 1;
        if watch.observe(&stamped).unwrap().is_some() {
            det.restart().unwrap();
        }
        fire.extend(det.observe(&stamped).unwrap().into_iter().map(|r| (i, r.kind, r.bbox)));
    }
    (frames, fire)
}
