//! The top level of a scenario: name, roles, load model, steps, thresholds.

use std::time::Duration;

use super::steps::{RESERVED_NAMES, Scope};
use super::{Cx, describe};
use crate::scenario::error::{ScenarioError, did_you_mean};
use crate::scenario::node::{Node, Value};
use crate::scenario::plan::{AbortRule, MetricKind, Plan, Role};
use crate::scenario::template::{RUN_VAR, SESSION_VAR, VarLayout, is_var_name};
use crate::scenario::threshold::{MetricRef, Stat, Threshold};
use crate::scenario::timing::{LoadModel, Rate, Stage};

const TOP_KEYS: [&str; 13] = [
    "flows",
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

/// Default accounts logged in per second before the first session.
const DEFAULT_LOGIN_RATE: f64 = 500.0;
/// Default bound on sessions in flight in the open model.
const DEFAULT_MAX_IN_FLIGHT: u64 = 1000;

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
    let settings = match top.get("load") {
        Some(n) => cx.load(n).unwrap_or_default(),
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
    if let Some(planned) = settings.model.planned_sessions()
        && let Some(why) = data.unique_shortfall(planned)
    {
        let span = top.get("feeders").map_or(top.span, |n| n.span);
        cx.error(span, why);
    }
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
            flows = cx.flows(n, &mut thresholds, &mut aborts);
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
    cx.finish(|parts| Plan {
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

/// What the `load` section sets besides the model.
struct LoadSettings {
    model: LoadModel,
    login_rate: Rate,
    max_duration: Option<Duration>,
    aborts_expected: bool,
    unresponsive_after: Option<Duration>,
}

impl Default for LoadSettings {
    fn default() -> Self {
        LoadSettings {
            model: default_load(),
            login_rate: default_login_rate(),
            max_duration: None,
            aborts_expected: false,
            unresponsive_after: None,
        }
    }
}

fn default_load() -> LoadModel {
    LoadModel::Closed {
        sessions: Some(1),
        duration: None,
        concurrency: 1,
    }
}

fn default_login_rate() -> Rate {
    Rate {
        per_sec: DEFAULT_LOGIN_RATE,
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

    fn load(&mut self, node: &Node) -> Option<LoadSettings> {
        let f = self.map(node, "load")?;
        self.check_keys(
            &f,
            &[
                "sessions",
                "duration",
                "concurrency",
                "arrival",
                "max_in_flight",
                "login_rate",
                "max_duration",
                "max_failures",
                "aborts_expected",
                "unresponsive_after",
            ],
            "load",
        );
        let aborts_expected = match f.get("aborts_expected") {
            Some(n) => {
                let expected = self.bool(n, "aborts_expected")?;
                if expected && f.get("max_duration").is_none() {
                    self.error(
                        n.span,
                        "aborts_expected is about sessions cut off by max_duration, and this load has no max_duration",
                    );
                }
                expected
            }
            None => false,
        };
        let unresponsive_after = match f.get("unresponsive_after") {
            Some(n) => Some(self.nonzero_duration(n, "unresponsive_after")?),
            None => None,
        };
        let login_rate = match f.get("login_rate") {
            Some(n) => {
                let r = self.rate(n, "login_rate")?;
                if r.per_sec <= 0.0 {
                    self.error(n.span, "login_rate must be above 0/s");
                    return None;
                }
                r
            }
            None => default_login_rate(),
        };
        let max_duration = match f.get("max_duration") {
            Some(n) => Some(self.nonzero_duration(n, "max_duration")?),
            None => None,
        };
        let model = if let Some(arrival) = f.get("arrival") {
            for key in ["sessions", "duration", "concurrency"] {
                if let Some(k) = f.key(key) {
                    self.error(
                        k.span,
                        format!("'{key}' belongs to the closed model; with 'arrival' (open model) the stages set the load and 'max_in_flight' bounds it"),
                    );
                }
            }
            let max_in_flight = match f.get("max_in_flight") {
                Some(n) => self.parallel_count(n, "max_in_flight")?,
                None => DEFAULT_MAX_IN_FLIGHT,
            };
            let stages = self.stages(arrival)?;
            let model = LoadModel::Open {
                stages,
                max_in_flight,
            };
            if model.planned_sessions() == Some(0) {
                self.error(arrival.span, "these arrival stages start no session at all");
                return None;
            }
            model
        } else {
            if let Some(k) = f.key("max_in_flight") {
                self.error(
                    k.span,
                    "'max_in_flight' belongs to the open model (with 'arrival'); the closed model uses 'concurrency'",
                );
            }
            let sessions = match f.get("sessions") {
                Some(n) => Some(self.positive(n, "sessions")?),
                None => None,
            };
            let duration = match f.get("duration") {
                Some(n) => Some(self.nonzero_duration(n, "duration")?),
                None => None,
            };
            if sessions.is_none() && duration.is_none() {
                self.error(
                    node.span,
                    "load needs 'sessions' and/or 'duration' (closed model) or 'arrival' (open model)",
                );
                return None;
            }
            let concurrency = match f.get("concurrency") {
                Some(n) => self.parallel_count(n, "concurrency")?,
                None => 1,
            };
            LoadModel::Closed {
                sessions,
                duration,
                concurrency,
            }
        };
        Some(LoadSettings {
            model,
            login_rate,
            max_duration,
            aborts_expected,
            unresponsive_after,
        })
    }

    /// `- {ramp: 10/s..100/s, over: 30s}` and `- {hold: 100/s, for: 60s}`.
    fn stages(&mut self, node: &Node) -> Option<Vec<Stage>> {
        let Value::Seq(items) = &node.value else {
            self.error(
                node.span,
                format!(
                    "arrival must be a list of stages, found {}",
                    node.value.kind()
                ),
            );
            return None;
        };
        if items.is_empty() {
            self.error(node.span, "arrival must list at least one stage");
            return None;
        }
        let mut stages = Vec::new();
        let mut ok = true;
        for item in items {
            match self.stage(item) {
                Some(s) => stages.push(s),
                None => ok = false,
            }
        }
        ok.then_some(stages)
    }

    fn stage(&mut self, node: &Node) -> Option<Stage> {
        let f = self.map(node, "an arrival stage")?;
        if let Some(ramp) = f.get("ramp") {
            self.check_keys(&f, &["ramp", "over"], "a ramp stage");
            let text = self.string(ramp, "ramp")?;
            let Some((a, b)) = text.split_once("..") else {
                self.error(
                    ramp.span,
                    format!("ramp: expected from..to, e.g. 10/s..100/s, got '{text}'"),
                );
                return None;
            };
            let (from, to) = match (Rate::parse(a), Rate::parse(b)) {
                (Ok(from), Ok(to)) => (from, to),
                (Err(e), _) | (_, Err(e)) => {
                    self.error(ramp.span, format!("ramp: {e}"));
                    return None;
                }
            };
            let Some(over) = f.get("over") else {
                self.error(
                    node.span,
                    "a ramp stage needs 'over': how long the ramp lasts",
                );
                return None;
            };
            Some(Stage::Ramp {
                from,
                to,
                over: self.nonzero_duration(over, "over")?,
            })
        } else if let Some(hold) = f.get("hold") {
            self.check_keys(&f, &["hold", "for"], "a hold stage");
            let rate = self.rate(hold, "hold")?;
            let Some(duration) = f.get("for") else {
                self.error(node.span, "a hold stage needs 'for': how long it lasts");
                return None;
            };
            Some(Stage::Hold {
                rate,
                duration: self.nonzero_duration(duration, "for")?,
            })
        } else {
            self.error(
                node.span,
                "a stage is {ramp: 10/s..100/s, over: 30s} or {hold: 100/s, for: 60s}",
            );
            None
        }
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
