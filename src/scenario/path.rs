//! JSON paths as scenarios write them: `data.channel.channelId`, `data.members[0].uid`,
//! `events[-1].eventType` (negative indexes count from the end).

use serde_json::Value;
use std::borrow::Cow;
use std::fmt;

use crate::protocol::lazy::LazyJson;

/// Steps of a lookup gathered without allocating (see [`JsonPath::lookup`]).
const SHORT_PATH: usize = 8;

/// A parsed path: object keys and array indexes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct JsonPath {
    text: String,
    segments: Box<[Segment]>,
}

pub(crate) use crate::protocol::lazy::PathStep;

#[derive(Clone, Debug, PartialEq, Eq)]
enum Segment {
    Key(String),
    Index(i64),
}

impl Segment {
    fn step(&self) -> PathStep<'_> {
        match self {
            Segment::Key(k) => PathStep::Key(k),
            Segment::Index(i) => PathStep::Index(*i),
        }
    }
}

impl JsonPath {
    /// Parses `a.b[0].c`. Keys are any characters except `.`, `[` and `]`.
    pub fn parse(text: &str) -> Result<JsonPath, String> {
        let bad = |why: &str| Err(format!("bad JSON path '{text}': {why}"));
        let mut segments = Vec::new();
        if text.is_empty() {
            return bad("empty");
        }
        for (n, piece) in text.split('.').enumerate() {
            let (key, mut rest) = match piece.find('[') {
                Some(i) => (&piece[..i], &piece[i..]),
                None => (piece, ""),
            };
            if key.is_empty() && (n > 0 || rest.is_empty()) {
                return bad("empty key (two dots, or a leading or trailing dot?)");
            }
            if key.contains(']') {
                return bad("']' without '['");
            }
            if !key.is_empty() {
                segments.push(Segment::Key(key.to_string()));
            }
            while !rest.is_empty() {
                let Some(close) = rest.find(']') else {
                    return bad("unclosed '['");
                };
                let Ok(index) = rest[1..close].trim().parse::<i64>() else {
                    return bad("an index must be an integer, as in members[0]");
                };
                segments.push(Segment::Index(index));
                rest = &rest[close + 1..];
                if !rest.is_empty() && !rest.starts_with('[') {
                    return bad("expected '.' or '[' after ']'");
                }
            }
        }
        Ok(JsonPath {
            text: text.to_string(),
            segments: segments.into_boxed_slice(),
        })
    }

    /// The value at this path, if every step exists.
    pub fn get<'a>(&self, root: &'a Value) -> Option<&'a Value> {
        self.get_from(root, 0)
    }

    /// Like [`JsonPath::get`], skipping the first `skip` segments (used when the root
    /// object is not materialized, e.g. a response's `data`).
    pub(crate) fn get_from<'a>(&self, root: &'a Value, skip: usize) -> Option<&'a Value> {
        let mut cur = root;
        for seg in self.segments.iter().skip(skip) {
            cur = match (seg, cur) {
                (Segment::Key(k), Value::Object(m)) => m.get(k)?,
                (Segment::Index(i), Value::Array(a)) => {
                    let i = if *i < 0 {
                        a.len().checked_sub(i.unsigned_abs() as usize)?
                    } else {
                        usize::try_from(*i).ok()?
                    };
                    a.get(i)?
                }
                _ => return None,
            };
        }
        Some(cur)
    }

    /// The value at this path, below the place `at` of a value kept as text until read
    /// (see [`LazyJson::at`]), skipping the path's first `skip` segments.
    pub(crate) fn lookup<'v>(
        &self,
        root: &'v LazyJson,
        at: &[PathStep<'_>],
        skip: usize,
    ) -> Option<Cow<'v, Value>> {
        let steps = at
            .iter()
            .copied()
            .chain(self.segments.iter().skip(skip).map(Segment::step));
        let len = at.len() + self.segments.len().saturating_sub(skip);
        // Looked up for every buffered push a `match:` examines: the steps of a usual
        // path are gathered on the stack rather than in a `Vec` per lookup.
        if len <= SHORT_PATH {
            let mut buf = [PathStep::Index(0); SHORT_PATH];
            buf.iter_mut()
                .zip(steps)
                .for_each(|(slot, step)| *slot = step);
            root.at(&buf[..len])
        } else {
            root.at(&steps.collect::<Vec<_>>())
        }
    }

    /// Stores `value` at this path (object keys only), creating objects on the way;
    /// false when the path has an index or crosses a non-object.
    pub(crate) fn set(&self, root: &mut Value, value: Value) -> bool {
        let mut cur = root;
        let last = self.segments.len().saturating_sub(1);
        for (i, seg) in self.segments.iter().enumerate() {
            let Segment::Key(k) = seg else { return false };
            if cur.is_null() {
                *cur = Value::Object(serde_json::Map::new());
            }
            let Value::Object(map) = cur else {
                return false;
            };
            if i == last {
                map.insert(k.clone(), value);
                return true;
            }
            cur = map.entry(k.clone()).or_insert(Value::Null);
        }
        false
    }

    /// Removes and returns the value at this path (object keys only).
    pub(crate) fn take(&self, root: &mut Value) -> Option<Value> {
        let (last, init) = self.segments.split_last()?;
        let mut cur = root;
        for seg in init {
            let Segment::Key(k) = seg else { return None };
            cur = cur.get_mut(k.as_str())?;
        }
        let Segment::Key(k) = last else { return None };
        cur.as_object_mut()?.remove(k.as_str())
    }

    /// Clones the value at this path.
    pub fn extract(&self, root: &Value) -> Option<Value> {
        self.get(root).cloned()
    }

    /// The path's steps, for checking it against a shape.
    pub(crate) fn steps(&self) -> Vec<PathStep<'_>> {
        self.segments.iter().map(Segment::step).collect()
    }

    /// The first key, if the path starts with one.
    pub(crate) fn first_key(&self) -> Option<&str> {
        match self.segments.first() {
            Some(Segment::Key(k)) => Some(k),
            _ => None,
        }
    }

    pub fn as_str(&self) -> &str {
        &self.text
    }
}

impl fmt::Display for JsonPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn paths_walk_objects_and_arrays() {
        let v = json!({"data": {"members": [{"uid": 1}, {"uid": 2}]}, "m": [[5, 6]]});
        let get = |p: &str| JsonPath::parse(p).unwrap().extract(&v);
        assert_eq!(get("data.members[0].uid"), Some(json!(1)));
        assert_eq!(get("data.members[-1].uid"), Some(json!(2)));
        assert_eq!(get("data.members[2].uid"), None);
        assert_eq!(get("data.members[-3]"), None);
        assert_eq!(get("m[0][1]"), Some(json!(6)));
        assert_eq!(get("data.nope"), None);
        assert_eq!(get("data.members.uid"), None);
    }

    /// Short paths (steps gathered on the stack) and long ones (in a `Vec`), with and
    /// without a prefix and skipped segments, find what walking the parsed value finds.
    #[test]
    fn lookups_in_the_text_find_what_walking_the_value_finds() {
        let v = json!({"e": {"a": {"b": [{"c": {"d": {"e": {"f": {"g": [0, {"h": "deep"}]}}}}}]}}});
        let lazy = LazyJson::from_checked_text(&v.to_string());
        let prefix = [PathStep::Key("e")];
        for (text, found) in [
            ("a.b[0].c", true),
            ("x.a.b[0].c.d.e", true),
            ("a.b[0].c.d.e.f.g[1]", true),
            ("a.b[0].c.d.e.f.g[-1].h", true),
            ("x.a.b[0].c.d.e.f.g[1].h", true),
            ("a.b[0].c.d.e.f.g[2].h", false),
            ("a.nope", false),
        ] {
            let path = JsonPath::parse(text).unwrap();
            let skip = usize::from(text.starts_with("x."));
            let walked = path.get_from(&v["e"], skip);
            assert_eq!(walked.is_some(), found, "{text}");
            assert_eq!(
                path.lookup(&lazy, &prefix, skip).as_deref(),
                walked,
                "{text}"
            );
        }
    }

    #[test]
    fn bad_paths_are_rejected() {
        for p in ["", "a..b", ".a", "a.", "a[x]", "a[1", "a]b", "a[0]b"] {
            assert!(JsonPath::parse(p).is_err(), "{p}");
        }
    }
}
