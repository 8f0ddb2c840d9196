//! Classical flame and smoke detection: the licence-clean default "vote" of the fire rule.
//!
//! Sources of the method:
//! - T.-H. Chen, P.-H. Wu, Y.-C. Chiou, "An early fire-detection method based on image
//!   processing", ICIP 2004: flame pixels satisfy R > R_T and R >= G > B (and a saturation
//!   rule); their dynamics (disorder of the flame mask over time) separate flames from
//!   flame-coloured objects.
//! - T. Celik, H. Demirel, "Fire detection in video sequences using a generic color model",
//!   Fire Safety Journal 44(2), 2009: in YCbCr, Y > Cb, Cr > Cb, Y > mean(Y), Cb < mean(Cb),
//!   Cr > mean(Cr) and |Cr - Cb| >= tau, relative to the frame's means so the rule follows
//!   exposure.
//! - B. U. Toreyin, Y. Dedeoglu, A. E. Cetin, "Flame detection in video using hidden Markov
//!   models", ICIP 2005, and "Contour based smoke detection in video using wavelets", EUSIPCO
//!   2006: flames flicker (boundary pixels turn on and off many times a second) and smoke is a
//!   slowly spreading, low-saturation moving region that softens the edges of the background.
//!
//! What is ours: the per-region "hot core + orange fringe" test. A flame seen by a camera has
//! pixels clipped at the top of the red channel (it is a light source) and a yellow-white core
//! that grades into red-orange edges, so its G/R ratio varies across it. Red clothes, cars and
//! cups have the colour but no clipped core; floodlights are clipped but white without an
//! orange fringe; sunsets are wide horizontal bands with smooth gradients.
//!
//! Tail lights and other red lamps pass the single-image test (they are emitters, clipped,
//! with a red fringe); only the temporal evidence of [`FireDetector::observe`] rejects them,
//! because a lamp does not flicker.

use crate::{VisionError, frame_mat};
use opencv::core::{CV_8UC1, CV_32S, Mat, Ptr, Scalar, Size};
use opencv::imgproc;
use opencv::prelude::*;
use opencv::video;
use shaobing_core::{BBox, Frame};

/// Thresholds of the detector. Colour values are 8-bit; areas are fractions of the frame.
#[derive(Debug, Clone)]
pub struct FireDetectorConfig {
    /// Frames are analysed at this width (aspect ratio kept): flames a few pixels wide at 320 px
    /// are far away, and the cost stays well under a millisecond per frame.
    pub analysis_width: u32,
    /// Chen's R_T: fringe pixels must be at least this red.
    pub flame_min_red: u8,
    /// Fringe pixels must be this much redder than blue (Chen's saturation rule, simplified).
    pub flame_min_red_minus_blue: u8,
    /// Celik's tau on |Cr - Cb|.
    pub flame_min_cr_minus_cb: u8,
    /// A core pixel is bright yellow-white: luma, red and green at least these.
    pub core_min_luma: u8,
    pub core_min_red: u8,
    pub core_min_green: u8,
    /// Smallest and largest region kept, as fractions of the frame.
    pub min_area: f32,
    pub max_area: f32,
    /// A flame has both a core and a fringe: bounds on the share of core pixels in a region.
    pub min_core_fraction: f32,
    pub max_core_fraction: f32,
    pub min_fringe_fraction: f32,
    /// Share of region pixels with red clipped (>= 250): a flame is a light source.
    pub min_clipped_fraction: f32,
    /// Standard deviation of G/R across the region: yellow core to red edge.
    pub min_hue_spread: f32,
    /// Mean Sobel |dx| + |dy| of luma inside the region: flames are ragged, sunsets smooth.
    pub min_edge_energy: f32,
    /// Regions wider than this many times their height are horizon bands (sunsets).
    pub max_band_aspect: f32,
    /// Flame masks kept for the flicker test.
    pub history: usize,
    /// Frames needed before `observe` can confirm anything.
    pub min_frames: usize,
    /// Mask transitions per pixel and frame in a region needed to call it flickering.
    pub min_flicker: f32,
    /// Smoke: foreground pixels with saturation below this (0..255) and luma in this range.
    pub smoke_max_saturation: u8,
    pub smoke_luma: (u8, u8),
    /// Smoke: a pixel must be grey foreground in this many of the last `history` frames.
    pub smoke_min_persistence: u8,
    /// Smoke: smallest region, as a fraction of the frame.
    pub smoke_min_area: f32,
    /// Smoke: edge energy in the region relative to the background model must fall below this.
    pub smoke_max_edge_ratio: f32,
}

impl Default for FireDetectorConfig {
    fn default() -> Self {
        Self {
            analysis_width: 320,
            flame_min_red: 190,
            flame_min_red_minus_blue: 60,
            flame_min_cr_minus_cb: 40,
            core_min_luma: 200,
            core_min_red: 235,
            core_min_green: 190,
            min_area: 0.001,
            max_area: 0.3,
            min_core_fraction: 0.04,
            max_core_fraction: 0.85,
            min_fringe_fraction: 0.12,
            min_clipped_fraction: 0.25,
            min_hue_spread: 0.07,
            min_edge_energy: 70.0,
            max_band_aspect: 4.0,
            history: 8,
            min_frames: 5,
            min_flicker: 0.12,
            smoke_max_saturation: 40,
            smoke_luma: (70, 230),
            smoke_min_persistence: 5,
            smoke_min_area: 0.01,
            smoke_max_edge_ratio: 0.8,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FireKind {
    Flame,
    Smoke,
}

#[derive(Debug, Clone, PartialEq)]
pub struct FireRegion {
    pub kind: FireKind,
    /// Normalised to the frame, 0..1.
    pub bbox: BBox,
    /// 0..1; a heuristic confidence, not a calibrated probability.
    pub score: f32,
    /// Fraction of the frame the region's pixels cover.
    pub area: f32,
}

// Bits of the per-pixel class buffer.
const FRINGE: u8 = 1;
const CORE: u8 = 2;
const CLIPPED: u8 = 4;

/// Running sums over one connected region.
#[derive(Debug, Clone, Copy, Default)]
struct RegionStats {
    area: u32,
    core: u32,
    fringe: u32,
    clipped: u32,
    gr_sum: f32,
    gr_sq: f32,
    edge_sum: f32,
    x0: i32,
    y0: i32,
    x1: i32,
    y1: i32,
}

/// A flame-coloured region that passed the single-image tests, in analysis pixels.
#[derive(Debug, Clone, Copy)]
struct Candidate {
    stats: RegionStats,
    score: f32,
}

/// Per-camera flame and smoke detector. Buffers are sized on the first frame and reused; a
/// change of frame size resets the temporal state.
pub struct FireDetector {
    config: FireDetectorConfig,
    size: Size,
    small: Mat,
    luma: Vec<u8>,
    class: Vec<u8>,
    mask: Mat,
    closed: Mat,
    kernel: Mat,
    labels: Mat,
    stats: Mat,
    centroids: Mat,
    regions: Vec<RegionStats>,
    candidates: Vec<Candidate>,
    history: Vec<Vec<u8>>,
    frames_seen: usize,
    smoke: SmokeState,
}

impl std::fmt::Debug for FireDetector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FireDetector")
            .field("config", &self.config)
            .field("size", &self.size)
            .field("frames_seen", &self.frames_seen)
            .finish_non_exhaustive()
    }
}

impl FireDetector {
    pub fn new(config: FireDetectorConfig) -> Self {
        Self {
            config,
            size: Size::new(0, 0),
            small: Mat::default(),
            luma: Vec::new(),
            class: Vec::new(),
            mask: Mat::default(),
            closed: Mat::default(),
            kernel: Mat::default(),
            labels: Mat::default(),
            stats: Mat::default(),
            centroids: Mat::default(),
            regions: Vec::new(),
            candidates: Vec::new(),
            history: Vec::new(),
            frames_seen: 0,
            smoke: SmokeState::default(),
        }
    }

    pub fn config(&self) -> &FireDetectorConfig {
        &self.config
    }

    /// One frame (RGB). Returns the regions that look like flame or smoke in this frame and whose
    /// temporal evidence so far (flicker, persistent spreading grey foreground) supports it.
    pub fn observe(&mut self, frame: &Frame) -> Result<Vec<FireRegion>, VisionError> {
        self.analyse(frame)?;
        self.push_history();
        let mut out = Vec::new();
        if self.frames_seen >= self.config.min_frames.max(2) {
            for c in &self.candidates {
                let flicker = self.flicker(&c.stats);
                if flicker >= self.config.min_flicker {
                    let score = (c.score * (0.5 + flicker)).min(1.0);
                    out.push(self.region(FireKind::Flame, &c.stats, score));
                }
            }
        }
        self.observe_smoke(&mut out)?;
        Ok(out)
    }

    /// Single-image colour/texture test without temporal evidence (photos, `detect`).
    pub fn candidates(&mut self, frame: &Frame) -> Result<Vec<FireRegion>, VisionError> {
        self.analyse(frame)?;
        Ok(self.candidates.iter().map(|c| self.region(FireKind::Flame, &c.stats, c.score)).collect())
    }

    /// Resizes, classifies pixels, labels regions and keeps the flame-like ones in `candidates`.
    fn analyse(&mut self, frame: &Frame) -> Result<(), VisionError> {
        self.resize(frame)?;
        self.classify()?;
        self.label()?;
        self.candidates.clear();
        let total = (self.size.width * self.size.height) as f32;
        for s in self.regions.iter().skip(1) {
            if let Some(score) = flame_score(&self.config, s, total) {
                self.candidates.push(Candidate { stats: *s, score });
            }
        }
        Ok(())
    }

    fn resize(&mut self, frame: &Frame) -> Result<(), VisionError> {
        let src = frame_mat(frame)?;
        let w = self.config.analysis_width.clamp(16, frame.width.max(16)) as i32;
        let h = ((frame.height as f32 * w as f32 / frame.width.max(1) as f32).round() as i32).max(1);
        let size = Size::new(w, h);
        if size != self.size {
            self.reset(size)?;
        }
        imgproc::resize(&src, &mut self.small, size, 0.0, 0.0, imgproc::INTER_AREA)?;
        Ok(())
    }

    /// New analysis size: every buffer and all temporal state start over.
    fn reset(&mut self, size: Size) -> Result<(), VisionError> {
        let n = (size.width * size.height) as usize;
        self.size = size;
        self.luma = vec![0; n];
        self.class = vec![0; n];
        self.mask = Mat::new_rows_cols_with_default(size.height, size.width, CV_8UC1, Scalar::all(0.0))?;
        self.kernel = imgproc::get_structuring_element_def(imgproc::MORPH_RECT, Size::new(3, 3))?;
        self.history = vec![vec![0; n]; self.config.history.max(2)];
        self.frames_seen = 0;
        self.smoke = SmokeState::new(n)?;
        Ok(())
    }

    /// Marks fringe, core and clipped pixels (Chen's RGB rule with Celik's YCbCr rule relative
    /// to the frame means) and fills the flame mask.
    fn classify(&mut self) -> Result<(), VisionError> {
        let rgb = self.small.data_bytes()?;
        let (mut sy, mut scb, mut scr) = (0u64, 0u64, 0u64);
        for (px, luma) in rgb.chunks_exact(3).zip(self.luma.iter_mut()) {
            let (y, cb, cr) = ycbcr(px);
            *luma = y;
            sy += y as u64;
            scb += cb as u64;
            scr += cr as u64;
        }
        let n = self.luma.len().max(1) as u64;
        let means = ((sy / n) as u8, (scb / n) as u8, (scr / n) as u8);
        let mask = self.mask.data_bytes_mut()?;
        for ((px, class), m) in rgb.chunks_exact(3).zip(self.class.iter_mut()).zip(mask.iter_mut()) {
            *class = classify_pixel(&self.config, px, means);
            *m = if *class & (FRINGE | CORE) != 0 { 255 } else { 0 };
        }
        Ok(())
    }

    /// Closes one-pixel gaps, labels the flame mask and gathers per-region sums.
    fn label(&mut self) -> Result<(), VisionError> {
        imgproc::morphology_ex_def(&self.mask, &mut self.closed, imgproc::MORPH_CLOSE, &self.kernel)?;
        let n = imgproc::connected_components_with_stats(
            &self.closed,
            &mut self.labels,
            &mut self.stats,
            &mut self.centroids,
            8,
            CV_32S,
        )? as usize;
        self.regions.clear();
        self.regions.resize(n, RegionStats::default());
        for i in 1..n {
            let r = &mut self.regions[i];
            r.x0 = *self.stats.at_2d::<i32>(i as i32, imgproc::CC_STAT_LEFT)?;
            r.y0 = *self.stats.at_2d::<i32>(i as i32, imgproc::CC_STAT_TOP)?;
            r.x1 = r.x0 + *self.stats.at_2d::<i32>(i as i32, imgproc::CC_STAT_WIDTH)?;
            r.y1 = r.y0 + *self.stats.at_2d::<i32>(i as i32, imgproc::CC_STAT_HEIGHT)?;
        }
        let labels = self.labels.data_typed::<i32>()?;
        let rgb = self.small.data_bytes()?;
        let w = self.size.width as usize;
        for (i, &l) in labels.iter().enumerate() {
            if l <= 0 {
                continue;
            }
            let r = &mut self.regions[l as usize];
            accumulate(r, &rgb[i * 3..i * 3 + 3], self.class[i], sobel(&self.luma, w, i));
        }
        Ok(())
    }

    fn push_history(&mut self) {
        let slot = self.frames_seen % self.history.len();
        for (h, &c) in self.history[slot].iter_mut().zip(&self.class) {
            *h = u8::from(c & (FRINGE | CORE) != 0);
        }
        self.frames_seen += 1;
    }

    /// Mask transitions per pixel and frame inside the region's box (grown by two pixels, since
    /// flames flicker at their edge), over the pixels that were flame in any kept frame.
    fn flicker(&self, s: &RegionStats) -> f32 {
        let frames = self.frames_seen.min(self.history.len());
        let first = self.frames_seen - frames;
        let (w, h) = (self.size.width, self.size.height);
        let (mut union, mut transitions) = (0u32, 0u32);
        for y in (s.y0 - 2).max(0)..(s.y1 + 2).min(h) {
            for x in (s.x0 - 2).max(0)..(s.x1 + 2).min(w) {
                let i = (y * w + x) as usize;
                let mut prev = None;
                let mut any = false;
                for t in first..self.frames_seen {
                    let v = self.history[t % self.history.len()][i];
                    any |= v != 0;
                    if prev.is_some_and(|p| p != v) {
                        transitions += 1;
                    }
                    prev = Some(v);
                }
                union += u32::from(any);
            }
        }
        if union == 0 || frames < 2 { 0.0 } else { transitions as f32 / (union as f32 * (frames - 1) as f32) }
    }

    fn region(&self, kind: FireKind, s: &RegionStats, score: f32) -> FireRegion {
        let (w, h) = (self.size.width as f32, self.size.height as f32);
        FireRegion {
            kind,
            bbox: BBox::from_corners(s.x0 as f32 / w, s.y0 as f32 / h, s.x1 as f32 / w, s.y1 as f32 / h),
            score,
            area: s.area as f32 / (w * h),
        }
    }

    fn observe_smoke(&mut self, out: &mut Vec<FireRegion>) -> Result<(), VisionError> {
        let size = self.size;
        let found = self.smoke.update(&self.config, &self.small, &self.luma, size)?;
        for s in found {
            out.push(self.region(FireKind::Smoke, &s, 0.5));
        }
        Ok(())
    }
}

/// BT.601 full-range YCbCr, as OpenCV's COLOR_RGB2YCrCb computes it.
fn ycbcr(px: &[u8]) -> (u8, u8, u8) {
    let (r, g, b) = (px[0] as i32, px[1] as i32, px[2] as i32);
    let y = (299 * r + 587 * g + 114 * b + 500) / 1000;
    let cr = ((r - y) * 713 + 500) / 1000 + 128;
    let cb = ((b - y) * 564 + 500) / 1000 + 128;
    (y.clamp(0, 255) as u8, cb.clamp(0, 255) as u8, cr.clamp(0, 255) as u8)
}

fn classify_pixel(c: &FireDetectorConfig, px: &[u8], (my, mcb, mcr): (u8, u8, u8)) -> u8 {
    let (r, g, b) = (px[0], px[1], px[2]);
    let (y, cb, cr) = ycbcr(px);
    let chen = r >= c.flame_min_red && r >= g && g > b && r - b >= c.flame_min_red_minus_blue;
    let celik = y > cb && cr > cb && y > my && cr > mcr && cb < mcb && cr - cb >= c.flame_min_cr_minus_cb;
    let core = y >= c.core_min_luma && r >= c.core_min_red && g >= c.core_min_green && r >= g && g >= b;
    let mut class = 0;
    if core {
        class |= CORE;
    } else if chen && celik {
        class |= FRINGE;
    }
    if r >= 250 {
        class |= CLIPPED;
    }
    class
}

/// Sobel |dx| + |dy| of luma at pixel `i`; zero on the image border.
fn sobel(luma: &[u8], w: usize, i: usize) -> f32 {
    let (x, y) = (i % w, i / w);
    if x == 0 || y == 0 || x + 1 >= w || (y + 1) * w >= luma.len() {
        return 0.0;
    }
    let p = |dx: isize, dy: isize| luma[((y as isize + dy) as usize) * w + (x as isize + dx) as usize] as i32;
    let gx = p(1, -1) + 2 * p(1, 0) + p(1, 1) - p(-1, -1) - 2 * p(-1, 0) - p(-1, 1);
    let gy = p(-1, 1) + 2 * p(0, 1) + p(1, 1) - p(-1, -1) - 2 * p(0, -1) - p(1, -1);
    (gx.abs() + gy.abs()) as f32
}

fn accumulate(r: &mut RegionStats, px: &[u8], class: u8, edge: f32) {
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
fn flame_score(c: &FireDetectorConfig, s: &RegionStats, total: f32) -> Option<f32> {
    let n = s.area.max(1) as f32;
    let area = s.area as f32 / total;
    let core = s.core as f32 / n;
    let fringe = s.fringe as f32 / n;
    let clipped = s.clipped as f32 / n;
    let mean = s.gr_sum / n;
    let spread = (s.gr_sq / n - mean * mean).max(0.0).sqrt();
    let edge = s.edge_sum / n;
    let (bw, bh) = ((s.x1 - s.x0) as f32, (s.y1 - s.y0).max(1) as f32);
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

/// Smoke: persistent, low-saturation MOG2 foreground that softens the background's edges.
#[derive(Default)]
struct SmokeState {
    mog2: Option<Ptr<video::BackgroundSubtractorMOG2>>,
    fg: Mat,
    background: Mat,
    background_luma: Vec<u8>,
    persistence: Vec<u8>,
    mask: Mat,
    labels: Mat,
    stats: Mat,
    centroids: Mat,
    regions: Vec<(RegionStats, f32)>,
}

impl SmokeState {
    fn new(n: usize) -> Result<Self, VisionError> {
        // No shadow detection: shadows are grey moving regions too and would be counted as smoke.
        let mog2 = video::create_background_subtractor_mog2(200, 16.0, false)?;
        Ok(Self { mog2: Some(mog2), persistence: vec![0; n], background_luma: vec![0; n], ..Self::default() })
    }

    fn update(
        &mut self,
        c: &FireDetectorConfig,
        small: &Mat,
        luma: &[u8],
        size: Size,
    ) -> Result<Vec<RegionStats>, VisionError> {
        let Some(mog2) = self.mog2.as_mut() else { return Ok(Vec::new()) };
        video::BackgroundSubtractorMOG2Trait::apply(mog2, small, &mut self.fg, -1.0)?;
        mog2.get_background_image(&mut self.background)?;
        if self.mask.empty() {
            self.mask = Mat::new_rows_cols_with_default(size.height, size.width, CV_8UC1, Scalar::all(0.0))?;
        }
        self.mark_grey_foreground(c, small)?;
        self.background_luma_from_model()?;
        let n = imgproc::connected_components_with_stats(
            &self.mask,
            &mut self.labels,
            &mut self.stats,
            &mut self.centroids,
            8,
            CV_32S,
        )? as usize;
        self.gather(n, luma, size.width as usize)?;
        let total = (size.width * size.height) as f32;
        Ok(self
            .regions
            .iter()
            .skip(1)
            .filter(|(s, bg_edge)| {
                s.area as f32 / total >= c.smoke_min_area && s.edge_sum < c.smoke_max_edge_ratio * bg_edge.max(1.0)
            })
            .map(|(s, _)| *s)
            .collect())
    }

    /// Counts, per pixel, recent frames in which it was grey foreground; marks persistent ones.
    fn mark_grey_foreground(&mut self, c: &FireDetectorConfig, small: &Mat) -> Result<(), VisionError> {
        let rgb = small.data_bytes()?;
        let fg = self.fg.data_bytes()?;
        let mask = self.mask.data_bytes_mut()?;
        let cap = c.history.min(255) as u8;
        for (((px, &f), p), m) in rgb.chunks_exact(3).zip(fg).zip(self.persistence.iter_mut()).zip(mask.iter_mut()) {
            let (mx, mn) = (px[0].max(px[1]).max(px[2]), px[0].min(px[1]).min(px[2]));
            let sat = if mx == 0 { 0 } else { ((mx - mn) as u32 * 255 / mx as u32) as u8 };
            let (y, _, _) = ycbcr(px);
            let grey = sat <= c.smoke_max_saturation && (c.smoke_luma.0..=c.smoke_luma.1).contains(&y);
            *p = if f > 0 && grey { (*p + 1).min(cap) } else { p.saturating_sub(1) };
            *m = if *p >= c.smoke_min_persistence { 255 } else { 0 };
        }
        Ok(())
    }

    fn background_luma_from_model(&mut self) -> Result<(), VisionError> {
        let bg = self.background.data_bytes()?;
        for (px, l) in bg.chunks_exact(3).zip(self.background_luma.iter_mut()) {
            *l = ycbcr(px).0;
        }
        Ok(())
    }

    /// Per region: pixel count and summed edge energy of the frame and of the background model.
    fn gather(&mut self, n: usize, luma: &[u8], w: usize) -> Result<(), VisionError> {
        self.regions.clear();
        self.regions.resize(n, (RegionStats::default(), 0.0));
        for i in 1..n {
            let r = &mut self.regions[i].0;
            r.x0 = *self.stats.at_2d::<i32>(i as i32, imgproc::CC_STAT_LEFT)?;
            r.y0 = *self.stats.at_2d::<i32>(i as i32, imgproc::CC_STAT_TOP)?;
            r.x1 = r.x0 + *self.stats.at_2d::<i32>(i as i32, imgproc::CC_STAT_WIDTH)?;
            r.y1 = r.y0 + *self.stats.at_2d::<i32>(i as i32, imgproc::CC_STAT_HEIGHT)?;
        }
        for (i, &l) in self.labels.data_typed::<i32>()?.iter().enumerate() {
            if l > 0 {
                let (r, bg_edge) = &mut self.regions[l as usize];
                r.area += 1;
                r.edge_sum += sobel(luma, w, i);
                *bg_edge += sobel(&self.background_luma, w, i);
            }
        }
        Ok(())
    }
}
