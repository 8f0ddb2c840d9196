//! The simulated camera: vtest.avi scaled to 1080p at 25 frames/s, H.264 with a GOP of 50,
//! encoded once and served on many mounts by a separate process, so the server's CPU is not
//! counted as the daemon's.

use anyhow::{Context, bail};
use gstreamer as gst;
use gstreamer::prelude::*;
use shaobing_rtsp_server::{RtspServer, Stream};
use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};

pub const GOP: u32 = 50;
pub const FPS: u32 = 25;

/// Encodes the fixture unless it is already there.
pub fn ensure(clip: &Path, dir: &Path) -> anyhow::Result<PathBuf> {
    let out = dir.join("vtest-1080p25-gop50.mkv");
    if out.is_file() {
        return Ok(out);
    }
    std::fs::create_dir_all(dir)?;
    let tmp = dir.join("vtest-1080p25-gop50.mkv.part");
    eprintln!("bench: encoding the 1080p25 fixture once into {} …", out.display());
    gst::init()?;
    let description = format!(
        "filesrc location=\"{}\" ! decodebin ! videoconvert ! videoscale ! video/x-raw,width=1920,height=1080 \
         ! videorate ! video/x-raw,framerate={FPS}/1 ! x264enc speed-preset=ultrafast bitrate=4000 bframes=0 \
         key-int-max={GOP} ! h264parse ! matroskamux ! filesink location=\"{}\"",
        clip.display(),
        tmp.display()
    );
    let pipeline = gst::parse::launch(&description)?;
    pipeline.set_state(gst::State::Playing)?;
    let bus = pipeline.bus().context("pipeline bus")?;
    let msg = bus
        .timed_pop_filtered(gst::ClockTime::NONE, &[gst::MessageType::Eos, gst::MessageType::Error])
        .context("encoding ended without a message")?;
    pipeline.set_state(gst::State::Null)?;
    if let gst::MessageView::Error(e) = msg.view() {
        bail!("encoding the fixture failed: {}", e.error());
    }
    std::fs::rename(&tmp, &out)?;
    Ok(out)
}

/// The child process side: serve and print the port, until stdin closes.
pub fn serve(file: &Path, mounts: usize, client_threads: u32) -> anyhow::Result<()> {
    let streams: Vec<Stream> =
        (0..mounts).map(|i| Stream { passthrough: true, ..Stream::new(&format!("/cam{i}"), file) }).collect();
    let server = RtspServer::start_pooled(0, &streams, client_threads)?;
    println!("PORT {}", server.port());
    std::io::stdout().flush()?;
    let mut line = String::new();
    while std::io::stdin().lock().read_line(&mut line)? > 0 {
        line.clear();
    }
    Ok(())
}

/// A fixture server in a child process; killed when dropped.
#[derive(Debug)]
pub struct FixtureServer {
    child: Child,
    _stdin: ChildStdin,
    pub port: u16,
}

impl FixtureServer {
    pub fn spawn(file: &Path, mounts: usize, client_threads: u32) -> anyhow::Result<Self> {
        let mut child = Command::new(std::env::current_exe()?)
            .args(["serve-fixture", "--file"])
            .arg(file)
            .args(["--mounts", &mounts.to_string(), "--client-threads", &client_threads.to_string()])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()?;
        let stdin = child.stdin.take().context("child stdin")?;
        let stdout = child.stdout.take().context("child stdout")?;
        let mut line = String::new();
        std::io::BufReader::new(stdout).read_line(&mut line)?;
        let port = line.trim().strip_prefix("PORT ").context("fixture server did not start")?.parse()?;
        Ok(Self { child, _stdin: stdin, port })
    }

    pub fn pid(&self) -> String {
        self.child.id().to_string()
    }
}

impl Drop for FixtureServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
