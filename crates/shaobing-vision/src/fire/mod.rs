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
//!
//! Temporal evidence is made robust to what a fixed camera does to a still scene:
//! - pixels are classified on exposure-normalised values (the frame's mean luma against its
//!   running mean), so auto-exposure drift does not move colours across thresholds;
//! - classification has hysteresis: a pixel that was flame stays flame until it falls a margin
//!   below the thresholds, so sensor noise near a threshold does not toggle it;
//! - flicker is the area of mask change that is at least 3 px thick (a morphological opening of
//!   the frame-to-frame XOR), relative to the region's area: a boundary jittering by a pixel
//!   changes nothing, a swaying tongue does;
//! - candidates are tracked by box overlap, so a flame that merges with a flame-coloured
//!   background in some frames keeps its flicker history and is still reported.

mod smoke;

use crate::{VisionError, frame_mat};
use opencv::core::{self as cvcore, CV_8UC1, CV_32S, Mat, Rect, Scalar, Size};
use opencv::imgproc;
use opencv::prelude::*;
use shaobing_core::{BBox, Frame};
use smoke::SmokeState;

/// Thresholds of the detector. Colour values are 8-bit; areas are fractions of the frame.
#[derive(Debug, Clone)]
pub struct FireDetectorConfig {
    /// Frames are analysed at this width (aspect ratio kept): flames a few pixels wide at 320 px
    /// are far away, and the cost stays around a millisecond per frame.
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
    /// A pixel that was flame in the previous frame stays flame down to this far below the
    /// thresholds above (8-bit levels): sensor noise is a few levels, a moving tongue leaves.
    pub hysteresis: u8,
    /// Weight of the newest frame in the running mean luma that exposure is normalised to.
    pub exposure_rate: f32,
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
    /// Frames of mask change kept for the flicker test.
    pub history: usize,
    /// Frames needed before `observe` can confirm anything.
    pub min_frames: usize,
    /// Thick mask change per frame, as a fraction of the region's area, needed to call it
    /// flickering.
    pub min_flicker: f32,
    /// A tracked flame not found as a candidate is still judged for this many frames, while at
    /// least `coast_min_coverage` of its last area is flame-coloured inside its box.
    pub track_coast: usize,
    pub coast_min_coverage: f32,
    /// Smoke: foreground pixels at most this far from grey (max |Cr-128|, |Cb-128|) and with
    /// luma in this range.
    pub smoke_max_chroma: u8,
    pub smoke_luma: (u8, u8),
    /// Smoke: a pixel must be grey foreground in this many of the last `history` frames.
    pub smoke_min_persistence: u8,
    /// Smoke: smallest region, as a fraction of the frame.
    pub smoke_min_area: f32,
    /// Smoke: edge energy in the region relative to the background model must fall below this.
    pub smoke_max_edge_ratio: f32,
    /// Smoke: a region must be tracked this many frames and still cover this share of the box
    /// it was first seen in (smoke grows from its source; a passer-by walks away from it).
    pub smoke_min_track: usize,
    pub smoke_min_origin_overlap: f32,
    /// Smoke spreads: a track's area must have grown by this factor since it was first seen.
    /// The ghost a removed object leaves in the background model is grey, persistent and
    /// anchored too, but it only shrinks as the model absorbs it.
    pub smoke_min_growth: f32,
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
            hysteresis: 16,
            exposure_rate: 0.05,
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
            min_flicker: 0.02,
            track_coast: 16,
            coast_min_coverage: 0.5,
            smoke_max_chroma: 24,
            smoke_luma: (70, 230),
            smoke_min_persistence: 5,
            smoke_min_area: 0.01,
            smoke_max_edge_ratio: 0.8,
            smoke_min_track: 6,
            smoke_min_origin_overlap: 0.5,
            smoke_min_growth: 1.25,
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

/// A box in analysis pixels, end-exclusive.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
struct Bounds {
    x0: i32,
    y0: i32,
    x1: i32,
    y1: i32,
}

impl Bounds {
    fn from_stats(stats: &Mat, i: i32) -> Result<Self, VisionError> {
        let x0 = *stats.at_2d::<i32>(i, imgproc::CC_STAT_LEFT)?;
        let y0 = *stats.at_2d::<i32>(i, imgproc::CC_STAT_TOP)?;
        let x1 = x0 + *stats.at_2d::<i32>(i, imgproc::CC_STAT_WIDTH)?;
        let y1 = y0 + *stats.at_2d::<i32>(i, imgproc::CC_STAT_HEIGHT)?;
        Ok(Self { x0, y0, x1, y1 })
    }

    fn area(&self) -> i32 {
        (self.x1 - self.x0).max(0) * (self.y1 - self.y0).max(0)
    }

    fn overlap(&self, o: &Self) -> f32 {
        let w = (self.x1.min(o.x1) - self.x0.max(o.x0)).max(0);
        let h = (self.y1.min(o.y1) - self.y0.max(o.y0)).max(0);
        (w * h) as f32
    }

    fn iou(&self, o: &Self) -> f32 {
        let i = self.overlap(o);
        let u = (self.area() + o.area()) as f32 - i;
        if u <= 0.0 { 0.0 } else { i / u }
    }

    /// Grown by `frac` of its size (at least `min` px) on every side, clipped to the frame.
    fn grown(&self, frac: f32, min: i32, size: Size) -> Rect {
        let gx = (((self.x1 - self.x0) as f32 * frac) as i32).max(min);
        let gy = (((self.y1 - self.y0) as f32 * frac) as i32).max(min);
        let (x0, y0) = ((self.x0 - gx).max(0), (self.y0 - gy).max(0));
        let (x1, y1) = ((self.x1 + gx).min(size.width), (self.y1 + gy).min(size.height));
        Rect::new(x0, y0, (x1 - x0).max(0), (y1 - y0).max(0))
    }
}

/// Running sums over one connected region.
#[derive(Debug, Clone, Copy, Default)]
struct RegionStats {
    bounds: Bounds,
    area: u32,
    core: u32,
    fringe: u32,
    clipped: u32,
    gr_sum: f32,
    gr_sq: f32,
    edge_sum: f32,
}

/// A flame-coloured region that passed the single-image tests, in analysis pixels.
#[derive(Debug, Clone, Copy)]
struct Candidate {
    stats: RegionStats,
    score: f32,
}

/// A flame candidate followed over frames by box overlap.
#[derive(Debug, Clone, Copy)]
struct Track {
    bounds: Bounds,
    area: u32,
    score: f32,
    misses: usize,
}

/// Per-camera flame and smoke detector. Buffers are sized on the first frame and reused; a
/// change of frame size resets the temporal state.
pub struct FireDetector {
    config: FireDetectorConfig,
    size: Size,
    small: Mat,
    ycc: Mat,
    luma: Mat,
    class: Vec<u8>,
    mask: Mat,
    prev_mask: Mat,
    labeller: Labeller,
    regions: Vec<RegionStats>,
    candidates: Vec<Candidate>,
    /// Thick frame-to-frame mask change (0/255) of the last `history` frames.
    changes: Vec<Mat>,
    xor: Mat,
    tracks: Vec<Track>,
    mean_luma: f32,
    frames_seen: usize,
    smoke: SmokeState,
    luma_half: Mat,
    ycc_half: Mat,
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
            ycc: Mat::default(),
            luma: Mat::default(),
            class: Vec::new(),
            mask: Mat::default(),
            prev_mask: Mat::default(),
            labeller: Labeller::default(),
            regions: Vec::new(),
            candidates: Vec::new(),
            changes: Vec::new(),
            xor: Mat::default(),
            tracks: Vec::new(),
            mean_luma: 0.0,
            frames_seen: 0,
            smoke: SmokeState::default(),
            luma_half: Mat::default(),
            ycc_half: Mat::default(),
        }
    }

    pub fn config(&self) -> &FireDetectorConfig {
        &self.config
    }

    /// One frame (RGB). Returns the regions that look like flame or smoke in this frame and whose
    /// temporal evidence so far (flicker, persistent spreading grey foreground) supports it.
    pub fn observe(&mut self, frame: &Frame) -> Result<Vec<FireRegion>, VisionError> {
        self.analyse(frame, true)?;
        self.push_change()?;
        let matched = self.update_tracks();
        let mut out = Vec::new();
        if self.frames_seen >= self.config.min_frames.max(2) {
            for (t, cand) in self.tracks.iter().zip(&matched) {
                let flicker = self.flicker(&t.bounds, t.area)?;
                if flicker < self.config.min_flicker {
                    continue;
                }
                let score = |s: f32| (s * (0.5 + flicker)).min(1.0);
                match cand {
                    Some(c) => out.push(self.region(FireKind::Flame, &c.bounds, c.area, score(c.score))),
                    None => {
                        if self.coverage(&t.bounds)? >= self.config.coast_min_coverage * t.area as f32 {
                            out.push(self.region(FireKind::Flame, &t.bounds, t.area, score(t.score)));
                        }
                    }
                }
            }
        }
        // Smoke is judged at half the analysis size: plumes are large, and the background model
        // per pixel is most of a camera's memory.
        imgproc::pyr_down_def(&self.luma, &mut self.luma_half)?;
        imgproc::pyr_down_def(&self.ycc, &mut self.ycc_half)?;
        let half = self.luma_half.size()?;
        for (b, area) in self.smoke.update(&self.config, &self.luma_half, &self.ycc_half, half)? {
            let full = Bounds { x0: b.x0 * 2, y0: b.y0 * 2, x1: b.x1 * 2, y1: b.y1 * 2 };
            out.push(self.region(FireKind::Smoke, &full, area * 4, 0.5));
        }
        std::mem::swap(&mut self.mask, &mut self.prev_mask);
        Ok(out)
    }

    /// Single-image colour/texture test without temporal evidence (photos, `detect`).
    pub fn candidates(&mut self, frame: &Frame) -> Result<Vec<FireRegion>, VisionError> {
        self.analyse(frame, false)?;
        Ok(self
            .candidates
            .iter()
            .map(|c| self.region(FireKind::Flame, &c.stats.bounds, c.stats.area, c.score))
            .collect())
    }

    /// Resizes, classifies pixels, labels regions and keeps the flame-like ones in `candidates`.
    /// `temporal`: normalise exposure and apply hysteresis against the previous frame.
    fn analyse(&mut self, frame: &Frame, temporal: bool) -> Result<(), VisionError> {
        self.resize(frame)?;
        self.classify(temporal)?;
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
        // OpenCV's vectorised conversion; the channel order is Y, Cr, Cb.
        imgproc::cvt_color_def(&self.small, &mut self.ycc, imgproc::COLOR_RGB2YCrCb)?;
        cvcore::extract_channel(&self.ycc, &mut self.luma, 0)?;
        Ok(())
    }

    /// New analysis size: every buffer and all temporal state start over.
    fn reset(&mut self, size: Size) -> Result<(), VisionError> {
        let n = (size.width * size.height) as usize;
        let zeros = || Mat::new_rows_cols_with_default(size.height, size.width, CV_8UC1, Scalar::all(0.0));
        self.size = size;
        self.class = vec![0; n];
        self.mask = zeros()?;
        self.prev_mask = zeros()?;
        self.labeller = Labeller::new(imgproc::MORPH_RECT, 3)?;
        self.changes = (0..self.config.history.max(2)).map(|_| zeros()).collect::<Result<_, _>>()?;
        self.tracks.clear();
        self.mean_luma = 0.0;
        self.frames_seen = 0;
        let half = ((size.width + 1) / 2 * ((size.height + 1) / 2)) as usize;
        self.smoke = SmokeState::new(half)?;
        Ok(())
    }

    /// Marks fringe, core and clipped pixels (Chen's RGB rule with Celik's YCbCr rule relative
    /// to the frame means) and fills the flame mask.
    fn classify(&mut self, temporal: bool) -> Result<(), VisionError> {
        let means = cvcore::mean_def(&self.ycc)?;
        let (my, mcr, mcb) = (means[0] as f32, means[1] as f32, means[2] as f32);
        // Exposure gain back to the running mean brightness, in 1/256 steps. Stills (and the
        // first frame) are taken as they are.
        let gain =
            if temporal && self.frames_seen > 0 && my > 1.0 { (self.mean_luma / my).clamp(0.5, 2.0) } else { 1.0 };
        if temporal {
            let rate = if self.frames_seen == 0 { 1.0 } else { self.config.exposure_rate };
            self.mean_luma += (my - self.mean_luma) * rate;
        }
        let t = Thresholds::new(&self.config, (my as u8, mcb as u8, mcr as u8), (gain * 256.0) as u32);
        let relaxed = t.relaxed(if temporal { self.config.hysteresis } else { 0 });
        let rgb = self.small.data_bytes()?;
        let ycc = self.ycc.data_bytes()?;
        let prev = self.prev_mask.data_bytes()?;
        let mask = self.mask.data_bytes_mut()?;
        let pixels = rgb.chunks_exact(3).zip(ycc.chunks_exact(3)).zip(prev).zip(self.class.iter_mut()).zip(mask);
        for ((((px, yc), &p), class), m) in pixels {
            let th = if temporal && p != 0 { &relaxed } else { &t };
            *class = th.classify(px, yc);
            *m = if *class & (FRINGE | CORE) != 0 { 255 } else { 0 };
        }
        Ok(())
    }

    /// Closes one-pixel gaps, labels the flame mask and gathers per-region sums.
    fn label(&mut self) -> Result<(), VisionError> {
        let n = self.labeller.label(&self.mask)?;
        self.regions.clear();
        self.regions.resize(n, RegionStats::default());
        for i in 1..n {
            self.regions[i].bounds = Bounds::from_stats(&self.labeller.stats, i as i32)?;
        }
        let labels = self.labeller.labels.data_typed::<i32>()?;
        let rgb = self.small.data_bytes()?;
        let luma = self.luma.data_bytes()?;
        let w = self.size.width as usize;
        for (i, ((&l, px), &class)) in labels.iter().zip(rgb.chunks_exact(3)).zip(&self.class).enumerate() {
            if l > 0
                && let Some(r) = self.regions.get_mut(l as usize)
            {
                accumulate(r, px, class, sobel(luma, w, i));
            }
        }
        Ok(())
    }

    /// Stores this frame's thick mask change: the XOR with the previous mask, opened with a
    /// 3x3 square so that one-pixel boundary jitter and isolated noise pixels drop out.
    fn push_change(&mut self) -> Result<(), VisionError> {
        let slot = self.frames_seen % self.changes.len();
        if self.frames_seen == 0 {
            self.changes[slot].set_to_def(&Scalar::all(0.0))?;
        } else {
            cvcore::bitwise_xor_def(&self.mask, &self.prev_mask, &mut self.xor)?;
            imgproc::morphology_ex_def(&self.xor, &mut self.changes[slot], imgproc::MORPH_OPEN, &self.labeller.kernel)?;
        }
        self.frames_seen += 1;
        Ok(())
    }

    /// Thick mask change per frame around a region (its box grown by a quarter, since tongues
    /// sway out of it), relative to the region's area. The third-largest per-frame value of
    /// the kept frames (with 8 kept): a flame changes shape again and again, while an exposure
    /// jump and its return, or a light switched on, change it once or twice.
    fn flicker(&self, b: &Bounds, area: u32) -> Result<f32, VisionError> {
        let frames = (self.frames_seen - 1).min(self.changes.len());
        let rect = b.grown(0.25, 2, self.size);
        if frames == 0 || area == 0 || rect.area() == 0 {
            return Ok(0.0);
        }
        let mut per_frame = [0.0f32; 64];
        let n = frames.min(per_frame.len());
        for (k, v) in per_frame.iter_mut().take(n).enumerate() {
            let slot = (self.frames_seen - 1 - k) % self.changes.len();
            *v = cvcore::sum_elems(&Mat::roi(&self.changes[slot], rect)?)?[0] as f32 / 255.0;
        }
        let window = &mut per_frame[..n];
        window.sort_by(f32::total_cmp);
        Ok(window[n - 1 - (n - 1).min(2)] / area as f32)
    }

    /// Flame-coloured pixels inside a box in this frame.
    fn coverage(&self, b: &Bounds) -> Result<f32, VisionError> {
        let rect = b.grown(0.0, 0, self.size);
        if rect.area() == 0 {
            return Ok(0.0);
        }
        Ok(cvcore::count_non_zero(&Mat::roi(&self.mask, rect)?)? as f32)
    }

    /// Greedy IoU association of this frame's candidates with the tracks; returns, per track,
    /// the candidate's box, area and score if it was found in this frame.
    fn update_tracks(&mut self) -> Vec<Option<TrackHit>> {
        let mut hits: Vec<Option<TrackHit>> = vec![None; self.tracks.len()];
        for c in &self.candidates {
            let b = c.stats.bounds;
            let best = self
                .tracks
                .iter()
                .enumerate()
                .filter(|(i, _)| hits[*i].is_none())
                .map(|(i, t)| (i, t.bounds.iou(&b)))
                .filter(|&(_, iou)| iou >= 0.2)
                .max_by(|a, b| a.1.total_cmp(&b.1));
            let hit = TrackHit { bounds: b, area: c.stats.area, score: c.score };
            let track = Track { bounds: b, area: c.stats.area, score: c.score, misses: 0 };
            match best {
                Some((i, _)) => {
                    self.tracks[i] = track;
                    hits[i] = Some(hit);
                }
                None => {
                    self.tracks.push(track);
                    hits.push(Some(hit));
                }
            }
        }
        for (t, h) in self.tracks.iter_mut().zip(&hits) {
            if h.is_none() {
                t.misses += 1;
            }
        }
        let coast = self.config.track_coast;
        let mut keep = self.tracks.iter().map(|t| t.misses <= coast);
        hits.retain(|_| keep.next().unwrap_or(false));
        self.tracks.retain(|t| t.misses <= coast);
        hits
    }

    fn region(&self, kind: FireKind, b: &Bounds, area: u32, score: f32) -> FireRegion {
        let (w, h) = (self.size.width as f32, self.size.height as f32);
        FireRegion {
            kind,
            bbox: BBox::from_corners(b.x0 as f32 / w, b.y0 as f32 / h, b.x1 as f32 / w, b.y1 as f32 / h),
            score,
            area: area as f32 / (w * h),
        }
    }
}

#[derive(Debug, Clone, Copy)]
struct TrackHit {
    bounds: Bounds,
    area: u32,
    score: f32,
}

/// The pixel thresholds of one frame: absolute ones apply to exposure-normalised values,
/// Celik's mean comparisons to raw ones (both sides share the exposure).
#[derive(Debug, Clone, Copy)]
struct Thresholds {
    red: u8,
    red_minus_blue: u8,
    cr_minus_cb: u8,
    core_luma: u8,
    core_red: u8,
    core_green: u8,
    means: (u8, u8, u8),
    gain: u32,
}

impl Thresholds {
    fn new(c: &FireDetectorConfig, means: (u8, u8, u8), gain: u32) -> Self {
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

    fn relaxed(&self, by: u8) -> Self {
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
    fn norm(&self, v: u8) -> u8 {
        if v >= 250 { 255 } else { ((v as u32 * self.gain) >> 8).min(255) as u8 }
    }

    /// `px` is RGB, `yc` is Y, Cr, Cb of the same pixel.
    fn classify(&self, px: &[u8], yc: &[u8]) -> u8 {
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
fn sobel(luma: &[u8], w: usize, i: usize) -> f32 {
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
struct Labeller {
    kernel: Mat,
    closed: Mat,
    labels: Mat,
    stats: Mat,
    centroids: Mat,
}

impl Labeller {
    /// Closing with a `shape` (`imgproc::MORPH_*`) of `size` x `size` pixels.
    fn new(shape: i32, size: i32) -> Result<Self, VisionError> {
        let kernel = imgproc::get_structuring_element_def(shape, Size::new(size, size))?;
        Ok(Self { kernel, ..Self::default() })
    }

    /// Labels `mask`; returns the number of labels (background included). Region `i`'s box
    /// and area are in row `i` of `stats`, each pixel's label in `labels`.
    fn label(&mut self, mask: &Mat) -> Result<usize, VisionError> {
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
