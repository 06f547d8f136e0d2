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
/// same accounts and the scenario depends on what the server keeps per account (a
/// pushToken registered at login, offline events stored for an account that was not
/// online): what one session leaves there, the next one on those accounts sees.
pub fn shared_state_warning(plan: &Plan) -> Option<String> {
    let slots = plan.load.max_concurrent().max(1);
    let shared = plan.load.planned_sessions().is_none_or(|n| n > slots);
    if !shared {
        return None;
    }
    let vars = plan.new_vars("", "", &[]);
    let mut reasons: Vec<&str> = Vec::new();
    for step in plan.all_steps() {
        let params = match &step.kind {
            crate::scenario::StepKind::Op(op) => op.params.render(&vars),
            crate::scenario::StepKind::Login(login) => login.params.render(&vars),
            _ => continue,
        };
        if params.get("pushToken").is_some() && !reasons.contains(&"a pushToken set at login") {
            reasons.push("a pushToken set at login");
        }
        if params.get("offlineEnabled") == Some(&serde_json::Value::Bool(true))
            && !reasons.contains(&"events stored offline")
        {
            reasons.push("events stored offline");
        }
    }
    if plan.roles.iter().any(|r| !r.online) && !reasons.contains(&"events stored offline") {
        reasons.push("events stored offline");
    }
    if reasons.is_empty() {
        return None;
    }
    Some(format!(
        "sessions share accounts ({slots} accounts per role, each used by session after session) and this scenario depends on per-account server state ({}): what one session leaves, the next one on those accounts sees; clean up in the scenario (markRead what it read, leave/close what it joined) or run one session per account (concurrency = sessions)",
        reasons.join(", ")
    ))
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
