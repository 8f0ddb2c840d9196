use crate::UnixMillis;
use serde::{Deserialize, Serialize};
use std::fmt;
use std::sync::Arc;

/// Identifier of a configured camera; also the value of the `camera` metric label, so its set
/// is bounded by configuration.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct CameraId(pub String);

impl fmt::Display for CameraId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A decoded frame handed from a source to analysis: packed RGB24, `width * 3` bytes a row.
///
/// Pixels sit behind an `Arc` so the frame can be shared with evidence writers and future
/// consumers without copying megabytes per hand-off.
#[derive(Clone)]
pub struct Frame {
    pub camera: CameraId,
    /// Position of the frame in the camera's decoded sequence since the pipeline started.
    pub seq: u64,
    pub captured_at: UnixMillis,
    pub width: u32,
    pub height: u32,
    pub rgb: Arc<[u8]>,
}

impl Frame {
    /// Number of bytes a packed RGB24 frame of this size must hold.
    pub fn expected_len(width: u32, height: u32) -> usize {
        width as usize * height as usize * 3
    }

    pub fn is_well_formed(&self) -> bool {
        self.rgb.len() == Self::expected_len(self.width, self.height)
    }
}

impl fmt::Debug for Frame {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Frame")
            .field("camera", &self.camera)
            .field("seq", &self.seq)
            .field("captured_at", &self.captured_at)
            .field("width", &self.width)
            .field("height", &self.height)
            .field("bytes", &self.rgb.len())
            .finish()
    }
}

/// Where analysis shows what it sees now: every analysed frame with its detections. The console
/// implements it (keeping the latest frame per camera, drawn only when someone asks); analysis
/// knows nothing of who watches.
pub trait LiveView: Send + Sync {
    fn publish(&self, frame: &Frame, detections: &[crate::Detection]);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn well_formed_checks_length() {
        let f = Frame {
            camera: CameraId("c".into()),
            seq: 0,
            captured_at: UnixMillis(0),
            width: 4,
            height: 2,
            rgb: vec![0u8; 24].into(),
        };
        assert!(f.is_well_formed());
        let short = Frame { rgb: vec![0u8; 23].into(), ..f };
        assert!(!short.is_well_formed());
        assert!(format!("{short:?}").contains("bytes: 23"));
    }
}
