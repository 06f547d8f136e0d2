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
use super::path::{JsonPath, PathStep};
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
        self.holds(push, ctx) || self.before.iter().any(|b| b.is(push))
    }

    /// Whether `push` is the awaited one, as [`PushMatcher::find`] decides, without
    /// parsing its body (kept as text until read): the kind and event types decide, then
    /// each `match` field is looked up in the text.
    fn holds(&self, push: &Push, ctx: &Vars) -> bool {
        let fields_hold = |at: &[PathStep<'_>]| {
            self.fields
                .iter()
                .all(|(path, want)| want.holds(path.lookup(&push.body, at, 0).as_deref(), ctx))
        };
        match self.awaited {
            Awaited::Push(want) => push.kind.id == want.id && fields_hold(&[]),
            Awaited::Event { event, via } => {
                push.kind.id == via.id
                    && push
                        .events
                        .iter()
                        .filter(|(e, _)| e.id == event.id)
                        .any(|(_, at)| at.with_steps(fields_hold))
            }
        }
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

    /// Of the buffered `pushes`, the one closest to matching — of the awaited kind or
    /// event type, with the most `match` fields holding — and the fields that differ, for
    /// an await that timed out. `None` when no push is even of the awaited type.
    pub fn closest<'p>(
        &self,
        pushes: impl IntoIterator<Item = &'p Push>,
        ctx: &Vars,
    ) -> Option<Closest<'p>> {
        let mut best: Option<Closest<'p>> = None;
        for (index, push) in pushes.into_iter().enumerate() {
            let roots: Vec<&Value> = match self.awaited {
                Awaited::Push(want) if push.kind.id == want.id => vec![&*push.body],
                Awaited::Event { event, via } if push.kind.id == via.id => {
                    push.events_of(event).collect()
                }
                _ => Vec::new(),
            };
            for root in roots {
                let differing: Vec<Difference> = self
                    .fields
                    .iter()
                    .filter(|(path, want)| !want.holds(path.get(root), ctx))
                    .map(|(path, want)| Difference {
                        path: path.to_string(),
                        wanted: match want {
                            FieldCheck::Equals(t) => t.render(ctx).to_string(),
                            preds => preds.describe(ctx),
                        },
                        got: path.get(root).cloned(),
                    })
                    .collect();
                if best
                    .as_ref()
                    .is_none_or(|b| differing.len() < b.differing.len())
                {
                    best = Some(Closest {
                        index,
                        push,
                        differing,
                    });
                }
            }
        }
        best
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

/// The buffered push closest to what an await wanted ([`PushMatcher::closest`]).
#[derive(Debug)]
pub struct Closest<'p> {
    /// Its position among the pushes looked at.
    pub index: usize,
    pub push: &'p Push,
    /// The `match` fields that did not hold (empty: it matched, e.g. it came too late or
    /// a `before` push was in the way).
    pub differing: Vec<Difference>,
}

/// One `match` field that did not hold.
#[derive(Clone, Debug, PartialEq)]
pub struct Difference {
    /// The field's path, e.g. `from` or `event.channelId`.
    pub path: String,
    /// What was wanted: the rendered value, or the predicates.
    pub wanted: String,
    /// What the push had; `None` when the field is absent.
    pub got: Option<Value>,
}

impl Difference {
    /// `from: wanted "alice", got "bob"`.
    pub fn describe(&self) -> String {
        let got = self
            .got
            .as_ref()
            .map_or_else(|| "nothing (absent)".to_owned(), Value::to_string);
        format!("{}: wanted {}, got {got}", self.path, self.wanted)
    }

    /// The part of `text` (the push frame) around this field's last path segment, at
    /// most about `width` characters, with `…` where it was cut — so the mismatch is
    /// shown rather than cut off by a truncated frame.
    pub fn excerpt(&self, text: &str, width: usize) -> String {
        let key = self.path.rsplit('.').next().unwrap_or(&self.path);
        let needle = format!("\"{key}\"");
        let Some(at) = text.find(&needle) else {
            return cut(text, 0, width);
        };
        cut(text, at.saturating_sub(width / 4), width)
    }
}

/// `width` characters of `text` from byte `start` (moved to a char boundary), marked
/// with `…` at each end that was cut.
fn cut(text: &str, start: usize, width: usize) -> String {
    let mut start = start.min(text.len());
    while !text.is_char_boundary(start) {
        start -= 1;
    }
    let rest = &text[start..];
    let mut out = String::new();
    if start > 0 {
        out.push('…');
    }
    out.extend(rest.chars().take(width));
    if rest.chars().count() > width {
        out.push('…');
    }
    out
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
    fn awaits_read_only_the_fields_they_match() {
        let v = Vars::with_len(0);
        let text = r#"{"push":"notify","event":{"eventType":"INVITE","from":"bob"}}"#;
        let push = Push {
            kind: kind_spec(PushKind::Notify),
            body: crate::protocol::lazy::LazyJson::from_checked_text(text),
            events: vec![(
                event_spec(EventType::Invite),
                crate::drivers::EventAt::Field("event"),
            )],
        };
        let any = PushMatcher {
            awaited: Awaited::Event {
                event: event_spec(EventType::Invite),
                via: kind_spec(PushKind::Notify),
            },
            fields: Vec::new(),
            before: Vec::new(),
        };
        assert!(any.matches(&push, &v));
        let accept = PushMatcher {
            awaited: Awaited::Event {
                event: event_spec(EventType::Accept),
                via: kind_spec(PushKind::Notify),
            },
            ..any.clone()
        };
        assert!(!accept.matches(&push, &v));
        assert!(!push.body.is_parsed());
        let from = |who: &str| PushMatcher {
            fields: vec![field("from", json!(who))],
            ..any.clone()
        };
        assert!(!from("alice").matches(&push, &v));
        assert!(from("bob").matches(&push, &v));
        // `match` fields are looked up in the text; the tree is built for a `save`.
        assert!(!push.body.is_parsed());
        assert_eq!(
            from("bob").find(&push, &v),
            Some(&json!({"eventType": "INVITE", "from": "bob"}))
        );
        assert!(push.body.is_parsed());
    }

    #[test]
    fn the_closest_push_names_the_field_that_differs() {
        let v = Vars::with_len(0);
        let m = PushMatcher {
            awaited: Awaited::Event {
                event: event_spec(EventType::Invite),
                via: kind_spec(PushKind::Notify),
            },
            fields: vec![
                field("from", json!("alice")),
                field("requestId", json!("r1")),
            ],
            before: Vec::new(),
        };
        let cancel = json!({"push": "notify", "event": {"eventType": "CANCEL_INVITE", "from": "alice", "requestId": "r1"}});
        let far = json!({"push": "notify", "event": {"eventType": "INVITE", "from": "bob", "requestId": "r9"}});
        let near = json!({"push": "notify", "event": {"eventType": "INVITE", "from": "alice", "requestId": "r2"}});
        let pushes = [
            p(PushKind::Notify, &cancel),
            p(PushKind::Notify, &far),
            p(PushKind::Notify, &near),
        ];
        let closest = m.closest(&pushes, &v).expect("an INVITE is buffered");
        assert_eq!(closest.index, 2);
        assert_eq!(closest.differing.len(), 1);
        let d = &closest.differing[0];
        assert_eq!(d.describe(), "requestId: wanted \"r1\", got \"r2\"");
        let text = format!("{}{}", "x".repeat(300), near);
        let excerpt = d.excerpt(&text, 40);
        assert!(
            excerpt.starts_with('…') && excerpt.contains("\"requestId\":\"r2\""),
            "{excerpt}"
        );
        assert!(m.closest(&pushes[..1], &v).is_none(), "no INVITE at all");
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
