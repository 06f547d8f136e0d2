//! `call` (§P-6.5) with its rollback, `control` (§P-6.7), and the atomicity of
//! invitation transitions under a concurrent accept and cancel (§P-6).

mod common;

use std::sync::Arc;

use common::*;
use serde_json::{Value, json};
use sigbench::protocol::Code;
use sigbench::server::ServerConfig;
use tokio::sync::Barrier;

#[tokio::test]
async fn call_creates_joins_and_invites_in_one_operation() {
    let server = start_server().await;
    let (alice, bob) = (acct("alice"), acct("bob"));
    let mut a1 = server.online_on(&alice, "d1").await;
    let mut a2 = server.online_on(&alice, "d2").await;
    let mut b = server.online(&bob).await;
    let name = acct("call");
    let data = a1
        .ok(
            "call",
            json!({"type": 2, "channelName": name, "ext": "e", "uid": 7, "account": bob,
                   "requestId": "r1", "attachExt": "ring", "pushInfo": {"pushContent": "hi"}}),
        )
        .await;
    assert_channel_with_members(&data);
    let ch = &data["channel"];
    assert_eq!(ch["channelName"], name);
    assert_eq!(ch["type"], 2);
    assert_eq!(ch["ext"], "e");
    assert_eq!(ch["creator"], alice);
    assert_eq!(member_accounts(&data), vec![alice.clone()]);
    assert_eq!(data["members"][0]["uid"], 7);

    let ev = b.expect_event("INVITE").await;
    assert_event(&ev, "INVITE", &alice);
    assert_eq!(ev["to"], bob);
    assert_eq!(ev["requestId"], "r1");
    assert_eq!(
        ev["attachExt"], "ring",
        "the call's attachExt goes on the INVITE"
    );
    assert_eq!(ev["pushInfo"]["pushContent"], "hi");
    assert_eq!(ev["channel"]["channelId"], ch["channelId"]);
    // The caller's devices get nothing: no INVITE, no ROOM_JOIN.
    all_quiet(&mut [&mut a1, &mut a2]).await;

    // It is an ordinary invitation and channel.
    let joined = b
        .ok(
            "accept",
            json!({"channelId": ch["channelId"], "account": alice, "requestId": "r1", "autoJoin": true}),
        )
        .await;
    assert_eq!(joined["members"].as_array().unwrap().len(), 2);
    a1.expect_event("ACCEPT").await;
    a1.expect_event("ROOM_JOIN").await;
    // The name is taken while the call's channel is valid.
    b.expect_code(
        "call",
        json!({"type": 1, "channelName": name, "account": alice, "requestId": "r2"}),
        Code::RoomHasExists,
    )
    .await;
}

#[tokio::test]
async fn call_to_an_offline_account_keeps_the_channel_with_10201_or_10202() {
    let server = start_server().await;
    let mut a = server.online(&acct("alice")).await;
    let ghost = acct("ghost");
    for (request_id, push_info, code) in [
        ("r1", Value::Null, Code::PeerNimOffline),
        ("r2", json!({"needPush": true}), Code::PeerPushOffline),
    ] {
        let name = acct("call");
        let r = a
            .expect_code(
                "call",
                json!({"type": 1, "channelName": name, "account": ghost, "requestId": request_id,
                       "pushInfo": push_info}),
                code,
            )
            .await;
        assert_channel_with_members(&r["data"]);
        // The channel stands and the caller is in it.
        let q = a.ok("query", json!({"channelName": name})).await;
        assert_eq!(member_accounts(&q), vec![a.account.clone()]);
    }
}

#[tokio::test]
async fn call_rolls_back_when_the_invite_fails() {
    let server = start_server_with(ServerConfig {
        max_members: 1,
        ..ServerConfig::default()
    })
    .await;
    let (alice, bob) = (acct("alice"), acct("bob"));
    let mut a = server.online(&alice).await;
    let mut b = server.online(&bob).await;
    let name = acct("call");
    // With a limit of 1 the caller fills the channel: the invite answers 10419.
    let r = a
        .request(
            "call",
            json!({"type": 1, "channelName": name, "account": bob, "requestId": "r1"}),
        )
        .await;
    assert_code(&r, Code::RoomMemberExceed, "call into a channel of one");
    // Closed again: the name is free and nothing reached bob.
    a.expect_code("query", json!({"channelName": name}), Code::RoomNotExists)
        .await;
    b.expect_no_frame(QUIET).await;
    b.ok("create", json!({"type": 1, "channelName": name}))
        .await;
    a.expect_no_frame(QUIET).await;
}

#[tokio::test]
async fn call_to_oneself_rolls_back_with_10407() {
    let server = start_server().await;
    let alice = acct("alice");
    let mut a = server.online(&alice).await;
    let name = acct("call");
    a.expect_code(
        "call",
        json!({"type": 1, "channelName": name, "account": alice, "requestId": "r1"}),
        Code::RoomMemberHasExists,
    )
    .await;
    a.expect_code("query", json!({"channelName": name}), Code::RoomNotExists)
        .await;
    a.ok("create", json!({"type": 1, "channelName": name}))
        .await;
    // No channelsSync entry for a rolled-back call.
    let mut again = server.connect().await;
    let s = again.login_on(&alice, "d2").await;
    assert!(s.channels.is_empty(), "{:?}", s.channels);
}

/// Alice and bob (two devices) are members of a channel created by carol; dave is a
/// stranger.
struct Room {
    alice: String,
    bob: String,
    a1: Client,
    a2: Client,
    b1: Client,
    b2: Client,
    c: Client,
    d: Client,
    ch: Value,
}

async fn room(server: &TestServer) -> Room {
    let (alice, bob) = (acct("alice"), acct("bob"));
    let mut a1 = server.online_on(&alice, "d1").await;
    let mut a2 = server.online_on(&alice, "d2").await;
    let mut b1 = server.online_on(&bob, "d1").await;
    let b2 = server.online_on(&bob, "d2").await;
    let mut c = server.online(&acct("carol")).await;
    let d = server.online(&acct("dave")).await;
    let ch = c.ok("create", json!({"type": 3})).await["channel"].clone();
    a1.ok("join", json!({"channelId": ch["channelId"]})).await;
    b1.ok("join", json!({"channelId": ch["channelId"]})).await;
    a1.expect_event("ROOM_JOIN").await;
    a2.expect_event("ROOM_JOIN").await;
    Room {
        alice,
        bob,
        a1,
        a2,
        b1,
        b2,
        c,
        d,
        ch,
    }
}

impl Room {
    async fn quiet(&mut self) {
        all_quiet(&mut [
            &mut self.a1,
            &mut self.a2,
            &mut self.b1,
            &mut self.b2,
            &mut self.c,
            &mut self.d,
        ])
        .await;
    }
}

#[tokio::test]
async fn control_to_one_member_from_a_non_member() {
    let server = start_server().await;
    let mut r = room(&server).await;
    let data =
        r.d.ok(
            "control",
            json!({"channelId": r.ch["channelId"], "account": r.bob, "attachExt": "mute"}),
        )
        .await;
    assert!(data.is_null(), "control has no data: {data}");
    let e1 = r.b1.expect_event("CONTROL").await;
    let e2 = r.b2.expect_event("CONTROL").await;
    assert_eq!(e1, e2);
    assert_event(&e1, "CONTROL", &r.d.account);
    assert_eq!(e1["attachExt"], "mute");
    assert_eq!(e1["channel"]["channelId"], r.ch["channelId"]);
    r.quiet().await;
}

#[tokio::test]
async fn control_without_account_reaches_every_member_but_the_sender() {
    let server = start_server().await;
    let mut r = room(&server).await;
    // A member sends: its own devices get nothing, the other member's devices do.
    r.a2.ok("control", json!({"channelId": r.ch["channelId"]}))
        .await;
    for dev in [&mut r.b1, &mut r.b2] {
        let ev = dev.expect_event("CONTROL").await;
        assert_event(&ev, "CONTROL", &r.alice);
        assert!(ev.get("attachExt").is_none());
    }
    r.quiet().await;
    // A stranger sends: every member account's devices get it.
    r.d.ok(
        "control",
        json!({"channelId": r.ch["channelId"], "attachExt": "x"}),
    )
    .await;
    for dev in [&mut r.a1, &mut r.a2, &mut r.b1, &mut r.b2] {
        dev.expect_event("CONTROL").await;
    }
    r.quiet().await;
}

#[tokio::test]
async fn control_codes_and_their_order() {
    let server = start_server().await;
    let (alice, bob, dave, ghost) = (acct("alice"), acct("bob"), acct("dave"), acct("ghost"));
    let mut a = server.online(&alice).await;
    let mut b = server.online(&bob).await;
    let mut d = server.online(&dave).await;
    let ch = a.ok("create", json!({"type": 1})).await["channel"]["channelId"].clone();
    a.ok("join", json!({"channelId": ch})).await;
    b.ok("join", json!({"channelId": ch})).await;
    a.expect_event("ROOM_JOIN").await;

    a.expect_code(
        "control",
        json!({"channelId": "nope", "account": bob}),
        Code::RoomNotExists,
    )
    .await;
    // Target not a member, online or not: 10406 (before the online check).
    for target in [&dave, &ghost] {
        a.expect_code(
            "control",
            json!({"channelId": ch, "account": target}),
            Code::RoomMemberNotExists,
        )
        .await;
    }
    // Target a member with no online device: 10201.
    server.go_offline(b).await;
    a.expect_code(
        "control",
        json!({"channelId": ch, "account": bob}),
        Code::PeerNimOffline,
    )
    .await;
    all_quiet(&mut [&mut a, &mut d]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_accept_and_cancel_exactly_one_wins() {
    const ROUNDS: usize = 200;
    let server = start_server().await;
    let (alice, bob) = (acct("alice"), acct("bob"));
    let mut a = server.online(&alice).await;
    let b = server.online(&bob).await;
    let ch = a.ok("create", json!({"type": 1})).await["channel"]["channelId"].clone();
    let barrier = Arc::new(Barrier::new(2));

    let inviter = {
        let barrier = barrier.clone();
        let (ch, bob) = (ch.clone(), bob.clone());
        tokio::spawn(async move {
            let mut codes = Vec::with_capacity(ROUNDS);
            for i in 0..ROUNDS {
                let params = json!({"channelId": ch, "account": bob, "requestId": format!("r{i}")});
                a.ok("invite", params.clone()).await;
                barrier.wait().await;
                codes.push(a.request("cancel", params).await["code"].clone());
                a.take_pending();
            }
            (a, codes)
        })
    };
    let invitee = {
        let barrier = barrier.clone();
        let (ch, alice) = (ch.clone(), alice.clone());
        let mut b = b;
        tokio::spawn(async move {
            let mut codes = Vec::with_capacity(ROUNDS);
            for i in 0..ROUNDS {
                let params =
                    json!({"channelId": ch, "account": alice, "requestId": format!("r{i}")});
                barrier.wait().await;
                codes.push(b.request("accept", params).await["code"].clone());
                b.take_pending();
            }
            (b, codes)
        })
    };
    let timeout = std::time::Duration::from_secs(20);
    let (mut a, cancels) = tokio::time::timeout(timeout, inviter)
        .await
        .expect("inviter finished in time")
        .expect("inviter task");
    let (mut b, accepts) = tokio::time::timeout(timeout, invitee)
        .await
        .expect("invitee finished in time")
        .expect("invitee task");

    let (mut accepted, mut cancelled) = (0, 0);
    for i in 0..ROUNDS {
        let params_a = json!({"channelId": ch, "account": bob, "requestId": format!("r{i}")});
        let params_b = json!({"channelId": ch, "account": alice, "requestId": format!("r{i}")});
        match (cancels[i].as_u64(), accepts[i].as_u64()) {
            (Some(200), Some(10408)) => {
                cancelled += 1;
                b.expect_code("accept", params_b, Code::InviteNotExists)
                    .await;
            }
            (Some(10410), Some(200)) => {
                accepted += 1;
                a.expect_code("cancel", params_a, Code::InviteHasAccept)
                    .await;
            }
            other => panic!("round {i}: cancel/accept answered {other:?}"),
        }
    }
    assert_eq!(accepted + cancelled, ROUNDS);
}
