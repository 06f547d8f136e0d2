//! The data shapes of §P-4 as they appear on the wire: channel, member, event and
//! pushInfo. The server serializes them; the harness may deserialize them.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::fmt;
use std::str::FromStr;

/// A channel as rendered on the wire (§P-4.1).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ChannelInfo {
    pub channel_id: String,
    pub channel_name: String,
    #[serde(rename = "type")]
    pub kind: u8,
    pub ext: String,
    pub creator: String,
    pub create_time: u64,
    pub expire_time: u64,
    pub invalid: bool,
}

/// A channel member (§P-4.2).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MemberInfo {
    pub account: String,
    pub uid: i64,
    pub join_time: u64,
    pub expire_time: u64,
}

/// A channel with its members, as in `channelsSync`, `join`, `query`, `call`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ChannelWithMembers {
    pub channel: ChannelInfo,
    pub members: Vec<MemberInfo>,
}

/// The kinds of event (§P-4.3).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum EventType {
    RoomClose,
    RoomJoin,
    Invite,
    CancelInvite,
    Reject,
    Accept,
    Leave,
    Control,
}

impl EventType {
    pub const ALL: [EventType; 8] = [
        EventType::RoomClose,
        EventType::RoomJoin,
        EventType::Invite,
        EventType::CancelInvite,
        EventType::Reject,
        EventType::Accept,
        EventType::Leave,
        EventType::Control,
    ];

    pub const fn as_str(self) -> &'static str {
        match self {
            EventType::RoomClose => "ROOM_CLOSE",
            EventType::RoomJoin => "ROOM_JOIN",
            EventType::Invite => "INVITE",
            EventType::CancelInvite => "CANCEL_INVITE",
            EventType::Reject => "REJECT",
            EventType::Accept => "ACCEPT",
            EventType::Leave => "LEAVE",
            EventType::Control => "CONTROL",
        }
    }
}

impl fmt::Display for EventType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for EventType {
    type Err = ();
    fn from_str(s: &str) -> Result<Self, ()> {
        EventType::ALL
            .into_iter()
            .find(|e| e.as_str() == s)
            .ok_or(())
    }
}

/// Offline-push settings of an INVITE (§P-4.4), with defaults filled in.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PushInfo {
    pub need_push: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub push_title: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub push_content: Option<String>,
    /// A JSON object, or a string holding JSON text, as the inviter sent it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub push_payload: Option<Value>,
    pub need_badge: bool,
}

/// An event (§P-4.3) as carried by `notify`, `multiClientSync` and `unreadSync`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Event {
    pub event_type: EventType,
    pub msgid: String,
    pub channel: ChannelInfo,
    pub from: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attach_ext: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub member: Option<MemberInfo>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub push_info: Option<PushInfo>,
    pub time: u64,
}

/// The reason carried by a `kicked` push (§P-3.5).
pub const KICK_LOGIN_ELSEWHERE: &str = "LOGIN_ELSEWHERE";

/// WebSocket close codes the protocol uses.
pub mod close_code {
    /// Binary frame received (§P-1.2).
    pub const UNSUPPORTED_DATA: u16 = 1003;
    /// Authentication failed (§P-3.3) or slow consumer.
    pub const POLICY: u16 = 1008;
    /// Message over the server's size limit (§P-1.3).
    pub const TOO_BIG: u16 = 1009;
    /// Kicked by a login of the same account and device (§P-3.5).
    pub const KICKED: u16 = 4001;
}
