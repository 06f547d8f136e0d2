//! How the harness reads a native server frame without building a `serde_json::Value`
//! tree for it, in one pass over the text: one visitor reads the frame's top-level
//! members (`push`, `id`, `code`, `message`, `error` as small typed values, the event
//! types of `event` and `events` while visiting them) and checks everything else as a
//! `Value` parse would (every number parsed, so out-of-range numbers are errors; the
//! same deserializer counts the nesting against its limit). A reply's `data` and a
//! push's body are kept as text ([`LazyJson`]) until a step reads them.
//!
//! `data` is the one member read twice: serde_json cannot visit a value and hand over
//! its text at once (a `StreamDeserializer`'s `byte_offset` only falls between
//! top-level values), and its raw-text capture (`&RawValue`) skips the value without
//! the checks a `Value` parse makes (number ranges, nesting). So its text is captured,
//! then checked on its own with the nesting room it has inside the frame.
//!
//! A frame this does not accept (not JSON, not an object, a member of a shape a good
//! frame does not have) goes to [`decode_server_frame`], whose error then says what is
//! wrong: the verdicts are the same, the tests compare the two.

use std::borrow::Cow;
use std::fmt;

use serde::de::{self, Deserialize, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
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
    let top: Top<'_> = serde_json::from_str(text).ok()?;
    if let Some(push) = top.push {
        let Member::Str(name) = push else {
            return None;
        };
        let kind = name.parse::<PushKind>().ok()?;
        let events = match kind {
            PushKind::Notify | PushKind::MultiClientSync => vec![top.event.flatten()],
            PushKind::UnreadSync => top.events.unwrap_or_default(),
            PushKind::ChannelsSync | PushKind::Kicked => Vec::new(),
        };
        return Some(Decoded::Push {
            kind,
            body: LazyJson::from_checked_text(text),
            events,
        });
    }
    let id = match top.id {
        None | Some(Member::Null) => None,
        Some(Member::Uint(id)) => Some(id),
        Some(_) => return None,
    };
    let Some(Member::Uint(code)) = top.code else {
        return None;
    };
    let code = u32::try_from(code).ok()?;
    let Some(Member::Str(message)) = top.message else {
        return None;
    };
    let error = match top.error {
        None | Some(Member::Null) => None,
        Some(Member::Str(error)) => Some(error.into_owned()),
        Some(_) => return None,
    };
    let data = top
        .data
        .filter(|d| d.get() != "null")
        .map(|d| LazyJson::from_checked_text(d.get()));
    Some(Decoded::Reply(ResponseFrame {
        id,
        code,
        message: message.into_owned(),
        data,
        error,
    }))
}

/// The top-level members of a server frame that decoding reads; the last one of each
/// when a key repeats, as in a `Value` map. Reading it checks the whole frame.
#[derive(Default)]
struct Top<'a> {
    push: Option<Member<'a>>,
    id: Option<Member<'a>>,
    code: Option<Member<'a>>,
    message: Option<Member<'a>>,
    error: Option<Member<'a>>,
    data: Option<&'a RawValue>,
    /// The event type of `event`.
    event: Option<Option<EventType>>,
    /// The event types of the items of `events`.
    events: Option<Vec<Option<EventType>>>,
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
                while let Some(Key(key)) = map.next_key()? {
                    match &*key {
                        "push" => top.push = Some(map.next_value()?),
                        "id" => top.id = Some(map.next_value()?),
                        "code" => top.code = Some(map.next_value()?),
                        "message" => top.message = Some(map.next_value()?),
                        "error" => top.error = Some(map.next_value()?),
                        "data" => top.data = Some(map.next_value::<Data<'de>>()?.0),
                        "event" => top.event = Some(map.next_value::<EventHead>()?.0),
                        "events" => top.events = Some(map.next_value::<EventTypes>()?.0),
                        _ => map.next_value_seed(Checked::IN_FRAME)?,
                    }
                }
                Ok(top)
            }
        }
        d.deserialize_map(TopVisitor)
    }
}

/// An object's key, borrowed from the frame unless it has escapes (serde's own
/// `Cow<str>` always copies).
struct Key<'a>(Cow<'a, str>);

impl<'de> Deserialize<'de> for Key<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Key<'de>, D::Error> {
        struct KeyVisitor;
        impl<'de> Visitor<'de> for KeyVisitor {
            type Value = Key<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a key")
            }
            fn visit_borrowed_str<E>(self, key: &'de str) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Borrowed(key)))
            }
            fn visit_str<E>(self, key: &str) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Owned(key.to_owned())))
            }
        }
        d.deserialize_str(KeyVisitor)
    }
}

/// A member read as a scalar: what decoding needs of `push`, `id`, `code`, `message`
/// and `error` (a string borrowed from the frame unless it has escapes), and `Other`
/// for any other value, checked.
enum Member<'a> {
    Null,
    /// An integer that `Value::as_u64` reads.
    Uint(u64),
    Str(Cow<'a, str>),
    Other,
}

impl<'de> Deserialize<'de> for Member<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Member<'de>, D::Error> {
        d.deserialize_any(MemberVisitor)
    }
}

struct MemberVisitor;

impl<'de> Visitor<'de> for MemberVisitor {
    type Value = Member<'de>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_bool<E>(self, _: bool) -> Result<Member<'de>, E> {
        Ok(Member::Other)
    }
    fn visit_i64<E>(self, n: i64) -> Result<Member<'de>, E> {
        Ok(u64::try_from(n).map_or(Member::Other, Member::Uint))
    }
    fn visit_u64<E>(self, n: u64) -> Result<Member<'de>, E> {
        Ok(Member::Uint(n))
    }
    fn visit_f64<E>(self, _: f64) -> Result<Member<'de>, E> {
        Ok(Member::Other)
    }
    fn visit_borrowed_str<E>(self, s: &'de str) -> Result<Member<'de>, E> {
        Ok(Member::Str(Cow::Borrowed(s)))
    }
    fn visit_str<E>(self, s: &str) -> Result<Member<'de>, E> {
        Ok(Member::Str(Cow::Owned(s.to_owned())))
    }
    fn visit_unit<E>(self) -> Result<Member<'de>, E> {
        Ok(Member::Null)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Member<'de>, A::Error> {
        Checked::IN_FRAME.visit_seq(seq)?;
        Ok(Member::Other)
    }
    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Member<'de>, A::Error> {
        Checked::IN_FRAME.visit_map(map)?;
        Ok(Member::Other)
    }
}

/// The `data` member's text, checked as a `Value` parse of the frame would check it.
struct Data<'a>(&'a RawValue);

impl<'de> Deserialize<'de> for Data<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Data<'de>, D::Error> {
        let raw = <&'de RawValue>::deserialize(d)?;
        let mut text = serde_json::Deserializer::from_str(raw.get());
        Checked::DATA
            .deserialize(&mut text)
            .map_err(de::Error::custom)?;
        Ok(Data(raw))
    }
}

/// The scalar visits of a visitor that only looks into objects and lists: any scalar
/// (read, so checked) stands for `$none`.
macro_rules! scalars_are {
    ($value:ty, $none:expr) => {
        fn visit_bool<E>(self, _: bool) -> Result<$value, E> {
            Ok($none)
        }
        fn visit_i64<E>(self, _: i64) -> Result<$value, E> {
            Ok($none)
        }
        fn visit_u64<E>(self, _: u64) -> Result<$value, E> {
            Ok($none)
        }
        fn visit_f64<E>(self, _: f64) -> Result<$value, E> {
            Ok($none)
        }
        fn visit_str<E>(self, _: &str) -> Result<$value, E> {
            Ok($none)
        }
        fn visit_unit<E>(self) -> Result<$value, E> {
            Ok($none)
        }
    };
}

/// Checks a value as a `Value` parse would, building nothing: every number is parsed
/// (out-of-range numbers are errors) and every list and object counts against the
/// nesting limit. Inside the frame serde_json counts the nesting itself; text checked
/// on its own (`data`) has `room` for that many more levels of lists and objects.
#[derive(Clone, Copy)]
struct Checked {
    room: u8,
}

impl Checked {
    /// Inside the frame, where the deserializer's own count applies.
    const IN_FRAME: Checked = Checked { room: u8::MAX };
    /// `data` checked on its own: serde_json accepts 127 nested lists and objects (its
    /// limit of 128 is an error when reached), the frame's object is one of them.
    const DATA: Checked = Checked { room: 126 };

    /// The check of a value one level down.
    fn inner<E: de::Error>(self) -> Result<Checked, E> {
        match self.room.checked_sub(1) {
            Some(room) => Ok(Checked { room }),
            None => Err(E::custom("recursion limit exceeded")),
        }
    }
}

impl<'de> DeserializeSeed<'de> for Checked {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Checked {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }
    scalars_are!((), ());
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        let inner = self.inner()?;
        while seq.next_element_seed(inner)?.is_some() {}
        Ok(())
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let inner = self.inner()?;
        while map.next_key_seed(inner)?.is_some() {
            map.next_value_seed(inner)?;
        }
        Ok(())
    }
}

/// The event type of one event, read while checking it: `Some` for an object whose
/// (last) `eventType` is a string naming a known type; anything else is an event nobody
/// can await.
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
    scalars_are!(EventHead, EventHead(None));
    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<EventHead, A::Error> {
        Checked::IN_FRAME.visit_seq(seq)?;
        Ok(EventHead(None))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<EventHead, A::Error> {
        let mut found = None;
        while let Some(Key(key)) = map.next_key()? {
            if key == "eventType" {
                found = match map.next_value()? {
                    Member::Str(name) => name.parse().ok(),
                    _ => None,
                };
            } else {
                map.next_value_seed(Checked::IN_FRAME)?;
            }
        }
        Ok(EventHead(found))
    }
}

/// The event types of the items of `events` (`unreadSync`), read while checking them;
/// none when it is not a list.
struct EventTypes(Vec<Option<EventType>>);

impl<'de> Deserialize<'de> for EventTypes {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<EventTypes, D::Error> {
        d.deserialize_any(EventTypesVisitor)
    }
}

struct EventTypesVisitor;

impl<'de> Visitor<'de> for EventTypesVisitor {
    type Value = EventTypes;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }
    scalars_are!(EventTypes, EventTypes(Vec::new()));
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<EventTypes, A::Error> {
        let mut types = Vec::new();
        while let Some(EventHead(t)) = seq.next_element()? {
            types.push(t);
        }
        Ok(EventTypes(types))
    }
    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<EventTypes, A::Error> {
        Checked::IN_FRAME.visit_map(map)?;
        Ok(EventTypes(Vec::new()))
    }
}

#[cfg(test)]
mod tests;
