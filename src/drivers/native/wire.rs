//! The native framing on one connection: a per-connection id counter, requests as
//! `{"id","op","params"}`, replies correlated by `id`, pushes classified by `push`.

use serde_json::Value;

use super::decode::{Decoded, decode};
use super::vocabulary::{event_spec, kind_spec};
use crate::drivers::{EventAt, Expecting, Inbound, OpParams, OpSpec, Outgoing, Push, Wire};
use crate::protocol::frame::request_text;
use crate::protocol::lazy::LazyJson;
use crate::protocol::{EventType, PushKind};

/// Per-connection state: the next request id.
#[derive(Debug)]
pub struct NativeWire {
    /// Ids are unique per connection (§P-2.1) and start at 1.
    next_id: u64,
}

impl Default for NativeWire {
    fn default() -> Self {
        NativeWire { next_id: 1 }
    }
}

impl Wire for NativeWire {
    fn request(&mut self, op: &'static OpSpec, params: OpParams<'_>) -> Result<Outgoing, String> {
        let id = self.next_id;
        self.next_id += 1;
        Ok(Outgoing {
            expecting: Expecting::Reply(id),
            text: request_text(id, op.name, &params),
        })
    }

    fn receive(&mut self, text: &str, out: &mut Vec<Inbound>) {
        match decode(text) {
            Ok(Decoded::Reply(reply)) => out.push(Inbound::Reply {
                key: reply.id,
                reply,
            }),
            Ok(Decoded::Push { kind, body, events }) => {
                out.push(Inbound::Push(push(kind, body, events)));
            }
            Err(e) => out.push(Inbound::Unreadable {
                key: None,
                why: e.to_string(),
            }),
        }
    }
}

/// The events a native push carries: `event` of `notify`/`multiClientSync`, each of
/// `events` of `unreadSync`. Events of an unknown type are not awaitable.
pub fn classify(kind: PushKind, body: Value) -> Push {
    let events = super::decode::events_of(kind, &body);
    push(kind, body.into(), events)
}

/// A push whose event types were read: `types` holds the type of `event`
/// (`notify`, `multiClientSync`) or of each item of `events` (`unreadSync`).
fn push(kind: PushKind, body: LazyJson, types: Vec<Option<EventType>>) -> Push {
    let events = match kind {
        PushKind::UnreadSync => types
            .into_iter()
            .enumerate()
            .filter_map(|(i, t)| Some((event_spec(t?), EventAt::Item("events", i))))
            .collect(),
        _ => types
            .into_iter()
            .flatten()
            .map(|t| (event_spec(t), EventAt::Field("event")))
            .collect(),
    };
    Push {
        kind: kind_spec(kind),
        body,
        events,
    }
}
