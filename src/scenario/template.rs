//! Templates (`"${callee}"`, `"room-${session}"`) compiled at load time, and the
//! per-session variable store they read.
//!
//! Variable names are resolved to slot indexes when the scenario is loaded, so rendering
//! at run time is a walk over pre-split segments with no name lookups and no parsing.
//! A string that is exactly one `${var}` renders to the variable's JSON value with its
//! type intact (a saved `uid` stays a number); anything else renders to a string.
//!
//! A template renders either to a `serde_json::Value` ([`Template::render`]) or, for a
//! request's params that only go out as text, straight into the serializer
//! ([`Template::with`]): the same JSON text, without building the value first.

use serde::ser::{Serialize, Serializer};
use serde_json::Value;
use std::fmt;
use std::sync::Arc;

/// Index of a variable in [`Vars`]; resolved at load time.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Slot(pub(crate) u32);

impl Slot {
    fn index(self) -> usize {
        self.0 as usize
    }
}

/// The variables of one session: each role's account name, the builtins `session` and
/// `run`, and values saved by earlier steps. Created by [`super::Plan::new_vars`] once per
/// session; cheap to create (one `Vec` of the plan's variable count).
#[derive(Clone, Debug, PartialEq)]
pub struct Vars {
    /// Shared until written: a step's await holds a copy of the session's values while
    /// it waits, and most never change them.
    values: Arc<Vec<Value>>,
}

impl Vars {
    pub(crate) fn with_len(len: usize) -> Vars {
        Vars {
            values: Arc::new(vec![Value::Null; len]),
        }
    }

    /// The value in a slot (`null` until set).
    pub fn get(&self, slot: Slot) -> &Value {
        self.values.get(slot.index()).unwrap_or(&Value::Null)
    }

    /// Sets a slot; used by [`super::Save`] and when a session starts.
    pub fn set(&mut self, slot: Slot, value: Value) {
        if let Some(v) = Arc::make_mut(&mut self.values).get_mut(slot.index()) {
            *v = value;
        }
    }
}

/// The names of the plan's variables, in slot order: roles first, then `session`, `run`,
/// then saved variables in order of first `save`.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct VarLayout {
    names: Vec<String>,
    roles: usize,
    /// Slots below this are set when a session starts (roles, builtins, feeder columns,
    /// generated values): readable everywhere, never saved into.
    fixed: usize,
}

/// Name of the builtin holding the session's unique id.
pub const SESSION_VAR: &str = "session";
/// Name of the builtin holding the run's id.
pub const RUN_VAR: &str = "run";

impl VarLayout {
    /// A layout with one slot per role followed by the builtins.
    pub(crate) fn new(roles: &[String]) -> VarLayout {
        let mut names: Vec<String> = roles.to_vec();
        names.push(SESSION_VAR.into());
        names.push(RUN_VAR.into());
        VarLayout {
            fixed: names.len(),
            names,
            roles: roles.len(),
        }
    }

    /// A slot for a value set when the session starts (a feeder column or a generated
    /// value). Must come before any saved variable; `None` if the name is taken.
    pub(crate) fn data_slot(&mut self, name: &str) -> Option<Slot> {
        if self.slot(name).is_some() || self.fixed != self.names.len() {
            return None;
        }
        self.names.push(name.to_string());
        self.fixed += 1;
        Some(Slot((self.names.len() - 1) as u32))
    }

    /// The slot of a name, if it exists.
    pub fn slot(&self, name: &str) -> Option<Slot> {
        self.names
            .iter()
            .position(|n| n == name)
            .map(|i| Slot(i as u32))
    }

    pub(crate) fn slot_at(&self, index: usize) -> Slot {
        Slot(index as u32)
    }

    /// The slot for a saved variable, added on first use.
    pub(crate) fn saved_slot(&mut self, name: &str) -> Slot {
        self.slot(name).unwrap_or_else(|| {
            self.names.push(name.to_string());
            Slot((self.names.len() - 1) as u32)
        })
    }

    /// True for role and builtin names, which a `save` may not overwrite.
    pub(crate) fn is_fixed(&self, slot: Slot) -> bool {
        slot.index() < self.fixed
    }

    /// The slot of a role's account name.
    pub fn role_slot(&self, role: usize) -> Slot {
        Slot(role as u32)
    }

    pub fn session_slot(&self) -> Slot {
        Slot(self.roles as u32)
    }

    pub fn run_slot(&self) -> Slot {
        Slot(self.roles as u32 + 1)
    }

    /// Every variable name, in slot order.
    pub fn names(&self) -> &[String] {
        &self.names
    }

    pub fn name(&self, slot: Slot) -> &str {
        self.names.get(slot.index()).map_or("?", String::as_str)
    }

    pub(crate) fn len(&self) -> usize {
        self.names.len()
    }
}

/// A piece of a string template.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Part {
    Lit(String),
    Var(Slot),
}

/// A piece of template text before names are resolved.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum RawPart {
    Lit(String),
    Var(String),
}

/// Splits `"a-${x}-b"` into literal and variable parts. `$${` is a literal `${`.
pub(crate) fn split(text: &str) -> Result<Vec<RawPart>, String> {
    let mut parts = Vec::new();
    let mut lit = String::new();
    let mut rest = text;
    while let Some(pos) = rest.find('$') {
        lit.push_str(&rest[..pos]);
        let after = &rest[pos..];
        if let Some(tail) = after.strip_prefix("$${") {
            lit.push_str("${");
            rest = tail;
        } else if let Some(tail) = after.strip_prefix("${") {
            let end = tail
                .find('}')
                .ok_or_else(|| format!("unclosed '${{' in \"{text}\""))?;
            let name = tail[..end].trim();
            if !is_var_name(name) {
                return Err(format!(
                    "bad variable name '{name}' in \"{text}\" (expected letters, digits, '_' or '-', starting with a letter or '_')"
                ));
            }
            if !lit.is_empty() {
                parts.push(RawPart::Lit(std::mem::take(&mut lit)));
            }
            parts.push(RawPart::Var(name.to_string()));
            rest = &tail[end + 1..];
        } else {
            lit.push('$');
            rest = &after[1..];
        }
    }
    lit.push_str(rest);
    if !lit.is_empty() || parts.is_empty() {
        parts.push(RawPart::Lit(lit));
    }
    Ok(parts)
}

/// Role and variable names: `[A-Za-z_][A-Za-z0-9_-]*`.
pub(crate) fn is_var_name(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}

/// A string template: literal text with `${var}` holes.
#[derive(Clone, Debug, PartialEq)]
pub struct StrTemplate {
    parts: Box<[Part]>,
}

impl StrTemplate {
    pub(crate) fn new(parts: Vec<Part>) -> StrTemplate {
        StrTemplate {
            parts: parts.into_boxed_slice(),
        }
    }

    /// The text with variables substituted (non-string values as JSON text).
    pub fn render(&self, ctx: &Vars) -> String {
        let mut out = String::new();
        for part in self.parts.iter() {
            match part {
                Part::Lit(s) => out.push_str(s),
                Part::Var(slot) => push_value(&mut out, ctx.get(*slot)),
            }
        }
        out
    }

    /// Compares the rendered text with `actual` without building it when possible.
    fn eq_str(&self, actual: &str, ctx: &Vars) -> bool {
        let mut rest = actual;
        for part in self.parts.iter() {
            let owned;
            let piece = match part {
                Part::Lit(s) => s.as_str(),
                Part::Var(slot) => match ctx.get(*slot) {
                    Value::String(s) => s.as_str(),
                    other => {
                        let mut s = String::new();
                        push_value(&mut s, other);
                        owned = s;
                        owned.as_str()
                    }
                },
            };
            match rest.strip_prefix(piece) {
                Some(r) => rest = r,
                None => return false,
            }
        }
        rest.is_empty()
    }

    fn is_const(&self) -> bool {
        self.parts.iter().all(|p| matches!(p, Part::Lit(_)))
    }
}

fn push_value(out: &mut String, value: &Value) {
    let _ = write_value(out, value);
}

/// A variable's value inside a string template: a string as its text, anything else
/// as its JSON text.
fn write_value(out: &mut impl fmt::Write, value: &Value) -> fmt::Result {
    match value {
        Value::String(s) => out.write_str(s),
        other => write!(out, "{other}"),
    }
}

/// A string template's text with a session's variables, written piece by piece (what
/// [`StrTemplate::render`] returns, without the `String`).
struct StrText<'a>(&'a StrTemplate, &'a Vars);

impl fmt::Display for StrText<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.parts.iter().try_for_each(|part| match part {
            Part::Lit(s) => f.write_str(s),
            Part::Var(slot) => write_value(f, self.1.get(*slot)),
        })
    }
}

/// A JSON value with templated strings: op params, match values, expected data.
#[derive(Clone, Debug, PartialEq)]
pub struct Template {
    node: TNode,
}

#[derive(Clone, Debug, PartialEq)]
enum TNode {
    Const(Value),
    Var(Slot),
    Str(StrTemplate),
    Array(Vec<TNode>),
    /// Entries in the order of the rendered value's map (see [`in_map_order`]), so that
    /// serializing them writes the keys as serializing the rendered value does.
    Object(Vec<(String, TNode)>),
}

impl TNode {
    fn is_const(&self) -> bool {
        matches!(self, TNode::Const(_))
    }
}

/// Builds templates bottom-up; constant subtrees fold into one `Const`.
pub(crate) enum Builder {
    Value(Value),
    Str(Vec<Part>),
    Array(Vec<Template>),
    Object(Vec<(String, Template)>),
}

impl Template {
    pub(crate) fn build(b: Builder) -> Template {
        let node = match b {
            Builder::Value(v) => TNode::Const(v),
            Builder::Str(parts) => match parts.as_slice() {
                [Part::Var(slot)] => TNode::Var(*slot),
                _ => {
                    let t = StrTemplate::new(parts);
                    if t.is_const() {
                        TNode::Const(Value::String(t.render(&Vars::with_len(0))))
                    } else {
                        TNode::Str(t)
                    }
                }
            },
            Builder::Array(items) => {
                let items: Vec<TNode> = items.into_iter().map(|t| t.node).collect();
                if items.iter().all(TNode::is_const) {
                    TNode::Const(Value::Array(items.into_iter().map(const_value).collect()))
                } else {
                    TNode::Array(items)
                }
            }
            Builder::Object(entries) => {
                let entries: Vec<(String, TNode)> =
                    entries.into_iter().map(|(k, t)| (k, t.node)).collect();
                if entries.iter().all(|(_, n)| n.is_const()) {
                    TNode::Const(Value::Object(
                        entries
                            .into_iter()
                            .map(|(k, n)| (k, const_value(n)))
                            .collect(),
                    ))
                } else {
                    TNode::Object(in_map_order(entries))
                }
            }
        };
        Template { node }
    }

    /// A template that always renders `value`.
    pub fn constant(value: Value) -> Template {
        Template {
            node: TNode::Const(value),
        }
    }

    /// The JSON value with variables substituted.
    pub fn render(&self, ctx: &Vars) -> Value {
        render_node(&self.node, ctx)
    }

    /// The template with `ctx`'s variables, to serialize: the JSON text of
    /// [`Template::render`]'s value, written without building the value.
    pub fn with<'a>(&'a self, ctx: &'a Vars) -> Rendered<'a> {
        Rendered {
            node: &self.node,
            ctx,
        }
    }

    /// True when `actual` equals the rendered template (numbers compare by value, so
    /// `2` equals `2.0`; no other coercion: `"2"` does not equal `2`).
    pub fn matches(&self, actual: &Value, ctx: &Vars) -> bool {
        eq_node(&self.node, actual, ctx)
    }

    /// The value when the template has no variables.
    pub fn as_const(&self) -> Option<&Value> {
        match &self.node {
            TNode::Const(v) => Some(v),
            _ => None,
        }
    }
}

/// A template with a session's variables. Serializes to exactly what serializing the
/// rendered value does, but straight from the template (a request's params go into the
/// request text without a `Value` tree built and dropped per request).
#[derive(Clone, Copy, Debug)]
pub struct Rendered<'a> {
    node: &'a TNode,
    ctx: &'a Vars,
}

impl Rendered<'_> {
    /// The rendered value (for a reader of the params rather than a writer).
    pub fn value(&self) -> Value {
        render_node(self.node, self.ctx)
    }

    fn of<'b>(&'b self, node: &'b TNode) -> Rendered<'b> {
        Rendered {
            node,
            ctx: self.ctx,
        }
    }
}

impl Serialize for Rendered<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self.node {
            TNode::Const(v) => v.serialize(serializer),
            TNode::Var(slot) => self.ctx.get(*slot).serialize(serializer),
            TNode::Str(t) => serializer.collect_str(&StrText(t, self.ctx)),
            TNode::Array(items) => serializer.collect_seq(items.iter().map(|n| self.of(n))),
            TNode::Object(entries) => {
                serializer.collect_map(entries.iter().map(|(k, n)| (k, self.of(n))))
            }
        }
    }
}

/// Object entries in the order a `serde_json::Map` holds their keys (sorted by key;
/// insertion order if serde_json keeps it), so that [`Rendered`] writes the keys in the
/// order serializing the rendered value does. A repeated key keeps its last value, as
/// the map does (the scenario parser rejects repeated keys anyway).
fn in_map_order(entries: Vec<(String, TNode)>) -> Vec<(String, TNode)> {
    let order: serde_json::Map<String, Value> = entries
        .iter()
        .enumerate()
        .map(|(i, (k, _))| (k.clone(), Value::from(i)))
        .collect();
    let mut entries: Vec<Option<(String, TNode)>> = entries.into_iter().map(Some).collect();
    order
        .values()
        .filter_map(|i| entries.get_mut(usize::try_from(i.as_u64()?).ok()?)?.take())
        .collect()
}

fn const_value(n: TNode) -> Value {
    match n {
        TNode::Const(v) => v,
        // Only called when every node is constant.
        _ => Value::Null,
    }
}

fn render_node(node: &TNode, ctx: &Vars) -> Value {
    match node {
        TNode::Const(v) => v.clone(),
        TNode::Var(slot) => ctx.get(*slot).clone(),
        TNode::Str(t) => Value::String(t.render(ctx)),
        TNode::Array(items) => Value::Array(items.iter().map(|n| render_node(n, ctx)).collect()),
        TNode::Object(entries) => Value::Object(
            entries
                .iter()
                .map(|(k, n)| (k.clone(), render_node(n, ctx)))
                .collect(),
        ),
    }
}

fn eq_node(node: &TNode, actual: &Value, ctx: &Vars) -> bool {
    match node {
        TNode::Const(v) => json_eq(v, actual),
        TNode::Var(slot) => json_eq(ctx.get(*slot), actual),
        TNode::Str(t) => matches!(actual, Value::String(s) if t.eq_str(s, ctx)),
        TNode::Array(items) => match actual {
            Value::Array(a) => {
                a.len() == items.len() && items.iter().zip(a).all(|(n, v)| eq_node(n, v, ctx))
            }
            _ => false,
        },
        TNode::Object(entries) => match actual {
            Value::Object(m) => {
                m.len() == entries.len()
                    && entries
                        .iter()
                        .all(|(k, n)| m.get(k).is_some_and(|v| eq_node(n, v, ctx)))
            }
            _ => false,
        },
    }
}

/// JSON equality where numbers compare by value (`1 == 1.0`).
pub(crate) fn json_eq(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => {
            if let (Some(x), Some(y)) = (x.as_i64(), y.as_i64()) {
                x == y
            } else if let (Some(x), Some(y)) = (x.as_u64(), y.as_u64()) {
                x == y
            } else {
                x.as_f64() == y.as_f64()
            }
        }
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(a, b)| json_eq(a, b))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len()
                && x.iter()
                    .all(|(k, v)| y.get(k).is_some_and(|w| json_eq(v, w)))
        }
        _ => a == b,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn layout() -> (VarLayout, Slot) {
        let mut l = VarLayout::new(&["caller".into(), "callee".into()]);
        let uid = l.saved_slot("uid");
        (l, uid)
    }

    fn vars(l: &VarLayout, uid: Slot) -> Vars {
        let mut v = Vars::with_len(l.len());
        v.set(l.role_slot(0), json!("alice"));
        v.set(l.role_slot(1), json!("bob"));
        v.set(l.session_slot(), json!("s-7"));
        v.set(uid, json!(4711));
        v
    }

    fn parts(l: &VarLayout, text: &str) -> Vec<Part> {
        split(text)
            .unwrap()
            .into_iter()
            .map(|p| match p {
                RawPart::Lit(s) => Part::Lit(s),
                RawPart::Var(n) => Part::Var(l.slot(&n).unwrap()),
            })
            .collect()
    }

    #[test]
    fn split_handles_escapes_and_errors() {
        assert_eq!(
            split("a-${x}-$${y}-$z").unwrap(),
            vec![
                RawPart::Lit("a-".into()),
                RawPart::Var("x".into()),
                RawPart::Lit("-${y}-$z".into())
            ]
        );
        assert_eq!(split("").unwrap(), vec![RawPart::Lit(String::new())]);
        assert!(split("${x").unwrap_err().contains("unclosed"));
        assert!(split("${1x}").unwrap_err().contains("bad variable name"));
        assert!(split("${}").is_err());
    }

    #[test]
    fn a_lone_variable_keeps_its_type_and_mixed_text_becomes_a_string() {
        let (l, uid) = layout();
        let v = vars(&l, uid);
        let t = Template::build(Builder::Str(parts(&l, "${uid}")));
        assert_eq!(t.render(&v), json!(4711));
        let t = Template::build(Builder::Str(parts(&l, "u-${uid}-${callee}")));
        assert_eq!(t.render(&v), json!("u-4711-bob"));
        assert!(t.matches(&json!("u-4711-bob"), &v));
        assert!(!t.matches(&json!("u-4711-bo"), &v));
        assert!(!t.matches(&json!("u-4711-bobx"), &v));
    }

    #[test]
    fn constant_subtrees_fold() {
        let (l, uid) = layout();
        let v = vars(&l, uid);
        let t = Template::build(Builder::Object(vec![
            ("type".into(), Template::build(Builder::Value(json!(2)))),
            (
                "account".into(),
                Template::build(Builder::Str(parts(&l, "${callee}"))),
            ),
        ]));
        assert_eq!(t.render(&v), json!({"type": 2, "account": "bob"}));
        assert!(t.as_const().is_none());
        let c = Template::build(Builder::Array(vec![Template::build(Builder::Str(parts(
            &l, "plain",
        )))]));
        assert_eq!(c.as_const(), Some(&json!(["plain"])));
    }

    /// Every kind of node and variable value: what [`Template::with`] writes is the
    /// text of the rendered value, byte for byte.
    #[test]
    fn serializing_a_template_writes_the_rendered_values_text() {
        let mut l = VarLayout::new(&["caller".into(), "callee".into()]);
        let names = [
            "text", "quotes", "control", "unicode", "int", "neg", "big", "float", "yes", "nil",
            "list", "obj", "unset",
        ];
        let slots: Vec<Slot> = names.iter().map(|n| l.saved_slot(n)).collect();
        let mut v = vars(&l, l.slot("caller").unwrap());
        let values = [
            json!("plain"),
            json!("say \"hi\" \\ / back"),
            json!("tab\tnl\ncr\r\u{1}\u{1f}\u{7f}\u{8}\u{c}"),
            json!("é ☎ 😀 \u{2028}"),
            json!(4711),
            json!(-17),
            json!(u64::MAX),
            json!(0.1),
            json!(true),
            Value::Null,
            json!([1, "two\"", {"three": [3.5]}]),
            json!({"z": 1, "a": {"y": "\n", "b": null}}),
        ];
        for (slot, value) in slots.iter().zip(values) {
            v.set(*slot, value);
        }
        let text = |s: &str| Template::build(Builder::Str(parts(&l, s)));
        let value = |j: Value| Template::build(Builder::Value(j));
        let object = |entries: Vec<(&str, Template)>| {
            Template::build(Builder::Object(
                entries
                    .into_iter()
                    .map(|(k, t)| (k.to_string(), t))
                    .collect(),
            ))
        };
        let mut templates = Vec::new();
        for name in names {
            // A lone variable keeps its type; inside text it is the value's text.
            templates.push(text(&format!("${{{name}}}")));
            templates.push(text(&format!("<${{{name}}}> \"${{{name}}}\"\n")));
        }
        templates.push(object(vec![
            ("zeta", text("${callee}")),
            ("alpha", value(json!({"k": "v\"", "n": [1, 2.5, -3]}))),
            ("Mid", text("room-${session}-${int}")),
            ("é", text("${obj}")),
            (
                "list",
                Template::build(Builder::Array(vec![
                    text("${list}"),
                    value(json!("const \\ \"")),
                    object(vec![("in", text("${quotes}")), ("at", value(json!(0)))]),
                    Template::build(Builder::Array(vec![text("${unset}")])),
                ])),
            ),
            ("empty", object(vec![])),
            ("key \"quoted\"", text("${control}")),
        ]));
        templates.push(value(json!({"all": ["constant", 1, null]})));
        templates.push(object(vec![]));
        templates.push(Template::build(Builder::Array(vec![])));
        for t in &templates {
            let rendered = t.render(&v);
            let written = serde_json::to_string(&t.with(&v)).unwrap();
            assert_eq!(written, serde_json::to_string(&rendered).unwrap(), "{t:?}");
            assert_eq!(t.with(&v).value(), rendered);
            let back: Value = serde_json::from_str(&written).unwrap();
            assert!(t.matches(&back, &v), "{written}");
        }
        // An unset variable is null alone and `null` inside text, as rendered.
        assert_eq!(
            serde_json::to_string(&text("${unset}").with(&v)).unwrap(),
            "null"
        );
        assert_eq!(
            serde_json::to_string(&text("a${unset}").with(&v)).unwrap(),
            "\"anull\""
        );
    }

    #[test]
    fn object_entries_are_kept_in_the_order_of_the_rendered_map() {
        let (l, uid) = layout();
        let v = vars(&l, uid);
        let t = Template::build(Builder::Object(vec![
            (
                "b".into(),
                Template::build(Builder::Str(parts(&l, "${uid}"))),
            ),
            ("a".into(), Template::build(Builder::Value(json!(1)))),
            ("B".into(), Template::build(Builder::Value(json!(2)))),
        ]));
        let written = serde_json::to_string(&t.with(&v)).unwrap();
        assert_eq!(written, r#"{"B":2,"a":1,"b":4711}"#);
        assert_eq!(written, serde_json::to_string(&t.render(&v)).unwrap());
    }

    #[test]
    fn numbers_compare_by_value() {
        assert!(json_eq(&json!(2), &json!(2.0)));
        assert!(!json_eq(&json!(2), &json!("2")));
        assert!(json_eq(&json!({"a": [1]}), &json!({"a": [1.0]})));
    }
}
