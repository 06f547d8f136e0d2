//! `sigbench run` and `sigbench check`: scenarios from YAML to a validated plan, run
//! against a target (the embedded reference server by default), reported for people
//! and CI, with exit codes 0 (all held), 1 (something failed), 2 (usage or scenario
//! error), 3 (target unreachable or login impossible), 130 (interrupted).

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use clap::Args;
use tokio_util::sync::CancellationToken;

use crate::report::{
    FlowMeta, Goal, JunitReport, JunitSuite, Progress, ProgressMode, RunMeta, RunReport, Shard,
    StoppedEarly, print_summary,
};
use crate::runner::accounts::{AccountSource, read_csv};
use crate::runner::client::Target;
use crate::runner::shard::shard_load;
use crate::runner::{Run, RunError, RunOptions};
use crate::scenario::{self, LoadFlags, LoadModel, Plan, Rate};
use crate::server::{Auth, ServerConfig, ServerHandle};

pub const EXIT_FAILED: u8 = 1;
pub const EXIT_USAGE: u8 = 2;
pub const EXIT_UNREACHABLE: u8 = 3;
pub const EXIT_INTERRUPTED: u8 = 130;

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
    /// Spread connections over these local source addresses (comma-separated), for more
    /// connections than one address's ephemeral ports allow.
    #[arg(long, value_name = "IP,IP,...", value_delimiter = ',')]
    pub source_addrs: Vec<std::net::IpAddr>,
    /// Speak to the target through this wire profile (docs/profiles.md), instead of the
    /// scenario's `profile:` or the built-in framing. Without --target, the embedded
    /// server speaks the framing the profile is named after (sigbench, jsonrpc, protoo).
    #[arg(long, value_name = "PROFILE.yaml")]
    pub profile: Option<PathBuf>,
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
    fn load_flags(&self) -> LoadFlags {
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
pub fn check(args: CheckArgs) -> ExitCode {
    let overrides = match scenario::parse_overrides(&args.sets) {
        Ok(o) => o,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(EXIT_USAGE);
        }
    };
    let mut failed = false;
    let profile = match super::load_profile(args.profile.as_deref()) {
        Ok(p) => p,
        Err(()) => {
            failed = true;
            None
        }
    };
    for result in scenario::check_files(&args.scenarios, &overrides) {
        match result.result {
            Ok(plan) => match crate::drivers::driver_for_plan(&plan, profile.as_ref()) {
                Ok(_) => {
                    let what = if plan.flows.is_empty() {
                        format!("{} steps", plan.steps.len())
                    } else {
                        format!("{} flows", plan.flows.len())
                    };
                    println!(
                        "ok    {} ({}: {what}, {} roles{})",
                        result.path.display(),
                        plan.name,
                        plan.roles.len(),
                        profile
                            .as_ref()
                            .or(plan.profile.as_ref())
                            .map(|p| format!(", profile {}", p.0.name))
                            .unwrap_or_default()
                    );
                }
                Err(e) => {
                    failed = true;
                    eprintln!("{}: {e}", result.path.display());
                }
            },
            Err(errors) => {
                failed = true;
                for e in errors {
                    eprintln!("{e}");
                }
            }
        }
    }
    if failed {
        ExitCode::from(EXIT_USAGE)
    } else {
        ExitCode::SUCCESS
    }
}

/// Loads every scenario first, so that a typo in the third file fails before the first runs.
fn load_plans(
    paths: &[PathBuf],
    sets: &[String],
    flags: LoadFlags,
) -> Result<Vec<(PathBuf, Plan)>, ExitCode> {
    let overrides = scenario::parse_overrides(sets).map_err(|e| {
        eprintln!("error: {e}");
        ExitCode::from(EXIT_USAGE)
    })?;
    let mut plans = Vec::new();
    let mut failed = false;
    for result in scenario::check_files(paths, &overrides) {
        match result.result {
            Ok(mut plan) if !flags.is_empty() => match flags.apply(&plan.load).and_then(|load| {
                match load
                    .planned_sessions()
                    .and_then(|n| plan.data.unique_shortfall(n))
                {
                    Some(why) => Err(why),
                    None => Ok(load),
                }
            }) {
                Ok(load) => {
                    plan.load = load;
                    plans.push((result.path, plan));
                }
                Err(e) => {
                    failed = true;
                    eprintln!("error: {}: {e}", result.path.display());
                }
            },
            Ok(plan) => plans.push((result.path, plan)),
            Err(errors) => {
                failed = true;
                for e in errors {
                    eprintln!("{e}");
                }
            }
        }
    }
    if failed {
        return Err(ExitCode::from(EXIT_USAGE));
    }
    Ok(plans)
}

/// A short random id for this run: part of account names, `${run}` and the report.
fn run_id() -> String {
    format!("{:06x}", rand::random::<u32>() & 0xff_ffff)
}

fn describe_load(load: &LoadModel) -> String {
    match load {
        LoadModel::Closed {
            sessions,
            duration,
            concurrency,
        } => {
            let mut parts = vec![format!("closed, concurrency {concurrency}")];
            if let Some(s) = sessions {
                parts.push(format!("{s} sessions"));
            }
            if let Some(d) = duration {
                parts.push(format!("for {}", scenario::format_duration(*d)));
            }
            parts.join(", ")
        }
        LoadModel::Open {
            stages,
            max_in_flight,
        } => format!(
            "open, {} stages, {} sessions planned, at most {max_in_flight} in flight",
            stages.len(),
            load.planned_sessions().unwrap_or(0)
        ),
    }
}

fn goal_of(plan: &Plan) -> Goal {
    match (
        &plan.load,
        plan.load.planned_sessions(),
        plan.load.planned_duration(),
    ) {
        (LoadModel::Closed { .. }, Some(n), _) => Goal::Sessions(n),
        (_, _, Some(d)) => Goal::Duration(d),
        _ => Goal::Unbounded,
    }
}

/// The embedded default target: the reference server on a loopback port, with a
/// secret made up for this run so that logins go through the real token check.
/// It speaks the framing of the profile the scenarios run through.
async fn embedded_server(
    plans: &[(PathBuf, Plan)],
    profile: Option<&crate::drivers::profile::ProfileRef>,
) -> anyhow::Result<(ServerHandle, String)> {
    let mut wires = Vec::new();
    for (_, plan) in plans {
        let wire =
            super::embedded_wire(profile.or(plan.profile.as_ref())).map_err(anyhow::Error::msg)?;
        if !wires.contains(&wire) {
            wires.push(wire);
        }
    }
    if wires.len() > 1 {
        anyhow::bail!(
            "these scenarios use different profiles ({}); the embedded server speaks one framing: run them separately or give --target",
            wires
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    let secret = format!("embedded-{:016x}", rand::random::<u64>());
    let handle = crate::server::spawn(ServerConfig {
        auth: Auth::Secret(secret.clone()),
        wire: wires.first().copied().unwrap_or_default(),
        ..ServerConfig::default()
    })
    .await?;
    Ok((handle, secret))
}

/// `sigbench run`.
pub async fn run(args: RunArgs) -> ExitCode {
    let plans = match load_plans(&args.scenarios, &args.sets, args.load_flags()) {
        Ok(plans) => plans,
        Err(code) => return code,
    };
    let csv = match &args.accounts {
        Some(path) => match read_csv(path) {
            Ok(list) => Some(list),
            Err(e) => {
                eprintln!("error: {e}");
                return ExitCode::from(EXIT_USAGE);
            }
        },
        None => None,
    };
    let Ok(profile) = super::load_profile(args.profile.as_deref()) else {
        return ExitCode::from(EXIT_USAGE);
    };
    let (server, target_url, secret) = match &args.target {
        Some(url) => (None, url.clone(), args.secret.clone()),
        None => match embedded_server(&plans, profile.as_ref()).await {
            Ok((handle, secret)) => {
                let url = handle.url();
                (Some(handle), url, Some(secret))
            }
            Err(e) => {
                eprintln!("error: cannot start the embedded server: {e:#}");
                return ExitCode::from(EXIT_UNREACHABLE);
            }
        },
    };
    let ca_cert = match super::read_ca_cert(args.ca_cert.as_deref()) {
        Ok(pem) => pem,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(EXIT_USAGE);
        }
    };
    let target = match Target::resolve(&target_url, ca_cert.as_deref()).await {
        Ok(t) => t,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(EXIT_USAGE);
        }
    };
    let interrupt = CancellationToken::new();
    let watcher = {
        let interrupt = interrupt.clone();
        tokio::spawn(async move {
            let _ = tokio::signal::ctrl_c().await;
            eprintln!("interrupted: no new sessions; finishing the ones in flight");
            interrupt.cancel();
        })
    };
    let mut worst = 0u8;
    let mut suites = Vec::new();
    for (path, plan) in plans {
        let name = plan.name.clone();
        let (code, report) = run_one(
            &args,
            &path,
            plan,
            Speaking {
                target: &target,
                profile: profile.as_ref(),
            },
            secret.clone(),
            csv.clone(),
            &interrupt,
        )
        .await;
        worst = worst.max(code);
        suites.push(match &report {
            Some(report) => JunitSuite::of_run(report),
            None => JunitSuite::not_run(&name, code),
        });
        if interrupt.is_cancelled() || code == EXIT_UNREACHABLE {
            break;
        }
    }
    watcher.abort();
    if let Some(server) = server {
        server.shutdown().await;
    }
    if let Some(path) = &args.junit {
        let junit = JunitReport {
            name: "sigbench run".to_owned(),
            suites,
        };
        if !super::report::write_junit(&junit, path, args.quiet) {
            worst = worst.max(EXIT_USAGE);
        }
    }
    ExitCode::from(worst)
}

/// Where a run goes and in which framing.
struct Speaking<'a> {
    target: &'a Target,
    /// `--profile`, which wins over the scenario's `profile:`.
    profile: Option<&'a crate::drivers::profile::ProfileRef>,
}

async fn run_one(
    args: &RunArgs,
    path: &Path,
    mut plan: Plan,
    speaking: Speaking<'_>,
    secret: Option<String>,
    csv: Option<Vec<crate::runner::accounts::Credentials>>,
    interrupt: &CancellationToken,
) -> (u8, Option<RunReport>) {
    let Speaking { target, profile } = speaking;
    let id = run_id();
    let shard = args.shard.unwrap_or(Shard::WHOLE);
    plan.load = shard_load(&plan.load, shard.index, shard.count);
    plan.data.shard = (shard.index, shard.count);
    let accounts = match csv {
        Some(list) => AccountSource::List(list),
        None => AccountSource::generated(&id, Some((shard.index, shard.count)), secret),
    };
    let meta = RunMeta {
        scenario: plan.name.clone(),
        scenario_file: path.display().to_string(),
        target: target.url.clone(),
        started_at: std::time::SystemTime::now(),
        shard,
        load: describe_load(&plan.load),
        interrupted: false,
        stopped_early: None,
        flows: plan
            .flows
            .iter()
            .map(|f| FlowMeta {
                name: f.name.clone(),
                weight: f.weight,
            })
            .collect(),
        aborts_expected: false,
    };
    let checks = crate::checks::threshold_checks(&plan);
    let goal = goal_of(&plan);
    let driver = match crate::drivers::driver_for_plan(&plan, profile) {
        Ok(d) => d,
        Err(e) => {
            eprintln!("error: {e}");
            return (EXIT_USAGE, None);
        }
    };
    let options = RunOptions {
        target: target.clone(),
        driver,
        run_id: id,
        accounts,
        sources: args.source_addrs.clone(),
        interrupt: interrupt.clone(),
        grace: Duration::from_secs(5),
        server_in_process: args.target.is_none(),
    };
    let run = match Run::new(plan, options) {
        Ok(run) => run,
        Err(e) => {
            eprintln!("error: {e}");
            return (EXIT_USAGE, None);
        }
    };
    let mode = if args.quiet {
        ProgressMode::Off
    } else {
        ProgressMode::Auto
    };
    let progress = Progress::start(run.live(), goal, mode);
    let outcome = run.execute().await;
    progress.stop().await;
    let outcome = match outcome {
        Ok(outcome) => outcome,
        Err(e @ (RunError::Unreachable(_) | RunError::LoginImpossible(_))) => {
            eprintln!("error: {e}");
            let code = if interrupt.is_cancelled() {
                EXIT_INTERRUPTED
            } else {
                EXIT_UNREACHABLE
            };
            return (code, None);
        }
        Err(e) => {
            eprintln!("error: {e}");
            return (EXIT_USAGE, None);
        }
    };
    let results = match crate::metrics::evaluate(&checks, &outcome.results) {
        Ok(results) => results,
        Err(e) => {
            eprintln!("error: {e}");
            return (EXIT_USAGE, None);
        }
    };
    let meta = RunMeta {
        started_at: outcome.started_at,
        interrupted: outcome.interrupted,
        stopped_early: outcome.early_stop.as_ref().map(|stop| StoppedEarly {
            reason: stop.reason.clone(),
            at_ms: u64::try_from(stop.at.as_millis()).unwrap_or(u64::MAX),
        }),
        ..meta
    };
    let mut report = match RunReport::new(meta, &outcome.results, &results) {
        Ok(report) => report,
        Err(e) => {
            eprintln!("error: cannot build the report: {e}");
            return (EXIT_FAILED, None);
        }
    };
    if outcome.target_lost {
        report.warnings.push(
            "the target stopped accepting connections during the run; the run ended early".into(),
        );
    }
    let p = &outcome.punctuality;
    if p.dispatcher_late * 100 > p.arrivals.max(1) {
        report.warnings.push(format!(
            "the load generator is the bottleneck: its scheduler woke late for {} of {} arrivals (worst {:?}); numbers understate what the server can do",
            p.dispatcher_late, p.arrivals, p.worst_wake_lag
        ));
    }
    if p.no_idle_worker > 0 {
        report.warnings.push(format!(
            "{} of {} sessions started late because all workers were busy (raise load.max_in_flight, or the server is saturated)",
            p.no_idle_worker, p.arrivals
        ));
    }
    match report.write(&args.report_dir) {
        Ok(file) => {
            if !args.quiet {
                let _ = print_summary(&report);
                println!("report: {}", file.display());
            }
            if !args.no_html {
                let html = super::report::html_path_for(&file);
                super::report::write_html_page(&report, &html, args.quiet);
            }
        }
        Err(e) => eprintln!("error: cannot write the report: {e}"),
    }
    (report.status().exit_code(), Some(report))
}
