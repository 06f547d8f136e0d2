//! The command line: flags become typed arguments, then one of the commands runs.
//! `main.rs` only calls [`main`].

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

use std::process::ExitCode;

use clap::{Parser, Subcommand};

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

/// Parses the command line, runs the command, and maps errors to exit codes.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    init_tracing();
    match cli.command {
        Command::Check(args) => run::check(args),
        Command::Merge(args) => merge::merge(args),
        Command::Report(args) => report::report(args),
        Command::Compare(args) => compare::compare(args),
        Command::Run(args) => block_on(async { Ok(run::run(args).await) }),
        Command::Serve(args) => block_on(serve::run(args)),
        Command::Conformance(args) => block_on(async { Ok(conformance::run(args).await) }),
    }
}

/// Runs a command on a multi-threaded runtime; an error is printed with its causes.
fn block_on(command: impl Future<Output = anyhow::Result<ExitCode>>) -> ExitCode {
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(command) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(EXIT_USAGE)
        }
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

/// Loads `--profile FILE`, printing every mistake (located) when it has some.
pub(crate) fn load_profile(
    path: Option<&std::path::Path>,
) -> Result<Option<crate::drivers::profile::ProfileRef>, ()> {
    read_profile(path).map_err(|e| error::report(&e))
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

/// Resolves on SIGINT (Ctrl-C) or SIGTERM.
pub async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let mut term = match signal(SignalKind::terminate()) {
            Ok(term) => term,
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
                return;
            }
        };
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
