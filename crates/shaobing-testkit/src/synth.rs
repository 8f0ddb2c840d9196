//! Frames for tests, stamped at a fixed step. What a fixed camera does to a still photo
//! (noise, exposure, flame flicker) is `shaobing_vision::compose`, which the evaluation uses
//! too.

use shaobing_core::{CameraId, Frame, UnixMillis};

pub use shaobing_vision::compose::{Rng, expose, flicker};

/// A frame of `camera` at `seq`, captured `seq * step_ms` after the epoch.
pub fn frame_at(camera: &str, width: u32, height: u32, rgb: Vec<u8>, seq: u64, step_ms: i64) -> Frame {
    Frame {
        camera: CameraId(camera.into()),
        seq,
        captured_at: UnixMillis(seq as i64 * step_ms),
        width,
        height,
        rgb: rgb.into(),
    }
}
