//! YAML tree → [`Plan`](super::Plan): every check the language makes before anything
//! connects. Errors are collected (not just the first) and each carries the location of
//! the node it is about.
//!
//! - [`document`]: top level, roles, thresholds.
//! - [`load`]: the load model (closed, ramping, open) and its limits.
//! - [`data`]: feeders and generated values.
//! - [`flows`]: mixes of flows (`flows:`), their weights and per-flow names.
//! - [`steps`]: steps, their action and target, variable scoping, metrics.
//! - [`awaits`]: `await` and `refute`, `via`, `match`, `since`.
//! - [`control`]: `pause`, `connect`/`disconnect`, `raw`, `parallel`, `repeat`.
//! - [`values`]: templates, codes, expectations, saves, match fields.
//! - [`shapes`]: `save:` and `match:` paths against the driver's reply, event and push
//!   shapes.

mod awaits;
mod control;
mod data;
mod document;
mod flows;
mod load;
mod shapes;
mod steps;
mod values;

use std::time::Duration;

use super::error::{ErrorKind, ScenarioError, did_you_mean};
use super::node::{Key, Node, Span, Value};
use super::plan::{Metric, Plan, Role};
use super::settings::{
    COUNT_PLACEHOLDER, PLACEHOLDER, Setting, SettingValues, eval_count, eval_duration,
};
use super::template::VarLayout;
use super::timing::Rate;
use crate::drivers::Vocabulary;

pub(crate) use document::compile;

impl Cx<'_> {
    /// A context for checking another YAML file in the scenario language's style (wire
    /// profiles): located errors, the same helpers.
    pub(crate) fn for_file(file: &str) -> Cx<'_> {
        Cx::new(file, &[])
    }
}
/// The most concurrent sessions, in-flight sessions or devices per role one generator
/// accepts: each is a task and a connection, and a million is past any process's limits.
pub(crate) const MAX_PARALLEL: u64 = 1_000_000;

/// The setting values a suite case is compiled with, and the settings it requires.
pub(crate) struct CaseSettings<'a> {
    pub values: &'a SettingValues,
    pub required: Vec<Setting>,
}

/// Compilation state shared by all passes.
pub(crate) struct Cx<'a> {
    file: &'a str,
    overrides: &'a [(String, String)],
    errors: Vec<ScenarioError>,
    roles: Vec<Role>,
    layout: VarLayout,
    metrics: Vec<Metric>,
    /// Step names seen so far, for uniqueness and `since` messages.
    step_names: Vec<(String, Span)>,
    timed_steps: usize,
    timeout: Duration,
    /// The flow being compiled (`flows:`): step, metric and threshold names get its
    /// prefix.
    flow: Option<String>,
    /// Order guards made so far (hidden variables `__order1`, …).
    order_guards: usize,
    /// Set when compiling a case of a conformance suite: durations may name settings.
    case: Option<CaseSettings<'a>>,
    /// The driver's names: ops, push kinds, events, codes (`driver:`; native default).
    vocabulary: &'static Vocabulary,
}

impl<'a> Cx<'a> {
    pub(crate) fn new(file: &'a str, overrides: &'a [(String, String)]) -> Cx<'a> {
        Cx {
            file,
            overrides,
            errors: Vec::new(),
            roles: Vec::new(),
            layout: VarLayout::default(),
            metrics: Vec::new(),
            step_names: Vec::new(),
            timed_steps: 0,
            timeout: Duration::from_secs(5),
            order_guards: 0,
            flow: None,
            case: None,
            vocabulary: &crate::drivers::native::VOCABULARY,
        }
    }

    /// A context for one case of a suite.
    pub(crate) fn for_case(file: &'a str, case: CaseSettings<'a>) -> Cx<'a> {
        Cx {
            case: Some(case),
            ..Cx::new(file, &[])
        }
    }

    /// Parses a duration, or in suite cases a duration expression over settings
    /// (`invite_ttl + 300ms`).
    pub(crate) fn duration_text(&self, text: &str) -> Result<Duration, String> {
        let case = &self.case;
        eval_duration(text, &mut |setting| match case {
            None => Err(format!(
                "'{setting}' is a server setting; settings can only be used in the cases of a conformance suite"
            )),
            Some(c) if !c.required.contains(&setting) => Err(format!(
                "'{setting}' is used but not required: add it to the case's requires"
            )),
            Some(c) => Ok(c.values.get(setting).unwrap_or(PLACEHOLDER)),
        })
    }

    /// Records an error found in another file (a profile the scenario names).
    pub(crate) fn push_error(&mut self, error: ScenarioError) {
        self.errors.push(error);
    }

    /// Parses a count: an integer, or in suite cases an expression over the count
    /// settings the case requires (`max_members - 1`).
    pub(crate) fn count_text(&self, text: &str) -> Result<u64, String> {
        let case = &self.case;
        eval_count(text, &mut |setting| match case {
            None => Err(format!(
                "'{setting}' is a server setting; settings can only be used in the cases of a conformance suite"
            )),
            Some(c) if !c.required.contains(&setting) => Err(format!(
                "'{setting}' is used but not required: add it to the case's requires"
            )),
            Some(c) => Ok(c.values.count(setting).unwrap_or(COUNT_PLACEHOLDER)),
        })
    }

    /// Records an error about the node at `span`.
    pub(crate) fn error(&mut self, span: Span, message: impl Into<String>) {
        let message = message.into();
        let (location, message) = match span {
            Span::At { line, col } => (Some((line, col)), message),
            Span::Set(i) => {
                let (k, v) = self
                    .overrides
                    .get(i)
                    .map_or(("?", "?"), |(k, v)| (k.as_str(), v.as_str()));
                (None, format!("--set {k}={v}: {message}"))
            }
            Span::Unknown => (None, message),
        };
        self.errors.push(ScenarioError {
            file: self.file.to_string(),
            location,
            message,
            kind: ErrorKind::Invalid,
        });
    }

    /// The errors found, in document order (override errors last).
    pub(crate) fn into_errors(mut self) -> Vec<ScenarioError> {
        self.errors
            .sort_by_key(|e| e.location.map_or((u32::MAX, u32::MAX), |l| l));
        self.errors
    }

    /// The node as a mapping, or an error saying what `what` should be.
    pub(crate) fn map<'n>(&mut self, node: &'n Node, what: &str) -> Option<Fields<'n>> {
        match &node.value {
            Value::Map(entries) => Some(Fields {
                entries,
                span: node.span,
            }),
            other => {
                self.error(
                    node.span,
                    format!("{what} must be a mapping, found {}", other.kind()),
                );
                None
            }
        }
    }

    /// Reports keys of `fields` not in `allowed`, with a suggestion.
    pub(crate) fn check_keys(&mut self, fields: &Fields<'_>, allowed: &[&str], context: &str) {
        for (key, _) in fields.entries {
            if !allowed.contains(&key.name.as_str()) {
                let hint = did_you_mean(&key.name, allowed.iter().copied());
                let hint = if hint.is_empty() {
                    format!(" (expected one of: {})", allowed.join(", "))
                } else {
                    hint
                };
                self.error(
                    key.span,
                    format!("unknown key '{}' in {context}{hint}", key.name),
                );
            }
        }
    }

    pub(crate) fn string(&mut self, node: &Node, what: &str) -> Option<String> {
        match &node.value {
            Value::Str(s) => Some(s.clone()),
            other => {
                self.error(
                    node.span,
                    format!("{what} must be a string, found {}", other.kind()),
                );
                None
            }
        }
    }

    pub(crate) fn uint(&mut self, node: &Node, what: &str) -> Option<u64> {
        match &node.value {
            Value::UInt(n) => Some(*n),
            other => {
                self.error(
                    node.span,
                    format!(
                        "{what} must be a non-negative integer, found {}",
                        describe(other)
                    ),
                );
                None
            }
        }
    }

    /// A count of connections or tasks (`concurrency`, `max_in_flight`, `devices`): at
    /// least 1 and at most [`MAX_PARALLEL`], which is more than one process can hold.
    pub(crate) fn parallel_count(&mut self, node: &Node, what: &str) -> Option<u64> {
        let n = self.positive(node, what)?;
        if n > MAX_PARALLEL {
            self.error(
                node.span,
                format!("{what} is {n}, more than one generator can run (at most {MAX_PARALLEL}; split the load with --shard)"),
            );
            return None;
        }
        Some(n)
    }

    /// An integer that must be at least 1.
    pub(crate) fn positive(&mut self, node: &Node, what: &str) -> Option<u64> {
        let n = self.uint(node, what)?;
        if n == 0 {
            self.error(node.span, format!("{what} must be at least 1"));
            return None;
        }
        Some(n)
    }

    pub(crate) fn bool(&mut self, node: &Node, what: &str) -> Option<bool> {
        match &node.value {
            Value::Bool(b) => Some(*b),
            other => {
                self.error(
                    node.span,
                    format!("{what} must be true or false, found {}", describe(other)),
                );
                None
            }
        }
    }

    pub(crate) fn duration(&mut self, node: &Node, what: &str) -> Option<Duration> {
        let parsed = match &node.value {
            Value::Str(s) => self.duration_text(s),
            other => Err(format!(
                "expected a duration like 500ms or 2s, found {}",
                describe(other)
            )),
        };
        parsed
            .map_err(|e| self.error(node.span, format!("{what}: {e}")))
            .ok()
    }

    /// A duration that must be above zero.
    pub(crate) fn nonzero_duration(&mut self, node: &Node, what: &str) -> Option<Duration> {
        let d = self.duration(node, what)?;
        if d.is_zero() {
            self.error(node.span, format!("{what} must be longer than 0"));
            return None;
        }
        Some(d)
    }

    pub(crate) fn rate(&mut self, node: &Node, what: &str) -> Option<Rate> {
        let parsed = match &node.value {
            Value::Str(s) => Rate::parse(s),
            other => Err(format!(
                "expected a rate like 100/s, found {}",
                describe(other)
            )),
        };
        parsed
            .map_err(|e| self.error(node.span, format!("{what}: {e}")))
            .ok()
    }

    /// Registers (or reuses) a metric; one name cannot mix kinds.
    pub(crate) fn metric(
        &mut self,
        name: &str,
        kind: super::plan::MetricKind,
        span: Span,
    ) -> Option<usize> {
        if let Some(i) = self.metrics.iter().position(|m| m.name == name) {
            if self.metrics[i].kind != kind {
                self.error(
                    span,
                    format!(
                        "metric '{name}' already measures {}; give this step another name or `metric:`",
                        kind_text(self.metrics[i].kind)
                    ),
                );
                return None;
            }
            return Some(i);
        }
        self.metrics.push(Metric {
            name: name.to_string(),
            kind,
        });
        Some(self.metrics.len() - 1)
    }

    fn finish(self, plan: impl FnOnce(Parts) -> Plan) -> Result<Plan, Vec<ScenarioError>> {
        if !self.errors.is_empty() {
            return Err(self.into_errors());
        }
        Ok(plan(Parts {
            roles: self.roles,
            layout: self.layout,
            metrics: self.metrics,
            timed_steps: self.timed_steps,
            timeout: self.timeout,
            vocabulary: self.vocabulary,
        }))
    }
}

/// What the compiler accumulated, handed to the final `Plan`.
struct Parts {
    roles: Vec<Role>,
    layout: VarLayout,
    metrics: Vec<Metric>,
    timed_steps: usize,
    timeout: Duration,
    vocabulary: &'static Vocabulary,
}

fn kind_text(kind: super::plan::MetricKind) -> &'static str {
    use super::plan::MetricKind as K;
    match kind {
        K::Login => "connect+login time",
        K::Session => "session time",
        K::Op => "request→response time",
        K::Await => "push delivery time",
    }
}

/// "a string ('5')" style descriptions for type errors.
fn describe(v: &Value) -> String {
    match v.scalar_text() {
        Some(t) if !matches!(v, Value::Null) => format!("{} ('{t}')", v.kind()),
        _ => v.kind().to_string(),
    }
}

/// The entries of a mapping node.
#[derive(Clone, Copy)]
pub(crate) struct Fields<'n> {
    pub entries: &'n [(Key, Node)],
    pub span: Span,
}

impl<'n> Fields<'n> {
    pub(crate) fn get(&self, name: &str) -> Option<&'n Node> {
        self.entries
            .iter()
            .find(|(k, _)| k.name == name)
            .map(|(_, v)| v)
    }

    pub(crate) fn key(&self, name: &str) -> Option<&'n Key> {
        self.entries
            .iter()
            .find(|(k, _)| k.name == name)
            .map(|(k, _)| k)
    }

    pub(crate) fn has(&self, name: &str) -> bool {
        self.get(name).is_some()
    }
}
