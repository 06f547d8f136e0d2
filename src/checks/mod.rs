//! Checks after a run: the scenario's thresholds, as the metrics module evaluates them.
//! (Per-step expectations are checked while sessions run, in the runner; so are the
//! thresholds marked `abort: true`, with [`abort_checks`].)

use crate::metrics::{Comparison, Quantity, Stat, ThresholdCheck};
use crate::scenario::{AwaitStep, Awaited, Plan, RefuteStep, StepKind, Threshold};

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
        "sessions share accounts ({slots} accounts per role, each used by session after session) and this scenario depends on per-account server state ({}): what one session leaves, the next one on those accounts sees; clean up in the scenario (markRead what it read, leave/close what it joined) or run one session per account (concurrency = sessions)",
        reasons.join(", ")
    ))
}

/// The per-account server state the plan's steps create or read, as the driver's
/// vocabulary says which params leave such state (`pushToken`, `offlineEnabled: true`),
/// which pushes read it (`unreadSync`) and what the target keeps for offline accounts.
pub fn per_account_state(plan: &Plan) -> Vec<&'static str> {
    let vars = plan.new_vars("", "", &[]);
    let mut reasons: Vec<&'static str> = Vec::new();
    let mut add = |what: &'static str| {
        if !reasons.contains(&what) {
            reasons.push(what);
        }
    };
    for step in plan.all_steps() {
        let (op, params) = match &step.kind {
            StepKind::Op(s) => (s.op, s.params.render(&vars)),
            StepKind::Login(s) => (s.op, s.params.render(&vars)),
            StepKind::Await(AwaitStep { matcher, .. })
            | StepKind::Refute(RefuteStep { matcher, .. }) => {
                let kind = match matcher.awaited {
                    Awaited::Push(kind) => kind,
                    Awaited::Event { via, .. } => via,
                };
                if let Some(what) = kind.account_state {
                    add(what);
                }
                continue;
            }
            _ => continue,
        };
        for state in op.account_state {
            let given = params.get(state.param);
            let leaves = match state.when_true {
                true => given == Some(&serde_json::Value::Bool(true)),
                // A templated value counts: it is given, whatever it renders to.
                false => given.is_some(),
            };
            if leaves {
                add(state.what);
            }
        }
    }
    if plan.roles.iter().any(|r| !r.online)
        && let Some(what) = plan.vocabulary.offline_state
    {
        add(what);
    }
    reasons
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
