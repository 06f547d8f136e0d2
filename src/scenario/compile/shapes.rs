//! `save:` and `match:` paths checked against what the driver says a response's `data`,
//! an event or a push carries (the vocabulary's shapes): a path that leaves the shape
//! would fail (save) or never match (await) in every session, so `check` says so before
//! anything connects, with the fields there are and the closest one.

use super::Cx;
use crate::drivers::{EventSpec, KindSpec, OpSpec, Shape};
use crate::scenario::error::did_you_mean;
use crate::scenario::matcher::Awaited;
use crate::scenario::node::{Node, Span, Value};
use crate::scenario::path::{JsonPath, PathStep};

/// One step of a shape path: `channel`, `[]` (any item) or `*` (anything below).
#[derive(Clone, Copy, PartialEq, Eq)]
enum Tok {
    Key(&'static str),
    Item,
    Any,
}

fn tokens(path: &'static str) -> Vec<Tok> {
    let mut out = Vec::new();
    for piece in path.split('.') {
        if piece == "*" {
            out.push(Tok::Any);
            continue;
        }
        let name = piece.trim_end_matches("[]");
        out.push(Tok::Key(name));
        let items = (piece.len() - name.len()) / 2;
        out.extend(std::iter::repeat_n(Tok::Item, items));
    }
    out
}

/// Where a path leaves a shape.
struct OffShape {
    /// The part of the path still in the shape (`data.channel`; empty: the root).
    within: String,
    /// What came next: a field name, or an index written `[n]`.
    found: String,
    /// The fields the shape has there.
    known: Vec<&'static str>,
    /// The shape has a list there.
    list: bool,
}

/// Follows `steps` (after the already-followed `within` prefix) through `shape`.
fn leaves(shape: Shape, steps: &[PathStep<'_>], mut within: String) -> Option<OffShape> {
    let all: Vec<Vec<Tok>> = shape.iter().map(|p| tokens(p)).collect();
    let mut alive: Vec<&Vec<Tok>> = all.iter().collect();
    for (i, step) in steps.iter().enumerate() {
        if alive.iter().any(|s| s.get(i) == Some(&Tok::Any)) {
            return None;
        }
        let next: Vec<&Vec<Tok>> = alive
            .iter()
            .copied()
            .filter(|s| match (s.get(i), step) {
                (Some(Tok::Key(k)), PathStep::Key(u)) => k == u,
                (Some(Tok::Item), PathStep::Index(_)) => true,
                _ => false,
            })
            .collect();
        let text = match step {
            PathStep::Key(k) => (*k).to_string(),
            PathStep::Index(n) => format!("[{n}]"),
        };
        if next.is_empty() {
            let mut known: Vec<&'static str> = Vec::new();
            for s in &alive {
                if let Some(Tok::Key(k)) = s.get(i)
                    && !known.contains(k)
                {
                    known.push(k);
                }
            }
            let list = alive.iter().any(|s| s.get(i) == Some(&Tok::Item));
            return Some(OffShape {
                within,
                found: text,
                known,
                list,
            });
        }
        match step {
            PathStep::Key(_) if !within.is_empty() => within.push('.'),
            _ => {}
        }
        within.push_str(&text);
        alive = next;
    }
    None
}

/// `'call' responses have no field 'chanel' in 'data' — did you mean 'channel'? (fields:
/// channel, members)`.
fn message(whose: &str, off: &OffShape) -> String {
    let place = if off.within.is_empty() {
        String::new()
    } else {
        format!(" in '{}'", off.within)
    };
    if off.list && off.known.is_empty() {
        return format!(
            "{whose} have a list at '{}', not a field '{}': index it, as in {}[0]",
            off.within, off.found, off.within
        );
    }
    if off.known.is_empty() {
        return format!(
            "{whose} have nothing below '{}' (found '{}')",
            off.within, off.found
        );
    }
    let hint = did_you_mean(&off.found, off.known.iter().copied());
    format!(
        "{whose} have no field '{}'{place}{hint} (fields: {})",
        off.found,
        off.known.join(", ")
    )
}

/// A `match:` entry whose value says the field must be absent (`null`, `$exists:
/// false`) may name a field the shape lacks.
pub(super) fn expects_absent(value: &Node) -> bool {
    match &value.value {
        Value::Null => true,
        Value::Map(preds) => preds
            .iter()
            .any(|(k, v)| k.name == "$exists" && matches!(v.value, Value::Bool(false))),
        _ => false,
    }
}

impl Cx<'_> {
    /// A response save path (`data.channel.channelId`) against the op's `data`.
    pub(super) fn response_save_shape(&mut self, op: &OpSpec, path: &JsonPath, span: Span) {
        let Some(data) = op.data else {
            return;
        };
        let steps = path.steps();
        if !matches!(steps.first(), Some(PathStep::Key("data"))) {
            return;
        }
        if data.is_empty() {
            self.error(
                span,
                format!(
                    "'{}' responses have no data; saving '{path}' would fail in every session",
                    op.name
                ),
            );
            return;
        }
        if let Some(off) = leaves(data, &steps[1..], "data".into()) {
            let whose = format!("'{}' responses", op.name);
            self.error(
                span,
                format!(
                    "{}; saving '{path}' would fail in every session",
                    message(&whose, &off)
                ),
            );
        }
    }

    /// A save path of an await, from the matched event or push.
    pub(super) fn push_save_shape(&mut self, awaited: Awaited, path: &JsonPath, span: Span) {
        if let Some(why) = self.off_push_shape(awaited, path) {
            self.error(
                span,
                format!("{why}; saving '{path}' would fail in every session"),
            );
        }
    }

    /// The `match:` keys of an await or refute against the awaited event or push.
    pub(super) fn match_shape(&mut self, awaited: Awaited, node: &Node) {
        let Value::Map(entries) = &node.value else {
            return;
        };
        for (key, value) in entries {
            if expects_absent(value) {
                continue;
            }
            // Bad paths are reported where the match compiles.
            let Ok(path) = JsonPath::parse(&key.name) else {
                continue;
            };
            if let Some(why) = self.off_push_shape(awaited, &path) {
                self.error(key.span, format!("{why}; this await could never match"));
            }
        }
    }

    /// Why `path` leads nowhere in what `awaited` matches; `None` when it may lead
    /// somewhere (or the driver does not say).
    fn off_push_shape(&self, awaited: Awaited, path: &JsonPath) -> Option<String> {
        match awaited {
            Awaited::Event { event, .. } => off_event(event, path),
            Awaited::Push(kind) => off_kind(kind, path),
        }
    }
}

/// An event's top-level fields (deeper levels are not checked).
fn off_event(event: &EventSpec, path: &JsonPath) -> Option<String> {
    let Some(PathStep::Key(first)) = path.steps().first().copied() else {
        return None;
    };
    if event.fields.is_empty() || event.fields.contains(&first) {
        return None;
    }
    let hint = did_you_mean(first, event.fields.iter().copied());
    Some(format!(
        "{} events have no field '{first}'{hint} (fields: {})",
        event.name,
        event.fields.join(", ")
    ))
}

fn off_kind(kind: &KindSpec, path: &JsonPath) -> Option<String> {
    let shape = kind.fields?;
    let off = leaves(shape, &path.steps(), String::new())?;
    Some(message(&format!("{} pushes", kind.name), &off))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn off(shape: Shape, path: &str) -> Option<String> {
        let path = JsonPath::parse(path).unwrap();
        leaves(shape, &path.steps(), String::new()).map(|o| message("x", &o))
    }

    #[test]
    fn paths_follow_keys_lists_and_wildcards() {
        let shape: Shape = &[
            "push",
            "channels[].channel.channelId",
            "channels[].members[].uid",
            "event.*",
        ];
        for good in [
            "push",
            "channels",
            "channels[0]",
            "channels[-1].channel.channelId",
            "channels[0].members[2].uid",
            "event.anything.below",
            "event",
        ] {
            assert_eq!(off(shape, good), None, "{good}");
        }
        assert_eq!(
            off(shape, "chanels[0]").unwrap(),
            "x have no field 'chanels' — did you mean 'channels'? (fields: push, channels, event)"
        );
        assert_eq!(
            off(shape, "channels[0].channel.channelID").unwrap(),
            "x have no field 'channelID' in 'channels[0].channel' — did you mean 'channelId'? (fields: channelId)"
        );
        assert_eq!(
            off(shape, "channels.channel").unwrap(),
            "x have a list at 'channels', not a field 'channel': index it, as in channels[0]"
        );
        assert_eq!(
            off(shape, "push.kind").unwrap(),
            "x have nothing below 'push' (found 'kind')"
        );
    }
}
