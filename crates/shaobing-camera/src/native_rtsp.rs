//! Key-frame cameras on `rtsp://` without a GStreamer receive pipeline.
//!
//! rtspsrc hands every RTP packet between threads (socket reader, jitter buffer, depayloader),
//! about 1.3 % of a core per 1080p25 camera on the development box, though key-frame mode
//! throws 49 frames in 50 away. retina reads the RTSP connection in one tokio task, assembles
//! access units and gives back Annex B frames; only due key frames leave the task, with the
//! stream's parameter sets in front, for the shared decoders: 0.3 % per camera, measured the
//! same way (README, Performance). A camera whose stream is neither H.264 nor H.265 goes
//! back to the GStreamer pipeline, which decodes anything.

use crate::FrameSlot;
use crate::keyframes::{Destination, Reporter};
use crate::picker::KeyFrameGate;
use crate::reason::Reason;
use crate::run::{LiveGuard, Outcome, Receiver, run_until, watchdog};
use crate::spec::CameraSpec;
use gstreamer as gst;
use retina::client::{Credentials, Demuxed, PlayOptions, Session, SessionOptions, SetupOptions, Transport};
use retina::codec::{CodecItem, FrameFormat, ParameterSetInsertion, ParametersRef, VideoFrame};
use shaobing_core::UnixMillis;
use shaobing_metrics::CameraMetrics;
use std::sync::atomic::AtomicI64;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// DESCRIBE, SETUP and PLAY together; rtspsrc's `tcp-timeout` in the GStreamer path is 5 s too.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// Whether this camera runs here rather than in a GStreamer pipeline.
pub(crate) fn handles(spec: &CameraSpec) -> bool {
    spec.keyframes_only && spec.native_rtsp && spec.uri.get(..7).is_some_and(|s| s.eq_ignore_ascii_case("rtsp://"))
}

/// Key-frame cameras on `rtsp://`, received by retina. A run ends in `Outcome::NotNative`
/// when the camera's codec needs the GStreamer pipeline.
#[derive(Debug, Default)]
pub(crate) struct NativeRtsp;

impl Receiver for NativeRtsp {
    async fn run_once(
        &mut self,
        spec: &CameraSpec,
        slot: &Arc<FrameSlot>,
        metrics: &CameraMetrics,
        cancel: &CancellationToken,
    ) -> Outcome {
        let _live = LiveGuard::new();
        let connected = tokio::select! {
            _ = cancel.cancelled() => return Outcome::Cancelled,
            c = tokio::time::timeout(CONNECT_TIMEOUT, connect(spec)) => c,
        };
        let (session, video) = match connected {
            Err(_) => {
                let detail = format!("no answer to DESCRIBE/SETUP/PLAY within {CONNECT_TIMEOUT:?}");
                return Outcome::failed(Reason::Unreachable, detail);
            }
            Ok(Err(e)) => return e,
            Ok(Ok(c)) => c,
        };
        let intake = Intake::new(spec, video, slot.clone(), metrics.clone());
        stream(spec, Box::pin(session), intake, cancel).await
    }
}

/// The video stream a session plays.
#[derive(Debug, Clone, Copy)]
struct Video {
    index: usize,
    h265: bool,
}

async fn connect(spec: &CameraSpec) -> Result<(Demuxed, Video), Outcome> {
    let url = url::Url::parse(&spec.uri).map_err(|e| Outcome::failed(Reason::Error, format!("{}: {e}", spec.uri)))?;
    let creds = spec
        .credentials
        .as_ref()
        .map(|(user, pw)| Credentials { username: user.clone(), password: pw.expose().to_string() });
    let options = SessionOptions::default().creds(creds).user_agent("shaobing".into());
    let mut session = Session::describe(url, options).await.map_err(|e| classify(&e))?;
    let video = pick_video(&session)?;
    let transport = if spec.rtsp_tcp { Transport::Tcp(Default::default()) } else { Transport::Udp(Default::default()) };
    // Parameter sets come from the stream's parameters, in front of every key frame sent: retina
    // would add them to IDR pictures only, not to an H.265 CRA picture.
    let format = FrameFormat { parameter_set_insertion: ParameterSetInsertion::Never, ..FrameFormat::SIMPLE };
    let setup = SetupOptions::default().transport(transport).frame_format(format);
    session.setup(video.index, setup).await.map_err(|e| classify(&e))?;
    let playing = session.play(PlayOptions::default()).await.map_err(|e| classify(&e))?;
    let demuxed = playing.demuxed().map_err(|e| classify(&e))?;
    Ok((demuxed, video))
}

/// The first H.264 or H.265 video stream.
fn pick_video<S: retina::client::State>(session: &Session<S>) -> Result<Video, Outcome> {
    let videos: Vec<_> = session.streams().iter().enumerate().filter(|(_, s)| s.media() == "video").collect();
    if videos.is_empty() {
        return Err(Outcome::failed(Reason::NoVideo, "the RTSP session has no video stream"));
    }
    let h265 = |name: &str| match name.to_ascii_lowercase().as_str() {
        "h264" => Some(false),
        "h265" => Some(true),
        _ => None,
    };
    videos.iter().find_map(|(index, s)| h265(s.encoding_name()).map(|h265| Video { index: *index, h265 })).ok_or_else(
        || {
            let names: Vec<_> = videos.iter().map(|(_, s)| s.encoding_name().to_string()).collect();
            Outcome::NotNative(format!("video is {}", names.join(", ")))
        },
    )
}

/// RTCP packet type of a BYE (RFC 3550, 6.6).
const RTCP_BYE: u8 = 203;

async fn stream(
    spec: &CameraSpec,
    session: std::pin::Pin<Box<Demuxed>>,
    mut intake: Intake,
    cancel: &CancellationToken,
) -> Outcome {
    let started = UnixMillis::now();
    let on_item = |intake: &mut Intake, item, session: &std::pin::Pin<Box<Demuxed>>| match item {
        None => Some(Outcome::Eos),
        Some(Ok(CodecItem::VideoFrame(frame))) => {
            if frame.has_new_parameters() || intake.parameter_sets.is_empty() {
                intake.parameters(session.streams());
            }
            intake.frame(frame);
            None
        }
        // The server says goodbye at the end of a clip or when the source leaves, and keeps
        // the connection open: without this the end would look like a stall.
        Some(Ok(CodecItem::Rtcp(packet))) if packet.pkts().any(|p| p.payload_type() == RTCP_BYE) => Some(Outcome::Eos),
        Some(Ok(_)) => None,
        Some(Err(e)) => Some(classify(&e)),
    };
    let on_tick = |intake: &mut Intake| match intake.decode_error() {
        Some(detail) => Some(Outcome::failed(Reason::BadStream, detail)),
        None => watchdog(spec, intake.to.last_sign(), started, &intake.to.metrics),
    };
    run_until(session, &mut intake, cancel, on_item, on_tick).await
}

/// Counts every frame and sends the due key frames to the shared decoders.
struct Intake {
    video: Video,
    /// The stream's parameter sets in Annex B, put in front of every key frame sent.
    parameter_sets: Vec<u8>,
    caps: gst::Caps,
    gate: KeyFrameGate,
    to: Arc<Destination>,
    /// Where the shared decoders leave a key frame they could not decode.
    errors: Arc<Mutex<Option<String>>>,
    clips: Option<Arc<crate::ClipRecorder>>,
}

impl Intake {
    fn new(spec: &CameraSpec, video: Video, slot: Arc<FrameSlot>, metrics: CameraMetrics) -> Self {
        let media = if video.h265 { "video/x-h265" } else { "video/x-h264" };
        let caps = gst::Caps::builder(media).field("stream-format", "byte-stream").field("alignment", "au").build();
        let errors = Arc::new(Mutex::new(None));
        let last_frame_ms = Arc::new(AtomicI64::new(0));
        let to = Arc::new(Destination::new(spec, slot, metrics, last_frame_ms, Reporter::Run(errors.clone())));
        let clips = spec.clips.clone();
        if let Some(clips) = &clips {
            clips.restart();
        }
        Self {
            video,
            parameter_sets: Vec::new(),
            caps,
            gate: KeyFrameGate::new(spec.analysis_fps, spec.key_frame_burst),
            to,
            errors,
            clips,
        }
    }

    fn frame(&mut self, frame: VideoFrame) {
        self.to.metrics.frames_received.inc();
        // Most frames stop here, before any timestamp arithmetic or copy, unless clips keep them.
        let key = frame.is_random_access_point() || (self.video.h265 && h265_irap(frame.data()));
        let ts = frame.timestamp();
        let pts = || {
            let nanos = i128::from(ts.elapsed().max(0)) * 1_000_000_000 / i128::from(ts.clock_rate().get());
            Some(gst::ClockTime::from_nseconds(u64::try_from(nanos).unwrap_or(u64::MAX)))
        };
        let due = self.gate.admit(key, pts);
        if !due && self.clips.is_none() {
            return;
        }
        let prefix: &[u8] = if key { &self.parameter_sets } else { &[] };
        let mut data = Vec::with_capacity(prefix.len() + frame.data().len());
        data.extend_from_slice(prefix);
        data.extend_from_slice(frame.data());
        let mut buffer = gst::Buffer::from_mut_slice(data);
        if let Some(b) = buffer.get_mut() {
            b.set_pts(pts());
            if !key {
                b.set_flags(gst::BufferFlags::DELTA_UNIT);
            }
        }
        if let Some(clips) = &self.clips {
            clips.push(&buffer, &self.caps, key);
        }
        if due {
            self.to.send(gst::Sample::builder().buffer(&buffer).caps(&self.caps).build());
        }
    }

    fn parameters(&mut self, streams: &[retina::client::Stream]) {
        if let Some(ParametersRef::Video(p)) = streams.get(self.video.index).and_then(|s| s.parameters()) {
            // With Annex B framing, retina gives them start-coded, ready to go in front.
            self.parameter_sets = p.extra_data().to_vec();
        }
    }

    fn decode_error(&self) -> Option<String> {
        self.errors.lock().unwrap_or_else(|p| p.into_inner()).take()
    }
}

/// The end of a run a retina error means.
fn classify(e: &retina::Error) -> Outcome {
    Outcome::failed(failure_of(e).reason(), e.to_string())
}

/// What went wrong in a retina session, as far as its error tells.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Failure {
    /// The server answered with this RTSP status.
    Status(u16),
    /// An I/O error: no connection (refused, no route, no such host) or a broken one.
    Io,
    /// The server stopped answering.
    Timeout,
    /// A feature of the stream that retina does not implement.
    Unsupported,
    /// Anything else: malformed RTSP, RTP or media data.
    Stream,
}

impl Failure {
    fn reason(self) -> Reason {
        match self {
            Failure::Status(401 | 403) => Reason::Unauthorized,
            Failure::Status(404) => Reason::NotFound,
            Failure::Status(_) => Reason::Error,
            Failure::Io | Failure::Timeout => Reason::Unreachable,
            Failure::Unsupported => Reason::Unsupported,
            Failure::Stream => Reason::BadStream,
        }
    }
}

fn failure_of(e: &retina::Error) -> Failure {
    e.status_code().map_or_else(|| failure_of_variant(e), Failure::Status)
}

/// retina 0.4's `Error` is opaque: `status_code` is its only accessor, and its `source()` is
/// `None` even when an `std::io::Error` caused it (the inner enum is private and its field
/// marked `not(source)`), so there is no `io::ErrorKind` to read. The one structure left is
/// the name of that enum's variant, which begins the error's `Debug` form; this is the only
/// place that reads it, and the tests pin it against errors retina really returns.
fn failure_of_variant(e: &retina::Error) -> Failure {
    let debug = format!("{e:?}");
    match debug.split(|c: char| !c.is_ascii_alphanumeric()).next().unwrap_or_default() {
        "ConnectError" | "RtspReadError" | "WriteError" | "UdpRecvError" => Failure::Io,
        "Timeout" => Failure::Timeout,
        "Unsupported" => Failure::Unsupported,
        _ => Failure::Stream,
    }
}

/// Whether the first picture NAL unit of an Annex B access unit is an intra random access
/// point (IDR, CRA or BLA), which decodes alone. retina counts only IDR pictures, but
/// open-GOP encoders (x265 by default, many cameras) start a GOP with a CRA picture.
fn h265_irap(data: &[u8]) -> bool {
    let mut rest = data;
    while let Some(i) = rest.windows(3).position(|w| w == [0, 0, 1]) {
        let Some(&header) = rest.get(i + 3) else { return false };
        let kind = (header >> 1) & 0x3f;
        // Types below 32 are picture data; 16..=23 are the random access points.
        if kind < 32 {
            return (16..=23).contains(&kind);
        }
        rest = &rest[i + 3..];
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    const START: [u8; 4] = [0, 0, 0, 1];

    #[test]
    fn cra_and_idr_pictures_are_random_access_points_and_trailing_pictures_are_not() {
        let unit = |kind: u8| [&START[..], &[kind << 1, 1, 0xaf]].concat();
        let sei_then = |kind: u8| [unit(39), unit(kind)].concat();
        assert!(h265_irap(&sei_then(21)), "CRA");
        assert!(h265_irap(&unit(19)), "IDR_W_RADL");
        assert!(!h265_irap(&sei_then(1)), "TRAIL_R");
        assert!(!h265_irap(&unit(39)), "no picture at all");
    }

    #[test]
    fn retina_failures_map_to_reasons_by_kind() {
        let cases = [
            (Failure::Status(401), Reason::Unauthorized),
            (Failure::Status(403), Reason::Unauthorized),
            (Failure::Status(404), Reason::NotFound),
            (Failure::Status(454), Reason::Error),
            (Failure::Status(500), Reason::Error),
            (Failure::Io, Reason::Unreachable),
            (Failure::Timeout, Reason::Unreachable),
            (Failure::Unsupported, Reason::Unsupported),
            (Failure::Stream, Reason::BadStream),
        ];
        for (failure, reason) in cases {
            assert_eq!(failure.reason(), reason, "{failure:?}");
        }
    }

    /// The error retina returns for a DESCRIBE answered with `reply` by a one-shot server.
    async fn describe_answered_with(reply: &'static [u8]) -> retina::Error {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = url::Url::parse(&format!("rtsp://{}/x", listener.local_addr().unwrap())).unwrap();
        let server = tokio::spawn(async move {
            let (mut socket, _) = listener.accept().await.unwrap();
            let mut request = [0; 1024];
            let _ = socket.read(&mut request).await;
            let _ = socket.write_all(reply).await;
        });
        let error = Session::describe(url, SessionOptions::default()).await.err().unwrap();
        server.await.unwrap();
        error
    }

    /// Pins the kinds read from retina's errors to what this version of retina really returns,
    /// so that an upgrade that changes them fails here rather than mislabelling failures.
    #[tokio::test]
    async fn real_retina_errors_are_read_by_kind() {
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let url = url::Url::parse(&format!("rtsp://127.0.0.1:{port}/x")).unwrap();
        let refused = Session::describe(url, SessionOptions::default()).await.err().unwrap();
        assert_eq!(failure_of(&refused), Failure::Io, "{refused:?}");
        assert!(
            std::error::Error::source(&refused).is_none(),
            "retina now exposes the io::Error behind it: read its ErrorKind instead of the variant"
        );
        let not_found = describe_answered_with(b"RTSP/1.0 404 Not Found\r\nCSeq: 1\r\n\r\n").await;
        assert_eq!(failure_of(&not_found), Failure::Status(404), "{not_found:?}");
        let closed = describe_answered_with(b"").await;
        assert_eq!(failure_of(&closed), Failure::Io, "{closed:?}");
        let garbage = describe_answered_with(b"HTTP/1.1 200 OK\r\n\r\n\x00\x01").await;
        assert_eq!(failure_of(&garbage), Failure::Stream, "{garbage:?}");
    }

    #[test]
    fn retina_takes_key_frame_cameras_on_rtsp_only() {
        let spec = crate::spec::tests::spec(Duration::from_secs(3));
        assert!(handles(&spec));
        assert!(handles(&CameraSpec { uri: "RTSP://camera/1".into(), ..spec.clone() }));
        assert!(!handles(&CameraSpec { uri: "rtsps://camera/1".into(), ..spec.clone() }));
        assert!(!handles(&CameraSpec { uri: "file:///clip.mp4".into(), ..spec.clone() }));
        assert!(!handles(&CameraSpec { keyframes_only: false, ..spec.clone() }));
        assert!(!handles(&CameraSpec { native_rtsp: false, ..spec }));
    }
}
