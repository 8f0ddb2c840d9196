use crate::{VisionError, frame_mat};
use opencv::core::{CV_8UC3, Mat, Rect, Scalar, Size};
use opencv::imgproc;
use opencv::prelude::*;
use shaobing_core::{BBox, Frame};

/// Grey padding, the value YOLO-family letterboxes use; neutral for most detectors.
const PAD: f64 = 114.0;

/// Maps model-input pixel coordinates back to the frame.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LetterboxTransform {
    pub scale_x: f32,
    pub scale_y: f32,
    pub pad_x: f32,
    pub pad_y: f32,
    pub frame_width: u32,
    pub frame_height: u32,
}

impl LetterboxTransform {
    /// A box in model-input pixels, as normalised frame coordinates.
    pub fn to_frame(&self, x1: f32, y1: f32, x2: f32, y2: f32) -> BBox {
        let fx = |x: f32| (x - self.pad_x) / self.scale_x / self.frame_width as f32;
        let fy = |y: f32| (y - self.pad_y) / self.scale_y / self.frame_height as f32;
        BBox::from_corners(fx(x1), fy(y1), fx(x2), fy(y2))
    }
}

/// How a frame is fitted into the model's input: the way the model was trained and its
/// reference code does it, or boxes come out shifted and squashed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Fit {
    /// Keep the aspect ratio, centre, pad with grey (YOLO-family models).
    #[default]
    Letterbox,
    /// Resize to the input size, aspect ratio not kept (TF Object Detection API, CenterNet).
    Stretch,
}

/// Fits frames into a fixed model input, letterboxed or stretched.
///
/// The canvas is allocated once and reused: the hot path does no per-frame allocation
/// as long as the frame size stays the same.
#[derive(Debug)]
pub struct Letterbox {
    width: i32,
    height: i32,
    fit: Fit,
    canvas: Mat,
}

impl Letterbox {
    pub fn new(width: u32, height: u32) -> Result<Self, VisionError> {
        Self::with_fit(width, height, Fit::Letterbox)
    }

    pub fn with_fit(width: u32, height: u32, fit: Fit) -> Result<Self, VisionError> {
        let (w, h) = (width as i32, height as i32);
        let canvas = Mat::new_rows_cols_with_default(h, w, CV_8UC3, Scalar::all(PAD))?;
        Ok(Self { width: w, height: h, fit, canvas })
    }

    /// Fits `frame` into the canvas and returns the transform back to the frame.
    pub fn apply(&mut self, frame: &Frame) -> Result<LetterboxTransform, VisionError> {
        let src = frame_mat(frame)?;
        if self.fit == Fit::Stretch {
            let size = Size::new(self.width, self.height);
            imgproc::resize(&src, &mut self.canvas, size, 0.0, 0.0, imgproc::INTER_LINEAR)?;
            return Ok(LetterboxTransform {
                scale_x: self.width as f32 / frame.width as f32,
                scale_y: self.height as f32 / frame.height as f32,
                pad_x: 0.0,
                pad_y: 0.0,
                frame_width: frame.width,
                frame_height: frame.height,
            });
        }
        let scale = (self.width as f32 / frame.width as f32).min(self.height as f32 / frame.height as f32);
        let new_w = ((frame.width as f32 * scale).round() as i32).clamp(1, self.width);
        let new_h = ((frame.height as f32 * scale).round() as i32).clamp(1, self.height);
        let pad_x = (self.width - new_w) / 2;
        let pad_y = (self.height - new_h) / 2;
        self.canvas.set_to_def(&Scalar::all(PAD))?;
        let mut roi = self.canvas.roi_mut(Rect::new(pad_x, pad_y, new_w, new_h))?;
        imgproc::resize(&src, &mut roi, Size::new(new_w, new_h), 0.0, 0.0, imgproc::INTER_LINEAR)?;
        Ok(LetterboxTransform {
            scale_x: scale,
            scale_y: scale,
            pad_x: pad_x as f32,
            pad_y: pad_y as f32,
            frame_width: frame.width,
            frame_height: frame.height,
        })
    }

    /// The letterboxed image: height x width x 3 bytes, RGB, row-major.
    pub fn pixels(&self) -> Result<&[u8], VisionError> {
        Ok(self.canvas.data_bytes()?)
    }

    pub fn size(&self) -> (u32, u32) {
        (self.width as u32, self.height as u32)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use shaobing_core::{CameraId, UnixMillis};

    fn frame(width: u32, height: u32, rgb: Vec<u8>) -> Frame {
        Frame { camera: CameraId("t".into()), seq: 0, captured_at: UnixMillis(0), width, height, rgb: rgb.into() }
    }

    #[test]
    fn wide_frame_is_padded_top_and_bottom() {
        // A 200x100 white frame into 100x100: scaled by 0.5 to 100x50, 25 rows of padding above.
        let mut lb = Letterbox::new(100, 100).unwrap();
        let t = lb.apply(&frame(200, 100, vec![255; 200 * 100 * 3])).unwrap();
        assert_eq!((t.scale_x, t.scale_y, t.pad_x, t.pad_y), (0.5, 0.5, 0.0, 25.0));
        let px = lb.pixels().unwrap();
        assert_eq!(px.len(), 100 * 100 * 3);
        assert_eq!(px[(10 * 100 + 50) * 3], 114, "padding row");
        assert_eq!(px[(50 * 100 + 50) * 3], 255, "image row");
        // The model-input box covering the picture maps back to the whole frame.
        let b = t.to_frame(0.0, 25.0, 100.0, 75.0);
        assert_eq!(b, BBox { x1: 0.0, y1: 0.0, x2: 1.0, y2: 1.0 });
    }

    #[test]
    fn stretched_frame_fills_the_canvas() {
        let mut lb = Letterbox::with_fit(100, 100, Fit::Stretch).unwrap();
        let t = lb.apply(&frame(200, 100, vec![255; 200 * 100 * 3])).unwrap();
        assert_eq!((t.scale_x, t.scale_y, t.pad_y), (0.5, 1.0, 0.0));
        assert_eq!(lb.pixels().unwrap()[(5 * 100 + 50) * 3], 255, "no padding");
        assert_eq!(t.to_frame(0.0, 0.0, 50.0, 100.0), BBox { x1: 0.0, y1: 0.0, x2: 0.5, y2: 1.0 });
    }

    #[test]
    fn colour_channels_keep_their_order() {
        let mut rgb = Vec::new();
        for _ in 0..(64 * 64) {
            rgb.extend_from_slice(&[200, 100, 50]);
        }
        let mut lb = Letterbox::new(32, 32).unwrap();
        lb.apply(&frame(64, 64, rgb)).unwrap();
        assert_eq!(&lb.pixels().unwrap()[..3], &[200, 100, 50]);
    }

    #[test]
    fn malformed_frame_is_an_error() {
        let mut lb = Letterbox::new(32, 32).unwrap();
        let err = lb.apply(&frame(10, 10, vec![0; 10])).unwrap_err();
        assert!(matches!(err, VisionError::BadFrame { got: 10, expected: 300, .. }));
    }
}
