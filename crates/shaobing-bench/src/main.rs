//! `shaobing-bench`: measured comparisons, each against a baseline run in the same process
//! and the same minute, so the ratio holds whatever else the machine is doing.

mod analysis;
mod camera_trial;
mod cameras;
mod fixture;
mod fleet;
mod peer;
mod procfs;
mod receive;
mod store;

use clap::{Parser, Subcommand};
use std::path::PathBuf;

#[derive(Parser, Debug)]
#[command(name = "shaobing-bench")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Largest number of simulated 1080p25 H.264 RTSP cameras this box sustains, each analysed
    /// at >= 0.45 frames/s: shaobing against the peer integrators write, in the same run.
    Cameras(cameras::Args),
    /// CPU per key-frame camera received by retina (the default) against GStreamer's rtspsrc,
    /// with the same shared decoders and no analysis.
    Receive(receive::Args),
    /// Issues/s committed locally and drained to PostgreSQL, each against the bare work it is
    /// made of; an emergency issue's latency to its committed row.
    Store(store::Args),
    /// How many boxes one central PostgreSQL serves: issues/s arriving from N boxes at once
    /// and the round trip of a central verdict to its box (p50, p99), against one box alone.
    Fleet(fleet::Args),
    /// Per analysed frame: the whole analysis against a bare `session.run` of the same model
    /// on the same input; and the share of inferences the motion gate avoids.
    Analysis(analysis::Args),
    /// (internal) One trial of the cameras benchmark in a fresh process, so that its memory
    /// is its own; prints one result line.
    CameraTrial(camera_trial::TrialArgs),
    /// (internal) One client of the receive benchmark in a fresh process.
    ReceiveTrial(receive::TrialArgs),
    /// (internal) Serve the 1080p fixture on MOUNTS RTSP mounts; prints the port.
    ServeFixture {
        #[arg(long)]
        file: PathBuf,
        #[arg(long)]
        mounts: usize,
        /// Threads writing to the clients.
        #[arg(long)]
        client_threads: u32,
    },
}

fn main() -> anyhow::Result<()> {
    // The same allocator policy as the daemon, so memory per camera is the daemon's.
    shaobing_camera::alloc::tune_allocator();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        .init();
    match Cli::parse().command {
        Command::Cameras(args) => cameras::run(args),
        Command::Analysis(args) => tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()?
            .block_on(analysis::run(args)),
        Command::Store(args) => tokio::runtime::Runtime::new()?.block_on(store::run(args)),
        Command::Fleet(args) => tokio::runtime::Runtime::new()?.block_on(fleet::run(args)),
        Command::Receive(args) => receive::run(args),
        Command::ReceiveTrial(args) => tokio::runtime::Runtime::new()?.block_on(receive::trial_main(args)),
        Command::CameraTrial(args) => tokio::runtime::Builder::new_multi_thread()
            .thread_name("analysis")
            .enable_all()
            .build()?
            .block_on(camera_trial::trial_main(args)),
        Command::ServeFixture { file, mounts, client_threads } => fixture::serve(&file, mounts, client_threads),
    }
}
