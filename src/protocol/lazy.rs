//! A JSON value that a client keeps as text until something reads it: a reply's `data`
//! or a push's body as the harness receives them. Most of them are never read (a reply
//! whose step saves nothing from it, a push no step awaits, an await without `match`),
//! and building a `serde_json::Value` tree costs an allocation per key and string; the
//! text costs one. Reading it (through `Deref`) parses it once; looking up one field
//! ([`LazyJson::at`]: a `match:` or `save:` path) reads the text without building the
//! rest of the tree.

use std::borrow::Cow;
use std::fmt;
use std::ops::Deref;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU8, Ordering};

use serde::de::{
    self, Deserialize, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor,
};
use serde_json::Value;
use serde_json::value::RawValue;

/// Lookups answered from the text before the value is parsed once and for all (a push
/// that stays buffered is looked at again whenever another arrives).
const TEXT_LOOKUPS: u8 = 2;

/// One step of a path: an object's member, or a list's item (negative: from the end).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PathStep<'a> {
    Key(&'a str),
    Index(i64),
}

/// A JSON value, parsed on first look.
pub struct LazyJson {
    /// The value's text, known to be valid JSON that parses into a `Value` (see
    /// [`LazyJson::from_checked_text`]); `None` when built from a `Value`.
    text: Option<Box<str>>,
    /// The value, once parsed (or as given).
    value: OnceLock<Value>,
    /// Lookups answered from the text so far (see [`TEXT_LOOKUPS`]).
    lookups: AtomicU8,
}

impl LazyJson {
    /// Keeps `text` unparsed. The caller has checked that it is one complete JSON value
    /// that `serde_json` parses into a `Value` (its syntax, and a nesting below
    /// serde_json's limit): reading it cannot fail.
    pub fn from_checked_text(text: &str) -> LazyJson {
        LazyJson {
            text: Some(text.into()),
            value: OnceLock::new(),
            lookups: AtomicU8::new(0),
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

    /// The value at `path`, as walking the parsed value would find it (the last member
    /// of a repeated key; a negative index counts from the end of the list). Before the
    /// value is parsed, read from the text, building only what is found.
    pub fn at(&self, path: &[PathStep<'_>]) -> Option<Cow<'_, Value>> {
        if self.value.get().is_none()
            && let Some(text) = self.text.as_deref()
            && self.lookups.fetch_add(1, Ordering::Relaxed) < TEXT_LOOKUPS
        {
            let mut de = serde_json::Deserializer::from_str(text);
            // Checked text: an error is not expected; parsing the whole value then
            // answers the same question.
            if let Ok(found) = Find(path).deserialize(&mut de) {
                return found.map(Cow::Owned);
            }
        }
        walk(self.value(), path).map(Cow::Borrowed)
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
            lookups: AtomicU8::new(0),
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
                lookups: AtomicU8::new(0),
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

/// The value at `path` below `root`.
pub fn walk<'v>(root: &'v Value, path: &[PathStep<'_>]) -> Option<&'v Value> {
    let mut cur = root;
    for step in path {
        cur = match (step, cur) {
            (PathStep::Key(k), Value::Object(m)) => m.get(*k)?,
            (PathStep::Index(i), Value::Array(a)) => a.get(index(*i, a.len())?)?,
            _ => return None,
        };
    }
    Some(cur)
}

/// Where index `i` (negative: from the end) falls in a list of `len` items.
fn index(i: i64, len: usize) -> Option<usize> {
    if i < 0 {
        len.checked_sub(usize::try_from(i.unsigned_abs()).ok()?)
    } else {
        usize::try_from(i).ok()
    }
}

/// Finds the value at a path in JSON text, skipping everything off the path.
struct Find<'p, 'a>(&'p [PathStep<'a>]);

impl<'de> DeserializeSeed<'de> for Find<'_, '_> {
    type Value = Option<Value>;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Option<Value>, D::Error> {
        match self.0.split_first() {
            None => Value::deserialize(d).map(Some),
            Some((step, rest)) => d.deserialize_any(FindIn { step: *step, rest }),
        }
    }
}

/// One step of [`Find`]: the member or item `step` of the value being read.
struct FindIn<'p, 'a> {
    step: PathStep<'a>,
    rest: &'p [PathStep<'a>],
}

impl<'de> Visitor<'de> for FindIn<'_, '_> {
    type Value = Option<Value>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_bool<E>(self, _: bool) -> Result<Option<Value>, E> {
        Ok(None)
    }
    fn visit_i64<E>(self, _: i64) -> Result<Option<Value>, E> {
        Ok(None)
    }
    fn visit_u64<E>(self, _: u64) -> Result<Option<Value>, E> {
        Ok(None)
    }
    fn visit_f64<E>(self, _: f64) -> Result<Option<Value>, E> {
        Ok(None)
    }
    fn visit_str<E>(self, _: &str) -> Result<Option<Value>, E> {
        Ok(None)
    }
    fn visit_unit<E>(self) -> Result<Option<Value>, E> {
        Ok(None)
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Option<Value>, A::Error> {
        let mut found = None;
        while let Some(key) = map.next_key::<Cow<'de, str>>()? {
            match self.step {
                // The last of a repeated key counts, as in a `Value` map.
                PathStep::Key(k) if *key == *k => found = map.next_value_seed(Find(self.rest))?,
                _ => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(found)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Option<Value>, A::Error> {
        let PathStep::Index(i) = self.step else {
            while seq.next_element::<IgnoredAny>()?.is_some() {}
            return Ok(None);
        };
        if i < 0 {
            // Counted from the end: the length is known at the end of the list.
            let mut items: Vec<&'de RawValue> = Vec::new();
            while let Some(item) = seq.next_element()? {
                items.push(item);
            }
            let Some(item) = index(i, items.len()).and_then(|at| items.get(at)) else {
                return Ok(None);
            };
            let mut de = serde_json::Deserializer::from_str(item.get());
            return Find(self.rest)
                .deserialize(&mut de)
                .map_err(de::Error::custom);
        }
        let mut found = None;
        let mut n = 0;
        loop {
            if n == i {
                match seq.next_element_seed(Find(self.rest))? {
                    Some(value) => found = value,
                    None => break,
                }
            } else if seq.next_element::<IgnoredAny>()?.is_none() {
                break;
            }
            n += 1;
        }
        Ok(found)
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

    #[test]
    fn lookups_in_the_text_find_what_the_parsed_value_has() {
        let text =
            r#"{"a":{"b":[1,{"c":"x"},[true,null]]},"d":{"e":1},"d":{"f":2},"g":"s","n":null}"#;
        let value: Value = serde_json::from_str(text).unwrap();
        use PathStep::{Index, Key};
        let paths: Vec<Vec<PathStep<'_>>> = vec![
            vec![],
            vec![Key("a")],
            vec![Key("a"), Key("b"), Index(0)],
            vec![Key("a"), Key("b"), Index(1), Key("c")],
            vec![Key("a"), Key("b"), Index(-1), Index(0)],
            vec![Key("a"), Key("b"), Index(-1), Index(-2)],
            vec![Key("a"), Key("b"), Index(-3), Key("c")],
            vec![Key("a"), Key("b"), Index(-4)],
            vec![Key("a"), Key("b"), Index(3)],
            vec![Key("a"), Key("b"), Key("c")],
            vec![Key("a"), Index(0)],
            vec![Key("d"), Key("e")],
            vec![Key("d"), Key("f")],
            vec![Key("g"), Key("h")],
            vec![Key("n")],
            vec![Key("nope")],
            vec![Key("a"), Key("b"), Index(i64::MIN)],
        ];
        for path in &paths {
            let lazy = LazyJson::from_checked_text(text);
            let want = walk(&value, path);
            assert_eq!(lazy.at(path).as_deref(), want, "{path:?}");
            assert!(!lazy.is_parsed());
            assert_eq!(LazyJson::from(value.clone()).at(path).as_deref(), want);
        }
        // A value looked up again and again is parsed once and for all.
        let lazy = LazyJson::from_checked_text(text);
        for _ in 0..=TEXT_LOOKUPS {
            assert_eq!(lazy.at(&[Key("g")]).as_deref(), Some(&Value::from("s")));
        }
        assert!(lazy.is_parsed());
    }
}
