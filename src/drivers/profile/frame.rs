//! The compiled pieces of a profile that touch frames: request templates (a frame shape
//! with holes for the id, the method and the params, serialized straight to text with
//! no intermediate JSON tree), conditions (`when:`), and text patterns with `{name}`
//! placeholders (login params, headers). Each is compiled once when the profile loads.

use std::fmt::Write as _;

use serde_json::Value;

use crate::drivers::OpParams;
use crate::scenario::JsonPath;

/// A hole in a frame template.
#[derive(Clone, Debug, PartialEq)]
pub enum Hole {
    /// `$id`: the request's correlation id.
    Id,
    /// `$method`: the op's method name.
    Method,
    /// `$params`: the request's params object.
    Params,
    /// `$request.<path>`: a value copied from the server frame being answered (auto
    /// replies); absent values become null.
    Copy(JsonPath),
}

/// A frame shape: constants (pre-serialized) and holes.
#[derive(Clone, Debug, PartialEq)]
pub enum Template {
    /// JSON text of a constant.
    Const(String),
    Hole(Hole),
    /// `(key as JSON text, value)` in order.
    Object(Vec<(String, Template)>),
    Array(Vec<Template>),
}

/// What fills the holes.
pub struct Fill<'a> {
    /// JSON text of the id.
    pub id: &'a str,
    /// JSON text of the method name.
    pub method: &'a str,
    pub params: OpParams<'a>,
    /// The frame being answered (auto replies).
    pub request: Option<&'a Value>,
}

impl Template {
    /// Compiles a YAML/JSON shape; strings `$id`, `$method`, `$params`, `$request.PATH`
    /// are holes, `$$…` is a literal `$…`. Errors name the offending string.
    pub fn compile(shape: &Value, allowed: &[&str]) -> Result<Template, String> {
        Ok(match shape {
            Value::String(s) if s.starts_with("$$") => Template::Const(json(&Value::from(&s[1..]))),
            Value::String(s) if s.starts_with('$') => {
                let hole = match s.as_str() {
                    "$id" => Hole::Id,
                    "$method" => Hole::Method,
                    "$params" => Hole::Params,
                    other => match other.strip_prefix("$request.") {
                        Some(path) => Hole::Copy(JsonPath::parse(path)?),
                        None => {
                            let hint = crate::scenario::did_you_mean(s, allowed.iter().copied());
                            return Err(format!(
                                "unknown placeholder '{s}'{hint} (here: {}; write $$ for a literal $)",
                                allowed.join(", ")
                            ));
                        }
                    },
                };
                let name = match &hole {
                    Hole::Copy(_) => "$request.PATH",
                    _ => s.as_str(),
                };
                if !allowed.contains(&name) {
                    return Err(format!(
                        "'{s}' cannot be used here (here: {})",
                        allowed.join(", ")
                    ));
                }
                Template::Hole(hole)
            }
            Value::Object(map) => Template::Object(
                map.iter()
                    .map(|(k, v)| {
                        Ok((
                            json(&Value::from(k.as_str())),
                            Template::compile(v, allowed)?,
                        ))
                    })
                    .collect::<Result<_, String>>()?,
            ),
            Value::Array(items) => Template::Array(
                items
                    .iter()
                    .map(|v| Template::compile(v, allowed))
                    .collect::<Result<_, String>>()?,
            ),
            other => Template::Const(json(other)),
        })
    }

    /// Whether the template uses a hole.
    pub fn has(&self, want: &Hole) -> bool {
        match self {
            Template::Hole(h) => std::mem::discriminant(h) == std::mem::discriminant(want),
            Template::Object(entries) => entries.iter().any(|(_, t)| t.has(want)),
            Template::Array(items) => items.iter().any(|t| t.has(want)),
            Template::Const(_) => false,
        }
    }

    /// The frame as text.
    pub fn render(&self, fill: &Fill<'_>) -> String {
        let mut out = String::with_capacity(128);
        self.write(fill, &mut out);
        out
    }

    fn write(&self, fill: &Fill<'_>, out: &mut String) {
        match self {
            Template::Const(text) => out.push_str(text),
            Template::Hole(Hole::Id) => out.push_str(fill.id),
            Template::Hole(Hole::Method) => out.push_str(fill.method),
            Template::Hole(Hole::Params) => out.push_str(&json(&fill.params)),
            Template::Hole(Hole::Copy(path)) => {
                let v = fill
                    .request
                    .and_then(|r| path.get(r))
                    .unwrap_or(&Value::Null);
                out.push_str(&json(v));
            }
            Template::Object(entries) => {
                out.push('{');
                for (i, (key, value)) in entries.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    out.push_str(key);
                    out.push(':');
                    value.write(fill, out);
                }
                out.push('}');
            }
            Template::Array(items) => {
                out.push('[');
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    item.write(fill, out);
                }
                out.push(']');
            }
        }
    }
}

/// JSON text of a value (serializing a `Value` into a `String` cannot fail).
pub fn json(v: &impl serde::Serialize) -> String {
    serde_json::to_string(v).unwrap_or_else(|_| "null".into())
}

/// One field test of a condition.
#[derive(Clone, Debug, PartialEq)]
pub enum Test {
    /// `$present`: the field exists (even if null).
    Present,
    /// `$absent`: the field does not exist.
    Absent,
    /// Any other value: the field equals it.
    Equals(Value),
}

/// `when:`: a frame matches when every test of one of the alternatives holds.
#[derive(Clone, Debug, PartialEq)]
pub struct Condition {
    pub any: Vec<Vec<(JsonPath, Test)>>,
    /// Where the condition is written (`file:line:column`), for failure messages.
    pub at: String,
}

impl Condition {
    pub fn holds(&self, frame: &Value) -> bool {
        self.any.iter().any(|all| {
            all.iter()
                .all(|(path, test)| match (test, path.get(frame)) {
                    (Test::Present, got) => got.is_some(),
                    (Test::Absent, got) => got.is_none(),
                    (Test::Equals(want), Some(got)) => want == got,
                    (Test::Equals(_), None) => false,
                })
        })
    }
}

/// A piece of a text pattern.
#[derive(Clone, Debug, PartialEq)]
pub enum Piece {
    Text(String),
    /// `{name}`: index into the pattern's variable list.
    Var(usize),
}

/// Text with `{name}` placeholders (`{{` is a literal brace).
#[derive(Clone, Debug, PartialEq)]
pub struct Pattern(pub Vec<Piece>);

impl Pattern {
    /// Compiles `text`; `vars` are the names that may appear.
    pub fn compile(text: &str, vars: &[String]) -> Result<Pattern, String> {
        let mut pieces = Vec::new();
        let mut literal = String::new();
        let mut rest = text;
        while let Some(i) = rest.find(['{', '}']) {
            literal.push_str(&rest[..i]);
            let brace = rest.as_bytes()[i];
            if rest[i + 1..].starts_with(brace as char) {
                literal.push(brace as char);
                rest = &rest[i + 2..];
                continue;
            }
            if brace == b'}' {
                return Err(format!(
                    "unmatched '}}' in '{text}' (write '}}}}' for a brace)"
                ));
            }
            let Some(end) = rest[i + 1..].find('}') else {
                return Err(format!("unclosed '{{' in '{text}'"));
            };
            let name = &rest[i + 1..i + 1 + end];
            let Some(index) = vars.iter().position(|v| v == name) else {
                let hint = crate::scenario::did_you_mean(name, vars.iter().map(String::as_str));
                return Err(format!(
                    "unknown placeholder '{{{name}}}'{hint} (known here: {})",
                    vars.iter()
                        .map(|v| format!("{{{v}}}"))
                        .collect::<Vec<_>>()
                        .join(", ")
                ));
            };
            if !literal.is_empty() {
                pieces.push(Piece::Text(std::mem::take(&mut literal)));
            }
            pieces.push(Piece::Var(index));
            rest = &rest[i + 2 + end..];
        }
        literal.push_str(rest);
        if !literal.is_empty() {
            pieces.push(Piece::Text(literal));
        }
        Ok(Pattern(pieces))
    }

    /// The text with `values[i]` for variable `i`.
    pub fn render(&self, values: &[&str]) -> String {
        let mut out = String::new();
        for piece in &self.0 {
            match piece {
                Piece::Text(t) => out.push_str(t),
                Piece::Var(i) => {
                    let _ = write!(out, "{}", values.get(*i).copied().unwrap_or(""));
                }
            }
        }
        out
    }

    /// A pattern that is exactly one variable (`"{session}"`): the value keeps its JSON
    /// type when used as a param.
    pub fn only_var(&self) -> Option<usize> {
        match self.0.as_slice() {
            [Piece::Var(i)] => Some(*i),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn templates_render_holes_without_a_json_tree() {
        let t = Template::compile(
            &json!({"jsonrpc": "2.0", "id": "$id", "method": "$method", "params": "$params", "x": "$$id"}),
            &["$id", "$method", "$params"],
        )
        .unwrap();
        let text = t.render(&Fill {
            id: "7",
            method: "\"sig.call\"",
            params: (&json!({"a": 1})).into(),
            request: None,
        });
        let v: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(
            v,
            json!({"jsonrpc": "2.0", "id": 7, "method": "sig.call", "params": {"a": 1}, "x": "$id"})
        );
        let e =
            Template::compile(&json!({"id": "$idd"}), &["$id", "$method", "$params"]).unwrap_err();
        assert!(e.contains("did you mean '$id'"), "{e}");
        let reply = Template::compile(
            &json!({"id": "$request.id", "result": {}}),
            &["$request.PATH"],
        )
        .unwrap();
        let text = reply.render(&Fill {
            id: "",
            method: "",
            params: (&Value::Null).into(),
            request: Some(&json!({"id": "s1"})),
        });
        assert_eq!(text, r#"{"id":"s1","result":{}}"#);
    }

    #[test]
    fn patterns_and_conditions() {
        let vars = vec!["account".to_string(), "token".to_string()];
        let p = Pattern::compile("Bearer {token} {{x}}", &vars).unwrap();
        assert_eq!(p.render(&["a", "t"]), "Bearer t {x}");
        assert!(
            Pattern::compile("{tokn}", &vars)
                .unwrap_err()
                .contains("did you mean '{token}'")
                || Pattern::compile("{tokn}", &vars)
                    .unwrap_err()
                    .contains("did you mean 'token'")
        );
        let c = Condition {
            any: vec![
                vec![(JsonPath::parse("result").unwrap(), Test::Present)],
                vec![(JsonPath::parse("error").unwrap(), Test::Present)],
            ],
            at: String::new(),
        };
        assert!(c.holds(&json!({"result": null})));
        assert!(!c.holds(&json!({"method": "x"})));
    }
}
