//! Invitations (§P-6.1–§P-6.4, §P-8): invite, cancel, reject and accept with their
//! check orders, and the events and multiClientSync copies they send.

mod common;

use common::fixtures::*;
use common::*;
use serde_json::{Value, json};
use sigbench::protocol::Code;
use sigbench::server::ServerConfig;

#[tokio::test]
async fn invite_reaches_every_invitee_device_with_the_documented_fields() {
    let server = start_server().await;
    let mut p = pair(&server).await;
    let data = p
        .a1
        .ok(
            "invite",
            inv(
                &p.ch,
                &p.bob,
                "r1",
                json!({"attachExt": "ring", "pushInfo": {"pushTitle": "Call", "pushPayload": {"k": 1}}}),
            ),
        )
        .await;
    assert!(data.is_null(), "invite has no data: {data}");
    let e1 = p.b1.expect_event("INVITE").await;
    let e2 = p.b2.expect_event("INVITE").await;
    assert_eq!(e1, e2, "the same event on every device");
    assert_event(&e1, "INVITE", &p.alice);
    assert_eq!(e1["to"], p.bob);
    assert_eq!(e1["requestId"], "r1");
    assert_eq!(e1["attachExt"], "ring");
    assert_eq!(e1["channel"]["channelId"], p.ch["channelId"]);
    let info = &e1["pushInfo"];
    assert_eq!(info["needPush"], false, "default filled in (P-4.4)");
    assert_eq!(info["needBadge"], true, "default filled in (P-4.4)");
    assert_eq!(info["pushTitle"], "Call");
    assert_eq!(info["pushPayload"], json!({"k": 1}));
    // The inviter's devices get no INVITE.
    p.quiet().await;

    // Without pushInfo or attachExt the event has neither key.
    p.a1.ok("invite", inv(&p.ch, &p.bob, "r2", json!({}))).await;
    let e = p.b1.expect_event("INVITE").await;
    p.b2.expect_event("INVITE").await;
    assert_event(&e, "INVITE", &p.alice);
    assert!(
        e.get("pushInfo").is_none() && e.get("attachExt").is_none(),
        "{e}"
    );
    assert_ne!(e["msgid"], e1["msgid"]);
}

#[tokio::test]
async fn invite_codes_and_their_order() {
    let server = start_server_with(ServerConfig {
        max_members: 2,
        ..ServerConfig::default()
    })
    .await;
    let (alice, bob, carol, dave) = (acct("alice"), acct("bob"), acct("carol"), acct("dave"));
    let mut a = server.online(&alice).await;
    let mut b = server.online(&bob).await;
    let mut c = server.online(&carol).await;
    let mut d = server.online(&dave).await;

    let nowhere = json!({"channelId": "nope"});
    c.expect_code(
        "invite",
        inv(&nowhere, &bob, "r", json!({})),
        Code::RoomNotExists,
    )
    .await;

    // The creator may invite without being a member.
    let ch = a.ok("create", json!({"type": 1})).await["channel"].clone();
    a.ok("invite", inv(&ch, &dave, "r0", json!({}))).await;
    d.expect_event("INVITE").await;

    b.ok("join", json!({"channelId": ch["channelId"]})).await;
    // A stranger inviting a member: 10406 comes before 10407.
    c.expect_code(
        "invite",
        inv(&ch, &bob, "r", json!({})),
        Code::RoomMemberNotExists,
    )
    .await;
    // Inviting a member: 10407.
    a.expect_code(
        "invite",
        inv(&ch, &bob, "r", json!({})),
        Code::RoomMemberHasExists,
    )
    .await;
    // Full (limit 2): 10419; a member invitee still answers 10407 first.
    let joined = c.ok("join", json!({"channelId": ch["channelId"]})).await;
    assert_eq!(joined["members"].as_array().unwrap().len(), 2);
    b.expect_event("ROOM_JOIN").await;
    b.expect_code(
        "invite",
        inv(&ch, &dave, "r", json!({})),
        Code::RoomMemberExceed,
    )
    .await;
    b.expect_code(
        "invite",
        inv(&ch, &carol, "r", json!({})),
        Code::RoomMemberHasExists,
    )
    .await;
    d.expect_no_frame(QUIET).await;
}

#[tokio::test]
async fn invite_to_an_offline_account_is_10201_or_10202() {
    let server = start_server().await;
    let mut a = server.online(&acct("alice")).await;
    let ghost = acct("ghost");
    let ch = a.ok("create", json!({"type": 1})).await["channel"].clone();
    a.expect_code(
        "invite",
        inv(&ch, &ghost, "r1", json!({})),
        Code::PeerNimOffline,
    )
    .await;
    a.expect_code(
        "invite",
        inv(&ch, &ghost, "r2", json!({"pushInfo": {"needPush": false}})),
        Code::PeerNimOffline,
    )
    .await;
    // needPush with no registered pushToken: 10202.
    a.expect_code(
        "invite",
        inv(&ch, &ghost, "r3", json!({"pushInfo": {"needPush": true}})),
        Code::PeerPushOffline,
    )
    .await;
    // The invitations stand: the invitee can act on them once online.
    let mut g = server.online(&ghost).await;
    g.ok("reject", inv(&ch, &a.account, "r1", json!({}))).await;
    g.ok("accept", inv(&ch, &a.account, "r3", json!({}))).await;
    a.expect_event("REJECT").await;
    a.expect_event("ACCEPT").await;
}

#[tokio::test]
async fn cancel_sends_cancel_invite_and_its_codes() {
    let server = start_server().await;
    let mut p = pair(&server).await;
    p.a1.expect_code(
        "cancel",
        inv(&json!({"channelId": "nope"}), &p.bob, "r1", json!({})),
        Code::RoomNotExists,
    )
    .await;
    // No such invitation: 10408.
    p.a1.expect_code(
        "cancel",
        inv(&p.ch, &p.bob, "r1", json!({})),
        Code::InviteNotExists,
    )
    .await;
    let invite = p.invite("r1").await;
    // Only the inviter's key matches: bob "cancelling" alice's invitation is 10408.
    p.b1.expect_code(
        "cancel",
        inv(&p.ch, &p.alice, "r1", json!({})),
        Code::InviteNotExists,
    )
    .await;
    let data =
        p.a2.ok(
            "cancel",
            inv(&p.ch, &p.bob, "r1", json!({"attachExt": "oops"})),
        )
        .await;
    assert!(data.is_null());
    for dev in [&mut p.b1, &mut p.b2] {
        let ev = dev.expect_event("CANCEL_INVITE").await;
        assert_event(&ev, "CANCEL_INVITE", &p.alice);
        assert_eq!(ev["to"], p.bob);
        assert_eq!(ev["requestId"], "r1");
        assert_eq!(ev["attachExt"], "oops");
        assert_ne!(ev["msgid"], invite["msgid"]);
    }
    p.quiet().await;
    // Already cancelled: 10408 for cancel, accept and reject.
    p.a1.expect_code(
        "cancel",
        inv(&p.ch, &p.bob, "r1", json!({})),
        Code::InviteNotExists,
    )
    .await;
    p.b1.expect_code(
        "accept",
        inv(&p.ch, &p.alice, "r1", json!({})),
        Code::InviteNotExists,
    )
    .await;
    p.b1.expect_code(
        "reject",
        inv(&p.ch, &p.alice, "r1", json!({})),
        Code::InviteNotExists,
    )
    .await;

    // Rejected: 10409; accepted: 10410.
    p.invite("r2").await;
    p.b1.ok("reject", inv(&p.ch, &p.alice, "r2", json!({})))
        .await;
    p.a1.expect_event("REJECT").await;
    p.a2.expect_event("REJECT").await;
    p.b2.expect_sync("REJECT").await;
    p.a1.expect_code(
        "cancel",
        inv(&p.ch, &p.bob, "r2", json!({})),
        Code::InviteHasReject,
    )
    .await;
    p.invite("r3").await;
    p.b1.ok("accept", inv(&p.ch, &p.alice, "r3", json!({})))
        .await;
    p.a1.expect_event("ACCEPT").await;
    p.a2.expect_event("ACCEPT").await;
    p.b2.expect_sync("ACCEPT").await;
    p.a1.expect_code(
        "cancel",
        inv(&p.ch, &p.bob, "r3", json!({})),
        Code::InviteHasAccept,
    )
    .await;
    p.quiet().await;
}

#[tokio::test]
async fn cancel_is_200_when_the_invitee_is_offline() {
    let server = start_server().await;
    let mut a = server.online(&acct("alice")).await;
    let bob = acct("bob");
    let ch = a.ok("create", json!({"type": 1})).await["channel"].clone();
    a.expect_code(
        "invite",
        inv(&ch, &bob, "r", json!({})),
        Code::PeerNimOffline,
    )
    .await;
    a.ok("cancel", inv(&ch, &bob, "r", json!({}))).await;
}

#[tokio::test]
async fn reject_goes_to_the_inviter_and_syncs_the_other_devices() {
    let server = start_server().await;
    let mut p = pair(&server).await;
    let invite = p.invite("r1").await;
    let data =
        p.b1.ok(
            "reject",
            inv(&p.ch, &p.alice, "r1", json!({"attachExt": "busy"})),
        )
        .await;
    assert!(data.is_null());
    let e1 = p.a1.expect_event("REJECT").await;
    let e2 = p.a2.expect_event("REJECT").await;
    assert_eq!(e1, e2);
    assert_event(&e1, "REJECT", &p.bob);
    assert_eq!(e1["to"], p.alice, "to = the inviter for REJECT");
    assert_eq!(e1["requestId"], "r1");
    assert_eq!(e1["attachExt"], "busy");
    assert_ne!(e1["msgid"], invite["msgid"]);
    // The invitee's other device: multiClientSync with the same event (same msgid).
    let sync = p.b2.expect_sync("REJECT").await;
    assert_eq!(sync, e1);
    // The acting connection gets neither.
    p.quiet().await;
    // Rejected twice: 10409; then accept: 10409.
    p.b2.expect_code(
        "reject",
        inv(&p.ch, &p.alice, "r1", json!({})),
        Code::InviteHasReject,
    )
    .await;
    p.b2.expect_code(
        "accept",
        inv(&p.ch, &p.alice, "r1", json!({})),
        Code::InviteHasReject,
    )
    .await;
    // 10404 and 10408 checks.
    p.b1.expect_code(
        "reject",
        inv(&json!({"channelId": "nope"}), &p.alice, "r1", json!({})),
        Code::RoomNotExists,
    )
    .await;
    p.b1.expect_code(
        "reject",
        inv(&p.ch, &p.alice, "never", json!({})),
        Code::InviteNotExists,
    )
    .await;
    p.quiet().await;
}

#[tokio::test]
async fn reject_with_the_inviter_offline_is_10201_and_stands() {
    let server = start_server().await;
    let (alice, bob) = (acct("alice"), acct("bob"));
    let mut a = server.online(&alice).await;
    let mut b = server.online(&bob).await;
    let ch = a.ok("create", json!({"type": 1})).await["channel"].clone();
    a.ok("invite", inv(&ch, &bob, "r1", json!({}))).await;
    b.expect_event("INVITE").await;
    server.go_offline(a).await;
    b.expect_code(
        "reject",
        inv(&ch, &alice, "r1", json!({})),
        Code::PeerNimOffline,
    )
    .await;
    b.expect_code(
        "accept",
        inv(&ch, &alice, "r1", json!({})),
        Code::InviteHasReject,
    )
    .await;
}

#[tokio::test]
async fn accept_without_auto_join_has_no_data_and_syncs() {
    let server = start_server().await;
    let mut p = pair(&server).await;
    p.invite("r1").await;
    let r =
        p.b2.request(
            "accept",
            inv(&p.ch, &p.alice, "r1", json!({"attachExt": "yes"})),
        )
        .await;
    assert_code(&r, Code::Ok, "accept");
    assert!(r.get("data").is_none_or(Value::is_null), "no data: {r}");
    let e1 = p.a1.expect_event("ACCEPT").await;
    let e2 = p.a2.expect_event("ACCEPT").await;
    assert_eq!(e1, e2);
    assert_event(&e1, "ACCEPT", &p.bob);
    assert_eq!(e1["to"], p.alice);
    assert_eq!(e1["requestId"], "r1");
    assert_eq!(e1["attachExt"], "yes");
    assert_eq!(p.b1.expect_sync("ACCEPT").await, e1);
    p.quiet().await;
    // Not joined: bob is not a member.
    let q =
        p.b1.ok("query", json!({"channelId": p.ch["channelId"]}))
            .await;
    assert_eq!(member_accounts(&q), vec![p.alice.clone()]);
    // Accepted: later actions answer 10410.
    for op in ["accept", "reject"] {
        p.b1.expect_code(
            op,
            inv(&p.ch, &p.alice, "r1", json!({})),
            Code::InviteHasAccept,
        )
        .await;
    }
}
