//! Executes a [`RunPlan`]: starts the target (the embedded server, or resolves the URL),
//! runs each scenario, writes its artifacts, and returns what happened — it prints
//! nothing itself (the caller is told of each finished scenario and prints). Shutdown
//! comes in as a stream: its first item is Ctrl-C/SIGTERM (no new sessions, a grace
//! period for the ones in flight), its second stops at once; tests pass their own.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::SystemTime;

use futures_util::{Stream, StreamExt};
use tokio_util::sync::CancellationToken;

use super::embedded::EmbeddedServer;
use super::plan::{RunPlan, ScenarioRun, TargetChoice};
use crate::cli::error::{CliError, EXIT_INTERRUPTED, EXIT_PASSED, EXIT_UNREACHABLE, EXIT_USAGE};
use crate::report::live::{LiveOutputs, LiveViews};
use crate::report::{
    FlowMeta, Goal, JunitReport, JunitSuite, Progress, ProgressMode, RunMeta, RunReport,
    StoppedEarly,
};
use crate::runner::accounts::AccountSource;
use crate::runner::client::Target;
use crate::runner::trace::Tracer;
use crate::runner::{Run, RunError, RunOptions, RunOutcome};
use crate::scenario::{self, LoadModel, Plan};
use crate::server::{Auth, ServerConfig};

/// What became of one scenario.
pub struct ScenarioResult {
    /// The scenario's name.
    pub name: String,
    /// Its exit code on its own (the verdict, or why it did not run).
    pub code: u8,
    /// The report, when the scenario ran.
    pub report: Option<RunReport>,
    /// Where the JSON report and the HTML page were written.
    pub written: Vec<(&'static str, PathBuf)>,
    /// Why it did not run, or which artifact could not be written.
    pub errors: Vec<CliError>,
    /// The frame trace written (`--trace`, `--trace-sessions`).
    pub trace: Option<TraceWritten>,
}

/// A frame trace written next to a report.
pub struct TraceWritten {
    /// `<report>.trace.jsonl`.
    pub path: PathBuf,
    /// Frames written.
    pub frames: usize,
    /// Sessions they belong to.
    pub sessions: usize,
    /// Frames left out over the memory bounds of [`crate::runner::trace`].
    pub dropped: u64,
}

/// What a whole `run` did.
pub struct Executed {
    pub scenarios: Vec<ScenarioResult>,
    /// The JUnit file written (`--junit`).
    pub junit: Option<PathBuf>,
    /// Errors outside any one scenario (the JUnit file could not be written).
    pub errors: Vec<CliError>,
    /// The exit code of the run: the worst of its scenarios' and errors'.
    pub exit_code: u8,
}

/// Runs every scenario of `plan` in turn; `each` is called as each one finishes.
/// Stops early when interrupted or when the target is unreachable.
pub async fn execute(
    mut plan: RunPlan,
    shutdown: impl Stream<Item = ()> + Send + 'static,
    mut each: impl FnMut(&ScenarioResult),
) -> Executed {
    let interrupt = CancellationToken::new();
    let stop_now = CancellationToken::new();
    let watcher = {
        let (interrupt, stop_now) = (interrupt.clone(), stop_now.clone());
        tokio::spawn(async move {
            let mut shutdown = std::pin::pin!(shutdown);
            if shutdown.next().await.is_some() {
                interrupt.cancel();
                if shutdown.next().await.is_some() {
                    stop_now.cancel();
                }
            }
        })
    };
    let mut results = Vec::new();
    let started = match endpoint(&mut plan) {
        Ok(listener) => start_target(&plan)
            .await
            .map(|(target, server, secret)| (target, server, secret, listener)),
        Err(e) => Err(e),
    };
    match started {
        Err(e) => {
            // Nothing ran: every scenario says why (in JUnit too).
            let code = e.exit_code();
            let mut first = Some(e);
            for s in &plan.scenarios {
                let errors = first.take().into_iter().collect();
                let result = not_run(&s.plan.name, code, errors);
                each(&result);
                results.push(result);
            }
        }
        Ok((target, server, secret, listener)) => {
            for scenario in &plan.scenarios {
                let result = if interrupt.is_cancelled() {
                    not_run(&scenario.plan.name, EXIT_INTERRUPTED, Vec::new())
                } else {
                    run_scenario(
                        &plan,
                        scenario,
                        &target,
                        secret.clone(),
                        &interrupt,
                        &stop_now,
                        listener.clone(),
                    )
                    .await
                };
                each(&result);
                let stop = result.code == EXIT_UNREACHABLE || interrupt.is_cancelled();
                results.push(result);
                if stop {
                    break;
                }
            }
            for scenario in plan.scenarios.iter().skip(results.len()) {
                let result = not_run(&scenario.plan.name, EXIT_INTERRUPTED, Vec::new());
                results.push(result);
            }
            if let Some(server) = server {
                server.shutdown().await;
            }
        }
    }
    watcher.abort();
    let mut errors = Vec::new();
    let mut junit = None;
    if let Some(path) = &plan.outputs.junit {
        let report = JunitReport {
            name: "sigbench run".to_owned(),
            suites: results.iter().map(suite_of).collect(),
        };
        match report.write(path) {
            Ok(()) => junit = Some(path.clone()),
            Err(e) => errors.push(CliError::Artifact {
                what: "JUnit XML",
                path: path.display().to_string(),
                why: e.to_string(),
            }),
        }
    }
    let worst = results
        .iter()
        .map(|r| r.code)
        .chain(errors.iter().map(CliError::exit_code))
        .max()
        .unwrap_or(EXIT_PASSED);
    Executed {
        scenarios: results,
        junit,
        errors,
        exit_code: worst,
    }
}

fn not_run(name: &str, code: u8, errors: Vec<CliError>) -> ScenarioResult {
    ScenarioResult {
        name: name.to_owned(),
        code,
        report: None,
        written: Vec::new(),
        errors,
        trace: None,
    }
}

/// The `--metrics-listen` socket bound while resolving, handed to tokio (it is shared by
/// the scenarios, one after the other).
fn endpoint(plan: &mut RunPlan) -> Result<Option<Arc<tokio::net::TcpListener>>, CliError> {
    plan.watch
        .listener
        .take()
        .map(|listener| {
            tokio::net::TcpListener::from_std(listener)
                .map(Arc::new)
                .map_err(|e| CliError::Usage(format!("--metrics-listen: {e}")))
        })
        .transpose()
}

fn suite_of(result: &ScenarioResult) -> JunitSuite {
    match &result.report {
        Some(report) => JunitSuite::of_run(report),
        None => {
            let reason = match result.errors.first() {
                Some(e) => e.to_string(),
                None if result.code == EXIT_INTERRUPTED => {
                    "interrupted before this scenario started".to_owned()
                }
                None => "an earlier scenario stopped the run".to_owned(),
            };
            JunitSuite::not_run(&result.name, result.code, &reason)
        }
    }
}

/// The target to run against: the embedded server (started here, with a secret made up
/// for this run so that logins go through the real token check) or `--target`.
async fn start_target(
    plan: &RunPlan,
) -> Result<(Target, Option<EmbeddedServer>, Option<String>), CliError> {
    let (server, url, secret) = match &plan.target {
        TargetChoice::External { url, secret } => (None, url.clone(), secret.clone()),
        TargetChoice::Embedded { wire } => {
            let secret = format!("embedded-{:016x}", rand::random::<u64>());
            // Only this process talks to it: the bounds against hostile clients would
            // only get in the way of a load test.
            let config = ServerConfig {
                auth: Auth::Secret(secret.clone()),
                limits: crate::server::Limits::for_load_tests(),
                wire: *wire,
                ..ServerConfig::default()
            };
            let handle = EmbeddedServer::start(config, plan.threads).await?;
            let url = handle.url();
            (Some(handle), url, Some(secret))
        }
    };
    let target = Target::resolve(&url, &plan.tls)
        .await
        .map_err(CliError::Usage)?;
    Ok((target, server, secret))
}

/// A short random id for this run: part of account names, `${run}` and the report.
fn run_id() -> String {
    format!("{:06x}", rand::random::<u32>() & 0xff_ffff)
}

async fn run_scenario(
    plan: &RunPlan,
    scenario: &ScenarioRun,
    target: &Target,
    secret: Option<String>,
    interrupt: &CancellationToken,
    stop_now: &CancellationToken,
    listener: Option<Arc<tokio::net::TcpListener>>,
) -> ScenarioResult {
    let name = scenario.plan.name.clone();
    let id = run_id();
    let shard = plan.shard;
    let accounts = match &plan.accounts {
        Some(list) => AccountSource::List(list.clone()),
        None => {
            let mut source =
                AccountSource::generated(&id, Some((shard.index, shard.count)), secret);
            if let (Some(password), AccountSource::Generated { password: slot, .. }) =
                (&plan.password, &mut source)
            {
                *slot = Some(password.clone());
            }
            source
        }
    };
    let tracer = plan
        .watch
        .trace
        .as_ref()
        .map(|select| Arc::new(Tracer::new(select, scenario.plan.load.planned_sessions())));
    let options = RunOptions {
        target: target.clone(),
        driver: scenario.driver.clone(),
        run_id: id,
        accounts,
        sources: plan.sources.clone(),
        interrupt: interrupt.clone(),
        grace: plan.grace,
        stop_now: stop_now.clone(),
        start_at: plan.start_at,
        server_in_process: matches!(plan.target, TargetChoice::Embedded { .. }),
        tracer: tracer.clone(),
    };
    let checks = crate::checks::threshold_checks(&scenario.plan);
    let meta = RunMeta {
        scenario: name.clone(),
        scenario_file: scenario.path.display().to_string(),
        target: target.url.clone(),
        started_at: SystemTime::now(),
        shard,
        load: describe_load(&scenario.plan),
        interrupted: false,
        stopped_early: None,
        flows: scenario
            .plan
            .flows
            .iter()
            .zip(flow_loads(&scenario.plan))
            .map(|(f, load)| FlowMeta {
                name: f.name.clone(),
                weight: (f.weight > 0).then_some(f.weight),
                load,
            })
            .collect(),
        aborts_expected: scenario.plan.aborts_expected,
        code_names: scenario.plan.vocabulary.code_names(),
    };
    let goal = goal_of(&scenario.plan);
    let run = match Run::new(scenario.plan.clone(), options) {
        Ok(run) => run,
        Err(e) => return not_run(&name, EXIT_USAGE, vec![CliError::Usage(e.to_string())]),
    };
    let mode = if plan.outputs.quiet {
        ProgressMode::Off
    } else {
        ProgressMode::Auto
    };
    let outputs = LiveOutputs {
        listener,
        file: plan.watch.live_file.clone(),
    };
    let views = match LiveViews::start(&name, run.live(), scenario.plan.load.clone(), outputs) {
        Ok(views) => views,
        Err(e) => return not_run(&name, EXIT_USAGE, vec![CliError::Usage(e.to_string())]),
    };
    let progress = Progress::start(run.live(), views.subscribe(), goal, mode);
    let outcome = run.execute().await;
    progress.stop().await;
    views.stop().await;
    let outcome = match outcome {
        Ok(outcome) => outcome,
        Err(e) => {
            let error = match e {
                RunError::Unreachable(_)
                | RunError::Unresponsive(_)
                | RunError::LoginImpossible(_)
                    if interrupt.is_cancelled() =>
                {
                    CliError::Interrupted(e.to_string())
                }
                RunError::Unreachable(_)
                | RunError::Unresponsive(_)
                | RunError::LoginImpossible(_) => CliError::Target(e.to_string()),
                e => CliError::Usage(e.to_string()),
            };
            return not_run(&name, error.exit_code(), vec![error]);
        }
    };
    let mut report = match report_of(meta, &checks, &outcome) {
        Ok(report) => report,
        Err(e) => return not_run(&name, e.exit_code(), vec![e]),
    };
    if let Some(warning) = crate::checks::shared_state_warning(&scenario.plan) {
        report.warnings.push(warning);
    }
    let mut result = ScenarioResult {
        name,
        code: verdict_code(&report, plan.outputs.verdict_in_report),
        report: None,
        written: Vec::new(),
        errors: Vec::new(),
        trace: None,
    };
    match report.write(&plan.outputs.report_dir) {
        Ok(json) => {
            if plan.outputs.html {
                let html = crate::cli::report::html_path_for(&json);
                match crate::report::write_html(&report, &html) {
                    Ok(()) => result.written.push(("html", html)),
                    Err(e) => {
                        result
                            .errors
                            .push(crate::cli::report::unwritten("HTML report", &html, e))
                    }
                }
            }
            if let Some(tracer) = &tracer {
                match write_trace(tracer, &json) {
                    Ok(trace) => result.trace = Some(trace),
                    Err(e) => result.errors.push(e),
                }
            }
            result.written.insert(0, ("report", json));
        }
        Err(e) => result.errors.push(crate::cli::report::unwritten(
            "JSON report",
            &plan.outputs.report_dir,
            e,
        )),
    }
    if !result.errors.is_empty() {
        result.code = result.code.max(EXIT_USAGE);
    }
    result.report = Some(report);
    result
}

/// Writes the traced frames next to the report (`<report>.trace.jsonl`), as JSON lines.
fn write_trace(tracer: &Tracer, report: &Path) -> Result<TraceWritten, CliError> {
    let path = report.with_extension("trace.jsonl");
    let (records, dropped) = tracer.take();
    let failed = |why: String| CliError::Artifact {
        what: "frame trace",
        path: path.display().to_string(),
        why,
    };
    let mut text = Vec::new();
    for record in &records {
        serde_json::to_writer(&mut text, record).map_err(|e| failed(e.to_string()))?;
        text.push(b'\n');
    }
    crate::report::file::write_replacing(&path, &text).map_err(|e| failed(e.to_string()))?;
    let sessions: std::collections::BTreeSet<u64> = records.iter().map(|r| r.session).collect();
    Ok(TraceWritten {
        frames: records.len(),
        sessions: sessions.len(),
        dropped,
        path,
    })
}

/// The exit code of a finished run: its verdict, or 0 for a run that ended normally when
/// the verdict is left to the report (`--shard-verdict-in-report`).
fn verdict_code(report: &RunReport, verdict_in_report: bool) -> u8 {
    let code = report.status().exit_code();
    if verdict_in_report && code != EXIT_INTERRUPTED {
        EXIT_PASSED
    } else {
        code
    }
}

/// The report of a finished run: its measurements, thresholds and the runner's warnings.
fn report_of(
    meta: RunMeta,
    checks: &[crate::metrics::ThresholdCheck],
    outcome: &RunOutcome,
) -> Result<RunReport, CliError> {
    let thresholds = crate::metrics::evaluate(checks, &outcome.results)
        .map_err(|e| CliError::Usage(e.to_string()))?;
    let meta = RunMeta {
        started_at: outcome.started_at,
        interrupted: outcome.interrupted,
        stopped_early: outcome.early_stop.as_ref().map(|stop| StoppedEarly {
            reason: stop.reason.clone(),
            at_ms: u64::try_from(stop.at.as_millis()).unwrap_or(u64::MAX),
        }),
        ..meta
    };
    let mut report = RunReport::new(meta, &outcome.results, &thresholds)
        .map_err(|e| CliError::Other(anyhow::anyhow!("cannot build the report: {e}")))?;
    report.warnings.extend(outcome.warnings());
    Ok(report)
}

/// The run's load for the report: the scenario's model, or each flow's.
fn describe_load(plan: &Plan) -> String {
    if let LoadModel::PerFlow(_) = &plan.load {
        let flows: Vec<String> = plan
            .flows
            .iter()
            .zip(flow_loads(plan))
            .map(|(f, load)| format!("{}: {}", f.name, load.unwrap_or_default()))
            .collect();
        return format!("per flow; {}", flows.join("; "));
    }
    describe_model(&plan.load)
}

/// Each flow's own load, described (`None` for flows that share the scenario's).
fn flow_loads(plan: &Plan) -> Vec<Option<String>> {
    match &plan.load {
        LoadModel::PerFlow(loads) => loads.iter().map(|l| Some(describe_model(l))).collect(),
        _ => vec![None; plan.flows.len()],
    }
}

fn describe_model(load: &LoadModel) -> String {
    match load {
        LoadModel::PerFlow(loads) => loads
            .iter()
            .map(describe_model)
            .collect::<Vec<_>>()
            .join("; "),
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
        LoadModel::Ramping {
            stages, sessions, ..
        } => {
            let levels: Vec<String> = stages
                .iter()
                .map(|s| match s.levels() {
                    (a, b) if a == b => format!("{a}"),
                    (a, b) => format!("{a}..{b}"),
                })
                .collect();
            let mut parts = vec![format!(
                "closed, concurrency {} over {}",
                levels.join(" → "),
                scenario::format_duration(load.planned_duration().unwrap_or_default())
            )];
            if let Some(s) = sessions {
                parts.push(format!("at most {s} sessions"));
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
        // Flows of their own: the longest one's time, else the sessions of them all.
        (LoadModel::PerFlow(_), _, Some(d)) => Goal::Duration(d),
        (LoadModel::PerFlow(_), Some(n), None) => Goal::Sessions(n),
        (_, _, Some(d)) => Goal::Duration(d),
        _ => Goal::Unbounded,
    }
}
