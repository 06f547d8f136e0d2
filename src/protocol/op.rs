//! The operation names of the protocol (§P-3, §P-5, §P-6, §P-7) and the params each takes.
//!
//! This is the one list of ops: the server dispatches on it, the scenario checker uses it
//! to reject unknown ops and unknown params before anything connects.

use std::fmt;
use std::str::FromStr;

/// A request operation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Op {
    Login,
    Create,
    Join,
    Leave,
    Close,
    Query,
    Delay,
    Invite,
    Cancel,
    Reject,
    Accept,
    Call,
    Control,
    MarkRead,
}

impl Op {
    /// Every op, in documentation order.
    pub const ALL: [Op; 14] = [
        Op::Login,
        Op::Create,
        Op::Join,
        Op::Leave,
        Op::Close,
        Op::Query,
        Op::Delay,
        Op::Invite,
        Op::Cancel,
        Op::Reject,
        Op::Accept,
        Op::Call,
        Op::Control,
        Op::MarkRead,
    ];

    /// The name on the wire (case-sensitive).
    pub const fn as_str(self) -> &'static str {
        match self {
            Op::Login => "login",
            Op::Create => "create",
            Op::Join => "join",
            Op::Leave => "leave",
            Op::Close => "close",
            Op::Query => "query",
            Op::Delay => "delay",
            Op::Invite => "invite",
            Op::Cancel => "cancel",
            Op::Reject => "reject",
            Op::Accept => "accept",
            Op::Call => "call",
            Op::Control => "control",
            Op::MarkRead => "markRead",
        }
    }

    /// The params the op understands, required ones first. Others are ignored by the
    /// server (§P-2.5); the scenario checker flags them as likely typos.
    pub const fn params(self) -> &'static [&'static str] {
        match self {
            Op::Login => &["account", "token", "device", "pushToken"],
            Op::Create => &["type", "channelName", "ext"],
            Op::Join => &["channelId", "uid", "offlineEnabled", "attachExt"],
            Op::Leave | Op::Close => &["channelId", "offlineEnabled", "attachExt"],
            Op::Query => &["channelName", "channelId"],
            Op::Delay => &["channelId"],
            Op::Invite => &[
                "channelId",
                "account",
                "requestId",
                "offlineEnabled",
                "attachExt",
                "pushInfo",
            ],
            Op::Cancel | Op::Reject => &[
                "channelId",
                "account",
                "requestId",
                "offlineEnabled",
                "attachExt",
            ],
            Op::Accept => &[
                "channelId",
                "account",
                "requestId",
                "offlineEnabled",
                "attachExt",
                "autoJoin",
                "uid",
                "joinAttachExt",
            ],
            Op::Call => &[
                "type",
                "account",
                "requestId",
                "channelName",
                "ext",
                "uid",
                "offlineEnabled",
                "attachExt",
                "pushInfo",
            ],
            Op::Control => &["channelId", "account", "attachExt"],
            Op::MarkRead => &["msgids"],
        }
    }
}

impl fmt::Display for Op {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The name is not one of the protocol's ops.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown op '{0}'")]
pub struct UnknownOp(pub String);

impl FromStr for Op {
    type Err = UnknownOp;

    fn from_str(s: &str) -> Result<Op, UnknownOp> {
        Op::ALL
            .into_iter()
            .find(|op| op.as_str() == s)
            .ok_or_else(|| UnknownOp(s.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_are_case_sensitive() {
        for op in Op::ALL {
            assert_eq!(op.as_str().parse::<Op>(), Ok(op));
        }
        assert!("Login".parse::<Op>().is_err());
        assert!("markread".parse::<Op>().is_err());
    }
}
