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

/// A warning for the summary and report when sessions run one after the other on the
/// same accounts and the scenario depends on what the server keeps per account (native:
/// a pushToken registered at login, events stored offline): what one session leaves
/// there, the next one on those accounts sees.
pub fn shared_state_warning(plan: &Plan) -> Option<String> {
    let slots = plan.load.max_concurrent().max(1);
    let shared = !plan.fresh_accounts && plan.load.reuses_slots();
    if !shared {
        return None;
    }
    let reasons = per_account_state(plan);
    if reasons.is_empty() {
        return None;
    }
    Some(format!(
        "sessions share accounts ({slots} accounts per role, each used by session after session) and this scenario depends on per-account server state ({}): what one session leaves, the next one on those accounts sees; give every session new accounts (accounts: fresh), let the harness clean up after each session (cleanup: true) where the driver can, or run one session per account (concurrency = sessions)",
        reasons.join(", ")
    ))
}

/// The per-account server state the plan depends on and that nothing removes between
/// sessions: all of it, or with `cleanup: true` what the driver cannot clean up.
pub fn per_account_state(plan: &Plan) -> Vec<&'static str> {
    plan.account_state()
        .into_iter()
        .filter(|(_, cleaned_up)| !(plan.cleanup && *cleaned_up))
        .map(|(what, _)| what)
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
