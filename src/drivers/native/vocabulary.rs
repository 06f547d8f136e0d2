//! The protocol's ops, push kinds, event types and codes (src/protocol) as the native
//! driver's vocabulary tables.

use crate::drivers::{Ack, Carrier, CodeSpec, EventSpec, KindSpec, OpRole, OpSpec, Vocabulary};

use super::params::{account_state, push_fields, response_data, undo};
use crate::protocol::{Code, EventType, Op, PushKind};

const fn op(i: usize) -> OpSpec {
    let op = Op::ALL[i];
    OpSpec {
        id: i as u16,
        name: op.as_str(),
        params: op.params(),
        role: if matches!(op, Op::Login) {
            OpRole::Login
        } else {
            OpRole::Request
        },
        data: Some(response_data(op)),
        account_state: account_state(op),
        undo: undo(op),
    }
}

static OPS: [OpSpec; 14] = [
    op(0),
    op(1),
    op(2),
    op(3),
    op(4),
    op(5),
    op(6),
    op(7),
    op(8),
    op(9),
    op(10),
    op(11),
    op(12),
    op(13),
];

const fn kind(i: usize) -> KindSpec {
    let kind = PushKind::ALL[i];
    KindSpec {
        id: i as u16,
        name: kind.as_str(),
        carrier: match kind {
            PushKind::Notify | PushKind::MultiClientSync => Carrier::One,
            PushKind::UnreadSync => Carrier::List,
            PushKind::ChannelsSync | PushKind::Kicked => Carrier::None,
        },
        awaitable: !matches!(kind, PushKind::Notify),
        via: matches!(
            kind,
            PushKind::Notify | PushKind::MultiClientSync | PushKind::UnreadSync
        ),
        strict: matches!(kind, PushKind::Notify | PushKind::MultiClientSync),
        login_sync: matches!(kind, PushKind::ChannelsSync | PushKind::UnreadSync),
        ends_connection: matches!(kind, PushKind::Kicked),
        fields: Some(push_fields(kind)),
        account_state: match kind {
            PushKind::UnreadSync => Some("events stored offline, read at login (unreadSync)"),
            _ => None,
        },
        // Stored events stay until read (§P-7.2).
        ack: match kind {
            PushKind::UnreadSync => Some(Ack {
                op: "markRead",
                param: "msgids",
                field: "msgid",
                max: 1000,
            }),
            _ => None,
        },
    }
}

static KINDS: [KindSpec; 5] = [kind(0), kind(1), kind(2), kind(3), kind(4)];

const fn event(i: usize) -> EventSpec {
    EventSpec {
        id: i as u16,
        name: EventType::ALL[i].as_str(),
        fields: super::params::event_fields(EventType::ALL[i]),
    }
}

static EVENTS: [EventSpec; 8] = [
    event(0),
    event(1),
    event(2),
    event(3),
    event(4),
    event(5),
    event(6),
    event(7),
];

const fn code(i: usize) -> CodeSpec {
    let code = Code::ALL[i];
    CodeSpec {
        number: code.number(),
        name: code.name(),
        match_name: true,
    }
}

// Sized by `Code::ALL`: a code added there without a row here fails to compile.
static CODES: [CodeSpec; Code::ALL.len()] = [
    code(0),
    code(1),
    code(2),
    code(3),
    code(4),
    code(5),
    code(6),
    code(7),
    code(8),
    code(9),
    code(10),
    code(11),
    code(12),
    code(13),
    code(14),
    code(15),
    code(16),
    code(17),
    code(18),
    code(19),
    code(20),
];

/// The native vocabulary.
pub static VOCABULARY: Vocabulary = Vocabulary {
    name: "sigbench",
    ops: &OPS,
    kinds: &KINDS,
    events: &EVENTS,
    codes: &CODES,
    ok_code: 200,
    default_carrier: 0,
    example_events: &["INVITE", "ACCEPT"],
    example_code: "ROOM_NOT_EXISTS",
    offline_state: Some("events stored offline"),
    check_param: super::params::check_param,
};

/// The spec of a protocol op.
pub fn op_spec(op: Op) -> &'static OpSpec {
    &OPS[Op::ALL.iter().position(|o| *o == op).unwrap_or(0)]
}

/// The spec of a push kind.
pub fn kind_spec(kind: PushKind) -> &'static KindSpec {
    &KINDS[PushKind::ALL.iter().position(|k| *k == kind).unwrap_or(0)]
}

/// The spec of an event type.
pub fn event_spec(event: EventType) -> &'static EventSpec {
    &EVENTS[EventType::ALL.iter().position(|e| *e == event).unwrap_or(0)]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_follow_the_protocol_lists() {
        for (i, op) in Op::ALL.iter().enumerate() {
            assert_eq!((OPS[i].id as usize, OPS[i].name), (i, op.as_str()));
            assert_eq!(op_spec(*op).name, op.as_str());
        }
        for (i, k) in PushKind::ALL.iter().enumerate() {
            assert_eq!((KINDS[i].id as usize, KINDS[i].name), (i, k.as_str()));
        }
        for (i, e) in EventType::ALL.iter().enumerate() {
            assert_eq!((EVENTS[i].id as usize, EVENTS[i].name), (i, e.as_str()));
        }
        assert_eq!(VOCABULARY.default_carrier().name, "notify");
        assert_eq!(VOCABULARY.code_label(400), "400 BAD_FRAME/UNKNOWN_OP");
        assert_eq!(VOCABULARY.code("ROOM_NOT_EXISTS").unwrap().number, 10404);
    }
}
