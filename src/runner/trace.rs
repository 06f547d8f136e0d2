//! Frame traces of sampled sessions (`--trace N`, `--trace-sessions 1,5,9`): every frame
//! a traced session's connections send or receive, stamped, with the step that caused
//! it. Connections record into their session's [`SessionTrace`] (held in the inbox, so
//! an untraced connection pays one `Option` check); the finished session hands its
//! records to the run's [`Tracer`], which the command writes as JSON lines next to the
//! report.
//!
//! Memory is bounded: a session keeps at most [`MAX_SESSION_BYTES`] of frame text, the
//! run at most [`MAX_TRACE_BYTES`]; what does not fit is counted, never kept.

use std::collections::BTreeSet;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use serde::Serialize;
use tokio::time::Instant;

/// Frame text one traced session may keep.
pub const MAX_SESSION_BYTES: usize = 4 * 1024 * 1024;
/// Frame text a whole run's traces may keep.
pub const MAX_TRACE_BYTES: usize = 64 * 1024 * 1024;

/// Which sessions to trace.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TraceSelect {
    /// `--trace N`: N sessions spread evenly over the planned sessions (the first N when
    /// the number of sessions is not known up front).
    Sample(u64),
    /// `--trace-sessions 1,5,9`: these session numbers (as failure samples name them).
    Sessions(BTreeSet<u64>),
}

/// Direction of a traced frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    /// Sent by sigbench.
    Out,
    /// Received from the target.
    In,
}

/// One traced frame: a line of the trace file.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct TraceRecord {
    pub session: u64,
    /// Milliseconds since the session's (intended) start.
    pub t_ms: f64,
    /// Wall clock, ms since the Unix epoch.
    pub unix_ms: u64,
    pub dir: Direction,
    pub role: String,
    /// 1-based device of the role.
    pub device: usize,
    /// The step that sent the frame; for a received frame, the step that last sent on
    /// the session's connections (the one whose request, in sequence, caused it);
    /// `(driver)` for frames the driver sends by itself (acks, keepalives).
    pub step: String,
    pub frame: String,
}

/// The trace of one session while it runs.
#[derive(Debug)]
pub struct SessionTrace {
    /// The session number.
    session: u64,
    /// The session's intended start: time 0 of its records.
    started: Instant,
    /// Wall clock at `started`, for `unix_ms`.
    started_wall: SystemTime,
    /// The step that last sent a frame (received frames are attributed to it).
    last_step: Mutex<String>,
    /// Records so far and their frame bytes.
    records: Mutex<(Vec<TraceRecord>, usize)>,
    /// Frames not kept because the session's budget was spent.
    dropped: AtomicU64,
}

impl SessionTrace {
    pub fn new(session: u64, started: Instant) -> SessionTrace {
        let since = Instant::now().saturating_duration_since(started);
        SessionTrace {
            session,
            started,
            started_wall: SystemTime::now()
                .checked_sub(since)
                .unwrap_or_else(SystemTime::now),
            last_step: Mutex::new("(session start)".to_owned()),
            records: Mutex::new((Vec::new(), 0)),
            dropped: AtomicU64::new(0),
        }
    }

    /// Records a frame `dir` on `who`'s connection at `at`. `step` is the sending step
    /// for an outgoing frame (`None`: the driver's own), ignored for received ones.
    pub fn record(
        &self,
        who: &DeviceLabel,
        dir: Direction,
        step: Option<&str>,
        at: Instant,
        text: &str,
    ) {
        let step = match (dir, step) {
            (Direction::Out, Some(step)) => {
                let mut last = lock(&self.last_step);
                step.clone_into(&mut last);
                step.to_owned()
            }
            (Direction::Out, None) => "(driver)".to_owned(),
            (Direction::In, _) => lock(&self.last_step).clone(),
        };
        let mut records = lock(&self.records);
        if records.1 + text.len() > MAX_SESSION_BYTES {
            self.dropped.fetch_add(1, Ordering::Relaxed);
            return;
        }
        let since = at.saturating_duration_since(self.started);
        let wall = self.started_wall + since;
        records.1 += text.len();
        records.0.push(TraceRecord {
            session: self.session,
            t_ms: (since.as_secs_f64() * 1e6).round() / 1e3,
            unix_ms: wall
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX)),
            dir,
            role: who.role.clone(),
            device: who.device,
            step,
            frame: text.to_owned(),
        });
    }

    /// Takes the records so far, in time order, and how many frames did not fit.
    fn take(&self) -> (Vec<TraceRecord>, u64) {
        let mut records = std::mem::take(&mut lock(&self.records).0);
        records.sort_by(|a, b| a.t_ms.total_cmp(&b.t_ms));
        (records, self.dropped.swap(0, Ordering::Relaxed))
    }
}

/// Which connection of a session a frame went over.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeviceLabel {
    pub role: String,
    /// 1-based.
    pub device: usize,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// The run's traces: which sessions to trace, and the finished ones' records.
#[derive(Debug)]
pub struct Tracer {
    /// The session numbers to trace.
    wanted: BTreeSet<u64>,
    /// Finished sessions' records and their bytes.
    done: Mutex<(Vec<TraceRecord>, usize)>,
    /// Frames left out because a session's or the run's budget was spent.
    dropped: AtomicU64,
}

impl Tracer {
    /// The tracer for `select`, given the planned number of sessions (if known).
    pub fn new(select: &TraceSelect, planned: Option<u64>) -> Tracer {
        let wanted = match select {
            TraceSelect::Sessions(numbers) => numbers.clone(),
            TraceSelect::Sample(n) => match planned {
                Some(total) if total > *n && *n > 0 => {
                    // Evenly spread: the first session, then every total/n-th.
                    (0..*n).map(|i| i * total / n).collect()
                }
                _ => (0..*n).collect(),
            },
        };
        Tracer {
            wanted,
            done: Mutex::new((Vec::new(), 0)),
            dropped: AtomicU64::new(0),
        }
    }

    /// Whether session `number` is traced.
    pub fn wants(&self, number: u64) -> bool {
        self.wanted.contains(&number)
    }

    /// Takes a finished session's records (connections the session closed may still
    /// hold the trace; they record nothing more once their session has ended).
    pub fn add(&self, trace: &SessionTrace) {
        let (records, dropped) = trace.take();
        self.dropped.fetch_add(dropped, Ordering::Relaxed);
        let mut done = lock(&self.done);
        for record in records {
            if done.1 + record.frame.len() > MAX_TRACE_BYTES {
                self.dropped.fetch_add(1, Ordering::Relaxed);
                continue;
            }
            done.1 += record.frame.len();
            done.0.push(record);
        }
    }

    /// Every record, by session then time, and the number of frames left out.
    pub fn take(&self) -> (Vec<TraceRecord>, u64) {
        let mut records = std::mem::take(&mut lock(&self.done).0);
        records.sort_by(|a, b| a.session.cmp(&b.session).then(a.t_ms.total_cmp(&b.t_ms)));
        (records, self.dropped.load(Ordering::Relaxed))
    }
}

/// Parses `--trace-sessions 1,5,9`.
pub fn parse_sessions(text: &str) -> Result<BTreeSet<u64>, String> {
    text.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| {
            s.parse::<u64>()
                .map_err(|_| format!("--trace-sessions: '{s}' is not a session number"))
        })
        .collect::<Result<BTreeSet<u64>, String>>()
        .and_then(|set| {
            if set.is_empty() {
                Err("--trace-sessions: no session number given".to_owned())
            } else {
                Ok(set)
            }
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn samples_spread_over_the_planned_sessions() {
        let t = Tracer::new(&TraceSelect::Sample(3), Some(30));
        assert!(t.wants(0) && t.wants(10) && t.wants(20) && !t.wants(1));
        let first = Tracer::new(&TraceSelect::Sample(2), None);
        assert!(first.wants(0) && first.wants(1) && !first.wants(2));
        assert_eq!(parse_sessions("1, 5,9").unwrap().len(), 3);
        assert!(parse_sessions("1,x").is_err());
        assert!(parse_sessions(",").is_err());
    }

    #[test]
    fn received_frames_are_attributed_to_the_last_sending_step() {
        let start = Instant::now();
        let trace = SessionTrace::new(7, start);
        let caller = DeviceLabel {
            role: "caller".into(),
            device: 1,
        };
        let callee = DeviceLabel {
            role: "callee".into(),
            device: 1,
        };
        trace.record(
            &caller,
            Direction::Out,
            Some("call"),
            start,
            "{\"op\":\"call\"}",
        );
        trace.record(
            &callee,
            Direction::In,
            None,
            start + Duration::from_millis(2),
            "{\"push\":1}",
        );
        trace.record(
            &callee,
            Direction::Out,
            None,
            start + Duration::from_millis(3),
            "ack",
        );
        let tracer = Tracer::new(&TraceSelect::Sessions([7].into()), None);
        tracer.add(&trace);
        let (records, dropped) = tracer.take();
        assert_eq!(dropped, 0);
        let steps: Vec<&str> = records.iter().map(|r| r.step.as_str()).collect();
        assert_eq!(steps, ["call", "call", "(driver)"]);
        assert_eq!(records[1].t_ms, 2.0);
        assert_eq!(records[1].role, "callee");
    }
}
