//! Load models: who starts sessions, when. Closed: `concurrency` workers each run
//! sessions back to back; with ramping stages, worker `j` runs only while the target
//! concurrency is above `j` (it finishes its session and waits when the level drops
//! below it, and stops when the stages never bring it back). Open: a dispatcher starts sessions on the plan's timetable
//! and hands each to an idle worker; a session that finds no idle worker starts late,
//! is counted, and still measures its latency from the intended start (no
//! coordinated omission). Per-flow loads run one of these per flow, side by side, each on
//! its own workers; their sessions take numbers from one counter, so numbers stay unique
//! in the run.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::Duration;

use tokio::sync::mpsc;
use tokio::task::JoinSet;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::RunContext;
use super::session::run_session;
use super::slot::WorkerSlot;
use futures_util::FutureExt;

use crate::metrics::{AbortReason, FailureKind, FailureSample, Recorder};
use crate::scenario::{LoadModel, Plan};

/// A start more than this after its intended time counts as late.
pub(crate) const LATE: Duration = Duration::from_millis(10);

/// What the dispatcher learned about its own punctuality.
#[derive(Debug, Default, Clone)]
pub struct Punctuality {
    /// Arrivals whose dispatcher wake-up came later than [`LATE`]: the generator itself
    /// could not keep up.
    pub dispatcher_late: u64,
    /// Arrivals that found no idle worker in time.
    pub no_idle_worker: u64,
    pub arrivals: u64,
    pub worst_wake_lag: Duration,
    /// When each open model's schedule started (its offset 0), by its index in
    /// [`LoadModel::parts`]; empty for closed models.
    pub clock_starts: Vec<(usize, Instant)>,
}

impl Punctuality {
    /// Adds up the punctuality of loads that ran side by side.
    fn add(&mut self, other: Punctuality) {
        self.dispatcher_late += other.dispatcher_late;
        self.no_idle_worker += other.no_idle_worker;
        self.arrivals += other.arrivals;
        self.worst_wake_lag = self.worst_wake_lag.max(other.worst_wake_lag);
        self.clock_starts.extend(other.clock_starts);
    }
}

/// One load model of the run and the sessions it starts: the plan's load, or one flow's
/// own load.
struct Part {
    /// Index in [`LoadModel::parts`].
    index: usize,
    load: LoadModel,
    /// The flow every session of this load runs (per-flow loads); `None`: the plan's
    /// steps, or the weighted schedule's flow.
    flow: Option<usize>,
    /// Session numbers shared by the loads of a run with several (per-flow loads), so
    /// that `${session}` never repeats across flows; `None`: the load's own count.
    shared_numbers: Option<Arc<AtomicU64>>,
}

impl Part {
    /// The session number of this load's `n`-th session.
    fn number(&self, n: u64) -> u64 {
        match &self.shared_numbers {
            Some(counter) => counter.fetch_add(1, Relaxed),
            None => n,
        }
    }
}

/// How the workers stop.
pub(crate) struct Stop {
    /// No new sessions after this (Ctrl-C, max duration).
    pub no_new: CancellationToken,
    /// Abort in-flight sessions (grace period over).
    pub abort: CancellationToken,
}

/// Runs the plan's load model on `slots` until done or stopped; the slots' connections
/// close when their workers end. Per-flow loads split the slots (each flow's load takes
/// as many as it may run at once, so no two flows share an account) and run at once.
/// Returns the dispatchers' punctuality (open models).
pub(crate) async fn drive(
    plan: Arc<Plan>,
    ctx: Arc<RunContext>,
    mut slots: Vec<WorkerSlot>,
    mut recorders: Vec<Recorder>,
    stop: &Stop,
    origin: Instant,
) -> Punctuality {
    let LoadModel::PerFlow(loads) = &plan.load else {
        let part = Part {
            index: 0,
            load: plan.load.clone(),
            flow: None,
            shared_numbers: None,
        };
        return run_part(plan.clone(), ctx, part, slots, recorders, stop, origin).await;
    };
    ctx.live.mark_load_started(origin.into_std());
    let numbers = Arc::new(AtomicU64::new(0));
    let mut parts = Vec::with_capacity(loads.len());
    for (index, load) in loads.iter().enumerate() {
        let take = usize::try_from(load.max_concurrent())
            .unwrap_or(usize::MAX)
            .min(slots.len());
        let rest_slots = slots.split_off(take);
        let rest_recorders = recorders.split_off(take.min(recorders.len()));
        let part = Part {
            index,
            load: load.clone(),
            flow: Some(index),
            shared_numbers: Some(numbers.clone()),
        };
        parts.push(run_part(
            plan.clone(),
            ctx.clone(),
            part,
            std::mem::replace(&mut slots, rest_slots),
            std::mem::replace(&mut recorders, rest_recorders),
            stop,
            origin,
        ));
    }
    // Slots left over (a shard whose share of every flow is 0 still has one) log out.
    for (slot, mut recorder) in slots.into_iter().zip(recorders) {
        slot.log_out(&ctx, &mut recorder).await;
        recorder.finish().await;
    }
    let mut punctuality = Punctuality::default();
    for done in futures_util::future::join_all(parts).await {
        punctuality.add(done);
    }
    punctuality
}

/// Runs one load model (the plan's, or a flow's own) on its slots.
async fn run_part(
    plan: Arc<Plan>,
    ctx: Arc<RunContext>,
    part: Part,
    slots: Vec<WorkerSlot>,
    recorders: Vec<Recorder>,
    stop: &Stop,
    origin: Instant,
) -> Punctuality {
    match &part.load {
        LoadModel::Closed { .. } | LoadModel::Ramping { .. } => {
            ctx.live.mark_load_started(origin.into_std());
            let index = part.index;
            closed(plan, ctx.clone(), part, slots, recorders, stop, origin).await;
            ctx.live.mark_part_ended(index, Instant::now().into_std());
            Punctuality::default()
        }
        LoadModel::Open { .. } => {
            open(plan, ctx, Arc::new(part), slots, recorders, stop, origin).await
        }
        // The compiler never nests per-flow loads.
        LoadModel::PerFlow(_) => Punctuality::default(),
    }
}

async fn closed(
    plan: Arc<Plan>,
    ctx: Arc<RunContext>,
    part: Part,
    slots: Vec<WorkerSlot>,
    recorders: Vec<Recorder>,
    stop: &Stop,
    origin: Instant,
) {
    let (sessions, deadline) = match &part.load {
        LoadModel::Closed {
            sessions, duration, ..
        } => (*sessions, duration.map(|d| origin + d)),
        LoadModel::Ramping { sessions, .. } => {
            (*sessions, part.load.planned_duration().map(|d| origin + d))
        }
        LoadModel::Open { .. } | LoadModel::PerFlow(_) => (None, None),
    };
    let part = Arc::new(part);
    let next = Arc::new(AtomicU64::new(0));
    let mut workers = JoinSet::new();
    for (index, (mut slot, mut recorder)) in slots.into_iter().zip(recorders).enumerate() {
        let (plan, ctx, next, part) = (plan.clone(), ctx.clone(), next.clone(), part.clone());
        let (no_new, abort) = (stop.no_new.clone(), stop.abort.clone());
        workers.spawn(async move {
            loop {
                if !wait_turn(&part.load, index as u64, origin, &no_new).await {
                    break;
                }
                if no_new.is_cancelled() || deadline.is_some_and(|d| Instant::now() >= d) {
                    break;
                }
                let n = next.fetch_add(1, Relaxed);
                if sessions.is_some_and(|total| n >= total) {
                    break;
                }
                recorder.session_started();
                // Boxed: see `retire`.
                let session = Box::pin(run_session(
                    &plan,
                    &ctx,
                    &mut slot,
                    &mut recorder,
                    part.number(n),
                    part.flow,
                    Instant::now(),
                ));
                let end = guarded(session, &abort).await;
                if !end.record(&ctx, &mut recorder) {
                    break;
                }
                if !slot.is_ready(&plan) {
                    // The target is failing: don't spin.
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            }
            Box::pin(retire(&slot, &ctx, recorder)).await;
            slot
        });
    }
    join_workers(&mut workers, &ctx).await;
}

/// A worker's last act: logs its accounts out and hands over its last measurements.
///
/// A worker task lives as long as the run, and its future is as large as the largest
/// thing it ever awaits in place, idle or not (a harness holds one per account: see
/// docs/performance.md, "Issue 16, second pass"). So the rare or large parts are boxed
/// by the workers: this ending, and each session (whose future would otherwise sit in
/// the worker's twice, once as itself and once inside `guarded`).
async fn retire(slot: &WorkerSlot, ctx: &RunContext, mut recorder: Recorder) {
    slot.log_out(ctx, &mut recorder).await;
    recorder.finish().await;
}

/// The ramping closed model: waits until worker `slot` may start a session (the
/// target concurrency is above its index). False when it never may again before the
/// stages end, or when the run stops first. Other models: true at once.
async fn wait_turn(
    load: &LoadModel,
    slot: u64,
    origin: Instant,
    no_new: &CancellationToken,
) -> bool {
    if !matches!(load, LoadModel::Ramping { .. }) {
        return true;
    }
    let elapsed = Instant::now().saturating_duration_since(origin);
    let Some(turn) = load.slot_turn(slot, elapsed) else {
        return false;
    };
    if turn > elapsed {
        tokio::select! {
            _ = tokio::time::sleep_until(origin + turn) => {}
            _ = no_new.cancelled() => return false,
        }
    }
    true
}

/// How a session's task ended.
enum SessionEnd {
    Finished,
    /// The grace period ran out before it finished.
    CutOff,
    /// It panicked, with this message.
    Panicked(String),
}

impl SessionEnd {
    /// Counts a session that did not finish: cut off (with the run's stop reason) or
    /// panicked (a harness error, with the panic message). Returns false when the worker
    /// must stop.
    fn record(self, ctx: &RunContext, recorder: &mut Recorder) -> bool {
        match self {
            SessionEnd::Finished => true,
            SessionEnd::CutOff => {
                recorder.session_aborted(ctx.stop_reason());
                false
            }
            SessionEnd::Panicked(message) => {
                recorder.session_aborted(AbortReason::HarnessError);
                recorder.failure(
                    FailureKind::new("harness", "-", "panic"),
                    FailureSample::outside(format!("a session task panicked: {message}")),
                );
                // The slot's connections may be half put back: this worker stops.
                false
            }
        }
    }
}

/// Runs one session until it ends, panics, or the grace period is over.
async fn guarded(session: impl Future<Output = ()>, abort: &CancellationToken) -> SessionEnd {
    let session = std::panic::AssertUnwindSafe(session).catch_unwind();
    tokio::select! {
        outcome = session => match outcome {
            Ok(()) => SessionEnd::Finished,
            Err(payload) => SessionEnd::Panicked(panic_text(payload.as_ref())),
        },
        _ = abort.cancelled() => SessionEnd::CutOff,
    }
}

/// Waits for every worker; a worker that panicked outside a session fails the run.
async fn join_workers(workers: &mut JoinSet<WorkerSlot>, ctx: &RunContext) {
    while let Some(joined) = workers.join_next().await {
        if let Err(e) = joined {
            ctx.harness_error(format!("a worker failed: {}", join_error_text(e)));
        }
    }
}

fn join_error_text(e: tokio::task::JoinError) -> String {
    match e.try_into_panic() {
        Ok(payload) => format!("panic: {}", panic_text(payload.as_ref())),
        Err(e) => e.to_string(),
    }
}

/// The message a panic carried.
pub(crate) fn panic_text(payload: &(dyn std::any::Any + Send)) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "(no message)".to_owned())
}

async fn open(
    plan: Arc<Plan>,
    ctx: Arc<RunContext>,
    part: Arc<Part>,
    slots: Vec<WorkerSlot>,
    recorders: Vec<Recorder>,
    stop: &Stop,
    origin: Instant,
) -> Punctuality {
    let (idle_tx, mut idle_rx) = mpsc::channel::<usize>(slots.len().max(1));
    let mut jobs = Vec::new();
    let mut workers = JoinSet::new();
    for (index, (mut slot, mut recorder)) in slots.into_iter().zip(recorders).enumerate() {
        let (job_tx, mut job_rx) = mpsc::channel::<(u64, Instant)>(1);
        jobs.push(job_tx);
        let (plan, ctx, idle) = (plan.clone(), ctx.clone(), idle_tx.clone());
        let (abort, flow) = (stop.abort.clone(), part.flow);
        workers.spawn(async move {
            let _ = idle.send(index).await;
            while let Some((n, intended)) = job_rx.recv().await {
                let lag = Instant::now().saturating_duration_since(intended);
                if lag > LATE {
                    recorder.late_start(lag);
                }
                recorder.session_started();
                // Boxed: see `retire`.
                let session = Box::pin(run_session(
                    &plan,
                    &ctx,
                    &mut slot,
                    &mut recorder,
                    n,
                    flow,
                    intended,
                ));
                let end = guarded(session, &abort).await;
                if !end.record(&ctx, &mut recorder) {
                    break;
                }
                if idle.send(index).await.is_err() {
                    break;
                }
            }
            Box::pin(retire(&slot, &ctx, recorder)).await;
            slot
        });
    }
    drop(idle_tx);
    // The dispatcher is the open model's clock. It runs as a task of the worker pool, so
    // that handing a job to a worker and hearing back from it are wake-ups on the same
    // threads rather than cross-thread hand-offs to the caller's thread, and outside
    // tokio's cooperative budget: once awake it hands out every arrival that is due
    // instead of yielding after a few dozen and queueing again behind thousands of
    // connection tasks. It still yields whenever it waits for the next arrival or for an
    // idle worker. Its stop signal is made once, not per arrival (each one costs a lock
    // and a waiter-list insert and removal).
    let no_new = stop.no_new.clone();
    let live = ctx.live.clone();
    let dispatcher = tokio::spawn(tokio::task::unconstrained(async move {
        let mut punctuality = Punctuality::default();
        let stopped = no_new.cancelled();
        tokio::pin!(stopped);
        let Some(arrivals) = part.load.arrivals() else {
            return punctuality;
        };
        // Every worker says it is idle once when it starts. The clock starts when all of
        // them have: otherwise the first arrivals wait for a thousand tasks to be polled
        // for the first time, and start late for a reason that is not the server's.
        let mut ready = Vec::with_capacity(jobs.len());
        while ready.len() < jobs.len() {
            tokio::select! {
                biased;
                _ = &mut stopped => return punctuality,
                w = idle_rx.recv() => match w {
                    Some(w) => ready.push(w),
                    None => break,
                },
            }
        }
        let origin = origin.max(Instant::now());
        punctuality.clock_starts.push((part.index, origin));
        live.mark_load_started(origin.into_std());
        for (n, offset) in arrivals.enumerate() {
            let intended = origin + offset;
            tokio::select! {
                biased;
                _ = &mut stopped => break,
                _ = tokio::time::sleep_until(intended) => {}
            }
            punctuality.arrivals += 1;
            let wake_lag = Instant::now().saturating_duration_since(intended);
            punctuality.worst_wake_lag = punctuality.worst_wake_lag.max(wake_lag);
            if wake_lag > LATE {
                punctuality.dispatcher_late += 1;
            }
            let worker = match ready.pop() {
                Some(w) => Some(w),
                None => tokio::select! {
                    biased;
                    _ = &mut stopped => break,
                    w = idle_rx.recv() => w,
                },
            };
            let Some(worker) = worker else { break };
            if Instant::now().saturating_duration_since(intended) > LATE && wake_lag <= LATE {
                punctuality.no_idle_worker += 1;
            }
            if jobs[worker]
                .send((part.number(n as u64), intended))
                .await
                .is_err()
            {
                break;
            }
        }
        punctuality
    }));
    // A dispatcher that panicked fails the run; the workers still finish.
    let punctuality = match dispatcher.await {
        Ok(punctuality) => punctuality,
        Err(e) => {
            ctx.harness_error(format!("the dispatcher failed: {}", join_error_text(e)));
            Punctuality::default()
        }
    };
    // The dispatcher has dropped the job channels: every worker finishes its session
    // and stops.
    join_workers(&mut workers, &ctx).await;
    punctuality
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Problem 4 of issue 10: a panicking session was swallowed ("0 sessions, 0 failed").
    #[tokio::test]
    async fn a_panicking_session_is_caught_with_its_message() {
        let abort = CancellationToken::new();
        let end = guarded(async { panic!("boom at step 3") }, &abort).await;
        let SessionEnd::Panicked(message) = end else {
            panic!("the panic was not caught");
        };
        assert_eq!(message, "boom at step 3");
        let formatted = guarded(async { panic!("{} sessions", 2) }, &abort).await;
        assert!(matches!(formatted, SessionEnd::Panicked(m) if m == "2 sessions"));
    }

    /// Closed-model ramps: a worker waits for the level to reach it, and retires when
    /// the stages never bring it back. Paused time: the waits are exact.
    #[tokio::test(start_paused = true)]
    async fn ramping_workers_wait_for_their_turn_and_retire() {
        use crate::scenario::{LevelStage, ShardShare};
        let load = LoadModel::Ramping {
            stages: vec![
                LevelStage::Ramp {
                    from: 0,
                    to: 10,
                    over: Duration::from_secs(10),
                },
                LevelStage::Ramp {
                    from: 10,
                    to: 0,
                    over: Duration::from_secs(10),
                },
            ],
            sessions: None,
            share: ShardShare::WHOLE,
        };
        let no_new = CancellationToken::new();
        let origin = Instant::now();
        // Worker 3 (the 4th slot) starts when the level reaches 4, at 4 s.
        assert!(wait_turn(&load, 3, origin, &no_new).await);
        assert_eq!(origin.elapsed(), Duration::from_secs(4));
        // At 17 s the level is 3 and falls: worker 3 never runs again.
        tokio::time::sleep_until(origin + Duration::from_secs(17)).await;
        assert!(!wait_turn(&load, 3, origin, &no_new).await);
        assert!(wait_turn(&load, 2, origin, &no_new).await);
        assert_eq!(
            origin.elapsed(),
            Duration::from_secs(17),
            "worker 2 runs at once"
        );
        // A stop ends the wait.
        let later = Instant::now();
        let stop = no_new.clone();
        let waiting = tokio::spawn(async move {
            let load = LoadModel::Ramping {
                stages: vec![LevelStage::Ramp {
                    from: 0,
                    to: 10,
                    over: Duration::from_secs(100),
                }],
                sessions: None,
                share: ShardShare::WHOLE,
            };
            wait_turn(&load, 9, later, &stop).await
        });
        tokio::task::yield_now().await;
        no_new.cancel();
        assert!(!waiting.await.unwrap());
        assert!(later.elapsed() < Duration::from_secs(90));
    }

    #[tokio::test]
    async fn a_session_still_running_at_the_abort_is_cut_off() {
        let abort = CancellationToken::new();
        abort.cancel();
        let end = guarded(std::future::pending(), &abort).await;
        assert!(matches!(end, SessionEnd::CutOff));
    }
}
