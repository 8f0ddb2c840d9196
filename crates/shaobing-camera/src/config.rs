//! The source keys of a `[[cameras]]` entry, owned here with the receiving they set; the
//! analysis crate flattens them into the camera's entry.

use crate::clock::StreamClock;
use crate::spec::{CameraSpec, RetryPolicy};
use serde::Deserialize;
use shaobing_core::{CameraId, Credentials};
use std::time::Duration;

/// Most frames a key-frame burst decodes: past a dozen, decode every frame (`fps` mode).
const MAX_BURST: u32 = 12;

/// A configuration problem in a camera's source keys: the key under the camera, and why.
#[derive(Debug, thiserror::Error)]
#[error("{key}: {message}")]
pub struct SourceConfigError {
    pub key: String,
    pub message: String,
}

type ConfigError = SourceConfigError;

impl SourceConfigError {
    fn invalid(key: impl Into<String>, message: impl Into<String>) -> Self {
        Self { key: key.into(), message: message.into() }
    }
}

/// Where a camera's stream comes from and how it is received and decoded.
#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
pub struct SourceConfig {
    /// Any GStreamer URI: `rtsp://`, `file://`, `http://`. Must not embed credentials, so
    /// that URIs can always be logged.
    pub uri: String,
    /// User name and password for the camera (RTSP or HTTP authentication).
    #[serde(flatten)]
    pub credentials: Credentials,
    /// RTSP lower transport. `tcp` survives lossy links and NAT; `udp` has less latency.
    #[serde(default)]
    pub transport: Transport,
    /// Who receives an `rtsp://` camera in `keyframes` mode. `retina`: a Rust RTSP client in
    /// the daemon's own tasks, which hands over only the key frames; about a quarter of the
    /// CPU of GStreamer's rtspsrc per camera (README, Performance). H.264 and H.265 only;
    /// other codecs go to GStreamer by themselves. `gstreamer`: rtspsrc, for a camera that
    /// retina does not get along with. `fps` mode always uses GStreamer.
    #[serde(default)]
    pub rtsp_client: RtspClient,
    /// `keyframes`: only key frames are decoded, one per GOP, on decoders all cameras share
    /// (the cheapest way to watch many cameras); `fps`: decode every frame on the camera's
    /// own decoder, analyse `analysis_fps` a second.
    #[serde(default)]
    pub analysis_mode: AnalysisMode,
    /// In `keyframes` mode, frames decoded from each analysed key frame on: the key frame and
    /// the ones that follow it in the stream. The followers go to the fire watch only (the
    /// detectors and dwell rules see key frames), so fire is confirmed on two key frames'
    /// bursts, within two GOPs, instead of on three key frames. It costs that many decodes per
    /// GOP instead of one (README, Performance). 1: key frames only.
    #[serde(default = "default_key_frame_burst")]
    pub key_frame_burst: u32,
    /// Frames analysed per second, at most; others are dropped before colour conversion and
    /// scaling. In `keyframes` mode it caps the key-frame rate.
    #[serde(default = "default_analysis_fps")]
    pub analysis_fps: f64,
    /// Width analysed frames are scaled to (height keeps the aspect ratio); unset keeps the
    /// stream's size. Scaling happens only for analysed frames.
    #[serde(default)]
    pub analysis_width: Option<u32>,
    /// Threads of the camera's video decoder in `fps` mode (key frames use the shared
    /// decoders, one thread each). One is plenty for 1080p at 25 frames/s and keeps memory
    /// per camera low; 0 lets the decoder use one per core (4K).
    #[serde(default = "default_decoder_threads")]
    pub decoder_threads: u32,
    /// First delay before reconnecting after a failure; doubles up to `retry_max_secs`, each
    /// delay drawn from [3/4, 1] of that.
    #[serde(default = "default_retry_initial_secs")]
    pub retry_initial_secs: f64,
    /// Longest delay between reconnection attempts.
    #[serde(default = "default_retry_max_secs")]
    pub retry_max_secs: f64,
    /// Restarts allowed within `restart_window_secs` before the camera waits `retry_max_secs`
    /// between attempts regardless of the backoff (a flapping camera must not eat the CPU).
    #[serde(default = "default_restart_budget")]
    pub restart_budget: u32,
    /// Window of the restart budget.
    #[serde(default = "default_restart_window_secs")]
    pub restart_window_secs: f64,
    /// What to do at end of stream: `restart` or `stop`. Unset: a live source that ends has
    /// dropped out and is reconnected (`restart`); a recorded clip (`file://`) has ended and
    /// the camera stops (`stop`). A clip set to `restart` plays again at once, which is not
    /// counted as an outage.
    #[serde(default)]
    pub on_eos: Option<OnEos>,
    /// A recorded clip (`file://`) plays at its own frame rate, as a camera would send it, so
    /// dwell times and `analysis_fps` mean what they say; `false` reads it as fast as it
    /// decodes (batch work). Live sources always arrive at their own rate.
    #[serde(default = "default_realtime")]
    pub realtime: bool,
    /// Seconds without a decoded frame after which a playing stream counts as stalled and is
    /// restarted: catches cameras that keep the connection open but stop sending.
    #[serde(default = "default_watchdog_secs")]
    pub watchdog_secs: f64,
}

/// Fire must be an issue within 5 s of lighting up: measured on the composed flames of the
/// hazard tests, 1 frame/s took 4-10 s, 2 frames/s 2-5.5 s, 3 frames/s 1.7 s. The detectors
/// are capped at 1 inference/s by the motion gate, so the rate costs conversion, the fire
/// detector and the motion gate (a few ms per frame), not inference.
fn default_analysis_fps() -> f64 {
    3.0
}

fn default_realtime() -> bool {
    true
}

fn default_key_frame_burst() -> u32 {
    3
}

fn default_watchdog_secs() -> f64 {
    10.0
}

fn default_decoder_threads() -> u32 {
    1
}

fn default_retry_initial_secs() -> f64 {
    0.5
}

/// A camera must be back within seconds of its server: a cap of 30 s left a camera that spent
/// its restart budget in a 15 s outage blind for 30 s more. A failed attempt every 5 s costs
/// next to nothing.
fn default_retry_max_secs() -> f64 {
    5.0
}

fn default_restart_budget() -> u32 {
    5
}

fn default_restart_window_secs() -> f64 {
    60.0
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, serde::Serialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum AnalysisMode {
    Keyframes,
    #[default]
    Fps,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, serde::Serialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Transport {
    #[default]
    Tcp,
    Udp,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, serde::Serialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum RtspClient {
    #[default]
    Retina,
    Gstreamer,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum OnEos {
    Restart,
    Stop,
}

impl SourceConfig {
    /// What the supervisor runs for camera `id`.
    pub fn spec(&self, id: CameraId) -> CameraSpec {
        let secs = Duration::from_secs_f64;
        CameraSpec {
            id,
            uri: self.uri.clone(),
            credentials: self.credentials.pair(),
            rtsp_tcp: self.transport == Transport::Tcp,
            keyframes_only: self.analysis_mode == AnalysisMode::Keyframes,
            key_frame_burst: self.key_frame_burst as usize,
            native_rtsp: self.rtsp_client == RtspClient::Retina,
            analysis_fps: self.analysis_fps,
            analysis_width: self.analysis_width,
            decoder_threads: self.decoder_threads,
            restart_on_eos: self.on_eos.unwrap_or(if StreamClock::is_live(&self.uri) {
                OnEos::Restart
            } else {
                OnEos::Stop
            }) == OnEos::Restart,
            realtime: self.realtime,
            watchdog: secs(self.watchdog_secs),
            retry: RetryPolicy {
                initial: secs(self.retry_initial_secs),
                max: secs(self.retry_max_secs),
                budget: self.restart_budget,
                window: secs(self.restart_window_secs),
            },
            clips: None,
        }
    }

    /// `key` names the camera entry, e.g. `cameras[0]`.
    pub fn validate(&self, key: &str) -> Result<(), ConfigError> {
        validate_uri(&format!("{key}.uri"), &self.uri)?;
        let fps = self.analysis_fps;
        if !(fps.is_finite() && fps > 0.0 && fps <= 30.0) {
            return Err(ConfigError::invalid(
                format!("{key}.analysis_fps"),
                format!("expected frames per second in (0, 30], got {fps}"),
            ));
        }
        if !(1..=MAX_BURST).contains(&self.key_frame_burst) {
            return Err(ConfigError::invalid(
                format!("{key}.key_frame_burst"),
                format!("expected 1..={MAX_BURST} frames, got {}", self.key_frame_burst),
            ));
        }
        seconds_in(key, "watchdog_secs", self.watchdog_secs, 1.0, 3600.0)?;
        seconds_in(key, "retry_initial_secs", self.retry_initial_secs, 0.01, 600.0)?;
        seconds_in(key, "retry_max_secs", self.retry_max_secs, self.retry_initial_secs, 3600.0)?;
        seconds_in(key, "restart_window_secs", self.restart_window_secs, 1.0, 86_400.0)?;
        if let Some(w) = self.analysis_width.filter(|w| !(16..=7680).contains(w)) {
            return Err(ConfigError::invalid(
                format!("{key}.analysis_width"),
                format!("expected 16..=7680 pixels, got {w}"),
            ));
        }
        self.credentials.validate().map_err(|e| ConfigError::invalid(format!("{key}.{}", e.key), e.message))
    }
}

fn seconds_in(key: &str, name: &str, v: f64, lo: f64, hi: f64) -> Result<(), ConfigError> {
    if v.is_finite() && (lo..=hi).contains(&v) {
        Ok(())
    } else {
        Err(ConfigError::invalid(format!("{key}.{name}"), format!("expected seconds in {lo}..={hi}, got {v}")))
    }
}

/// Rejects URIs GStreamer cannot open and URIs that carry credentials: credentials belong in
/// separate secret fields so that a URI can always be logged. The errors never repeat the URI:
/// one that is refused may be refused for holding a password.
fn validate_uri(key: &str, uri: &str) -> Result<(), ConfigError> {
    let Some((scheme, rest)) = uri.split_once("://") else {
        return Err(ConfigError::invalid(key, "expected a URI such as rtsp://host/path"));
    };
    let scheme_ok =
        !scheme.is_empty() && scheme.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'));
    if !scheme_ok {
        return Err(ConfigError::invalid(key, "expected a URI such as rtsp://host/path: the scheme is not one"));
    }
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    if authority.contains('@') {
        return Err(ConfigError::invalid(
            key,
            "the URI embeds credentials (user:password@host); put them in the camera's \
             credential fields instead, so the URI can be logged safely",
        ));
    }
    if let Some(name) = credential_parameter(rest) {
        return Err(ConfigError::invalid(
            key,
            format!(
                "the URI's query carries `{name}`, a credential; put it in the camera's credential fields \
                 instead, so the URI can be logged safely"
            ),
        ));
    }
    if uri.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(ConfigError::invalid(key, "the URI contains whitespace or control characters"));
    }
    Ok(())
}

/// The first query parameter whose name says it holds a secret (`password=`, `pwd=`,
/// `token=`, `auth=`…), as cameras' vendor URLs put them.
fn credential_parameter(rest: &str) -> Option<String> {
    const WITHIN: [&str; 4] = ["pass", "pwd", "token", "secret"];
    const WHOLE: [&str; 8] = ["auth", "authkey", "auth_key", "key", "apikey", "api_key", "sig", "signature"];
    let query = rest.split_once('?')?.1.split('#').next().unwrap_or("");
    query
        .split('&')
        .filter_map(|p| p.split('=').next())
        .map(str::to_ascii_lowercase)
        .find(|name| WITHIN.iter().any(|s| name.contains(s)) || WHOLE.contains(&name.as_str()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn source(extra: &str) -> SourceConfig {
        toml::from_str(extra).unwrap()
    }

    #[test]
    fn a_clip_ends_and_plays_at_its_rate_by_default_a_live_camera_reconnects() {
        let clip = source("uri = \"file:///clip.mp4\"").spec(CameraId("c".into()));
        assert!(!clip.restart_on_eos && clip.realtime && clip.paced());
        let live = source("uri = \"rtsp://cam/1\"").spec(CameraId("c".into()));
        assert!(live.restart_on_eos && !live.paced(), "a live source is paced by its sender");
        let looped =
            source("uri = \"file:///clip.mp4\"\non_eos = \"restart\"\nrealtime = false").spec(CameraId("c".into()));
        assert!(looped.restart_on_eos && !looped.paced());
    }

    #[test]
    fn credentials_are_refused_wherever_a_uri_hides_them_and_never_repeated() {
        for uri in [
            "rtsp://admin:canary-1@cam/1",
            "rtsp://cam/Streaming?user=admin&password=canary-1",
            "http://cam/snap.cgi?pwd=canary-1",
            "rtsp://cam/live?token=canary-1#x",
            "rtsp://cam/live?AuthKey=canary-1",
            "not a uri canary-1",
            "r@ys://canary-1",
        ] {
            let e = validate_uri("cameras[0].uri", uri).unwrap_err().to_string();
            assert!(e.starts_with("cameras[0].uri: "), "{e}");
            assert!(!e.contains("canary-1"), "{uri}: the error repeats a secret: {e}");
        }
        assert!(validate_uri("k", "rtsp://cam/Streaming/Channels/101?transportmode=unicast&profile=1").is_ok());
        assert!(validate_uri("k", "rtsp://cam/live?keyframes=1&monkey=2").is_ok(), "names that merely hold `key`");
    }
}
