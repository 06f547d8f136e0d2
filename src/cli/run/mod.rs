//! `sigbench run` and `sigbench check`: one path from flags to exit code. The flags are
//! resolved once into a [`RunPlan`] ([`plan`]); [`execute`] runs it without printing and
//! says what happened; this file prints that, and [`crate::cli::error`] turns it into
//! the exit code: 0 (all held), 1 (something failed), 2 (usage or scenario error, or an
//! artifact that could not be written), 3 (target unreachable, unresponsive, or login
//! impossible), 130 (interrupted).

mod embedded;
pub mod execute;
pub mod plan;

use std::path::PathBuf;

use clap::Args;
use futures_util::Stream;

pub use execute::{Executed, ScenarioResult, TraceWritten, execute};
pub use plan::{Outputs, RunPlan, ScenarioRun, TargetChoice, Watch};

use super::error::{CliError, EXIT_PASSED, Outcome, report};
use crate::cli::out;
use crate::report::{Shard, print_summary};
use crate::scenario::{self, LoadFlags, Rate};
use std::time::Duration;

#[derive(Args, Debug)]
pub struct RunArgs {
    /// Scenario files to run, one after the other.
    #[arg(required = true, value_name = "SCENARIO.yaml")]
    pub scenarios: Vec<PathBuf>,
    /// Server to test (ws://host:port/). Without it, the reference server runs in-process.
    #[arg(long)]
    pub target: Option<String>,
    /// Extra CA certificate (PEM) to trust for a wss:// target.
    #[arg(long, value_name = "FILE.pem")]
    pub ca_cert: Option<PathBuf>,
    /// Secret the target derives login tokens from (HMAC-SHA256 of the account).
    #[arg(
        long,
        env = "SIGBENCH_SECRET",
        hide_env_values = true,
        conflicts_with = "accounts"
    )]
    pub secret: Option<String>,
    /// One password for every generated account (SIP digest auth; e.g. the `sigbench`
    /// password of scripts/kamailio). Used as the accounts' token.
    #[arg(
        long,
        env = "SIGBENCH_PASSWORD",
        hide_env_values = true,
        conflicts_with_all = ["accounts", "secret"]
    )]
    pub password: Option<String>,
    /// Accounts to use instead of generated ones: lines of account,token[,device].
    #[arg(long, value_name = "FILE.csv")]
    pub accounts: Option<PathBuf>,
    /// Override a scenario value, e.g. --set load.sessions=10 (repeatable).
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub sets: Vec<String>,
    /// Folder for the JSON report (and the HTML page written next to it).
    #[arg(long, default_value = "reports")]
    pub report_dir: PathBuf,
    /// Write no HTML page next to the JSON report.
    #[arg(long)]
    pub no_html: bool,
    /// Also write JUnit XML (a testsuite per scenario) to this file.
    #[arg(long, value_name = "FILE.xml")]
    pub junit: Option<PathBuf>,
    /// No progress display and no summary (the exit code and report still tell).
    #[arg(long)]
    pub quiet: bool,
    /// Run shard I of N: this generator's share of sessions, concurrency and arrival
    /// rates, with account names no other shard uses. Merge the N reports afterwards.
    #[arg(long, value_name = "I/N")]
    pub shard: Option<Shard>,
    /// Start barrier for shards: log in, then start the first session at this instant
    /// (RFC 3339, e.g. 2030-01-01T12:00:00Z).
    #[arg(long, value_name = "RFC3339")]
    pub start_at: Option<String>,
    /// Exit 0 when the run ended normally, whatever its verdict (which stays in the
    /// report): for shards whose verdict is the merge's.
    #[arg(long)]
    pub shard_verdict_in_report: bool,
    /// Spread connections over these local source addresses (comma-separated), for more
    /// connections than one address's ephemeral ports allow.
    #[arg(long, value_name = "IP,IP,...", value_delimiter = ',')]
    pub source_addrs: Vec<std::net::IpAddr>,
    /// Speak to the target through this wire profile (docs/profiles.md), instead of the
    /// scenario's `profile:` or the built-in framing. Without --target, the embedded
    /// server speaks the framing the profile is named after (sigbench, jsonrpc, protoo).
    #[arg(long, value_name = "PROFILE.yaml")]
    pub profile: Option<PathBuf>,
    /// Serve live metrics (Prometheus / OpenMetrics text) on this address while the run
    /// goes, e.g. 127.0.0.1:9464; scrape http://ADDR/metrics.
    #[arg(long, value_name = "ADDR")]
    pub metrics_listen: Option<String>,
    /// Write one JSON line of live numbers per second to this file.
    #[arg(long, value_name = "FILE.jsonl")]
    pub live: Option<PathBuf>,
    /// Trace every frame of N sessions spread over the run (JSON lines next to the
    /// report, `<report>.trace.jsonl`).
    #[arg(long, value_name = "N", conflicts_with = "trace_sessions")]
    pub trace: Option<u64>,
    /// Trace every frame of these sessions (numbers as failure samples show them).
    #[arg(long, value_name = "N,N,...", value_parser = crate::runner::trace::parse_sessions)]
    pub trace_sessions: Option<std::collections::BTreeSet<u64>>,
    /// Threads of the harness's runtime. One (the default) is the cheapest per session:
    /// no hand-offs between threads. More use more cores in one process (as does running
    /// shards, `--shard`). The embedded server, when there is no --target, runs on as
    /// many threads of its own.
    #[arg(long, value_name = "N", default_value_t = 1, value_parser = clap::value_parser!(u16).range(1..=1024))]
    pub threads: u16,
    /// Sessions in total (closed model). With only --sessions, the scenario's duration
    /// no longer limits the run.
    #[arg(
        long,
        value_name = "N",
        help_heading = "Load (overrides the scenario's load)"
    )]
    pub sessions: Option<u64>,
    /// Sessions at once (closed model); with the open model, at most this many in flight.
    #[arg(
        long,
        value_name = "N",
        help_heading = "Load (overrides the scenario's load)"
    )]
    pub concurrency: Option<u64>,
    /// Start sessions at this constant rate (open model), e.g. 50/s or 600/m, for
    /// --duration (or the scenario's duration).
    #[arg(long, value_name = "RATE", value_parser = parse_rate, help_heading = "Load (overrides the scenario's load)")]
    pub rate: Option<Rate>,
    /// How long the load lasts, e.g. 30s or 5m. With only --duration on a closed model,
    /// the scenario's session count no longer limits the run.
    #[arg(long, value_name = "DURATION", value_parser = scenario::parse_duration, help_heading = "Load (overrides the scenario's load)")]
    pub duration: Option<Duration>,
}

impl RunArgs {
    /// The load shorthands given.
    pub fn load_flags(&self) -> LoadFlags {
        LoadFlags {
            sessions: self.sessions,
            concurrency: self.concurrency,
            rate: self.rate,
            duration: self.duration,
        }
    }
}

fn parse_rate(text: &str) -> Result<Rate, String> {
    Rate::parse(text)
}

#[derive(Args, Debug)]
pub struct CheckArgs {
    /// Scenario files to validate.
    #[arg(required = true, value_name = "SCENARIO.yaml")]
    pub scenarios: Vec<PathBuf>,
    /// Override a scenario value, e.g. --set load.sessions=10 (repeatable).
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub sets: Vec<String>,
    /// Also check this wire profile, and that the scenarios can run through it.
    #[arg(long, value_name = "PROFILE.yaml")]
    pub profile: Option<PathBuf>,
}

/// `sigbench check`: validates without connecting.
pub fn check(args: CheckArgs) -> Result<Outcome, CliError> {
    let overrides =
        scenario::parse_overrides(&args.sets).map_err(|e| CliError::Usage(e.to_string()))?;
    let mut errors = Vec::new();
    let profile = match super::read_profile(args.profile.as_deref()) {
        Ok(p) => p,
        Err(CliError::Scenarios(lines)) => {
            errors.extend(lines);
            None
        }
        Err(e) => return Err(e),
    };
    for result in scenario::check_files(&args.scenarios, &overrides) {
        match result.result {
            Ok(plan) => match crate::drivers::driver_for_plan(&plan, profile.as_ref(), "") {
                Ok(_) => {
                    let what = if plan.flows.is_empty() {
                        format!("{} steps", plan.steps.len())
                    } else if let crate::scenario::LoadModel::PerFlow(_) = plan.load {
                        format!("{} flows, each with its own load", plan.flows.len())
                    } else {
                        format!("{} flows", plan.flows.len())
                    };
                    let through = profile
                        .as_ref()
                        .or(plan.profile.as_ref())
                        .map(|p| format!(", profile {}", p.0.name))
                        .unwrap_or_default();
                    out!(
                        "ok    {} ({}: {what}, {} roles{through})",
                        result.path.display(),
                        plan.name,
                        plan.roles.len(),
                    )
                }
                Err(e) => errors.push(format!("{}: {e}", result.path.display())),
            },
            Err(list) => errors.extend(list.iter().map(ToString::to_string)),
        }
    }
    if errors.is_empty() {
        Ok(Outcome::verdict(EXIT_PASSED))
    } else {
        Err(CliError::Scenarios(errors))
    }
}

/// `sigbench run`: resolves the flags, runs until done or `shutdown` yields (SIGINT or
/// SIGTERM; a second one stops at once), prints what happened.
pub async fn run(
    args: RunArgs,
    shutdown: impl Stream<Item = ()> + Send + 'static,
) -> Result<Outcome, CliError> {
    let junit = args.junit.clone();
    let names: Vec<String> = args
        .scenarios
        .iter()
        .map(|p| p.display().to_string())
        .collect();
    let plan = match RunPlan::resolve(args) {
        Ok(plan) => plan,
        Err(e) => {
            // Even a run that never started leaves its JUnit file, with the reason.
            if let Some(path) = &junit
                && let Err(w) = not_started_junit(path, &names, &e)
            {
                report(&w);
            }
            return Err(e);
        }
    };
    let quiet = plan.outputs.quiet;
    if let (Some(addr), false) = (plan.watch.metrics_addr, quiet) {
        eprintln!("metrics: http://{addr}/metrics");
    }
    let executed = execute(plan, shutdown, |result| show(result, quiet)).await;
    if let (Some(path), false) = (&executed.junit, quiet) {
        out!("junit: {}", path.display());
    }
    // The scenarios' errors are printed and counted in the verdict; the JUnit file's
    // are left to the caller.
    Ok(Outcome {
        verdict: executed.exit_code,
        errors: executed.errors,
    })
}

/// Prints one scenario's summary, where its artifacts went, and its errors.
fn show(result: &ScenarioResult, quiet: bool) {
    for e in &result.errors {
        report(e);
    }
    if let Some(trace) = result.trace.as_ref().filter(|t| t.dropped > 0) {
        eprintln!(
            "warning: {} traced frames left out (over {} MiB per session or {} MiB per run)",
            trace.dropped,
            crate::runner::trace::MAX_SESSION_BYTES >> 20,
            crate::runner::trace::MAX_TRACE_BYTES >> 20
        );
    }
    if quiet {
        return;
    }
    if let Some(report) = &result.report {
        let _ = print_summary(report);
    }
    for (what, path) in &result.written {
        out!("{what}: {}", path.display());
    }
    if let Some(trace) = &result.trace {
        out!(
            "trace: {} ({} frames of {} sessions)",
            trace.path.display(),
            trace.frames,
            trace.sessions
        );
    }
}

fn not_started_junit(
    path: &std::path::Path,
    names: &[String],
    e: &CliError,
) -> Result<(), CliError> {
    let reason = e.to_string();
    let report = crate::report::JunitReport {
        name: "sigbench run".to_owned(),
        suites: names
            .iter()
            .map(|name| crate::report::JunitSuite::not_run(name, e.exit_code(), &reason))
            .collect(),
    };
    report.write(path).map_err(|why| CliError::Artifact {
        what: "JUnit XML",
        path: path.display().to_string(),
        why: why.to_string(),
    })
}
