//! Which push an `await` or `refute` step is waiting for.
//!
//! `await: INVITE` waits for an event of that type, carried by a push of the driver's
//! default carrier kind (native: `notify`) unless the step says `via:` another carrier
//! (native: `multiClientSync`, or `unreadSync`, where any event of the stored list may
//! match). `match` paths are relative to the event. `await: multiClientSync` (or
//! `unreadSync`, `channelsSync`, `kicked`) waits for a push of that kind; its `match`
//! paths are relative to the whole push body, e.g. `event.eventType` or `reason`.
//! Pushes arrive classified by the driver ([`Push`]), so matching compares kinds and
//! event types by identity and never parses a frame.
//!
//! `before: [unreadSync]` makes an await an order check: it takes the oldest push that
//! is either the awaited one or one of the `before` kinds, and if a `before` push came
//! first the step fails (through a guard save, see [`PushMatcher::order_guard`]).

use serde_json::Value;
use std::fmt::Write as _;

use super::expect::Save;
use super::field::FieldCheck;
use super::path::JsonPath;
use super::template::{Slot, Vars};
use crate::drivers::{EventSpec, KindSpec, Push};

/// What is awaited.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Awaited {
    /// An event of this type carried by a push of kind `via` (an event carrier).
    Event {
        event: &'static EventSpec,
        via: &'static KindSpec,
    },
    /// Any push of this kind.
    Push(&'static KindSpec),
}

impl Awaited {
    /// `INVITE` or `unreadSync`.
    pub fn label(self) -> &'static str {
        match self {
            Awaited::Event { event, .. } => event.name,
            Awaited::Push(kind) => kind.name,
        }
    }

    /// Any push of this kind, or any event of this type on its carrier (fields not
    /// checked).
    fn is(self, push: &Push) -> bool {
        match self {
            Awaited::Push(want) => push.kind.id == want.id,
            Awaited::Event { event, via } => {
                push.kind.id == via.id && push.events.iter().any(|(e, _)| e.id == event.id)
            }
        }
    }
}

/// A compiled `await`/`refute` target with its `match` fields.
#[derive(Clone, Debug, PartialEq)]
pub struct PushMatcher {
    pub awaited: Awaited,
    /// Field assertions: path (relative to the event, or to the push body) → check.
    pub fields: Vec<(JsonPath, FieldCheck)>,
    /// `before:` — pushes that must not arrive before the awaited one. They match too
    /// (so the oldest of all is taken), but [`PushMatcher::find`] does not return them.
    pub before: Vec<Awaited>,
}

impl PushMatcher {
    /// True if the push satisfies the matcher (or is one of its `before` pushes).
    pub fn matches(&self, push: &Push, ctx: &Vars) -> bool {
        self.find(push, ctx).is_some() || self.before.iter().any(|b| b.is(push))
    }

    /// The matched object: the event for event awaits (for a list carrier, the first
    /// matching event), the push body for push awaits. `save` paths of an await apply
    /// to it.
    pub fn find<'a>(&self, push: &'a Push, ctx: &Vars) -> Option<&'a Value> {
        match self.awaited {
            Awaited::Push(want) => (push.kind.id == want.id && self.fields_match(&push.body, ctx))
                .then_some(&push.body),
            Awaited::Event { event, via } => {
                if push.kind.id != via.id {
                    return None;
                }
                push.events_of(event).find(|e| self.fields_match(e, ctx))
            }
        }
    }

    fn fields_match(&self, root: &Value, ctx: &Vars) -> bool {
        self.fields
            .iter()
            .all(|(path, want)| want.holds(path.get(root), ctx))
    }

    /// For an await with `before`: a save into `slot` that every awaited push satisfies
    /// and no `before` push does (`find` returns nothing for those), so the runner fails
    /// the step with "expected X before Y, got Y first" when the order is wrong.
    pub fn order_guard(&self, slot: Slot, var: &str) -> Option<Save> {
        if self.before.is_empty() {
            return None;
        }
        let first: Vec<&str> = self.before.iter().map(|b| b.label()).collect();
        Some(Save {
            var: var.to_string(),
            slot,
            path: JsonPath::parse(var).ok()?,
            guard: Some((
                format!("{} before {}", self.awaited.label(), first.join(" or ")),
                format!("{} first", first.join(" or ")),
            )),
        })
    }

    /// A description for failure messages: `INVITE (via notify) with from=alice`.
    pub fn describe(&self, ctx: &Vars) -> String {
        let mut s = match self.awaited {
            Awaited::Event { event, via } => format!("{} (via {})", event.name, via.name),
            Awaited::Push(kind) => format!("a {} push", kind.name),
        };
        for (i, (path, want)) in self.fields.iter().enumerate() {
            s.push_str(if i == 0 { " with " } else { ", " });
            match want {
                FieldCheck::Equals(t) => {
                    let _ = write!(s, "{path}={}", t.render(ctx));
                }
                preds => {
                    let _ = write!(s, "{path} {}", preds.describe(ctx));
                }
            }
        }
        if !self.before.is_empty() {
            let first: Vec<&str> = self.before.iter().map(|b| b.label()).collect();
            let _ = write!(s, ", before any {}", first.join(" or "));
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::drivers::native::classify;
    use crate::drivers::native::{event_spec, kind_spec};
    use crate::protocol::{EventType, PushKind};
    use serde_json::json;

    /// A push as the native driver classifies it.
    fn p(kind: PushKind, body: &Value) -> Push {
        classify(kind, body.clone())
    }

    fn field(path: &str, v: Value) -> (JsonPath, FieldCheck) {
        (JsonPath::parse(path).unwrap(), FieldCheck::equals(v))
    }

    #[test]
    fn event_awaits_look_inside_the_event() {
        let v = Vars::with_len(0);
        let m = PushMatcher {
            awaited: Awaited::Event {
                event: event_spec(EventType::Invite),
                via: kind_spec(PushKind::Notify),
            },
            fields: vec![field("from", json!("alice"))],
            before: Vec::new(),
        };
        let body = json!({"push": "notify", "event": {"eventType": "INVITE", "from": "alice"}});
        assert!(m.matches(&p(PushKind::Notify, &body), &v));
        assert!(!m.matches(&p(PushKind::MultiClientSync, &body), &v));
        let other = json!({"push": "notify", "event": {"eventType": "INVITE", "from": "bob"}});
        assert!(!m.matches(&p(PushKind::Notify, &other), &v));
        let cancel =
            json!({"push": "notify", "event": {"eventType": "CANCEL_INVITE", "from": "alice"}});
        assert!(!m.matches(&p(PushKind::Notify, &cancel), &v));
        assert_eq!(m.describe(&v), "INVITE (via notify) with from=\"alice\"");
    }

    #[test]
    fn unread_sync_matches_any_stored_event() {
        let v = Vars::with_len(0);
        let m = PushMatcher {
            awaited: Awaited::Event {
                event: event_spec(EventType::Invite),
                via: kind_spec(PushKind::UnreadSync),
            },
            fields: vec![field("requestId", json!("r2"))],
            before: Vec::new(),
        };
        let body = json!({"push": "unreadSync", "events": [
            {"eventType": "INVITE", "requestId": "r1", "msgid": "m1"},
            {"eventType": "INVITE", "requestId": "r2", "msgid": "m2"}]});
        let push = p(PushKind::UnreadSync, &body);
        let found = m.find(&push, &v).unwrap();
        assert_eq!(found["msgid"], "m2");
        let empty = json!({"push": "unreadSync", "events": []});
        assert!(!m.matches(&p(PushKind::UnreadSync, &empty), &v));
    }

    #[test]
    fn push_awaits_look_at_the_body() {
        let v = Vars::with_len(0);
        let m = PushMatcher {
            awaited: Awaited::Push(kind_spec(PushKind::MultiClientSync)),
            fields: vec![field("event.eventType", json!("ACCEPT"))],
            before: Vec::new(),
        };
        let body = json!({"push": "multiClientSync", "event": {"eventType": "ACCEPT"}});
        assert!(m.matches(&p(PushKind::MultiClientSync, &body), &v));
        assert!(!m.matches(&p(PushKind::Notify, &body), &v));
        let kicked = PushMatcher {
            awaited: Awaited::Push(kind_spec(PushKind::Kicked)),
            fields: vec![field("reason", json!("LOGIN_ELSEWHERE"))],
            before: Vec::new(),
        };
        let body = json!({"push": "kicked", "reason": "LOGIN_ELSEWHERE"});
        assert!(kicked.matches(&p(PushKind::Kicked, &body), &v));
    }

    #[test]
    fn before_pushes_match_but_are_not_found_and_the_guard_fails_on_them() {
        let v = Vars::with_len(1);
        let m = PushMatcher {
            awaited: Awaited::Push(kind_spec(PushKind::ChannelsSync)),
            fields: Vec::new(),
            before: vec![Awaited::Push(kind_spec(PushKind::UnreadSync))],
        };
        let unread = json!({"push": "unreadSync", "events": []});
        let channels = json!({"push": "channelsSync", "channels": []});
        assert!(m.matches(&p(PushKind::UnreadSync, &unread), &v));
        assert!(m.find(&p(PushKind::UnreadSync, &unread), &v).is_none());
        assert!(m.find(&p(PushKind::ChannelsSync, &channels), &v).is_some());
        let guard = m.order_guard(Slot(0), "order").unwrap();
        let mut vars = Vars::with_len(1);
        assert!(guard.apply(&channels, &mut vars).is_ok());
        assert_eq!(
            guard
                .apply(&Value::Null, &mut vars)
                .unwrap_err()
                .to_string(),
            "expected channelsSync before unreadSync, got unreadSync first"
        );
        assert_eq!(m.describe(&v), "a channelsSync push, before any unreadSync");
        let join_first = PushMatcher {
            awaited: Awaited::Event {
                event: event_spec(EventType::Accept),
                via: kind_spec(PushKind::Notify),
            },
            fields: Vec::new(),
            before: vec![Awaited::Event {
                event: event_spec(EventType::RoomJoin),
                via: kind_spec(PushKind::Notify),
            }],
        };
        let join = json!({"push": "notify", "event": {"eventType": "ROOM_JOIN"}});
        assert!(join_first.matches(&p(PushKind::Notify, &join), &v));
        assert!(!join_first.matches(&p(PushKind::MultiClientSync, &join), &v));
    }
}
