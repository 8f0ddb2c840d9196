//! How many 1080p25 cameras one box holds: shaobing against the peer (the pipeline integrators
//! write instead, `peer/`), in the same run, against the same RTSP server, by the same keep-up
//! rule. Each trial runs in a fresh process so that its memory is its own.

use crate::camera_trial::{MIN_ANALYSED, MIN_RECEIVED, Mode, Trial, WINDOW};
use crate::fixture::{self, FPS, FixtureServer, GOP};
use crate::peer::Peer;
use std::path::PathBuf;
use std::time::Duration;

#[derive(clap::Args, Debug, Clone)]
pub struct Args {
    /// What is measured, in order: `peer`, `keyframes` (inference on every key frame, the
    /// headline), `gated` (the motion gate on, the daemon's default), `every-frame`.
    #[arg(long, value_delimiter = ',', default_value = "peer,keyframes,gated")]
    trials: Vec<Kind>,
    /// Seconds each trial is measured for, after the warm-up; the keep-up rule reads the last 20.
    #[arg(long, default_value_t = 40)]
    measure_secs: u64,
    /// Seconds each trial runs before measuring (connection, first key frames).
    #[arg(long, default_value_t = 10)]
    warmup_secs: u64,
    /// The first N tried; N doubles while trials pass, then is bisected.
    #[arg(long, default_value_t = 4)]
    start: usize,
    /// Largest number of cameras tried.
    #[arg(long, default_value_t = 64)]
    max_cameras: usize,
    /// Threads of the fixture server writing to its clients (GStreamer's default is one).
    #[arg(long, default_value_t = 1)]
    server_threads: u32,
    /// Connect shaobing's cameras over one GOP instead of all at once.
    #[arg(long)]
    spread: bool,
    /// Where the encoded 1080p fixture is cached.
    #[arg(long, default_value = "target/bench-fixtures")]
    fixture_dir: PathBuf,
    /// Inference sessions serving all cameras (the daemon's `runtime.inference_workers`).
    #[arg(long, default_value_t = 2)]
    inference_workers: usize,
    /// Threads each inference may use (the daemon's `runtime.intra_threads`; 0: the cores
    /// shared among the workers).
    #[arg(long, default_value_t = 0)]
    intra_threads: usize,
    /// The detector shaobing runs (a name in models/manifest.toml); the peer runs CenterNet.
    #[arg(long, default_value = "centernet-mobilenetv3-coco")]
    model: String,
    /// Frames decoded from each key frame on (the daemon's `key_frame_burst`, 3 by default:
    /// fire within two GOPs); 1 decodes key frames only.
    #[arg(long, default_value_t = 3)]
    key_frame_burst: usize,
    /// Also run the largest key-frame N again with each camera's clip pre-roll kept.
    #[arg(long)]
    clips: bool,
}

#[derive(clap::ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Peer,
    Keyframes,
    Gated,
    EveryFrame,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::Peer => "peer",
            Kind::Keyframes => "keyframes",
            Kind::Gated => "gated",
            Kind::EveryFrame => "every-frame",
        }
    }

    fn mode(self) -> Option<Mode> {
        match self {
            Kind::Peer => None,
            Kind::Keyframes => Some(Mode::Keyframes),
            Kind::Gated => Some(Mode::Gated),
            Kind::EveryFrame => Some(Mode::EveryFrame),
        }
    }
}

/// What runs the trials of one run.
struct Bench<'a> {
    args: &'a Args,
    server: &'a FixtureServer,
    peer: Option<Peer>,
}

pub fn run(args: Args) -> anyhow::Result<()> {
    let file = fixture::ensure(&shaobing_rtsp_server::street_clip(), &args.fixture_dir)?;
    let server = FixtureServer::spawn(&file, args.max_cameras, args.server_threads)?;
    let peer = match args.trials.contains(&Kind::Peer) {
        true => Some(Peer {
            python: crate::peer::python()?,
            model: crate::peer::model(&shaobing_detect::Manifest::load(&shaobing_detect::manifest_path(None))?),
            warmup_secs: args.warmup_secs,
            measure_secs: args.measure_secs,
        }),
        false => None,
    };
    print_header(&args);
    let bench = Bench { args: &args, server: &server, peer };
    let mut best = Vec::new();
    for &kind in &args.trials {
        best.push((kind, bench.find_max(kind)?));
    }
    summarise(&best);
    let keyframes = best.iter().find(|(k, _)| *k == Kind::Keyframes).and_then(|(_, t)| t.clone());
    if let (true, Some(k)) = (args.clips, keyframes) {
        let c = bench.trial(Kind::Keyframes, k.cameras, true)?;
        println!(
            "clips on at the largest key-frame N ({}): {}; +{:.2}% of a core and +{:.1} MiB RSS per camera",
            c.cameras,
            if c.pass { "ok" } else { "FAIL" },
            100.0 * (c.per_camera(c.cpu_cores) - k.per_camera(k.cpu_cores)),
            c.per_camera(c.rss_mib) - k.per_camera(k.rss_mib)
        );
    }
    Ok(())
}

fn print_header(args: &Args) {
    println!(
        "cameras: 1080p{FPS} H.264, GOP {GOP}, served from another process over RTSP/TCP on loopback \
         by {} client thread(s)",
        args.server_threads
    );
    println!(
        "shaobing: {} on {} inference worker(s) of {}, key-frame burst {}, cameras connected {}; \
         peer: CenterNet, OpenCV decoding every frame, all connected together",
        args.model,
        args.inference_workers,
        match args.intra_threads {
            0 => "the cores shared".to_string(),
            n => format!("{n} thread(s)"),
        },
        args.key_frame_burst,
        if args.spread { "over one GOP" } else { "together" }
    );
    println!(
        "pass (the peer's rule): over the last {} s every camera completed >= {MIN_ANALYSED} analyses/s \
         (with inference, but for `gated`) and was received at >= {MIN_RECEIVED} fps; for shaobing also \
         no camera restarted",
        WINDOW.as_secs()
    );
    println!(
        "* latency, seconds: shaobing from a key frame's arrival (stamped at capture) to its analysis result; \
         the peer from grabbing the sampled frame (decoded) to its result, and its second figure is its p95"
    );
    println!(
        "{:<12} {:>4}  {:<4}  {:>10}  {:>10}  {:>8}  {:>8}  {:>10}  {:>13}  {:>8}  {:>5}",
        "trial",
        "N",
        "",
        "analysed/s",
        "received/s",
        "cpu/cam",
        "MiB/cam",
        "server/cam",
        "latency p50/99*",
        "restarts",
        "shed"
    );
}

fn print_trial(kind: Kind, t: &Trial) {
    let secs = |v: Option<f64>| v.map_or("-".to_string(), |v| format!("{v:.2}"));
    println!(
        "{:<12} {:>4}  {:<4}  {:>10.2}  {:>10.1}  {:>7.1}%  {:>8.1}  {:>9.1}%  {:>6}/{:<6}  {:>8}  {:>5}",
        kind.name(),
        t.cameras,
        if t.pass { "ok" } else { "FAIL" },
        t.min_analysed,
        t.min_received,
        100.0 * t.per_camera(t.cpu_cores),
        t.per_camera(t.rss_mib),
        100.0 * t.per_camera(t.server_cores),
        secs(t.latency_p50),
        secs(t.latency_p99),
        t.restarts,
        t.shed,
    );
}

impl Bench<'_> {
    /// Doubles N from `start` while trials pass, then bisects between the last pass and the
    /// first failure.
    fn find_max(&self, kind: Kind) -> anyhow::Result<Option<Trial>> {
        let max = self.args.max_cameras;
        let mut best: Option<Trial> = None;
        let mut failed_at = max + 1;
        let mut n = self.args.start.clamp(1, max);
        loop {
            let t = self.trial(kind, n, false)?;
            print_trial(kind, &t);
            if !t.pass {
                failed_at = n;
                break;
            }
            best = Some(t);
            if n == max {
                break;
            }
            n = (n * 2).min(max);
        }
        let mut lo = best.as_ref().map_or(0, |t| t.cameras);
        while failed_at - lo > 1 {
            let mid = (lo + failed_at) / 2;
            let t = self.trial(kind, mid, false)?;
            print_trial(kind, &t);
            if t.pass {
                lo = mid;
                best = Some(t);
            } else {
                failed_at = mid;
            }
        }
        Ok(best)
    }

    fn trial(&self, kind: Kind, n: usize, clips: bool) -> anyhow::Result<Trial> {
        // The server tears the last trial's sessions down meanwhile.
        std::thread::sleep(Duration::from_secs(3));
        match (kind.mode(), &self.peer) {
            (Some(mode), _) => self.shaobing(mode, n, clips),
            (None, Some(peer)) => peer.trial(self.server, n),
            (None, None) => anyhow::bail!("the peer was not set up"),
        }
    }

    /// Runs one of shaobing's trials in a child process and reads its result line.
    fn shaobing(&self, mode: Mode, n: usize, clips: bool) -> anyhow::Result<Trial> {
        let a = self.args;
        let mode_name = match mode {
            Mode::Keyframes => "keyframes",
            Mode::Gated => "gated",
            Mode::EveryFrame => "every-frame",
        };
        let mut cmd = std::process::Command::new(std::env::current_exe()?);
        cmd.args(["camera-trial", "--port", &self.server.port.to_string(), "--server-pid", &self.server.pid()])
            .args(["--mode", mode_name, "--cameras", &n.to_string()])
            .args(["--warmup-secs", &a.warmup_secs.to_string(), "--measure-secs", &a.measure_secs.to_string()])
            .args(["--inference-workers", &a.inference_workers.to_string(), "--model", &a.model])
            .args(["--intra-threads", &a.intra_threads.to_string()])
            .args(["--key-frame-burst", &a.key_frame_burst.to_string()]);
        if a.spread {
            cmd.arg("--spread");
        }
        if clips {
            cmd.arg("--clips");
        }
        Ok(serde_json::from_str(&trial_line(cmd)?)?)
    }
}

fn summarise(best: &[(Kind, Option<Trial>)]) {
    let largest = |kind: Kind| best.iter().find(|(k, _)| *k == kind).and_then(|(_, t)| t.as_ref());
    println!();
    for (kind, t) in best {
        let Some(t) = t else {
            println!("largest N, {:<12} none passed", kind.name());
            continue;
        };
        println!(
            "largest N, {:<12} {:>3}: {:.1}% of a core and {:.1} MiB RSS per camera; the server {:.1}% per camera",
            kind.name(),
            t.cameras,
            100.0 * t.per_camera(t.cpu_cores),
            t.per_camera(t.rss_mib),
            100.0 * t.per_camera(t.server_cores),
        );
    }
    if let Some(peer) = largest(Kind::Peer) {
        for kind in [Kind::Keyframes, Kind::Gated, Kind::EveryFrame] {
            if let Some(t) = largest(kind) {
                println!("ratio, {} to the peer: {:.1}x", kind.name(), t.cameras as f64 / peer.cameras as f64);
            }
        }
    }
    for kind in [Kind::Keyframes, Kind::Gated] {
        let Some(t) = largest(kind) else { continue };
        let parts: Vec<String> = t
            .threads
            .iter()
            .map(|(group, cores)| format!("{group} {:.2}% ({:.0}%)", 100.0 * t.per_camera(*cores), 100.0 * cores))
            .collect();
        println!(
            "where the CPU goes at N = {} ({}), per camera (in all): {}",
            t.cameras,
            kind.name(),
            parts.join(", ")
        );
        if kind == Kind::Gated {
            println!("gated: {:.0}% of the full analyses ran inference", 100.0 * t.inferred_share);
        }
    }
}

/// Runs a trial process; what its `TRIAL` line says.
fn trial_line(mut cmd: std::process::Command) -> anyhow::Result<String> {
    let out = cmd.output()?;
    let text = String::from_utf8_lossy(&out.stdout);
    text.lines()
        .find_map(|l| l.strip_prefix("TRIAL "))
        .map(str::to_string)
        .ok_or_else(|| anyhow::anyhow!("a trial printed no result: {}", String::from_utf8_lossy(&out.stderr)))
}

/// Runs a trial process and parses the `width` numbers of its `TRIAL` line.
pub(crate) fn trial_child(cmd: std::process::Command, width: usize) -> anyhow::Result<Vec<f64>> {
    let line = trial_line(cmd)?;
    let v: Vec<f64> = line.split_whitespace().filter_map(|x| x.parse().ok()).collect();
    anyhow::ensure!(v.len() == width, "malformed trial result `{line}`");
    Ok(v)
}
