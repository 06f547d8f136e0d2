//! The top level of a scenario: name, roles, load model, steps, thresholds.

use std::time::Duration;

use super::load::{LoadScope, LoadSettings};
use super::steps::{RESERVED_NAMES, Scope};
use super::{Cx, describe};
use crate::scenario::error::{ScenarioError, did_you_mean};
use crate::scenario::node::{Node, Span, Value};
use crate::scenario::plan::{AbortRule, MetricKind, Plan, Role};
use crate::scenario::template::{RUN_VAR, SESSION_VAR, VarLayout, is_var_name};
use crate::scenario::threshold::{MetricRef, Stat, Threshold};
use crate::scenario::timing::{LoadModel, Rate};

const TOP_KEYS: [&str; 15] = [
    "flows",
    "accounts",
    "cleanup",
    "name",
    "description",
    "driver",
    "profile",
    "roles",
    "feeders",
    "generate",
    "strict",
    "timeout",
    "load",
    "steps",
    "thresholds",
];

/// Compiles a parsed document. `stem` names the plan when `name:` is absent.
pub(crate) fn compile(mut cx: Cx<'_>, root: &Node, stem: &str) -> Result<Plan, Vec<ScenarioError>> {
    let Some(top) = cx.map(root, "a scenario") else {
        return Err(cx.into_errors());
    };
    if let Some(k) = top.key("cases") {
        cx.error(
            k.span,
            "this is a suite of conformance cases (it has 'cases'), not a scenario; suites run with `sigbench conformance`",
        );
        return Err(cx.into_errors());
    }
    cx.check_keys(&top, &TOP_KEYS, "the scenario");
    // The driver decides which names the steps may use: resolve it first.
    if let Some(n) = top.get("driver")
        && let Some(name) = cx.string(n, "driver")
    {
        match crate::drivers::vocabulary_named(&name) {
            Some(v) => cx.vocabulary = v,
            None => {
                let names = crate::drivers::DRIVER_NAMES;
                let hint = did_you_mean(&name, names.iter().copied());
                cx.error(
                    n.span,
                    format!(
                        "unknown driver '{name}'{hint} (drivers: {})",
                        names.join(", ")
                    ),
                );
            }
        }
    }

    let profile = top.get("profile").and_then(|n| cx.profile(n));
    let name = top
        .get("name")
        .and_then(|n| cx.string(n, "name"))
        .unwrap_or_else(|| stem.to_string());
    let description = top
        .get("description")
        .and_then(|n| cx.string(n, "description"))
        .unwrap_or_default();
    let fresh_accounts = match top.get("accounts") {
        Some(n) => match cx.string(n, "accounts").as_deref() {
            Some("fresh") => true,
            Some("shared") | None => false,
            Some(other) => {
                let hint = did_you_mean(other, ["fresh", "shared"]);
                cx.error(
                    n.span,
                    format!("accounts: expected 'shared' (the default: a slot's sessions reuse its accounts) or 'fresh' (new accounts for every session), got '{other}'{hint}"),
                );
                false
            }
        },
        None => false,
    };
    let cleanup_key = top.key("cleanup").map(|k| k.span);
    let cleanup = top
        .get("cleanup")
        .and_then(|n| cx.bool(n, "cleanup"))
        .unwrap_or(false);
    if cleanup && !cx.vocabulary.cleans_up() {
        cx.error(
            cleanup_key.unwrap_or(top.span),
            format!(
                "cleanup: driver '{}' cannot clean up after a session (its op table has no op that undoes what a session leaves); give every session new accounts with accounts: fresh",
                cx.vocabulary.name
            ),
        );
    }
    let strict = top
        .get("strict")
        .and_then(|n| cx.bool(n, "strict"))
        .unwrap_or(false);
    if let Some(t) = top
        .get("timeout")
        .and_then(|n| cx.nonzero_duration(n, "timeout"))
    {
        cx.timeout = t;
    }
    match top.get("roles") {
        Some(n) => cx.roles(n),
        None => cx.error(
            top.span,
            "missing 'roles': e.g. roles: {caller: {}, callee: {}}",
        ),
    }
    // Flows with loads of their own leave the top-level load only the run-wide keys.
    let per_flow = top.get("flows").and_then(first_flow_with_load);
    let scope = match &per_flow {
        Some(first) => LoadScope::RunWide {
            first_flow: first.clone(),
        },
        None => LoadScope::Shared,
    };
    let mut settings = match top.get("load") {
        Some(n) => cx.load(n, &scope).unwrap_or_default(),
        None => LoadSettings::default(),
    };
    let max_failures = top
        .get("load")
        .and_then(|n| match &n.value {
            Value::Map(entries) => entries.iter().find(|(k, _)| k.name == "max_failures"),
            _ => None,
        })
        .and_then(|(_, n)| cx.positive(n, "max_failures"));

    // Feeder columns and generated values are variables every step can read: they
    // take their slots before the steps' saved variables.
    let data = cx.data(top.get("feeders"), top.get("generate"));
    cx.metric("login", MetricKind::Login, top.span);
    cx.metric("session", MetricKind::Session, top.span);
    let mut scope = Scope::default();
    let mut thresholds = Vec::new();
    let mut aborts = Vec::new();
    let mut flows = Vec::new();
    let steps = match (top.get("steps"), top.get("flows")) {
        (Some(_), Some(_)) => {
            let span = top.key("flows").map_or(top.span, |k| k.span);
            cx.error(
                span,
                "a scenario has either 'steps' (one flow) or 'flows' (a mix of flows), not both",
            );
            Vec::new()
        }
        (Some(n), None) => cx.steps(n, &mut scope, "steps"),
        (None, Some(n)) => {
            let loads;
            (flows, loads) = cx.flows(n, &mut thresholds, &mut aborts, per_flow.as_deref());
            if per_flow.is_some() && loads.len() == flows.len() {
                settings.model = LoadModel::PerFlow(loads);
            }
            Vec::new()
        }
        (None, None) => {
            cx.error(
                top.span,
                "missing 'steps': the list of what one session does (or 'flows': a mix)",
            );
            Vec::new()
        }
    };
    if let Some(planned) = settings.model.planned_sessions()
        && let Some(why) = data.unique_shortfall(planned)
    {
        let span = top.get("feeders").map_or(top.span, |n| n.span);
        cx.error(span, why);
    }
    if let Some(n) = top.get("thresholds") {
        let offset = thresholds.len();
        let (own, own_aborts) = cx.thresholds(n);
        thresholds.extend(own);
        aborts.extend(own_aborts.into_iter().map(|a| AbortRule {
            threshold: a.threshold + offset,
            after: a.after,
        }));
    }
    let weights: Vec<u32> = flows.iter().map(|f| f.weight).collect();
    let flow_schedule = super::flows::schedule(&weights);
    let source = cx.file.to_string();
    let plan = cx.finish(|parts| Plan {
        name,
        description,
        source,
        vocabulary: parts.vocabulary,
        profile,
        roles: parts.roles,
        load: settings.model,
        login_rate: settings.login_rate,
        max_duration: settings.max_duration,
        aborts_expected: settings.aborts_expected,
        unresponsive_after: settings.unresponsive_after,
        strict,
        fresh_accounts,
        cleanup,
        timeout: parts.timeout,
        steps,
        flows,
        flow_schedule,
        thresholds,
        aborts,
        max_failures,
        data,
        metrics: parts.metrics,
        timed_steps: parts.timed_steps,
        vars: parts.layout,
    })?;
    cleanup_covers(&plan, cleanup_key)?;
    Ok(plan)
}

/// With `cleanup: true`, every per-account state the plan leaves must be one the driver
/// can clean up: otherwise the option would promise clean accounts it cannot give.
fn cleanup_covers(plan: &Plan, at: Option<Span>) -> Result<(), Vec<ScenarioError>> {
    if !plan.cleanup {
        return Ok(());
    }
    let left: Vec<&str> = plan
        .account_state()
        .into_iter()
        .filter(|(_, cleaned_up)| !cleaned_up)
        .map(|(what, _)| what)
        .collect();
    if left.is_empty() {
        return Ok(());
    }
    let location = match at {
        Some(Span::At { line, col }) => Some((line, col)),
        _ => None,
    };
    Err(vec![ScenarioError {
        file: plan.source.clone(),
        location,
        message: format!(
            "cleanup cannot undo {}: driver '{}' has no op that removes it; give every session new accounts with accounts: fresh",
            left.join(", "),
            plan.vocabulary.name
        ),
        kind: crate::scenario::error::ErrorKind::Invalid,
    }])
}

/// The name of the first flow with a `load` of its own, if any: then every flow must
/// have one (checked with the flows).
fn first_flow_with_load(flows: &Node) -> Option<String> {
    let Value::Map(entries) = &flows.value else {
        return None;
    };
    entries.iter().find_map(|(key, flow)| match &flow.value {
        Value::Map(fields) => fields
            .iter()
            .any(|(k, _)| k.name == "load")
            .then(|| key.name.clone()),
        _ => None,
    })
}

impl Cx<'_> {
    /// `profile: FILE`, relative to the scenario's directory: loaded and checked now, so
    /// `sigbench check` reports its mistakes too.
    fn profile(&mut self, node: &Node) -> Option<crate::drivers::profile::ProfileRef> {
        let text = self.string(node, "profile")?;
        if self.vocabulary.name != crate::drivers::native::VOCABULARY.name {
            self.error(
                node.span,
                format!(
                    "a wire profile describes the framing of sigbench's own ops; driver '{}' has its own",
                    self.vocabulary.name
                ),
            );
            return None;
        }
        let base = std::path::Path::new(self.file)
            .parent()
            .unwrap_or(std::path::Path::new(""));
        let path = base.join(&text);
        match crate::drivers::profile::Profile::load(&path) {
            Ok(p) => Some(crate::drivers::profile::ProfileRef(std::sync::Arc::new(p))),
            Err(errors) => {
                self.error(
                    node.span,
                    format!(
                        "the profile '{}' has {} error(s):",
                        path.display(),
                        errors.len()
                    ),
                );
                for e in errors {
                    self.push_error(e);
                }
                None
            }
        }
    }
}

impl Cx<'_> {
    fn roles(&mut self, node: &Node) {
        let Some(f) = self.map(node, "roles") else {
            return;
        };
        if f.entries.is_empty() {
            self.error(node.span, "roles must name at least one role");
        }
        for (key, value) in f.entries {
            let name = key.name.clone();
            if !is_var_name(&name) {
                self.error(
                    key.span,
                    format!("bad role name '{name}' (letters, digits, '_' or '-', starting with a letter or '_')"),
                );
            } else if name == SESSION_VAR || name == RUN_VAR {
                self.error(
                    key.span,
                    format!("'{name}' is a builtin variable; choose another role name"),
                );
            }
            let mut role = Role {
                name,
                devices: 1,
                online: true,
            };
            if !matches!(value.value, Value::Null)
                && let Some(rf) = self.map(value, "a role")
            {
                self.check_keys(&rf, &["devices", "online"], "a role");
                if let Some(d) = rf
                    .get("devices")
                    .and_then(|n| self.parallel_count(n, "devices"))
                {
                    role.devices = usize::try_from(d).unwrap_or(usize::MAX);
                }
                if let Some(o) = rf.get("online").and_then(|n| self.bool(n, "online")) {
                    role.online = o;
                }
            }
            self.roles.push(role);
        }
        let names: Vec<String> = self.roles.iter().map(|r| r.name.clone()).collect();
        self.layout = VarLayout::new(&names);
    }

    pub(super) fn thresholds(&mut self, node: &Node) -> (Vec<Threshold>, Vec<AbortRule>) {
        let Some(f) = self.map(node, "thresholds") else {
            return (Vec::new(), Vec::new());
        };
        let mut out = Vec::new();
        let mut aborts = Vec::new();
        for (key, value) in f.entries {
            let before = out.len();
            let abort = match key.name.as_str() {
                "failures" | "failure_rate" => {
                    let (limit, abort) = self.run_wide_limit(value, &key.name);
                    match (key.name.as_str(), limit) {
                        ("failures", Some(n)) => {
                            if let Some(max) = self.uint(n, "failures") {
                                out.push(match self.flow_metrics() {
                                    Some((flow, _, failed)) => {
                                        Threshold::FlowFailures { flow, failed, max }
                                    }
                                    None => Threshold::Failures { max },
                                });
                            }
                        }
                        (_, Some(n)) => {
                            if let Some(max) = self.fraction(n) {
                                out.push(match self.flow_metrics() {
                                    Some((flow, session, _)) => {
                                        Threshold::FlowFailureRate { flow, session, max }
                                    }
                                    None => Threshold::FailureRate { max },
                                });
                            }
                        }
                        _ => {}
                    }
                    abort
                }
                name => {
                    // In a flow, `call` is the flow's `<flow>/call`.
                    let name = &self.in_flow(name);
                    let name = name.as_str();
                    let Some(id) = self.metrics.iter().position(|m| m.name == name) else {
                        let mut names: Vec<&str> =
                            self.metrics.iter().map(|m| m.name.as_str()).collect();
                        names.extend(RESERVED_NAMES.iter().skip(1));
                        let hint = did_you_mean(name, names.iter().copied());
                        let message = format!(
                            "unknown metric '{name}' in thresholds{hint} (known: {})",
                            names.join(", ")
                        );
                        self.error(key.span, message);
                        continue;
                    };
                    let metric = MetricRef {
                        id,
                        name: name.to_string(),
                    };
                    self.metric_thresholds(value, &metric, &mut out)
                }
            };
            if let Some(after) = abort {
                aborts.extend((before..out.len()).map(|threshold| AbortRule { threshold, after }));
            }
        }
        (out, aborts)
    }

    /// In a flow: its name and its session and failed-sessions metrics.
    fn flow_metrics(&self) -> Option<(String, MetricRef, MetricRef)> {
        let flow = self.flow.clone()?;
        let find = |suffix: &str| {
            let name = format!("{flow}/{suffix}");
            let id = self.metrics.iter().position(|m| m.name == name)?;
            Some(MetricRef { id, name })
        };
        Some((
            flow.clone(),
            find(crate::metrics::FLOW_SESSION)?,
            find(crate::metrics::FLOW_FAILED)?,
        ))
    }

    /// `failures: 0` or `failures: {max: 10, abort: true, abort_after: 30s}` (and the
    /// same for `failure_rate`): the limit's node and the abort rule.
    fn run_wide_limit<'n>(
        &mut self,
        node: &'n Node,
        what: &str,
    ) -> (Option<&'n Node>, Option<Duration>) {
        let Value::Map(_) = &node.value else {
            return (Some(node), None);
        };
        let Some(f) = self.map(node, what) else {
            return (None, None);
        };
        self.check_keys(&f, &["max", "abort", "abort_after"], &format!("'{what}'"));
        let abort = self.abort_rule(&f);
        let limit = f.get("max");
        if limit.is_none() {
            self.error(
                node.span,
                format!("'{what}' as a mapping needs 'max', e.g. {{max: 10, abort: true}}"),
            );
        }
        (limit, abort)
    }

    /// `abort: true` with an optional `abort_after: 30s`: `Some(after)` when the
    /// threshold stops the run.
    fn abort_rule(&mut self, f: &super::Fields<'_>) -> Option<Duration> {
        let abort = f.get("abort").and_then(|n| self.bool(n, "abort"));
        let after = f
            .get("abort_after")
            .and_then(|n| self.duration(n, "abort_after"));
        if abort != Some(true) {
            if let Some(k) = f.key("abort_after") {
                self.error(k.span, "'abort_after' needs 'abort: true'");
            }
            return None;
        }
        Some(after.unwrap_or(Duration::ZERO))
    }

    /// A metric's limits; returns the abort rule (`Some(after)`) if they stop the run.
    fn metric_thresholds(
        &mut self,
        node: &Node,
        metric: &MetricRef,
        out: &mut Vec<Threshold>,
    ) -> Option<Duration> {
        let f = self.map(node, "a metric threshold")?;
        let mut keys: Vec<&str> = Stat::LATENCY.iter().map(|s| s.as_str()).collect();
        keys.extend(["rate", "abort", "abort_after"]);
        self.check_keys(&f, &keys, &format!("thresholds of '{}'", metric.name));
        let before = out.len();
        for (key, value) in f.entries {
            if key.name == "rate" {
                if let Some(min) = self.min_rate(value) {
                    out.push(Threshold::Rate {
                        metric: metric.clone(),
                        min,
                    });
                }
            } else if let Some(stat) = Stat::from_name(&key.name).filter(|s| s.is_latency())
                && let Some(max) = self.duration(value, &key.name)
            {
                out.push(Threshold::Latency {
                    metric: metric.clone(),
                    stat,
                    max,
                });
            }
        }
        let limits = f
            .entries
            .iter()
            .filter(|(k, _)| !k.name.starts_with("abort"))
            .count();
        if limits == 0 {
            self.error(
                node.span,
                "a metric threshold needs a limit, e.g. {p99: 50ms}",
            );
        }
        let abort = self.abort_rule(&f);
        (out.len() > before).then_some(abort).flatten()
    }

    /// `">= 100/s"` or `100/s`.
    fn min_rate(&mut self, node: &Node) -> Option<Rate> {
        let text = self.string(node, "rate")?;
        let bare = text.trim().strip_prefix(">=").unwrap_or(&text);
        match Rate::parse(bare) {
            Ok(r) => Some(r),
            Err(e) => {
                self.error(
                    node.span,
                    format!("rate: {e} (optionally prefixed by '>=')"),
                );
                None
            }
        }
    }

    /// `0.1%` or a fraction `0.001`.
    fn fraction(&mut self, node: &Node) -> Option<f64> {
        let value = match &node.value {
            Value::Str(s) => s
                .trim()
                .strip_suffix('%')
                .and_then(|p| p.trim().parse::<f64>().ok())
                .map(|p| p / 100.0),
            Value::Float(f) => Some(*f),
            Value::UInt(u) => Some(*u as f64),
            _ => None,
        };
        match value {
            Some(v) if (0.0..=1.0).contains(&v) => Some(v),
            _ => {
                self.error(
                    node.span,
                    format!(
                        "failure_rate must be a percentage like 0.1% or a fraction from 0 to 1, found {}",
                        describe(&node.value)
                    ),
                );
                None
            }
        }
    }
}
