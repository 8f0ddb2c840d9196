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
//!   background in some frames keeps its flicker history and is still reported;
//! - after a scene break (a cut, a pan, a gap of dropped frames: [`crate::SceneWatch`], which
//!   the caller runs once per frame for everything temporal) [`FireDetector::restart`] starts
//!   all temporal evidence over, since across it the whole picture "changed".

mod config;
mod pixels;
mod smoke;

use crate::{VisionError, frame_mat};
use opencv::core::{self as cvcore, CV_8UC1, Mat, Scalar, Size};
use opencv::imgproc;
use opencv::prelude::*;
use shaobing_core::{BBox, Frame};
use smoke::SmokeState;

pub use config::FireDetectorConfig;
use pixels::{Bounds, CORE, FRINGE, Labeller, RegionStats, Thresholds, accumulate, flame_score, sobel};

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

    /// After a scene break: the next frame is compared with nothing before it (buffers are
    /// kept; the background model, flicker history and tracks start over).
    pub fn restart(&mut self) -> Result<(), VisionError> {
        if self.size.width > 0 { self.reset(self.size) } else { Ok(()) }
    }

    /// Where it may be burning: the boxes of the flame-coloured regions followed now, confirmed
    /// or not (normalised). A flame model looks there first (see the analysis's views).
    pub fn watched(&self) -> Vec<BBox> {
        self.tracks.iter().map(|t| self.region(FireKind::Flame, &t.bounds, t.area, t.score).bbox).collect()
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
