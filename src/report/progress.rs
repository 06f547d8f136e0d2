//! Live progress while a run goes on: an indicatif bar on a terminal, a plain status line
//! every 5 seconds otherwise (CI logs).
//!
//! Both read only [`LiveStats`] — atomics the recorders bump once per session — so the
//! display never touches the hot path. Both draw on stderr, keeping stdout for the
//! summary; the choice follows whether stderr is a terminal, since that is where the bar
//! would be drawn (`sigbench run … > summary.txt` on a terminal still shows the bar).

use std::io::{IsTerminal as _, Write as _};
use std::sync::Arc;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tokio::time::MissedTickBehavior;

use crate::metrics::histogram::{format_micros, micros};
use crate::metrics::{LiveSnapshot, LiveStats};

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
    pub fn start(live: Arc<LiveStats>, goal: Goal, mode: ProgressMode) -> Progress {
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
            ProgressMode::Bar => runtime.spawn(bar(live, goal, started, stopped)),
            ProgressMode::Lines => runtime.spawn(lines(live, goal, started, stopped)),
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

/// The status text after `elapsed`, e.g.
/// `[   15s] 412/1000 sessions, 82.4/s, 0 failed, p99 12.3ms`.
pub fn status_line(snapshot: &LiveSnapshot, goal: Goal, elapsed: Duration) -> String {
    let done = snapshot.sessions_done;
    let progress = match goal {
        Goal::Sessions(total) => format!("{done}/{total} sessions"),
        Goal::Duration(d) => format!(
            "{done} sessions, {}s of {}s",
            elapsed.as_secs(),
            d.as_secs()
        ),
        Goal::Unbounded => format!("{done} sessions"),
    };
    format!(
        "[{:>6}s] {progress}, {}",
        elapsed.as_secs(),
        counters(snapshot, elapsed)
    )
}

/// `82.4/s, 0 failed, p99 12.3ms[, 3 late]`.
fn counters(snapshot: &LiveSnapshot, elapsed: Duration) -> String {
    let secs = elapsed.as_secs_f64();
    let rate = if secs > 0.0 {
        snapshot.sessions_done as f64 / secs
    } else {
        0.0
    };
    let p99 = snapshot
        .recent_p99
        .map_or_else(|| "-".to_owned(), |p| format_micros(micros(p)));
    let mut text = format!(
        "{rate:.1}/s, {} failed, p99 {p99}",
        snapshot.sessions_failed
    );
    if snapshot.late_starts > 0 {
        text.push_str(&format!(", {} late", snapshot.late_starts));
    }
    text
}

async fn bar(
    live: Arc<LiveStats>,
    goal: Goal,
    started: Instant,
    mut stopped: oneshot::Receiver<()>,
) {
    let (bar, template) = match goal {
        Goal::Sessions(total) => (
            ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::stderr()),
            "{spinner} [{elapsed_precise}] {wide_bar} {pos}/{len} sessions {msg}",
        ),
        Goal::Duration(d) => (
            ProgressBar::with_draw_target(Some(d.as_secs().max(1)), ProgressDrawTarget::stderr()),
            "{spinner} [{elapsed_precise}] {wide_bar} {msg}",
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
                let snapshot = live.snapshot();
                let elapsed = started.elapsed();
                match goal {
                    Goal::Sessions(_) => bar.set_position(snapshot.sessions_done),
                    Goal::Duration(_) => bar.set_position(elapsed.as_secs()),
                    Goal::Unbounded => bar.tick(),
                }
                let message = match goal {
                    Goal::Sessions(_) => counters(&snapshot, elapsed),
                    _ => format!("{} sessions, {}", snapshot.sessions_done, counters(&snapshot, elapsed)),
                };
                bar.set_message(message);
            }
        }
    }
    bar.finish_and_clear();
}

async fn lines(
    live: Arc<LiveStats>,
    goal: Goal,
    started: Instant,
    mut stopped: oneshot::Receiver<()>,
) {
    let mut every = tokio::time::interval_at(tokio::time::Instant::now() + LINE_EVERY, LINE_EVERY);
    every.set_missed_tick_behavior(MissedTickBehavior::Skip);
    loop {
        tokio::select! {
            _ = &mut stopped => break,
            _ = every.tick() => {
                let line = status_line(&live.snapshot(), goal, started.elapsed());
                let _ = writeln!(std::io::stderr().lock(), "{line}");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_line_shows_progress_rate_failures_and_p99() {
        let snapshot = LiveSnapshot {
            sessions_done: 412,
            sessions_failed: 3,
            failures: 3,
            late_starts: 0,
            sessions_aborted: 0,
            recent_p99: Some(Duration::from_micros(12_345)),
        };
        let line = status_line(&snapshot, Goal::Sessions(1000), Duration::from_secs(5));
        assert!(line.contains("412/1000 sessions"), "{line}");
        assert!(line.contains("82.4/s"), "{line}");
        assert!(line.contains("3 failed"), "{line}");
        assert!(line.contains("p99 12.3ms"), "{line}");
        assert!(!line.contains("late"), "{line}");
        let open = LiveSnapshot {
            late_starts: 7,
            recent_p99: None,
            ..snapshot
        };
        let line = status_line(
            &open,
            Goal::Duration(Duration::from_secs(60)),
            Duration::from_secs(5),
        );
        assert!(
            line.contains("5s of 60s") && line.contains("7 late") && line.contains("p99 -"),
            "{line}"
        );
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
            let progress = Progress::start(live, Goal::Sessions(10), mode);
            tokio::time::sleep(Duration::from_millis(30)).await;
            tokio::time::timeout(Duration::from_secs(2), progress.stop())
                .await
                .expect("progress stops within 2 s");
        }
    }

    #[test]
    fn outside_a_runtime_it_shows_nothing() {
        let progress = Progress::start(
            Arc::new(LiveStats::new()),
            Goal::Unbounded,
            ProgressMode::Bar,
        );
        assert!(progress.task.is_none());
    }
}
