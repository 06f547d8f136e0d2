//! Invitations beyond the basics (§P-6.4, §P-6.6): accept with autoJoin (frame order,
//! join errors and code precedence), renewal while pending, new invitations after the end,
//! the invite TTL, and closed channels.

mod common;

use std::time::Duration;

use common::fixtures::*;
use common::*;
use serde_json::{Value, json};
use sigbench::protocol::Code;
use sigbench::server::{Clock, ServerConfig};

#[tokio::test]
async fn accept_with_auto_join_sends_accept_sync_room_join_then_the_response() {
    let server = start_server().await;
    let mut p = pair(&server).await;
    let carol = acct("carol");
    let mut c = server.online(&carol).await;
    c.ok("join", json!({"channelId": p.ch["channelId"]})).await;
    p.a1.expect_event("ROOM_JOIN").await;
    p.a2.expect_event("ROOM_JOIN").await;
    p.invite("r1").await;

    let data =
        p.b1.ok(
            "accept",
            inv(
                &p.ch,
                &p.alice,
                "r1",
                json!({"autoJoin": true, "uid": 99, "attachExt": "a", "joinAttachExt": "j"}),
            ),
        )
        .await;
    assert_channel_with_members(&data);
    let mut expected = vec![p.alice.clone(), p.bob.clone(), carol.clone()];
    expected.sort();
    assert_eq!(member_accounts(&data), expected);
    let me = data["members"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["account"] == p.bob)
        .unwrap()
        .clone();
    assert_eq!(me["uid"], 99);

    // The inviter: ACCEPT then ROOM_JOIN, on every device, in that order.
    for dev in [&mut p.a1, &mut p.a2] {
        let accept = dev.expect_event("ACCEPT").await;
        assert_event(&accept, "ACCEPT", &p.bob);
        assert_eq!(accept["attachExt"], "a");
        let join = dev.expect_event("ROOM_JOIN").await;
        assert_event(&join, "ROOM_JOIN", &p.bob);
        assert_eq!(join["member"], me);
        assert_eq!(join["attachExt"], "j", "ROOM_JOIN carries joinAttachExt");
    }
    // Another member: only ROOM_JOIN.
    let join = c.expect_event("ROOM_JOIN").await;
    assert_eq!(join["member"]["account"], p.bob);
    // The invitee's other device: the multiClientSync only (no ROOM_JOIN: P-5.9).
    p.b2.expect_sync("ACCEPT").await;
    p.quiet().await;
    c.expect_no_frame(QUIET).await;
}

/// Bob accepts r on b1 with autoJoin (plus `extra`) and must get `code`, with
/// `{channel, members}` as data; alice's devices get ACCEPT, b2 the sync.
async fn accept_auto_join_fails(p: &mut Pair, request_id: &str, extra: Value, code: Code) -> Value {
    let mut params = json!({"autoJoin": true});
    if let (Some(m), Some(e)) = (params.as_object_mut(), extra.as_object()) {
        m.extend(e.clone());
    }
    let r =
        p.b1.expect_code("accept", inv(&p.ch, &p.alice, request_id, params), code)
            .await;
    assert_channel_with_members(&r["data"]);
    p.a1.expect_event("ACCEPT").await;
    p.a2.expect_event("ACCEPT").await;
    p.b2.expect_sync("ACCEPT").await;
    p.quiet().await;
    // The acceptance stands.
    p.a1.expect_code(
        "cancel",
        inv(&p.ch, &p.bob, request_id, json!({})),
        Code::InviteHasAccept,
    )
    .await;
    r["data"].clone()
}

#[tokio::test]
async fn accept_auto_join_uid_conflict_is_10417_and_the_acceptance_stands() {
    let server = start_server().await;
    let mut p = pair(&server).await;
    p.invite("r1").await;
    let data = accept_auto_join_fails(&mut p, "r1", json!({"uid": 1}), Code::UidConflict).await;
    assert_eq!(member_accounts(&data), vec![p.alice.clone()]);
}

#[tokio::test]
async fn accept_auto_join_when_already_joined_on_this_device_is_10407() {
    let server = start_server().await;
    let mut p = pair(&server).await;
    p.invite("r1").await;
    p.b1.ok("join", json!({"channelId": p.ch["channelId"]}))
        .await;
    p.a1.expect_event("ROOM_JOIN").await;
    p.a2.expect_event("ROOM_JOIN").await;
    accept_auto_join_fails(&mut p, "r1", json!({}), Code::RoomMemberHasExists).await;
}

#[tokio::test]
async fn accept_auto_join_when_joined_on_another_device_is_10420() {
    let server = start_server().await;
    let mut p = pair(&server).await;
    p.invite("r1").await;
    p.b2.ok("join", json!({"channelId": p.ch["channelId"]}))
        .await;
    p.a1.expect_event("ROOM_JOIN").await;
    p.a2.expect_event("ROOM_JOIN").await;
    accept_auto_join_fails(
        &mut p,
        "r1",
        json!({}),
        Code::RoomMemberHasExistsOtherClient,
    )
    .await;
}

#[tokio::test]
async fn accept_auto_join_into_a_full_channel_is_10419() {
    let server = start_server_with(ServerConfig {
        max_members: 2,
        ..ServerConfig::default()
    })
    .await;
    let mut p = pair(&server).await;
    p.invite("r1").await;
    let mut c = server.online(&acct("carol")).await;
    c.ok("join", json!({"channelId": p.ch["channelId"]})).await;
    p.a1.expect_event("ROOM_JOIN").await;
    p.a2.expect_event("ROOM_JOIN").await;
    let data = accept_auto_join_fails(&mut p, "r1", json!({}), Code::RoomMemberExceed).await;
    assert_eq!(data["members"].as_array().unwrap().len(), 2);
    c.expect_no_frame(QUIET).await;
}

#[tokio::test]
async fn accept_code_precedence_join_error_then_10201_then_200() {
    let server = start_server().await;
    let (alice, bob) = (acct("alice"), acct("bob"));
    let mut a = server.online(&alice).await;
    let mut b = server.online(&bob).await;
    let ch = a.ok("create", json!({"type": 1})).await["channel"].clone();
    a.ok("join", json!({"channelId": ch["channelId"], "uid": 5}))
        .await;
    for r in ["r1", "r2"] {
        a.ok("invite", inv(&ch, &bob, r, json!({}))).await;
        b.expect_event("INVITE").await;
    }
    server.go_offline(a).await;
    // Inviter offline and the join fails: the join error wins over 10201.
    let r = b
        .expect_code(
            "accept",
            inv(&ch, &alice, "r1", json!({"autoJoin": true, "uid": 5})),
            Code::UidConflict,
        )
        .await;
    assert_channel_with_members(&r["data"]);
    // Inviter offline and the join succeeds: 10201, with data.
    let r = b
        .expect_code(
            "accept",
            inv(&ch, &alice, "r2", json!({"autoJoin": true})),
            Code::PeerNimOffline,
        )
        .await;
    assert_channel_with_members(&r["data"]);
    let mut expected = vec![alice.clone(), bob.clone()];
    expected.sort();
    assert_eq!(member_accounts(&r["data"]), expected);
    b.expect_no_frame(QUIET).await;
}

#[tokio::test]
async fn inviting_again_while_pending_renews_and_delivers_again() {
    // The server's clock moves only when the test says so: no margin to lose.
    let clock = Clock::manual();
    let server = start_server_with(ServerConfig {
        invite_ttl: Duration::from_millis(400),
        sweep_interval: Duration::from_millis(100),
        clock: clock.clone(),
        ..ServerConfig::default()
    })
    .await;
    let mut p = pair(&server).await;
    let first = p.invite("r1").await;
    clock.advance(Duration::from_millis(250));
    let second = p.invite("r1").await;
    assert_ne!(first["msgid"], second["msgid"], "a new event");
    // Past the first expiry (400), within the renewed one (250 + 400).
    clock.advance(Duration::from_millis(250));
    p.b1.ok("accept", inv(&p.ch, &p.alice, "r1", json!({})))
        .await;
    p.a1.expect_event("ACCEPT").await;
    p.a2.expect_event("ACCEPT").await;
    p.b2.expect_sync("ACCEPT").await;
    p.quiet().await;
}

#[tokio::test]
async fn inviting_again_after_the_invitation_ended_starts_a_new_one() {
    let server = start_server().await;
    let mut p = pair(&server).await;
    p.invite("r1").await;
    p.b1.ok("reject", inv(&p.ch, &p.alice, "r1", json!({})))
        .await;
    p.a1.expect_event("REJECT").await;
    p.a2.expect_event("REJECT").await;
    p.b2.expect_sync("REJECT").await;
    p.invite("r1").await;
    p.b1.ok("accept", inv(&p.ch, &p.alice, "r1", json!({})))
        .await;
    p.a1.expect_event("ACCEPT").await;
    p.a2.expect_event("ACCEPT").await;
    p.b2.expect_sync("ACCEPT").await;
    p.invite("r1").await;
    p.a1.ok("cancel", inv(&p.ch, &p.bob, "r1", json!({}))).await;
    p.b1.expect_event("CANCEL_INVITE").await;
    p.b2.expect_event("CANCEL_INVITE").await;
    p.invite("r1").await;
    p.b2.ok("reject", inv(&p.ch, &p.alice, "r1", json!({})))
        .await;
    p.a1.expect_event("REJECT").await;
    p.a2.expect_event("REJECT").await;
    p.b1.expect_sync("REJECT").await;
    p.quiet().await;
}

#[tokio::test]
async fn only_pending_invitations_expire() {
    let clock = Clock::manual();
    let server = start_server_with(ServerConfig {
        invite_ttl: Duration::from_millis(300),
        sweep_interval: Duration::from_millis(100),
        clock: clock.clone(),
        ..ServerConfig::default()
    })
    .await;
    let mut p = pair(&server).await;
    for r in ["pending", "accepted", "rejected"] {
        p.invite(r).await;
    }
    p.b1.ok("accept", inv(&p.ch, &p.alice, "accepted", json!({})))
        .await;
    p.b1.ok("reject", inv(&p.ch, &p.alice, "rejected", json!({})))
        .await;
    for dev in [&mut p.a1, &mut p.a2] {
        dev.expect_event("ACCEPT").await;
        dev.expect_event("REJECT").await;
    }
    p.b2.expect_sync("ACCEPT").await;
    p.b2.expect_sync("REJECT").await;

    clock.advance(Duration::from_millis(500));
    // Expiry sends nothing.
    p.quiet().await;
    p.b1.expect_code(
        "accept",
        inv(&p.ch, &p.alice, "pending", json!({})),
        Code::InviteNotExists,
    )
    .await;
    p.b1.expect_code(
        "reject",
        inv(&p.ch, &p.alice, "pending", json!({})),
        Code::InviteNotExists,
    )
    .await;
    p.a1.expect_code(
        "cancel",
        inv(&p.ch, &p.bob, "pending", json!({})),
        Code::InviteNotExists,
    )
    .await;
    p.a1.expect_code(
        "cancel",
        inv(&p.ch, &p.bob, "accepted", json!({})),
        Code::InviteHasAccept,
    )
    .await;
    p.a1.expect_code(
        "cancel",
        inv(&p.ch, &p.bob, "rejected", json!({})),
        Code::InviteHasReject,
    )
    .await;
}

#[tokio::test]
async fn a_closed_channel_answers_10404_before_invitation_states() {
    let server = start_server().await;
    let mut p = pair(&server).await;
    p.invite("pending").await;
    p.invite("accepted").await;
    p.b1.ok("accept", inv(&p.ch, &p.alice, "accepted", json!({})))
        .await;
    p.a1.expect_event("ACCEPT").await;
    p.a2.expect_event("ACCEPT").await;
    p.b2.expect_sync("ACCEPT").await;
    p.a1.ok("close", json!({"channelId": p.ch["channelId"]}))
        .await;
    // Bob is not a member: no ROOM_CLOSE for him.
    p.quiet().await;
    for r in ["pending", "accepted"] {
        p.a1.expect_code(
            "cancel",
            inv(&p.ch, &p.bob, r, json!({})),
            Code::RoomNotExists,
        )
        .await;
        p.b1.expect_code(
            "accept",
            inv(&p.ch, &p.alice, r, json!({})),
            Code::RoomNotExists,
        )
        .await;
        p.b1.expect_code(
            "reject",
            inv(&p.ch, &p.alice, r, json!({})),
            Code::RoomNotExists,
        )
        .await;
    }
}
