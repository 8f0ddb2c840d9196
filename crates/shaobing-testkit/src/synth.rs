//! What a fixed camera does to a still photo: sensor noise, auto-exposure, and (for flame
//! tests) the sway and pulse of a flame's tongues. Deterministic, so a failure replays.

use shaobing_core::{BBox, CameraId, Frame, UnixMillis};

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

/// A frame of `camera` at `seq`, captured `seq * step_ms` after the epoch.
pub fn frame_at(camera: &str, width: u32, height: u32, rgb: Vec<u8>, seq: u64, step_ms: i64) -> Frame {
    Frame {
        camera: CameraId(camera.into()),
        seq,
        captured_at: UnixMillis(seq as i64 * step_ms),
        width,
        height,
        rgb: rgb.into(),
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
