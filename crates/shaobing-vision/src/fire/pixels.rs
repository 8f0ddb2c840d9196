//! Per-pixel and per-region work of the flame test: classes, region sums, thresholds.

use super::config::FireDetectorConfig;
use crate::VisionError;
use opencv::core::{CV_32S, Mat, Rect, Size};
use opencv::imgproc;
use opencv::prelude::*;

// Bits of the per-pixel class buffer.
pub(super) const FRINGE: u8 = 1;
pub(super) const CORE: u8 = 2;
pub(super) const CLIPPED: u8 = 4;

/// A box in analysis pixels, end-exclusive.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub(super) struct Bounds {
    pub(super) x0: i32,
    pub(super) y0: i32,
    pub(super) x1: i32,
    pub(super) y1: i32,
}

impl Bounds {
    pub(super) fn from_stats(stats: &Mat, i: i32) -> Result<Self, VisionError> {
        let x0 = *stats.at_2d::<i32>(i, imgproc::CC_STAT_LEFT)?;
        let y0 = *stats.at_2d::<i32>(i, imgproc::CC_STAT_TOP)?;
        let x1 = x0 + *stats.at_2d::<i32>(i, imgproc::CC_STAT_WIDTH)?;
        let y1 = y0 + *stats.at_2d::<i32>(i, imgproc::CC_STAT_HEIGHT)?;
        Ok(Self { x0, y0, x1, y1 })
    }

    pub(super) fn area(&self) -> i32 {
        (self.x1 - self.x0).max(0) * (self.y1 - self.y0).max(0)
    }

    pub(super) fn overlap(&self, o: &Self) -> f32 {
        let w = (self.x1.min(o.x1) - self.x0.max(o.x0)).max(0);
        let h = (self.y1.min(o.y1) - self.y0.max(o.y0)).max(0);
        (w * h) as f32
    }

    pub(super) fn iou(&self, o: &Self) -> f32 {
        let i = self.overlap(o);
        let u = (self.area() + o.area()) as f32 - i;
        if u <= 0.0 { 0.0 } else { i / u }
    }

    /// Grown by `frac` of its size (at least `min` px) on every side, clipped to the frame.
    pub(super) fn grown(&self, frac: f32, min: i32, size: Size) -> Rect {
        let gx = (((self.x1 - self.x0) as f32 * frac) as i32).max(min);
        let gy = (((self.y1 - self.y0) as f32 * frac) as i32).max(min);
        let (x0, y0) = ((self.x0 - gx).max(0), (self.y0 - gy).max(0));
        let (x1, y1) = ((self.x1 + gx).min(size.width), (self.y1 + gy).min(size.height));
        Rect::new(x0, y0, (x1 - x0).max(0), (y1 - y0).max(0))
    }
}

/// Running sums over one connected region.
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct RegionStats {
    pub(super) bounds: Bounds,
    pub(super) area: u32,
    pub(super) core: u32,
    pub(super) fringe: u32,
    pub(super) clipped: u32,
    pub(super) gr_sum: f32,
    pub(super) gr_sq: f32,
    pub(super) edge_sum: f32,
}

/// The pixel thresholds of one frame: absolute ones apply to exposure-normalised values,
/// Celik's mean comparisons to raw ones (both sides share the exposure).
#[derive(Debug, Clone, Copy)]
pub(super) struct Thresholds {
    pub(super) red: u8,
    pub(super) red_minus_blue: u8,
    pub(super) cr_minus_cb: u8,
    pub(super) core_luma: u8,
    pub(super) core_red: u8,
    pub(super) core_green: u8,
    pub(super) means: (u8, u8, u8),
    pub(super) gain: u32,
}

impl Thresholds {
    pub(super) fn new(c: &FireDetectorConfig, means: (u8, u8, u8), gain: u32) -> Self {
        Self {
            red: c.flame_min_red,
            red_minus_blue: c.flame_min_red_minus_blue,
            cr_minus_cb: c.flame_min_cr_minus_cb,
            core_luma: c.core_min_luma,
            core_red: c.core_min_red,
            core_green: c.core_min_green,
            means,
            gain,
        }
    }

    pub(super) fn relaxed(&self, by: u8) -> Self {
        Self {
            red: self.red.saturating_sub(by),
            red_minus_blue: self.red_minus_blue.saturating_sub(by),
            cr_minus_cb: self.cr_minus_cb.saturating_sub(by / 2),
            core_luma: self.core_luma.saturating_sub(by),
            core_red: self.core_red.saturating_sub(by),
            core_green: self.core_green.saturating_sub(by),
            ..*self
        }
    }

    /// Exposure-normalised value; clipped values stay clipped whatever the gain, as on a sensor.
    pub(super) fn norm(&self, v: u8) -> u8 {
        if v >= 250 { 255 } else { ((v as u32 * self.gain) >> 8).min(255) as u8 }
    }

    /// `px` is RGB, `yc` is Y, Cr, Cb of the same pixel.
    pub(super) fn classify(&self, px: &[u8], yc: &[u8]) -> u8 {
        let (r, g, b) = (self.norm(px[0]), self.norm(px[1]), self.norm(px[2]));
        let (y_raw, cr, cb) = (yc[0], yc[1], yc[2]);
        let y = self.norm(y_raw);
        let (my, mcb, mcr) = self.means;
        let chen = r >= self.red && r >= g && g > b && r - b >= self.red_minus_blue;
        let chroma = (((cr.saturating_sub(cb)) as u32 * self.gain) >> 8).min(255) as u8;
        let celik = y_raw > cb && cr > cb && y_raw > my && cr > mcr && cb < mcb && chroma >= self.cr_minus_cb;
        let core = y >= self.core_luma && r >= self.core_red && g >= self.core_green && r >= g && g >= b;
        let mut class = 0;
        if core {
            class |= CORE;
        } else if chen && celik {
            class |= FRINGE;
        }
        if px[0] >= 250 {
            class |= CLIPPED;
        }
        class
    }
}

/// Sobel |dx| + |dy| of luma at pixel `i`; zero on the image border.
pub(super) fn sobel(luma: &[u8], w: usize, i: usize) -> f32 {
    let (x, y) = (i % w, i / w);
    if x == 0 || y == 0 || x + 1 >= w || (y + 2) * w > luma.len() {
        return 0.0;
    }
    // Three rows around the pixel, bounds checked once here rather than per tap.
    let (Some(up), Some(mid), Some(down)) =
        (luma.get(i - w - 1..i - w + 2), luma.get(i - 1..i + 2), luma.get(i + w - 1..i + w + 2))
    else {
        return 0.0;
    };
    let p = |row: &[u8], k: usize| row[k] as i32;
    let gx = p(up, 2) + 2 * p(mid, 2) + p(down, 2) - p(up, 0) - 2 * p(mid, 0) - p(down, 0);
    let gy = p(down, 0) + 2 * p(down, 1) + p(down, 2) - p(up, 0) - 2 * p(up, 1) - p(up, 2);
    (gx.abs() + gy.abs()) as f32
}

pub(super) fn accumulate(r: &mut RegionStats, px: &[u8], class: u8, edge: f32) {
    r.area += 1;
    r.core += u32::from(class & CORE != 0);
    r.fringe += u32::from(class & FRINGE != 0);
    r.clipped += u32::from(class & CLIPPED != 0);
    let gr = px[1] as f32 / (px[0] as f32).max(1.0);
    r.gr_sum += gr;
    r.gr_sq += gr * gr;
    r.edge_sum += edge;
}

/// The single-image verdict on one region: `Some(score)` if it looks like flame.
pub(super) fn flame_score(c: &FireDetectorConfig, s: &RegionStats, total: f32) -> Option<f32> {
    let n = s.area.max(1) as f32;
    let area = s.area as f32 / total;
    let core = s.core as f32 / n;
    let fringe = s.fringe as f32 / n;
    let clipped = s.clipped as f32 / n;
    let mean = s.gr_sum / n;
    let spread = (s.gr_sq / n - mean * mean).max(0.0).sqrt();
    let edge = s.edge_sum / n;
    let b = &s.bounds;
    let (bw, bh) = ((b.x1 - b.x0) as f32, (b.y1 - b.y0).max(1) as f32);
    let ok = (c.min_area..=c.max_area).contains(&area)
        && (c.min_core_fraction..=c.max_core_fraction).contains(&core)
        && fringe >= c.min_fringe_fraction
        && clipped >= c.min_clipped_fraction
        && spread >= c.min_hue_spread
        && edge >= c.min_edge_energy
        && bw / bh <= c.max_band_aspect;
    // How far past the weakest-margin thresholds the region is, squashed to 0..1.
    let score = 0.4 + 0.3 * (clipped / 0.5).min(1.0) + 0.3 * (spread / 0.15).min(1.0);
    ok.then_some(score.min(1.0))
}

/// Closes gaps in a mask and labels its 8-connected regions, into buffers kept between
/// frames: flame and smoke label a mask on every analysed frame.
#[derive(Default)]
pub(super) struct Labeller {
    pub(super) kernel: Mat,
    pub(super) closed: Mat,
    pub(super) labels: Mat,
    pub(super) stats: Mat,
    pub(super) centroids: Mat,
}

impl Labeller {
    /// Closing with a `shape` (`imgproc::MORPH_*`) of `size` x `size` pixels.
    pub(super) fn new(shape: i32, size: i32) -> Result<Self, VisionError> {
        let kernel = imgproc::get_structuring_element_def(shape, Size::new(size, size))?;
        Ok(Self { kernel, ..Self::default() })
    }

    /// Labels `mask`; returns the number of labels (background included). Region `i`'s box
    /// and area are in row `i` of `stats`, each pixel's label in `labels`.
    pub(super) fn label(&mut self, mask: &Mat) -> Result<usize, VisionError> {
        imgproc::morphology_ex_def(mask, &mut self.closed, imgproc::MORPH_CLOSE, &self.kernel)?;
        let n = imgproc::connected_components_with_stats(
            &self.closed,
            &mut self.labels,
            &mut self.stats,
            &mut self.centroids,
            8,
            CV_32S,
        )?;
        Ok(n as usize)
    }
}
