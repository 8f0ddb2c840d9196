//! Something new stands here: what a slow background has not absorbed and a fast one has.
//!
//! The dual-foreground method (F. Porikli, Y. Ivanov, T. Haga, "Robust abandoned object
//! detection using dual foregrounds", EURASIP J. Adv. Signal Process. 2008): two running
//! backgrounds of the same picture, one that learns in seconds and one that learns in many
//! minutes. A pixel that differs from the slow one but matches the fast one changed a while
//! ago and has stood still since: a stall set up, goods piled, rubbish dumped, a tricycle
//! parked. A pixel that differs from both is moving (people walking past); one that matches
//! both is the street. It needs no class model: what it is, the detectors' context says (a
//! person beside it, a cycle under it).
//!
//! Both models learn by the frames' own timestamps, so the same clip analysed at any rate or
//! speed gives the same regions. The slow model never learns where a region stands: a stall
//! that stays for hours stays a region until it leaves (then the picture matches the slow
//! model again there). A global change of brightness (a cloud, auto-exposure) is taken out
//! before comparing with the slow model; after a scene cut the caller restarts the watch, and
//! the new scene is the background (so is whatever stood there when the camera started).

use crate::{VisionError, frame_mat};
use opencv::core::{self as cvcore, Mat, Point, Size};
use opencv::imgproc;
use opencv::prelude::*;
use shaobing_core::{BBox, Frame, UnixMillis};

/// Width the picture is watched at: a 1080p camera's 1% of width is 3 pixels here.
const WIDTH: i32 = 320;
/// Longest interval a single update spans: longer than a slow key-frame camera's GOP (so the
/// models learn at the same pace on it), shorter than a stalled stream's silence, across
/// which the fast model would jump to the newest picture and call everything that changed
/// meanwhile still.
const MAX_STEP_SECS: f64 = 10.0;

#[derive(Debug, Clone, PartialEq)]
pub struct StillWatchConfig {
    /// Time constant of the fast background: an object standing still about twice this long
    /// becomes a region.
    pub fast_secs: f64,
    /// Time constant of the slow background (where no region stands): how quickly the street
    /// itself may change (shadows moving with the sun) without becoming a region.
    pub slow_secs: f64,
    /// Grey levels (of 255) a pixel must differ by to count as changed.
    pub level: f32,
    /// Smallest and largest region, as shares of the picture.
    pub min_area: f32,
    pub max_area: f32,
}

impl Default for StillWatchConfig {
    fn default() -> Self {
        Self { fast_secs: 5.0, slow_secs: 900.0, level: 25.0, min_area: 0.0015, max_area: 0.2 }
    }
}

/// A newly stationary region, normalised to the frame.
#[derive(Debug, Clone, PartialEq)]
pub struct StillRegion {
    pub bbox: BBox,
    /// Share of the box its pixels fill.
    pub fill: f32,
}

/// A region followed over frames, so that its box does not jitter with pixel noise.
#[derive(Debug, Clone)]
struct Held {
    bbox: BBox,
    fill: f32,
    misses: u32,
}

/// A region's box, and the share of its box (or, before merging, of the picture) it fills.
type Found = (BBox, f32);

/// Regions standing this close (in heights of the taller), feet on the same ground, are one
/// thing: the goods, table and vendor of one stall, a pile of several bags.
const NEAR: f32 = 0.25;

/// Unites regions that stand next to each other; each with the share of the picture its
/// pixels cover.
fn merge_near(mut regions: Vec<Found>) -> Vec<Found> {
    let near = |a: &BBox, b: &BBox| {
        let h = (a.y2 - a.y1).max(b.y2 - b.y1);
        let gap = (b.x1 - a.x2).max(a.x1 - b.x2).max(b.y1 - a.y2).max(a.y1 - b.y2);
        gap <= NEAR * h && (a.y2 - b.y2).abs() <= 0.5 * h
    };
    let mut i = 0;
    while i < regions.len() {
        let found = (i + 1..regions.len()).find(|&j| near(&regions[i].0, &regions[j].0));
        match found {
            Some(j) => {
                let (b, share) = regions.swap_remove(j);
                let a = regions[i].0;
                let union = BBox::from_corners(a.x1.min(b.x1), a.y1.min(b.y1), a.x2.max(b.x2), a.y2.max(b.y2));
                regions[i] = (union, regions[i].1 + share);
            }
            None => i += 1,
        }
    }
    regions
}

/// Per-camera watch for newly stationary things.
#[derive(Default)]
pub struct StillWatch {
    config: StillWatchConfig,
    small: Mat,
    grey: Mat,
    fast: Vec<f32>,
    slow: Vec<f32>,
    size: (i32, i32),
    last: Option<UnixMillis>,
    held: Vec<Held>,
}

impl std::fmt::Debug for StillWatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StillWatch").field("config", &self.config).field("held", &self.held.len()).finish()
    }
}

impl StillWatch {
    pub fn new(config: StillWatchConfig) -> Self {
        Self { config, ..Self::default() }
    }

    /// After a scene cut: the next picture is the new background.
    pub fn restart(&mut self) {
        self.fast.clear();
        self.slow.clear();
        self.held.clear();
        self.last = None;
    }

    /// One frame; returns the regions that stand still now and did not before.
    pub fn observe(&mut self, frame: &Frame) -> Result<Vec<StillRegion>, VisionError> {
        let grey = self.grey_of(frame)?;
        let dt = self.last.replace(frame.captured_at).map(|t| frame.captured_at.since(t).as_secs_f64());
        let (Some(dt), false) = (dt, self.fast.len() != grey.len()) else {
            self.fast = grey.clone();
            self.slow = grey;
            self.held.clear();
            return Ok(Vec::new());
        };
        let dt = dt.min(MAX_STEP_SECS);
        let (mask, moving) = self.classify(&grey);
        let (regions, labels) = self.regions(mask)?;
        self.learn(&grey, &moving, &labels, dt);
        self.hold(regions);
        Ok(self.held.iter().filter(|h| h.misses == 0).map(|h| StillRegion { bbox: h.bbox, fill: h.fill }).collect())
    }

    fn grey_of(&mut self, frame: &Frame) -> Result<Vec<f32>, VisionError> {
        let src = frame_mat(frame)?;
        let h = ((frame.height as f32 * WIDTH as f32 / frame.width.max(1) as f32).round() as i32).max(1);
        imgproc::resize(&src, &mut self.small, Size::new(WIDTH, h), 0.0, 0.0, imgproc::INTER_AREA)?;
        imgproc::cvt_color_def(&self.small, &mut self.grey, imgproc::COLOR_RGB2GRAY)?;
        let mut blurred = Mat::default();
        imgproc::gaussian_blur_def(&self.grey, &mut blurred, Size::new(3, 3), 0.0)?;
        self.size = (WIDTH, h);
        Ok(blurred.data_bytes()?.iter().map(|&p| f32::from(p)).collect())
    }

    /// Still pixels (0/255) and moving ones. The slow model is compared after taking out the
    /// picture's overall change of brightness.
    fn classify(&self, grey: &[f32]) -> (Vec<u8>, Vec<bool>) {
        let mean = |v: &[f32]| v.iter().sum::<f32>() / v.len().max(1) as f32;
        let gain = mean(grey) / mean(&self.slow).max(1.0);
        let level = self.config.level;
        let mut still = vec![0u8; grey.len()];
        let mut moving = vec![false; grey.len()];
        for (i, &g) in grey.iter().enumerate() {
            let (fast, slow) = (self.fast[i], self.slow[i] * gain);
            moving[i] = (g - fast).abs() > level;
            if !moving[i] && (g - slow).abs() > level && (fast - slow).abs() > level {
                still[i] = 255;
            }
        }
        (still, moving)
    }

    /// Connected regions of still pixels of a plausible size, and each pixel's region (0:
    /// none, or one too small or too large).
    fn regions(&self, still: Vec<u8>) -> Result<(Vec<Found>, Vec<bool>), VisionError> {
        let (w, h) = self.size;
        let flat = Mat::from_slice(&still)?;
        let mask = flat.reshape(1, h)?;
        let kernel = imgproc::get_structuring_element(imgproc::MORPH_RECT, Size::new(3, 3), Point::new(-1, -1))?;
        let (mut opened, mut closed) = (Mat::default(), Mat::default());
        let anchor = Point::new(-1, -1);
        let border = imgproc::morphology_default_border_value()?;
        imgproc::morphology_ex(
            &mask,
            &mut opened,
            imgproc::MORPH_OPEN,
            &kernel,
            anchor,
            1,
            cvcore::BORDER_CONSTANT,
            border,
        )?;
        imgproc::morphology_ex(
            &opened,
            &mut closed,
            imgproc::MORPH_CLOSE,
            &kernel,
            anchor,
            2,
            cvcore::BORDER_CONSTANT,
            border,
        )?;
        let (mut labels, mut stats, mut centroids) = (Mat::default(), Mat::default(), Mat::default());
        let n = imgproc::connected_components_with_stats(
            &closed,
            &mut labels,
            &mut stats,
            &mut centroids,
            8,
            cvcore::CV_32S,
        )?;
        let total = (w * h) as f32;
        let mut kept = vec![false; n.max(1) as usize];
        let mut out = Vec::new();
        for label in 1..n {
            let stat = |c: i32| stats.at_2d::<i32>(label, c).copied();
            let (x, y, bw, bh, area) = (
                stat(imgproc::CC_STAT_LEFT)?,
                stat(imgproc::CC_STAT_TOP)?,
                stat(imgproc::CC_STAT_WIDTH)?,
                stat(imgproc::CC_STAT_HEIGHT)?,
                stat(imgproc::CC_STAT_AREA)?,
            );
            let share = area as f32 / total;
            if share < self.config.min_area || share > self.config.max_area {
                continue;
            }
            kept[label as usize] = true;
            let (fw, fh) = (w as f32, h as f32);
            let bbox = BBox::from_corners(x as f32 / fw, y as f32 / fh, (x + bw) as f32 / fw, (y + bh) as f32 / fh);
            out.push((bbox, share));
        }
        let per_pixel = labels.data_typed::<i32>()?.iter().map(|&l| kept[l.max(0) as usize]).collect();
        let merged = merge_near(out).into_iter().map(|(b, share)| (b, (share / b.area().max(f32::EPSILON)).min(1.0)));
        Ok((merged.collect(), per_pixel))
    }

    /// The fast model learns everywhere; the slow one where nothing moves and no region stands.
    fn learn(&mut self, grey: &[f32], moving: &[bool], in_region: &[bool], dt: f64) {
        let fast = (1.0 - (-dt / self.config.fast_secs).exp()) as f32;
        let slow = (1.0 - (-dt / self.config.slow_secs).exp()) as f32;
        for (i, &g) in grey.iter().enumerate() {
            self.fast[i] += fast * (g - self.fast[i]);
            if !moving[i] && !in_region[i] {
                self.slow[i] += slow * (g - self.slow[i]);
            }
        }
    }

    /// Keeps a region's box while what is seen now is much the same box, so that rules see one
    /// object standing still rather than a box breathing with the pixels; a region that grew
    /// or shrank a lot (half absorbed when first seen) takes the new box.
    fn hold(&mut self, regions: Vec<Found>) {
        for h in &mut self.held {
            h.misses += 1;
        }
        for (bbox, fill) in regions {
            match self.held.iter_mut().find(|h| h.bbox.iou(&bbox) >= 0.3) {
                Some(h) => {
                    if h.bbox.iou(&bbox) < 0.7 {
                        h.bbox = bbox;
                    }
                    h.misses = 0;
                    h.fill = fill;
                }
                None => self.held.push(Held { bbox, fill, misses: 0 }),
            }
        }
        self.held.retain(|h| h.misses <= 2);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn things_standing_side_by_side_are_one_apart_they_are_two() {
        let b = |x1, y1, x2, y2| (BBox::from_corners(x1, y1, x2, y2), 0.01);
        // Two chairs and their vendor a few pixels apart on one pavement; a bag far off.
        let merged = merge_near(vec![
            b(0.20, 0.6, 0.30, 0.8),
            b(0.32, 0.6, 0.42, 0.8),
            b(0.43, 0.5, 0.48, 0.81),
            b(0.8, 0.6, 0.85, 0.7),
        ]);
        assert_eq!(merged.len(), 2, "{merged:?}");
        assert_eq!(merged[0].0, BBox::from_corners(0.20, 0.5, 0.48, 0.81));
        assert!((merged[0].1 - 0.03).abs() < 1e-6, "the pixels of all three");
        // One thing standing on the pavement, one hanging over it in the picture: two.
        assert_eq!(merge_near(vec![b(0.2, 0.6, 0.3, 0.8), b(0.2, 0.3, 0.3, 0.58)]).len(), 2);
    }
}
