//! The runner: drives a validated plan's sessions concurrently against a target.
//!
//! Flow: [`accounts`] name the simulated accounts → every online device is connected and
//! logged in at the plan's login rate ([`login`], [`client`]) → [`load`] starts sessions
//! (closed or open model) on workers, each owning a [`slot`] of accounts and a metrics
//! recorder → [`session`] executes the steps (and, with `cleanup: true`, [`cleanup`] undoes
//! what each left) → the aggregator adds up [`crate::metrics`].

pub mod accounts;
mod cleanup;
pub mod client;
pub mod inbox;
pub mod limits;
mod load;
pub mod login;
mod outbox;
pub mod pulse;
mod session;
pub mod shard;
mod slot;
mod timeline;
pub mod tls;
pub mod trace;
mod transport;

use std::net::IpAddr;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use futures_util::StreamExt;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

pub use load::Punctuality;

use self::accounts::AccountSource;
use self::client::Target;
use self::slot::{RoleSlot, WorkerSlot};
use crate::drivers::Driver;
use crate::metrics::{self, AbortReason, LiveStats, MetricId, MetricSet, Results};
use crate::scenario::{MetricKind, Plan};

/// Logins that may be in flight at once before the first session.
const LOGIN_CONCURRENCY: usize = 256;

/// What every session of a run shares.
pub(crate) struct RunContext {
    pub target: Target,
    /// What the target speaks.
    pub driver: Arc<dyn Driver>,
    pub run_id: String,
    /// Response timeout for connects and logins done by the runner itself.
    pub timeout: Duration,
    /// `metric_ids[i]` is the plan's metric `i`.
    pub metric_ids: Vec<MetricId>,
    /// Cancelled when no new session may start (Ctrl-C, max duration, target lost).
    pub no_new: CancellationToken,
    /// Set when the target stopped accepting connections during the run.
    pub target_lost: std::sync::atomic::AtomicBool,
    /// Live counters; the load models mark when their load phase begins.
    pub live: Arc<LiveStats>,
    /// Frame traces of sampled sessions (`--trace`), if asked for.
    pub tracer: Option<Arc<trace::Tracer>>,
    /// Tokens for accounts that `login` steps name themselves.
    pub tokens: accounts::TokenRule,
    /// Where accounts come from: `accounts: fresh` takes new ones for every session.
    pub accounts: AccountSource,
    /// The next unused account slot for `accounts: fresh` (slots below it are taken).
    pub fresh_next: std::sync::atomic::AtomicUsize,
    /// When the load started (after the initial logins); early stops are timed from it.
    pub load_started: std::sync::OnceLock<Instant>,
    /// The first reason the run stopped itself before its load model ended (std
    /// mutex: set once, never held across an await).
    pub early_stop: std::sync::Mutex<Option<EarlyStop>>,
    /// Cancelled by [`RunContext::stop_early`]: starts the grace period.
    pub stopped_early: CancellationToken,
    /// Why the run stopped early (the first reason wins), for sessions it cuts off.
    pub stop_reason: std::sync::OnceLock<AbortReason>,
    /// Panics and other failures of the harness's own tasks (they fail the run).
    pub harness_errors: std::sync::Mutex<Vec<String>>,
}

impl RunContext {
    /// Stops the run itself (an abort threshold, `max_failures`, a feeder ran dry): no
    /// new session starts, in-flight ones get the grace period. The first reason given
    /// is the one reported.
    pub fn stop_early(&self, reason: impl Into<String>) {
        let at = self
            .load_started
            .get()
            .map_or(Duration::ZERO, |start| start.elapsed());
        {
            let mut stop = self.early_stop.lock().unwrap_or_else(|p| p.into_inner());
            if stop.is_none() {
                *stop = Some(EarlyStop {
                    reason: reason.into(),
                    at,
                });
            }
        }
        self.stopping(AbortReason::EarlyStop);
        self.stopped_early.cancel();
        self.no_new.cancel();
    }

    /// Records why the run stops early (unless a reason is already known).
    pub fn stopping(&self, why: AbortReason) {
        let _ = self.stop_reason.set(why);
    }

    /// Why sessions are being cut off; `interrupt` when nothing more specific is known.
    pub fn stop_reason(&self) -> AbortReason {
        self.stop_reason
            .get()
            .copied()
            .unwrap_or(AbortReason::Interrupt)
    }

    /// A task of the harness failed: the run fails, with `message` in the report.
    pub fn harness_error(&self, message: String) {
        tracing::error!("{message}");
        self.harness_errors
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(message);
    }
}

/// Why and when a run stopped itself before its load model ended (exit 1).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EarlyStop {
    pub reason: String,
    /// Time since the load started.
    pub at: Duration,
}

/// How to run a plan.
pub struct RunOptions {
    pub target: Target,
    /// The driver for the plan's vocabulary (see [`crate::drivers::driver_for`]).
    pub driver: Arc<dyn Driver>,
    /// Short id unique to this run; part of generated account names and `${run}`.
    pub run_id: String,
    pub accounts: AccountSource,
    /// Source addresses to spread connections over (`--source-addrs`); empty: the OS picks.
    pub sources: Vec<IpAddr>,
    /// Cancelled on Ctrl-C or SIGTERM: no new sessions; in-flight ones get `grace`.
    pub interrupt: CancellationToken,
    /// How long in-flight sessions may still run after `interrupt` or `max_duration`.
    pub grace: Duration,
    /// Cancelled on a second signal: in-flight sessions are cut off at once.
    pub stop_now: CancellationToken,
    /// The start barrier (`--start-at`): sessions start at this instant, after logins.
    pub start_at: Option<SystemTime>,
    /// The target server runs in this process (the embedded default): every connection
    /// then costs two file descriptors here.
    pub server_in_process: bool,
    /// Traces the frames of the sessions it selects (`--trace`, `--trace-sessions`).
    pub tracer: Option<Arc<trace::Tracer>>,
}

/// Why a run could not start.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// Exit code 3: nothing could connect.
    #[error("target unreachable: {0}")]
    Unreachable(String),
    /// Exit code 3: the target accepted connections but answered nothing in time.
    #[error("target unresponsive: {0}")]
    Unresponsive(String),
    /// Exit code 3: the server refused a login before any session ran.
    #[error("login impossible: {0}")]
    LoginImpossible(String),
    /// Exit code 2: the accounts do not fit the plan.
    #[error("{0}")]
    Accounts(String),
    /// Exit code 2: more connections than this process can hold.
    #[error("{0}")]
    Capacity(String),
    #[error("{0}")]
    Metrics(String),
}

/// A finished run.
pub struct RunOutcome {
    pub results: Results,
    pub started_at: SystemTime,
    pub duration: Duration,
    pub interrupted: bool,
    pub punctuality: Punctuality,
    /// The target stopped accepting connections during the run (the run ended early).
    pub target_lost: bool,
    /// The target answered nothing for this long while requests waited: the run ended.
    pub unresponsive: Option<Duration>,
    /// Logins ended this long after the `--start-at` barrier (sessions started then).
    pub started_late: Option<Duration>,
    /// Sessions the plan wanted to start, when known.
    pub planned_sessions: Option<u64>,
    /// Set when the run stopped before its load model ended (`abort` threshold,
    /// `max_failures`, a unique feeder running dry).
    pub early_stop: Option<EarlyStop>,
}

impl RunOutcome {
    /// What the report must warn about: the run ended early, started late, or the
    /// generator was the bottleneck.
    pub fn warnings(&self) -> Vec<String> {
        let mut warnings = Vec::new();
        if self.target_lost {
            warnings.push(
                "the target stopped accepting connections during the run; the run ended early"
                    .to_owned(),
            );
        }
        if let Some(silent) = self.unresponsive {
            warnings.push(format!(
                "target unresponsive: requests waited {} with nothing received; the run ended early",
                crate::scenario::format_duration(silent)
            ));
        }
        if let Some(late) = self.started_late {
            warnings.push(format!(
                "the logins ended {} after --start-at: this shard started late, and its load overlapped the other shards' for less time",
                crate::scenario::format_duration(late)
            ));
        }
        let cleanup = self.results.failures.total_for_step(cleanup::CLEANUP_STEP);
        if cleanup > 0 {
            warnings.push(format!(
                "the cleanup after sessions failed {cleanup} time{}: what those sessions left stays on the target, and later sessions on those accounts may see it (failures of step 'cleanup')",
                if cleanup == 1 { "" } else { "s" }
            ));
        }
        let p = &self.punctuality;
        if p.dispatcher_late * 100 > p.arrivals.max(1) {
            warnings.push(format!(
                "the load generator is the bottleneck: its scheduler woke late for {} of {} arrivals (worst {:?}); numbers understate what the server can do",
                p.dispatcher_late, p.arrivals, p.worst_wake_lag
            ));
        }
        if p.no_idle_worker > 0 {
            warnings.push(format!(
                "{} of {} sessions started late because all workers were busy (raise load.max_in_flight, or the server is saturated)",
                p.no_idle_worker, p.arrivals
            ));
        }
        warnings
    }
}

/// A run being prepared: the live counters are available before it starts, so a
/// progress display can follow it.
pub struct Run {
    plan: Arc<Plan>,
    options: RunOptions,
    set: MetricSet,
    collector: metrics::Collector,
    aggregator: metrics::Aggregator,
    /// Second 0 of the timeline, to place the open model's schedule on it.
    origin: std::time::Instant,
}

impl Run {
    pub fn new(plan: Plan, options: RunOptions) -> Result<Run, RunError> {
        let workers = plan.load.max_concurrent().max(1);
        let devices = plan
            .roles
            .iter()
            .fold(0u64, |sum, r| sum.saturating_add(r.devices as u64));
        limits::check_capacity(
            workers.saturating_mul(devices),
            if options.server_in_process { 2 } else { 1 },
            limits::raise_fd_limit(),
            limits::ephemeral_ports(),
            options.sources.len(),
        )
        .map_err(RunError::Capacity)?;
        let set =
            MetricSet::new(plan.metric_names()).map_err(|e| RunError::Metrics(e.to_string()))?;
        let origin = std::time::Instant::now();
        let (collector, mut aggregator) = metrics::collect(&set, origin);
        // The progress display follows the first metric the scenario measures.
        let live_metric = plan
            .metrics
            .iter()
            .position(|m| !matches!(m.kind, MetricKind::Login | MetricKind::Session))
            .and_then(|i| set.id(&plan.metrics[i].name));
        aggregator.set_live_metric(live_metric);
        Ok(Run {
            plan: Arc::new(plan),
            options,
            set,
            collector,
            aggregator,
            origin,
        })
    }

    /// Live counters (sessions done, failures, recent p99) for a progress display.
    pub fn live(&self) -> Arc<LiveStats> {
        self.collector.live()
    }

    /// Connects and logs in every account, runs the load model, and adds up the results.
    pub async fn execute(self) -> Result<RunOutcome, RunError> {
        let Run {
            plan,
            options,
            set,
            collector,
            mut aggregator,
            origin,
        } = self;
        let started_at = SystemTime::now();
        let metric_ids: Vec<MetricId> = plan
            .metric_names()
            .map(|name| set.id(name).expect("the set was built from these names"))
            .collect();
        let no_new = options.interrupt.child_token();
        let workers = usize::try_from(plan.load.max_concurrent())
            .unwrap_or(usize::MAX)
            .max(1);
        let ctx = Arc::new(RunContext {
            target: options.target.clone(),
            driver: options.driver.clone(),
            run_id: options.run_id.clone(),
            timeout: plan.timeout,
            metric_ids,
            no_new: no_new.clone(),
            target_lost: std::sync::atomic::AtomicBool::new(false),
            live: collector.live(),
            tracer: options.tracer.clone(),
            tokens: options.accounts.token_rule(),
            accounts: options.accounts.clone(),
            fresh_next: std::sync::atomic::AtomicUsize::new(workers),
            load_started: std::sync::OnceLock::new(),
            early_stop: std::sync::Mutex::new(None),
            stopped_early: CancellationToken::new(),
            stop_reason: std::sync::OnceLock::new(),
            harness_errors: std::sync::Mutex::new(Vec::new()),
        });
        let aborts = crate::checks::abort_checks(&plan);
        if !aborts.is_empty() {
            aggregator.set_watch(abort_watch(ctx.clone(), aborts));
        }
        let aggregating = tokio::spawn(aggregator.run());
        let mut slots = build_slots(&plan, &options, workers)?;
        let mut login_recorder = collector.recorder();
        login_all(
            &plan,
            &ctx,
            &mut slots,
            &mut login_recorder,
            &options.interrupt,
        )
        .await?;
        login_recorder.finish().await;
        let started_late = match options.start_at {
            Some(at) => wait_for_start(at, &options.interrupt).await,
            None => None,
        };

        let stop = load::Stop {
            no_new,
            abort: CancellationToken::new(),
        };
        let run_start = Instant::now();
        let _ = ctx.load_started.set(run_start);
        // Max duration, Ctrl-C and early stops all stop new sessions and start the grace
        // period, after which in-flight sessions are aborted.
        let guard = {
            let (no_new, abort, interrupt, ctx, stop_now) = (
                stop.no_new.clone(),
                stop.abort.clone(),
                options.interrupt.clone(),
                ctx.clone(),
                options.stop_now.clone(),
            );
            let max = plan.max_duration;
            let grace = options.grace;
            tokio::spawn(async move {
                let limit = async {
                    match max {
                        Some(max) => tokio::time::sleep_until(run_start + max).await,
                        None => std::future::pending().await,
                    }
                };
                tokio::select! {
                    _ = limit => {
                        ctx.stopping(AbortReason::DurationLimit);
                        no_new.cancel();
                    }
                    _ = interrupt.cancelled() => ctx.stopping(AbortReason::Interrupt),
                    // The run stopped itself (`stop_early`): the same grace period.
                    _ = ctx.stopped_early.cancelled() => {}
                }
                tokio::select! {
                    _ = tokio::time::sleep(grace) => {}
                    _ = stop_now.cancelled() => {}
                }
                abort.cancel();
            })
        };
        let watchdog = tokio::spawn(watch_pulse(
            ctx.clone(),
            plan.unresponsive_limit(),
            stop.no_new.clone(),
            stop.abort.clone(),
        ));
        let recorders = (0..slots.len()).map(|_| collector.recorder()).collect();
        let punctuality = load::drive(
            plan.clone(),
            ctx.clone(),
            slots,
            recorders,
            &stop,
            run_start,
        )
        .await;
        guard.abort();
        watchdog.abort();
        let unresponsive = watchdog.await.ok().flatten();
        drop(collector);
        let duration = run_start.elapsed();
        let aggregator = aggregating
            .await
            .map_err(|e| RunError::Metrics(format!("aggregator failed: {e}")))?;
        let mut results = aggregator.finish(duration);
        for &(part, clock) in &punctuality.clock_starts {
            let since = |t: Instant| t.into_std().saturating_duration_since(origin);
            if let Some(load) = plan.load.parts().get(part) {
                timeline::add_planned_starts(
                    &mut results,
                    load,
                    since(clock),
                    since(run_start) + duration,
                );
            }
        }
        if plan.load.plans_concurrency() {
            let offset = run_start.into_std().saturating_duration_since(origin);
            let ended = ctx.live.parts_ended();
            timeline::add_targets_in_flight(&mut results, &plan.load, offset, &ended);
        }
        for message in
            std::mem::take(&mut *ctx.harness_errors.lock().unwrap_or_else(|p| p.into_inner()))
        {
            results.failures.add(
                metrics::FailureKind::new("harness", "-", "panic"),
                metrics::FailureSample::outside(message),
            );
        }
        if let Some(silent) = unresponsive {
            results.failures.add(
                metrics::FailureKind::new("run", "-", "target unresponsive"),
                metrics::FailureSample::outside(format!(
                    "requests waited {} with nothing at all received from the target; the run ended",
                    crate::scenario::format_duration(silent)
                )),
            );
        }
        Ok(RunOutcome {
            results,
            started_at,
            duration,
            interrupted: options.interrupt.is_cancelled(),
            target_lost: ctx.target_lost.load(std::sync::atomic::Ordering::Relaxed),
            unresponsive,
            started_late,
            punctuality,
            planned_sessions: plan.load.planned_sessions(),
            early_stop: ctx
                .early_stop
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .clone(),
        })
    }
}

/// Waits for the start barrier `at` (or an interrupt). Returns how late it was, when
/// the logins ended after it.
async fn wait_for_start(at: SystemTime, interrupt: &CancellationToken) -> Option<Duration> {
    match at.duration_since(SystemTime::now()) {
        Ok(wait) => {
            tokio::select! {
                _ = tokio::time::sleep(wait) => {}
                _ = interrupt.cancelled() => {}
            }
            None
        }
        Err(late) => Some(late.duration()),
    }
}

/// Stops the run when a threshold marked `abort: true` breaks, once its `abort_after`
/// has passed. Thresholds without data yet (a latency of a step no session reached) are
/// not judged.
fn abort_watch(
    ctx: Arc<RunContext>,
    aborts: Vec<(metrics::ThresholdCheck, Duration)>,
) -> metrics::Watch {
    metrics::Watch::new(move |so_far| {
        let Some(elapsed) = ctx.load_started.get().map(Instant::elapsed) else {
            return;
        };
        let due: Vec<metrics::ThresholdCheck> = aborts
            .iter()
            .filter(|(_, after)| elapsed >= *after)
            .map(|(check, _)| check.clone())
            .collect();
        let Ok(results) = metrics::evaluate(&due, so_far) else {
            return;
        };
        if let Some(broken) = results.iter().find(|r| !r.pass && r.observed.is_some()) {
            let observed = broken.observed.map(|o| o.to_string()).unwrap_or_default();
            ctx.stop_early(format!(
                "threshold '{}' broke (abort: true): observed {observed}",
                broken.name
            ));
        }
    })
}

/// Ends the run (no new sessions, in-flight ones cut off at once) when the target has
/// answered nothing for `limit` while requests waited. Returns how long it was silent.
async fn watch_pulse(
    ctx: Arc<RunContext>,
    limit: Duration,
    no_new: CancellationToken,
    abort: CancellationToken,
) -> Option<Duration> {
    let period = (limit / 10).clamp(Duration::from_millis(10), Duration::from_secs(1));
    let mut tick = tokio::time::interval(period);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        if let Some(silent) = ctx.target.pulse.silent_for()
            && silent >= limit
        {
            ctx.stopping(AbortReason::TargetUnresponsive);
            no_new.cancel();
            abort.cancel();
            return Some(silent);
        }
    }
}

fn build_slots(
    plan: &Plan,
    options: &RunOptions,
    workers: usize,
) -> Result<Vec<WorkerSlot>, RunError> {
    let roles = plan.roles.len();
    if let Some(capacity) = options.accounts.capacity()
        && capacity < workers * roles
    {
        return Err(RunError::Accounts(format!(
            "the scenario needs {} accounts ({workers} concurrent sessions × {roles} roles) but the accounts file has {capacity}",
            workers * roles
        )));
    }
    let mut next_source = 0usize;
    let mut slots = Vec::with_capacity(workers);
    for w in 0..workers {
        let mut role_slots = Vec::with_capacity(roles);
        for (r, role) in plan.roles.iter().enumerate() {
            let creds = options
                .accounts
                .credentials(&role.name, w, w * roles + r)
                .ok_or_else(|| RunError::Accounts("not enough accounts".into()))?;
            let source = (!options.sources.is_empty()).then(|| {
                next_source += 1;
                options.sources[(next_source - 1) % options.sources.len()]
            });
            role_slots.push(RoleSlot {
                creds,
                source,
                devices: vec![None; role.devices],
            });
        }
        slots.push(WorkerSlot { roles: role_slots });
    }
    Ok(slots)
}

/// Logs in every device of every online role, at the plan's login rate. The first
/// connection is made alone so an unreachable target fails fast.
async fn login_all(
    plan: &Plan,
    ctx: &RunContext,
    slots: &mut [WorkerSlot],
    recorder: &mut metrics::Recorder,
    interrupt: &CancellationToken,
) -> Result<(), RunError> {
    let wanted: Vec<(usize, usize, usize)> = slots
        .iter()
        .enumerate()
        .flat_map(|(w, slot)| {
            slot.roles
                .iter()
                .enumerate()
                .flat_map(move |(r, role)| (0..role.devices.len()).map(move |d| (w, r, d)))
        })
        .filter(|(_, r, _)| plan.roles[*r].online)
        .collect();
    let interval = Duration::from_secs_f64(1.0 / plan.login_rate.per_sec.max(0.001));
    let start = Instant::now();
    let login_metric = ctx.metric_ids[Plan::LOGIN_METRIC];
    let slots_ref: &[WorkerSlot] = slots;
    let mut results = futures_util::stream::iter(wanted.into_iter().enumerate())
        .map(|(i, (w, r, d))| async move {
            if i > 0 {
                tokio::time::sleep_until(start + interval.mul_f64(i as f64)).await;
            }
            let result = session::initial_login(ctx, &slots_ref[w].roles[r], d).await;
            (w, r, d, result)
        })
        .buffer_unordered(LOGIN_CONCURRENCY);
    let mut done = Vec::new();
    loop {
        let next = tokio::select! {
            _ = interrupt.cancelled() => return Err(RunError::Unreachable("interrupted while logging in".into())),
            next = results.next() => next,
        };
        let Some((w, r, d, result)) = next else { break };
        match result {
            Ok(logged) => {
                recorder.record(login_metric, logged.took());
                for (label, code, n) in &logged.codes {
                    recorder.count_codes(label, *code, *n);
                }
                done.push((w, r, d, logged.device));
            }
            Err(session_error) => {
                let message = format!(
                    "{} (account of role '{}')",
                    session_error, plan.roles[r].name
                );
                return Err(match session_error.error {
                    login::LoginError::Client(
                        client::ClientError::Timeout(..) | client::ClientError::Silent { .. },
                    ) => RunError::Unresponsive(message),
                    login::LoginError::Client(_) => RunError::Unreachable(message),
                    login::LoginError::Refused { .. } => RunError::LoginImpossible(message),
                });
            }
        }
    }
    drop(results);
    for (w, r, d, device) in done {
        slots[w].roles[r].devices[d] = Some(Arc::new(device));
    }
    Ok(())
}
