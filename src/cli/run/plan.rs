//! `run`'s flags resolved once into a [`RunPlan`]: every scenario loaded, checked and cut
//! to this generator's shard, the accounts file read, TLS set up, the start barrier
//! parsed — so that every input error is reported before anything connects, and the
//! execution never looks at a flag again.

use std::net::IpAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use super::RunArgs;
use crate::cli::error::CliError;
use crate::drivers::Driver;
use crate::drivers::profile::ProfileRef;
use crate::report::Shard;
use crate::report::live;
use crate::runner::accounts::{Credentials, read_csv};
use crate::runner::shard::shard_load;
use crate::runner::tls::TlsSettings;
use crate::runner::trace::TraceSelect;
use crate::scenario::{self, Plan};
use crate::server::wire::Wire;

/// How long in-flight sessions may still run after Ctrl-C, SIGTERM or `max_duration`.
pub const GRACE: Duration = Duration::from_secs(5);

/// A start barrier further ahead than this is taken for a typo.
const MAX_START_AHEAD: Duration = Duration::from_secs(24 * 3600);

/// One scenario to run, already adjusted to this generator's shard.
pub struct ScenarioRun {
    /// The file as given on the command line.
    pub path: PathBuf,
    pub plan: Plan,
    /// The driver of the scenario's protocol.
    pub driver: Arc<dyn Driver>,
}

/// Which server to test.
#[derive(Clone, Debug)]
pub enum TargetChoice {
    /// `--target URL`, with the secret its tokens derive from, if any.
    External { url: String, secret: Option<String> },
    /// The reference server, started in this process for the run, speaking the framing
    /// of the profile the scenarios run through.
    Embedded { wire: crate::server::wire::Wire },
}

/// Where results go and how the run talks to the terminal.
#[derive(Clone, Debug)]
pub struct Outputs {
    /// Folder of the JSON reports (and HTML pages next to them).
    pub report_dir: PathBuf,
    /// Write an HTML page next to each JSON report.
    pub html: bool,
    /// `--junit FILE`.
    pub junit: Option<PathBuf>,
    /// No progress display, no summary.
    pub quiet: bool,
    /// `--shard-verdict-in-report`: a run that ended normally exits 0 whatever its
    /// verdict (the verdict is in the report, for `merge`).
    pub verdict_in_report: bool,
}

/// How the run can be watched while it goes and debugged after: live metrics and frame
/// traces.
#[derive(Debug, Default)]
pub struct Watch {
    /// `--metrics-listen`, bound while resolving (so that a taken address fails before
    /// the run); served by every scenario in turn.
    pub listener: Option<std::net::TcpListener>,
    /// The address actually bound (port 0 picks one).
    pub metrics_addr: Option<std::net::SocketAddr>,
    /// `--live FILE`: created (emptied) while resolving, then appended to by every
    /// scenario.
    pub live_file: Option<PathBuf>,
    /// `--trace N` / `--trace-sessions`: which sessions' frames to write.
    pub trace: Option<TraceSelect>,
}

impl Watch {
    fn resolve(args: &RunArgs) -> Result<Watch, CliError> {
        let usage = |e: live::LiveError| CliError::Usage(e.to_string());
        let listener = args
            .metrics_listen
            .as_deref()
            .map(live::bind)
            .transpose()
            .map_err(usage)?;
        let metrics_addr = listener.as_ref().and_then(|l| l.local_addr().ok());
        if let Some(path) = &args.live {
            live::create_live_file(path).map_err(usage)?;
        }
        let trace = match (args.trace, &args.trace_sessions) {
            (Some(n), _) => Some(TraceSelect::Sample(n)),
            (None, Some(numbers)) => Some(TraceSelect::Sessions(numbers.clone())),
            (None, None) => None,
        };
        Ok(Watch {
            listener,
            metrics_addr,
            live_file: args.live.clone(),
            trace,
        })
    }
}

/// Everything `sigbench run` does, decided from its flags.
pub struct RunPlan {
    pub scenarios: Vec<ScenarioRun>,
    pub target: TargetChoice,
    /// `--ca-cert`, for `wss://` targets.
    pub tls: TlsSettings,
    /// `--accounts`: accounts to use instead of generated ones.
    pub accounts: Option<Vec<Credentials>>,
    pub shard: Shard,
    /// `--source-addrs`.
    pub sources: Vec<IpAddr>,
    /// `--password`: every generated account's token (SIP digest auth).
    pub password: Option<String>,
    /// `--start-at`: sessions start at this instant, after the logins.
    pub start_at: Option<SystemTime>,
    /// See [`GRACE`].
    pub grace: Duration,
    /// `--threads`: the threads of the embedded server's runtime; the harness's runtime,
    /// built before anything runs, has as many (see `crate::cli::main`).
    pub threads: usize,
    pub outputs: Outputs,
    /// Live metrics and traces.
    pub watch: Watch,
}

impl RunPlan {
    /// Resolves the flags; every input error is returned, located, before anything runs.
    pub fn resolve(args: RunArgs) -> Result<RunPlan, CliError> {
        let overrides =
            scenario::parse_overrides(&args.sets).map_err(|e| CliError::Usage(e.to_string()))?;
        let shard = args.shard.unwrap_or(Shard::WHOLE);
        let flags = args.load_flags();
        let profile = crate::cli::read_profile(args.profile.as_deref())?;
        let mut scenarios = Vec::new();
        let mut errors = Vec::new();
        for result in scenario::check_files(&args.scenarios, &overrides) {
            match result.result {
                Ok(mut plan) => {
                    // The load flags replace the scenario's load, then the shard takes its share.
                    if !flags.is_empty() {
                        let load = flags.apply(&plan.load).and_then(|load| {
                            match load
                                .planned_sessions()
                                .and_then(|n| plan.data.unique_shortfall(n))
                            {
                                Some(why) => Err(why),
                                None => Ok(load),
                            }
                        });
                        match load {
                            Ok(load) => plan.load = load,
                            Err(e) => {
                                errors.push(format!("error: {}: {e}", result.path.display()));
                                continue;
                            }
                        }
                    }
                    plan.load = shard_load(&plan.load, shard.index, shard.count);
                    plan.data.shard = (shard.index, shard.count);
                    let url = args.target.as_deref();
                    if let (None, Some(how)) =
                        (url, crate::drivers::needs_external_target(plan.vocabulary))
                    {
                        errors.push(format!(
                            "error: {}: a '{}' scenario needs --target: {how}",
                            result.path.display(),
                            plan.vocabulary.name
                        ));
                        continue;
                    }
                    match crate::drivers::driver_for_plan(
                        &plan,
                        profile.as_ref(),
                        url.unwrap_or(""),
                    ) {
                        Ok(driver) => scenarios.push(ScenarioRun {
                            path: result.path,
                            plan,
                            driver,
                        }),
                        Err(e) => errors.push(format!("error: {}: {e}", result.path.display())),
                    }
                }
                Err(list) => errors.extend(list.iter().map(ToString::to_string)),
            }
        }
        if !errors.is_empty() {
            return Err(CliError::Scenarios(errors));
        }
        let accounts = args
            .accounts
            .as_deref()
            .map(read_csv)
            .transpose()
            .map_err(|e| CliError::Usage(e.to_string()))?;
        let ca_cert = crate::cli::read_ca_cert(args.ca_cert.as_deref()).map_err(CliError::Usage)?;
        let tls = TlsSettings { ca_cert };
        // Checked now, so that a bad file fails before the run, not at the first wss://.
        tls.connector().map_err(CliError::Usage)?;
        let start_at = args
            .start_at
            .as_deref()
            .map(|text| parse_start_at(text, SystemTime::now()))
            .transpose()
            .map_err(CliError::Usage)?;
        // Last: it binds the address and empties the file, which only a valid run should.
        let watch = Watch::resolve(&args)?;
        let target = match args.target {
            Some(url) => TargetChoice::External {
                url,
                secret: args.secret,
            },
            None => TargetChoice::Embedded {
                wire: embedded_wire(&scenarios, profile.as_ref())?,
            },
        };
        Ok(RunPlan {
            scenarios,
            target,
            password: args.password,
            tls,
            accounts,
            shard,
            sources: args.source_addrs,
            start_at,
            grace: GRACE,
            threads: usize::from(args.threads),
            watch,
            outputs: Outputs {
                report_dir: args.report_dir,
                html: !args.no_html,
                junit: args.junit,
                quiet: args.quiet,
                verdict_in_report: args.shard_verdict_in_report,
            },
        })
    }
}

/// The one framing the embedded server speaks for these scenarios: the one their profile
/// (`--profile`, else each scenario's `profile:`) is named after.
fn embedded_wire(
    scenarios: &[ScenarioRun],
    profile: Option<&ProfileRef>,
) -> Result<Wire, CliError> {
    let mut wires = Vec::new();
    for s in scenarios {
        let wire = crate::cli::embedded_wire(profile.or(s.plan.profile.as_ref()))
            .map_err(|e| CliError::Usage(format!("{}: {e}", s.path.display())))?;
        if !wires.contains(&wire) {
            wires.push(wire);
        }
    }
    if wires.len() > 1 {
        let names: Vec<String> = wires.iter().map(ToString::to_string).collect();
        return Err(CliError::Usage(format!(
            "these scenarios use different profiles ({}); the embedded server speaks one framing: run them separately or give --target",
            names.join(", ")
        )));
    }
    Ok(wires.first().copied().unwrap_or_default())
}

/// Parses `--start-at`: an RFC 3339 instant, at most a day ahead of `now`.
pub fn parse_start_at(text: &str, now: SystemTime) -> Result<SystemTime, String> {
    let at = humantime::parse_rfc3339_weak(text).map_err(|e| {
        format!("--start-at '{text}': {e} (expected RFC 3339, e.g. 2030-01-01T12:00:00Z)")
    })?;
    if at
        .duration_since(now)
        .is_ok_and(|ahead| ahead > MAX_START_AHEAD)
    {
        return Err(format!(
            "--start-at '{text}' is more than 24 hours ahead; is the date right?"
        ));
    }
    Ok(at)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn start_at_is_rfc3339_and_not_far_ahead() {
        let now = humantime::parse_rfc3339("2030-01-01T12:00:00Z").unwrap();
        let at = parse_start_at("2030-01-01T12:01:00Z", now).unwrap();
        assert_eq!(at.duration_since(now).unwrap(), Duration::from_secs(60));
        // In the past: accepted (the run starts at once and says how late).
        assert!(parse_start_at("2030-01-01T11:00:00Z", now).is_ok());
        let e = parse_start_at("tomorrow", now).unwrap_err();
        assert!(
            e.contains("--start-at 'tomorrow'") && e.contains("RFC 3339"),
            "{e}"
        );
        let e = parse_start_at("2030-01-03T12:00:00Z", now).unwrap_err();
        assert!(e.contains("24 hours"), "{e}");
    }
}
