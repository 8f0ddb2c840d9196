//! The motion gate: per-camera background subtraction on a small grey copy of the frame, so
//! inference (tens of milliseconds) runs only when something in the picture changed.

use crate::{VisionError, frame_mat};
use opencv::core::{BORDER_CONSTANT, CV_8UC1, Mat, Point as CvPoint, Ptr, Scalar, Size, Vector};
use opencv::imgproc;
use opencv::prelude::*;
use opencv::video::{BackgroundSubtractorMOG2, create_background_subtractor_mog2};
use shaobing_core::{Frame, Polygon};

#[derive(Debug, Clone)]
pub struct MotionGateConfig {
    /// Width the frame is shrunk to before subtraction; motion of a person is still tens of
    /// pixels at 160, while the cost is a fraction of a millisecond.
    pub width: u32,
    /// Frames of history the background model keeps.
    pub history: i32,
    /// Squared Mahalanobis distance above which a pixel is foreground (OpenCV's default 16 is
    /// tuned for clean video; street cameras' compression noise needs more).
    pub var_threshold: f64,
}

impl Default for MotionGateConfig {
    fn default() -> Self {
        Self { width: 160, history: 300, var_threshold: 25.0 }
    }
}

/// Background subtraction state of one camera; buffers are reused from frame to frame.
pub struct MotionGate {
    config: MotionGateConfig,
    masks: Vec<Polygon>,
    focus: Vec<Polygon>,
    model: Ptr<BackgroundSubtractorMOG2>,
    small: Mat,
    grey: Mat,
    foreground: Mat,
    opened: Mat,
    kernel: Mat,
    /// Pixels that count (255) and masked-out ones (0), at the small size; rebuilt when the
    /// frame size changes.
    allowed: Mat,
}

impl std::fmt::Debug for MotionGate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MotionGate").field("config", &self.config).finish_non_exhaustive()
    }
}

impl MotionGate {
    /// `masks` are normalised polygons whose motion never counts (a flag, a tree in the wind);
    /// when `focus` is not empty, only motion inside it counts (the zones the rules judge: a
    /// pedestrian crossing the square is no reason to look for parked vans at the kerb).
    pub fn new(config: MotionGateConfig, masks: Vec<Polygon>, focus: Vec<Polygon>) -> Result<Self, VisionError> {
        let mut model = create_background_subtractor_mog2(config.history, config.var_threshold, false)?;
        // Three Gaussians per pixel instead of five: enough for a street, 40 % less memory.
        model.set_n_mixtures(3)?;
        let kernel = imgproc::get_structuring_element(imgproc::MORPH_ELLIPSE, Size::new(3, 3), CvPoint::new(-1, -1))?;
        Ok(Self {
            config,
            masks,
            focus,
            model,
            small: Mat::default(),
            grey: Mat::default(),
            foreground: Mat::default(),
            opened: Mat::default(),
            kernel,
            allowed: Mat::default(),
        })
    }

    /// Learns the frame into the background and returns the fraction of (unmasked) pixels that
    /// moved. The first frame of a camera is all motion.
    pub fn moving_fraction(&mut self, frame: &Frame) -> Result<f32, VisionError> {
        let src = frame_mat(frame)?;
        let width = self.config.width.min(frame.width).max(8) as i32;
        let height = ((frame.height as f32 * width as f32 / frame.width as f32).round() as i32).max(1);
        imgproc::resize(&src, &mut self.small, Size::new(width, height), 0.0, 0.0, imgproc::INTER_AREA)?;
        imgproc::cvt_color_def(&self.small, &mut self.grey, imgproc::COLOR_RGB2GRAY)?;
        BackgroundSubtractorMOG2Trait::apply(&mut self.model, &self.grey, &mut self.foreground, -1.0)?;
        // An opening removes single-pixel sparkle from compression noise and leaves blobs.
        imgproc::morphology_ex(
            &self.foreground,
            &mut self.opened,
            imgproc::MORPH_OPEN,
            &self.kernel,
            CvPoint::new(-1, -1),
            1,
            BORDER_CONSTANT,
            imgproc::morphology_default_border_value()?,
        )?;
        self.refresh_allowed(width, height)?;
        let counted = if self.masks.is_empty() && self.focus.is_empty() {
            opencv::core::count_non_zero(&self.opened)?
        } else {
            opencv::core::bitwise_and(&self.opened, &self.allowed, &mut self.foreground, &opencv::core::no_array())?;
            opencv::core::count_non_zero(&self.foreground)?
        };
        let area = opencv::core::count_non_zero(&self.allowed)?.max(1);
        Ok(counted as f32 / area as f32)
    }

    fn refresh_allowed(&mut self, width: i32, height: i32) -> Result<(), VisionError> {
        if self.allowed.cols() == width && self.allowed.rows() == height {
            return Ok(());
        }
        let everywhere = if self.focus.is_empty() { 255.0 } else { 0.0 };
        self.allowed = Mat::new_rows_cols_with_default(height, width, CV_8UC1, Scalar::all(everywhere))?;
        fill(&mut self.allowed, &self.focus, 255.0)?;
        fill(&mut self.allowed, &self.masks, 0.0)
    }
}

fn fill(image: &mut Mat, polygons: &[Polygon], value: f64) -> Result<(), VisionError> {
    let (width, height) = (image.cols() as f32, image.rows() as f32);
    for polygon in polygons {
        let points: Vector<CvPoint> = polygon
            .points()
            .iter()
            .map(|p| CvPoint::new((p.x * width).round() as i32, (p.y * height).round() as i32))
            .collect();
        let polys: Vector<Vector<CvPoint>> = std::iter::once(points).collect();
        imgproc::fill_poly_def(image, &polys, Scalar::all(value))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use shaobing_core::{CameraId, Point, UnixMillis};

    /// A grey street with a dark square at `x` (pixels), 160x120.
    fn scene(x: usize) -> Frame {
        let (w, h) = (160usize, 120usize);
        let mut rgb = vec![128u8; w * h * 3];
        for row in 40..70 {
            for col in x..x + 20 {
                rgb[(row * w + col) * 3..(row * w + col) * 3 + 3].copy_from_slice(&[20, 20, 20]);
            }
        }
        Frame {
            camera: CameraId("t".into()),
            seq: 0,
            captured_at: UnixMillis(0),
            width: w as u32,
            height: h as u32,
            rgb: rgb.into(),
        }
    }

    #[test]
    fn still_scene_goes_quiet_and_a_moving_object_wakes_it() {
        let mut gate = MotionGate::new(MotionGateConfig::default(), Vec::new(), Vec::new()).unwrap();
        assert!(gate.moving_fraction(&scene(10)).unwrap() > 0.5, "first frame is all new");
        let mut last = 1.0;
        for _ in 0..30 {
            last = gate.moving_fraction(&scene(10)).unwrap();
        }
        assert!(last < 0.001, "still scene: {last}");
        let moved = gate.moving_fraction(&scene(100)).unwrap();
        assert!(moved > 0.02, "moved square: {moved}");
    }

    fn right_half() -> Polygon {
        Polygon::new(vec![
            Point { x: 0.5, y: 0.0 },
            Point { x: 1.0, y: 0.0 },
            Point { x: 1.0, y: 1.0 },
            Point { x: 0.5, y: 1.0 },
        ])
        .unwrap()
    }

    #[test]
    fn only_motion_in_the_focus_counts() {
        let mut gate = MotionGate::new(MotionGateConfig::default(), Vec::new(), vec![right_half()]).unwrap();
        for i in 0..30 {
            gate.moving_fraction(&scene(10 + (i % 2) * 20)).unwrap();
        }
        let outside = gate.moving_fraction(&scene(30)).unwrap();
        assert!(outside < 0.001, "square flapping in the left half, outside the focus: {outside}");
        let inside = gate.moving_fraction(&scene(110)).unwrap();
        assert!(inside > 0.02, "square appearing in the right half: {inside}");
    }

    #[test]
    fn motion_inside_a_mask_does_not_count() {
        let mut gate = MotionGate::new(MotionGateConfig::default(), vec![right_half()], Vec::new()).unwrap();
        for i in 0..30 {
            gate.moving_fraction(&scene(100 + (i % 2) * 20)).unwrap();
        }
        let inside = gate.moving_fraction(&scene(120)).unwrap();
        assert!(inside < 0.001, "square flapping in the masked right half: {inside}");
        let outside = gate.moving_fraction(&scene(10)).unwrap();
        assert!(outside > 0.02, "square appearing on the left: {outside}");
    }
}
