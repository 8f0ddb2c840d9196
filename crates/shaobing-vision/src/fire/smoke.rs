//! Smoke: persistent, grey MOG2 foreground that softens the background's edges and stays
//! anchored where it started (Toreyin et al., EUSIPCO 2006, see the parent module).

use super::{Bounds, FireDetectorConfig, Labeller, sobel};
use crate::VisionError;
use opencv::core::{CV_8UC1, Mat, Ptr, Scalar, Size};
use opencv::imgproc;
use opencv::prelude::*;
use opencv::video;

/// Background learning rate per frame (about 100 frames' memory).
const SMOKE_LEARNING_RATE: f64 = 0.01;

/// A grey foreground region followed over frames.
#[derive(Debug, Clone, Copy)]
struct SmokeTrack {
    /// Box when first seen: smoke keeps covering its source, a passer-by leaves it.
    origin: Bounds,
    current: Bounds,
    first_area: u32,
    area: u32,
    age: usize,
    misses: usize,
}

#[derive(Default)]
pub(super) struct SmokeState {
    mog2: Option<Ptr<video::BackgroundSubtractorMOG2>>,
    fg: Mat,
    background: Mat,
    persistence: Vec<u8>,
    mask: Mat,
    labeller: Labeller,
    frames: usize,
    tracks: Vec<SmokeTrack>,
}

impl SmokeState {
    pub(super) fn new(n: usize) -> Result<Self, VisionError> {
        // Luma only: smoke is grey, so colour adds nothing and one channel costs a third.
        // No shadow detection: shadows are grey moving regions too and would be counted as smoke.
        let mut mog2 = video::create_background_subtractor_mog2(200, 16.0, false)?;
        // Three Gaussians per pixel instead of five: a street's background is the road, a
        // shadow and a passing car; the model is most of a camera's memory at five.
        mog2.set_n_mixtures(3)?;
        let labeller = Labeller::new(imgproc::MORPH_ELLIPSE, 7)?;
        Ok(Self { mog2: Some(mog2), persistence: vec![0; n], labeller, ..Self::default() })
    }

    /// Confirmed smoke regions (box and pixel count) of this frame.
    pub(super) fn update(
        &mut self,
        c: &FireDetectorConfig,
        luma: &Mat,
        ycc: &Mat,
        size: Size,
    ) -> Result<Vec<(Bounds, u32)>, VisionError> {
        let Some(mog2) = self.mog2.as_mut() else { return Ok(Vec::new()) };
        // A fixed slow learning rate after the first frame: MOG2's own warm-up rate (1/n) would
        // absorb smoke that starts early and spreads slowly into the background within frames.
        let rate = if self.frames == 0 { 1.0 } else { SMOKE_LEARNING_RATE };
        self.frames += 1;
        video::BackgroundSubtractorMOG2Trait::apply(mog2, luma, &mut self.fg, rate)?;
        if self.mask.empty() {
            self.mask = Mat::new_rows_cols_with_default(size.height, size.width, CV_8UC1, Scalar::all(0.0))?;
        }
        self.mark_grey_foreground(c, ycc)?;
        // Smoke is patchy where it thins out; closing joins its patches into one region.
        let n = self.labeller.label(&self.mask)?;
        let total = (size.width * size.height) as f32;
        // Only regions big enough to matter pay for the background image and the edge sums.
        let mut regions: Vec<(usize, Bounds, u32, f32, f32)> = Vec::new();
        for i in 1..n {
            let b = Bounds::from_stats(&self.labeller.stats, i as i32)?;
            let area = *self.labeller.stats.at_2d::<i32>(i as i32, imgproc::CC_STAT_AREA)? as u32;
            if area as f32 / total >= c.smoke_min_area {
                regions.push((i, b, area, 0.0, 0.0));
            }
        }
        let mut passed = Vec::new();
        if !regions.is_empty() {
            self.edge_sums(&mut regions, luma, size.width as usize)?;
            passed =
                regions.iter().filter(|r| r.3 < c.smoke_max_edge_ratio * r.4.max(1.0)).map(|r| (r.1, r.2)).collect();
        }
        Ok(self.track(c, &passed))
    }

    /// Counts, per pixel, recent frames in which it was grey foreground; marks persistent ones.
    fn mark_grey_foreground(&mut self, c: &FireDetectorConfig, ycc: &Mat) -> Result<(), VisionError> {
        let ycc = ycc.data_bytes()?;
        let fg = self.fg.data_bytes()?;
        let mask = self.mask.data_bytes_mut()?;
        let cap = c.history.min(255) as u8;
        let (lo, hi) = c.smoke_luma;
        for (((px, &f), p), m) in ycc.chunks_exact(3).zip(fg).zip(self.persistence.iter_mut()).zip(mask.iter_mut()) {
            // Chroma distance from grey in YCrCb stands in for HSV saturation without a division.
            let chroma = px[1].abs_diff(128).max(px[2].abs_diff(128));
            let grey = chroma <= c.smoke_max_chroma && px[0] >= lo && px[0] <= hi;
            *p = if f > 0 && grey { (*p + 1).min(cap) } else { p.saturating_sub(1) };
            *m = if *p >= c.smoke_min_persistence { 255 } else { 0 };
        }
        Ok(())
    }

    /// Summed Sobel energy of the frame and of the background model over each region's pixels.
    fn edge_sums(
        &mut self,
        regions: &mut [(usize, Bounds, u32, f32, f32)],
        luma: &Mat,
        w: usize,
    ) -> Result<(), VisionError> {
        let Some(mog2) = self.mog2.as_ref() else { return Ok(()) };
        mog2.get_background_image(&mut self.background)?;
        let (frame, bg) = (luma.data_bytes()?, self.background.data_bytes()?);
        let labels = self.labeller.labels.data_typed::<i32>()?;
        for r in regions.iter_mut() {
            let b = r.1;
            for y in b.y0..b.y1 {
                for x in b.x0..b.x1 {
                    let i = y as usize * w + x as usize;
                    if labels.get(i).is_some_and(|&l| l as usize == r.0) {
                        r.3 += sobel(frame, w, i);
                        r.4 += sobel(bg, w, i);
                    }
                }
            }
        }
        Ok(())
    }

    /// Associates regions with tracks by overlap; confirms tracks old enough that still cover
    /// their origin.
    fn track(&mut self, c: &FireDetectorConfig, regions: &[(Bounds, u32)]) -> Vec<(Bounds, u32)> {
        let mut matched = vec![false; self.tracks.len()];
        for &(b, area) in regions {
            let best = self
                .tracks
                .iter()
                .enumerate()
                .filter(|(i, _)| !matched[*i])
                .map(|(i, t)| (i, t.current.iou(&b)))
                .filter(|&(_, iou)| iou >= 0.2)
                .max_by(|a, b| a.1.total_cmp(&b.1));
            if let Some((i, _)) = best {
                let t = &mut self.tracks[i];
                t.current = b;
                t.area = area;
                t.age += 1;
                t.misses = 0;
                matched[i] = true;
            } else {
                self.tracks.push(SmokeTrack { origin: b, current: b, first_area: area, area, age: 1, misses: 0 });
                matched.push(true);
            }
        }
        for (t, &m) in self.tracks.iter_mut().zip(&matched) {
            if !m {
                t.misses += 1;
            }
        }
        self.tracks.retain(|t| t.misses <= c.track_coast);
        self.tracks
            .iter()
            .filter(|t| {
                t.misses == 0
                    && t.age >= c.smoke_min_track
                    && t.origin.overlap(&t.current) >= c.smoke_min_origin_overlap * t.origin.area() as f32
                    && t.area as f32 >= c.smoke_min_growth * t.first_area as f32
            })
            .map(|t| (t.current, t.area))
            .collect()
    }
}
