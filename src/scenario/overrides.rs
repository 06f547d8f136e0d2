//! `--set key=value` overrides, applied to the YAML tree before validation so that an
//! overridden value is checked exactly like a written one.
//!
//! `key` is a dotted path (`load.sessions`, `thresholds.call.p99`, `steps.0.within`;
//! numbers index lists); `value` is read as a YAML scalar or flow value (`10` is a
//! number, `30s` a string, `[200, 10201]` a list). Missing mappings are created.

use super::node::{Key, Node, Span, Value};

/// Splits `key=value`.
pub(crate) fn split(arg: &str) -> Result<(&str, &str), String> {
    match arg.split_once('=') {
        Some((k, v)) if !k.trim().is_empty() => Ok((k.trim(), v)),
        _ => Err(format!(
            "--set '{arg}': expected key=value, e.g. load.sessions=10"
        )),
    }
}

/// Applies override number `index` (`key` = `value`) to the document.
pub(crate) fn apply(root: &mut Node, index: usize, key: &str, value: &str) -> Result<(), String> {
    let span = Span::Set(index);
    let mut new = match super::node::parse(value) {
        Ok(node) if !value.trim().is_empty() => node,
        _ => Node {
            span,
            value: Value::Str(value.to_string()),
        },
    };
    respan(&mut new, span);

    let segments: Vec<&str> = key.split('.').collect();
    if segments.iter().any(|s| s.is_empty()) {
        return Err(format!("--set {key}={value}: empty segment in key '{key}'"));
    }
    if matches!(root.value, Value::Null) {
        root.value = Value::Map(Vec::new());
    }
    let mut cur = root;
    for (n, seg) in segments.iter().enumerate() {
        let last = n + 1 == segments.len();
        let here = segments[..n].join(".");
        let here = if here.is_empty() {
            "the document".to_string()
        } else {
            format!("'{here}'")
        };
        cur = match &mut cur.value {
            Value::Map(entries) => {
                let pos = match entries.iter().position(|(k, _)| k.name == *seg) {
                    Some(pos) => pos,
                    None => {
                        entries.push((
                            Key {
                                span,
                                name: (*seg).to_string(),
                            },
                            Node {
                                span,
                                value: Value::Map(Vec::new()),
                            },
                        ));
                        entries.len() - 1
                    }
                };
                &mut entries[pos].1
            }
            Value::Seq(items) => {
                let len = items.len();
                let i: usize = seg.parse().map_err(|_| {
                    format!("--set {key}={value}: {here} is a list; expected an index, got '{seg}'")
                })?;
                items.get_mut(i).ok_or_else(|| {
                    format!(
                        "--set {key}={value}: index {i} is out of range ({here} has {len} items)"
                    )
                })?
            }
            other => {
                return Err(format!(
                    "--set {key}={value}: {here} is {}, not a mapping or list",
                    other.kind()
                ));
            }
        };
        if last {
            *cur = new;
            return Ok(());
        }
    }
    Ok(())
}

fn respan(node: &mut Node, span: Span) {
    node.span = span;
    match &mut node.value {
        Value::Seq(items) => items.iter_mut().for_each(|n| respan(n, span)),
        Value::Map(entries) => {
            for (k, v) in entries {
                k.span = span;
                respan(v, span);
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scenario::node::parse;

    fn get<'a>(node: &'a Node, key: &str) -> &'a Node {
        node.as_map()
            .and_then(|m| m.iter().find(|(k, _)| k.name == key))
            .map(|(_, v)| v)
            .unwrap()
    }

    #[test]
    fn overrides_replace_and_create() {
        let mut doc = parse("load:\n  sessions: 1000\nsteps:\n  - pause: 1s\n").unwrap();
        apply(&mut doc, 0, "load.sessions", "10").unwrap();
        apply(&mut doc, 1, "load.duration", "30s").unwrap();
        apply(&mut doc, 2, "thresholds.call.p99", "80ms").unwrap();
        apply(&mut doc, 3, "steps.0.pause", "2s").unwrap();
        let load = get(&doc, "load");
        assert_eq!(get(load, "sessions").value, Value::UInt(10));
        assert_eq!(get(load, "sessions").span, Span::Set(0));
        assert_eq!(get(load, "duration").value, Value::Str("30s".into()));
        let p99 = get(get(get(&doc, "thresholds"), "call"), "p99");
        assert_eq!(p99.value, Value::Str("80ms".into()));
        assert!(
            apply(&mut doc, 4, "steps.7.pause", "2s")
                .unwrap_err()
                .contains("out of range")
        );
        assert!(
            apply(&mut doc, 4, "steps.x", "2s")
                .unwrap_err()
                .contains("expected an index")
        );
        assert!(
            apply(&mut doc, 4, "load.sessions.x", "1")
                .unwrap_err()
                .contains("not a mapping")
        );
        assert!(split("nothing").is_err());
        assert_eq!(split("a.b=c=d").unwrap(), ("a.b", "c=d"));
    }
}
