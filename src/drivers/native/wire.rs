//! The native framing on one connection: a per-connection id counter, requests as
//! `{"id","op","params"}`, replies correlated by `id`, pushes classified by `push`.

use serde_json::Value;

use super::vocabulary::{event_spec, kind_spec};
use crate::drivers::{EventAt, Expecting, Inbound, OpSpec, Outgoing, Push, Wire};
use crate::protocol::frame::{ServerFrame, decode_server_frame, request_text};
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
    fn request(&mut self, op: &'static OpSpec, params: &Value) -> Result<Outgoing, String> {
        let id = self.next_id;
        self.next_id += 1;
        Ok(Outgoing {
            expecting: Expecting::Reply(id),
            text: request_text(id, op.name, params),
        })
    }

    fn receive(&mut self, text: &str, out: &mut Vec<Inbound>) {
        match decode_server_frame(text) {
            Ok(ServerFrame::Response(reply)) => out.push(Inbound::Reply {
                key: reply.id,
                reply,
            }),
            Ok(ServerFrame::Push { kind, body }) => out.push(Inbound::Push(classify(kind, body))),
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
    let type_of = |v: &Value| {
        v.get("eventType")
            .and_then(Value::as_str)
            .and_then(|t| t.parse::<EventType>().ok())
            .map(event_spec)
    };
    let events = match kind {
        PushKind::Notify | PushKind::MultiClientSync => body
            .get("event")
            .and_then(type_of)
            .map(|e| vec![(e, EventAt::Field("event"))])
            .unwrap_or_default(),
        PushKind::UnreadSync => body
            .get("events")
            .and_then(Value::as_array)
            .map(|list| {
                list.iter()
                    .enumerate()
                    .filter_map(|(i, e)| type_of(e).map(|t| (t, EventAt::Item("events", i))))
                    .collect()
            })
            .unwrap_or_default(),
        PushKind::ChannelsSync | PushKind::Kicked => Vec::new(),
    };
    Push {
        kind: kind_spec(kind),
        body,
        events,
    }
}
