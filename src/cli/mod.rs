//! The command line: flags become typed arguments, then one of the commands runs.
//! `main.rs` only calls [`main`]; tests call [`command`], the same path with the
//! shutdown requests passed in. Every command ends in `Result<Outcome, CliError>`, which
//! [`error`] turns into the exit code in one place.

pub mod compare;
pub mod conformance;
pub mod error;
pub mod merge;
pub mod report;
pub mod run;
mod serve;
mod signals;
pub mod units;

pub(crate) use signals::out;
pub use signals::signals;

use std::ffi::OsString;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use futures_util::Stream;

use error::{CliError, Outcome, finish};

#[derive(Parser, Debug)]
#[command(
    name = "sigbench",
    version,
    about = "Load-testing and conformance harness for call-invitation signaling servers"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Run scenarios against a server (the embedded reference server by default).
    Run(run::RunArgs),
    /// Validate scenarios without connecting.
    Check(run::CheckArgs),
    /// Merge the JSON reports of a run's shards (run --shard I/N) into one, exactly.
    Merge(merge::MergeArgs),
    /// Compare two JSON reports (percentiles from the exact histograms, code counts) and
    /// fail when a --max-regression bound is exceeded.
    Compare(compare::CompareArgs),
    /// Re-render a JSON report as HTML (and JUnit XML), and print its summary.
    Report(report::ReportArgs),
    /// Run the reference signaling server.
    Serve(serve::ServeArgs),
    /// Check a server against the protocol, rule by rule (the built-in suite).
    Conformance(conformance::ConformanceArgs),
}

pub use error::EXIT_USAGE;

/// Parses the command line, runs the command until it ends or a signal (SIGINT, SIGTERM)
/// stops it, and exits with its code.
pub fn main() -> ExitCode {
    init_tracing();
    let cli = match Cli::try_parse_from(std::env::args_os()) {
        Ok(cli) => cli,
        Err(e) => return finish(Err(e.into())),
    };
    let runtime = match runtime(&cli.command) {
        Ok(rt) => rt,
        Err(e) => {
            return finish(Err(CliError::Other(anyhow::anyhow!(
                "cannot start the async runtime: {e}"
            ))));
        }
    };
    finish(runtime.block_on(dispatch(cli, signals())))
}

/// The runtime a command runs on. `run` uses `--threads` threads, one by default: a
/// current-thread runtime, with no hand-offs between worker threads (docs/performance.md,
/// "Issue 16: harness changes"). The other commands use one worker thread per core.
fn runtime(command: &Command) -> std::io::Result<tokio::runtime::Runtime> {
    match command {
        Command::Run(args) if args.threads == 1 => tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build(),
        Command::Run(args) => tokio::runtime::Builder::new_multi_thread()
            .worker_threads(usize::from(args.threads))
            .enable_all()
            .build(),
        _ => tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build(),
    }
}

/// Runs one command line (`["sigbench", "merge", …]`) to its end. `shutdown` yields once
/// per Ctrl-C/SIGTERM (the first asks for a graceful stop, the next for an immediate
/// one); the commands that run for a while (`run`, `conformance`, `serve`) listen to it.
pub async fn command<I, T>(
    argv: I,
    shutdown: impl Stream<Item = ()> + Send + 'static,
) -> Result<Outcome, CliError>
where
    I: IntoIterator<Item = T>,
    T: Into<OsString> + Clone,
{
    dispatch(Cli::try_parse_from(argv)?, shutdown).await
}

/// Runs a parsed command line to its end (see [`command`]).
async fn dispatch(
    cli: Cli,
    shutdown: impl Stream<Item = ()> + Send + 'static,
) -> Result<Outcome, CliError> {
    match cli.command {
        Command::Check(args) => run::check(args),
        Command::Merge(args) => merge::merge(args),
        Command::Report(args) => report::report(args),
        Command::Compare(args) => compare::compare(args),
        Command::Run(args) => run::run(args, shutdown).await,
        Command::Serve(args) => serve::run(args, shutdown).await,
        Command::Conformance(args) => conformance::run(args, shutdown).await,
    }
}

/// Reads the PEM file of `--ca-cert`, if given; the error names the file.
pub(crate) fn read_ca_cert(path: Option<&std::path::Path>) -> Result<Option<Vec<u8>>, String> {
    path.map(|path| {
        std::fs::read(path).map_err(|e| format!("cannot read --ca-cert {}: {e}", path.display()))
    })
    .transpose()
}

/// Reads `--profile FILE`; its mistakes come back located, one per line.
pub(crate) fn read_profile(
    path: Option<&std::path::Path>,
) -> Result<Option<crate::drivers::profile::ProfileRef>, error::CliError> {
    let Some(path) = path else { return Ok(None) };
    crate::drivers::profile::Profile::load(path)
        .map(|p| Some(crate::drivers::profile::ProfileRef(std::sync::Arc::new(p))))
        .map_err(|errors| {
            error::CliError::Scenarios(errors.iter().map(ToString::to_string).collect())
        })
}

/// The framing the embedded reference server speaks for a profile: the one the profile
/// is named after (sigbench, jsonrpc, protoo). Other profiles need a `--target`.
pub(crate) fn embedded_wire(
    profile: Option<&crate::drivers::profile::ProfileRef>,
) -> Result<crate::server::wire::Wire, String> {
    match profile {
        None => Ok(crate::server::wire::Wire::Sigbench),
        Some(p) => p.0.name.parse().map_err(|_| {
            format!(
                "the embedded server speaks the sigbench, jsonrpc and protoo framings; profile '{}' needs a --target that speaks it",
                p.0.name
            )
        }),
    }
}

fn init_tracing() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
}
