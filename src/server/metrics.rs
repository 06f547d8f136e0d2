//! Server counters and their Prometheus text rendering (`GET /metrics`).
//!
//! Plain atomics: each update is one relaxed add, cheap enough for the hot path and
//! free of locks.

use std::fmt::Write;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering::Relaxed};

use crate::protocol::{Code, Op};

/// Row for frames that never became an op (BAD_FRAME, rate limited before parsing).
const NO_OP: usize = Op::ALL.len();

#[derive(Default)]
pub(crate) struct Metrics {
    pub connections: AtomicI64,
    pub connections_total: AtomicU64,
    /// `[op or NO_OP][code index]`.
    ops: [[AtomicU64; Code::ALL.len()]; Op::ALL.len() + 1],
    pub events_delivered: AtomicU64,
    pub events_stored: AtomicU64,
    pub events_dropped: AtomicU64,
    /// Events not stored because the store's bounds or the sender's allowance refused.
    pub events_refused: AtomicU64,
    pub slow_consumers: AtomicU64,
    pub kicks: AtomicU64,
    /// Connections refused by an admission bound (HTTP 503).
    pub connections_refused: AtomicU64,
    /// Connections closed for not logging in within the deadline.
    pub login_timeouts: AtomicU64,
    /// Connections closed for silence past the idle timeout.
    pub idle_timeouts: AtomicU64,
    /// Times a connection's reading was paused because its read budget ran out.
    pub reads_throttled: AtomicU64,
    /// Connections closed with 1002 or 1007 for breaking RFC 6455.
    pub protocol_errors: AtomicU64,
}

fn code_index(code: Code) -> usize {
    Code::ALL.iter().position(|c| *c == code).unwrap_or(0)
}

fn op_index(op: Op) -> usize {
    Op::ALL.iter().position(|o| *o == op).unwrap_or(NO_OP)
}

impl Metrics {
    pub(crate) fn op(&self, op: Option<Op>, code: Code) {
        let row = op.map_or(NO_OP, op_index);
        self.ops[row][code_index(code)].fetch_add(1, Relaxed);
    }

    pub(crate) fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Relaxed);
    }

    /// The Prometheus text exposition of every counter, then of `gauges`: (name, help,
    /// value) for the state's sizes and the configured limits.
    pub(crate) fn render(&self, gauges: &[(&str, &str, u64)]) -> String {
        let mut out = String::with_capacity(4096);
        let mut metric = |name: &str, kind: &str, help: &str, value: String| {
            let _ = writeln!(
                out,
                "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {value}"
            );
        };
        metric(
            "sigbench_connections",
            "gauge",
            "Open WebSocket connections.",
            self.connections.load(Relaxed).to_string(),
        );
        metric(
            "sigbench_connections_total",
            "counter",
            "WebSocket connections accepted.",
            self.connections_total.load(Relaxed).to_string(),
        );
        for (name, help, counter) in [
            (
                "sigbench_events_delivered_total",
                "Event frames queued to online devices.",
                &self.events_delivered,
            ),
            (
                "sigbench_events_stored_total",
                "Events stored for offline accounts.",
                &self.events_stored,
            ),
            (
                "sigbench_events_dropped_total",
                "Stored events dropped because an account's offline store was full.",
                &self.events_dropped,
            ),
            (
                "sigbench_slow_consumer_disconnects_total",
                "Connections closed because they did not read their frames.",
                &self.slow_consumers,
            ),
            (
                "sigbench_kicks_total",
                "Connections kicked by a login of the same account and device.",
                &self.kicks,
            ),
            (
                "sigbench_events_refused_total",
                "Events not stored because the offline store's bounds or the sender's ext allowance refused them.",
                &self.events_refused,
            ),
            (
                "sigbench_connections_refused_total",
                "Connections refused with HTTP 503 by a connection limit.",
                &self.connections_refused,
            ),
            (
                "sigbench_login_timeouts_total",
                "Connections closed (1008) for not logging in in time.",
                &self.login_timeouts,
            ),
            (
                "sigbench_idle_timeouts_total",
                "Connections closed (1008) after the idle timeout without a frame or pong.",
                &self.idle_timeouts,
            ),
            (
                "sigbench_reads_throttled_total",
                "Times a connection was not read for a while because its read budget ran out.",
                &self.reads_throttled,
            ),
            (
                "sigbench_protocol_errors_total",
                "Connections closed with 1002 or 1007 for breaking RFC 6455.",
                &self.protocol_errors,
            ),
        ] {
            metric(name, "counter", help, counter.load(Relaxed).to_string());
        }
        for (name, help, value) in gauges {
            metric(name, "gauge", help, value.to_string());
        }
        let _ = writeln!(
            out,
            "# HELP sigbench_ops_total Requests answered, by op and code.\n# TYPE sigbench_ops_total counter"
        );
        for (row, counters) in self.ops.iter().enumerate() {
            let op = Op::ALL.get(row).map_or("-", |op| op.as_str());
            for (code, counter) in Code::ALL.iter().zip(counters) {
                let n = counter.load(Relaxed);
                if n > 0 {
                    let _ = writeln!(
                        out,
                        "sigbench_ops_total{{op=\"{op}\",code=\"{}\",message=\"{}\"}} {n}",
                        code.number(),
                        code.name()
                    );
                }
            }
        }
        out
    }
}
