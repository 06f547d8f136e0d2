//! Values inside steps: templates (with variable resolution against the step's scope),
//! codes, `expect`, `save` and `match`.

use super::steps::Scope;
use super::{Cx, describe};
use crate::scenario::error::did_you_mean;
use crate::scenario::expect::{CodeMatch, Expect, RESPONSE_FIELDS, Save};
use crate::scenario::field::{FieldCheck, JsonType, PRED_KEYS, Pred};
use crate::scenario::node::{Key, Node, Span, Value};
use crate::scenario::path::JsonPath;
use crate::scenario::plan::PAD_MARKER;
use crate::scenario::template::{
    Builder, Part, RUN_VAR, RawPart, SESSION_VAR, Slot, StrTemplate, Template, is_var_name, split,
};

/// Where a `save` reads from: its paths are checked differently.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum SaveFrom {
    /// The reply to this op.
    Response(&'static crate::drivers::OpSpec),
    /// The push or event an await matched (`None`: the await did not compile).
    Push(Option<crate::scenario::matcher::Awaited>),
}

impl Cx<'_> {
    /// Compiles a JSON-ish node into a template; strings may hold `${var}`.
    pub(super) fn template(&mut self, node: &Node, scope: &Scope) -> Option<Template> {
        let builder = match &node.value {
            Value::Str(s) => Builder::Str(self.parts(s, node.span, scope, false)?),
            Value::Seq(items) => {
                let built: Vec<Option<Template>> =
                    items.iter().map(|n| self.template(n, scope)).collect();
                Builder::Array(built.into_iter().collect::<Option<_>>()?)
            }
            Value::Map(entries) => {
                let built: Vec<Option<(String, Template)>> = entries
                    .iter()
                    .map(|(k, v)| Some((k.name.clone(), self.template(v, scope)?)))
                    .collect();
                Builder::Object(built.into_iter().collect::<Option<_>>()?)
            }
            _ => Builder::Value(node.to_json()),
        };
        Some(Template::build(builder))
    }

    /// Compiles raw frame text; with `pad`, `${pad}` marks where padding goes.
    pub(super) fn raw_text(
        &mut self,
        node: &Node,
        scope: &Scope,
        pad: bool,
    ) -> Option<StrTemplate> {
        let text = self.string(node, "raw text")?;
        let parts = self.parts(&text, node.span, scope, pad)?;
        if pad {
            let pads = parts
                .iter()
                .filter(|p| matches!(p, Part::Lit(s) if s == PAD_MARKER))
                .count();
            if pads != 1 {
                self.error(
                    node.span,
                    format!(
                        "with `size`, the text must contain `${{pad}}` exactly once (found {pads})"
                    ),
                );
                return None;
            }
        }
        Some(StrTemplate::new(parts))
    }

    fn parts(&mut self, text: &str, span: Span, scope: &Scope, pad: bool) -> Option<Vec<Part>> {
        let raw = match split(text) {
            Ok(raw) => raw,
            Err(e) => {
                self.error(span, e);
                return None;
            }
        };
        let mut ok = true;
        let mut parts = Vec::with_capacity(raw.len());
        for p in raw {
            match p {
                RawPart::Lit(s) => parts.push(Part::Lit(s)),
                RawPart::Var(name) if pad && name == "pad" => {
                    parts.push(Part::Lit(PAD_MARKER.to_string()));
                }
                RawPart::Var(name) => match self.resolve(&name, span, scope) {
                    Some(slot) => parts.push(Part::Var(slot)),
                    None => ok = false,
                },
            }
        }
        ok.then_some(parts)
    }

    /// Resolves a variable name visible at this point of the session.
    fn resolve(&mut self, name: &str, span: Span, scope: &Scope) -> Option<Slot> {
        if let Some(slot) = self.layout.slot(name)
            && (self.layout.is_fixed(slot) || scope.defined.contains(&slot))
        {
            return Some(slot);
        }
        if self.layout.slot(name).is_some() {
            self.error(
                span,
                format!(
                    "variable '{name}' is not saved by an earlier step of the session (saves by later steps or by other branches of the same parallel group do not count)"
                ),
            );
            return None;
        }
        let visible: Vec<&str> = self
            .layout
            .names()
            .iter()
            .enumerate()
            .filter(|(i, _)| {
                let slot = self.layout.slot_at(*i);
                self.layout.is_fixed(slot) || scope.defined.contains(&slot)
            })
            .map(|(_, n)| n.as_str())
            .collect();
        let hint = did_you_mean(name, visible.iter().copied());
        self.error(
            span,
            format!(
                "undefined variable '{name}': not a role, a builtin ({SESSION_VAR}, {RUN_VAR}) or a variable saved by an earlier step{hint}"
            ),
        );
        None
    }

    /// `200`, `ROOM_NOT_EXISTS`, or a list of them.
    pub(super) fn codes(&mut self, node: &Node) -> Option<Vec<CodeMatch>> {
        match &node.value {
            Value::Seq(items) if items.is_empty() => {
                self.error(node.span, "a list of codes must not be empty");
                None
            }
            Value::Seq(items) => {
                let codes: Vec<Option<CodeMatch>> = items.iter().map(|n| self.code(n)).collect();
                codes.into_iter().collect()
            }
            _ => self.code(node).map(|c| vec![c]),
        }
    }

    fn code(&mut self, node: &Node) -> Option<CodeMatch> {
        match &node.value {
            Value::UInt(n) => match u32::try_from(*n) {
                Ok(n) => Some(CodeMatch::Number(n)),
                Err(_) => {
                    self.error(node.span, format!("code {n} is out of range"));
                    None
                }
            },
            Value::Str(s) => {
                if let Ok(n) = s.parse::<u32>() {
                    return Some(CodeMatch::Number(n));
                }
                if let Some(c) = self.vocabulary.code(s) {
                    return Some(CodeMatch::Named(c));
                }
                let hint = did_you_mean(s, self.vocabulary.codes.iter().map(|c| c.name));
                let example = self.vocabulary.example_code;
                self.error(
                    node.span,
                    format!("unknown code '{s}'{hint} (codes are numbers like {} or names like {example})", self.vocabulary.ok_code),
                );
                None
            }
            other => {
                self.error(
                    node.span,
                    format!(
                        "expected a code (200 or ROOM_NOT_EXISTS), found {}",
                        describe(other)
                    ),
                );
                None
            }
        }
    }

    /// `expect:` — `any`, a code, a list of codes, or `{code, message, error, data}`.
    pub(super) fn expect(&mut self, node: &Node, scope: &Scope) -> Option<Expect> {
        if matches!(&node.value, Value::Str(s) if s == "any") {
            return Some(Expect::any());
        }
        let Some(fields) = node.as_map().map(|entries| super::Fields {
            entries,
            span: node.span,
        }) else {
            return self.codes(node).map(Expect::codes);
        };
        self.check_keys(
            &fields,
            &["code", "message", "error", "data", "id"],
            "expect",
        );
        let mut expect = Expect::any();
        let mut ok = true;
        match fields.get("code") {
            Some(n) => match self.codes(n) {
                Some(c) => expect.codes = c,
                None => ok = false,
            },
            None if !fields.has("message") => {
                expect.codes = vec![CodeMatch::Number(self.vocabulary.ok_code)];
            }
            None => {}
        }
        if let Some(n) = fields.get("message") {
            match self.string(n, "expect.message") {
                Some(m) if self.vocabulary.code(&m).is_some() => expect.message = Some(m),
                Some(m) => {
                    let hint = did_you_mean(&m, self.vocabulary.codes.iter().map(|c| c.name));
                    self.error(n.span, format!("unknown message '{m}'{hint}"));
                    ok = false;
                }
                None => ok = false,
            }
        }
        if let Some(n) = fields.get("error") {
            if matches!(n.value, Value::Null) {
                expect.no_error = true;
            } else {
                match self.string(n, "expect.error") {
                    Some(e) => expect.error_contains = Some(e),
                    None => ok = false,
                }
            }
        }
        if let Some(n) = fields.get("id") {
            match &n.value {
                Value::Null => expect.id = Some(None),
                Value::UInt(id) => expect.id = Some(Some(*id)),
                other => {
                    self.error(
                        n.span,
                        format!(
                            "expect.id must be an id (0 to 2^64-1) or null, found {}",
                            describe(other)
                        ),
                    );
                    ok = false;
                }
            }
        }
        if let Some(n) = fields.get("data") {
            if matches!(n.value, Value::Null) {
                expect.no_data = true;
            } else {
                match self.fields_match(n, scope, "expect.data") {
                    Some(d) => expect.data = d,
                    None => ok = false,
                }
            }
        }
        ok.then_some(expect)
    }

    /// `{path: value, ...}` as used by `expect.data` and `match`.
    pub(super) fn fields_match(
        &mut self,
        node: &Node,
        scope: &Scope,
        what: &str,
    ) -> Option<Vec<(JsonPath, FieldCheck)>> {
        let fields = self.map(node, what)?;
        let mut out = Vec::new();
        let mut ok = true;
        for (key, value) in fields.entries {
            let path = JsonPath::parse(&key.name).map_err(|e| self.error(key.span, e));
            let check = self.field_check(value, scope);
            match (path, check) {
                (Ok(p), Some(c)) => out.push((p, c)),
                _ => ok = false,
            }
        }
        ok.then_some(out)
    }

    /// A value to compare with, or a mapping of `$` predicates.
    fn field_check(&mut self, node: &Node, scope: &Scope) -> Option<FieldCheck> {
        let Value::Map(entries) = &node.value else {
            return self.template(node, scope).map(FieldCheck::Equals);
        };
        let dollars = entries
            .iter()
            .filter(|(k, _)| k.name.starts_with('$'))
            .count();
        if dollars == 0 || entries.is_empty() {
            return self.template(node, scope).map(FieldCheck::Equals);
        }
        if dollars != entries.len() {
            self.error(
                node.span,
                format!(
                    "a value mixes predicates ($ keys: {}) with plain keys; write the plain keys as paths instead",
                    PRED_KEYS.join(", ")
                ),
            );
            return None;
        }
        let mut preds = Vec::new();
        let mut ok = true;
        for (key, value) in entries {
            match self.pred(key, value, scope) {
                Some(p) => preds.push(p),
                None => ok = false,
            }
        }
        ok.then_some(FieldCheck::Preds(preds))
    }

    fn pred(&mut self, key: &Key, value: &Node, scope: &Scope) -> Option<Pred> {
        let number = |cx: &mut Self| match &value.value {
            Value::UInt(n) => Some(serde_json::Number::from(*n)),
            Value::Int(n) => Some(serde_json::Number::from(*n)),
            Value::Float(f) => serde_json::Number::from_f64(*f),
            other => {
                cx.error(
                    value.span,
                    format!("{} needs a number, found {}", key.name, describe(other)),
                );
                None
            }
        };
        match key.name.as_str() {
            "$type" => {
                let name = self.string(value, "$type")?;
                match JsonType::from_name(&name) {
                    Some(t) => Some(Pred::Type(t)),
                    None => {
                        let names: Vec<&str> = JsonType::ALL.iter().map(|t| t.as_str()).collect();
                        let hint = did_you_mean(&name, names.iter().copied());
                        self.error(
                            value.span,
                            format!("unknown type '{name}'{hint} (types: {})", names.join(", ")),
                        );
                        None
                    }
                }
            }
            "$exists" => self.bool(value, "$exists").map(Pred::Exists),
            "$ne" => self.template(value, scope).map(Pred::Ne),
            "$min" => number(self).map(Pred::Min),
            "$max" => number(self).map(Pred::Max),
            "$len" => self.uint(value, "$len").map(Pred::Len),
            other => {
                let hint = did_you_mean(other, PRED_KEYS.iter().copied());
                self.error(
                    key.span,
                    format!(
                        "unknown predicate '{other}'{hint} (predicates: {})",
                        PRED_KEYS.join(", ")
                    ),
                );
                None
            }
        }
    }

    /// `save: {var: path}`. The caller makes the variables visible after the step.
    pub(super) fn saves(&mut self, node: &Node, from: SaveFrom) -> Option<Vec<Save>> {
        let fields = self.map(node, "save")?;
        let mut out = Vec::new();
        let mut ok = true;
        for (key, value) in fields.entries {
            let var = key.name.as_str();
            if !is_var_name(var) {
                self.error(
                    key.span,
                    format!("bad variable name '{var}' (letters, digits, '_' or '-', starting with a letter or '_')"),
                );
                ok = false;
                continue;
            }
            if let Some(slot) = self.layout.slot(var)
                && self.layout.is_fixed(slot)
            {
                self.error(
                    key.span,
                    format!("cannot save into '{var}': it is a role, a builtin or a feeder/generated variable"),
                );
                ok = false;
                continue;
            }
            let Some(text) = self.string(value, "a save path") else {
                ok = false;
                continue;
            };
            let path = match JsonPath::parse(&text) {
                Ok(p) => p,
                Err(e) => {
                    self.error(value.span, e);
                    ok = false;
                    continue;
                }
            };
            if matches!(from, SaveFrom::Response(_))
                && !path
                    .first_key()
                    .is_some_and(|k| RESPONSE_FIELDS.contains(&k))
            {
                self.error(
                    value.span,
                    format!(
                        "a response save path starts with one of {} (e.g. data.channel.channelId), got '{text}'",
                        RESPONSE_FIELDS.join(", ")
                    ),
                );
                ok = false;
                continue;
            }
            match from {
                SaveFrom::Response(op) => self.response_save_shape(op, &path, value.span),
                SaveFrom::Push(Some(awaited)) => self.push_save_shape(awaited, &path, value.span),
                SaveFrom::Push(None) => {}
            }
            let slot = self.layout.saved_slot(var);
            out.push(Save {
                var: var.to_string(),
                slot,
                path,
                guard: None,
            });
        }
        ok.then_some(out)
    }
}
