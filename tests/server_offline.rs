//! Offline events (§P-7) and multi-device delivery (§P-8): what is stored, the order of
//! `unreadSync`, redelivery until `markRead`, the per-account cap, the pushToken
//! registration, and the channel rendered at delivery.

mod common;

use common::*;
use serde_json::{Value, json};
use sigbench::protocol::Code;
use sigbench::server::ServerConfig;

fn msgids(events: &[Value]) -> Vec<Value> {
    events.iter().map(|e| e["msgid"].clone()).collect()
}

fn types(events: &[Value]) -> Vec<String> {
    events
        .iter()
        .map(|e| e["eventType"].as_str().unwrap_or_default().to_string())
        .collect()
}

#[tokio::test]
async fn events_are_stored_only_with_offline_enabled() {
    let server = start_server().await;
    let (alice, bob) = (acct("alice"), acct("bob"));
    let mut a = server.online(&alice).await;
    let ch = a.ok("create", json!({"type": 1})).await["channel"].clone();
    let cid = &ch["channelId"];
    a.expect_code(
        "invite",
        json!({"channelId": cid, "account": bob, "requestId": "not-stored"}),
        Code::PeerNimOffline,
    )
    .await;
    a.expect_code(
        "invite",
        json!({"channelId": cid, "account": bob, "requestId": "stored", "offlineEnabled": true,
               "attachExt": "x", "pushInfo": {"needBadge": false}}),
        Code::PeerNimOffline,
    )
    .await;
    let mut b = server.connect().await;
    let s = b.login(&bob).await;
    assert_eq!(s.unread.len(), 1, "{:?}", s.unread);
    let ev = &s.unread[0];
    assert_event(ev, "INVITE", &alice);
    assert_eq!(ev["to"], bob);
    assert_eq!(ev["requestId"], "stored");
    assert_eq!(ev["attachExt"], "x");
    assert_eq!(ev["pushInfo"]["needBadge"], false);
    assert_eq!(ev["pushInfo"]["needPush"], false);
    assert_eq!(ev["channel"]["invalid"], false);
    b.expect_no_frame(QUIET).await;
}

#[tokio::test]
async fn every_event_type_but_control_is_stored_oldest_first() {
    let server = start_server().await;
    let (alice, bob, carol) = (acct("alice"), acct("bob"), acct("carol"));
    let mut a = server.online(&alice).await;
    let mut c = server.online(&carol).await;
    let mut b = server.online(&bob).await;

    // Bob is a member of `room`, then goes offline.
    let room = a.ok("create", json!({"type": 1})).await["channel"]["channelId"].clone();
    a.ok("join", json!({"channelId": room})).await;
    b.ok("join", json!({"channelId": room})).await;
    a.expect_event("ROOM_JOIN").await;
    server.go_offline(b).await;

    // INVITE and CANCEL_INVITE on another channel.
    let room2 = a.ok("create", json!({"type": 2})).await["channel"]["channelId"].clone();
    let r1 = json!({"channelId": room2, "account": bob, "requestId": "r1", "offlineEnabled": true});
    a.expect_code("invite", r1.clone(), Code::PeerNimOffline)
        .await;
    a.ok("cancel", r1).await;
    // ROOM_JOIN, then a CONTROL (never stored), then LEAVE.
    c.ok(
        "join",
        json!({"channelId": room, "offlineEnabled": true, "attachExt": "hello"}),
    )
    .await;
    a.expect_event("ROOM_JOIN").await;
    c.ok(
        "control",
        json!({"channelId": room, "offlineEnabled": true, "attachExt": "ctl"}),
    )
    .await;
    a.expect_event("CONTROL").await;
    c.ok("leave", json!({"channelId": room, "offlineEnabled": true}))
        .await;
    a.expect_event("LEAVE").await;
    // Without offlineEnabled nothing is stored.
    c.ok("join", json!({"channelId": room})).await;
    a.expect_event("ROOM_JOIN").await;
    // ROOM_CLOSE.
    a.ok("close", json!({"channelId": room, "offlineEnabled": true}))
        .await;
    c.expect_event("ROOM_CLOSE").await;

    let mut b = server.connect().await;
    let s = b.login(&bob).await;
    assert_eq!(
        types(&s.unread),
        [
            "INVITE",
            "CANCEL_INVITE",
            "ROOM_JOIN",
            "LEAVE",
            "ROOM_CLOSE"
        ],
        "{:?}",
        s.unread
    );
    assert_event(&s.unread[0], "INVITE", &alice);
    assert_event(&s.unread[1], "CANCEL_INVITE", &alice);
    assert_event(&s.unread[2], "ROOM_JOIN", &carol);
    assert_eq!(s.unread[2]["attachExt"], "hello");
    assert_event(&s.unread[3], "LEAVE", &carol);
    assert_event(&s.unread[4], "ROOM_CLOSE", &alice);
    assert!(
        s.unread
            .windows(2)
            .all(|w| w[0]["time"].as_u64() <= w[1]["time"].as_u64()),
        "oldest first: {:?}",
        s.unread
    );
}

#[tokio::test]
async fn reject_and_accept_to_an_offline_inviter_are_stored_but_syncs_are_not() {
    let server = start_server().await;
    let (bob, carol) = (acct("bob"), acct("carol"));
    let mut b = server.online(&bob).await;
    let mut c1 = server.online_on(&carol, "d1").await;
    let mut c2 = server.online_on(&carol, "d2").await;
    let ch = b.ok("create", json!({"type": 1})).await["channel"]["channelId"].clone();
    for r in ["r1", "r2"] {
        b.ok(
            "invite",
            json!({"channelId": ch, "account": carol, "requestId": r}),
        )
        .await;
        c1.expect_event("INVITE").await;
        c2.expect_event("INVITE").await;
    }
    server.go_offline(b).await;
    c1.expect_code(
        "reject",
        json!({"channelId": ch, "account": bob, "requestId": "r1", "offlineEnabled": true}),
        Code::PeerNimOffline,
    )
    .await;
    let reject = c2.expect_sync("REJECT").await;
    c1.expect_code(
        "accept",
        json!({"channelId": ch, "account": bob, "requestId": "r2", "offlineEnabled": true,
               "attachExt": "ok"}),
        Code::PeerNimOffline,
    )
    .await;
    let accept = c2.expect_sync("ACCEPT").await;

    let mut b = server.connect().await;
    let s = b.login(&bob).await;
    assert_eq!(types(&s.unread), ["REJECT", "ACCEPT"], "{:?}", s.unread);
    assert_eq!(
        msgids(&s.unread),
        [reject["msgid"].clone(), accept["msgid"].clone()]
    );
    assert_event(&s.unread[1], "ACCEPT", &carol);
    assert_eq!(s.unread[1]["to"], bob);
    assert_eq!(s.unread[1]["attachExt"], "ok");
    // multiClientSync is never stored: a later device of carol gets nothing unread.
    let mut c3 = server.connect().await;
    let s = c3.login_on(&carol, "d3").await;
    assert!(s.unread.is_empty(), "{:?}", s.unread);
    c1.expect_no_frame(QUIET).await;
}

#[tokio::test]
async fn unread_events_come_back_at_every_login_until_mark_read() {
    let server = start_server().await;
    let (alice, bob) = (acct("alice"), acct("bob"));
    let mut a = server.online(&alice).await;
    let ch = a.ok("create", json!({"type": 1})).await["channel"]["channelId"].clone();
    for r in ["r1", "r2", "r3"] {
        a.expect_code(
            "invite",
            json!({"channelId": ch, "account": bob, "requestId": r, "offlineEnabled": true}),
            Code::PeerNimOffline,
        )
        .await;
    }
    let mut d1 = server.connect().await;
    let first = d1.login_on(&bob, "d1").await.unread;
    assert_eq!(first.len(), 3);
    let ids = msgids(&first);
    let request_ids: Vec<_> = first.iter().map(|e| e["requestId"].clone()).collect();
    assert_eq!(request_ids, [json!("r1"), json!("r2"), json!("r3")]);

    // Again at the next login (another device here), same msgids, same order.
    let mut d2 = server.connect().await;
    assert_eq!(msgids(&d2.login_on(&bob, "d2").await.unread), ids);
    d1.close().await;
    let mut d1 = server.connect().await;
    assert_eq!(msgids(&d1.login_on(&bob, "d1").await.unread), ids);

    // markRead from any device; unknown ids are ignored; 200 without data.
    let r = d2
        .request(
            "markRead",
            json!({"msgids": [ids[0], "no-such-msgid", ids[1]]}),
        )
        .await;
    assert_code(&r, Code::Ok, "markRead");
    assert!(r.get("data").is_none_or(Value::is_null), "{r}");
    let mut d3 = server.connect().await;
    assert_eq!(
        msgids(&d3.login_on(&bob, "d3").await.unread),
        [ids[2].clone()]
    );
    d1.ok("markRead", json!({"msgids": [ids[2]]})).await;
    d1.ok("markRead", json!({"msgids": []})).await;
    let mut d4 = server.connect().await;
    assert!(d4.login_on(&bob, "d4").await.unread.is_empty());
}

#[tokio::test]
async fn control_is_never_stored() {
    let server = start_server().await;
    let (alice, bob) = (acct("alice"), acct("bob"));
    let mut a = server.online(&alice).await;
    let mut b = server.online(&bob).await;
    let ch = a.ok("create", json!({"type": 1})).await["channel"]["channelId"].clone();
    b.ok("join", json!({"channelId": ch})).await;
    server.go_offline(b).await;
    a.expect_code(
        "control",
        json!({"channelId": ch, "account": bob, "offlineEnabled": true}),
        Code::PeerNimOffline,
    )
    .await;
    a.ok(
        "control",
        json!({"channelId": ch, "offlineEnabled": true, "attachExt": "x"}),
    )
    .await;
    let mut b = server.connect().await;
    let s = b.login(&bob).await;
    assert!(s.unread.is_empty(), "{:?}", s.unread);
    assert_eq!(s.channels.len(), 1, "bob is still a member");
}

#[tokio::test]
async fn a_stored_invite_shows_its_channel_closed_since() {
    let server = start_server().await;
    let (alice, bob) = (acct("alice"), acct("bob"));
    let mut a = server.online(&alice).await;
    let ch = a.ok("create", json!({"type": 1})).await["channel"]["channelId"].clone();
    a.expect_code(
        "invite",
        json!({"channelId": ch, "account": bob, "requestId": "r", "offlineEnabled": true}),
        Code::PeerNimOffline,
    )
    .await;
    a.ok("close", json!({"channelId": ch})).await;
    let mut b = server.connect().await;
    let s = b.login(&bob).await;
    assert_eq!(s.unread.len(), 1);
    assert_event(&s.unread[0], "INVITE", &alice);
    assert_eq!(s.unread[0]["channel"]["channelId"], ch);
    assert_eq!(
        s.unread[0]["channel"]["invalid"], true,
        "rendered at delivery"
    );
    b.expect_code(
        "accept",
        json!({"channelId": ch, "account": alice, "requestId": "r"}),
        Code::RoomNotExists,
    )
    .await;
}

#[tokio::test]
async fn the_per_account_cap_drops_the_oldest_and_counts_them() {
    let server = start_server_with(ServerConfig {
        max_offline: 3,
        ..ServerConfig::default()
    })
    .await;
    let (alice, bob) = (acct("alice"), acct("bob"));
    let mut a = server.online(&alice).await;
    let ch = a.ok("create", json!({"type": 1})).await["channel"]["channelId"].clone();
    let before = server.metrics().await;
    for i in 1..=5 {
        a.expect_code(
            "invite",
            json!({"channelId": ch, "account": bob, "requestId": format!("r{i}"), "offlineEnabled": true}),
            Code::PeerNimOffline,
        )
        .await;
    }
    let mut b = server.connect().await;
    let s = b.login(&bob).await;
    let kept: Vec<_> = s.unread.iter().map(|e| e["requestId"].clone()).collect();
    assert_eq!(kept, [json!("r3"), json!("r4"), json!("r5")]);
    let after = server.metrics().await;
    let delta = |name: &str| after.get(name, &[]) - before.get(name, &[]);
    assert_eq!(delta("sigbench_events_dropped_total"), 2.0);
    assert_eq!(delta("sigbench_events_stored_total"), 5.0);
}

#[tokio::test]
async fn a_push_token_registration_outlives_the_connection() {
    let server = start_server().await;
    let (alice, bob, carol) = (acct("alice"), acct("bob"), acct("carol"));
    let mut a = server.online(&alice).await;
    let ch = a.ok("create", json!({"type": 1})).await["channel"]["channelId"].clone();
    let push = json!({"needPush": true});

    let mut b = server.connect().await;
    let token = b.token(&bob);
    b.login_with(json!({"account": bob, "token": token, "pushToken": "apns-123"}))
        .await;
    server.go_offline(b).await;
    a.expect_code(
        "invite",
        json!({"channelId": ch, "account": bob, "requestId": "r1", "pushInfo": push}),
        Code::PeerNimOffline,
    )
    .await;
    // A later login without a pushToken does not remove the registration.
    let b = server.online(&bob).await;
    server.go_offline(b).await;
    a.expect_code(
        "invite",
        json!({"channelId": ch, "account": bob, "requestId": "r2", "pushInfo": push}),
        Code::PeerNimOffline,
    )
    .await;
    // An account that never registered one: 10202.
    let c = server.online(&carol).await;
    server.go_offline(c).await;
    a.expect_code(
        "invite",
        json!({"channelId": ch, "account": carol, "requestId": "r3", "pushInfo": push}),
        Code::PeerPushOffline,
    )
    .await;
}

#[tokio::test]
async fn a_call_to_an_offline_account_stores_its_invite() {
    let server = start_server().await;
    let (alice, bob) = (acct("alice"), acct("bob"));
    let mut a = server.online(&alice).await;
    let r = a
        .expect_code(
            "call",
            json!({"type": 2, "account": bob, "requestId": "call-1", "offlineEnabled": true,
                   "attachExt": "ring"}),
            Code::PeerNimOffline,
        )
        .await;
    let cid = r["data"]["channel"]["channelId"].clone();
    let mut b = server.connect().await;
    let s = b.login(&bob).await;
    assert_eq!(s.unread.len(), 1, "{:?}", s.unread);
    assert_event(&s.unread[0], "INVITE", &alice);
    assert_eq!(s.unread[0]["attachExt"], "ring");
    assert_eq!(s.unread[0]["channel"]["channelId"], cid);
    let joined = b
        .ok(
            "accept",
            json!({"channelId": cid, "account": alice, "requestId": "call-1", "autoJoin": true}),
        )
        .await;
    assert_eq!(joined["members"].as_array().unwrap().len(), 2);
}
