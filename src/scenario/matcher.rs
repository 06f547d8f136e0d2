//! Which push an `await` or `refute` step is waiting for.
//!
//! `await: INVITE` waits for an event of that type, carried by a `notify` push unless the
//! step says `via: multiClientSync` or `via: unreadSync` (then any event of the stored
//! list may match). `match` paths are relative to the event. `await: multiClientSync` (or
//! `unreadSync`, `channelsSync`, `kicked`) waits for a push of that kind; its `match`
//! paths are relative to the whole push body, e.g. `event.eventType` or `reason`.

use serde_json::Value;
use std::fmt::Write as _;

use super::path::JsonPath;
use super::template::{Template, Vars};
use crate::protocol::{EventType, PushKind};

/// What is awaited.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Awaited {
    /// An event of this type carried by a push of kind `via` (`Notify`,
    /// `MultiClientSync` or `UnreadSync`).
    Event { event: EventType, via: PushKind },
    /// Any push of this kind.
    Push(PushKind),
}

/// A compiled `await`/`refute` target with its `match` fields.
#[derive(Clone, Debug, PartialEq)]
pub struct PushMatcher {
    pub awaited: Awaited,
    /// Field assertions: path (relative to the event, or to the push body) → value.
    pub fields: Vec<(JsonPath, Template)>,
}

impl PushMatcher {
    /// True if the push satisfies the matcher.
    pub fn matches(&self, kind: PushKind, body: &Value, ctx: &Vars) -> bool {
        self.find(kind, body, ctx).is_some()
    }

    /// The matched object: the event for event awaits (for `unreadSync`, the first
    /// matching element of `events`), the push body for push awaits. `save` paths of an
    /// await apply to it.
    pub fn find<'a>(&self, kind: PushKind, body: &'a Value, ctx: &Vars) -> Option<&'a Value> {
        match self.awaited {
            Awaited::Push(want) => (kind == want && self.fields_match(body, ctx)).then_some(body),
            Awaited::Event { event, via } => {
                if kind != via {
                    return None;
                }
                match via {
                    PushKind::UnreadSync => body
                        .get("events")?
                        .as_array()?
                        .iter()
                        .find(|e| self.event_matches(event, e, ctx)),
                    _ => body
                        .get("event")
                        .filter(|e| self.event_matches(event, e, ctx)),
                }
            }
        }
    }

    fn event_matches(&self, want: EventType, event: &Value, ctx: &Vars) -> bool {
        event.get("eventType").and_then(Value::as_str) == Some(want.as_str())
            && self.fields_match(event, ctx)
    }

    fn fields_match(&self, root: &Value, ctx: &Vars) -> bool {
        self.fields.iter().all(|(path, want)| match path.get(root) {
            Some(v) => want.matches(v, ctx),
            None => want.as_const() == Some(&Value::Null),
        })
    }

    /// A description for failure messages: `INVITE (via notify) with from=alice`.
    pub fn describe(&self, ctx: &Vars) -> String {
        let mut s = match self.awaited {
            Awaited::Event { event, via } => format!("{event} (via {via})"),
            Awaited::Push(kind) => format!("a {kind} push"),
        };
        for (i, (path, want)) in self.fields.iter().enumerate() {
            s.push_str(if i == 0 { " with " } else { ", " });
            let _ = write!(s, "{path}={}", want.render(ctx));
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn field(path: &str, v: Value) -> (JsonPath, Template) {
        (JsonPath::parse(path).unwrap(), Template::constant(v))
    }

    #[test]
    fn event_awaits_look_inside_the_event() {
        let v = Vars::with_len(0);
        let m = PushMatcher {
            awaited: Awaited::Event {
                event: EventType::Invite,
                via: PushKind::Notify,
            },
            fields: vec![field("from", json!("alice"))],
        };
        let body = json!({"push": "notify", "event": {"eventType": "INVITE", "from": "alice"}});
        assert!(m.matches(PushKind::Notify, &body, &v));
        assert!(!m.matches(PushKind::MultiClientSync, &body, &v));
        let other = json!({"push": "notify", "event": {"eventType": "INVITE", "from": "bob"}});
        assert!(!m.matches(PushKind::Notify, &other, &v));
        let cancel =
            json!({"push": "notify", "event": {"eventType": "CANCEL_INVITE", "from": "alice"}});
        assert!(!m.matches(PushKind::Notify, &cancel, &v));
        assert_eq!(m.describe(&v), "INVITE (via notify) with from=\"alice\"");
    }

    #[test]
    fn unread_sync_matches_any_stored_event() {
        let v = Vars::with_len(0);
        let m = PushMatcher {
            awaited: Awaited::Event {
                event: EventType::Invite,
                via: PushKind::UnreadSync,
            },
            fields: vec![field("requestId", json!("r2"))],
        };
        let body = json!({"push": "unreadSync", "events": [
            {"eventType": "INVITE", "requestId": "r1", "msgid": "m1"},
            {"eventType": "INVITE", "requestId": "r2", "msgid": "m2"}]});
        let found = m.find(PushKind::UnreadSync, &body, &v).unwrap();
        assert_eq!(found["msgid"], "m2");
        let empty = json!({"push": "unreadSync", "events": []});
        assert!(!m.matches(PushKind::UnreadSync, &empty, &v));
    }

    #[test]
    fn push_awaits_look_at_the_body() {
        let v = Vars::with_len(0);
        let m = PushMatcher {
            awaited: Awaited::Push(PushKind::MultiClientSync),
            fields: vec![field("event.eventType", json!("ACCEPT"))],
        };
        let body = json!({"push": "multiClientSync", "event": {"eventType": "ACCEPT"}});
        assert!(m.matches(PushKind::MultiClientSync, &body, &v));
        assert!(!m.matches(PushKind::Notify, &body, &v));
        let kicked = PushMatcher {
            awaited: Awaited::Push(PushKind::Kicked),
            fields: vec![field("reason", json!("LOGIN_ELSEWHERE"))],
        };
        let body = json!({"push": "kicked", "reason": "LOGIN_ELSEWHERE"});
        assert!(kicked.matches(PushKind::Kicked, &body, &v));
    }
}
