//! Serves local video files over RTSP on a loopback port, re-encoded to H.264 at real-time
//! pace, the way a street camera would deliver them. The demo, the end-to-end tests and the
//! benchmarks use it so that every test goes through a real RTSP exchange.

use gstreamer as gst;
use gstreamer::glib;
use gstreamer_rtsp_server as rtsp;
use gstreamer_rtsp_server::prelude::*;
use std::path::{Path, PathBuf};
use std::thread::JoinHandle;

#[derive(Debug, thiserror::Error)]
pub enum RtspServerError {
    #[error("cannot initialise GStreamer: {0}")]
    Init(String),
    #[error("video file {0} does not exist")]
    MissingFile(PathBuf),
    #[error("file path {0} cannot be used in a pipeline description")]
    UnsafePath(PathBuf),
    #[error("the RTSP server could not start: {0}")]
    Start(String),
}

/// The codec cameras send.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Codec {
    H264,
    H265,
    /// Motion JPEG: what some cheap cameras send; not for `passthrough`.
    Mjpeg,
}

/// Where Debian's opencv-doc installs the vtest.avi street clip (the demo's camera).
pub const VTEST: &str = "/usr/share/doc/opencv-doc/examples/data/vtest.avi";

/// The street clip the demo, the tests and the benchmarks serve: `SHAOBING_DEMO_CLIP`, else
/// vtest.avi.
pub fn street_clip() -> std::path::PathBuf {
    std::env::var_os("SHAOBING_DEMO_CLIP").map_or_else(|| std::path::PathBuf::from(VTEST), std::path::PathBuf::from)
}

/// How a file is served.
#[derive(Debug, Clone)]
pub struct Stream {
    /// Mount path, e.g. `/vtest`.
    pub mount: String,
    pub file: PathBuf,
    /// Re-encode (`false`) or send the file's own H.264/H.265 as it is (`true`): serving many
    /// cameras from one pre-encoded file costs almost nothing.
    pub passthrough: bool,
    pub codec: Codec,
    /// Key-frame interval of the encoding, in frames.
    pub gop: u32,
    /// Output size; the file's size when `None`.
    pub size: Option<(u32, u32)>,
    /// Output frame rate; the file's when `None`.
    pub fps: Option<u32>,
    /// B-frames between references (re-encoded H.264/H.265): what most cameras' "main" and
    /// "high" profiles send, and what makes a decoder hold pictures back for reordering.
    pub bframes: u32,
}

impl Stream {
    pub fn new(mount: &str, file: &Path) -> Self {
        Self {
            mount: mount.to_string(),
            file: file.to_path_buf(),
            passthrough: false,
            codec: Codec::H264,
            gop: 50,
            size: None,
            fps: None,
            bframes: 0,
        }
    }

    fn launch(&self) -> Result<String, RtspServerError> {
        if !self.file.is_file() {
            return Err(RtspServerError::MissingFile(self.file.clone()));
        }
        let location = self.file.to_str().filter(|s| !s.contains(['"', '\\', '!', '(', ')']));
        let location = location.ok_or_else(|| RtspServerError::UnsafePath(self.file.clone()))?;
        let pay = match self.codec {
            Codec::H264 => "rtph264pay name=pay0 pt=96 config-interval=-1",
            Codec::H265 => "rtph265pay name=pay0 pt=96 config-interval=-1",
            Codec::Mjpeg => "rtpjpegpay name=pay0 pt=26",
        };
        if self.passthrough {
            return Ok(format!("( filesrc location=\"{location}\" ! parsebin ! {pay} )"));
        }
        let mut raw = String::new();
        if let Some((w, h)) = self.size {
            raw.push_str(&format!("! videoscale ! video/x-raw,width={w},height={h} "));
        }
        if let Some(fps) = self.fps {
            raw.push_str(&format!("! videorate ! video/x-raw,framerate={fps}/1 "));
        }
        let (gop, b) = (self.gop, self.bframes);
        let encode = match (self.codec, b) {
            (Codec::H264, 0) => format!(
                "x264enc tune=zerolatency speed-preset=ultrafast bframes=0 key-int-max={gop} ! video/x-h264,profile=baseline"
            ),
            // zerolatency forbids B-frames; without it x264 looks ahead, which B-frames need.
            (Codec::H264, b) => format!(
                "x264enc speed-preset=ultrafast bframes={b} b-adapt=false key-int-max={gop} ! video/x-h264,profile=main"
            ),
            (Codec::H265, 0) => format!("x265enc tune=zerolatency speed-preset=ultrafast key-int-max={gop}"),
            (Codec::H265, b) => {
                format!("x265enc speed-preset=ultrafast key-int-max={gop} option-string=bframes={b}:b-adapt=0")
            }
            (Codec::Mjpeg, _) => "jpegenc".to_string(),
        };
        Ok(format!("( filesrc location=\"{location}\" ! decodebin ! videoconvert {raw}! {encode} ! {pay} )"))
    }
}

/// A running RTSP server with its own GLib main loop thread; stops when dropped.
#[derive(Debug)]
pub struct RtspServer {
    port: u16,
    server: rtsp::RTSPServer,
    context: glib::MainContext,
    main_loop: glib::MainLoop,
    thread: Option<JoinHandle<()>>,
}

impl RtspServer {
    /// Starts a server on 127.0.0.1 at `port` (0 picks a free one) serving `streams`.
    pub fn start(port: u16, streams: &[Stream]) -> Result<Self, RtspServerError> {
        Self::start_with_auth(port, streams, None)
    }

    /// As [`RtspServer::start`], requiring HTTP basic authentication with `credentials`.
    pub fn start_with_auth(
        port: u16,
        streams: &[Stream],
        credentials: Option<(&str, &str)>,
    ) -> Result<Self, RtspServerError> {
        Self::start_inner(port, streams, credentials, 0)
    }

    /// As [`RtspServer::start`], serving clients on a pool of `client_threads` threads instead
    /// of the server's one: for a load fixture of many cameras, whose packets one thread cannot
    /// write fast enough. Dropping it with clients connected can leave a pool thread reading a
    /// closed connection in a loop (see `start_inner`), so such a fixture ends with its process.
    pub fn start_pooled(port: u16, streams: &[Stream], client_threads: u32) -> Result<Self, RtspServerError> {
        Self::start_inner(port, streams, None, client_threads)
    }

    fn start_inner(
        port: u16,
        streams: &[Stream],
        credentials: Option<(&str, &str)>,
        client_threads: u32,
    ) -> Result<Self, RtspServerError> {
        gst::init().map_err(|e| RtspServerError::Init(e.to_string()))?;
        let server = rtsp::RTSPServer::new();
        server.set_address("127.0.0.1");
        server.set_service(&port.to_string());
        let mounts = server.mount_points().ok_or_else(|| RtspServerError::Start("no mount points".into()))?;
        for stream in streams {
            let factory = rtsp::RTSPMediaFactory::new();
            factory.set_launch(&stream.launch()?);
            // One encoder per mount however many clients: a camera is one source.
            factory.set_shared(true);
            if credentials.is_some() {
                let role = gst::Structure::builder("viewer")
                    .field(rtsp::RTSP_PERM_MEDIA_FACTORY_ACCESS.as_str(), true)
                    .field(rtsp::RTSP_PERM_MEDIA_FACTORY_CONSTRUCT.as_str(), true)
                    .build();
                factory.add_role_from_structure(&role);
            }
            mounts.add_factory(&stream.mount, factory);
        }
        if let Some((user, password)) = credentials {
            let auth = rtsp::RTSPAuth::new();
            let token =
                rtsp::RTSPToken::builder().field(rtsp::RTSP_TOKEN_MEDIA_FACTORY_ROLE.as_str(), "viewer").build();
            auth.add_basic(&rtsp::RTSPAuth::make_basic(user, password), &token);
            server.set_auth(Some(&auth));
        }
        // By default clients are served on the server's own thread, not a pool's: a client
        // closed from another thread while its pool thread reads from it leaves that thread
        // reading a closed connection in a loop (a GLib critical each turn, a core spent) for
        // the life of the process. On one thread the stop below closes them between two reads.
        if let Some(pool) = server.thread_pool() {
            pool.set_max_threads(i32::try_from(client_threads).unwrap_or(i32::MAX));
        }
        let context = glib::MainContext::new();
        let source = server.attach(Some(&context)).map_err(|e| RtspServerError::Start(e.to_string()))?;
        let port = u16::try_from(server.bound_port()).map_err(|_| RtspServerError::Start("no bound port".into()))?;
        let main_loop = glib::MainLoop::new(Some(&context), false);
        let ml = main_loop.clone();
        let ctx = context.clone();
        let handle = server.clone();
        let thread = std::thread::Builder::new()
            .name(format!("rtsp-server-{port}"))
            .spawn(move || {
                // The server lives on this thread with its context until the loop quits.
                let _server = server;
                ml.run();
                if let Some(s) = ctx.find_source_by_id(&source) {
                    s.destroy();
                }
            })
            .map_err(|e| RtspServerError::Start(e.to_string()))?;
        tracing::debug!(port, "RTSP server started");
        Ok(Self { port, server: handle, context, main_loop, thread: Some(thread) })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn url(&self, mount: &str) -> String {
        format!("rtsp://127.0.0.1:{}{mount}", self.port)
    }
}

impl Drop for RtspServer {
    /// Stops like a camera that goes away: client connections are closed and their media
    /// torn down, and the port is released for a restart.
    fn drop(&mut self) {
        let (server, main_loop) = (self.server.clone(), self.main_loop.clone());
        // On the server's thread, where its clients are read: see `start_inner`.
        self.context.invoke(move || {
            server.client_filter(Some(&mut |_, _| rtsp::RTSPFilterResult::Remove));
            main_loop.quit();
        });
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}
