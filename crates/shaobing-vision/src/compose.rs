//! What a fixed camera does to a still photo: sensor noise, auto-exposure, and (for fire) the
//! sway and pulse of a flame's tongues. The evaluation composes its fire clips with it, and
//! the tests their sequences. Deterministic, so a failure replays.

use shaobing_core::{BBox, Frame};

/// A small linear congruential generator: the same sequence on every run and machine.
#[derive(Debug, Clone)]
pub struct Rng(pub u64);

impl Rng {
    /// Uniform in 0..1.
    pub fn unit(&mut self) -> f32 {
        self.0 = self.0.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        ((self.0 >> 40) as f32) / (1u64 << 24) as f32
    }

    pub fn range(&mut self, lo: f32, hi: f32) -> f32 {
        lo + (hi - lo) * self.unit()
    }
}

/// Sensor noise (uniform ±`amp`) and a global `gain`, as a camera's auto-exposure applies.
pub fn expose(src: &[u8], gain: f32, amp: f32, rng: &mut Rng) -> Vec<u8> {
    src.iter().map(|&v| (v as f32 * gain + rng.range(-amp, amp)).round().clamp(0.0, 255.0) as u8).collect()
}

/// Flame motion inside `bbox` (normalised, grown by a margin): each row of flame-coloured
/// pixels is displaced sideways by a random wave and its brightness jittered, the way a
/// flame's tongues sway and pulse. Pixels outside the box are untouched.
pub fn flicker(f: &Frame, bbox: BBox, rng: &mut Rng) -> Vec<u8> {
    let (w, h) = (f.width as i32, f.height as i32);
    let src = &f.rgb;
    let mut out = src.to_vec();
    let grow = 0.3;
    let (bw, bh) = (bbox.width() * grow, bbox.height() * grow);
    let x0 = (((bbox.x1 - bw) * w as f32) as i32).max(0);
    let x1 = (((bbox.x2 + bw) * w as f32) as i32).min(w);
    let y0 = (((bbox.y1 - bh) * h as f32) as i32).max(0);
    let y1 = (((bbox.y2 + bh * 0.2) * h as f32) as i32).min(h);
    let amp = (bbox.width() * w as f32 * 0.15).max(2.0);
    let (phase, freq, gain) = (rng.range(0.0, std::f32::consts::TAU), rng.range(0.05, 0.2), rng.range(0.9, 1.1));
    let lift = rng.range(0.0, bbox.height() * h as f32 * 0.12) as i32;
    let flame = |i: usize| src[i] >= 150 && src[i] as i32 - src[i + 2] as i32 >= 40;
    for y in y0..y1 {
        let dx = (amp * ((y as f32) * freq + phase).sin() + rng.range(-1.5, 1.5)).round() as i32;
        let sy = (y + lift).min(h - 1);
        for x in x0..x1 {
            let sx = (x + dx).clamp(0, w - 1);
            let (d, s) = (((y * w + x) * 3) as usize, ((sy * w + sx) * 3) as usize);
            if flame(s) || flame(d) {
                // A sensor keeps a flame's core clipped; only the unclipped tongues pulse.
                let k = if flame(s) && src[s] < 250 { gain } else { 1.0 };
                for c in 0..3 {
                    out[d + c] = (src[s + c] as f32 * k).round().clamp(0.0, 255.0) as u8;
                }
            }
        }
    }
    out
}

/// The picture before a fire: flame-coloured pixels around `bbox` (normalised, grown by a
/// margin) are an unlit dark grey, the rest of the photo as it is.
pub fn unlit(f: &Frame, bbox: BBox) -> Vec<u8> {
    let (w, h) = (f.width as usize, f.height as usize);
    let mut out = f.rgb.to_vec();
    let (gw, gh) = (0.3 * bbox.width(), 0.3 * bbox.height());
    let px = |v: f32, n: usize| (v.clamp(0.0, 1.0) * n as f32) as usize;
    let (x0, x1) = (px(bbox.x1 - gw, w), px(bbox.x2 + gw, w));
    let (y0, y1) = (px(bbox.y1 - gh, h), px(bbox.y2, h));
    for y in y0..y1 {
        for x in x0..x1 {
            let i = (y * w + x) * 3;
            if out[i] >= 150 && i32::from(out[i]) - i32::from(out[i + 2]) >= 40 {
                out[i..i + 3].copy_from_slice(&[60, 58, 56]);
            }
        }
    }
    out
}

/// `src` scaled (nearest pixel) to `w` x `h`: another scene on the same picture size.
pub fn resized(src: &Frame, w: u32, h: u32) -> Vec<u8> {
    let (w, h) = (w as usize, h as usize);
    let (sw, sh) = (src.width as usize, src.height as usize);
    let mut out = Vec::with_capacity(w * h * 3);
    for y in 0..h {
        let sy = y * sh / h;
        for x in 0..w {
            let s = (sy * sw + x * sw / w) * 3;
            out.extend_from_slice(&src.rgb[s..s + 3]);
        }
    }
    out
}

/// The `w` x `h` picture moved `dx` pixels to the left, the uncovered edge repeated: a camera
/// panning.
pub fn panned(rgb: &[u8], w: usize, h: usize, dx: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(rgb.len());
    let shift = dx.min(w.saturating_sub(1));
    for y in 0..h {
        let row = &rgb[y * w * 3..(y + 1) * w * 3];
        out.extend_from_slice(&row[shift * 3..]);
        for _ in 0..shift {
            out.extend_from_slice(&row[(w - 1) * 3..]);
        }
    }
    out
}

/// The pixels of `window` (normalised, at least one pixel) as a frame of their own.
pub fn cropped(frame: &Frame, window: BBox) -> Frame {
    let (w, h) = (frame.width as usize, frame.height as usize);
    let px = |v: f32, n: usize| ((v * n as f32).round() as usize).min(n.saturating_sub(1));
    let (x0, y0) = (px(window.x1, w), px(window.y1, h));
    let cw = ((window.x2 * w as f32).round() as usize).clamp(x0 + 1, w) - x0;
    let ch = ((window.y2 * h as f32).round() as usize).clamp(y0 + 1, h) - y0;
    let mut rgb = Vec::with_capacity(cw * ch * 3);
    for y in y0..y0 + ch {
        rgb.extend_from_slice(&frame.rgb[(y * w + x0) * 3..(y * w + x0 + cw) * 3]);
    }
    Frame { width: cw as u32, height: ch as u32, rgb: rgb.into(), ..frame.clone() }
}

/// An object cut out of a photo to be set down in a scene: a chair, a person, a pile.
#[derive(Clone)]
pub struct Cutout {
    rgb: opencv::core::Mat,
    /// 1 where the object is.
    mask: opencv::core::Mat,
}

impl std::fmt::Debug for Cutout {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        use opencv::prelude::MatTraitConst;
        f.debug_struct("Cutout").field("cols", &self.rgb.cols()).field("rows", &self.rgb.rows()).finish()
    }
}

impl Cutout {
    /// The whole photo at `path`, or with `grab_cut` the object on its plain studio background
    /// (GrabCut seeded by a rectangle a few pixels inside the photo).
    pub fn load(path: &std::path::Path, grab_cut: bool) -> Result<Self, crate::VisionError> {
        Self::of(&crate::read_image(path, "cutout")?, grab_cut)
    }

    /// The whole picture of `photo`, or with `grab_cut` the object on its plain background.
    pub fn of(photo: &Frame, grab_cut: bool) -> Result<Self, crate::VisionError> {
        use opencv::core::{CV_8UC1, Mat, Rect, Scalar};
        use opencv::prelude::*;
        let rgb = crate::frame_mat(photo)?.try_clone()?;
        let (w, h) = (rgb.cols(), rgb.rows());
        let mut mask = Mat::new_rows_cols_with_default(h, w, CV_8UC1, Scalar::all(1.0))?;
        if grab_cut {
            let (mut bgr, mut cut, mut bgd, mut fgd) = (Mat::default(), Mat::default(), Mat::default(), Mat::default());
            opencv::imgproc::cvt_color_def(&rgb, &mut bgr, opencv::imgproc::COLOR_RGB2BGR)?;
            let seed = Rect::new(8, 8, (w - 16).max(1), (h - 16).max(1));
            opencv::imgproc::grab_cut(&bgr, &mut cut, seed, &mut bgd, &mut fgd, 5, opencv::imgproc::GC_INIT_WITH_RECT)?;
            // GrabCut marks definite (1) and probable (3) foreground: both have bit 0 set.
            opencv::core::bitwise_and(&cut, &Scalar::all(1.0), &mut mask, &opencv::core::no_array())?;
        }
        Ok(Self { rgb, mask })
    }

    /// `frame`'s picture with the object standing at `foot` (its bottom centre, normalised)
    /// and `height` (a share of the frame's height) tall, clipped to the frame.
    pub fn set_down(&self, frame: &Frame, foot: [f32; 2], height: f32) -> Result<Vec<u8>, crate::VisionError> {
        use opencv::core::{Mat, Rect, Size};
        use opencv::prelude::*;
        let th = ((height * frame.height as f32).round() as i32).max(1);
        let tw = ((self.rgb.cols() as f32 * th as f32 / self.rgb.rows().max(1) as f32).round() as i32).max(1);
        let (mut o, mut m) = (Mat::default(), Mat::default());
        opencv::imgproc::resize(&self.rgb, &mut o, Size::new(tw, th), 0.0, 0.0, opencv::imgproc::INTER_AREA)?;
        opencv::imgproc::resize(&self.mask, &mut m, Size::new(tw, th), 0.0, 0.0, opencv::imgproc::INTER_NEAREST)?;
        let x = (foot[0] * frame.width as f32).round() as i32 - tw / 2;
        let y = (foot[1] * frame.height as f32).round() as i32 - th;
        let mut scene = crate::frame_mat(frame)?.try_clone()?;
        let whole = Rect::new(0, 0, frame.width as i32, frame.height as i32);
        let target = Rect::new(x, y, tw, th) & whole;
        if target.width > 0 && target.height > 0 {
            let part = Rect::new(target.x - x, target.y - y, target.width, target.height);
            let (o, m) = (o.roi(part)?, m.roi(part)?);
            let mut roi = scene.roi_mut(target)?;
            o.copy_to_masked(&mut roi, &m)?;
        }
        Ok(scene.data_bytes()?.to_vec())
    }
}
