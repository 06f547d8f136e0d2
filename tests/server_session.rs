//! Sessions (§P-3): login first, param checks before the token, AUTH_FAILED and close
//! 1008, open mode, the login response and its two syncs, multi-device and kick.

mod common;

use common::*;
use serde_json::json;
use sigbench::protocol::Code;
use sigbench::server::{Auth, ServerConfig};

#[tokio::test]
async fn login_answers_then_sends_channels_sync_then_unread_sync() {
    let server = start_server().await;
    let alice = acct("alice");
    let mut c = server.connect().await;
    let before = now_ms();
    // login_with asserts the frame order itself: response, channelsSync, unreadSync.
    let session = c.login(&alice).await;
    let data = &session.response["data"];
    assert_eq!(data["account"], alice);
    assert_eq!(
        data["device"], "default",
        "P-3.2 device defaults to \"default\""
    );
    let server_time = data["serverTime"]
        .as_u64()
        .expect("serverTime is an integer");
    assert!(server_time + 1000 >= before && server_time <= now_ms() + 1000);
    assert!(session.channels.is_empty());
    assert!(session.unread.is_empty());
    c.expect_no_frame(QUIET).await;
}

#[tokio::test]
async fn ops_before_login_are_not_logged_in() {
    let server = start_server().await;
    let mut c = server.connect().await;
    for op in ["create", "query", "markRead", "control", "call"] {
        let r = c.request(op, json!({"type": 1})).await;
        assert_code(&r, Code::NotLoggedIn, op);
    }
    // 401 comes before param validation (P-2.6): bad params still answer 401.
    let r = c.request("join", json!({"channelId": 5})).await;
    assert_code(&r, Code::NotLoggedIn, "join with bad params before login");
    // The connection stays usable.
    c.login(&acct("alice")).await;
    c.ok("create", json!({"type": 1})).await;
}

#[tokio::test]
async fn second_login_is_414_before_params_and_keeps_the_first_session() {
    let server = start_server().await;
    let alice = acct("alice");
    let mut c = server.online(&alice).await;
    let r = c.request("login", json!({})).await;
    assert_code(&r, Code::ParamError, "second login with no params");
    let bob = acct("bob");
    let r = c
        .request("login", json!({"account": bob, "token": "t"}))
        .await;
    assert_code(&r, Code::ParamError, "second login with valid params");
    let data = c.ok("create", json!({"type": 2})).await;
    assert_eq!(
        data["channel"]["creator"], alice,
        "the first session is intact"
    );
    c.expect_no_frame(QUIET).await;
}

#[tokio::test]
async fn login_params_are_validated() {
    let server = start_server().await;
    let mut c = server.connect().await;
    let cases = [
        (json!({"token": "t"}), "account"),
        (json!({"account": "", "token": "t"}), "account"),
        (json!({"account": "a b", "token": "t"}), "account"),
        (json!({"account": "x".repeat(65), "token": "t"}), "account"),
        (json!({"account": 7, "token": "t"}), "account"),
        (json!({"account": "alice"}), "token"),
        (json!({"account": "alice", "token": 1}), "token"),
        (
            json!({"account": "alice", "token": "t", "device": ""}),
            "device",
        ),
        (
            json!({"account": "alice", "token": "t", "device": "d/1"}),
            "device",
        ),
        (
            json!({"account": "alice", "token": "t", "pushToken": ""}),
            "pushToken",
        ),
        (
            json!({"account": "alice", "token": "t", "pushToken": 3}),
            "pushToken",
        ),
    ];
    for (params, param) in cases {
        let r = c.request("login", params.clone()).await;
        assert_param_error(&r, param);
    }
    // None of those logged in; the boundary values do.
    let r = c.request("create", json!({"type": 1})).await;
    assert_code(&r, Code::NotLoggedIn, "after failed logins");
    let account = format!("{}.@_-{}", "a".repeat(40), acct("z"));
    let account: String = account.chars().take(64).collect();
    let s = c
        .login_with(json!({"account": account, "token": "t", "device": "d.1", "pushToken": null, "extra": [1]}))
        .await;
    assert_eq!(s.response["data"]["device"], "d.1");
}

#[tokio::test]
async fn wrong_token_is_auth_failed_then_close_1008() {
    let server = start_server_with(ServerConfig {
        auth: Auth::Secret("s3cret".into()),
        ..ServerConfig::default()
    })
    .await;
    let alice = acct("alice");
    let mut observer = server.online(&acct("observer")).await;

    let mut c = server.connect().await;
    let r = c
        .request("login", json!({"account": alice, "token": "0".repeat(64)}))
        .await;
    assert_code(&r, Code::AuthFailed, "wrong token");
    c.expect_close(1008).await;

    // Exact comparison: the uppercase form of the right token is wrong too.
    let mut c = server.connect().await;
    let upper = sigbench::protocol::token::token_for("s3cret", &alice).to_uppercase();
    let r = c
        .request("login", json!({"account": alice, "token": upper}))
        .await;
    assert_code(&r, Code::AuthFailed, "uppercase token");
    c.expect_close(1008).await;

    // Another account's token does not work either.
    let mut c = server.connect().await;
    let other = sigbench::protocol::token::token_for("s3cret", "someone-else");
    let r = c
        .request("login", json!({"account": alice, "token": other}))
        .await;
    assert_code(&r, Code::AuthFailed, "token of another account");
    c.expect_close(1008).await;

    // The right token works, and others were never disturbed.
    let mut c = server.connect().await;
    c.login(&alice).await;
    observer.ok("create", json!({"type": 1})).await;
}

#[tokio::test]
async fn login_params_are_checked_before_the_token() {
    let server = start_server_with(ServerConfig {
        auth: Auth::Secret("s3cret".into()),
        ..ServerConfig::default()
    })
    .await;
    let mut c = server.connect().await;
    let r = c
        .request(
            "login",
            json!({"account": "alice", "token": "wrong", "device": "bad device"}),
        )
        .await;
    assert_param_error(&r, "device");
    // Still open and not logged in: a correct login works on the same connection.
    c.login(&acct("alice")).await;
}

#[tokio::test]
async fn open_mode_accepts_any_token_but_requires_one() {
    let server = start_server().await;
    let mut c = server.connect().await;
    let r = c.request("login", json!({"account": "alice"})).await;
    assert_param_error(&r, "token");
    let r = c
        .request("login", json!({"account": "alice", "token": ""}))
        .await;
    assert_param_error(&r, "token");
    c.login_with(json!({"account": acct("alice"), "token": "whatever"}))
        .await;
}

#[tokio::test]
async fn one_account_can_be_online_on_several_devices() {
    let server = start_server().await;
    let alice = acct("alice");
    let mut d1 = server.online_on(&alice, "d1").await;
    let mut d2 = server.online_on(&alice, "d2").await;
    // Neither device was kicked.
    all_quiet(&mut [&mut d1, &mut d2]).await;
    d1.ok("create", json!({"type": 1})).await;
    d2.ok("create", json!({"type": 1})).await;
}

#[tokio::test]
async fn same_account_and_device_kicks_the_older_connection() {
    let server = start_server().await;
    let alice = acct("alice");
    let bob = acct("bob");
    let mut old = server.online_on(&alice, "phone").await;
    let mut other_device = server.online_on(&alice, "laptop").await;
    let kicks_before = server.metrics().await.get("sigbench_kicks_total", &[]);

    let mut new = server.connect().await;
    let session = new.login_on(&alice, "phone").await;
    assert_eq!(session.response["data"]["device"], "phone");

    let kicked = old.expect_push("kicked").await;
    assert_eq!(
        kicked,
        json!({"push": "kicked", "reason": "LOGIN_ELSEWHERE"})
    );
    old.expect_close(4001).await;
    other_device.expect_no_frame(QUIET).await;

    // Events now reach the new connection and the other device, not the old one.
    let mut b = server.online(&bob).await;
    let ch = b.ok("create", json!({"type": 1})).await["channel"].clone();
    b.ok(
        "invite",
        json!({"channelId": ch["channelId"], "account": alice, "requestId": "r1"}),
    )
    .await;
    new.expect_event("INVITE").await;
    other_device.expect_event("INVITE").await;

    let kicks_after = server.metrics().await.get("sigbench_kicks_total", &[]);
    assert_eq!(kicks_after, kicks_before + 1.0);
}

#[tokio::test]
async fn channels_sync_lists_valid_channels_of_the_account_with_members() {
    let server = start_server().await;
    let alice = acct("alice");
    let bob = acct("bob");
    let mut a = server.online_on(&alice, "d1").await;
    let mut b = server.online(&bob).await;
    let kept = a
        .ok("create", json!({"type": 2, "channelName": acct("kept")}))
        .await["channel"]
        .clone();
    let closed = a.ok("create", json!({"type": 1})).await["channel"].clone();
    let not_member = a.ok("create", json!({"type": 1})).await["channel"].clone();
    a.ok("join", json!({"channelId": kept["channelId"], "uid": 7}))
        .await;
    b.ok("join", json!({"channelId": kept["channelId"]})).await;
    a.expect_event("ROOM_JOIN").await;
    a.ok("join", json!({"channelId": closed["channelId"]}))
        .await;
    a.ok("close", json!({"channelId": closed["channelId"]}))
        .await;
    let _ = not_member;

    // A second device's login gets the sync too (P-3.6).
    let mut d2 = server.connect().await;
    let session = d2.login_on(&alice, "d2").await;
    assert_eq!(session.channels.len(), 1, "{:?}", session.channels);
    let entry = &session.channels[0];
    assert_channel_with_members(entry);
    assert_eq!(entry["channel"]["channelId"], kept["channelId"]);
    assert_eq!(entry["channel"]["invalid"], false);
    let mut expected = vec![alice.clone(), bob.clone()];
    expected.sort();
    assert_eq!(member_accounts(entry), expected);
    let alice_member = entry["members"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["account"] == alice)
        .unwrap();
    assert_eq!(alice_member["uid"], 7);
}
