//! What `sigbench check` can know of the native protocol's rules before anything
//! connects: whether one param's literal value is one the server must refuse (§P-2.5,
//! the validation of src/protocol/params.rs), which fields each event type, each reply's
//! `data` and each push carries (docs/protocol.md, "Ops at a glance", "Pushes and
//! events"), and which params leave per-account state on the server.

use serde_json::{Map, Value};

use crate::drivers::{AccountState, Undo, UndoValue};
use crate::protocol::params::{Params, Request};
use crate::protocol::{Code, EventType, Op, PushKind};

/// Why the server answers 414 `PARAM_ERROR` to `op` whatever its other params are, when
/// `param` is `value`; `None` when the value can pass. The other params get valid
/// placeholders, so only `param`'s own type, range or length can fail.
pub(crate) fn check_param(op: &str, param: &str, value: &Value) -> Option<(u32, String)> {
    let op = Op::ALL.into_iter().find(|o| o.as_str() == op)?;
    if value.is_null() || !op.params().contains(&param) {
        return None;
    }
    let mut params = Map::new();
    for p in op.params() {
        if let Some(v) = placeholder(p) {
            params.insert((*p).to_string(), v);
        }
    }
    params.insert(param.to_string(), value.clone());
    match Request::parse(op, &Params::new(params)) {
        Err(e) if e.param == param => Some((Code::ParamError.number(), e.to_string())),
        _ => None,
    }
}

/// A valid value for each param some op requires.
fn placeholder(param: &str) -> Option<Value> {
    Some(match param {
        "type" => Value::from(1),
        "account" | "device" => Value::from("a"),
        "token" => Value::from("t"),
        "requestId" => Value::from("r"),
        "channelId" => Value::from("c"),
        "msgids" => Value::from(vec![Value::from("m")]),
        _ => return None,
    })
}

/// The paths of a `channel` object (§P-4.1), followed by `$more`.
macro_rules! channel_and {
    ($($more:literal),* $(,)?) => {
        &[
            "channel.channelId",
            "channel.channelName",
            "channel.type",
            "channel.ext",
            "channel.creator",
            "channel.createTime",
            "channel.expireTime",
            "channel.invalid",
            $($more),*
        ]
    };
}

/// `{channel}` (§P-4.1).
const CHANNEL: &[&str] = channel_and!();

/// `{channel, members}` (§P-4.1, §P-4.2).
const CHANNEL_MEMBERS: &[&str] = channel_and!(
    "members[].account",
    "members[].uid",
    "members[].joinTime",
    "members[].expireTime",
);

/// The `data` of a successful reply to `op` (docs/protocol.md, "Ops at a glance");
/// empty: the reply has no `data`.
pub(crate) const fn response_data(op: Op) -> &'static [&'static str] {
    match op {
        Op::Login => &["account", "device", "serverTime"],
        Op::Create | Op::Delay => CHANNEL,
        Op::Join | Op::Query | Op::Accept | Op::Call => CHANNEL_MEMBERS,
        Op::Leave
        | Op::Close
        | Op::Invite
        | Op::Cancel
        | Op::Reject
        | Op::Control
        | Op::MarkRead => &[],
    }
}

/// Any event, below `event` or an item of `events` (its fields depend on its type).
macro_rules! event_paths {
    ($at:literal) => {
        &[
            "push",
            concat!($at, ".eventType"),
            concat!($at, ".msgid"),
            concat!($at, ".channel.*"),
            concat!($at, ".from"),
            concat!($at, ".time"),
            concat!($at, ".to"),
            concat!($at, ".requestId"),
            concat!($at, ".attachExt"),
            concat!($at, ".member.*"),
            concat!($at, ".pushInfo.*"),
        ]
    };
}

/// A push as a push await's `match:`/`save:` paths see it: the whole frame (§P-4).
pub(crate) const fn push_fields(kind: PushKind) -> &'static [&'static str] {
    match kind {
        PushKind::Notify | PushKind::MultiClientSync => event_paths!("event"),
        PushKind::UnreadSync => event_paths!("events[]"),
        PushKind::ChannelsSync => &[
            "push",
            "channels[].channel.channelId",
            "channels[].channel.channelName",
            "channels[].channel.type",
            "channels[].channel.ext",
            "channels[].channel.creator",
            "channels[].channel.createTime",
            "channels[].channel.expireTime",
            "channels[].channel.invalid",
            "channels[].members[].account",
            "channels[].members[].uid",
            "channels[].members[].joinTime",
            "channels[].members[].expireTime",
        ],
        PushKind::Kicked => &["push", "reason"],
    }
}

/// Events stored for an offline account (§P-7) stay until `markRead`.
const STORED_OFFLINE: AccountState = AccountState {
    param: "offlineEnabled",
    when_true: true,
    what: "events stored offline",
    // A device that receives them (unreadSync) acknowledges them with markRead.
    cleaned_up: true,
};

/// Channel ops whose undo is gone when the channel is: 10404 (closed or expired) and
/// 10406 (no longer a member).
const CHANNEL_GONE: &[u32] = &[
    Code::RoomNotExists.number(),
    Code::RoomMemberNotExists.number(),
];

/// What `cleanup: true` sends to undo a request of `op` (§P-5): the channel a `create`
/// made or a `call` opened (the caller is its creator) is closed; a channel joined by
/// `join` or by an `accept` with `autoJoin` is left. Other ops leave no state of their
/// own (invitations end with their channel or expire).
pub(crate) const fn undo(op: Op) -> Option<Undo> {
    match op {
        Op::Create | Op::Call => Some(Undo {
            op: "close",
            params: &[("channelId", UndoValue::Data("channel.channelId"))],
            when_true: None,
            done_codes: CHANNEL_GONE,
        }),
        Op::Join => Some(Undo {
            op: "leave",
            params: &[("channelId", UndoValue::Param("channelId"))],
            when_true: None,
            done_codes: CHANNEL_GONE,
        }),
        Op::Accept => Some(Undo {
            op: "leave",
            params: &[("channelId", UndoValue::Param("channelId"))],
            when_true: Some("autoJoin"),
            done_codes: CHANNEL_GONE,
        }),
        _ => None,
    }
}

/// The params of `op` that leave per-account state on the server: a push token
/// registered at login (§P-3.4) decides between 10201 and 10202; events stored with
/// `offlineEnabled` (§P-7) are delivered at every login until read.
pub(crate) const fn account_state(op: Op) -> &'static [AccountState] {
    match op {
        Op::Login => &[AccountState {
            param: "pushToken",
            when_true: false,
            what: "a pushToken set at login",
            // A later login without one does not erase it (§P-3.4): nothing can.
            cleaned_up: false,
        }],
        Op::Join
        | Op::Leave
        | Op::Close
        | Op::Invite
        | Op::Cancel
        | Op::Reject
        | Op::Accept
        | Op::Call => &[STORED_OFFLINE],
        Op::Create | Op::Query | Op::Delay | Op::Control | Op::MarkRead => &[],
    }
}

/// Fields every event carries.
#[cfg(test)]
const COMMON: [&str; 5] = ["eventType", "msgid", "channel", "from", "time"];

/// The top-level fields of an event of this type (docs/protocol.md, "Event types").
pub(crate) const fn event_fields(event: EventType) -> &'static [&'static str] {
    match event {
        EventType::Invite => &[
            "eventType",
            "msgid",
            "channel",
            "from",
            "time",
            "to",
            "requestId",
            "attachExt",
            "pushInfo",
        ],
        EventType::CancelInvite | EventType::Reject | EventType::Accept => &[
            "eventType",
            "msgid",
            "channel",
            "from",
            "time",
            "to",
            "requestId",
            "attachExt",
        ],
        EventType::RoomJoin => &[
            "eventType",
            "msgid",
            "channel",
            "from",
            "time",
            "attachExt",
            "member",
        ],
        EventType::Leave | EventType::RoomClose | EventType::Control => {
            &["eventType", "msgid", "channel", "from", "time", "attachExt"]
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn literal_values_the_server_refuses_are_found() {
        let bad = |op, param, value: Value| check_param(op, param, &value).map(|(_, why)| why);
        assert_eq!(
            bad("accept", "autoJoin", json!("yes")).as_deref(),
            Some("param 'autoJoin': must be a boolean")
        );
        assert!(bad("call", "type", json!("2")).unwrap().contains("'type'"));
        assert!(bad("call", "type", json!(7)).is_some());
        assert!(bad("join", "offlineEnabled", json!("yes")).is_some());
        assert!(bad("create", "channelName", json!("x".repeat(129))).is_some());
        for (op, param, good) in [
            ("call", "type", json!(2)),
            ("accept", "autoJoin", json!(true)),
            ("call", "uid", json!(4711)),
            ("query", "channelName", json!("room")),
            ("markRead", "msgids", json!(["a", "b"])),
            ("login", "pushToken", json!("apns-1")),
        ] {
            assert_eq!(bad(op, param, good.clone()), None, "{op} {param} {good}");
        }
        // Not the checker's business: unknown ops and params, nulls.
        assert_eq!(bad("nope", "type", json!(9)), None);
        assert_eq!(bad("call", "colour", json!(9)), None);
        assert_eq!(bad("call", "type", Value::Null), None);
    }

    #[test]
    fn every_event_has_the_common_fields() {
        for event in EventType::ALL {
            let fields = event_fields(event);
            assert!(COMMON.iter().all(|c| fields.contains(c)), "{event:?}");
        }
        assert!(event_fields(EventType::Invite).contains(&"pushInfo"));
        assert!(!event_fields(EventType::Leave).contains(&"requestId"));
    }

    #[test]
    fn every_op_with_offline_enabled_stores_per_account_state() {
        for op in Op::ALL {
            let stores = account_state(op)
                .iter()
                .any(|s| s.param == "offlineEnabled");
            assert_eq!(stores, op.params().contains(&"offlineEnabled"), "{op:?}");
        }
    }
}
