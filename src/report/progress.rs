//! Live progress while a run goes on: an indicatif bar on a terminal, a plain status line
//! every 5 seconds otherwise (CI logs).
//!
//! Both show the live views' frame ([`super::live`]): the last second's start rate
//! next to the target, the stage, sessions in flight, failures and the followed metric's
//! recent p99 by name — the numbers `--metrics-listen` and `--live` give, fitted to 80
//! columns. Nothing here touches the hot path. Both draw on stderr, keeping stdout for the
//! summary; the choice follows whether stderr is a terminal, since that is where the bar
//! would be drawn (`sigbench run … > summary.txt` on a terminal still shows the bar).

use std::io::{IsTerminal as _, Write as _};
use std::sync::Arc;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tokio::time::MissedTickBehavior;

use tokio::sync::watch;

use super::live::{LiveFrame, Phase};
use crate::metrics::LiveStats;
use crate::metrics::histogram::format_micros;

/// How often the bar is refreshed.
const BAR_EVERY: Duration = Duration::from_millis(200);
/// How often a status line is printed when not on a terminal.
pub const LINE_EVERY: Duration = Duration::from_secs(5);

/// What "done" means for the display.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Goal {
    /// A closed run of this many sessions.
    Sessions(u64),
    /// A run that lasts this long (closed with `duration`, or open model).
    Duration(Duration),
    /// No known end.
    Unbounded,
}

/// Which display to use.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProgressMode {
    /// A bar if stderr is a terminal, status lines otherwise.
    Auto,
    Bar,
    Lines,
    /// Nothing (`--quiet`).
    Off,
}

/// A running progress display; [`Progress::stop`] it before printing the summary.
#[derive(Debug)]
pub struct Progress {
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<()>>,
}

impl Progress {
    /// Starts the display as a task on the current tokio runtime (nothing is shown when
    /// called outside one, or with [`ProgressMode::Off`]).
    pub fn start(live: Arc<LiveStats>, frames: Frames, goal: Goal, mode: ProgressMode) -> Progress {
        let mode = match mode {
            ProgressMode::Auto if std::io::stderr().is_terminal() => ProgressMode::Bar,
            ProgressMode::Auto => ProgressMode::Lines,
            other => other,
        };
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return Progress::off();
        };
        let (stop, stopped) = oneshot::channel();
        let started = Instant::now();
        let task = match mode {
            ProgressMode::Bar => runtime.spawn(bar(live, frames, goal, started, stopped)),
            ProgressMode::Lines => runtime.spawn(lines(frames, goal, stopped)),
            ProgressMode::Auto | ProgressMode::Off => return Progress::off(),
        };
        Progress {
            stop: Some(stop),
            task: Some(task),
        }
    }

    /// A display that shows nothing.
    pub fn off() -> Progress {
        Progress {
            stop: None,
            task: None,
        }
    }

    /// Stops the display and waits until it has cleared the bar.
    pub async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

impl Drop for Progress {
    /// Dropping without [`Progress::stop`] still ends the task (without waiting for it).
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

/// The width status lines are fitted to: a classic terminal, and what CI logs keep
/// readable.
pub const STATUS_WIDTH: usize = 80;

/// The status text of `frame`, at most [`STATUS_WIDTH`] columns, e.g.
/// `[15s] 412/1000, 98.0 of 100/s, stage 2/3, 35 in flight, 2 failed, call p99 12.3ms`
/// (`N failed` only when there are any; shortened when needed: the metric name first,
/// then the stage, then the late starts).
pub fn status_line(frame: &LiveFrame, goal: Goal) -> String {
    let elapsed = frame.elapsed_s as u64;
    let s = &frame.sessions;
    let done = compact(s.done);
    let at = clock(elapsed);
    let head = match goal {
        Goal::Sessions(total) => format!("[{at}] {done}/{}", compact(total)),
        Goal::Duration(d) => format!("[{at}/{}] {done} done", clock(d.as_secs())),
        Goal::Unbounded => format!("[{at}] {done} done"),
    };
    let rate = match frame.target_rate {
        Some(target) => format!(
            "{} of {}/s",
            compact_rate(frame.achieved_rate),
            short_rate(target)
        ),
        None => format!("{}/s", compact_rate(frame.achieved_rate)),
    };
    let stage = match (frame.phase, frame.stage, frame.stages) {
        (Phase::Login, _, _) => Some("login".to_owned()),
        (Phase::Drain, _, _) => Some("drain".to_owned()),
        (Phase::Load, Some(stage), Some(stages)) => Some(format!("stage {stage}/{stages}")),
        (Phase::Load, _, _) => None,
    };
    let in_flight = match frame.target_concurrency {
        Some(target) => format!("{} of {} in flight", compact(s.in_flight), compact(target)),
        None => format!("{} in flight", compact(s.in_flight)),
    };
    let failed = (s.failed > 0).then(|| format!("{} failed", compact(s.failed)));
    let late = (frame.late_starts > 0).then(|| format!("{} late", compact(frame.late_starts)));
    let p99 = frame
        .recent_p99_us
        .map_or_else(|| "-".to_owned(), format_micros);
    // When the line is too wide: the metric name is shortened, then the stage and then
    // the late starts left out. Failed sessions are shown whenever there are any.
    let (mut stage, mut late) = (stage, late);
    loop {
        let mut parts = vec![head.clone(), rate.clone()];
        parts.extend(stage.clone());
        parts.push(in_flight.clone());
        parts.extend(failed.clone());
        parts.extend(late.clone());
        let fixed = parts.join(", ");
        let p99_part = format!(" p99 {p99}");
        let metric = frame.live_metric.as_deref().unwrap_or("session");
        // ", " + name + " p99 …"
        let room = STATUS_WIDTH.saturating_sub(fixed.chars().count() + 2 + p99_part.len());
        let name_len = metric.chars().count();
        if name_len <= room {
            return format!("{fixed}, {metric}{p99_part}");
        }
        if room >= 6 {
            let short: String = metric.chars().take(room - 1).collect();
            return format!("{fixed}, {short}…{p99_part}");
        }
        if stage.is_some() {
            stage = None;
        } else if late.is_some() {
            late = None;
        } else {
            // Even the p99 without its metric's name only if it fits.
            let bare = format!("{fixed},{p99_part}");
            return truncate(&bare, STATUS_WIDTH);
        }
    }
}

/// `15s`, `4m05s`, `2h30m`: run time in at most 6 characters.
fn clock(secs: u64) -> String {
    match secs {
        0..60 => format!("{secs}s"),
        60..3600 => format!("{}m{:02}s", secs / 60, secs % 60),
        _ => format!("{}h{:02}m", secs / 3600, secs % 3600 / 60),
    }
}

/// `100`, `12.5`, `0.25`, `12.3k`: a target rate without needless decimals.
fn short_rate(rate: f64) -> String {
    if rate >= 10_000.0 {
        return compact_rate(rate);
    }
    let text = format!("{rate:.2}");
    text.trim_end_matches('0').trim_end_matches('.').to_owned()
}

/// `9999`, `12.3k`, `1.23M`, `4.56G`: a count in at most 5 characters or so.
fn compact(n: u64) -> String {
    let v = n as f64;
    match n {
        0..10_000 => n.to_string(),
        10_000..100_000 => format!("{:.1}k", v / 1e3),
        100_000..1_000_000 => format!("{:.0}k", v / 1e3),
        1_000_000..10_000_000 => format!("{:.2}M", v / 1e6),
        10_000_000..1_000_000_000 => format!("{:.0}M", v / 1e6),
        1_000_000_000..10_000_000_000 => format!("{:.2}G", v / 1e9),
        _ => format!("{:.0}G", v / 1e9),
    }
}

/// `98.0`, `9999.9`, `12.3k`: a measured rate.
fn compact_rate(rate: f64) -> String {
    if rate < 10_000.0 {
        format!("{rate:.1}")
    } else {
        compact(rate.round() as u64)
    }
}

fn truncate(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        text.to_owned()
    } else {
        let mut t: String = text.chars().take(max - 1).collect();
        t.push('…');
        t
    }
}

type Frames = watch::Receiver<Option<Arc<LiveFrame>>>;

async fn bar(
    live: Arc<LiveStats>,
    frames: Frames,
    goal: Goal,
    started: Instant,
    mut stopped: oneshot::Receiver<()>,
) {
    let (bar, template) = match goal {
        Goal::Sessions(total) => (
            ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::stderr()),
            "{spinner} [{elapsed_precise}] {wide_bar} {pos}/{len}\n{msg}",
        ),
        Goal::Duration(d) => (
            ProgressBar::with_draw_target(Some(d.as_secs().max(1)), ProgressDrawTarget::stderr()),
            "{spinner} [{elapsed_precise}] {wide_bar}\n{msg}",
        ),
        Goal::Unbounded => (
            ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr()),
            "{spinner} [{elapsed_precise}] {msg}",
        ),
    };
    if let Ok(style) = ProgressStyle::with_template(template) {
        bar.set_style(style);
    }
    let mut every = tokio::time::interval(BAR_EVERY);
    every.set_missed_tick_behavior(MissedTickBehavior::Skip);
    loop {
        tokio::select! {
            _ = &mut stopped => break,
            _ = every.tick() => {
                match goal {
                    Goal::Sessions(_) => bar.set_position(live.snapshot().sessions_done),
                    Goal::Duration(_) => bar.set_position(started.elapsed().as_secs()),
                    Goal::Unbounded => bar.tick(),
                }
                let frame = frames.borrow().clone();
                if let Some(frame) = frame {
                    bar.set_message(status_line(&frame, goal));
                }
            }
        }
    }
    bar.finish_and_clear();
}

async fn lines(frames: Frames, goal: Goal, mut stopped: oneshot::Receiver<()>) {
    let mut every = tokio::time::interval_at(tokio::time::Instant::now() + LINE_EVERY, LINE_EVERY);
    every.set_missed_tick_behavior(MissedTickBehavior::Skip);
    loop {
        tokio::select! {
            _ = &mut stopped => break,
            _ = every.tick() => {
                let frame = frames.borrow().clone();
                if let Some(frame) = frame {
                    let line = status_line(&frame, goal);
                    let _ = writeln!(std::io::stderr().lock(), "{line}");
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::live::{FrameSessions, LiveFrame, Phase};

    fn frame() -> LiveFrame {
        LiveFrame {
            scenario: "call-accept".into(),
            elapsed_s: 15.2,
            unix_ms: 0,
            phase: Phase::Load,
            stage: Some(2),
            stages: Some(3),
            target_rate: Some(100.0),
            target_concurrency: None,
            achieved_rate: 98.04,
            done_rate: 97.0,
            sessions: FrameSessions {
                started: 447,
                done: 412,
                failed: 3,
                in_flight: 35,
            },
            late_starts: 0,
            failures: 3,
            live_metric: Some("call".into()),
            recent_p99_us: Some(12_345),
            metrics_second: 14,
            metrics: Vec::new(),
            codes: Vec::new(),
        }
    }

    #[test]
    fn status_line_shows_rate_target_stage_in_flight_and_the_metric() {
        let mut healthy = frame();
        healthy.sessions.failed = 0;
        assert_eq!(
            status_line(&healthy, Goal::Sessions(1000)),
            "[15s] 412/1000, 98.0 of 100/s, stage 2/3, 35 in flight, call p99 12.3ms"
        );
        // Failures always show; the stage gives way when the line would pass 80 columns.
        let line = status_line(&frame(), Goal::Sessions(1000));
        assert_eq!(
            line,
            "[15s] 412/1000, 98.0 of 100/s, 35 in flight, 3 failed, call p99 12.3ms"
        );
        let closed = LiveFrame {
            stage: None,
            stages: None,
            target_rate: None,
            target_concurrency: None,
            late_starts: 7,
            recent_p99_us: None,
            ..frame()
        };
        let line = status_line(&closed, Goal::Duration(Duration::from_secs(60)));
        assert!(
            line.starts_with("[15s/1m00s] 412 done, 98.0/s, ")
                && line.contains("7 late")
                && line.contains("call p99 -"),
            "{line}"
        );
        assert!(!line.contains("stage"), "{line}");
        // A ramping closed model: its stage and target concurrency.
        let ramping = LiveFrame {
            target_rate: None,
            target_concurrency: Some(500),
            ..healthy
        };
        assert_eq!(
            status_line(&ramping, Goal::Duration(Duration::from_secs(60))),
            "[15s/1m00s] 412 done, 98.0/s, stage 2/3, 35 of 500 in flight, call p99 12.3ms"
        );
    }

    #[test]
    fn status_line_fits_80_columns_whatever_the_numbers() {
        let wide = LiveFrame {
            elapsed_s: 86_399.0,
            sessions: FrameSessions {
                started: 1_334_567,
                done: 1_234_567,
                failed: 98_765,
                in_flight: 100_000,
            },
            target_rate: Some(12_345.67),
            target_concurrency: None,
            achieved_rate: 12_345.678,
            late_starts: 5_555_555,
            live_metric: Some("a very long step name that describes the invite delivery".into()),
            recent_p99_us: Some(1_234_567),
            stage: Some(12),
            stages: Some(12),
            ..frame()
        };
        for goal in [
            Goal::Sessions(5_000_000),
            Goal::Duration(Duration::from_secs(86_400)),
            Goal::Unbounded,
        ] {
            let line = status_line(&wide, goal);
            assert!(
                line.chars().count() <= STATUS_WIDTH,
                "{} columns: {line}",
                line.chars().count()
            );
            if goal != Goal::Duration(Duration::from_secs(86_400)) {
                assert!(line.ends_with(" p99 1.23s"), "{line}");
            }
            assert!(line.contains("12.3k of 12.3k/s"), "{line}");
            assert!(line.contains("98.8k failed"), "{line}");
        }
    }

    #[tokio::test]
    async fn every_mode_stops_promptly() {
        for mode in [
            ProgressMode::Bar,
            ProgressMode::Lines,
            ProgressMode::Off,
            ProgressMode::Auto,
        ] {
            let live = Arc::new(LiveStats::new());
            let (_tx, frames) = watch::channel(Some(Arc::new(frame())));
            let progress = Progress::start(live, frames, Goal::Sessions(10), mode);
            tokio::time::sleep(Duration::from_millis(30)).await;
            tokio::time::timeout(Duration::from_secs(2), progress.stop())
                .await
                .expect("progress stops within 2 s");
        }
    }

    #[test]
    fn outside_a_runtime_it_shows_nothing() {
        let (_tx, frames) = watch::channel(None);
        let progress = Progress::start(
            Arc::new(LiveStats::new()),
            frames,
            Goal::Unbounded,
            ProgressMode::Bar,
        );
        assert!(progress.task.is_none());
    }
}
