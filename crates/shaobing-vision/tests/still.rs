//! The still watch on the street clip (Debian's vtest.avi, people walking across a campus
//! street): a chair cut out of a studio photo is set down on the pavement for a while. It must
//! become a region about ten seconds after it is set down, whatever the analysis rate, stay
//! one while it stands (people walking in front of it, a change of exposure), and go when it
//! is taken away; the walkers never make a region of their own there.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use shaobing_camera::FileFrames;
use shaobing_core::{BBox, Frame, UnixMillis};
use shaobing_testkit::synth::{Rng, expose};
use shaobing_vision::compose::Cutout;
use shaobing_vision::{StillRegion, StillWatch, StillWatchConfig};
use std::path::Path;

const PLACED: f64 = 20.0;
const REMOVED: f64 = 60.0;

fn media(rel: &str) -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/media").join(rel)
}

/// The clip at `fps` on its own time, with the chair standing from 20 s to 60 s and the
/// exposure dropping to 75% from 40 s on; the chair's box.
fn clip(fps: f64) -> (Vec<(f64, Frame)>, BBox) {
    let chair = Cutout::load(&media("stall/chair.jpg"), true).unwrap();
    let vtest = vtest();
    let (mut frames, mut due, mut rng) = (Vec::new(), 0.0, Rng(7));
    let mut placed = None;
    for f in FileFrames::open(&vtest, UnixMillis(0)).unwrap() {
        let t = f.captured_at.0 as f64 / 1000.0;
        if t + 1e-6 < due {
            continue;
        }
        due += 1.0 / fps;
        let mut rgb = f.rgb.to_vec();
        if (PLACED..REMOVED).contains(&t) {
            rgb = chair.set_down(&f, [0.42, 0.93], 0.2).unwrap();
            placed.get_or_insert_with(|| changed_box(&f.rgb, &rgb, f.width, f.height));
        }
        if t >= 40.0 {
            rgb = expose(&rgb, 0.75, 2.0, &mut rng);
        }
        frames.push((t, Frame { rgb: rgb.into(), ..f }));
    }
    (frames, placed.unwrap())
}

fn vtest() -> std::path::PathBuf {
    let p = Path::new("/usr/share/doc/opencv-doc/examples/data/vtest.avi");
    assert!(p.is_file(), "{} is missing: run scripts/setup.sh", p.display());
    p.to_path_buf()
}

/// The box of the pixels that differ between two pictures.
fn changed_box(a: &[u8], b: &[u8], w: u32, h: u32) -> BBox {
    let (mut x0, mut y0, mut x1, mut y1) = (w, h, 0, 0);
    for (i, (pa, pb)) in a.chunks(3).zip(b.chunks(3)).enumerate() {
        if pa != pb {
            let (x, y) = (i as u32 % w, i as u32 / w);
            (x0, y0, x1, y1) = (x0.min(x), y0.min(y), x1.max(x + 1), y1.max(y + 1));
        }
    }
    let (w, h) = (w as f32, h as f32);
    BBox::from_corners(x0 as f32 / w, y0 as f32 / h, x1 as f32 / w, y1 as f32 / h)
}

fn on_chair(r: &StillRegion, chair: &BBox) -> bool {
    r.bbox.intersection(chair) >= 0.5 * chair.area().min(r.bbox.area())
}

/// Seconds of the clip at which the chair was a region.
fn watched(fps: f64) -> (Vec<f64>, Vec<StillRegion>, BBox) {
    let (frames, chair) = clip(fps);
    let mut watch = StillWatch::new(StillWatchConfig::default());
    let (mut seen, mut all) = (Vec::new(), Vec::new());
    for (t, f) in &frames {
        let regions = watch.observe(f).unwrap();
        if regions.iter().any(|r| on_chair(r, &chair)) {
            seen.push(*t);
        }
        all.extend(regions);
    }
    (seen, all, chair)
}

#[test]
fn a_chair_set_down_is_seen_standing_at_any_rate_and_only_while_it_stands() {
    let (at3, regions, _) = watched(3.0);
    let first = *at3.first().expect("the chair becomes a region");
    assert!(first > PLACED && first < PLACED + 15.0, "seen {first:.1} s (set down at {PLACED} s)");
    let standing = at3.iter().filter(|t| (first..REMOVED).contains(*t)).count() as f64;
    let frames = (REMOVED - first) * 3.0;
    assert!(standing >= 0.9 * frames, "a region in {standing} of {frames:.0} frames while it stood: {at3:?}");
    let last = *at3.last().unwrap();
    assert!(last < REMOVED + 5.0, "gone within 5 s of being taken away, was still at {last:.1} s");
    assert!(regions.iter().all(|r| r.bbox.area() <= 0.2), "no region as large as a change of exposure");
    let (at1, ..) = watched(1.0);
    let first1 = *at1.first().expect("seen at 1 frame/s too");
    assert!((first1 - first).abs() <= 3.0, "the same time at 1 and 3 frames/s: {first1:.1} vs {first:.1} s");
}
