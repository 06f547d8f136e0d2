//! Steps: which action a step performs, its target, and the session scope that makes
//! variables and `since` targets visible only after the step that defines them.

use serde_json::json;
use std::collections::HashSet;
use std::str::FromStr;

use super::values::SaveFrom;
use super::{Cx, Fields, describe};
use crate::protocol::{EventType, Op, PushKind};
use crate::scenario::error::{did_you_mean, suggest};
use crate::scenario::expect::{ExactlyOne, Expect, RawExpect};
use crate::scenario::matcher::{Awaited, PushMatcher};
use crate::scenario::node::{Key, Node, Span, Value};
use crate::scenario::plan::{
    AwaitStep, LoginStep, MetricKind, OpStep, ParallelStep, RawFrame, RawStep, RefuteStep,
    RepeatStep, Since, Step, StepId, StepKind, Target,
};
use crate::scenario::template::{Slot, Template};
use crate::scenario::timing::{Pause, parse_duration};

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

/// Step kinds other than ops (`login` is an op).
const OTHER_ACTIONS: [&str; 8] = [
    "await",
    "refute",
    "pause",
    "connect",
    "disconnect",
    "raw",
    "parallel",
    "repeat",
];

/// Every non-action key a step may have.
const STEP_KEYS: [&str; 11] = [
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
];

/// Names that thresholds give a special meaning.
pub(super) const RESERVED_NAMES: [&str; 3] = ["session", "failures", "failure_rate"];

fn is_action(key: &str) -> bool {
    Op::from_str(key).is_ok() || OTHER_ACTIONS.contains(&key)
}

fn allowed_keys(action: &str) -> &'static [&'static str] {
    match action {
        "raw" => &["name", "as", "metric", "expect", "within"],
        "connect" | "disconnect" => &["name", "as"],
        "await" => &[
            "name", "as", "metric", "match", "via", "within", "since", "save",
        ],
        "refute" => &["name", "as", "match", "via", "within"],
        "pause" | "repeat" => &["name"],
        "parallel" => &["name", "exactly_one"],
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

    fn step(&mut self, node: &Node, scope: &mut Scope) -> Option<Step> {
        let fields = self.map(node, "a step")?;
        let line = match node.span {
            Span::At { line, .. } => line,
            _ => 0,
        };
        let actions: Vec<&Key> = fields
            .entries
            .iter()
            .map(|(k, _)| k)
            .filter(|k| is_action(&k.name))
            .collect();
        let unknown: Vec<&Key> = fields
            .entries
            .iter()
            .map(|(k, _)| k)
            .filter(|k| !is_action(&k.name) && !STEP_KEYS.contains(&k.name.as_str()))
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
                            op_names().join(", "),
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
            op => {
                let op = Op::from_str(op).ok()?;
                self.op_step(&fields, action, op, value, name.as_deref(), scope)
            }
        }?;
        Some(Step { name, line, kind })
    }

    fn unknown_step_key(&mut self, key: &Key, no_action: bool) {
        let ops = op_names();
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

    /// `name:`, checked for uniqueness and reserved words.
    fn step_name(&mut self, fields: &Fields<'_>, action: &str) -> Option<String> {
        let node = fields.get("name")?;
        let name = self.string(node, "a step name")?;
        if name.trim().is_empty() {
            self.error(node.span, "a step name must not be empty");
            return None;
        }
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
        self.check_metric_name(&name, node.span, action);
        Some(name)
    }

    fn check_metric_name(&mut self, name: &str, span: Span, action: &str) {
        if RESERVED_NAMES.contains(&name) || (name == "login" && action != "login") {
            self.error(
                span,
                format!("'{name}' is a reserved metric name; choose another step name"),
            );
        }
    }

    /// The metric of a measured step: `metric:`, else `name:`, else `default`.
    fn step_metric(
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
                (m, node.span)
            }
            None => (
                name.unwrap_or(default).to_string(),
                fields.key("name").map_or(action.span, |k| k.span),
            ),
        };
        self.metric(&metric, kind, span)
    }

    /// `as: callee`, `as: callee#2` or `as: {role: callee, device: 2}`.
    fn target(&mut self, fields: &Fields<'_>, action: &Key) -> Option<Target> {
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

    fn within(&mut self, fields: &Fields<'_>) -> Option<std::time::Duration> {
        match fields.get("within") {
            Some(n) => self.nonzero_duration(n, "within"),
            None => Some(self.timeout),
        }
    }

    fn next_step_id(&mut self) -> StepId {
        self.timed_steps += 1;
        StepId(self.timed_steps - 1)
    }

    fn op_step(
        &mut self,
        fields: &Fields<'_>,
        action: &Key,
        op: Op,
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
                        if !op.params().contains(&key.name.as_str()) {
                            let hint = did_you_mean(&key.name, op.params().iter().copied());
                            self.error(
                                key.span,
                                format!(
                                    "unknown param '{}' for op '{op}'{hint} (params: {}; set `allow_unknown_params: true` on the step to send it anyway)",
                                    key.name,
                                    op.params().join(", ")
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
                        "the params of '{op}' must be a mapping (or empty), found {}",
                        describe(other)
                    ),
                );
                None
            }
        };
        let expect = match fields.get("expect") {
            Some(n) => self.expect(n, scope),
            None => Some(Expect::ok()),
        };
        let save = match fields.get("save") {
            Some(n) => self.saves(n, SaveFrom::Response),
            None => Some(Vec::new()),
        };
        let timeout = self.within(fields);
        let (default, kind) = if op == Op::Login {
            ("login", MetricKind::Login)
        } else {
            (op.as_str(), MetricKind::Op)
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
        Some(if op == Op::Login {
            StepKind::Login(LoginStep {
                target,
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

    /// The awaited thing of an `await`/`refute` plus its `via`.
    fn awaited(&mut self, fields: &Fields<'_>, value: &Node) -> Option<Awaited> {
        let text = self.string(value, "the awaited event or push")?;
        let via = match fields.get("via") {
            Some(n) => {
                let v = self.string(n, "via")?;
                match PushKind::from_str(&v) {
                    Ok(
                        k @ (PushKind::Notify | PushKind::MultiClientSync | PushKind::UnreadSync),
                    ) => Some((k, n.span)),
                    _ => {
                        self.error(
                            n.span,
                            format!("via must be notify, multiClientSync or unreadSync, got '{v}'"),
                        );
                        return None;
                    }
                }
            }
            None => None,
        };
        if let Ok(event) = EventType::from_str(&text) {
            return Some(Awaited::Event {
                event,
                via: via.map_or(PushKind::Notify, |(k, _)| k),
            });
        }
        match PushKind::from_str(&text) {
            Ok(PushKind::Notify) => {
                self.error(
                    value.span,
                    "await the event type instead of 'notify' (INVITE, ACCEPT, ...)",
                );
                None
            }
            Ok(kind) => {
                if let Some((_, span)) = via {
                    self.error(
                        span,
                        "via only applies to event types (INVITE, ...), not push kinds",
                    );
                    return None;
                }
                Some(Awaited::Push(kind))
            }
            Err(()) => {
                let candidates = EventType::ALL.iter().map(|e| e.as_str()).chain(
                    PushKind::ALL
                        .iter()
                        .map(|k| k.as_str())
                        .filter(|k| *k != "notify"),
                );
                let all: Vec<&str> = candidates.clone().collect();
                let hint = did_you_mean(&text, candidates);
                self.error(
                    value.span,
                    format!(
                        "unknown event '{text}'{hint} (expected one of {})",
                        all.join(", ")
                    ),
                );
                None
            }
        }
    }

    fn matcher(&mut self, fields: &Fields<'_>, value: &Node, scope: &Scope) -> Option<PushMatcher> {
        let awaited = self.awaited(fields, value);
        let matched = match fields.get("match") {
            Some(n) => self.fields_match(n, scope, "match"),
            None => Some(Vec::new()),
        };
        Some(PushMatcher {
            awaited: awaited?,
            fields: matched?,
        })
    }

    fn await_step(
        &mut self,
        fields: &Fields<'_>,
        action: &Key,
        value: &Node,
        name: Option<&str>,
        scope: &mut Scope,
    ) -> Option<StepKind> {
        let target = self.target(fields, action);
        let matcher = self.matcher(fields, value, scope);
        let within = self.within(fields);
        let since = match fields.get("since") {
            Some(n) => self.since(n, scope),
            None => Some(scope.last_op.map_or(Since::SessionStart, Since::Step)),
        };
        let save = match fields.get("save") {
            Some(n) => self.saves(n, SaveFrom::Push),
            None => Some(Vec::new()),
        };
        let matcher = matcher?;
        let default = crate::scenario::plan::awaited_name(&matcher);
        let metric = self.step_metric(fields, name, &default, MetricKind::Await, action);
        let save = save?;
        scope.defined.extend(save.iter().map(|s| s.slot));
        Some(StepKind::Await(AwaitStep {
            target: target?,
            matcher,
            within: within?,
            since: since?,
            save,
            metric: metric?,
        }))
    }

    fn since(&mut self, node: &Node, scope: &Scope) -> Option<Since> {
        let name = self.string(node, "since")?;
        if let Some((_, id)) = scope.done.iter().rev().find(|(n, _)| *n == name) {
            return Some(Since::Step(*id));
        }
        let known = self.step_names.iter().any(|(n, _)| *n == name);
        let message = if known {
            format!(
                "since: '{name}' is not a request step (op, login or raw) that runs before this await"
            )
        } else {
            let hint = did_you_mean(&name, scope.done.iter().map(|(n, _)| n.as_str()));
            format!("since: no step named '{name}' runs before this await{hint}")
        };
        self.error(node.span, message);
        None
    }

    fn refute_step(
        &mut self,
        fields: &Fields<'_>,
        action: &Key,
        value: &Node,
        scope: &Scope,
    ) -> Option<StepKind> {
        let target = self.target(fields, action);
        let matcher = self.matcher(fields, value, scope);
        let within = match fields.get("within") {
            Some(n) => self.nonzero_duration(n, "within"),
            None => {
                self.error(
                    action.span,
                    "refute needs 'within': how long the push must stay away",
                );
                None
            }
        };
        Some(StepKind::Refute(RefuteStep {
            target: target?,
            matcher: matcher?,
            within: within?,
        }))
    }

    /// `100ms`, `100ms..500ms` or `{exp: 200ms}`.
    fn pause(&mut self, node: &Node) -> Option<Pause> {
        match &node.value {
            Value::Str(s) => {
                let parsed = match s.split_once("..") {
                    Some((a, b)) => parse_duration(a).and_then(|min| {
                        let max = parse_duration(b)?;
                        if min > max {
                            Err(format!("the range {s} runs backwards"))
                        } else {
                            Ok(Pause::Uniform { min, max })
                        }
                    }),
                    None => parse_duration(s).map(Pause::Fixed),
                };
                parsed
                    .map_err(|e| self.error(node.span, format!("pause: {e}")))
                    .ok()
            }
            Value::Map(_) => {
                let f = self.map(node, "pause")?;
                self.check_keys(&f, &["exp"], "pause");
                let Some(mean) = f.get("exp") else {
                    // Any other key was reported as unknown already.
                    if f.entries.is_empty() {
                        self.error(
                            node.span,
                            "pause: expected {exp: <mean>}, e.g. {exp: 200ms}",
                        );
                    }
                    return None;
                };
                Some(Pause::Exponential {
                    mean: self.nonzero_duration(mean, "pause.exp")?,
                })
            }
            other => {
                self.error(
                    node.span,
                    format!(
                        "pause must be 100ms, 100ms..500ms or {{exp: 200ms}}, found {}",
                        describe(other)
                    ),
                );
                None
            }
        }
    }

    fn no_value(&mut self, value: &Node, action: &str) {
        let empty = match &value.value {
            Value::Null | Value::Bool(true) => true,
            Value::Map(m) => m.is_empty(),
            _ => false,
        };
        if !empty {
            self.error(
                value.span,
                format!("'{action}' takes no value (write `{action}: ~`)"),
            );
        }
    }

    fn raw_step(
        &mut self,
        fields: &Fields<'_>,
        action: &Key,
        value: &Node,
        name: Option<&str>,
        scope: &mut Scope,
    ) -> Option<StepKind> {
        let target = self.target(fields, action);
        let frame = self.raw_frame(value, scope);
        let expect = match fields.get("expect") {
            Some(n) => self.raw_expect(n, scope),
            None => {
                self.error(
                    action.span,
                    "raw steps need 'expect': a code, {code, message} or {close: 1003}",
                );
                None
            }
        };
        let timeout = self.within(fields);
        let metric = self.step_metric(fields, name, "raw", MetricKind::Op, action);
        let (target, frame, expect, timeout, metric) =
            (target?, frame?, expect?, timeout?, metric?);
        let id = self.next_step_id();
        scope.last_op = Some(id);
        if let Some(n) = name {
            scope.done.push((n.to_string(), id));
        }
        Some(StepKind::Raw(RawStep {
            target,
            frame,
            expect,
            timeout,
            metric,
            id,
        }))
    }

    fn raw_frame(&mut self, node: &Node, scope: &Scope) -> Option<RawFrame> {
        let f = self.map(node, "raw")?;
        self.check_keys(&f, &["text", "binary", "size"], "raw");
        match (f.get("text"), f.get("binary")) {
            (Some(text), None) => {
                let size = match f.get("size") {
                    Some(n) => {
                        Some(usize::try_from(self.uint(n, "raw.size")?).unwrap_or(usize::MAX))
                    }
                    None => None,
                };
                Some(RawFrame::Text {
                    text: self.raw_text(text, scope, size.is_some())?,
                    size,
                })
            }
            (None, Some(bin)) => {
                if let Some(k) = f.key("size") {
                    self.error(k.span, "size applies to text frames only");
                }
                self.binary(bin).map(RawFrame::Binary)
            }
            _ => {
                self.error(node.span, "raw needs exactly one of 'text' or 'binary'");
                None
            }
        }
    }

    /// `binary: "00 ff"` (hex), `{hex: "00ff"}` or `{base64: "AP8="}`.
    fn binary(&mut self, node: &Node) -> Option<Vec<u8>> {
        let (text, base64) = match &node.value {
            Value::Str(s) => (s.clone(), false),
            Value::Map(_) => {
                let f = self.map(node, "binary")?;
                self.check_keys(&f, &["hex", "base64"], "binary");
                match (f.get("hex"), f.get("base64")) {
                    (Some(h), None) => (self.string(h, "binary.hex")?, false),
                    (None, Some(b)) => (self.string(b, "binary.base64")?, true),
                    _ => {
                        self.error(node.span, "binary needs exactly one of 'hex' or 'base64'");
                        return None;
                    }
                }
            }
            other => {
                self.error(
                    node.span,
                    format!(
                        "binary must be hex text or {{base64: ...}}, found {}",
                        describe(other)
                    ),
                );
                return None;
            }
        };
        let compact: String = text.split_whitespace().collect();
        let decoded = if base64 {
            decode_base64(&compact)
        } else {
            hex::decode(&compact).map_err(|e| format!("bad hex: {e}"))
        };
        decoded.map_err(|e| self.error(node.span, e)).ok()
    }

    fn raw_expect(&mut self, node: &Node, scope: &Scope) -> Option<RawExpect> {
        if let Some(entries) = node.as_map()
            && entries.iter().any(|(k, _)| k.name == "close")
        {
            let f = Fields {
                entries,
                span: node.span,
            };
            for (key, _) in f.entries.iter().filter(|(k, _)| k.name != "close") {
                self.error(
                    key.span,
                    format!(
                        "'{}' cannot go with 'close': a closed connection sends no response to check",
                        key.name
                    ),
                );
            }
            let code = self.uint(f.get("close")?, "expect.close")?;
            return match u16::try_from(code) {
                Ok(c) => Some(RawExpect::Close(c)),
                Err(_) => {
                    self.error(node.span, format!("close code {code} is out of range"));
                    None
                }
            };
        }
        self.expect(node, scope).map(RawExpect::Response)
    }

    fn parallel(
        &mut self,
        fields: &Fields<'_>,
        value: &Node,
        scope: &mut Scope,
    ) -> Option<StepKind> {
        let Value::Seq(items) = &value.value else {
            self.error(
                value.span,
                format!(
                    "parallel must be a list of steps, found {}",
                    value.value.kind()
                ),
            );
            return None;
        };
        if items.is_empty() {
            self.error(value.span, "parallel must not be empty");
            return None;
        }
        let start = scope.clone();
        let mut branches = Vec::new();
        for item in items {
            let mut branch_scope = start.clone();
            if let Some(step) = self.step(item, &mut branch_scope) {
                branches.push(step);
            }
            scope.defined.extend(branch_scope.defined);
            for done in branch_scope.done {
                if !scope.done.contains(&done) {
                    scope.done.push(done);
                }
            }
            if branch_scope.last_op != start.last_op {
                scope.last_op = branch_scope.last_op;
            }
        }
        let exactly_one = match fields.get("exactly_one") {
            Some(n) => {
                let codes = self.codes(n)?;
                let requests = branches
                    .iter()
                    .filter(|s| {
                        matches!(
                            s.kind,
                            StepKind::Op(_) | StepKind::Login(_) | StepKind::Raw(_)
                        )
                    })
                    .count();
                if requests < 2 {
                    self.error(
                        n.span,
                        "exactly_one needs at least two request steps directly in the group",
                    );
                    return None;
                }
                Some(ExactlyOne { codes })
            }
            None => None,
        };
        (branches.len() == items.len()).then_some(StepKind::Parallel(ParallelStep {
            branches,
            exactly_one,
        }))
    }

    fn repeat(&mut self, value: &Node, scope: &mut Scope) -> Option<StepKind> {
        let f = self.map(value, "repeat")?;
        self.check_keys(&f, &["count", "steps"], "repeat");
        let count = match f.get("count") {
            Some(n) => self.positive(n, "repeat.count"),
            None => {
                self.error(value.span, "repeat needs 'count'");
                None
            }
        };
        let Some(steps_node) = f.get("steps") else {
            self.error(value.span, "repeat needs 'steps'");
            return None;
        };
        let steps = self.steps(steps_node, scope, "repeat.steps");
        Some(StepKind::Repeat(RepeatStep {
            count: count?,
            steps,
        }))
    }
}

fn op_names() -> Vec<&'static str> {
    Op::ALL.iter().map(|o| o.as_str()).collect()
}

/// Standard base64 (padding optional).
fn decode_base64(text: &str) -> Result<Vec<u8>, String> {
    let mut out = Vec::with_capacity(text.len() * 3 / 4);
    let (mut acc, mut bits) = (0u32, 0u32);
    for c in text.trim_end_matches('=').chars() {
        let v = match c {
            'A'..='Z' => c as u32 - 'A' as u32,
            'a'..='z' => c as u32 - 'a' as u32 + 26,
            '0'..='9' => c as u32 - '0' as u32 + 52,
            '+' => 62,
            '/' => 63,
            _ => return Err(format!("bad base64: unexpected character '{c}'")),
        };
        acc = (acc << 6) | v;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    #[test]
    fn base64_decodes() {
        assert_eq!(super::decode_base64("AP8=").unwrap(), vec![0, 255]);
        assert_eq!(super::decode_base64("aGVsbG8").unwrap(), b"hello");
        assert!(super::decode_base64("a*").is_err());
    }
}
