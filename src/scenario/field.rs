//! What one entry of `match` or `expect.data` demands of a field: equality with a
//! (templated) value, or predicates written as a mapping of `$` keys —
//! `{$type: integer}`, `{$exists: true}`, `{$ne: "${first}"}`, `{$min: 1}`, `{$max: 9}`,
//! `{$len: 2}`. Predicates let a conformance case check a field whose value the server
//! chooses (a msgid, a time, an assigned uid) without knowing that value.

use serde_json::Value;
use std::fmt::Write as _;

use super::template::{Template, Vars};

/// The JSON type named by `$type`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum JsonType {
    Null,
    Boolean,
    /// A number without fraction or exponent that fits in i64 or u64.
    Integer,
    /// Any number (integers included).
    Number,
    String,
    Array,
    Object,
}

impl JsonType {
    pub const ALL: [JsonType; 7] = [
        JsonType::Null,
        JsonType::Boolean,
        JsonType::Integer,
        JsonType::Number,
        JsonType::String,
        JsonType::Array,
        JsonType::Object,
    ];

    pub const fn as_str(self) -> &'static str {
        match self {
            JsonType::Null => "null",
            JsonType::Boolean => "boolean",
            JsonType::Integer => "integer",
            JsonType::Number => "number",
            JsonType::String => "string",
            JsonType::Array => "array",
            JsonType::Object => "object",
        }
    }

    pub fn from_name(name: &str) -> Option<JsonType> {
        JsonType::ALL.into_iter().find(|t| t.as_str() == name)
    }

    fn holds(self, v: &Value) -> bool {
        match self {
            JsonType::Null => v.is_null(),
            JsonType::Boolean => v.is_boolean(),
            JsonType::Integer => v.is_i64() || v.is_u64(),
            JsonType::Number => v.is_number(),
            JsonType::String => v.is_string(),
            JsonType::Array => v.is_array(),
            JsonType::Object => v.is_object(),
        }
    }
}

/// One `$` predicate.
#[derive(Clone, Debug, PartialEq)]
pub enum Pred {
    /// `$type`: the field has this JSON type (`null` also accepts an absent field).
    Type(JsonType),
    /// `$exists: true`: present and not null; `$exists: false`: absent or null.
    Exists(bool),
    /// `$ne`: present and different from the (templated) value.
    Ne(Template),
    /// `$min`: a number at least this (inclusive).
    Min(serde_json::Number),
    /// `$max`: a number at most this (inclusive).
    Max(serde_json::Number),
    /// `$len`: an array with this many items, or a string with this many chars.
    Len(u64),
}

/// The `$` keys, for compile-time messages.
pub(crate) const PRED_KEYS: [&str; 6] = ["$type", "$exists", "$ne", "$min", "$max", "$len"];

impl Pred {
    /// Every predicate except `$exists: false` and `$type: null` needs the field present.
    fn holds(&self, got: Option<&Value>, ctx: &Vars) -> bool {
        let present = got.filter(|v| !v.is_null());
        match self {
            Pred::Exists(want) => present.is_some() == *want,
            Pred::Type(JsonType::Null) => present.is_none(),
            Pred::Type(t) => present.is_some_and(|v| t.holds(v)),
            Pred::Ne(t) => present.is_some_and(|v| !t.matches(v, ctx)),
            Pred::Min(n) => present.is_some_and(|v| compare(v, n).is_some_and(|o| o.is_ge())),
            Pred::Max(n) => present.is_some_and(|v| compare(v, n).is_some_and(|o| o.is_le())),
            Pred::Len(n) => present.is_some_and(|v| match v {
                Value::Array(a) => a.len() as u64 == *n,
                Value::String(s) => s.chars().count() as u64 == *n,
                _ => false,
            }),
        }
    }

    fn describe(&self, ctx: &Vars, out: &mut String) {
        let _ = match self {
            Pred::Type(t) => write!(out, "$type: {}", t.as_str()),
            Pred::Exists(b) => write!(out, "$exists: {b}"),
            Pred::Ne(t) => write!(out, "$ne: {}", t.render(ctx)),
            Pred::Min(n) => write!(out, "$min: {n}"),
            Pred::Max(n) => write!(out, "$max: {n}"),
            Pred::Len(n) => write!(out, "$len: {n}"),
        };
    }
}

/// Orders a JSON number against a bound; exact for integers, by f64 otherwise.
fn compare(v: &Value, bound: &serde_json::Number) -> Option<std::cmp::Ordering> {
    let Value::Number(n) = v else {
        return None;
    };
    let as_int = |n: &serde_json::Number| {
        n.as_i64()
            .map(i128::from)
            .or_else(|| n.as_u64().map(i128::from))
    };
    match (as_int(n), as_int(bound)) {
        (Some(a), Some(b)) => Some(a.cmp(&b)),
        _ => n.as_f64()?.partial_cmp(&bound.as_f64()?),
    }
}

/// The check of one field.
#[derive(Clone, Debug, PartialEq)]
pub enum FieldCheck {
    /// Equal to the rendered template; an expected `null` also accepts an absent field.
    Equals(Template),
    /// Every predicate holds.
    Preds(Vec<Pred>),
}

impl FieldCheck {
    /// True if the field (`None`: absent) satisfies the check.
    pub fn holds(&self, got: Option<&Value>, ctx: &Vars) -> bool {
        match self {
            FieldCheck::Equals(want) => match got {
                Some(v) => want.matches(v, ctx),
                None => want.as_const() == Some(&Value::Null),
            },
            FieldCheck::Preds(preds) => preds.iter().all(|p| p.holds(got, ctx)),
        }
    }

    /// `= "bob"` or `{$type: integer, $min: 1}`, for failure messages.
    pub fn describe(&self, ctx: &Vars) -> String {
        match self {
            FieldCheck::Equals(want) => format!("= {}", want.render(ctx)),
            FieldCheck::Preds(preds) => {
                let mut out = String::from("matching {");
                for (i, p) in preds.iter().enumerate() {
                    if i > 0 {
                        out.push_str(", ");
                    }
                    p.describe(ctx, &mut out);
                }
                out.push('}');
                out
            }
        }
    }

    /// Equality with a constant value (tests and internal uses).
    pub fn equals(value: Value) -> FieldCheck {
        FieldCheck::Equals(Template::constant(value))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn check(preds: Vec<Pred>, got: Option<&Value>) -> bool {
        FieldCheck::Preds(preds).holds(got, &Vars::with_len(0))
    }

    fn num(v: Value) -> serde_json::Number {
        match v {
            Value::Number(n) => n,
            _ => unreachable!("test numbers only"),
        }
    }

    #[test]
    fn types_and_existence() {
        assert!(check(vec![Pred::Type(JsonType::Integer)], Some(&json!(5))));
        assert!(!check(
            vec![Pred::Type(JsonType::Integer)],
            Some(&json!(5.5))
        ));
        assert!(check(vec![Pred::Type(JsonType::Number)], Some(&json!(5.5))));
        assert!(!check(vec![Pred::Type(JsonType::Integer)], None));
        assert!(check(vec![Pred::Type(JsonType::Null)], None));
        assert!(check(vec![Pred::Exists(true)], Some(&json!(""))));
        assert!(!check(vec![Pred::Exists(true)], Some(&Value::Null)));
        assert!(check(vec![Pred::Exists(false)], None));
        assert!(!check(vec![Pred::Exists(false)], Some(&json!(false))));
    }

    #[test]
    fn bounds_lengths_and_ne() {
        let range = vec![
            Pred::Min(num(json!(1))),
            Pred::Max(num(json!(9_007_199_254_740_992_u64))),
        ];
        assert!(check(range.clone(), Some(&json!(1))));
        assert!(check(
            range.clone(),
            Some(&json!(9_007_199_254_740_992_u64))
        ));
        assert!(!check(range.clone(), Some(&json!(0))));
        assert!(!check(
            range.clone(),
            Some(&json!(9_007_199_254_740_993_u64))
        ));
        assert!(!check(range, Some(&json!("1"))));
        assert!(check(vec![Pred::Len(2)], Some(&json!([1, 2]))));
        assert!(check(vec![Pred::Len(2)], Some(&json!("éé"))));
        assert!(!check(vec![Pred::Len(2)], Some(&json!({"a": 1, "b": 2}))));
        let ne = vec![Pred::Ne(Template::constant(json!("m-1")))];
        assert!(check(ne.clone(), Some(&json!("m-2"))));
        assert!(!check(ne.clone(), Some(&json!("m-1"))));
        assert!(!check(ne, None));
    }

    #[test]
    fn descriptions() {
        let v = Vars::with_len(0);
        let c = FieldCheck::Preds(vec![
            Pred::Type(JsonType::Integer),
            Pred::Min(num(json!(1))),
        ]);
        assert_eq!(c.describe(&v), "matching {$type: integer, $min: 1}");
        assert_eq!(FieldCheck::equals(json!("bob")).describe(&v), "= \"bob\"");
        assert!(FieldCheck::equals(Value::Null).holds(None, &v));
    }
}
