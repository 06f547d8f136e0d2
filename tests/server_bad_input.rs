//! Bad input (§P-1, §P-2): malformed frames, unknown ops, mistyped and over-long params,
//! deep nesting, binary and oversized frames. After every case another client on the same
//! server must still be served.

mod common;

use common::*;
use serde_json::{Value, json};
use sigbench::protocol::Code;

/// A logged-in client that must keep working while others misbehave.
struct Observer(Client);

impl Observer {
    async fn new(server: &TestServer) -> Observer {
        Observer(server.online(&acct("observer")).await)
    }

    async fn still_served(&mut self) {
        let data = self.0.ok("create", json!({"type": 1})).await;
        assert_channel(&data["channel"]);
        self.0.expect_no_frame(std::time::Duration::ZERO).await;
    }
}

fn assert_bad_frame(resp: &Value, id: Value, context: &str) {
    assert_code(resp, Code::BadFrame, context);
    assert_eq!(resp["id"], id, "{context}: id of {resp}");
    assert!(
        resp["error"].as_str().is_some_and(|e| !e.is_empty()),
        "{context}: BAD_FRAME carries an error string: {resp}"
    );
}

/// Sends `text` raw and returns the next frame.
async fn send_raw(c: &mut Client, text: &str) -> Value {
    c.send_text(text).await;
    c.recv().await
}

#[tokio::test]
async fn frames_that_are_not_json_objects_are_bad_frames_with_a_null_id() {
    let server = start_server().await;
    let mut observer = Observer::new(&server).await;
    for logged_in in [false, true] {
        let mut c = if logged_in {
            server.online(&acct("alice")).await
        } else {
            server.connect().await
        };
        for text in [
            "nope",
            "{",
            "",
            "{\"id\":1,",
            "[1]",
            "\"s\"",
            "42",
            "null",
            "true",
        ] {
            let r = send_raw(&mut c, text).await;
            assert_bad_frame(&r, Value::Null, text);
            observer.still_served().await;
        }
        // The connection stays open.
        if logged_in {
            c.ok("create", json!({"type": 1})).await;
        } else {
            c.login(&acct("alice")).await;
        }
    }
}

#[tokio::test]
async fn a_missing_or_invalid_id_is_a_bad_frame_with_a_null_id() {
    let server = start_server().await;
    let mut observer = Observer::new(&server).await;
    let mut c = server.online(&acct("alice")).await;
    for text in [
        r#"{"op":"create","params":{"type":1}}"#,
        r#"{"id":null,"op":"create","params":{"type":1}}"#,
        r#"{"id":-1,"op":"create","params":{"type":1}}"#,
        r#"{"id":1.5,"op":"create","params":{"type":1}}"#,
        r#"{"id":"7","op":"create","params":{"type":1}}"#,
        r#"{"id":18446744073709551616,"op":"create","params":{"type":1}}"#,
        r#"{"id":[1],"op":"create","params":{"type":1}}"#,
    ] {
        let r = send_raw(&mut c, text).await;
        assert_bad_frame(&r, Value::Null, text);
        observer.still_served().await;
    }
    // The largest id is valid and echoed.
    let r = send_raw(
        &mut c,
        r#"{"id":18446744073709551615,"op":"query","params":{"channelId":"none"}}"#,
    )
    .await;
    assert_code(&r, Code::RoomNotExists, "id u64::MAX");
    assert_eq!(r["id"], json!(u64::MAX));
    let r = send_raw(
        &mut c,
        r#"{"id":0,"op":"query","params":{"channelId":"none"}}"#,
    )
    .await;
    assert_eq!(r["id"], 0);
}

#[tokio::test]
async fn a_bad_op_or_params_field_is_a_bad_frame_with_the_id() {
    let server = start_server().await;
    let mut observer = Observer::new(&server).await;
    let mut c = server.online(&acct("alice")).await;
    for text in [
        r#"{"id":3}"#,
        r#"{"id":3,"op":null}"#,
        r#"{"id":3,"op":7}"#,
        r#"{"id":3,"op":["create"]}"#,
        r#"{"id":3,"op":"create","params":[]}"#,
        r#"{"id":3,"op":"create","params":"type=1"}"#,
        r#"{"id":3,"op":"create","params":1}"#,
    ] {
        let r = send_raw(&mut c, text).await;
        assert_bad_frame(&r, json!(3), text);
        observer.still_served().await;
    }
    // params null or omitted: the op's own validation answers.
    let r = send_raw(&mut c, r#"{"id":4,"op":"markRead","params":null}"#).await;
    assert_param_error(&r, "msgids");
    let r = send_raw(&mut c, r#"{"id":5,"op":"markRead"}"#).await;
    assert_param_error(&r, "msgids");
    assert_eq!(r["id"], 5);
}

#[tokio::test]
async fn an_unknown_op_is_unknown_op_even_before_login() {
    let server = start_server().await;
    let mut observer = Observer::new(&server).await;
    let mut fresh = server.connect().await;
    let mut c = server.online(&acct("alice")).await;
    for client in [&mut fresh, &mut c] {
        for op in ["Login", "CREATE", "nope", "", "mark_read"] {
            let r = client.request(op, json!({})).await;
            assert_code(&r, Code::UnknownOp, op);
            assert!(r["error"].is_string(), "UNKNOWN_OP carries an error: {r}");
            observer.still_served().await;
        }
    }
    fresh.login(&acct("bob")).await;
}

/// P-2.6: the frame shape (BAD_FRAME) is checked before the op name (UNKNOWN_OP), so a
/// frame with an unknown op and params that are neither an object nor null is a BAD_FRAME.
///
/// KNOWN SERVER DEVIATION (fails against the reference server as of its first version):
/// it answers UNKNOWN_OP, because `protocol::frame::parse_request` looks the op name up
/// before it checks the type of `params`.
#[tokio::test]
async fn bad_frame_is_checked_before_unknown_op() {
    let server = start_server().await;
    let mut c = server.online(&acct("alice")).await;
    let r = send_raw(&mut c, r#"{"id":6,"op":"nope","params":[1]}"#).await;
    assert_bad_frame(&r, json!(6), "unknown op with array params");
    let r = send_raw(&mut c, r#"{"op":"nope"}"#).await;
    assert_bad_frame(&r, Value::Null, "unknown op without id");
}

#[tokio::test]
async fn mistyped_params_are_414_naming_the_param() {
    let server = start_server().await;
    let mut observer = Observer::new(&server).await;
    let mut c = server.online(&acct("alice")).await;
    let b = acct("bob");
    let cases = [
        ("create", json!({}), "type"),
        ("create", json!({"type": "2"}), "type"),
        ("create", json!({"type": 4}), "type"),
        ("create", json!({"type": 0}), "type"),
        ("create", json!({"type": 1.0}), "type"),
        (
            "create",
            json!({"type": 1, "channelName": 5}),
            "channelName",
        ),
        ("create", json!({"type": 1, "ext": {}}), "ext"),
        ("join", json!({"channelId": 5}), "channelId"),
        ("join", json!({"channelId": ""}), "channelId"),
        ("join", json!({"channelId": "c", "uid": 1.5}), "uid"),
        ("join", json!({"channelId": "c", "uid": "1"}), "uid"),
        (
            "join",
            json!({"channelId": "c", "offlineEnabled": "yes"}),
            "offlineEnabled",
        ),
        (
            "join",
            json!({"channelId": "c", "attachExt": 1}),
            "attachExt",
        ),
        ("leave", json!({}), "channelId"),
        (
            "close",
            json!({"channelId": "c", "offlineEnabled": 1}),
            "offlineEnabled",
        ),
        ("delay", json!({}), "channelId"),
        (
            "invite",
            json!({"channelId": "c", "requestId": "r"}),
            "account",
        ),
        (
            "invite",
            json!({"channelId": "c", "account": "a b", "requestId": "r"}),
            "account",
        ),
        (
            "invite",
            json!({"channelId": "c", "account": b}),
            "requestId",
        ),
        (
            "invite",
            json!({"channelId": "c", "account": b, "requestId": ""}),
            "requestId",
        ),
        (
            "invite",
            json!({"channelId": "c", "account": b, "requestId": "r", "pushInfo": "x"}),
            "pushInfo",
        ),
        (
            "invite",
            json!({"channelId": "c", "account": b, "requestId": "r", "pushInfo": {"needPush": "yes"}}),
            "pushInfo",
        ),
        (
            "invite",
            json!({"channelId": "c", "account": b, "requestId": "r", "pushInfo": {"pushPayload": "{not json"}}),
            "pushInfo",
        ),
        (
            "invite",
            json!({"channelId": "c", "account": b, "requestId": "r", "pushInfo": {"pushPayload": 3}}),
            "pushInfo",
        ),
        (
            "cancel",
            json!({"channelId": "c", "account": b, "requestId": 1}),
            "requestId",
        ),
        (
            "reject",
            json!({"channelId": "c", "account": 1, "requestId": "r"}),
            "account",
        ),
        (
            "accept",
            json!({"channelId": "c", "account": b, "requestId": "r", "autoJoin": 1}),
            "autoJoin",
        ),
        (
            "accept",
            json!({"channelId": "c", "account": b, "requestId": "r", "joinAttachExt": []}),
            "joinAttachExt",
        ),
        ("call", json!({"account": b, "requestId": "r"}), "type"),
        ("call", json!({"type": 1, "requestId": "r"}), "account"),
        (
            "control",
            json!({"channelId": "c", "account": ""}),
            "account",
        ),
        ("markRead", json!({"msgids": "m"}), "msgids"),
        ("markRead", json!({"msgids": [1]}), "msgids"),
    ];
    for (op, params, param) in cases {
        let r = c.request(op, params.clone()).await;
        assert!(
            r["error"]
                .as_str()
                .is_some_and(|e| e.contains(&format!("'{param}'"))),
            "{op} {params}: expected 414 naming '{param}', got {r}"
        );
        assert_param_error(&r, param);
    }
    observer.still_served().await;
    let r = c.request("join", json!({})).await;
    assert_eq!(r["error"], "param 'channelId': missing");
}

#[tokio::test]
async fn over_long_params_are_414_and_the_limits_themselves_are_accepted() {
    let server = start_server().await;
    let mut observer = Observer::new(&server).await;
    let alice = acct("alice");
    let bob = acct("bob");
    let mut c = server.online(&alice).await;
    let mut b = server.online(&bob).await;
    let long = |n: usize| "é".repeat(n);

    let name = long(128);
    let ch = c
        .ok(
            "create",
            json!({"type": 1, "channelName": name, "ext": long(4096)}),
        )
        .await["channel"]["channelId"]
        .clone();
    c.ok("join", json!({"channelId": ch, "attachExt": long(4096)}))
        .await;
    c.ok(
        "invite",
        json!({"channelId": ch, "account": bob, "requestId": "r".repeat(128),
               "attachExt": long(4096),
               "pushInfo": {"pushTitle": long(32), "pushContent": long(500),
                            "pushPayload": {"k": "x".repeat(4088)}}}),
    )
    .await;
    let ev = b.expect_event("INVITE").await;
    assert_eq!(ev["requestId"].as_str().unwrap().len(), 128);

    let p = |extra: Value| {
        let mut base = json!({"channelId": ch, "account": bob, "requestId": "r2"});
        base.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        base
    };
    let cases = [
        (
            "create",
            json!({"type": 1, "channelName": long(129)}),
            "channelName",
        ),
        ("create", json!({"type": 1, "ext": long(4097)}), "ext"),
        (
            "join",
            json!({"channelId": ch, "attachExt": long(4097)}),
            "attachExt",
        ),
        (
            "leave",
            json!({"channelId": ch, "attachExt": long(4097)}),
            "attachExt",
        ),
        (
            "close",
            json!({"channelId": ch, "attachExt": long(4097)}),
            "attachExt",
        ),
        (
            "invite",
            p(json!({"requestId": "r".repeat(129)})),
            "requestId",
        ),
        ("invite", p(json!({"account": "a".repeat(65)})), "account"),
        ("invite", p(json!({"attachExt": long(4097)})), "attachExt"),
        (
            "invite",
            p(json!({"pushInfo": {"pushTitle": long(33)}})),
            "pushInfo",
        ),
        (
            "invite",
            p(json!({"pushInfo": {"pushContent": long(501)}})),
            "pushInfo",
        ),
        (
            "invite",
            p(json!({"pushInfo": {"pushPayload": {"k": "x".repeat(4089)}}})),
            "pushInfo",
        ),
        ("cancel", p(json!({"attachExt": long(4097)})), "attachExt"),
        ("reject", p(json!({"attachExt": long(4097)})), "attachExt"),
        (
            "accept",
            p(json!({"joinAttachExt": long(4097)})),
            "joinAttachExt",
        ),
        (
            "control",
            json!({"channelId": ch, "attachExt": long(4097)}),
            "attachExt",
        ),
        (
            "call",
            json!({"type": 1, "account": bob, "requestId": "r", "channelName": long(129)}),
            "channelName",
        ),
    ];
    for (op, params, param) in cases {
        let r = c.request(op, params.clone()).await;
        assert!(
            r["code"] == 414,
            "{op} with over-long {param}: expected 414, got {r}"
        );
        assert_param_error(&r, param);
    }
    // No state changed: the channel still stands, alice still a member, no events.
    let q = c.ok("query", json!({"channelId": ch})).await;
    assert_eq!(member_accounts(&q), vec![alice.clone()]);
    all_quiet(&mut [&mut b, &mut c]).await;
    observer.still_served().await;
}

#[tokio::test]
async fn a_414_changes_nothing_and_nulls_and_unknown_params_are_ignored() {
    let server = start_server().await;
    let mut c = server.online(&acct("alice")).await;
    let name = acct("room");
    let r = c
        .request("create", json!({"type": 9, "channelName": name}))
        .await;
    assert_param_error(&r, "type");
    c.expect_code("query", json!({"channelName": name}), Code::RoomNotExists)
        .await;
    let data = c
        .ok(
            "create",
            json!({"type": 1, "channelName": name, "ext": null, "unknown": {"a": [1, 2]}}),
        )
        .await;
    assert_eq!(data["channel"]["ext"], "");
}

#[tokio::test]
async fn deeply_nested_json_is_a_bad_frame_not_a_crash() {
    let server = start_server().await;
    let mut observer = Observer::new(&server).await;
    let mut c = server.online(&acct("alice")).await;
    let depth = 30_000;
    let text = format!("{}{}", "[".repeat(depth), "]".repeat(depth));
    let r = send_raw(&mut c, &text).await;
    assert_bad_frame(&r, Value::Null, "30000 nested arrays");
    observer.still_served().await;
    let inner = format!("{}1{}", "{\"a\":".repeat(10_000), "}".repeat(10_000));
    let text = format!(r#"{{"id":9,"op":"create","params":{{"type":1,"deep":{inner}}}}}"#);
    let r = send_raw(&mut c, &text).await;
    assert_code(&r, Code::BadFrame, "deep object inside params");
    observer.still_served().await;
    // Moderate nesting in an unknown param is just ignored.
    let inner = format!("{}1{}", "[".repeat(40), "]".repeat(40));
    let text = format!(r#"{{"id":10,"op":"create","params":{{"type":1,"deep":{inner}}}}}"#);
    let r = send_raw(&mut c, &text).await;
    assert_code(&r, Code::Ok, "moderately nested unknown param");
    c.ok("create", json!({"type": 1})).await;
}

#[tokio::test]
async fn a_binary_frame_closes_with_1003() {
    let server = start_server().await;
    let mut observer = Observer::new(&server).await;
    for logged_in in [false, true] {
        let mut c = if logged_in {
            server.online(&acct("alice")).await
        } else {
            server.connect().await
        };
        let text = json!({"id": 1, "op": "create", "params": {"type": 1}}).to_string();
        c.send_message(tokio_tungstenite::tungstenite::Message::binary(
            text.into_bytes(),
        ))
        .await;
        c.expect_close(1003).await;
        observer.still_served().await;
    }
}

/// A create request for `name`, padded with an ignored param to exactly `len` bytes.
fn create_of_len(id: u64, name: &str, len: usize) -> String {
    let base =
        json!({"id": id, "op": "create", "params": {"type": 1, "channelName": name, "pad": ""}})
            .to_string();
    assert!(base.len() <= len);
    let pad = "x".repeat(len - base.len());
    let text =
        json!({"id": id, "op": "create", "params": {"type": 1, "channelName": name, "pad": pad}})
            .to_string();
    assert_eq!(text.len(), len);
    text
}

#[tokio::test]
async fn a_message_of_exactly_the_limit_is_accepted_and_one_byte_more_closes_with_1009() {
    const LIMIT: usize = 65_536;
    let server = start_server().await;
    let mut observer = Observer::new(&server).await;
    let mut c = server.online(&acct("alice")).await;

    let fits = acct("fits");
    c.send_text(create_of_len(1_000, &fits, LIMIT)).await;
    let r = c.recv().await;
    assert_code(&r, Code::Ok, "a message of exactly 64 KiB");
    assert_eq!(r["id"], 1_000);

    let too_big = acct("too-big");
    c.send_text(create_of_len(1_001, &too_big, LIMIT + 1)).await;
    c.expect_close(1009).await;
    observer.still_served().await;
    // Not executed.
    observer
        .0
        .expect_code(
            "query",
            json!({"channelName": too_big}),
            Code::RoomNotExists,
        )
        .await;
    observer.0.ok("query", json!({"channelName": fits})).await;
}

#[tokio::test]
async fn the_limit_counts_fragments_after_reassembly() {
    const LIMIT: usize = 65_536;
    let server = start_server().await;
    let mut observer = Observer::new(&server).await;
    let mut c = server.online(&acct("alice")).await;

    let fits = acct("fits");
    let text = create_of_len(7, &fits, LIMIT);
    let parts: Vec<String> = [&text[..30_000], &text[30_000..60_000], &text[60_000..]]
        .map(str::to_string)
        .to_vec();
    c.send_fragments(&parts).await;
    let r = c.recv().await;
    assert_code(&r, Code::Ok, "a fragmented message of exactly 64 KiB");

    let too_big = acct("too-big");
    let text = create_of_len(8, &too_big, LIMIT + 1);
    let parts: Vec<String> = [&text[..30_000], &text[30_000..60_000], &text[60_000..]]
        .map(str::to_string)
        .to_vec();
    c.send_fragments(&parts).await;
    c.expect_close(1009).await;
    observer
        .0
        .expect_code(
            "query",
            json!({"channelName": too_big}),
            Code::RoomNotExists,
        )
        .await;
    observer.still_served().await;
}
