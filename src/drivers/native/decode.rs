//! How the harness reads a native server frame without building a `serde_json::Value`
//! tree for it: the frame is checked to be JSON that a `Value` parse accepts (same
//! parser, same nesting limit; nothing allocated), its top-level members and the event
//! types of a push are read, and a reply's `data` and a push's body are kept as text
//! ([`LazyJson`]) until a step reads them. A frame this does not accept (not JSON, not
//! an object, a member of the wrong type) goes to [`decode_server_frame`], whose error
//! then says what is wrong: the verdicts are the same, the tests compare the two.

use std::borrow::Cow;
use std::fmt;

use serde::de::{self, Deserialize, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::Value;
use serde_json::value::RawValue;

use crate::protocol::frame::{DecodeError, ResponseFrame, ServerFrame, decode_server_frame};
use crate::protocol::lazy::LazyJson;
use crate::protocol::{EventType, PushKind};

/// A server frame as the harness reads it.
#[derive(Debug)]
pub enum Decoded {
    Reply(ResponseFrame),
    Push {
        kind: PushKind,
        body: LazyJson,
        /// The event type of `event` (`notify`, `multiClientSync`), or of each item of
        /// `events` (`unreadSync`); `None` where there is none the protocol knows.
        events: Vec<Option<EventType>>,
    },
}

/// Decodes one text frame sent by a server.
pub fn decode(text: &str) -> Result<Decoded, DecodeError> {
    if let Some(decoded) = fast(text) {
        return Ok(decoded);
    }
    match decode_server_frame(text)? {
        ServerFrame::Response(reply) => Ok(Decoded::Reply(reply)),
        ServerFrame::Push { kind, body } => {
            let events = events_of(kind, &body);
            Ok(Decoded::Push {
                kind,
                body: body.into(),
                events,
            })
        }
    }
}

/// The event types a push body carries, read from a `Value`.
pub(super) fn events_of(kind: PushKind, body: &Value) -> Vec<Option<EventType>> {
    let type_of = |v: &Value| {
        v.get("eventType")
            .and_then(Value::as_str)
            .and_then(|t| t.parse().ok())
    };
    match kind {
        PushKind::Notify | PushKind::MultiClientSync => vec![body.get("event").and_then(type_of)],
        PushKind::UnreadSync => body
            .get("events")
            .and_then(Value::as_array)
            .map(|list| list.iter().map(type_of).collect())
            .unwrap_or_default(),
        PushKind::ChannelsSync | PushKind::Kicked => Vec::new(),
    }
}

/// The frame decoded without a tree, or `None` when anything is off (the slow path
/// then finds the same frame wrong, or right, and says so).
fn fast(text: &str) -> Option<Decoded> {
    serde_json::from_str::<Checked>(text).ok()?;
    let top: Top<'_> = serde_json::from_str(text).ok()?;
    if let Some(push) = top.push {
        let kind = push.as_str()?.parse::<PushKind>().ok()?;
        let events = match kind {
            PushKind::Notify | PushKind::MultiClientSync => {
                vec![top.event.and_then(|e| event_type(e.get()))]
            }
            PushKind::UnreadSync => match top.events {
                Some(list) => serde_json::from_str::<EventTypes>(list.get()).ok()?.0,
                None => Vec::new(),
            },
            PushKind::ChannelsSync | PushKind::Kicked => Vec::new(),
        };
        return Some(Decoded::Push {
            kind,
            body: LazyJson::from_checked_text(text),
            events,
        });
    }
    let id = match top.id {
        None | Some(Value::Null) => None,
        Some(v) => Some(v.as_u64()?),
    };
    let code = u32::try_from(top.code?.as_u64()?).ok()?;
    let Value::String(message) = top.message? else {
        return None;
    };
    let error = match top.error {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(s),
        Some(_) => return None,
    };
    let data = top
        .data
        .filter(|d| d.get() != "null")
        .map(|d| LazyJson::from_checked_text(d.get()));
    Some(Decoded::Reply(ResponseFrame {
        id,
        code,
        message,
        data,
        error,
    }))
}

/// The `eventType` of an event, as `Value::get("eventType")` and `as_str` would find it.
fn event_type(event: &str) -> Option<EventType> {
    serde_json::from_str::<EventHead>(event).ok()?.0
}

/// JSON that a `Value` parse accepts, visited without building anything: every number is
/// parsed (out-of-range numbers are errors) and nesting counts against the same limit.
struct Checked;

impl<'de> Deserialize<'de> for Checked {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Checked, D::Error> {
        d.deserialize_any(CheckedVisitor)
    }
}

struct CheckedVisitor;

impl<'de> Visitor<'de> for CheckedVisitor {
    type Value = Checked;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_bool<E>(self, _: bool) -> Result<Checked, E> {
        Ok(Checked)
    }
    fn visit_i64<E>(self, _: i64) -> Result<Checked, E> {
        Ok(Checked)
    }
    fn visit_u64<E>(self, _: u64) -> Result<Checked, E> {
        Ok(Checked)
    }
    fn visit_f64<E>(self, _: f64) -> Result<Checked, E> {
        Ok(Checked)
    }
    fn visit_str<E>(self, _: &str) -> Result<Checked, E> {
        Ok(Checked)
    }
    fn visit_unit<E>(self) -> Result<Checked, E> {
        Ok(Checked)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Checked, A::Error> {
        while seq.next_element::<Checked>()?.is_some() {}
        Ok(Checked)
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Checked, A::Error> {
        while map.next_key::<Checked>()?.is_some() {
            map.next_value::<Checked>()?;
        }
        Ok(Checked)
    }
}

/// The top-level members of a server frame that decoding reads; the last one of each
/// when a key repeats, as in a `Value` map. Only used on checked text.
#[derive(Default)]
struct Top<'a> {
    push: Option<Value>,
    id: Option<Value>,
    code: Option<Value>,
    message: Option<Value>,
    error: Option<Value>,
    data: Option<&'a RawValue>,
    event: Option<&'a RawValue>,
    events: Option<&'a RawValue>,
}

impl<'de> Deserialize<'de> for Top<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Top<'de>, D::Error> {
        struct TopVisitor;
        impl<'de> Visitor<'de> for TopVisitor {
            type Value = Top<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Top<'de>, A::Error> {
                let mut top = Top::default();
                while let Some(key) = map.next_key::<Cow<'de, str>>()? {
                    match &*key {
                        "push" => top.push = Some(map.next_value()?),
                        "id" => top.id = Some(map.next_value()?),
                        "code" => top.code = Some(map.next_value()?),
                        "message" => top.message = Some(map.next_value()?),
                        "error" => top.error = Some(map.next_value()?),
                        "data" => top.data = Some(map.next_value()?),
                        "event" => top.event = Some(map.next_value()?),
                        "events" => top.events = Some(map.next_value()?),
                        _ => {
                            map.next_value::<IgnoredAny>()?;
                        }
                    }
                }
                Ok(top)
            }
        }
        d.deserialize_map(TopVisitor)
    }
}

/// The event type of one event: `Some` for an object whose (last) `eventType` is a
/// string naming a known type; anything else is an event nobody can await.
struct EventHead(Option<EventType>);

impl<'de> Deserialize<'de> for EventHead {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<EventHead, D::Error> {
        d.deserialize_any(EventHeadVisitor)
    }
}

struct EventHeadVisitor;

impl<'de> Visitor<'de> for EventHeadVisitor {
    type Value = EventHead;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_bool<E>(self, _: bool) -> Result<EventHead, E> {
        Ok(EventHead(None))
    }
    fn visit_i64<E>(self, _: i64) -> Result<EventHead, E> {
        Ok(EventHead(None))
    }
    fn visit_u64<E>(self, _: u64) -> Result<EventHead, E> {
        Ok(EventHead(None))
    }
    fn visit_f64<E>(self, _: f64) -> Result<EventHead, E> {
        Ok(EventHead(None))
    }
    fn visit_str<E>(self, _: &str) -> Result<EventHead, E> {
        Ok(EventHead(None))
    }
    fn visit_unit<E>(self) -> Result<EventHead, E> {
        Ok(EventHead(None))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<EventHead, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(EventHead(None))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<EventHead, A::Error> {
        let mut found = None;
        while let Some(key) = map.next_key::<Cow<'de, str>>()? {
            if key == "eventType" {
                found = Some(map.next_value::<EventTypeName>()?.0);
            } else {
                map.next_value::<IgnoredAny>()?;
            }
        }
        Ok(EventHead(found.flatten()))
    }
}

/// An `eventType` member: the type it names when it is a string naming a known one.
struct EventTypeName(Option<EventType>);

impl<'de> Deserialize<'de> for EventTypeName {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<EventTypeName, D::Error> {
        match Value::deserialize(d)? {
            Value::String(s) => Ok(EventTypeName(s.parse().ok())),
            _ => Ok(EventTypeName(None)),
        }
    }
}

/// The event types of the items of `events` (`unreadSync`); nothing when it is not a list.
struct EventTypes(Vec<Option<EventType>>);

impl<'de> Deserialize<'de> for EventTypes {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<EventTypes, D::Error> {
        match Option::<Vec<EventHead>>::deserialize(d) {
            Ok(list) => Ok(EventTypes(
                list.unwrap_or_default().into_iter().map(|e| e.0).collect(),
            )),
            Err(e) => Err(de::Error::custom(e)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What the eager decoder makes of a frame, in the lazy decoder's terms.
    fn eager(text: &str) -> Result<String, DecodeError> {
        Ok(match decode_server_frame(text)? {
            ServerFrame::Response(r) => format!("{r:?}"),
            ServerFrame::Push { kind, body } => {
                format!("{kind:?} {body:?} {:?}", events_of(kind, &body))
            }
        })
    }

    fn lazy(text: &str) -> Result<String, DecodeError> {
        Ok(match decode(text)? {
            Decoded::Reply(r) => format!("{r:?}"),
            Decoded::Push { kind, body, events } => format!("{kind:?} {body:?} {events:?}"),
        })
    }

    #[test]
    fn reads_every_frame_as_the_value_decoder_does() {
        // The frame's object and 126 or 127 lists: at and past serde_json's nesting limit.
        let nested = |n: usize| {
            format!(
                r#"{{"id":1,"code":200,"message":"OK","data":{}1{}}}"#,
                "[".repeat(n),
                "]".repeat(n)
            )
        };
        let (deep, too_deep) = (nested(126), nested(127));
        let frames = [
            r#"{"id":2,"code":200,"message":"OK","data":{"channel":{"channelId":"c-1","type":2},"members":[{"uid":7}]}}"#,
            r#"{"id":3,"code":200,"message":"OK"}"#,
            r#"{"id":3,"code":200,"message":"OK","data":null,"error":null}"#,
            r#"{"id":null,"code":400,"message":"BAD_FRAME","error":"why"}"#,
            r#"{"code":416,"message":"X","extra":[1,{"a":"\u00e9"}]}"#,
            r#"{"id":4,"code":200,"message":"OK","data":{"a":1},"data":{"b":2}}"#,
            r#"{"push":"notify","event":{"eventType":"INVITE","from":"a","requestId":"r"}}"#,
            r#"{"event":{"eventType":"ACCEPT"},"push":"notify"}"#,
            r#"{"push":"notify","event":{"eventType":"INVITE","eventType":"ACCEPT"}}"#,
            r#"{"push":"notify","event":{"eventType":"NOPE"}}"#,
            r#"{"push":"notify","event":{"eventType":7}}"#,
            r#"{"push":"notify","event":[1]}"#,
            r#"{"push":"notify"}"#,
            r#"{"push":"multiClientSync","event":{"eventType":"ROOM_CLOSE"},"id":"x"}"#,
            r#"{"push":"unreadSync","events":[{"eventType":"INVITE"},3,{"eventType":"CANCEL"}]}"#,
            r#"{"push":"unreadSync","events":{"eventType":"INVITE"}}"#,
            r#"{"push":"unreadSync"}"#,
            r#"{"push":"kicked","reason":"LOGIN_ELSEWHERE"}"#,
            r#"{"push":"ev\u0065nt"}"#,
            r#"{"push":"bogus"}"#,
            r#"{"push":7}"#,
            r#"{"id":1}"#,
            r#"{"id":-1,"code":200,"message":"OK"}"#,
            r#"{"id":1,"code":200,"message":7}"#,
            r#"{"id":1,"code":4294967296,"message":"OK"}"#,
            r#"{"id":1,"code":200,"message":"OK","error":5}"#,
            r#"{"id":1,"code":200,"message":"OK","data":{"x":1e400}}"#,
            r#"{"id":1,"code":200,"message":"OK"} x"#,
            r#"{"id":1,"code":200,"message":"OK","data":"#,
            "[1]",
            "nope",
            "\"text\"",
            &deep,
            &too_deep,
        ];
        for text in frames {
            assert_eq!(lazy(text), eager(text), "{text}");
        }
        assert!(decode(&deep).is_ok());
        assert!(decode(&too_deep).is_err());
    }

    #[test]
    fn data_and_bodies_stay_text_until_read() {
        let Ok(Decoded::Reply(r)) =
            decode(r#"{"id":2,"code":200,"message":"OK","data":{"channel":{"channelId":"c"}}}"#)
        else {
            panic!("not a reply")
        };
        let data = r.data.expect("data");
        assert!(!data.is_parsed());
        assert_eq!(data["channel"]["channelId"], "c");
        let Ok(Decoded::Push { body, events, .. }) =
            decode(r#"{"push":"notify","event":{"eventType":"INVITE"}}"#)
        else {
            panic!("not a push")
        };
        assert_eq!(events, vec![Some(EventType::Invite)]);
        assert!(!body.is_parsed());
    }
}
