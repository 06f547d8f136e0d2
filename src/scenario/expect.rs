//! What a step expects of a response (`expect`), the `exactly_one` check of a parallel
//! group, and `save`: taking values out of responses and pushes into session variables.

use serde_json::Value;
use std::borrow::Cow;
use std::fmt;

use super::field::FieldCheck;
use super::path::JsonPath;
use super::template::{Slot, Vars};
use crate::drivers::{CodeSpec, Reply as ResponseFrame, Vocabulary};

/// An unmet expectation: Display is `expected X, got Y`.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("expected {expected}, got {got}")]
pub struct Mismatch {
    pub expected: String,
    pub got: String,
}

impl Mismatch {
    pub fn new(expected: impl Into<String>, got: impl Into<String>) -> Mismatch {
        Mismatch {
            expected: expected.into(),
            got: got.into(),
        }
    }
}

/// One acceptable code: a bare number matches the `code` field only; a name
/// (`ROOM_NOT_EXISTS`) matches the number and, when the driver's code table says so, the
/// `message` too (so native `BAD_FRAME` and `UNKNOWN_OP`, both 400, are told apart).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CodeMatch {
    Number(u32),
    Named(&'static CodeSpec),
}

impl CodeMatch {
    pub fn matches(self, code: u32, message: &str) -> bool {
        match self {
            CodeMatch::Number(n) => code == n,
            CodeMatch::Named(c) => code == c.number && (!c.match_name || message == c.name),
        }
    }

    /// `10404 ROOM_NOT_EXISTS`: a number with its name when the vocabulary has exactly
    /// one for it.
    pub fn label(self, vocabulary: &Vocabulary) -> String {
        match self {
            CodeMatch::Number(n) => {
                let mut named = vocabulary.codes.iter().filter(|c| c.number == n);
                match (named.next(), named.next()) {
                    (Some(c), None) => format!("{n} {}", c.name),
                    _ => n.to_string(),
                }
            }
            CodeMatch::Named(c) => format!("{} {}", c.number, c.name),
        }
    }
}

impl fmt::Display for CodeMatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CodeMatch::Number(n) => write!(f, "{n}"),
            CodeMatch::Named(c) => write!(f, "{} {}", c.number, c.name),
        }
    }
}

fn describe_codes(codes: &[CodeMatch], vocabulary: &Vocabulary) -> String {
    match codes {
        [one] => one.label(vocabulary),
        many => {
            let list: Vec<String> = many.iter().map(|c| c.label(vocabulary)).collect();
            format!("one of {}", list.join(", "))
        }
    }
}

fn describe_response(resp: &ResponseFrame) -> String {
    let mut s = format!("{} {}", resp.code, resp.message);
    if let Some(e) = &resp.error {
        s.push_str(&format!(" (error: {e})"));
    }
    s
}

/// The expectation on a response. Without `expect:` a step expects `200`.
#[derive(Clone, Debug, PartialEq)]
pub struct Expect {
    /// Acceptable codes; empty means any code.
    pub codes: Vec<CodeMatch>,
    /// Required `message` field, when given on its own.
    pub message: Option<String>,
    /// Text the `error` field must contain.
    pub error_contains: Option<String>,
    /// `error: null`: the response must have no `error` field.
    pub no_error: bool,
    /// `id: N` or `id: null` (`Some(None)`): the response's `id`.
    pub id: Option<Option<u64>>,
    /// `data: null`: the response must have no `data`.
    pub no_data: bool,
    /// Assertions on `data`: path relative to `data` → expected value. A `null`
    /// expectation also accepts an absent field.
    pub data: Vec<(JsonPath, FieldCheck)>,
}

impl Expect {
    /// Expects `200 OK`, the default.
    pub fn ok() -> Expect {
        Expect::codes(vec![CodeMatch::Number(200)])
    }

    /// Accepts any response.
    pub fn any() -> Expect {
        Expect::codes(Vec::new())
    }

    pub fn codes(codes: Vec<CodeMatch>) -> Expect {
        Expect {
            codes,
            message: None,
            error_contains: None,
            no_error: false,
            id: None,
            no_data: false,
            data: Vec::new(),
        }
    }

    /// Checks a response; the first unmet part is reported (codes named from
    /// `vocabulary`).
    pub fn check(
        &self,
        resp: &ResponseFrame,
        ctx: &Vars,
        vocabulary: &Vocabulary,
    ) -> Result<(), Mismatch> {
        if !self.codes.is_empty()
            && !self
                .codes
                .iter()
                .any(|c| c.matches(resp.code, &resp.message))
        {
            return Err(Mismatch::new(
                describe_codes(&self.codes, vocabulary),
                describe_response(resp),
            ));
        }
        if let Some(m) = &self.message
            && *m != resp.message
        {
            return Err(Mismatch::new(
                format!("message {m}"),
                describe_response(resp),
            ));
        }
        if let Some(needle) = &self.error_contains
            && !resp
                .error
                .as_deref()
                .is_some_and(|e| e.contains(needle.as_str()))
        {
            return Err(Mismatch::new(
                format!("an error mentioning '{needle}'"),
                resp.error
                    .as_deref()
                    .map_or_else(|| "no error field".to_string(), |e| format!("error '{e}'")),
            ));
        }
        if self.no_error
            && let Some(e) = &resp.error
        {
            return Err(Mismatch::new("no error field", format!("error '{e}'")));
        }
        if let Some(want) = self.id
            && want != resp.id
        {
            let show = |id: Option<u64>| id.map_or_else(|| "null".to_string(), |i| i.to_string());
            return Err(Mismatch::new(
                format!("id {}", show(want)),
                format!("id {}", show(resp.id)),
            ));
        }
        if self.no_data
            && let Some(d) = &resp.data
        {
            return Err(Mismatch::new("no data", format!("data {d}")));
        }
        for (path, want) in &self.data {
            let got = resp.data.as_ref().and_then(|d| path.get(d));
            check_field(&format!("data.{path}"), want, got, ctx)?;
        }
        Ok(())
    }
}

/// Checks one field; an expected `null` also accepts an absent field.
pub(crate) fn check_field(
    label: &str,
    want: &FieldCheck,
    got: Option<&Value>,
    ctx: &Vars,
) -> Result<(), Mismatch> {
    if want.holds(got, ctx) {
        Ok(())
    } else {
        Err(Mismatch::new(
            format!("{label} {}", want.describe(ctx)),
            got.map_or_else(|| "nothing (field absent)".to_string(), |v| v.to_string()),
        ))
    }
}

/// The expectation of a `raw` step.
#[derive(Clone, Debug, PartialEq)]
pub enum RawExpect {
    /// The next response on the connection must satisfy this.
    Response(Expect),
    /// The server must close the connection with this close code.
    Close(u16),
}

/// `exactly_one` on a parallel group: of the op steps directly in the group, exactly one
/// must get a code in this set (e.g. an accept racing a cancel: exactly one gets 200).
#[derive(Clone, Debug, PartialEq)]
pub struct ExactlyOne {
    pub codes: Vec<CodeMatch>,
}

impl ExactlyOne {
    /// Checks the responses of the group's op steps.
    pub fn check<'a>(
        &self,
        responses: impl IntoIterator<Item = &'a ResponseFrame>,
        vocabulary: &Vocabulary,
    ) -> Result<(), Mismatch> {
        let mut seen = Vec::new();
        let mut hits = 0;
        for r in responses {
            if self.codes.iter().any(|c| c.matches(r.code, &r.message)) {
                hits += 1;
            }
            seen.push(r.code.to_string());
        }
        if hits == 1 {
            Ok(())
        } else {
            Err(Mismatch::new(
                format!(
                    "exactly one step of the group to get {}",
                    describe_codes(&self.codes, vocabulary)
                ),
                format!("{hits} (codes: {})", seen.join(", ")),
            ))
        }
    }
}

/// `save: {var: path}`: one value taken from a response or push into a variable.
#[derive(Clone, Debug, PartialEq)]
pub struct Save {
    /// The variable's name (for messages).
    pub var: String,
    pub slot: Slot,
    /// On op steps the path starts at the response frame (`data.channel.channelId`,
    /// `code`); on awaits at the matched event (event awaits) or push (push awaits).
    pub path: JsonPath,
    /// An order guard (`before:` on an await) rather than a user's save: it holds when
    /// the await found its own push (the root is not null) and fails with these
    /// (expected, got) texts when a `before` push came first.
    pub guard: Option<(String, String)>,
}

/// The top-level fields of a response that a save path may start with.
pub(crate) const RESPONSE_FIELDS: [&str; 5] = ["data", "code", "message", "error", "id"];

impl Save {
    /// The value at the path, from a JSON value (a push body or an event).
    pub fn extract(&self, root: &Value) -> Option<Value> {
        self.path.extract(root)
    }

    /// The value at the path, from a response (without re-serializing the frame).
    pub fn extract_response(&self, resp: &ResponseFrame) -> Option<Value> {
        response_get(&self.path, resp).map(Cow::into_owned)
    }

    /// Extracts from a push body/event and stores it; a missing value is a failure.
    pub fn apply(&self, root: &Value, vars: &mut Vars) -> Result<(), Mismatch> {
        if self.guard.is_some() {
            if root.is_null() {
                return Err(self.missing());
            }
            vars.set(self.slot, Value::Bool(true));
            return Ok(());
        }
        let v = self.extract(root).ok_or_else(|| self.missing())?;
        vars.set(self.slot, v);
        Ok(())
    }

    /// Extracts from a response and stores it; a missing value is a failure.
    pub fn apply_response(&self, resp: &ResponseFrame, vars: &mut Vars) -> Result<(), Mismatch> {
        let v = self.extract_response(resp).ok_or_else(|| self.missing())?;
        vars.set(self.slot, v);
        Ok(())
    }

    fn missing(&self) -> Mismatch {
        if let Some((expected, got)) = &self.guard {
            return Mismatch::new(expected.clone(), got.clone());
        }
        Mismatch::new(
            format!("a value at '{}' to save as '{}'", self.path, self.var),
            "nothing there",
        )
    }
}

fn response_get<'a>(path: &JsonPath, resp: &'a ResponseFrame) -> Option<Cow<'a, Value>> {
    let top: Cow<'a, Value> = match path.first_key()? {
        // Kept as text until read: only the value at the path is built.
        "data" => return path.lookup(resp.data.as_ref()?, &[], 1),
        "code" => Cow::Owned(Value::from(resp.code)),
        "message" => Cow::Owned(Value::from(resp.message.as_str())),
        "error" => Cow::Owned(Value::from(resp.error.as_deref()?)),
        "id" => Cow::Owned(Value::from(resp.id?)),
        _ => return None,
    };
    match top {
        Cow::Borrowed(v) => path.get_from(v, 1).map(Cow::Borrowed),
        Cow::Owned(v) => path.get_from(&v, 1).cloned().map(Cow::Owned),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::drivers::native::VOCABULARY;
    use serde_json::json;

    fn named(name: &str) -> CodeMatch {
        CodeMatch::Named(VOCABULARY.code(name).unwrap())
    }

    fn resp(code: u32, message: &str, data: Option<Value>) -> ResponseFrame {
        ResponseFrame {
            id: Some(1),
            code,
            message: message.into(),
            data: data.map(Into::into),
            error: None,
        }
    }

    #[test]
    fn codes_by_number_and_by_name() {
        let v = Vars::with_len(0);
        let r = resp(400, "UNKNOWN_OP", None);
        assert!(
            Expect::codes(vec![CodeMatch::Number(400)])
                .check(&r, &v, &VOCABULARY)
                .is_ok()
        );
        let e = Expect::codes(vec![named("BAD_FRAME")])
            .check(&r, &v, &VOCABULARY)
            .unwrap_err();
        assert_eq!(e.to_string(), "expected 400 BAD_FRAME, got 400 UNKNOWN_OP");
        let e = Expect::codes(vec![CodeMatch::Number(200), named("PEER_NIM_OFFLINE")])
            .check(&resp(10404, "ROOM_NOT_EXISTS", None), &v, &VOCABULARY)
            .unwrap_err();
        assert_eq!(
            e.to_string(),
            "expected one of 200 OK, 10201 PEER_NIM_OFFLINE, got 10404 ROOM_NOT_EXISTS"
        );
        assert!(Expect::any().check(&r, &v, &VOCABULARY).is_ok());
    }

    #[test]
    fn data_assertions_and_saves() {
        let v = Vars::with_len(1);
        let r = resp(
            200,
            "OK",
            Some(json!({"channel": {"type": 2}, "members": []})),
        );
        let mut e = Expect::ok();
        e.data.push((
            JsonPath::parse("channel.type").unwrap(),
            FieldCheck::equals(json!(2)),
        ));
        e.data.push((
            JsonPath::parse("channel.gone").unwrap(),
            FieldCheck::equals(Value::Null),
        ));
        assert!(e.check(&r, &v, &VOCABULARY).is_ok());
        e.data.push((
            JsonPath::parse("members[0]").unwrap(),
            FieldCheck::equals(json!(1)),
        ));
        assert_eq!(
            e.check(&r, &v, &VOCABULARY).unwrap_err().to_string(),
            "expected data.members[0] = 1, got nothing (field absent)"
        );

        let mut vars = Vars::with_len(1);
        let s = Save {
            var: "t".into(),
            slot: Slot(0),
            path: JsonPath::parse("data.channel.type").unwrap(),
            guard: None,
        };
        s.apply_response(&r, &mut vars).unwrap();
        assert_eq!(vars.get(Slot(0)), &json!(2));
        let code = Save {
            var: "c".into(),
            slot: Slot(0),
            path: JsonPath::parse("code").unwrap(),
            guard: None,
        };
        assert_eq!(code.extract_response(&r), Some(json!(200)));
        let missing = Save {
            var: "x".into(),
            slot: Slot(0),
            path: JsonPath::parse("data.nope").unwrap(),
            guard: None,
        };
        assert!(missing.apply_response(&r, &mut vars).is_err());
    }

    #[test]
    fn exactly_one_counts_winners() {
        let one = ExactlyOne {
            codes: vec![CodeMatch::Number(200)],
        };
        let a = resp(200, "OK", None);
        let b = resp(10410, "INVITE_HAS_ACCEPT", None);
        assert!(one.check([&a, &b], &VOCABULARY).is_ok());
        assert_eq!(
            one.check([&a, &a], &VOCABULARY).unwrap_err().to_string(),
            "expected exactly one step of the group to get 200 OK, got 2 (codes: 200, 200)"
        );
        assert!(one.check([&b, &b], &VOCABULARY).is_err());
    }
}
