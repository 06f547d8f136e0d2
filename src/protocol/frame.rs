//! Frames on the wire (§P-2): parsing a client's request, writing responses and pushes,
//! and decoding the server's frames on the client side.

use serde::Serialize;
use serde_json::Value;
use serde_json::value::RawValue;
use std::fmt;
use std::str::FromStr;

use super::codes::Code;
use super::json::{Json, Object};
use super::lazy::LazyJson;
use super::model::{ChannelWithMembers, Event};
use super::op::Op;
use super::params::Params;

/// A request whose frame shape is valid (§P-2.1); its params are not validated yet.
/// `'a` is the lifetime of the frame's text, which the params borrow from.
#[derive(Debug)]
pub struct RequestFrame<'a> {
    pub id: u64,
    pub op: Op,
    pub params: Params<'a>,
}

/// Why a text frame was not a valid request (§P-2.4).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FrameError {
    /// 400 `BAD_FRAME`; `id` is null in the reply when missing or invalid.
    #[error("bad frame: {why}")]
    BadFrame { id: Option<u64>, why: String },
    /// 400 `UNKNOWN_OP`.
    #[error("unknown op '{op}'")]
    UnknownOp { id: u64, op: String },
}

impl FrameError {
    /// The response frame for this error.
    pub fn to_response(&self) -> String {
        match self {
            FrameError::BadFrame { id, why } => error_response(*id, Code::BadFrame, why),
            FrameError::UnknownOp { id, op } => {
                error_response(Some(*id), Code::UnknownOp, &format!("unknown op '{op}'"))
            }
        }
    }
}

/// Step one of §P-2.6: the text must be JSON. Anything else is a `BAD_FRAME` with a null id.
pub fn parse_json(text: &str) -> Result<Json<'_>, FrameError> {
    Json::parse(text).map_err(|e| FrameError::BadFrame {
        id: None,
        why: format!("not valid JSON: {e}"),
    })
}

/// Steps three and four of §P-2.6: shape of the frame, then the op name.
pub fn parse_request(value: Json<'_>) -> Result<RequestFrame<'_>, FrameError> {
    let Json::Object(mut map) = value else {
        return Err(FrameError::BadFrame {
            id: None,
            why: "frame is not a JSON object".into(),
        });
    };
    let id = match map.get("id") {
        None | Some(Json::Null) => {
            return Err(FrameError::BadFrame {
                id: None,
                why: "missing id".into(),
            });
        }
        Some(v) => v.as_u64().ok_or_else(|| FrameError::BadFrame {
            id: None,
            why: "id must be an integer in 0..2^64-1".into(),
        })?,
    };
    let Some(op) = map.get("op").and_then(Json::as_str) else {
        return Err(FrameError::BadFrame {
            id: Some(id),
            why: "op must be a string".into(),
        });
    };
    // The frame's shape is checked completely before the op name (§P-2.6).
    if !matches!(map.get("params"), None | Some(Json::Null | Json::Object(_))) {
        return Err(FrameError::BadFrame {
            id: Some(id),
            why: "params must be an object or null".into(),
        });
    }
    let op = Op::from_str(op).map_err(|e| FrameError::UnknownOp { id, op: e.0 })?;
    let params = match map.remove("params") {
        Some(Json::Object(m)) => m,
        _ => Object::default(),
    };
    Ok(RequestFrame {
        id,
        op,
        params: Params::from_object(params),
    })
}

#[derive(Serialize)]
struct ResponseOut<'a, D: Serialize> {
    id: Option<u64>,
    code: u32,
    message: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    data: Option<D>,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<&'a str>,
}

fn to_json<T: Serialize>(value: &T) -> String {
    // Serializing our own plain structs into a String cannot fail.
    serde_json::to_string(value).expect("protocol frames always serialize")
}

/// A response with optional `data` (§P-2.2).
pub fn response<D: Serialize>(id: u64, code: Code, data: Option<D>) -> String {
    to_json(&ResponseOut {
        id: Some(id),
        code: code.number(),
        message: code.name(),
        data,
        error: None,
    })
}

/// [`response`] with `data` that is JSON text already (e.g. a channel rendered earlier):
/// the same text, made by placing `data` in the envelope, allocated once at its final
/// size instead of serialized again through a growing buffer.
pub fn response_raw(id: u64, code: Code, data: &RawValue) -> String {
    let mut id_digits = itoa::Buffer::new();
    let mut code_digits = itoa::Buffer::new();
    // Every part is JSON already: numbers, a code name (capitals and `_`, no escapes).
    let parts = [
        r#"{"id":"#,
        id_digits.format(id),
        r#","code":"#,
        code_digits.format(code.number()),
        r#","message":""#,
        code.name(),
        r#"","data":"#,
        data.get(),
        "}",
    ];
    let mut text = String::with_capacity(parts.iter().map(|p| p.len()).sum());
    parts.iter().for_each(|part| text.push_str(part));
    text
}

/// A response without `data` whose id may be null (e.g. 416 for a frame without a valid id).
pub fn code_response(id: Option<u64>, code: Code) -> String {
    to_json(&ResponseOut::<()> {
        id,
        code: code.number(),
        message: code.name(),
        data: None,
        error: None,
    })
}

/// A response carrying an `error` explanation (400, 414, 500).
pub fn error_response(id: Option<u64>, code: Code, error: &str) -> String {
    to_json(&ResponseOut::<()> {
        id,
        code: code.number(),
        message: code.name(),
        data: None,
        error: Some(error),
    })
}

/// A server push (§P-2.3).
#[derive(Serialize, Debug)]
#[serde(tag = "push", rename_all = "camelCase")]
pub enum Push<'a> {
    Notify { event: &'a Event },
    MultiClientSync { event: &'a Event },
    UnreadSync { events: &'a [Event] },
    ChannelsSync { channels: &'a [ChannelWithMembers] },
    Kicked { reason: &'a str },
}

impl Push<'_> {
    pub fn to_text(&self) -> String {
        to_json(self)
    }
}

/// The kinds of push, as named in the `push` field.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum PushKind {
    Notify,
    MultiClientSync,
    UnreadSync,
    ChannelsSync,
    Kicked,
}

impl PushKind {
    pub const ALL: [PushKind; 5] = [
        PushKind::Notify,
        PushKind::MultiClientSync,
        PushKind::UnreadSync,
        PushKind::ChannelsSync,
        PushKind::Kicked,
    ];

    pub const fn as_str(self) -> &'static str {
        match self {
            PushKind::Notify => "notify",
            PushKind::MultiClientSync => "multiClientSync",
            PushKind::UnreadSync => "unreadSync",
            PushKind::ChannelsSync => "channelsSync",
            PushKind::Kicked => "kicked",
        }
    }
}

impl fmt::Display for PushKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for PushKind {
    type Err = ();
    fn from_str(s: &str) -> Result<Self, ()> {
        PushKind::ALL
            .into_iter()
            .find(|k| k.as_str() == s)
            .ok_or(())
    }
}

/// A server frame as a client sees it.
#[derive(Debug, Clone, PartialEq)]
pub enum ServerFrame {
    Response(ResponseFrame),
    /// `body` is the whole frame object, `kind` its `push` field.
    Push {
        kind: PushKind,
        body: Value,
    },
}

/// A decoded response (§P-2.2).
#[derive(Debug, Clone, PartialEq)]
pub struct ResponseFrame {
    pub id: Option<u64>,
    pub code: u32,
    pub message: String,
    /// Kept as text until read (see [`LazyJson`]); never JSON `null`.
    pub data: Option<LazyJson>,
    pub error: Option<String>,
}

/// A server frame that does not follow §P-2.2/§P-2.3.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("malformed server frame: {0}")]
pub struct DecodeError(pub String);

/// Decodes one text frame sent by a server.
pub fn decode_server_frame(text: &str) -> Result<ServerFrame, DecodeError> {
    let value: Value =
        serde_json::from_str(text).map_err(|e| DecodeError(format!("not JSON: {e}")))?;
    let Value::Object(mut map) = value else {
        return Err(DecodeError("not a JSON object".into()));
    };
    if let Some(push) = map.get("push") {
        let name = push
            .as_str()
            .ok_or_else(|| DecodeError("push is not a string".into()))?;
        let kind = PushKind::from_str(name)
            .map_err(|_| DecodeError(format!("unknown push kind '{name}'")))?;
        return Ok(ServerFrame::Push {
            kind,
            body: Value::Object(map),
        });
    }
    let id = match map.get("id") {
        None | Some(Value::Null) => None,
        Some(v) => Some(
            v.as_u64()
                .ok_or_else(|| DecodeError("id is not an unsigned integer".into()))?,
        ),
    };
    let code = map
        .get("code")
        .and_then(Value::as_u64)
        .and_then(|c| u32::try_from(c).ok())
        .ok_or_else(|| DecodeError("code missing or not an integer".into()))?;
    let message = match map.remove("message") {
        Some(Value::String(s)) => s,
        _ => return Err(DecodeError("message missing or not a string".into())),
    };
    let data = map
        .remove("data")
        .filter(|v| !v.is_null())
        .map(LazyJson::from);
    let error = match map.remove("error") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(s),
        Some(_) => return Err(DecodeError("error is not a string".into())),
    };
    Ok(ServerFrame::Response(ResponseFrame {
        id,
        code,
        message,
        data,
        error,
    }))
}

/// The text of a request frame, as a client sends it (`op` is the op's wire name): the
/// envelope `{"id":…,"op":…,"params":…}` written around `op`'s and `params`' own
/// serialization, the same text as serializing the three fields as a struct.
pub fn request_text(id: u64, op: &str, params: &impl Serialize) -> String {
    let mut text = Vec::with_capacity(128);
    text.extend_from_slice(br#"{"id":"#);
    text.extend_from_slice(itoa::Buffer::new().format(id).as_bytes());
    text.extend_from_slice(br#","op":"#);
    // Writing into a `Vec` cannot fail, and a string or a `Serialize` value of this
    // crate's always serializes.
    serde_json::to_writer(&mut text, op).expect("a string serializes");
    text.extend_from_slice(br#","params":"#);
    serde_json::to_writer(&mut text, params).expect("request params always serialize");
    text.push(b'}');
    String::from_utf8(text).expect("serde_json writes UTF-8")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(text: &str) -> Result<RequestFrame<'_>, FrameError> {
        parse_request(parse_json(text)?)
    }

    #[test]
    fn a_request_is_its_three_fields_serialized() {
        #[derive(Serialize)]
        struct Out<'a> {
            id: u64,
            op: &'a str,
            params: &'a Value,
        }
        let params = serde_json::json!({"z": "\"é\n", "a": [1, 2.5, null, {"k": true}]});
        for (id, op, params) in [
            (0, "call", &params),
            (u64::MAX, "o\"p\\\u{1}", &Value::Null),
            (7, "accept", &serde_json::json!({})),
        ] {
            assert_eq!(
                request_text(id, op, params),
                serde_json::to_string(&Out { id, op, params }).unwrap()
            );
        }
    }

    #[test]
    fn a_raw_response_is_the_serialized_text_allocated_once() {
        let data = serde_json::value::to_raw_value(&serde_json::json!({"k": ["v", 1], "e": "\"é"}))
            .unwrap();
        for (id, code) in [
            (0, Code::Ok),
            (9, Code::RoomNotExists),
            (u64::MAX, Code::Ok),
        ] {
            let raw = response_raw(id, code, &data);
            assert_eq!(raw, response(id, code, Some(&data)));
            assert_eq!(raw.len(), raw.capacity(), "{raw}");
        }
        for code in Code::ALL {
            assert!(
                code.name()
                    .bytes()
                    .all(|b| b.is_ascii_uppercase() || b == b'_'),
                "{} would need escaping",
                code.name()
            );
        }
    }

    #[test]
    fn bad_frames_carry_the_id_when_valid() {
        assert!(matches!(
            frame("[1]"),
            Err(FrameError::BadFrame { id: None, .. })
        ));
        assert!(matches!(
            frame("nope"),
            Err(FrameError::BadFrame { id: None, .. })
        ));
        assert!(matches!(
            frame(r#"{"op":"login"}"#),
            Err(FrameError::BadFrame { id: None, .. })
        ));
        assert!(matches!(
            frame(r#"{"id":-1,"op":"login"}"#),
            Err(FrameError::BadFrame { id: None, .. })
        ));
        assert!(matches!(
            frame(r#"{"id":1.5,"op":"login"}"#),
            Err(FrameError::BadFrame { id: None, .. })
        ));
        assert!(matches!(
            frame(r#"{"id":7,"op":3}"#),
            Err(FrameError::BadFrame { id: Some(7), .. })
        ));
        assert!(matches!(
            frame(r#"{"id":7,"op":"login","params":[]}"#),
            Err(FrameError::BadFrame { id: Some(7), .. })
        ));
        assert!(matches!(
            frame(r#"{"id":6,"op":"nope","params":[1]}"#),
            Err(FrameError::BadFrame { id: Some(6), .. })
        ));
        assert_eq!(
            frame(r#"{"id":8,"op":"Login"}"#).unwrap_err(),
            FrameError::UnknownOp {
                id: 8,
                op: "Login".into()
            }
        );
        let ok = frame(r#"{"id":18446744073709551615,"op":"query","params":null}"#).unwrap();
        assert_eq!(ok.id, u64::MAX);
        assert_eq!(ok.op, Op::Query);
    }

    #[test]
    fn deeply_nested_json_is_a_bad_frame_not_a_crash() {
        let text = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
        assert!(matches!(
            frame(&text),
            Err(FrameError::BadFrame { id: None, .. })
        ));
    }

    #[test]
    fn responses_round_trip_through_the_client_decoder() {
        let text = response(3, Code::Ok, Some(serde_json::json!({"x": 1})));
        let ServerFrame::Response(r) = decode_server_frame(&text).unwrap() else {
            panic!("not a response")
        };
        assert_eq!((r.id, r.code, r.message.as_str()), (Some(3), 200, "OK"));
        assert_eq!(r.data, Some(serde_json::json!({"x": 1}).into()));
        let text = error_response(None, Code::BadFrame, "why");
        assert_eq!(
            text,
            r#"{"id":null,"code":400,"message":"BAD_FRAME","error":"why"}"#
        );
        let text = Push::Kicked {
            reason: "LOGIN_ELSEWHERE",
        }
        .to_text();
        assert_eq!(text, r#"{"push":"kicked","reason":"LOGIN_ELSEWHERE"}"#);
        assert!(matches!(
            decode_server_frame(&text).unwrap(),
            ServerFrame::Push {
                kind: PushKind::Kicked,
                ..
            }
        ));
        assert!(decode_server_frame(r#"{"push":"bogus"}"#).is_err());
        assert!(decode_server_frame(r#"{"id":1}"#).is_err());
    }
}
