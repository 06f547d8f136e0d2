//! Checks after a run: the scenario's thresholds, as the metrics module evaluates them.
//! (Per-step expectations are checked while sessions run, in the runner; so are the
//! thresholds marked `abort: true`, with [`abort_checks`].)

use crate::metrics::{Comparison, Quantity, Stat, ThresholdCheck};
use crate::scenario::{Plan, Threshold};

/// The plan's thresholds as checks the metrics module evaluates.
pub fn threshold_checks(plan: &Plan) -> Vec<ThresholdCheck> {
    plan.thresholds.iter().map(check_of).collect()
}

/// The thresholds that stop the run when they break (`abort: true`), each with the
/// time into the load before which it is not judged.
pub fn abort_checks(plan: &Plan) -> Vec<(ThresholdCheck, std::time::Duration)> {
    plan.aborts
        .iter()
        .filter_map(|rule| {
            let threshold = plan.thresholds.get(rule.threshold)?;
            Some((check_of(threshold), rule.after))
        })
        .collect()
}

fn check_of(threshold: &Threshold) -> ThresholdCheck {
    match threshold {
        Threshold::Latency { metric, stat, max } => {
            ThresholdCheck::latency(&metric.name, *stat, *max)
        }
        Threshold::Rate { metric, min } => ThresholdCheck::new(
            Some(&metric.name),
            Stat::Rate,
            Comparison::Ge,
            Quantity::Rate(min.per_sec),
        ),
        Threshold::Failures { max } => ThresholdCheck::max_failures(*max),
        Threshold::FailureRate { max } => ThresholdCheck::new(
            None,
            Stat::FailureRate,
            Comparison::Le,
            Quantity::Fraction(*max),
        ),
        Threshold::FlowFailures { failed, max, .. } => ThresholdCheck::new(
            Some(&failed.name),
            Stat::Count,
            Comparison::Le,
            Quantity::Count(*max),
        ),
        Threshold::FlowFailureRate { session, max, .. } => ThresholdCheck::new(
            Some(&session.name),
            Stat::FailureRate,
            Comparison::Le,
            Quantity::Fraction(*max),
        ),
    }
}
