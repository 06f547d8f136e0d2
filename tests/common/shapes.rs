//! Shape checks for responses and the data of §P-4: codes, channels, members, events.

use serde_json::{Value, json};
use sigbench::protocol::Code;

use super::now_ms;

/// `resp` has `code` and its symbolic `message` (§P-2.2, §P-9); on 400, 414 and 500 it
/// also carries an `error` string (§P-2.6). That other codes carry none is checked by
/// `error_field_only_on_400_414_and_500` in `server_bad_input.rs`.
pub fn assert_code(resp: &Value, code: Code, context: &str) {
    assert!(
        resp["code"] == json!(code.number()) && resp["message"] == json!(code.name()),
        "{context}: expected {code}, got {resp}"
    );
    if matches!(code.number(), 400 | 414 | 500) {
        assert!(
            resp["error"].is_string(),
            "{context}: {code} carries an error string: {resp}"
        );
    }
}

/// `resp` is a 414 whose `error` names `param` (§P-2.5).
pub fn assert_param_error(resp: &Value, param: &str) {
    assert_code(resp, Code::ParamError, "param error");
    let error = resp["error"].as_str().unwrap_or_default();
    assert!(
        error.contains(&format!("'{param}'")),
        "414 error should name '{param}': {resp}"
    );
}

fn is_ms_time(v: &Value) -> bool {
    v.as_u64()
        .is_some_and(|t| t.abs_diff(now_ms()) < 60 * 60 * 1000)
}

/// A channel as §P-4.1 describes it.
pub fn assert_channel(ch: &Value) {
    let ok = ch["channelId"].as_str().is_some_and(|s| !s.is_empty())
        && ch["channelName"].as_str().is_some_and(|s| !s.is_empty())
        && matches!(ch["type"].as_u64(), Some(1..=3))
        && ch["ext"].is_string()
        && ch["creator"].is_string()
        && is_ms_time(&ch["createTime"])
        && ch["expireTime"].is_u64()
        && ch["invalid"].is_boolean();
    assert!(ok, "not a channel (P-4.1): {ch}");
}

/// A member as §P-4.2 describes it.
pub fn assert_member(m: &Value) {
    let ok = m["account"].is_string()
        && m["uid"].as_i64().is_some_and(|u| u > 0 && u <= 1 << 53)
        && is_ms_time(&m["joinTime"])
        && m["expireTime"].is_u64();
    assert!(ok, "not a member (P-4.2): {m}");
}

/// `{channel, members}` with a valid channel, its members' `expireTime` the channel's.
pub fn assert_channel_with_members(v: &Value) {
    assert_channel(&v["channel"]);
    let members = v["members"].as_array().expect("members is an array");
    for m in members {
        assert_member(m);
        assert_eq!(m["expireTime"], v["channel"]["expireTime"], "P-4.2: {v}");
    }
}

/// The accounts of `{members}`, sorted.
pub fn member_accounts(v: &Value) -> Vec<String> {
    let mut a: Vec<String> = v["members"]
        .as_array()
        .expect("members is an array")
        .iter()
        .map(|m| m["account"].as_str().unwrap_or_default().to_string())
        .collect();
    a.sort();
    a
}

const EVENT_KEYS: [&str; 10] = [
    "eventType",
    "msgid",
    "channel",
    "from",
    "to",
    "requestId",
    "attachExt",
    "member",
    "pushInfo",
    "time",
];

/// An event of `event_type` from `from`, following the field rules of §P-4.3.
pub fn assert_event(ev: &Value, event_type: &str, from: &str) {
    assert_eq!(ev["eventType"], event_type, "{ev}");
    assert_eq!(ev["from"], from, "P-4.3 from: {ev}");
    assert!(
        ev["msgid"].as_str().is_some_and(|s| !s.is_empty()),
        "msgid is a string: {ev}"
    );
    assert!(is_ms_time(&ev["time"]), "time: {ev}");
    assert_channel(&ev["channel"]);
    let object = ev.as_object().expect("event is an object");
    for key in object.keys() {
        assert!(
            EVENT_KEYS.contains(&key.as_str()),
            "undocumented key {key}: {ev}"
        );
    }
    let addressed = matches!(event_type, "INVITE" | "CANCEL_INVITE" | "REJECT" | "ACCEPT");
    assert_eq!(object.contains_key("to"), addressed, "P-4.3 to: {ev}");
    assert_eq!(
        object.contains_key("requestId"),
        addressed,
        "P-4.3 requestId: {ev}"
    );
    assert_eq!(
        object.contains_key("member"),
        event_type == "ROOM_JOIN",
        "P-4.3 member: {ev}"
    );
    if event_type == "ROOM_JOIN" {
        assert_member(&ev["member"]);
    }
    if event_type != "INVITE" {
        assert!(!object.contains_key("pushInfo"), "P-4.3 pushInfo: {ev}");
    }
}
