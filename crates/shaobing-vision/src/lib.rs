//! OpenCV work around the detector: fitting frames into the model's input without distorting
//! them (letterbox), a classical flame and smoke detector (fire), and drawing the evidence a
//! person reads to trust an issue.

mod annotate;
pub mod compose;
mod fire;
mod letterbox;
mod motion;
mod scene;
mod still;

pub use annotate::{Annotation, encode_jpeg, render_evidence, render_live};
pub use fire::{FireDetector, FireDetectorConfig, FireKind, FireRegion};
pub use letterbox::{Fit, Letterbox, LetterboxTransform};
pub use motion::{MotionGate, MotionGateConfig};
pub use scene::{SceneBreak, SceneWatch};
pub use still::{StillRegion, StillWatch, StillWatchConfig};

#[derive(Debug, thiserror::Error)]
pub enum VisionError {
    #[error("OpenCV: {0}")]
    OpenCv(#[from] opencv::Error),
    #[error("{0} is not an image OpenCV can read (missing, unreadable, or not a supported format)")]
    Image(std::path::PathBuf),
    #[error("frame is {got} bytes, expected {expected} for {width}x{height} RGB")]
    BadFrame { got: usize, expected: usize, width: u32, height: u32 },
}

use opencv::core::Mat;
use opencv::prelude::*;
use shaobing_core::{CameraId, Frame, UnixMillis};

/// Reads an image file (anything OpenCV decodes) as an RGB frame of camera `camera`.
pub fn read_image(path: &std::path::Path, camera: &str) -> Result<Frame, VisionError> {
    let unreadable = || VisionError::Image(path.to_path_buf());
    let bgr = opencv::imgcodecs::imread(path.to_str().ok_or_else(unreadable)?, opencv::imgcodecs::IMREAD_COLOR)?;
    if bgr.empty() {
        return Err(unreadable());
    }
    let mut rgb = Mat::default();
    opencv::imgproc::cvt_color_def(&bgr, &mut rgb, opencv::imgproc::COLOR_BGR2RGB)?;
    Ok(Frame {
        camera: CameraId(camera.into()),
        seq: 0,
        captured_at: UnixMillis::now(),
        width: rgb.cols() as u32,
        height: rgb.rows() as u32,
        rgb: rgb.data_bytes()?.into(),
    })
}

/// Borrows a frame's pixels as a rows x cols 8UC3 `Mat` without copying.
pub(crate) fn frame_mat(frame: &Frame) -> Result<opencv::boxed_ref::BoxedRef<'_, Mat>, VisionError> {
    if !frame.is_well_formed() {
        return Err(VisionError::BadFrame {
            got: frame.rgb.len(),
            expected: Frame::expected_len(frame.width, frame.height),
            width: frame.width,
            height: frame.height,
        });
    }
    Ok(Mat::new_rows_cols_with_bytes::<opencv::core::Vec3b>(frame.height as i32, frame.width as i32, &frame.rgb)?)
}
