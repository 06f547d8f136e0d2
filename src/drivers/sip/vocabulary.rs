//! What SIP scenarios may say: the UA's actions as ops, one push kind (`sip`) whose
//! events are incoming requests (`INVITE`, `CANCEL`, `BYE`, `ACK`) and responses to our
//! INVITEs by status (`180`, `183`, `200`, `486`, …, and the classes `1xx`…`6xx`), and
//! SIP status codes by reason phrase for `expect:` (and for the report's code labels).

use serde_json::Value;

use crate::drivers::{Carrier, CodeSpec, EventSpec, KindSpec, OpRole, OpSpec, Vocabulary};

/// Op ids, in [`OPS`] order.
pub mod op {
    pub const REGISTER: u16 = 0;
    pub const UNREGISTER: u16 = 1;
    pub const INVITE: u16 = 2;
    pub const RING: u16 = 3;
    pub const ANSWER: u16 = 4;
    pub const REJECT: u16 = 5;
    pub const CANCEL: u16 = 6;
    pub const ACK: u16 = 7;
    pub const BYE: u16 = 8;
}

static OPS: [OpSpec; 9] = [
    OpSpec {
        id: op::REGISTER,
        name: "register",
        params: &["expires", "user", "password", "domain", "authUser"],
        role: OpRole::Login,
        data: None,
        account_state: &[],
        undo: None,
    },
    OpSpec {
        id: op::UNREGISTER,
        name: "unregister",
        params: &[],
        role: OpRole::Request,
        data: None,
        account_state: &[],
        undo: None,
    },
    OpSpec {
        id: op::INVITE,
        name: "invite",
        params: &["to", "headers", "body", "contentType", "ack"],
        role: OpRole::Request,
        data: None,
        account_state: &[],
        undo: None,
    },
    OpSpec {
        id: op::RING,
        name: "ring",
        params: &["status", "callId"],
        role: OpRole::Request,
        data: None,
        account_state: &[],
        undo: None,
    },
    OpSpec {
        id: op::ANSWER,
        name: "answer",
        params: &["callId"],
        role: OpRole::Request,
        data: None,
        account_state: &[],
        undo: None,
    },
    OpSpec {
        id: op::REJECT,
        name: "reject",
        params: &["status", "callId"],
        role: OpRole::Request,
        data: None,
        account_state: &[],
        undo: None,
    },
    OpSpec {
        id: op::CANCEL,
        name: "cancel",
        params: &["callId"],
        role: OpRole::Request,
        data: None,
        account_state: &[],
        undo: None,
    },
    OpSpec {
        id: op::ACK,
        name: "ack",
        params: &["callId"],
        role: OpRole::Request,
        data: None,
        account_state: &[],
        undo: None,
    },
    OpSpec {
        id: op::BYE,
        name: "bye",
        params: &["callId"],
        role: OpRole::Request,
        data: None,
        account_state: &[],
        undo: None,
    },
];

static KINDS: [KindSpec; 1] = [KindSpec {
    id: 0,
    name: "sip",
    carrier: Carrier::One,
    awaitable: true,
    via: true,
    strict: true,
    login_sync: false,
    ends_connection: false,
    fields: None,
    account_state: None,
    ack: None,
}];

/// Requests from peers that scenarios await.
pub const REQUESTS: [&str; 4] = ["INVITE", "CANCEL", "BYE", "ACK"];
/// Response statuses that are events of their own (others are awaited by class).
pub const STATUSES: [u16; 30] = [
    180, 181, 182, 183, 200, 202, 300, 301, 302, 400, 401, 403, 404, 405, 407, 408, 480, 481, 484,
    486, 487, 488, 500, 502, 503, 504, 600, 603, 604, 606,
];
/// Response classes.
pub const CLASSES: [&str; 6] = ["1xx", "2xx", "3xx", "4xx", "5xx", "6xx"];

/// What a pushed request carries (`match:`/`save:` paths start with one of these).
const REQUEST_FIELDS: &[&str] = &[
    "method", "uri", "callId", "from", "to", "cseq", "headers", "body",
];
/// What a pushed response carries.
const RESPONSE_FIELDS: &[&str] = &[
    "status", "reason", "callId", "from", "to", "cseq", "headers", "body", "note",
];

const fn ev(id: u16, name: &'static str) -> EventSpec {
    EventSpec {
        id,
        name,
        fields: if (id as usize) < REQUESTS.len() {
            REQUEST_FIELDS
        } else {
            RESPONSE_FIELDS
        },
    }
}

/// Literal params no UA can send: a `ring` status outside 101–199, a `reject` status
/// outside 300–699, an `expires` that is not a number of seconds. The UA refuses them
/// before anything is sent (the step fails with the reason).
fn check_param(op: &str, param: &str, value: &Value) -> Option<(u32, String)> {
    let number = value
        .as_u64()
        .or_else(|| value.as_str().and_then(|s| s.parse().ok()));
    let (range, what) = match (op, param) {
        ("ring", "status") => (101..=199, "a provisional status (101..199)"),
        ("reject", "status") => (300..=699, "a rejection status (300..699)"),
        ("register", "expires") => (0..=u64::from(u32::MAX), "a number of seconds"),
        _ => return None,
    };
    match number {
        Some(n) if range.contains(&n) => None,
        _ => Some((400, format!("{param} must be {what}, got {value}"))),
    }
}

static EVENTS: [EventSpec; 40] = [
    ev(0, "INVITE"),
    ev(1, "CANCEL"),
    ev(2, "BYE"),
    ev(3, "ACK"),
    ev(4, "180"),
    ev(5, "181"),
    ev(6, "182"),
    ev(7, "183"),
    ev(8, "200"),
    ev(9, "202"),
    ev(10, "300"),
    ev(11, "301"),
    ev(12, "302"),
    ev(13, "400"),
    ev(14, "401"),
    ev(15, "403"),
    ev(16, "404"),
    ev(17, "405"),
    ev(18, "407"),
    ev(19, "408"),
    ev(20, "480"),
    ev(21, "481"),
    ev(22, "484"),
    ev(23, "486"),
    ev(24, "487"),
    ev(25, "488"),
    ev(26, "500"),
    ev(27, "502"),
    ev(28, "503"),
    ev(29, "504"),
    ev(30, "600"),
    ev(31, "603"),
    ev(32, "604"),
    ev(33, "606"),
    ev(34, "1xx"),
    ev(35, "2xx"),
    ev(36, "3xx"),
    ev(37, "4xx"),
    ev(38, "5xx"),
    ev(39, "6xx"),
];

const fn code(number: u32, name: &'static str) -> CodeSpec {
    CodeSpec {
        number,
        name,
        // Reason phrases vary between servers: a name stands for its number.
        match_name: false,
    }
}

static CODES: [CodeSpec; 39] = [
    code(200, "OK"),
    code(202, "Accepted"),
    code(300, "Multiple Choices"),
    code(301, "Moved Permanently"),
    code(302, "Moved Temporarily"),
    code(400, "Bad Request"),
    code(401, "Unauthorized"),
    code(403, "Forbidden"),
    code(404, "Not Found"),
    code(405, "Method Not Allowed"),
    code(407, "Proxy Authentication Required"),
    code(408, "Request Timeout"),
    code(410, "Gone"),
    code(415, "Unsupported Media Type"),
    code(420, "Bad Extension"),
    code(423, "Interval Too Brief"),
    code(480, "Temporarily Unavailable"),
    code(481, "Call/Transaction Does Not Exist"),
    code(482, "Loop Detected"),
    code(483, "Too Many Hops"),
    code(484, "Address Incomplete"),
    code(486, "Busy Here"),
    code(487, "Request Terminated"),
    code(488, "Not Acceptable Here"),
    code(491, "Request Pending"),
    code(500, "Server Internal Error"),
    code(501, "Not Implemented"),
    code(502, "Bad Gateway"),
    code(503, "Service Unavailable"),
    code(504, "Server Time-out"),
    code(600, "Busy Everywhere"),
    code(603, "Decline"),
    code(604, "Does Not Exist Anywhere"),
    code(606, "Not Acceptable"),
    code(100, "Trying"),
    code(180, "Ringing"),
    code(181, "Call Is Being Forwarded"),
    code(182, "Queued"),
    code(183, "Session Progress"),
];

/// The SIP vocabulary (`driver: sip`).
pub static VOCABULARY: Vocabulary = Vocabulary {
    name: "sip",
    ops: &OPS,
    kinds: &KINDS,
    events: &EVENTS,
    codes: &CODES,
    ok_code: 200,
    default_carrier: 0,
    example_events: &["INVITE", "180", "BYE"],
    example_code: "Busy Here",
    offline_state: None,
    check_param,
};

pub fn op_spec(id: u16) -> &'static OpSpec {
    &OPS[usize::from(id)]
}

pub fn kind() -> &'static KindSpec {
    &KINDS[0]
}

/// The event of an incoming request's method, if scenarios can await it.
pub fn request_event(method: &str) -> Option<&'static EventSpec> {
    EVENTS[..REQUESTS.len()].iter().find(|e| e.name == method)
}

/// The events of a response: its status (when it has its own event) and its class.
pub fn response_events(status: u16) -> impl Iterator<Item = &'static EventSpec> {
    let own = STATUSES
        .iter()
        .position(|s| *s == status)
        .map(|i| &EVENTS[REQUESTS.len() + i]);
    let class = (1..=6)
        .contains(&(status / 100))
        .then(|| &EVENTS[REQUESTS.len() + STATUSES.len() + usize::from(status / 100) - 1]);
    own.into_iter().chain(class)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_are_indexed_by_id() {
        for (i, o) in OPS.iter().enumerate() {
            assert_eq!(usize::from(o.id), i);
        }
        for (i, e) in EVENTS.iter().enumerate() {
            assert_eq!(usize::from(e.id), i);
        }
        for (i, s) in STATUSES.iter().enumerate() {
            assert_eq!(EVENTS[REQUESTS.len() + i].name, s.to_string());
        }
        let names: Vec<&str> = response_events(486).map(|e| e.name).collect();
        assert_eq!(names, ["486", "4xx"]);
        let names: Vec<&str> = response_events(499).map(|e| e.name).collect();
        assert_eq!(names, ["4xx"]);
        assert_eq!(request_event("BYE").unwrap().name, "BYE");
        assert!(request_event("OPTIONS").is_none());
        assert_eq!(VOCABULARY.code("Busy Here").unwrap().number, 486);
        assert_eq!(op_spec(op::BYE).name, "bye");
        // Every code name is the reason phrase the UA itself uses.
        for c in CODES.iter() {
            assert_eq!(super::super::ua::reason(c.number as u16), c.name);
        }
    }
}
