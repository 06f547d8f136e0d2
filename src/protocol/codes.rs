//! Result codes of §P-9: the number on the wire and its symbolic `message` name.
//!
//! `BAD_FRAME` and `UNKNOWN_OP` share the number 400, so a code is identified by its
//! name, and the number is derived from it.

use std::fmt;

/// Every code the protocol defines (§P-9).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Code {
    Ok,
    AuthFailed,
    BadFrame,
    UnknownOp,
    NotLoggedIn,
    ParamError,
    RateLimited,
    LimitExceeded,
    ServerError,
    PeerNimOffline,
    PeerPushOffline,
    RoomNotExists,
    RoomHasExists,
    RoomMemberNotExists,
    RoomMemberHasExists,
    InviteNotExists,
    InviteHasReject,
    InviteHasAccept,
    UidConflict,
    RoomMemberExceed,
    RoomMemberHasExistsOtherClient,
}

impl Code {
    /// All codes, in the order of the §P-9 table.
    pub const ALL: [Code; 21] = [
        Code::Ok,
        Code::AuthFailed,
        Code::BadFrame,
        Code::UnknownOp,
        Code::NotLoggedIn,
        Code::ParamError,
        Code::RateLimited,
        Code::LimitExceeded,
        Code::ServerError,
        Code::PeerNimOffline,
        Code::PeerPushOffline,
        Code::RoomNotExists,
        Code::RoomHasExists,
        Code::RoomMemberNotExists,
        Code::RoomMemberHasExists,
        Code::InviteNotExists,
        Code::InviteHasReject,
        Code::InviteHasAccept,
        Code::UidConflict,
        Code::RoomMemberExceed,
        Code::RoomMemberHasExistsOtherClient,
    ];

    /// The number sent in the `code` field.
    pub const fn number(self) -> u32 {
        match self {
            Code::Ok => 200,
            Code::AuthFailed => 302,
            Code::BadFrame | Code::UnknownOp => 400,
            Code::NotLoggedIn => 401,
            Code::ParamError => 414,
            Code::RateLimited => 416,
            Code::LimitExceeded => 429,
            Code::ServerError => 500,
            Code::PeerNimOffline => 10201,
            Code::PeerPushOffline => 10202,
            Code::RoomNotExists => 10404,
            Code::RoomHasExists => 10405,
            Code::RoomMemberNotExists => 10406,
            Code::RoomMemberHasExists => 10407,
            Code::InviteNotExists => 10408,
            Code::InviteHasReject => 10409,
            Code::InviteHasAccept => 10410,
            Code::UidConflict => 10417,
            Code::RoomMemberExceed => 10419,
            Code::RoomMemberHasExistsOtherClient => 10420,
        }
    }

    /// The symbolic name sent in the `message` field.
    pub const fn name(self) -> &'static str {
        match self {
            Code::Ok => "OK",
            Code::AuthFailed => "AUTH_FAILED",
            Code::BadFrame => "BAD_FRAME",
            Code::UnknownOp => "UNKNOWN_OP",
            Code::NotLoggedIn => "NOT_LOGGED_IN",
            Code::ParamError => "PARAM_ERROR",
            Code::RateLimited => "RATE_LIMITED",
            Code::LimitExceeded => "LIMIT_EXCEEDED",
            Code::ServerError => "SERVER_ERROR",
            Code::PeerNimOffline => "PEER_NIM_OFFLINE",
            Code::PeerPushOffline => "PEER_PUSH_OFFLINE",
            Code::RoomNotExists => "ROOM_NOT_EXISTS",
            Code::RoomHasExists => "ROOM_HAS_EXISTS",
            Code::RoomMemberNotExists => "ROOM_MEMBER_NOT_EXISTS",
            Code::RoomMemberHasExists => "ROOM_MEMBER_HAS_EXISTS",
            Code::InviteNotExists => "INVITE_NOT_EXISTS",
            Code::InviteHasReject => "INVITE_HAS_REJECT",
            Code::InviteHasAccept => "INVITE_HAS_ACCEPT",
            Code::UidConflict => "UID_CONFLICT",
            Code::RoomMemberExceed => "ROOM_MEMBER_EXCEED",
            Code::RoomMemberHasExistsOtherClient => "ROOM_MEMBER_HAS_EXISTS_OTHER_CLIENT",
        }
    }

    /// Looks a code up by its symbolic name (`"ROOM_NOT_EXISTS"`).
    pub fn from_name(name: &str) -> Option<Code> {
        Code::ALL.into_iter().find(|c| c.name() == name)
    }

    /// Looks a code up by number. 400 is ambiguous and resolves to `BAD_FRAME`.
    pub fn from_number(number: u32) -> Option<Code> {
        Code::ALL.into_iter().find(|c| c.number() == number)
    }

    /// True for the codes after which an invitation still stands (§P-6.1).
    pub const fn invitation_stands(self) -> bool {
        matches!(
            self,
            Code::Ok | Code::PeerNimOffline | Code::PeerPushOffline
        )
    }
}

impl fmt::Display for Code {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.number(), self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_and_round_trip() {
        for code in Code::ALL {
            assert_eq!(Code::from_name(code.name()), Some(code));
        }
        assert_eq!(
            Code::from_number(10420),
            Some(Code::RoomMemberHasExistsOtherClient)
        );
        assert_eq!(Code::from_number(400), Some(Code::BadFrame));
        assert_eq!(Code::from_number(999), None);
    }
}
