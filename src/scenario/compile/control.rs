//! Steps that are not plain requests or awaits: `pause`, `connect`/`disconnect`,
//! `raw` frames, `parallel` groups, `repeat` and `eventually`.

use super::steps::Scope;
use super::{Cx, Fields, describe};
use crate::scenario::expect::{ExactlyOne, RawExpect};
use crate::scenario::node::{Key, Node, Value};
use crate::scenario::plan::{
    EventuallyStep, MetricKind, ParallelStep, RawFrame, RawStep, RepeatStep, StepKind,
};
use crate::scenario::timing::Pause;

/// Upper bound of a padded raw frame: far above any sane server limit, and small enough
/// that building the frame cannot exhaust memory.
const MAX_RAW_SIZE: u64 = 16 * 1024 * 1024;
/// Most WebSocket frames one `raw` text message may be split into.
const MAX_FRAGMENTS: u64 = 64;
/// How often `eventually` tries again unless `every` says otherwise.
const DEFAULT_EVERY: std::time::Duration = std::time::Duration::from_millis(50);

impl Cx<'_> {
    /// `100ms`, `100ms..500ms` or `{exp: 200ms}`.
    pub(super) fn pause(&mut self, node: &Node) -> Option<Pause> {
        match &node.value {
            Value::Str(s) => {
                let parsed = match s.split_once("..") {
                    Some((a, b)) => self.duration_text(a).and_then(|min| {
                        let max = self.duration_text(b)?;
                        if min > max {
                            Err(format!("the range {s} runs backwards"))
                        } else {
                            Ok(Pause::Uniform { min, max })
                        }
                    }),
                    None => self.duration_text(s).map(Pause::Fixed),
                };
                parsed
                    .map_err(|e| self.error(node.span, format!("pause: {e}")))
                    .ok()
            }
            Value::Map(_) => {
                let f = self.map(node, "pause")?;
                self.check_keys(&f, &["exp"], "pause");
                let Some(mean) = f.get("exp") else {
                    // Any other key was reported as unknown already.
                    if f.entries.is_empty() {
                        self.error(
                            node.span,
                            "pause: expected {exp: <mean>}, e.g. {exp: 200ms}",
                        );
                    }
                    return None;
                };
                Some(Pause::Exponential {
                    mean: self.nonzero_duration(mean, "pause.exp")?,
                })
            }
            other => {
                self.error(
                    node.span,
                    format!(
                        "pause must be 100ms, 100ms..500ms or {{exp: 200ms}}, found {}",
                        describe(other)
                    ),
                );
                None
            }
        }
    }

    pub(super) fn no_value(&mut self, value: &Node, action: &str) {
        let empty = match &value.value {
            Value::Null | Value::Bool(true) => true,
            Value::Map(m) => m.is_empty(),
            _ => false,
        };
        if !empty {
            self.error(
                value.span,
                format!("'{action}' takes no value (write `{action}: ~`)"),
            );
        }
    }

    pub(super) fn raw_step(
        &mut self,
        fields: &Fields<'_>,
        action: &Key,
        value: &Node,
        name: Option<&str>,
        scope: &mut Scope,
    ) -> Option<StepKind> {
        let target = self.target(fields, action);
        let frame = self.raw_frame(value, scope);
        let expect = match fields.get("expect") {
            Some(n) => self.raw_expect(n, scope),
            None => {
                self.error(
                    action.span,
                    "raw steps need 'expect': a code, {code, message} or {close: 1003}",
                );
                None
            }
        };
        let timeout = self.within(fields);
        let metric = self.step_metric(fields, name, "raw", MetricKind::Op, action);
        let (target, frame, expect, timeout, metric) =
            (target?, frame?, expect?, timeout?, metric?);
        if matches!(frame, RawFrame::Close(_)) && matches!(expect, RawExpect::Response(_)) {
            self.error(
                fields.get("expect").map_or(action.span, |n| n.span),
                "a Close frame gets no response: expect the server's Close reply, {close: N}",
            );
            return None;
        }
        let id = self.next_step_id();
        scope.last_op = Some(id);
        if let Some(n) = name {
            scope.done.push((n.to_string(), id));
        }
        Some(StepKind::Raw(RawStep {
            target,
            frame,
            expect,
            timeout,
            metric,
            id,
        }))
    }

    pub(super) fn raw_frame(&mut self, node: &Node, scope: &Scope) -> Option<RawFrame> {
        let f = self.map(node, "raw")?;
        self.check_keys(&f, &["text", "binary", "close", "size", "fragments"], "raw");
        if let Some(close) = f.get("close") {
            if f.entries.len() > 1 {
                self.error(
                    node.span,
                    "raw: {close: N} sends a Close frame and takes nothing else",
                );
                return None;
            }
            return self.close_code(close).map(RawFrame::Close);
        }
        match (f.get("text"), f.get("binary")) {
            (Some(text), None) => {
                let size = match f.get("size") {
                    Some(n) => {
                        let size = self.uint(n, "raw.size")?;
                        if size > MAX_RAW_SIZE {
                            self.error(
                                n.span,
                                format!("raw.size is limited to {MAX_RAW_SIZE} bytes (16 MiB)"),
                            );
                            return None;
                        }
                        Some(usize::try_from(size).unwrap_or(usize::MAX))
                    }
                    None => None,
                };
                let fragments = match f.get("fragments") {
                    Some(n) => {
                        let count = self.uint(n, "raw.fragments")?;
                        if !(2..=MAX_FRAGMENTS).contains(&count) {
                            self.error(
                                n.span,
                                format!("raw.fragments must be 2 to {MAX_FRAGMENTS}"),
                            );
                            return None;
                        }
                        usize::try_from(count).unwrap_or(1)
                    }
                    None => 1,
                };
                Some(RawFrame::Text {
                    text: self.raw_text(text, scope, size.is_some())?,
                    size,
                    fragments,
                })
            }
            (None, Some(bin)) => {
                for key in ["size", "fragments"] {
                    if let Some(k) = f.key(key) {
                        self.error(k.span, format!("{key} applies to text frames only"));
                    }
                }
                self.binary(bin).map(RawFrame::Binary)
            }
            _ => {
                self.error(
                    node.span,
                    "raw needs exactly one of 'text', 'binary' or 'close'",
                );
                None
            }
        }
    }

    /// `binary: "00 ff"` (hex), `{hex: "00ff"}` or `{base64: "AP8="}`.
    pub(super) fn binary(&mut self, node: &Node) -> Option<Vec<u8>> {
        let (text, base64) = match &node.value {
            Value::Str(s) => (s.clone(), false),
            Value::Map(_) => {
                let f = self.map(node, "binary")?;
                self.check_keys(&f, &["hex", "base64"], "binary");
                match (f.get("hex"), f.get("base64")) {
                    (Some(h), None) => (self.string(h, "binary.hex")?, false),
                    (None, Some(b)) => (self.string(b, "binary.base64")?, true),
                    _ => {
                        self.error(node.span, "binary needs exactly one of 'hex' or 'base64'");
                        return None;
                    }
                }
            }
            other => {
                self.error(
                    node.span,
                    format!(
                        "binary must be hex text or {{base64: ...}}, found {}",
                        describe(other)
                    ),
                );
                return None;
            }
        };
        let compact: String = text.split_whitespace().collect();
        let decoded = if base64 {
            decode_base64(&compact)
        } else {
            hex::decode(&compact).map_err(|e| format!("bad hex: {e}"))
        };
        decoded.map_err(|e| self.error(node.span, e)).ok()
    }

    /// A close code a client may send: 1000-1003, 1007-1011 or 3000-4999 (RFC 6455 §7.4).
    fn close_code(&mut self, node: &Node) -> Option<u16> {
        let code = self.uint(node, "raw.close")?;
        let sendable = matches!(code, 1000..=1003 | 1007..=1011 | 3000..=4999);
        if !sendable {
            self.error(
                node.span,
                format!("raw.close: {code} is not a close code a client may send (1000-1003, 1007-1011, 3000-4999)"),
            );
            return None;
        }
        u16::try_from(code).ok()
    }

    pub(super) fn raw_expect(&mut self, node: &Node, scope: &Scope) -> Option<RawExpect> {
        if let Some(entries) = node.as_map()
            && entries.iter().any(|(k, _)| k.name == "close")
        {
            let f = Fields {
                entries,
                span: node.span,
            };
            for (key, _) in f.entries.iter().filter(|(k, _)| k.name != "close") {
                self.error(
                    key.span,
                    format!(
                        "'{}' cannot go with 'close': a closed connection sends no response to check",
                        key.name
                    ),
                );
            }
            let code = self.uint(f.get("close")?, "expect.close")?;
            return match u16::try_from(code) {
                Ok(c) => Some(RawExpect::Close(c)),
                Err(_) => {
                    self.error(node.span, format!("close code {code} is out of range"));
                    None
                }
            };
        }
        self.expect(node, scope).map(RawExpect::Response)
    }

    pub(super) fn parallel(
        &mut self,
        fields: &Fields<'_>,
        value: &Node,
        scope: &mut Scope,
    ) -> Option<StepKind> {
        let Value::Seq(items) = &value.value else {
            self.error(
                value.span,
                format!(
                    "parallel must be a list of steps, found {}",
                    value.value.kind()
                ),
            );
            return None;
        };
        if items.is_empty() {
            self.error(value.span, "parallel must not be empty");
            return None;
        }
        let start = scope.clone();
        let mut branches = Vec::new();
        for item in items {
            let mut branch_scope = start.clone();
            if let Some(step) = self.step(item, &mut branch_scope) {
                branches.push(step);
            }
            scope.defined.extend(branch_scope.defined);
            for done in branch_scope.done {
                if !scope.done.contains(&done) {
                    scope.done.push(done);
                }
            }
            if branch_scope.last_op != start.last_op {
                scope.last_op = branch_scope.last_op;
            }
        }
        let exactly_one = match fields.get("exactly_one") {
            Some(n) => {
                let codes = self.codes(n)?;
                let requests = branches
                    .iter()
                    .filter(|s| {
                        matches!(
                            s.kind,
                            StepKind::Op(_) | StepKind::Login(_) | StepKind::Raw(_)
                        )
                    })
                    .count();
                if requests < 2 {
                    self.error(
                        n.span,
                        "exactly_one needs at least two request steps directly in the group",
                    );
                    return None;
                }
                Some(ExactlyOne { codes })
            }
            None => None,
        };
        (branches.len() == items.len()).then_some(StepKind::Parallel(ParallelStep {
            branches,
            exactly_one,
        }))
    }

    /// `index: n`: the variable that holds the iteration number (1, 2, …).
    fn index_var(&mut self, node: &Node) -> Option<crate::scenario::template::Slot> {
        let name = self.string(node, "repeat.index")?;
        if !crate::scenario::template::is_var_name(&name) {
            self.error(
                node.span,
                format!("bad variable name '{name}' (letters, digits, '_' or '-', starting with a letter or '_')"),
            );
            return None;
        }
        if let Some(slot) = self.layout.slot(&name)
            && self.layout.is_fixed(slot)
        {
            self.error(
                node.span,
                format!("repeat.index cannot be '{name}': it is a role or a builtin variable"),
            );
            return None;
        }
        Some(self.layout.saved_slot(&name))
    }

    /// `eventually: [steps]` with `within` (default: the timeout) and `every` (50 ms).
    pub(super) fn eventually(
        &mut self,
        fields: &Fields<'_>,
        value: &Node,
        scope: &mut Scope,
    ) -> Option<StepKind> {
        // The round number is visible inside (a fresh requestId per round).
        let round = match fields.get("index") {
            Some(n) => Some(self.index_var(n)?),
            None => None,
        };
        if let Some(slot) = round {
            scope.defined.insert(slot);
        }
        let Value::Seq(items) = &value.value else {
            self.error(
                value.span,
                format!(
                    "eventually must be a list of requests to repeat until they hold, found {}",
                    value.value.kind()
                ),
            );
            return None;
        };
        if items.is_empty() {
            self.error(value.span, "eventually must not be empty");
            return None;
        }
        let mut steps = Vec::new();
        for item in items {
            let Some(step) = self.step(item, scope) else {
                continue;
            };
            if matches!(step.kind, StepKind::Op(_)) {
                steps.push(step);
            } else {
                self.error(
                    item.span,
                    format!(
                        "eventually repeats requests (probes such as query, control or a repeated invite), not '{}' steps",
                        step.kind.what()
                    ),
                );
            }
        }
        let within = self.within(fields);
        let every = match fields.get("every") {
            Some(n) => self.nonzero_duration(n, "every"),
            None => Some(DEFAULT_EVERY),
        };
        let (within, every) = (within?, every?);
        (steps.len() == items.len()).then_some(StepKind::Eventually(EventuallyStep {
            steps,
            within,
            every,
            index: round,
        }))
    }

    pub(super) fn repeat(&mut self, value: &Node, scope: &mut Scope) -> Option<StepKind> {
        let f = self.map(value, "repeat")?;
        self.check_keys(&f, &["count", "steps", "index"], "repeat");
        let count = match f.get("count") {
            Some(n) => match &n.value {
                // An expression may come out 0 (`max_members - 1` at a limit of 1):
                // the body then does not run.
                Value::Str(text) => match self.count_text(text) {
                    Ok(c) => Some(c),
                    Err(e) => {
                        self.error(n.span, format!("repeat.count: {e}"));
                        None
                    }
                },
                _ => self.positive(n, "repeat.count"),
            },
            None => {
                self.error(value.span, "repeat needs 'count'");
                None
            }
        };
        let index = match f.get("index") {
            Some(n) => Some(self.index_var(n)?),
            None => None,
        };
        if let Some(slot) = index {
            scope.defined.insert(slot);
        }
        let Some(steps_node) = f.get("steps") else {
            self.error(value.span, "repeat needs 'steps'");
            return None;
        };
        let steps = self.steps(steps_node, scope, "repeat.steps");
        Some(StepKind::Repeat(RepeatStep {
            count: count?,
            steps,
            index,
        }))
    }
}

/// Standard base64 (padding optional).
fn decode_base64(text: &str) -> Result<Vec<u8>, String> {
    let mut out = Vec::with_capacity(text.len() * 3 / 4);
    let (mut acc, mut bits) = (0u32, 0u32);
    for c in text.trim_end_matches('=').chars() {
        let v = match c {
            'A'..='Z' => c as u32 - 'A' as u32,
            'a'..='z' => c as u32 - 'a' as u32 + 26,
            '0'..='9' => c as u32 - '0' as u32 + 52,
            '+' => 62,
            '/' => 63,
            _ => return Err(format!("bad base64: unexpected character '{c}'")),
        };
        acc = (acc << 6) | v;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    #[test]
    fn base64_decodes() {
        assert_eq!(super::decode_base64("AP8=").unwrap(), vec![0, 255]);
        assert_eq!(super::decode_base64("aGVsbG8").unwrap(), b"hello");
        assert!(super::decode_base64("a*").is_err());
    }
}
