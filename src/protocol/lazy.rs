//! A JSON value that a client keeps as text until something reads it: a reply's `data`
//! or a push's body as the harness receives them. Most of them are never read (a reply
//! whose step saves nothing from it, a push no step awaits, an await without `match`),
//! and building a `serde_json::Value` tree costs an allocation per key and string; the
//! text costs one. Reading it (through `Deref`) parses it once.

use std::fmt;
use std::ops::Deref;
use std::sync::OnceLock;

use serde_json::Value;

/// A JSON value, parsed on first look.
pub struct LazyJson {
    /// The value's text, known to be valid JSON that parses into a `Value` (see
    /// [`LazyJson::from_checked_text`]); `None` when built from a `Value`.
    text: Option<Box<str>>,
    /// The value, once parsed (or as given).
    value: OnceLock<Value>,
}

impl LazyJson {
    /// Keeps `text` unparsed. The caller has checked that it is one complete JSON value
    /// that `serde_json` parses into a `Value` (its syntax, and a nesting below
    /// serde_json's limit): reading it cannot fail.
    pub fn from_checked_text(text: &str) -> LazyJson {
        LazyJson {
            text: Some(text.into()),
            value: OnceLock::new(),
        }
    }

    /// The value (parsed now if it was not yet).
    pub fn value(&self) -> &Value {
        self.value.get_or_init(|| {
            let text = self.text.as_deref().unwrap_or("null");
            // Checked by the constructor's caller; `null` would only stand for a value
            // that the checks let through by mistake.
            serde_json::from_str(text).unwrap_or(Value::Null)
        })
    }

    /// Whether the value has been parsed (for tests of what reads it).
    pub fn is_parsed(&self) -> bool {
        self.value.get().is_some()
    }
}

impl From<Value> for LazyJson {
    fn from(value: Value) -> LazyJson {
        LazyJson {
            text: None,
            value: OnceLock::from(value),
        }
    }
}

impl Deref for LazyJson {
    type Target = Value;
    fn deref(&self) -> &Value {
        self.value()
    }
}

impl Clone for LazyJson {
    fn clone(&self) -> LazyJson {
        match self.value.get() {
            Some(value) => LazyJson::from(value.clone()),
            None => LazyJson {
                text: self.text.clone(),
                value: OnceLock::new(),
            },
        }
    }
}

impl PartialEq for LazyJson {
    fn eq(&self, other: &LazyJson) -> bool {
        self.value() == other.value()
    }
}

impl PartialEq<Value> for LazyJson {
    fn eq(&self, other: &Value) -> bool {
        self.value() == other
    }
}

impl fmt::Debug for LazyJson {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.value(), f)
    }
}

impl fmt::Display for LazyJson {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self.value(), f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn parses_once_on_first_look_and_compares_by_value() {
        let lazy = LazyJson::from_checked_text(r#"{"a":[1,"x"]}"#);
        assert!(!lazy.is_parsed());
        let copy = lazy.clone();
        assert_eq!(lazy["a"][1], "x");
        assert!(lazy.is_parsed());
        assert!(!copy.is_parsed());
        assert_eq!(copy, LazyJson::from(json!({"a": [1, "x"]})));
        assert_eq!(lazy.clone(), json!({"a": [1, "x"]}));
        assert_eq!(format!("{lazy}"), r#"{"a":[1,"x"]}"#);
    }
}
