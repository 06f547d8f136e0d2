//! Param errors (§P-2.5, §P-4.5): mistyped and over-long params answer 414 naming the
//! param and change nothing; the limits themselves are accepted; null means absent and
//! unknown params are ignored.

mod common;

use common::fixtures::Observer;
use common::*;
use serde_json::{Value, json};
use sigbench::protocol::Code;

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
