//! Steps: which action a step performs, its target, and the session scope that makes
//! variables and `since` targets visible only after the step that defines them.

use serde_json::json;
use std::collections::HashSet;

use super::values::SaveFrom;
use super::{Cx, Fields, describe};
use crate::drivers::{OpRole, OpSpec};
use crate::scenario::error::{did_you_mean, suggest};
use crate::scenario::expect::Expect;
use crate::scenario::node::{Key, Node, Span, Value};
use crate::scenario::plan::{LoginStep, MetricKind, OpStep, Step, StepId, StepKind, Target};
use crate::scenario::template::{Slot, Template};

/// What is visible at a point of the session.
#[derive(Clone, Debug, Default)]
pub(super) struct Scope {
    /// Saved variables already set.
    pub defined: HashSet<Slot>,
    /// Named request steps already done (for `since`).
    pub done: Vec<(String, StepId)>,
    /// The last request step done (the default `since`).
    pub last_op: Option<StepId>,
}

/// Step kinds other than ops (the driver's ops, e.g. `login`, come from its vocabulary).
const OTHER_ACTIONS: [&str; 9] = [
    "await",
    "refute",
    "pause",
    "connect",
    "disconnect",
    "raw",
    "parallel",
    "repeat",
    "eventually",
];

/// Every non-action key a step may have.
const STEP_KEYS: [&str; 14] = [
    "name",
    "as",
    "metric",
    "expect",
    "save",
    "within",
    "since",
    "match",
    "via",
    "allow_unknown_params",
    "exactly_one",
    "before",
    "every",
    "index",
];

/// Names that thresholds give a special meaning.
pub(super) const RESERVED_NAMES: [&str; 3] = ["session", "failures", "failure_rate"];

fn allowed_keys(action: &str) -> &'static [&'static str] {
    match action {
        "raw" => &["name", "as", "metric", "expect", "within"],
        "connect" | "disconnect" => &["name", "as"],
        "await" => &[
            "name", "as", "metric", "match", "via", "within", "since", "save", "before",
        ],
        "refute" => &["name", "as", "match", "via", "within"],
        "pause" | "repeat" => &["name"],
        "parallel" => &["name", "exactly_one"],
        "eventually" => &["name", "within", "every", "index"],
        _ => &[
            "name",
            "as",
            "metric",
            "expect",
            "save",
            "within",
            "allow_unknown_params",
        ],
    }
}

impl Cx<'_> {
    fn is_action(&self, key: &str) -> bool {
        self.vocabulary.op(key).is_some() || OTHER_ACTIONS.contains(&key)
    }

    fn op_names(&self) -> Vec<&'static str> {
        self.vocabulary.ops.iter().map(|o| o.name).collect()
    }

    /// A list of steps, compiled in order within `scope`.
    pub(super) fn steps(&mut self, node: &Node, scope: &mut Scope, what: &str) -> Vec<Step> {
        let Value::Seq(items) = &node.value else {
            self.error(
                node.span,
                format!(
                    "{what} must be a list of steps, found {}",
                    node.value.kind()
                ),
            );
            return Vec::new();
        };
        if items.is_empty() {
            self.error(node.span, format!("{what} must not be empty"));
        }
        items
            .iter()
            .filter_map(|item| self.step(item, scope))
            .collect()
    }

    pub(super) fn step(&mut self, node: &Node, scope: &mut Scope) -> Option<Step> {
        let fields = self.map(node, "a step")?;
        let line = match node.span {
            Span::At { line, .. } => line,
            _ => 0,
        };
        let actions: Vec<&Key> = fields
            .entries
            .iter()
            .map(|(k, _)| k)
            .filter(|k| self.is_action(&k.name))
            .collect();
        let unknown: Vec<&Key> = fields
            .entries
            .iter()
            .map(|(k, _)| k)
            .filter(|k| !self.is_action(&k.name) && !STEP_KEYS.contains(&k.name.as_str()))
            .collect();
        for key in &unknown {
            self.unknown_step_key(key, actions.is_empty());
        }
        let action = match actions.as_slice() {
            [] => {
                if unknown.is_empty() {
                    self.error(
                        node.span,
                        format!(
                            "a step needs an action: an op ({}) or one of {}",
                            self.op_names().join(", "),
                            OTHER_ACTIONS.join(", ")
                        ),
                    );
                }
                return None;
            }
            [one] => *one,
            [first, second, ..] => {
                self.error(
                    second.span,
                    format!(
                        "a step has one action, found '{}' and '{}'; split it into two steps",
                        first.name, second.name
                    ),
                );
                return None;
            }
        };
        let allowed = allowed_keys(&action.name);
        for (key, _) in fields.entries {
            if key.name != action.name
                && STEP_KEYS.contains(&key.name.as_str())
                && !allowed.contains(&key.name.as_str())
            {
                self.error(
                    key.span,
                    format!(
                        "'{}' is not allowed on a '{}' step (allowed: {})",
                        key.name,
                        action.name,
                        allowed.join(", ")
                    ),
                );
            }
        }
        let name = self.step_name(&fields, &action.name);
        let value = fields.get(&action.name)?;
        let kind = match action.name.as_str() {
            "await" => self.await_step(&fields, action, value, name.as_deref(), scope),
            "refute" => self.refute_step(&fields, action, value, scope),
            "pause" => self.pause(value).map(StepKind::Pause),
            "connect" | "disconnect" => {
                self.no_value(value, &action.name);
                let target = self.target(&fields, action)?;
                Some(if action.name == "connect" {
                    StepKind::Connect(target)
                } else {
                    StepKind::Disconnect(target)
                })
            }
            "raw" => self.raw_step(&fields, action, value, name.as_deref(), scope),
            "parallel" => self.parallel(&fields, value, scope),
            "repeat" => self.repeat(value, scope),
            "eventually" => self.eventually(&fields, value, scope),
            op => {
                let op = self.vocabulary.op(op)?;
                self.op_step(&fields, action, op, value, name.as_deref(), scope)
            }
        }?;
        Some(Step { name, line, kind })
    }

    fn unknown_step_key(&mut self, key: &Key, no_action: bool) {
        let ops = self.op_names();
        let candidates = ops.iter().copied().chain(OTHER_ACTIONS).chain(STEP_KEYS);
        let message = match suggest(&key.name, candidates) {
            Some(s) if ops.contains(&s) => {
                format!("unknown op '{}' — did you mean '{s}'?", key.name)
            }
            Some(s) if OTHER_ACTIONS.contains(&s) => {
                format!("unknown step kind '{}' — did you mean '{s}'?", key.name)
            }
            Some(s) => format!("unknown key '{}' in step — did you mean '{s}'?", key.name),
            None if no_action => format!(
                "unknown op '{}' (ops: {}; other steps: {})",
                key.name,
                ops.join(", "),
                OTHER_ACTIONS.join(", ")
            ),
            None => format!(
                "unknown key '{}' in step (step keys: {})",
                key.name,
                STEP_KEYS.join(", ")
            ),
        };
        self.error(key.span, message);
    }

    /// Literal params the target must refuse (`autoJoin: yes`, `type: "2"`), on a step
    /// that expects success and not that refusal: such a step fails in every session, so
    /// it is an error here. Templated values are only known at run time.
    fn refused_params(&mut self, op: &OpSpec, entries: &[(Key, Node)], expect: &Expect) {
        for (key, node) in entries {
            let value = node.to_json();
            if value.to_string().contains("${") {
                continue;
            }
            let Some((code, why)) = (self.vocabulary.check_param)(op.name, &key.name, &value)
            else {
                continue;
            };
            let allows = |wanted: u32| {
                expect.codes.iter().any(|c| match c {
                    crate::scenario::expect::CodeMatch::Number(n) => *n == wanted,
                    crate::scenario::expect::CodeMatch::Named(spec) => spec.number == wanted,
                })
            };
            // Only a step that expects success: other expected codes (NOT_LOGGED_IN, …)
            // may come from checks the server makes before it validates params.
            if allows(self.vocabulary.ok_code) && !allows(code) {
                let name = self
                    .vocabulary
                    .codes
                    .iter()
                    .find(|c| c.number == code)
                    .map_or(String::new(), |c| format!(" {}", c.name));
                self.error(
                    node.span,
                    format!(
                        "{why}: '{}' answers {code}{name} to {}, but this step expects {}; fix the value or expect {code}",
                        op.name,
                        describe(&node.value),
                        expect_text(expect)
                    ),
                );
            }
        }
    }

    /// `name:`, checked for uniqueness and reserved words.
    fn step_name(&mut self, fields: &Fields<'_>, action: &str) -> Option<String> {
        let node = fields.get("name")?;
        let name = self.string(node, "a step name")?;
        if name.trim().is_empty() {
            self.error(node.span, "a step name must not be empty");
            return None;
        }
        self.check_metric_name(&name, node.span, action);
        let name = self.in_flow(&name);
        if let Some((_, span)) = self.step_names.iter().find(|(n, _)| *n == name) {
            let at = match span {
                Span::At { line, .. } => format!(" at line {line}"),
                _ => String::new(),
            };
            self.error(
                node.span,
                format!("step name '{name}' is already used{at}; step names must be unique (use `metric:` to share a metric)"),
            );
            return None;
        }
        self.step_names.push((name.clone(), node.span));
        Some(name)
    }

    fn check_metric_name(&mut self, name: &str, span: Span, action: &str) {
        let login_op = self
            .vocabulary
            .op(action)
            .is_some_and(|o| o.role == OpRole::Login);
        if RESERVED_NAMES.contains(&name) || (name == "login" && !login_op) {
            self.error(
                span,
                format!("'{name}' is a reserved metric name; choose another step name"),
            );
        }
    }

    /// The metric of a measured step: `metric:`, else `name:`, else `default`.
    pub(super) fn step_metric(
        &mut self,
        fields: &Fields<'_>,
        name: Option<&str>,
        default: &str,
        kind: MetricKind,
        action: &Key,
    ) -> Option<usize> {
        let (metric, span) = match fields.get("metric") {
            Some(node) => {
                let m = self.string(node, "metric")?;
                self.check_metric_name(&m, node.span, &action.name);
                (self.in_flow(&m), node.span)
            }
            // Step names are already `<flow>/<name>` in a flow.
            None => match name {
                Some(name) => (
                    name.to_string(),
                    fields.key("name").map_or(action.span, |k| k.span),
                ),
                // Unnamed logins share the run's `login` metric.
                None if kind == MetricKind::Login => (default.to_string(), action.span),
                None => (self.in_flow(default), action.span),
            },
        };
        self.metric(&metric, kind, span)
    }

    /// `as: callee`, `as: callee#2` or `as: {role: callee, device: 2}`.
    pub(super) fn target(&mut self, fields: &Fields<'_>, action: &Key) -> Option<Target> {
        let roles: Vec<String> = self.roles.iter().map(|r| r.name.clone()).collect();
        let Some(node) = fields.get("as") else {
            self.error(
                action.span,
                format!(
                    "missing 'as': which role does this '{}'? (roles: {})",
                    action.name,
                    roles.join(", ")
                ),
            );
            return None;
        };
        let (role, device) = match &node.value {
            Value::Str(s) => match s.split_once('#') {
                Some((r, d)) => match d.parse::<usize>() {
                    Ok(d) => (r.to_string(), d),
                    Err(_) => {
                        self.error(
                            node.span,
                            format!("bad device in '{s}': expected role#N with N from 1"),
                        );
                        return None;
                    }
                },
                None => (s.clone(), 1),
            },
            Value::Map(_) => {
                let f = self.map(node, "as")?;
                self.check_keys(&f, &["role", "device"], "as");
                let Some(role_node) = f.get("role") else {
                    self.error(node.span, "as: {role, device} needs 'role'");
                    return None;
                };
                let role = self.string(role_node, "as.role")?;
                let device = match f.get("device") {
                    Some(d) => usize::try_from(self.uint(d, "as.device")?).unwrap_or(usize::MAX),
                    None => 1,
                };
                (role, device)
            }
            other => {
                self.error(
                    node.span,
                    format!(
                        "as must be a role name (callee, callee#2) or {{role, device}}, found {}",
                        describe(other)
                    ),
                );
                return None;
            }
        };
        let Some(index) = roles.iter().position(|r| *r == role) else {
            let hint = did_you_mean(&role, roles.iter().map(String::as_str));
            self.error(
                node.span,
                format!("unknown role '{role}'{hint} (roles: {})", roles.join(", ")),
            );
            return None;
        };
        let devices = self.roles[index].devices;
        if device == 0 || device > devices {
            self.error(
                node.span,
                format!(
                    "role '{role}' has {devices} device(s), numbered from 1; there is no device {device}"
                ),
            );
            return None;
        }
        Some(Target {
            role: index,
            device: device - 1,
        })
    }

    pub(super) fn within(&mut self, fields: &Fields<'_>) -> Option<std::time::Duration> {
        match fields.get("within") {
            Some(n) => self.nonzero_duration(n, "within"),
            None => Some(self.timeout),
        }
    }

    pub(super) fn next_step_id(&mut self) -> StepId {
        self.timed_steps += 1;
        StepId(self.timed_steps - 1)
    }

    fn op_step(
        &mut self,
        fields: &Fields<'_>,
        action: &Key,
        op: &'static OpSpec,
        value: &Node,
        name: Option<&str>,
        scope: &mut Scope,
    ) -> Option<StepKind> {
        let target = self.target(fields, action);
        let allow_unknown = match fields.get("allow_unknown_params") {
            Some(n) => self.bool(n, "allow_unknown_params").unwrap_or(false),
            None => false,
        };
        let params = match &value.value {
            Value::Null => Some(Template::constant(json!({}))),
            Value::Map(entries) => {
                if !allow_unknown {
                    for (key, _) in entries {
                        if !op.params.contains(&key.name.as_str()) {
                            let hint = did_you_mean(&key.name, op.params.iter().copied());
                            self.error(
                                key.span,
                                format!(
                                    "unknown param '{}' for op '{}'{hint} (params: {}; set `allow_unknown_params: true` on the step to send it anyway)",
                                    key.name,
                                    op.name,
                                    op.params.join(", ")
                                ),
                            );
                        }
                    }
                }
                self.template(value, scope)
            }
            other => {
                self.error(
                    value.span,
                    format!(
                        "the params of '{}' must be a mapping (or empty), found {}",
                        op.name,
                        describe(other)
                    ),
                );
                None
            }
        };
        let expect = match fields.get("expect") {
            Some(n) => self.expect(n, scope),
            None => Some(Expect::codes(vec![
                crate::scenario::expect::CodeMatch::Number(self.vocabulary.ok_code),
            ])),
        };
        if let (Value::Map(entries), Some(expect)) = (&value.value, &expect) {
            self.refused_params(op, entries, expect);
        }
        let save = match fields.get("save") {
            Some(n) => self.saves(n, SaveFrom::Response(op)),
            None => Some(Vec::new()),
        };
        let timeout = self.within(fields);
        let (default, kind) = if op.role == OpRole::Login {
            ("login", MetricKind::Login)
        } else {
            (op.name, MetricKind::Op)
        };
        let metric = self.step_metric(fields, name, default, kind, action);
        let (target, params, expect, save, timeout, metric) =
            (target?, params?, expect?, save?, timeout?, metric?);
        let id = self.next_step_id();
        scope.defined.extend(save.iter().map(|s| s.slot));
        scope.last_op = Some(id);
        if let Some(n) = name {
            scope.done.push((n.to_string(), id));
        }
        Some(if op.role == OpRole::Login {
            StepKind::Login(LoginStep {
                target,
                op,
                params,
                expect,
                save,
                timeout,
                metric,
                id,
            })
        } else {
            StepKind::Op(OpStep {
                target,
                op,
                params,
                expect,
                save,
                timeout,
                metric,
                id,
            })
        })
    }
}

/// The codes an expectation allows, for messages (`200`, `200 or 10201`).
fn expect_text(expect: &Expect) -> String {
    let codes: Vec<String> = expect
        .codes
        .iter()
        .map(|c| match c {
            crate::scenario::expect::CodeMatch::Number(n) => n.to_string(),
            crate::scenario::expect::CodeMatch::Named(spec) => spec.name.to_string(),
        })
        .collect();
    codes.join(" or ")
}
