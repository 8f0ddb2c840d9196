//! What a clip puts in front of the analysis: its own time, cuts, drops and repeats.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use shaobing_eval::{ClipSpec, EvalSet, Footage};
use std::path::Path;

fn clip(name: &str) -> ClipSpec {
    let set = EvalSet::load(&Path::new(env!("CARGO_MANIFEST_DIR")).join("../../eval/street.toml")).unwrap();
    set.clips.into_iter().find(|c| c.name == name).unwrap()
}

fn differs(a: &[u8], b: &[u8]) -> f64 {
    a.iter().zip(b).filter(|(x, y)| x.abs_diff(**y) > 40).count() as f64 / a.len() as f64
}

#[test]
fn a_cut_clip_alternates_scenes_on_its_own_time() {
    let footage = Footage::load(&clip("street-cuts"), 3.0, 1).unwrap();
    let frames: Vec<_> = footage.frames().collect();
    assert!((footage.secs() - 79.5).abs() < 1.0, "{}", footage.secs());
    assert!(frames.windows(2).all(|w| w[1].0 > w[0].0 && w[1].1.captured_at > w[0].1.captured_at));
    let at = |t: f64| &frames.iter().find(|(s, _)| *s >= t).unwrap().1;
    assert!(differs(&at(11.0).rgb, &at(13.0).rgb) > 0.3, "the cut at 12 s shows another scene");
    assert!(differs(&at(10.0).rgb, &at(11.0).rgb) < 0.1, "the street a second apart is the street");
}

#[test]
fn drops_thin_the_frames_and_repeats_continue_the_time() {
    let spec = clip("street-overload");
    let footage = Footage::load(&spec, 3.0, 1).unwrap();
    let times: Vec<f64> = footage.frames().map(|(t, _)| t).collect();
    let full = footage.secs() * 3.0;
    assert!((times.len() as f64) < 0.9 * full && (times.len() as f64) > 0.4 * full, "{} of {full}", times.len());
    assert!(times.last().unwrap() > &(footage.secs() * 0.9), "the second pass follows the first");
    assert!(times.windows(2).any(|w| w[1] - w[0] > 1.5), "bursts of drops leave gaps");
}

#[test]
fn a_key_frame_clip_shows_each_key_frame_and_its_burst() {
    let mut spec = clip("street");
    spec.gop_secs = Some(2.0);
    let footage = Footage::load(&spec, 3.0, 3).unwrap();
    let times: Vec<f64> = footage.frames().map(|(t, _)| t).collect();
    // vtest.avi runs at 10 frames/s: 0, 0.1, 0.2, then 2.0, 2.1, 2.2, ...
    assert_eq!(times.len(), 3 * (footage.secs() / 2.0).ceil() as usize, "{times:?}");
    for burst in times.chunks(3) {
        let key = burst[0];
        assert!((key / 2.0 - (key / 2.0).round()).abs() < 0.01, "a key frame every 2 s: {key}");
        assert!((burst[2] - key - 0.2).abs() < 0.01, "followed by the next two frames: {burst:?}");
    }
}
