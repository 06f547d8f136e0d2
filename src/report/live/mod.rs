//! Live views of a running run: one [`LiveFrame`] per second, built from the recorders'
//! counters and the aggregator's published totals ([`LiveStats`]), and shown as
//!
//! - Prometheus / OpenMetrics text on `--metrics-listen ADDR` ([`prometheus`], [`serve`]);
//! - one JSON line per second in `--live FILE` ([`LiveFrame`] serialized);
//! - the progress line ([`super::progress`]), whose rate is the same last-window rate.
//!
//! All three read the same frame, so they show the same numbers. The frame is made by one
//! task ([`LiveViews::start`]) that never touches the hot path: it reads atomics and an
//! `Arc` the aggregator swaps once per window.

pub mod prometheus;
pub mod serve;

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde::Serialize;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio::time::MissedTickBehavior;
use tokio_util::sync::CancellationToken;

use crate::metrics::live::LIVE_QUANTILES;
use crate::metrics::{LiveSnapshot, LiveStats, LiveTotals};
use crate::scenario::LoadModel;

/// How often a frame is made (and a `--live` line written).
pub const FRAME_EVERY: Duration = Duration::from_secs(1);

/// Where the run is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Phase {
    /// Connecting and logging in accounts; no session yet.
    Login,
    /// Sessions are being started.
    Load,
    /// The schedule is over; the last sessions finish.
    Drain,
}

impl Phase {
    pub fn as_str(self) -> &'static str {
        match self {
            Phase::Login => "login",
            Phase::Load => "load",
            Phase::Drain => "drain",
        }
    }
}

/// One metric in a frame: whole-run numbers so far, µs.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct FrameMetric {
    pub name: String,
    pub count: u64,
    pub mean_us: f64,
    pub p50_us: u64,
    pub p90_us: u64,
    pub p95_us: u64,
    pub p99_us: u64,
    pub p999_us: u64,
    pub max_us: u64,
    /// Cumulative counts at or below each of [`crate::metrics::live::LIVE_BUCKETS_US`].
    #[serde(skip)]
    pub buckets: [u64; 19],
    /// Sum of all values, µs.
    #[serde(skip)]
    pub sum_us: f64,
}

/// Session counters in a frame.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct FrameSessions {
    pub started: u64,
    pub done: u64,
    pub failed: u64,
    /// Started and not finished.
    pub in_flight: u64,
}

/// A response code count in a frame.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct FrameCode {
    pub op: String,
    pub code: u32,
    pub count: u64,
}

/// Everything the live views show at one moment; one `--live` line.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct LiveFrame {
    /// The scenario's name (a `--live` file of several scenarios has lines of each).
    pub scenario: String,
    /// Seconds since the run's command started (login included).
    pub elapsed_s: f64,
    /// Wall clock, ms since the Unix epoch.
    pub unix_ms: u64,
    pub phase: Phase,
    /// 1-based stage of the schedule (open model, ramping closed model); `null`
    /// otherwise and for per-flow loads.
    pub stage: Option<usize>,
    /// Number of stages of that schedule; `null` otherwise.
    pub stages: Option<usize>,
    /// The schedule's arrival rate now (sessions/s): the open model's, or the sum of
    /// per-flow open loads; `null` for closed models and mixed per-flow loads.
    pub target_rate: Option<f64>,
    /// The ramping closed model's target concurrency now (`load.stages`), or the sum of
    /// per-flow closed loads' (none of them open); `null` otherwise.
    pub target_concurrency: Option<u64>,
    /// Sessions started per second over the last window.
    pub achieved_rate: f64,
    /// Sessions finished per second over the last window.
    pub done_rate: f64,
    pub sessions: FrameSessions,
    pub late_starts: u64,
    pub failures: u64,
    /// The metric the progress line follows, and its p99 over about the last second.
    pub live_metric: Option<String>,
    pub recent_p99_us: Option<u64>,
    /// The newest second of the run the metric totals include (they lag by about one).
    pub metrics_second: u64,
    pub metrics: Vec<FrameMetric>,
    pub codes: Vec<FrameCode>,
}

/// Turns counters into frames, remembering the previous frame's counters for the
/// last-window rates.
#[derive(Debug)]
pub struct Sampler {
    /// The scenario's name, copied into every frame.
    scenario: String,
    /// The load model, to place the current time in its stages.
    load: LoadModel,
    /// When the command started (the frames' time 0).
    started: Instant,
    /// The previous frame's time and counters, for rates over the last window.
    last: Option<(Instant, LiveSnapshot)>,
}

impl Sampler {
    pub fn new(scenario: &str, load: LoadModel, started: Instant) -> Sampler {
        Sampler {
            scenario: scenario.to_owned(),
            load,
            started,
            last: None,
        }
    }

    /// The frame at `now`.
    pub fn frame(&mut self, live: &LiveStats, now: Instant) -> LiveFrame {
        let snapshot = live.snapshot();
        let totals = live.totals();
        let (phase, stage) = match live.load_started() {
            None => (Phase::Login, None),
            Some(at) => match self
                .load
                .stage_at_with_ends(now.saturating_duration_since(at), &live.parts_ended())
            {
                Some(stage) => (Phase::Load, Some(stage)),
                None if matches!(self.load, LoadModel::Closed { .. }) => (Phase::Load, None),
                None => (Phase::Drain, None),
            },
        };
        let (achieved_rate, done_rate) = match &self.last {
            Some((then, before)) => {
                let secs = now.saturating_duration_since(*then).as_secs_f64();
                let per = |a: u64, b: u64| {
                    if secs > 0.0 {
                        a.saturating_sub(b) as f64 / secs
                    } else {
                        0.0
                    }
                };
                (
                    per(snapshot.sessions_started, before.sessions_started),
                    per(snapshot.sessions_done, before.sessions_done),
                )
            }
            None => (0.0, 0.0),
        };
        self.last = Some((now, snapshot));
        LiveFrame {
            scenario: self.scenario.clone(),
            elapsed_s: round3(now.saturating_duration_since(self.started).as_secs_f64()),
            unix_ms: SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX)),
            phase,
            // Per-flow loads have no common stages (count 0).
            stage: stage.filter(|s| s.count > 0).map(|s| s.index + 1),
            stages: stage.filter(|s| s.count > 0).map(|s| s.count),
            target_rate: match phase {
                Phase::Load => stage.map(|s| round3(s.rate)),
                Phase::Drain => Some(0.0),
                Phase::Login => None,
            }
            .filter(|_| self.load.plans_rate()),
            target_concurrency: match phase {
                Phase::Load => stage.and_then(|s| s.concurrency),
                Phase::Drain => Some(0),
                Phase::Login => None,
            }
            .filter(|_| self.load.plans_concurrency()),
            achieved_rate: round3(achieved_rate),
            done_rate: round3(done_rate),
            sessions: FrameSessions {
                started: snapshot.sessions_started,
                done: snapshot.sessions_done,
                failed: snapshot.sessions_failed,
                in_flight: snapshot
                    .sessions_started
                    .saturating_sub(snapshot.sessions_done),
            },
            late_starts: snapshot.late_starts,
            failures: snapshot.failures,
            live_metric: totals.live_metric.clone(),
            recent_p99_us: snapshot
                .recent_p99
                .map(|d| u64::try_from(d.as_micros()).unwrap_or(u64::MAX)),
            metrics_second: totals.window,
            metrics: frame_metrics(&totals),
            codes: totals
                .codes
                .iter()
                .flat_map(|(op, codes)| {
                    codes.iter().map(|(&code, &count)| FrameCode {
                        op: op.clone(),
                        code,
                        count,
                    })
                })
                .collect(),
        }
    }
}

fn round3(v: f64) -> f64 {
    (v * 1000.0).round() / 1000.0
}

fn frame_metrics(totals: &LiveTotals) -> Vec<FrameMetric> {
    debug_assert_eq!(LIVE_QUANTILES, [0.5, 0.9, 0.95, 0.99, 0.999]);
    totals
        .metrics
        .iter()
        .map(|m| {
            let [p50, p90, p95, p99, p999] = m.quantiles_us;
            FrameMetric {
                name: m.name.clone(),
                count: m.count,
                mean_us: if m.count > 0 {
                    (m.sum_us / m.count as f64 * 10.0).round() / 10.0
                } else {
                    0.0
                },
                p50_us: p50,
                p90_us: p90,
                p95_us: p95,
                p99_us: p99,
                p999_us: p999,
                max_us: m.max_us,
                buckets: m.buckets,
                sum_us: m.sum_us,
            }
        })
        .collect()
}

/// Where the live views go (`--metrics-listen`, `--live`).
#[derive(Debug, Default)]
pub struct LiveOutputs {
    /// An already bound listener for the Prometheus endpoint (shared by the runs of
    /// several scenarios, one after the other).
    pub listener: Option<Arc<tokio::net::TcpListener>>,
    /// The `--live` file, appended to (create or truncate it once with
    /// [`create_live_file`] before the first run).
    pub file: Option<PathBuf>,
}

/// Why a live output could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum LiveError {
    #[error("--metrics-listen {addr}: cannot listen: {source}")]
    Listen {
        addr: String,
        source: std::io::Error,
    },
    #[error("--live {}: {source}", path.display())]
    File {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// Binds the `--metrics-listen` address (while the flags are resolved, so a taken port
/// fails the command before anything runs). The listener is non-blocking, ready for
/// [`tokio::net::TcpListener::from_std`].
pub fn bind(addr: &str) -> Result<std::net::TcpListener, LiveError> {
    let listen = |source| LiveError::Listen {
        addr: addr.to_owned(),
        source,
    };
    let listener = std::net::TcpListener::bind(addr).map_err(listen)?;
    listener.set_nonblocking(true).map_err(listen)?;
    Ok(listener)
}

/// The running live views: frames for the progress line, the endpoint and the file.
#[derive(Debug)]
pub struct LiveViews {
    /// The newest frame.
    frames: watch::Receiver<Option<Arc<LiveFrame>>>,
    /// Stops the frame task and the endpoint.
    stop: CancellationToken,
    /// The frame task (which also writes the file); joined on [`LiveViews::stop`].
    task: Option<JoinHandle<()>>,
    /// The endpoint's accept loop.
    server: Option<JoinHandle<()>>,
}

impl LiveViews {
    /// Starts making a frame every [`FRAME_EVERY`] (the first one at once), serving
    /// them on `outputs.listener` and appending them to `outputs.file`. Fails only when
    /// the file cannot be created.
    pub fn start(
        scenario: &str,
        live: Arc<LiveStats>,
        load: LoadModel,
        outputs: LiveOutputs,
    ) -> Result<LiveViews, LiveError> {
        let file = match &outputs.file {
            Some(path) => Some(open_live_file(path)?),
            None => None,
        };
        let (tx, rx) = watch::channel(None);
        let stop = CancellationToken::new();
        let server = outputs
            .listener
            .map(|listener| tokio::spawn(serve::serve(listener, rx.clone(), stop.clone())));
        let task = tokio::spawn(frames(
            live,
            Sampler::new(scenario, load, Instant::now()),
            tx,
            file,
            stop.clone(),
        ));
        Ok(LiveViews {
            frames: rx,
            stop,
            task: Some(task),
            server,
        })
    }

    /// The newest frame, if one was made.
    pub fn latest(&self) -> Option<Arc<LiveFrame>> {
        self.frames.borrow().clone()
    }

    /// A receiver of frames (for the progress display).
    pub fn subscribe(&self) -> watch::Receiver<Option<Arc<LiveFrame>>> {
        self.frames.clone()
    }

    /// Makes one last frame (so the file ends with the final numbers), then stops the
    /// task and the endpoint.
    pub async fn stop(mut self) {
        self.stop.cancel();
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
        if let Some(server) = self.server.take() {
            let _ = server.await;
        }
    }
}

impl Drop for LiveViews {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

/// Creates (or empties) the `--live` file, so that a path that cannot be written fails
/// before the run starts.
pub fn create_live_file(path: &Path) -> Result<(), LiveError> {
    std::fs::File::create(path)
        .map(drop)
        .map_err(|source| LiveError::File {
            path: path.to_owned(),
            source,
        })
}

fn open_live_file(path: &Path) -> Result<std::io::BufWriter<std::fs::File>, LiveError> {
    std::fs::OpenOptions::new()
        .append(true)
        .create(true)
        .open(path)
        .map(std::io::BufWriter::new)
        .map_err(|source| LiveError::File {
            path: path.to_owned(),
            source,
        })
}

/// The frame task: a frame per tick, published and appended to the file; a last one on
/// stop. Published first, so that whoever reads a line of the file finds that frame (or
/// a newer one) at the endpoint. A write error to the file is reported once and the
/// file abandoned (the run goes on).
async fn frames(
    live: Arc<LiveStats>,
    mut sampler: Sampler,
    tx: watch::Sender<Option<Arc<LiveFrame>>>,
    mut file: Option<std::io::BufWriter<std::fs::File>>,
    stop: CancellationToken,
) {
    let mut every = tokio::time::interval(FRAME_EVERY);
    every.set_missed_tick_behavior(MissedTickBehavior::Delay);
    loop {
        let last = tokio::select! {
            _ = stop.cancelled() => true,
            _ = every.tick() => false,
        };
        let frame = Arc::new(sampler.frame(&live, Instant::now()));
        tx.send_replace(Some(frame.clone()));
        if let Some(out) = &mut file {
            let written = serde_json::to_writer(&mut *out, &*frame)
                .map_err(std::io::Error::from)
                .and_then(|()| out.write_all(b"\n"))
                .and_then(|()| out.flush());
            if let Err(e) = written {
                eprintln!("warning: --live file: {e}; no more live lines are written");
                file = None;
            }
        }
        if last {
            break;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scenario::{Rate, Stage};

    #[test]
    fn frames_place_the_run_in_its_stages_and_measure_last_window_rates() {
        let live = LiveStats::new();
        let load = LoadModel::Open {
            stages: vec![Stage::Hold {
                rate: Rate { per_sec: 100.0 },
                duration: Duration::from_secs(10),
            }],
            max_in_flight: 10,
        };
        let t0 = Instant::now();
        let mut sampler = Sampler::new("s", load, t0);
        let first = sampler.frame(&live, t0);
        assert_eq!((first.phase, first.target_rate), (Phase::Login, None));
        live.mark_load_started(t0);
        live.sessions_started
            .fetch_add(50, std::sync::atomic::Ordering::Relaxed);
        let second = sampler.frame(&live, t0 + Duration::from_millis(500));
        assert_eq!(second.phase, Phase::Load);
        assert_eq!((second.stage, second.stages), (Some(1), Some(1)));
        assert_eq!(second.target_rate, Some(100.0));
        assert_eq!(second.achieved_rate, 100.0, "50 starts in half a second");
        assert_eq!(second.sessions.in_flight, 50);
        let late = sampler.frame(&live, t0 + Duration::from_secs(11));
        assert_eq!((late.phase, late.target_rate), (Phase::Drain, Some(0.0)));
        assert_eq!(late.achieved_rate, 0.0);
        assert_eq!(
            late.target_concurrency, None,
            "an open model has no target concurrency"
        );
    }

    #[test]
    fn frames_of_a_ramping_closed_model_show_its_stage_and_target_concurrency() {
        use crate::scenario::{LevelStage, ShardShare};
        let live = LiveStats::new();
        let load = LoadModel::Ramping {
            stages: vec![
                LevelStage::Ramp {
                    from: 0,
                    to: 100,
                    over: Duration::from_secs(10),
                },
                LevelStage::Hold {
                    count: 100,
                    duration: Duration::from_secs(10),
                },
            ],
            sessions: None,
            share: ShardShare::WHOLE,
        };
        let t0 = Instant::now();
        let mut sampler = Sampler::new("s", load, t0);
        live.mark_load_started(t0);
        let ramp = sampler.frame(&live, t0 + Duration::from_millis(2500));
        assert_eq!((ramp.stage, ramp.stages), (Some(1), Some(2)));
        assert_eq!(ramp.target_concurrency, Some(25));
        assert_eq!(ramp.target_rate, None);
        let hold = sampler.frame(&live, t0 + Duration::from_secs(15));
        assert_eq!((hold.stage, hold.target_concurrency), (Some(2), Some(100)));
        let after = sampler.frame(&live, t0 + Duration::from_secs(21));
        assert_eq!(
            (after.phase, after.target_concurrency),
            (Phase::Drain, Some(0))
        );
    }

    /// Flows with loads of their own: no common stage; the closed flows' target
    /// concurrencies add up while none is open, the open flows' rates while all are.
    #[test]
    fn frames_of_per_flow_loads_add_up_the_flows_targets() {
        use crate::scenario::{LevelStage, Rate, ShardShare, Stage};
        let live = LiveStats::new();
        let ramp = LoadModel::Ramping {
            stages: vec![LevelStage::Hold {
                count: 8,
                duration: Duration::from_secs(10),
            }],
            sessions: None,
            share: ShardShare::WHOLE,
        };
        let closed = LoadModel::Closed {
            sessions: None,
            duration: Some(Duration::from_secs(5)),
            concurrency: 3,
        };
        let open = |per_sec| LoadModel::Open {
            stages: vec![Stage::Hold {
                rate: Rate { per_sec },
                duration: Duration::from_secs(10),
            }],
            max_in_flight: 10,
        };
        let t0 = Instant::now();
        live.mark_load_started(t0);
        let mut sampler = Sampler::new("s", LoadModel::PerFlow(vec![ramp.clone(), closed]), t0);
        let both = sampler.frame(&live, t0 + Duration::from_secs(2));
        assert_eq!(
            (both.phase, both.stage, both.stages),
            (Phase::Load, None, None)
        );
        assert_eq!(
            (both.target_concurrency, both.target_rate),
            (Some(11), None)
        );
        let one = sampler.frame(&live, t0 + Duration::from_secs(6));
        assert_eq!(
            one.target_concurrency,
            Some(8),
            "the closed flow's time is over"
        );
        let over = sampler.frame(&live, t0 + Duration::from_secs(11));
        assert_eq!(
            (over.phase, over.target_concurrency),
            (Phase::Drain, Some(0))
        );
        let mut sampler = Sampler::new("s", LoadModel::PerFlow(vec![open(5.0), open(7.5)]), t0);
        let rates = sampler.frame(&live, t0 + Duration::from_secs(1));
        assert_eq!(
            (rates.target_rate, rates.target_concurrency),
            (Some(12.5), None)
        );
        let mut sampler = Sampler::new("s", LoadModel::PerFlow(vec![open(5.0), ramp]), t0);
        let mixed = sampler.frame(&live, t0 + Duration::from_secs(1));
        assert_eq!((mixed.target_rate, mixed.target_concurrency), (None, None));
    }
}
