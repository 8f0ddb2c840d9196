//! What a camera is configured with: plain data, read by every other module and depending on
//! none of them.

use shaobing_core::{CameraId, Secret};
use std::time::Duration;

/// What a camera pipeline needs to know.
#[derive(Debug, Clone)]
pub struct CameraSpec {
    pub id: CameraId,
    pub uri: String,
    /// User name and password for RTSP/HTTP authentication, kept out of the URI.
    pub credentials: Option<(String, Secret)>,
    /// RTSP over TCP (`true`) or UDP.
    pub rtsp_tcp: bool,
    /// Only key frames are decoded, by the decoders all cameras share.
    pub keyframes_only: bool,
    /// In key-frame mode, frames decoded from each due key frame on (the key frame included).
    pub key_frame_burst: usize,
    /// In key-frame mode, an `rtsp://` camera is received by retina rather than rtspsrc.
    pub native_rtsp: bool,
    /// Frames analysed per second, at most.
    pub analysis_fps: f64,
    /// Width of analysed frames; the stream's when `None`.
    pub analysis_width: Option<u32>,
    /// Threads of the camera's own video decoder (every-frame mode); 0 lets it choose (one
    /// per core, more memory).
    pub decoder_threads: u32,
    /// Restart the pipeline at end of stream (a live camera) or stop (a finite clip).
    pub restart_on_eos: bool,
    /// A clip that is not live is played at its own rate (`true`) or as fast as it decodes.
    pub realtime: bool,
    /// No decoded frame for this long while playing means the stream is stalled.
    pub watchdog: Duration,
    pub retry: RetryPolicy,
    /// Where the camera's compressed frames go for clips around issues.
    pub clips: Option<std::sync::Arc<crate::ClipRecorder>>,
}

impl CameraSpec {
    /// Whether the frames' sink waits for each frame's time on the pipeline clock: only a
    /// recorded clip needs pacing, a live source is paced by its sender.
    pub fn paced(&self) -> bool {
        self.realtime && !crate::clock::StreamClock::is_live(&self.uri)
    }
}

/// How a camera reconnects after failures.
#[derive(Debug, Clone, Copy)]
pub struct RetryPolicy {
    pub initial: Duration,
    pub max: Duration,
    /// Restarts allowed within `window` before every retry waits `max`.
    pub budget: u32,
    pub window: Duration,
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A key-frame `rtsp://` camera with a quick retry policy, for unit tests to adjust.
    pub fn spec(watchdog: Duration) -> CameraSpec {
        CameraSpec {
            id: CameraId("unit".into()),
            uri: "rtsp://127.0.0.1:1/unit".into(),
            credentials: None,
            rtsp_tcp: true,
            keyframes_only: true,
            key_frame_burst: 1,
            native_rtsp: true,
            analysis_fps: 5.0,
            analysis_width: None,
            decoder_threads: 1,
            restart_on_eos: true,
            realtime: true,
            watchdog,
            retry: RetryPolicy {
                initial: Duration::from_millis(100),
                max: Duration::from_secs(1),
                budget: 1000,
                window: Duration::from_secs(60),
            },
            clips: None,
        }
    }
}
