//! The YAML document as a tree of located nodes, and `--set` overrides applied to it.
//!
//! serde-saphyr parses the text (syntax errors come back located); every node keeps the
//! line and column it came from, so that the compiler in [`super::compile`] can report
//! *semantic* errors (unknown keys, bad durations, undefined variables) at the right place.
//! We deserialize into this generic tree rather than into typed structs because the
//! language has many "one of several shapes" values (`expect: 200 | NAME | [..] | {..}`)
//! and keys that select the step kind; typed serde derive would lose locations there
//! (`untagged`/`flatten` drop spans) and give poor messages.

use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_saphyr::Spanned;
use std::fmt;

use super::error::{ErrorKind, ScenarioError};

/// Where a node came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) enum Span {
    /// 1-based line and column in the scenario file.
    At { line: u32, col: u32 },
    /// From the n-th `--set` override.
    Set(usize),
    /// No known location (should be rare: the document root of an empty file).
    Unknown,
}

impl Span {
    fn from_location(loc: serde_saphyr::Location) -> Span {
        if loc.line() == 0 {
            Span::Unknown
        } else {
            Span::At {
                line: u32::try_from(loc.line()).unwrap_or(u32::MAX),
                col: u32::try_from(loc.column()).unwrap_or(u32::MAX),
            }
        }
    }
}

/// One YAML node with its location.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Node {
    pub span: Span,
    pub value: Value,
}

/// A mapping key (always a string; scalar keys such as `200` are turned into text).
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Key {
    pub span: Span,
    pub name: String,
}

/// The value of a node.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Value {
    Null,
    Bool(bool),
    Int(i64),
    UInt(u64),
    Float(f64),
    Str(String),
    Seq(Vec<Node>),
    /// Entries in document order; duplicate keys are rejected by the parser.
    Map(Vec<(Key, Node)>),
}

impl Value {
    /// What the value is, for "expected X, found Y" messages.
    pub fn kind(&self) -> &'static str {
        match self {
            Value::Null => "null",
            Value::Bool(_) => "a boolean",
            Value::Int(_) | Value::UInt(_) => "an integer",
            Value::Float(_) => "a number",
            Value::Str(_) => "a string",
            Value::Seq(_) => "a list",
            Value::Map(_) => "a mapping",
        }
    }

    /// Scalars as text (used for mapping keys and for string-or-number values).
    pub fn scalar_text(&self) -> Option<String> {
        match self {
            Value::Null => Some("null".into()),
            Value::Bool(b) => Some(b.to_string()),
            Value::Int(i) => Some(i.to_string()),
            Value::UInt(u) => Some(u.to_string()),
            Value::Float(f) => Some(f.to_string()),
            Value::Str(s) => Some(s.clone()),
            Value::Seq(_) | Value::Map(_) => None,
        }
    }
}

impl Node {
    /// The entries when this node is a mapping.
    pub fn as_map(&self) -> Option<&[(Key, Node)]> {
        match &self.value {
            Value::Map(m) => Some(m),
            _ => None,
        }
    }

    /// Converts to JSON (templates are compiled from this).
    pub fn to_json(&self) -> serde_json::Value {
        use serde_json::Value as J;
        match &self.value {
            Value::Null => J::Null,
            Value::Bool(b) => J::Bool(*b),
            Value::Int(i) => J::from(*i),
            Value::UInt(u) => J::from(*u),
            Value::Float(f) => serde_json::Number::from_f64(*f).map_or(J::Null, J::Number),
            Value::Str(s) => J::String(s.clone()),
            Value::Seq(items) => J::Array(items.iter().map(Node::to_json).collect()),
            Value::Map(entries) => J::Object(
                entries
                    .iter()
                    .map(|(k, v)| (k.name.clone(), v.to_json()))
                    .collect(),
            ),
        }
    }
}

/// A YAML syntax error, located when the parser knows where.
#[derive(Debug)]
pub(crate) struct SyntaxError {
    pub span: Span,
    pub message: String,
}

/// Parses the YAML text of `file` (a scenario, a suite, a profile): a syntax error is
/// the file's one error, located (`file:line:column: invalid YAML: …`).
pub(crate) fn parse_file(file: &str, text: &str) -> Result<Node, Vec<ScenarioError>> {
    parse(text).map_err(|e| {
        vec![ScenarioError {
            file: file.to_string(),
            location: match e.span {
                Span::At { line, col } => Some((line, col)),
                _ => None,
            },
            message: e.message,
            kind: ErrorKind::Syntax,
        }]
    })
}

/// Parses YAML text into a located tree. An empty document is a null node.
pub(crate) fn parse(text: &str) -> Result<Node, SyntaxError> {
    if text.trim().is_empty() {
        return Ok(Node {
            span: Span::Unknown,
            value: Value::Null,
        });
    }
    // YAML 1.2 booleans only: `y`, `no`, `on` stay strings (no "Norway problem").
    let options = serde_saphyr::options! { strict_booleans: true };
    match serde_saphyr::from_str_with_options::<Node>(text, options) {
        Ok(node) => Ok(node),
        Err(e) => {
            use serde_saphyr::MessageFormatter;
            let span = e.location().map_or(Span::Unknown, Span::from_location);
            let message = serde_saphyr::DefaultMessageFormatter
                .format_message(e.without_snippet())
                .into_owned();
            Err(SyntaxError {
                span,
                message: format!("invalid YAML: {message}"),
            })
        }
    }
}

impl<'de> Deserialize<'de> for Node {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Node, D::Error> {
        let spanned = Spanned::<Value>::deserialize(d)?;
        Ok(Node {
            span: Span::from_location(spanned.referenced),
            value: spanned.value,
        })
    }
}

impl<'de> Deserialize<'de> for Value {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Value, D::Error> {
        d.deserialize_any(ValueVisitor)
    }
}

struct ValueVisitor;

impl<'de> Visitor<'de> for ValueVisitor {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any YAML value")
    }
    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::Int(v))
    }
    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(Value::UInt(v))
    }
    fn visit_f64<E>(self, v: f64) -> Result<Value, E> {
        Ok(Value::Float(v))
    }
    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::Str(v.to_string()))
    }
    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::Str(v))
    }
    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_none<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        d.deserialize_any(ValueVisitor)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::new();
        while let Some(node) = seq.next_element::<Node>()? {
            items.push(node);
        }
        Ok(Value::Seq(items))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut entries = Vec::new();
        while let Some(key) = map.next_key::<Node>()? {
            let name = key
                .value
                .scalar_text()
                .ok_or_else(|| de::Error::custom("mapping keys must be scalars"))?;
            let value = map.next_value::<Node>()?;
            entries.push((
                Key {
                    span: key.span,
                    name,
                },
                value,
            ));
        }
        Ok(Value::Map(entries))
    }
}
