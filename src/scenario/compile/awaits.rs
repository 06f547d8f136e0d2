//! `await` and `refute` steps: what is awaited, `via`, `match`, and `since`.

use super::steps::Scope;
use super::values::SaveFrom;
use super::{Cx, Fields};
use crate::scenario::error::did_you_mean;
use crate::scenario::matcher::{Awaited, PushMatcher};
use crate::scenario::node::{Key, Node};
use crate::scenario::plan::{AwaitStep, MetricKind, RefuteStep, Since, StepKind};

impl Cx<'_> {
    /// The awaited thing of an `await`/`refute` plus its `via`: an event type of the
    /// driver's vocabulary (on its default carrier or the `via:` one) or an awaitable
    /// push kind.
    pub(super) fn awaited(&mut self, fields: &Fields<'_>, value: &Node) -> Option<Awaited> {
        let vocabulary = self.vocabulary;
        // SIP events are status numbers: `await: 180` reads as an integer.
        let text = match &value.value {
            crate::scenario::node::Value::UInt(n) => n.to_string(),
            _ => self.string(value, "the awaited event or push")?,
        };
        let carriers: Vec<&str> = vocabulary
            .kinds
            .iter()
            .filter(|k| k.via)
            .map(|k| k.name)
            .collect();
        let via = match fields.get("via") {
            Some(n) => {
                let v = self.string(n, "via")?;
                match vocabulary.kind(&v).filter(|k| k.via) {
                    Some(k) => Some((k, n.span)),
                    None => {
                        let hint = did_you_mean(&v, carriers.iter().copied());
                        self.error(
                            n.span,
                            format!("via must be {}, got '{v}'{hint}", or_list(&carriers)),
                        );
                        return None;
                    }
                }
            }
            None => None,
        };
        if let Some(event) = vocabulary.event(&text) {
            return Some(Awaited::Event {
                event,
                via: via.map_or_else(|| vocabulary.default_carrier(), |(k, _)| k),
            });
        }
        match vocabulary.kind(&text) {
            Some(kind) if !kind.awaitable => {
                self.error(
                    value.span,
                    format!(
                        "await the event type instead of '{}' ({}, ...)",
                        kind.name,
                        vocabulary.example_events.join(", ")
                    ),
                );
                None
            }
            Some(kind) => {
                if let Some((_, span)) = via {
                    let example = vocabulary.example_events.first().copied().unwrap_or("");
                    self.error(
                        span,
                        format!("via only applies to event types ({example}, ...), not push kinds"),
                    );
                    return None;
                }
                Some(Awaited::Push(kind))
            }
            None => {
                let all: Vec<&str> = vocabulary
                    .events
                    .iter()
                    .map(|e| e.name)
                    .chain(
                        vocabulary
                            .kinds
                            .iter()
                            .filter(|k| k.awaitable)
                            .map(|k| k.name),
                    )
                    .collect();
                let hint = did_you_mean(&text, all.iter().copied());
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

    pub(super) fn matcher(
        &mut self,
        fields: &Fields<'_>,
        value: &Node,
        scope: &Scope,
    ) -> Option<PushMatcher> {
        let awaited = self.awaited(fields, value);
        if let (Some(awaited), Some(n)) = (awaited, fields.get("match")) {
            self.match_shape(awaited, n);
        }
        let matched = match fields.get("match") {
            Some(n) => self.fields_match(n, scope, "match"),
            None => Some(Vec::new()),
        };
        let before = match fields.get("before") {
            Some(n) => self.before(n),
            None => Some(Vec::new()),
        };
        Some(PushMatcher {
            awaited: awaited?,
            fields: matched?,
            before: before?,
        })
    }

    /// `before: unreadSync` or `before: [ROOM_JOIN, LEAVE]`: event types (on `notify`)
    /// or push kinds that must not arrive before the awaited push.
    fn before(&mut self, node: &Node) -> Option<Vec<Awaited>> {
        let items: Vec<&Node> = match &node.value {
            crate::scenario::node::Value::Seq(items) if !items.is_empty() => items.iter().collect(),
            crate::scenario::node::Value::Seq(_) => {
                self.error(
                    node.span,
                    "before: list at least one event type or push kind",
                );
                return None;
            }
            _ => vec![node],
        };
        let mut out = Vec::new();
        let no_via = Fields {
            entries: &[],
            span: node.span,
        };
        for item in items {
            out.push(self.awaited(&no_via, item)?);
        }
        Some(out)
    }

    pub(super) fn await_step(
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
            Some(n) => self.saves(n, SaveFrom::Push(matcher.as_ref().map(|m| m.awaited))),
            None => Some(Vec::new()),
        };
        let matcher = matcher?;
        let default = crate::scenario::plan::awaited_name(&matcher);
        let metric = self.step_metric(fields, name, &default, MetricKind::Await, action);
        let mut save = save?;
        if !matcher.before.is_empty() {
            self.order_guards += 1;
            let var = format!("__order{}", self.order_guards);
            let slot = self.layout.saved_slot(&var);
            save.extend(matcher.order_guard(slot, &var));
        }
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

    pub(super) fn since(&mut self, node: &Node, scope: &Scope) -> Option<Since> {
        let name = self.string(node, "since")?;
        let name = self.in_flow(&name);
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

    pub(super) fn refute_step(
        &mut self,
        fields: &Fields<'_>,
        action: &Key,
        value: &Node,
        scope: &Scope,
    ) -> Option<StepKind> {
        let target = self.target(fields, action);
        if let Some(k) = fields.key("before") {
            self.error(
                k.span,
                "'before' is not allowed on a 'refute' step (it orders an await)",
            );
        }
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
}

/// `a, b or c`.
fn or_list(items: &[&str]) -> String {
    match items {
        [] => String::new(),
        [one] => (*one).to_string(),
        [init @ .., last] => format!("{} or {last}", init.join(", ")),
    }
}
