//! Scene breaks: the moments temporal evidence must start over.
//!
//! Everything that compares frames (background models, flicker, trackers, still clocks)
//! assumes that consecutive analysed frames show one scene a moment apart. Two things break
//! that: a cut (a looped clip, a PTZ preset reached, a camera switched by an encoder, a
//! lens bumped), and a gap (a loaded box dropping frames, a stalled stream): across either,
//! "what changed" is the whole picture, and read as change it looks like smoke where people
//! walked, flame where a sign appeared, motion everywhere. A break resets them instead.
//!
//! A cut is judged on a 64-pixel-wide grey copy, two ways: the correlation of the two
//! pictures' brightness (blind to exposure gain and offset) falls below [`CUT_CORRELATION`],
//! or more than [`CUT_SHARE`] of the pixels moved by more than [`CUT_LEVEL`] after removing
//! the global exposure change. People and cars change a few percent of a street and leave
//! its structure in place; another scene of the same greys (one street for another) keeps
//! the brightness but not the structure, and a flat scene the reverse.
//! A gap is an interval between frames beyond the camera's rhythm ([`Cadence::bound`]) and
//! at least [`MIN_GAP`].

use crate::{VisionError, frame_mat};
use opencv::core::{Mat, Size};
use opencv::imgproc;
use opencv::prelude::*;
use shaobing_core::{Cadence, Frame, UnixMillis};
use std::time::Duration;

const WIDTH: i32 = 64;
/// Brightness change (8-bit levels) that marks a pixel as changed.
const CUT_LEVEL: u8 = 40;
/// Share of changed pixels that makes a cut.
const CUT_SHARE: f32 = 0.35;
/// Correlation of brightness below which two pictures are two scenes.
const CUT_CORRELATION: f32 = 0.6;
const MIN_GAP: Duration = Duration::from_millis(1_500);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SceneBreak {
    /// The picture changed as a whole.
    Cut,
    /// Too long since the previous frame to compare with it.
    Gap,
}

impl SceneBreak {
    pub fn as_str(self) -> &'static str {
        match self {
            SceneBreak::Cut => "cut",
            SceneBreak::Gap => "gap",
        }
    }
}

/// One camera's watch for scene breaks.
#[derive(Default)]
pub struct SceneWatch {
    small: Mat,
    grey: Mat,
    previous: Vec<u8>,
    cadence: Cadence,
}

impl std::fmt::Debug for SceneWatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SceneWatch").field("cadence", &self.cadence).finish_non_exhaustive()
    }
}

impl SceneWatch {
    pub fn new() -> Self {
        Self::default()
    }

    /// Whether `frame` breaks the scene of the frames before it (never the first frame).
    pub fn observe(&mut self, frame: &Frame) -> Result<Option<SceneBreak>, VisionError> {
        let gap = self.gap(frame.captured_at);
        let cut = self.cut(frame)?;
        Ok(if cut {
            Some(SceneBreak::Cut)
        } else if gap {
            Some(SceneBreak::Gap)
        } else {
            None
        })
    }

    /// Judged against the rhythm before this frame; the first interval sets the rhythm.
    fn gap(&mut self, now: UnixMillis) -> bool {
        let bound = self.cadence.usual().map(|_| self.cadence.bound(MIN_GAP));
        let dt = self.cadence.note(now, MIN_GAP);
        bound.zip(dt).is_some_and(|(bound, dt)| dt > bound)
    }

    fn cut(&mut self, frame: &Frame) -> Result<bool, VisionError> {
        let src = frame_mat(frame)?;
        let h = ((frame.height as f32 * WIDTH as f32 / frame.width.max(1) as f32).round() as i32).max(1);
        imgproc::resize(&src, &mut self.small, Size::new(WIDTH, h), 0.0, 0.0, imgproc::INTER_AREA)?;
        imgproc::cvt_color_def(&self.small, &mut self.grey, imgproc::COLOR_RGB2GRAY)?;
        let now = self.grey.data_bytes()?;
        let cut = now.len() == self.previous.len()
            && (changed_share(&self.previous, now) >= CUT_SHARE || correlation(&self.previous, now) < CUT_CORRELATION);
        self.previous.clear();
        self.previous.extend_from_slice(now);
        // A new size is a new scene too, but nothing was compared: the first frame of it.
        Ok(cut)
    }
}

/// Share of pixels that moved by more than [`CUT_LEVEL`] once the mean brightness change
/// (auto-exposure, a cloud) is taken out.
fn changed_share(before: &[u8], after: &[u8]) -> f32 {
    let n = before.len().max(1) as f32;
    let mean = |v: &[u8]| v.iter().map(|&p| f32::from(p)).sum::<f32>() / n;
    let shift = mean(after) - mean(before);
    let changed = before
        .iter()
        .zip(after)
        .filter(|&(&b, &a)| (f32::from(a) - f32::from(b) - shift).abs() > f32::from(CUT_LEVEL))
        .count();
    changed as f32 / n
}

/// Pearson correlation of two pictures' brightness; 1 for a flat pair (nothing to compare).
fn correlation(a: &[u8], b: &[u8]) -> f32 {
    let n = a.len().max(1) as f64;
    let mean = |v: &[u8]| v.iter().map(|&p| f64::from(p)).sum::<f64>() / n;
    let (ma, mb) = (mean(a), mean(b));
    let (mut ab, mut aa, mut bb) = (0.0, 0.0, 0.0);
    for (&x, &y) in a.iter().zip(b) {
        let (dx, dy) = (f64::from(x) - ma, f64::from(y) - mb);
        ab += dx * dy;
        aa += dx * dx;
        bb += dy * dy;
    }
    // Below a level of noise per pixel one of them is flat: no structure to lose.
    if aa < 4.0 * n || bb < 4.0 * n {
        return 1.0;
    }
    (ab / (aa * bb).sqrt()) as f32
}

#[cfg(test)]
mod tests {
    use super::*;
    use shaobing_core::CameraId;

    fn frame(ms: i64, pixel: impl Fn(usize, usize) -> u8) -> Frame {
        let (w, h) = (128usize, 96usize);
        let mut rgb = Vec::with_capacity(w * h * 3);
        for y in 0..h {
            for x in 0..w {
                let v = pixel(x, y);
                rgb.extend_from_slice(&[v, v, v]);
            }
        }
        Frame {
            camera: CameraId("c".into()),
            seq: 0,
            captured_at: UnixMillis(ms),
            width: w as u32,
            height: h as u32,
            rgb: rgb.into(),
        }
    }

    fn stripes(x: usize, _: usize) -> u8 {
        if (x / 8).is_multiple_of(2) { 40 } else { 200 }
    }

    #[test]
    fn a_walker_is_no_break_a_cut_and_a_gap_are() {
        let mut w = SceneWatch::new();
        assert_eq!(w.observe(&frame(0, stripes)).unwrap(), None);
        // A person-sized block moves; exposure brightens the whole picture by 30 levels.
        let walker =
            |x: usize, y: usize| if (40..56).contains(&x) && y > 30 { 0 } else { stripes(x, y).saturating_add(30) };
        assert_eq!(w.observe(&frame(500, walker)).unwrap(), None);
        assert_eq!(w.observe(&frame(1000, stripes)).unwrap(), None);
        // A cut: the stripes shift by half a period (a pan or another scene).
        assert_eq!(w.observe(&frame(1500, |x, y| stripes(x + 8, y))).unwrap(), Some(SceneBreak::Cut));
        // Four seconds without a frame at two frames a second.
        assert_eq!(w.observe(&frame(5500, |x, y| stripes(x + 8, y))).unwrap(), Some(SceneBreak::Gap));
        assert_eq!(w.observe(&frame(6000, |x, y| stripes(x + 8, y))).unwrap(), None, "the usual rate again");
    }

    #[test]
    fn a_slow_camera_is_no_gap() {
        let mut w = SceneWatch::new();
        for s in 0..10 {
            assert_eq!(w.observe(&frame(s * 4000, stripes)).unwrap(), None, "key frames every 4 s");
        }
    }
}
