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
/// Frames after a (re)start in which the background is learnt at MOG2's own fast warm-up
/// rate and nothing is judged: the first frame's pedestrians would otherwise stay in the
/// model for a hundred frames, and the pavement they uncover is grey, persistent foreground
/// that "grows" as others walk over it. Smoke that starts within these frames is learnt
/// slower than it spreads, and is judged once they are over.
const WARMUP_FRAMES: usize = 20;
/// Brightness change (8-bit levels) between frames that counts as churn inside a region.
const CHURN_LEVEL: u8 = 6;

/// A grey foreground region of this frame and what is measured of it.
#[derive(Debug, Clone, Copy)]
struct Region {
    label: usize,
    bounds: Bounds,
    area: u32,
    /// Summed Sobel energy of the frame and of the background over the region.
    edges: f32,
    background_edges: f32,
    /// Pixels whose brightness changed since the previous frame.
    churned: u32,
}

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
    previous: Mat,
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
        let warming = self.frames < WARMUP_FRAMES;
        let rate = if warming { -1.0 } else { SMOKE_LEARNING_RATE };
        self.frames += 1;
        video::BackgroundSubtractorMOG2Trait::apply(mog2, luma, &mut self.fg, rate)?;
        if warming {
            luma.copy_to(&mut self.previous)?;
            return Ok(Vec::new());
        }
        if self.mask.empty() {
            self.mask = Mat::new_rows_cols_with_default(size.height, size.width, CV_8UC1, Scalar::all(0.0))?;
        }
        self.mark_grey_foreground(c, ycc)?;
        // Smoke is patchy where it thins out; closing joins its patches into one region.
        let n = self.labeller.label(&self.mask)?;
        let total = (size.width * size.height) as f32;
        // Only regions big enough to matter pay for the background image and the edge sums;
        // one that covers much of the picture is the camera moving, not a plume starting.
        let mut regions: Vec<Region> = Vec::new();
        for i in 1..n {
            let bounds = Bounds::from_stats(&self.labeller.stats, i as i32)?;
            let area = *self.labeller.stats.at_2d::<i32>(i as i32, imgproc::CC_STAT_AREA)? as u32;
            if (c.smoke_min_area..=c.smoke_max_area).contains(&(area as f32 / total)) {
                regions.push(Region { label: i, bounds, area, edges: 0.0, background_edges: 0.0, churned: 0 });
            }
        }
        let mut passed = Vec::new();
        if !regions.is_empty() {
            self.measure(&mut regions, luma, size.width as usize)?;
            passed = regions
                .iter()
                .filter(|r| r.edges < c.smoke_max_edge_ratio * r.background_edges.max(1.0))
                .filter(|r| r.churned as f32 >= c.smoke_min_churn * r.area as f32)
                .map(|r| (r.bounds, r.area))
                .collect();
        }
        luma.copy_to(&mut self.previous)?;
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

    /// Summed Sobel energy of the frame and of the background model over each region's
    /// pixels, and how many of them changed since the previous frame. Smoke churns as it
    /// rises; the ghost of something the model learnt and that left is still pavement, and
    /// people walking over it change only where they are.
    fn measure(&mut self, regions: &mut [Region], luma: &Mat, w: usize) -> Result<(), VisionError> {
        let Some(mog2) = self.mog2.as_ref() else { return Ok(()) };
        mog2.get_background_image(&mut self.background)?;
        let (frame, bg, before) = (luma.data_bytes()?, self.background.data_bytes()?, self.previous.data_bytes()?);
        let labels = self.labeller.labels.data_typed::<i32>()?;
        for r in regions.iter_mut() {
            let b = r.bounds;
            for y in b.y0..b.y1 {
                for x in b.x0..b.x1 {
                    let i = y as usize * w + x as usize;
                    if labels.get(i).is_some_and(|&l| l as usize == r.label) {
                        r.edges += sobel(frame, w, i);
                        r.background_edges += sobel(bg, w, i);
                        let moved = before.get(i).is_some_and(|p| p.abs_diff(frame[i]) > CHURN_LEVEL);
                        r.churned += u32::from(moved);
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
