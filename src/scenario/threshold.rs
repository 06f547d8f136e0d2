//! Thresholds: pass/fail limits on the run's metrics, checked after the run.

use std::fmt;
use std::time::Duration;

use super::timing::{Rate, format_duration};
pub use crate::metrics::Stat;

/// A metric a threshold refers to: its index in [`super::Plan::metrics`] and its name.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MetricRef {
    pub id: usize,
    pub name: String,
}

/// One threshold.
#[derive(Clone, Debug, PartialEq)]
pub enum Threshold {
    /// `call: {p99: 50ms}`: the statistic must be at most `max`.
    Latency {
        metric: MetricRef,
        stat: Stat,
        max: Duration,
    },
    /// `session: {rate: ">= 100/s"}`: completions per second over the measured run
    /// must be at least `min`.
    Rate { metric: MetricRef, min: Rate },
    /// `failures: 0`: at most this many failures recorded (a failed session records at
    /// least one).
    Failures { max: u64 },
    /// `failure_rate: 0.1%`: failed sessions / finished sessions at most this fraction.
    FailureRate { max: f64 },
    /// A flow's `failures: N`: at most N of the flow's sessions failed (`failed` is the
    /// flow's `<flow>/failed sessions` metric).
    FlowFailures {
        flow: String,
        failed: MetricRef,
        max: u64,
    },
    /// A flow's `failure_rate`: its failed / finished sessions (`session` is the flow's
    /// `<flow>/session` metric).
    FlowFailureRate {
        flow: String,
        session: MetricRef,
        max: f64,
    },
}

impl fmt::Display for Threshold {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Threshold::Latency { metric, stat, max } => {
                write!(
                    f,
                    "{} {} <= {}",
                    metric.name,
                    stat.as_str(),
                    format_duration(*max)
                )
            }
            Threshold::Rate { metric, min } => write!(f, "{} rate >= {min}", metric.name),
            Threshold::Failures { max } => write!(f, "failures <= {max}"),
            Threshold::FailureRate { max } => write!(f, "failure_rate <= {}%", max * 100.0),
            Threshold::FlowFailures { flow, max, .. } => write!(f, "{flow} failures <= {max}"),
            Threshold::FlowFailureRate { flow, max, .. } => {
                write!(f, "{flow} failure_rate <= {}%", max * 100.0)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thresholds_describe_themselves() {
        let m = MetricRef {
            id: 2,
            name: "call".into(),
        };
        let t = Threshold::Latency {
            metric: m.clone(),
            stat: Stat::P99,
            max: Duration::from_millis(50),
        };
        assert_eq!(t.to_string(), "call p99 <= 50ms");
        let t = Threshold::Rate {
            metric: m,
            min: Rate { per_sec: 100.0 },
        };
        assert_eq!(t.to_string(), "call rate >= 100/s");
        assert_eq!(
            Threshold::FailureRate { max: 0.001 }.to_string(),
            "failure_rate <= 0.1%"
        );
        assert_eq!(Stat::from_name("p999"), Some(Stat::P999));
        assert!(Stat::P999.is_latency() && !Stat::Failures.is_latency());
    }
}
