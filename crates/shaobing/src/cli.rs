//! The `shaobing` command line: parsing, logging, and the subcommands. Kept in the library so
//! that the end-to-end tests run the same command line as the shipped binary.

use anyhow::Context;
use clap::{Parser, Subcommand};
use std::path::PathBuf;
use std::process::ExitCode;
use tokio_util::sync::CancellationToken;

#[derive(Parser, Debug)]
#[command(
    name = "shaobing",
    version,
    about = "哨兵: finds a street's problems on camera and files them into the problem database"
)]
struct Cli {
    /// Log filter, e.g. `info` or `shaobing=debug` (overridden by RUST_LOG).
    #[arg(long, global = true, default_value = "info")]
    log: String,
    /// Log lines as human-readable text or as JSON objects (one per line, for a collector).
    #[arg(long, global = true, value_enum, default_value = "text")]
    log_format: LogFormat,
    #[command(subcommand)]
    command: Command,
}

#[derive(clap::ValueEnum, Clone, Copy, Debug)]
enum LogFormat {
    Text,
    Json,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Run the daemon with a configuration file.
    Run {
        /// The configuration file (deploy/shaobing.example.toml shows every key).
        #[arg(long)]
        config: PathBuf,
    },
    /// Serve the vtest.avi street clip over a local RTSP server, analyse it with the shipped
    /// demo configuration and print the issues filed. Needs no services or configuration.
    Demo {
        /// Where the demo's database and snapshots go; cleared before each demo, so only a
        /// new directory or one a demo made is accepted [default: shaobing-demo in the
        /// system's temporary directory].
        #[arg(long)]
        data_dir: Option<PathBuf>,
    },
    /// Run one model on an image or a clip: detections as a table or JSON, and an annotated
    /// image (with a camera's zones when asked): how a new model and new zones are checked.
    Detect(crate::detect_cli::DetectArgs),
    /// Run the whole analysis over an annotated clip set on the clips' own time and print per
    /// category precision, recall, time to issue and false emergencies per camera-hour.
    Eval(crate::eval_cli::EvalArgs),
    /// Validate a configuration file; exit code 2 when it is invalid.
    CheckConfig {
        /// The configuration file to check.
        config: PathBuf,
    },
    /// Read and update the box's problem database.
    Issues {
        #[command(flatten)]
        the_box: BoxArgs,
        #[command(subcommand)]
        command: crate::issues_cli::IssuesCommand,
    },
    /// Check the box's tamper-evident record: the hash chain of its issue history and
    /// evidence, the evidence files, and the central database's copy.
    Evidence {
        #[command(flatten)]
        the_box: BoxArgs,
        #[command(subcommand)]
        command: crate::evidence_cli::EvidenceCommand,
    },
}

/// Which box a command that reads its problem database works on, and how it prints.
#[derive(clap::Args, Debug)]
struct BoxArgs {
    /// The daemon's configuration, for its data directory (and `[central]`) [default:
    /// /etc/shaobing/shaobing.toml when it exists].
    #[arg(long, global = true)]
    config: Option<PathBuf>,
    /// The data directory (overrides the configuration's).
    #[arg(long, global = true)]
    data_dir: Option<PathBuf>,
    /// Print JSON instead of tables and text.
    #[arg(long, global = true)]
    json: bool,
}

/// Runs the command line of this process: `main` of every executable that ships it.
pub fn main() -> ExitCode {
    shaobing_camera::alloc::tune_allocator();
    let cli = Cli::parse();
    init_tracing(&cli.log, cli.log_format);
    let format = cli.log_format;
    let result = match cli.command {
        Command::CheckConfig { config } => crate::preflight::Prepared::load(&config)
            .map(|_| println!("{}: ok", config.display()))
            .map_err(anyhow::Error::from),
        Command::Run { config } => runtime().and_then(|rt| rt.block_on(run(config))),
        Command::Issues { the_box: b, command } => {
            the_box(b.config, b.data_dir).and_then(|(dir, _)| crate::issues_cli::run(&dir, command, b.json))
        }
        Command::Evidence { the_box: b, command } => the_box(b.config, b.data_dir).and_then(|(dir, config)| {
            runtime()?.block_on(crate::evidence_cli::run(&dir, config.as_ref(), command, b.json))
        }),
        Command::Detect(args) => crate::detect_cli::run(&args),
        Command::Eval(args) => runtime().and_then(|rt| rt.block_on(crate::eval_cli::run(&args))),
        Command::Demo { data_dir } => {
            let data_dir = data_dir.unwrap_or_else(crate::demo::default_data_dir);
            runtime().and_then(|rt| rt.block_on(crate::demo::run(&data_dir)))
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            match format {
                LogFormat::Text => eprintln!("error: {e:#}"),
                // A collector reading JSON lines would drop a plain-text line, and with it the
                // reason the box stopped.
                LogFormat::Json => tracing::error!(error = %format!("{e:#}"), "shaobing stopped"),
            }
            exit_code(&e)
        }
    }
}

/// 2 for a configuration at fault (what `check-config` reports), 1 for anything else: a
/// service manager can tell a box that needs its configuration fixed from one that may
/// recover by itself.
fn exit_code(e: &anyhow::Error) -> ExitCode {
    if e.chain().any(|c| c.is::<shaobing_config::ConfigError>()) { ExitCode::from(2) } else { ExitCode::FAILURE }
}

/// The packaged configuration: where `issues` looks when given neither option.
const INSTALLED_CONFIG: &str = "/etc/shaobing/shaobing.toml";

/// The box a CLI command reads: its data directory, and its configuration when one was given
/// or is installed.
fn the_box(
    config: Option<PathBuf>,
    data_dir: Option<PathBuf>,
) -> anyhow::Result<(PathBuf, Option<shaobing_config::Config>)> {
    // The installed configuration only when no data directory is given.
    let installed = Some(PathBuf::from(INSTALLED_CONFIG)).filter(|p| data_dir.is_none() && p.is_file());
    let config = config.or(installed).map(|c| shaobing_config::Config::load(&c)).transpose()?;
    if let Some(c) = &config {
        shaobing_core::set_box_zone(c.daemon.utc_offset);
    }
    let data_dir = match (data_dir, &config) {
        (Some(d), _) => d,
        (None, Some(c)) => c.daemon.data_dir.clone(),
        (None, None) => anyhow::bail!("which box? give --data-dir DIR or --config FILE ({INSTALLED_CONFIG} is absent)"),
    };
    Ok((data_dir, config))
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread().enable_all().build().context("cannot start the async runtime")
}

fn init_tracing(default: &str, format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    // Colour only for a person at a terminal: escapes in a redirected log are noise.
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let logs = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).with_ansi(ansi);
    match format {
        LogFormat::Text => logs.init(),
        LogFormat::Json => logs.json().init(),
    }
}

async fn run(config_path: PathBuf) -> anyhow::Result<()> {
    // Before anything slow (loading the runtime and the models takes a second or more on a
    // loaded box): a stop asked for meanwhile is a graceful stop, never a kill by the signal.
    let cancel = CancellationToken::new();
    crate::service::stop_on_signals(cancel.clone()).context("cannot install signal handlers")?;
    let prepared = crate::preflight::Prepared::load(&config_path)?;
    let daemon = crate::daemon::Daemon::start_prepared(prepared, cancel).await?;
    tracing::info!(metrics = %daemon.metrics_addr(), "shaobing running");
    crate::service::notify("READY=1");
    daemon.wait().await
}

#[cfg(test)]
mod tests {
    use super::Cli;
    use clap::CommandFactory;

    /// `--help` explains every argument of every command.
    #[test]
    fn every_argument_has_help() {
        fn walk(command: &clap::Command, path: &str, missing: &mut Vec<String>) {
            for arg in command.get_arguments().filter(|a| !matches!(a.get_id().as_str(), "help" | "version")) {
                if arg.get_help().is_none() {
                    missing.push(format!("{path} {}", arg.get_id()));
                }
            }
            for sub in command.get_subcommands() {
                walk(sub, &format!("{path} {}", sub.get_name()), missing);
            }
        }
        let mut missing = Vec::new();
        walk(&Cli::command(), "shaobing", &mut missing);
        assert!(missing.is_empty(), "arguments without help: {missing:?}");
    }
}
