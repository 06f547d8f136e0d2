//! `flows:`: a mix of call flows in one run. Each flow has its own steps, either a
//! weight (its share of the sessions of the top-level load — and so, in the open model,
//! of the arrival rate) or a load model of its own, and thresholds of its own. Its step and metric names are prefixed with `<flow>/`, and it
//! gets `<flow>/session` and `<flow>/failed sessions` metrics, so that metrics, failures
//! and thresholds are kept per flow as well as in total.

use super::load::LoadScope;
use super::steps::Scope;
use super::{Cx, Fields};
use crate::metrics::{FLOW_FAILED, FLOW_SESSION};
use crate::scenario::node::Node;
use crate::scenario::plan::{AbortRule, Flow, MetricKind};
use crate::scenario::template::is_var_name;
use crate::scenario::threshold::Threshold;
use crate::scenario::timing::LoadModel;

/// Largest sum of flow weights (the session schedule repeats after this many sessions).
pub(crate) const MAX_TOTAL_WEIGHT: u64 = 10_000;

impl Cx<'_> {
    /// Compiles `flows:`; returns the flows, with their own load models when
    /// `per_flow` names the first flow that has one (then every flow must), and appends
    /// their thresholds (with abort rules) to `thresholds`/`aborts`.
    pub(crate) fn flows(
        &mut self,
        node: &Node,
        thresholds: &mut Vec<Threshold>,
        aborts: &mut Vec<AbortRule>,
        per_flow: Option<&str>,
    ) -> (Vec<Flow>, Vec<LoadModel>) {
        let mut loads = Vec::new();
        let Some(f) = self.map(node, "flows") else {
            return (Vec::new(), loads);
        };
        if f.entries.is_empty() {
            self.error(node.span, "flows must name at least one flow");
        }
        let mut flows = Vec::new();
        let mut total: u64 = 0;
        for (key, value) in f.entries {
            let name = key.name.clone();
            if !is_var_name(&name) {
                self.error(
                    key.span,
                    format!("bad flow name '{name}' (letters, digits, '_' or '-', starting with a letter or '_')"),
                );
                continue;
            }
            let Some(ff) = self.map(value, "a flow") else {
                continue;
            };
            self.check_keys(
                &ff,
                &["description", "weight", "load", "steps", "thresholds"],
                "a flow",
            );
            let weight = match per_flow {
                Some(first) => {
                    if let Some(load) = self.own_load(&name, key.span, &ff, first) {
                        loads.push(load);
                    }
                    0
                }
                None => match ff.get("weight") {
                    Some(n) => self.positive(n, "weight").unwrap_or(1),
                    None => 1,
                },
            };
            total = total.saturating_add(weight);
            if let Some(flow) = self.flow(&name, &ff, weight, value, thresholds, aborts) {
                flows.push(flow);
            }
        }
        if total > MAX_TOTAL_WEIGHT {
            self.error(
                node.span,
                format!("the flows' weights add up to {total}; at most {MAX_TOTAL_WEIGHT} (use percentages or smaller numbers)"),
            );
        }
        (flows, loads)
    }

    /// A flow's own `load` (every flow of the mix has one, as `first` does): its model.
    fn own_load(
        &mut self,
        name: &str,
        at: crate::scenario::node::Span,
        f: &Fields<'_>,
        first: &str,
    ) -> Option<LoadModel> {
        if let Some(k) = f.key("weight") {
            self.error(
                k.span,
                format!("'weight' shares the top-level load between flows, but these flows have their own loads: flow '{name}' needs a 'load' instead"),
            );
        }
        let Some(n) = f.get("load") else {
            self.error(
                at,
                format!("flow '{name}' has no 'load', but flow '{first}' has its own: either every flow has its own load, or none has and they share the top-level load by weight"),
            );
            return None;
        };
        self.load(n, &LoadScope::Flow)
            .map(|settings| settings.model)
    }

    fn flow(
        &mut self,
        name: &str,
        f: &Fields<'_>,
        weight: u64,
        node: &Node,
        thresholds: &mut Vec<Threshold>,
        aborts: &mut Vec<AbortRule>,
    ) -> Option<Flow> {
        if let Some(d) = f.get("description") {
            self.string(d, "description");
        }
        self.flow = Some(name.to_string());
        let session_metric = self.metric(
            &format!("{name}/{FLOW_SESSION}"),
            MetricKind::Session,
            node.span,
        );
        let failed_metric = self.metric(
            &format!("{name}/{FLOW_FAILED}"),
            MetricKind::Session,
            node.span,
        );
        let mut scope = Scope::default();
        let steps = match f.get("steps") {
            Some(n) => self.steps(n, &mut scope, "steps"),
            None => {
                self.error(
                    node.span,
                    format!("flow '{name}' needs 'steps': what one of its sessions does"),
                );
                Vec::new()
            }
        };
        if let Some(n) = f.get("thresholds") {
            let offset = thresholds.len();
            let (own, own_aborts) = self.thresholds(n);
            thresholds.extend(own);
            aborts.extend(own_aborts.into_iter().map(|a| AbortRule {
                threshold: a.threshold + offset,
                after: a.after,
            }));
        }
        self.flow = None;
        Some(Flow {
            name: name.to_string(),
            weight: u32::try_from(weight).unwrap_or(u32::MAX),
            steps,
            session_metric: session_metric?,
            failed_metric: failed_metric?,
        })
    }

    /// A step or metric name as registered: `<flow>/<name>` inside a flow.
    pub(crate) fn in_flow(&self, name: &str) -> String {
        match &self.flow {
            Some(flow) => format!("{flow}/{name}"),
            None => name.to_string(),
        }
    }
}

/// The order in which sessions take the flows: one cycle of a smooth weighted
/// round-robin over the weights (70/20/10 interleaves as a, a, b, a, a, c, a, b, …
/// rather than 70 a's first), so any stretch of consecutive sessions — a short run, a
/// shard's share — has close to the weighted mix.
pub(crate) fn schedule(weights: &[u32]) -> Vec<u16> {
    let total: i64 = weights.iter().map(|&w| i64::from(w)).sum();
    let mut current = vec![0i64; weights.len()];
    let mut out = Vec::with_capacity(usize::try_from(total).unwrap_or(0));
    for _ in 0..total {
        for (c, &w) in current.iter_mut().zip(weights) {
            *c += i64::from(w);
        }
        let Some((best, _)) = current
            .iter()
            .enumerate()
            .max_by_key(|&(i, &c)| (c, std::cmp::Reverse(i)))
        else {
            break;
        };
        current[best] -= total;
        out.push(u16::try_from(best).unwrap_or(u16::MAX));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_schedule_interleaves_by_weight() {
        let s = schedule(&[70, 20, 10]);
        assert_eq!(s.len(), 100);
        let count = |f: u16, n: usize| s[..n].iter().filter(|&&x| x == f).count();
        assert_eq!((count(0, 100), count(1, 100), count(2, 100)), (70, 20, 10));
        // Any prefix is close to the mix.
        for n in [10, 33, 50] {
            assert!((count(0, n) as f64 - 0.7 * n as f64).abs() <= 1.0, "{n}");
            assert!((count(2, n) as f64 - 0.1 * n as f64).abs() <= 1.0, "{n}");
        }
        assert_eq!(schedule(&[1]), vec![0]);
    }
}
