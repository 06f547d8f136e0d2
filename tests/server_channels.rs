//! Channels (§P-5): create, join, leave, close, query, delay, their check orders, the
//! events they send (to other member accounts only, on all their devices) and the
//! channel TTL.

mod common;

use std::time::Duration;

use common::*;
use serde_json::{Value, json};
use sigbench::protocol::Code;
use sigbench::server::{Clock, ServerConfig};

fn id(ch: &Value) -> Value {
    ch["channelId"].clone()
}

#[tokio::test]
async fn create_returns_a_full_channel_and_the_creator_is_not_a_member() {
    let server = start_server().await;
    let alice = acct("alice");
    let mut a = server.online(&alice).await;
    let name = acct("room");
    let data = a
        .ok(
            "create",
            json!({"type": 2, "channelName": name, "ext": "hello"}),
        )
        .await;
    let ch = &data["channel"];
    assert_channel(ch);
    assert_eq!(ch["channelName"], name);
    assert_eq!(ch["type"], 2);
    assert_eq!(ch["ext"], "hello");
    assert_eq!(ch["creator"], alice);
    assert_eq!(ch["invalid"], false);
    let create = ch["createTime"].as_u64().unwrap();
    let expire = ch["expireTime"].as_u64().unwrap();
    let two_hours = 2 * 60 * 60 * 1000;
    assert!(
        expire.abs_diff(create + two_hours) < 5000,
        "default TTL 2 h: {ch}"
    );

    // Not a member until it joins (P-5.1).
    let q = a.ok("query", json!({"channelId": id(ch)})).await;
    assert_eq!(q["members"], json!([]));

    // No name: the server generates one; ext defaults to "" (P-4.1); "" counts as absent.
    for params in [json!({"type": 1}), json!({"type": 3, "channelName": ""})] {
        let g = a.ok("create", params).await["channel"].clone();
        assert_channel(&g);
        assert_eq!(g["ext"], "");
        assert_ne!(g["channelId"], ch["channelId"]);
    }
}

#[tokio::test]
async fn create_with_a_name_in_use_is_10405() {
    let server = start_server().await;
    let mut a = server.online(&acct("alice")).await;
    let mut b = server.online(&acct("bob")).await;
    let name = acct("room");
    a.ok("create", json!({"type": 1, "channelName": name}))
        .await;
    b.expect_code(
        "create",
        json!({"type": 2, "channelName": name}),
        Code::RoomHasExists,
    )
    .await;
}

#[tokio::test]
async fn join_returns_channel_and_members_and_notifies_other_members() {
    let server = start_server().await;
    let (alice, bob, carol) = (acct("alice"), acct("bob"), acct("carol"));
    let mut a1 = server.online_on(&alice, "d1").await;
    let mut a2 = server.online_on(&alice, "d2").await;
    let mut b1 = server.online_on(&bob, "d1").await;
    let mut b2 = server.online_on(&bob, "d2").await;
    let mut c = server.online(&carol).await;
    let ch = c.ok("create", json!({"type": 1})).await["channel"].clone();

    let joined = a1.ok("join", json!({"channelId": id(&ch)})).await;
    assert_channel_with_members(&joined);
    assert_eq!(member_accounts(&joined), vec![alice.clone()]);
    let uid_a = joined["members"][0]["uid"].as_i64().unwrap();
    assert!(uid_a > 0 && uid_a <= 1 << 53, "server-assigned uid");
    // The creator is not a member: it gets no ROOM_JOIN.
    c.expect_no_frame(QUIET).await;
    // Alice's own other device gets nothing (P-5.9).
    a2.expect_no_frame(QUIET).await;

    let joined = b1
        .ok(
            "join",
            json!({"channelId": id(&ch), "uid": 0, "attachExt": "hi"}),
        )
        .await;
    assert_eq!(member_accounts(&joined).len(), 2);
    let me = joined["members"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["account"] == bob)
        .unwrap()
        .clone();
    assert_ne!(me["uid"].as_i64(), Some(uid_a), "uids unique in a channel");

    // Every device of every other member account gets ROOM_JOIN.
    for dev in [&mut a1, &mut a2] {
        let ev = dev.expect_event("ROOM_JOIN").await;
        assert_event(&ev, "ROOM_JOIN", &bob);
        assert_eq!(ev["member"], me);
        assert_eq!(ev["attachExt"], "hi");
        assert_eq!(ev["channel"]["channelId"], id(&ch));
    }
    all_quiet(&mut [&mut b1, &mut b2, &mut c]).await;
}

#[tokio::test]
async fn copies_of_one_event_share_the_msgid_and_events_differ() {
    let server = start_server().await;
    let (alice, bob, carol) = (acct("alice"), acct("bob"), acct("carol"));
    let mut a1 = server.online_on(&alice, "d1").await;
    let mut a2 = server.online_on(&alice, "d2").await;
    let mut b = server.online(&bob).await;
    let mut c = server.online(&carol).await;
    let ch = a1.ok("create", json!({"type": 1})).await["channel"].clone();
    a1.ok("join", json!({"channelId": id(&ch)})).await;
    b.ok("join", json!({"channelId": id(&ch)})).await;
    let e1 = a1.expect_event("ROOM_JOIN").await;
    let e2 = a2.expect_event("ROOM_JOIN").await;
    assert_eq!(e1["msgid"], e2["msgid"]);
    c.ok("join", json!({"channelId": id(&ch)})).await;
    let e3 = a1.expect_event("ROOM_JOIN").await;
    a2.expect_event("ROOM_JOIN").await;
    b.expect_event("ROOM_JOIN").await;
    assert_ne!(e1["msgid"], e3["msgid"]);
}

#[tokio::test]
async fn join_codes_and_their_order() {
    let server = start_server_with(ServerConfig {
        max_members: 2,
        ..ServerConfig::default()
    })
    .await;
    let (alice, bob, carol) = (acct("alice"), acct("bob"), acct("carol"));
    let mut a1 = server.online_on(&alice, "d1").await;
    let mut a2 = server.online_on(&alice, "d2").await;
    let mut b = server.online(&bob).await;
    let mut c = server.online(&carol).await;

    c.expect_code(
        "join",
        json!({"channelId": "no-such-channel"}),
        Code::RoomNotExists,
    )
    .await;

    let ch = a1.ok("create", json!({"type": 1})).await["channel"].clone();
    let joined = a1
        .ok("join", json!({"channelId": id(&ch), "uid": 42}))
        .await;
    assert_eq!(joined["members"][0]["uid"], 42, "a given uid is kept");

    // Same device again: 10407, before the uid check.
    a1.expect_code(
        "join",
        json!({"channelId": id(&ch), "uid": 42}),
        Code::RoomMemberHasExists,
    )
    .await;
    // Another device of a member account: 10420, before the uid check.
    a2.expect_code(
        "join",
        json!({"channelId": id(&ch), "uid": 42}),
        Code::RoomMemberHasExistsOtherClient,
    )
    .await;
    // A uid in use: 10417.
    b.expect_code(
        "join",
        json!({"channelId": id(&ch), "uid": 42}),
        Code::UidConflict,
    )
    .await;
    b.ok("join", json!({"channelId": id(&ch), "uid": 43})).await;
    a1.expect_event("ROOM_JOIN").await;
    a2.expect_event("ROOM_JOIN").await;
    // Full (limit 2): the uid conflict comes first, then 10419.
    c.expect_code(
        "join",
        json!({"channelId": id(&ch), "uid": 43}),
        Code::UidConflict,
    )
    .await;
    c.expect_code(
        "join",
        json!({"channelId": id(&ch)}),
        Code::RoomMemberExceed,
    )
    .await;
    // Already a member beats full.
    b.expect_code(
        "join",
        json!({"channelId": id(&ch)}),
        Code::RoomMemberHasExists,
    )
    .await;
    // A closed channel answers 10404 before everything else.
    a1.ok("close", json!({"channelId": id(&ch)})).await;
    b.expect_event("ROOM_CLOSE").await;
    a1.expect_code(
        "join",
        json!({"channelId": id(&ch), "uid": 42}),
        Code::RoomNotExists,
    )
    .await;
    all_quiet(&mut [&mut a1, &mut a2, &mut b, &mut c]).await;
}

#[tokio::test]
async fn leave_notifies_the_remaining_members_and_keeps_the_channel() {
    let server = start_server().await;
    let (alice, bob, carol) = (acct("alice"), acct("bob"), acct("carol"));
    let mut a1 = server.online_on(&alice, "d1").await;
    let mut a2 = server.online_on(&alice, "d2").await;
    let mut b = server.online(&bob).await;
    let mut c = server.online(&carol).await;

    a1.expect_code("leave", json!({"channelId": "nope"}), Code::RoomNotExists)
        .await;
    let ch = c.ok("create", json!({"type": 1})).await["channel"].clone();
    // The creator is not a member: 10406.
    c.expect_code(
        "leave",
        json!({"channelId": id(&ch)}),
        Code::RoomMemberNotExists,
    )
    .await;
    a1.ok("join", json!({"channelId": id(&ch)})).await;
    b.ok("join", json!({"channelId": id(&ch)})).await;
    a1.expect_event("ROOM_JOIN").await;
    a2.expect_event("ROOM_JOIN").await;

    // Membership belongs to the account: d2 leaves for it (P-5.8).
    let data = a2
        .ok("leave", json!({"channelId": id(&ch), "attachExt": "bye"}))
        .await;
    assert!(data.is_null(), "leave has no data: {data}");
    let ev = b.expect_event("LEAVE").await;
    assert_event(&ev, "LEAVE", &alice);
    assert_eq!(ev["attachExt"], "bye");
    all_quiet(&mut [&mut a1, &mut a2, &mut c]).await;
    a1.expect_code(
        "leave",
        json!({"channelId": id(&ch)}),
        Code::RoomMemberNotExists,
    )
    .await;

    // The last member leaving does not close the channel.
    b.ok("leave", json!({"channelId": id(&ch)})).await;
    let q = c.ok("query", json!({"channelId": id(&ch)})).await;
    assert_eq!(q["channel"]["invalid"], false);
    assert_eq!(q["members"], json!([]));
    a1.ok("join", json!({"channelId": id(&ch)})).await;
}

#[tokio::test]
async fn close_by_member_or_creator_notifies_others_and_frees_the_name() {
    let server = start_server().await;
    let (alice, bob, carol, dave) = (acct("alice"), acct("bob"), acct("carol"), acct("dave"));
    let mut a1 = server.online_on(&alice, "d1").await;
    let mut a2 = server.online_on(&alice, "d2").await;
    let mut b = server.online(&bob).await;
    let mut c = server.online(&carol).await;
    let mut d = server.online(&dave).await;
    let name = acct("room");

    d.expect_code("close", json!({"channelId": "nope"}), Code::RoomNotExists)
        .await;
    let ch = c
        .ok("create", json!({"type": 1, "channelName": name}))
        .await["channel"]
        .clone();
    a1.ok("join", json!({"channelId": id(&ch)})).await;
    b.ok("join", json!({"channelId": id(&ch)})).await;
    a1.expect_event("ROOM_JOIN").await;
    a2.expect_event("ROOM_JOIN").await;
    // Neither member nor creator: 10406.
    d.expect_code(
        "close",
        json!({"channelId": id(&ch)}),
        Code::RoomMemberNotExists,
    )
    .await;

    // A member closes from its other device.
    a2.ok("close", json!({"channelId": id(&ch), "attachExt": "done"}))
        .await;
    let ev = b.expect_event("ROOM_CLOSE").await;
    assert_event(&ev, "ROOM_CLOSE", &alice);
    assert_eq!(ev["attachExt"], "done");
    assert_eq!(
        ev["channel"]["invalid"], true,
        "rendered at delivery: closed"
    );
    all_quiet(&mut [&mut a1, &mut a2, &mut c]).await;

    // Every later op naming it answers 10404.
    let cid = id(&ch);
    for (op, params) in [
        ("join", json!({"channelId": cid})),
        ("leave", json!({"channelId": cid})),
        ("close", json!({"channelId": cid})),
        ("query", json!({"channelId": cid})),
        ("query", json!({"channelName": name})),
        ("delay", json!({"channelId": cid})),
        (
            "invite",
            json!({"channelId": cid, "account": dave, "requestId": "r"}),
        ),
        ("control", json!({"channelId": cid})),
    ] {
        b.expect_code(op, params, Code::RoomNotExists).await;
    }
    // The name is free again.
    let again = d
        .ok("create", json!({"type": 2, "channelName": name}))
        .await["channel"]
        .clone();
    assert_ne!(id(&again), cid);

    // The creator may close without being a member; close has no data.
    c.expect_code(
        "close",
        json!({"channelId": id(&again)}),
        Code::RoomMemberNotExists,
    )
    .await;
    let data = d.ok("close", json!({"channelId": id(&again)})).await;
    assert!(data.is_null(), "close has no data: {data}");
}

#[tokio::test]
async fn query_by_name_or_id_without_membership() {
    let server = start_server().await;
    let mut a = server.online(&acct("alice")).await;
    let mut stranger = server.online(&acct("stranger")).await;
    let name = acct("room");
    let other = acct("other");
    let ch = a
        .ok("create", json!({"type": 3, "channelName": name}))
        .await["channel"]
        .clone();
    let ch2 = a
        .ok("create", json!({"type": 3, "channelName": other}))
        .await["channel"]
        .clone();
    a.ok("join", json!({"channelId": id(&ch)})).await;

    let by_id = stranger.ok("query", json!({"channelId": id(&ch)})).await;
    assert_channel_with_members(&by_id);
    assert_eq!(by_id["members"].as_array().unwrap().len(), 1);
    let by_name = stranger.ok("query", json!({"channelName": name})).await;
    assert_eq!(by_name, by_id);
    // Both: channelId wins.
    let both = stranger
        .ok("query", json!({"channelName": name, "channelId": id(&ch2)}))
        .await;
    assert_eq!(both["channel"]["channelId"], id(&ch2));
    // Neither: 414.
    let r = stranger.request("query", json!({})).await;
    assert_code(&r, Code::ParamError, "query without params");
    let r = stranger.request("query", json!({"channelName": ""})).await;
    assert_code(&r, Code::ParamError, "query with an empty name only");
    stranger
        .expect_code(
            "query",
            json!({"channelName": acct("none")}),
            Code::RoomNotExists,
        )
        .await;
    stranger
        .expect_code("query", json!({"channelId": "none"}), Code::RoomNotExists)
        .await;
}

#[tokio::test]
async fn delay_extends_expiry_for_members_and_creator() {
    // The server's clock moves only when the test says so: no margin to lose.
    let clock = Clock::manual();
    let server = start_server_with(ServerConfig {
        channel_ttl: Duration::from_millis(800),
        sweep_interval: Duration::from_millis(100),
        clock: clock.clone(),
        ..ServerConfig::default()
    })
    .await;
    let (alice, bob, carol) = (acct("alice"), acct("bob"), acct("carol"));
    let mut a = server.online(&alice).await;
    let mut b = server.online(&bob).await;
    let mut c = server.online(&carol).await;
    let ch = a.ok("create", json!({"type": 1})).await["channel"].clone();
    let first_expiry = ch["expireTime"].as_u64().unwrap();

    c.expect_code("delay", json!({"channelId": "nope"}), Code::RoomNotExists)
        .await;
    c.expect_code(
        "delay",
        json!({"channelId": id(&ch)}),
        Code::RoomMemberNotExists,
    )
    .await;

    clock.advance(Duration::from_millis(500));
    // The creator (not a member) may delay.
    let delayed = a.ok("delay", json!({"channelId": id(&ch)})).await;
    assert_channel(&delayed["channel"]);
    let second_expiry = delayed["channel"]["expireTime"].as_u64().unwrap();
    assert_eq!(
        second_expiry,
        first_expiry + 500,
        "delay extends to now + TTL"
    );
    // A member may delay too.
    b.ok("join", json!({"channelId": id(&ch)})).await;
    b.ok("delay", json!({"channelId": id(&ch)})).await;

    // Past the first expiry the channel is still valid thanks to the delay.
    clock.advance(Duration::from_millis(400));
    let q = c.ok("query", json!({"channelId": id(&ch)})).await;
    assert_eq!(q["channel"]["invalid"], false);
}

#[tokio::test]
async fn join_extends_the_channel_expiry() {
    let clock = Clock::manual();
    let server = start_server_with(ServerConfig {
        channel_ttl: Duration::from_millis(600),
        sweep_interval: Duration::from_millis(100),
        clock: clock.clone(),
        ..ServerConfig::default()
    })
    .await;
    let mut a = server.online(&acct("alice")).await;
    let ch = a.ok("create", json!({"type": 1})).await["channel"].clone();
    let first = ch["expireTime"].as_u64().unwrap();
    clock.advance(Duration::from_millis(400));
    let joined = a.ok("join", json!({"channelId": id(&ch)})).await;
    let second = joined["channel"]["expireTime"].as_u64().unwrap();
    assert_eq!(second, first + 400, "join extends to now + TTL");
    assert_eq!(joined["members"][0]["expireTime"], second);
    // Past the first expiry (600), within the extended one (400 + 600).
    clock.advance(Duration::from_millis(350));
    a.ok("query", json!({"channelId": id(&ch)})).await;
    // And past the extended one, it is gone.
    clock.advance(Duration::from_millis(300));
    a.expect_code("query", json!({"channelId": id(&ch)}), Code::RoomNotExists)
        .await;
}

#[tokio::test]
async fn expired_channel_is_gone_silently_and_its_name_is_free() {
    let clock = Clock::manual();
    let server = start_server_with(ServerConfig {
        channel_ttl: Duration::from_millis(400),
        sweep_interval: Duration::from_millis(100),
        clock: clock.clone(),
        ..ServerConfig::default()
    })
    .await;
    let (alice, bob) = (acct("alice"), acct("bob"));
    let mut a = server.online(&alice).await;
    let mut b = server.online(&bob).await;
    let name = acct("room");
    let ch = a
        .ok("create", json!({"type": 1, "channelName": name}))
        .await["channel"]
        .clone();
    a.ok("join", json!({"channelId": id(&ch)})).await;
    b.ok("join", json!({"channelId": id(&ch)})).await;
    a.expect_event("ROOM_JOIN").await;

    clock.advance(Duration::from_millis(600));
    // Expiry sends no event (P-5.7).
    all_quiet(&mut [&mut a, &mut b]).await;
    for (op, params) in [
        ("query", json!({"channelId": id(&ch)})),
        ("query", json!({"channelName": name})),
        ("leave", json!({"channelId": id(&ch)})),
        ("delay", json!({"channelId": id(&ch)})),
        ("control", json!({"channelId": id(&ch)})),
    ] {
        a.expect_code(op, params, Code::RoomNotExists).await;
    }
    a.ok("create", json!({"type": 1, "channelName": name}))
        .await;
    // An expired channel is not in channelsSync.
    let mut again = server.connect().await;
    let s = again.login_on(&bob, "d2").await;
    assert!(s.channels.is_empty(), "{:?}", s.channels);
}

#[tokio::test]
async fn absent_or_non_positive_uids_are_assigned_unique_by_the_server() {
    let server = start_server().await;
    let mut owner = server.online(&acct("owner")).await;
    let ch = owner.ok("create", json!({"type": 1})).await["channel"].clone();
    let mut uids = Vec::new();
    for uid in [json!(null), json!(0), json!(-5), json!(i64::MIN)] {
        let mut c = server.online(&acct("m")).await;
        let joined = c
            .ok("join", json!({"channelId": id(&ch), "uid": uid}))
            .await;
        let me = joined["members"]
            .as_array()
            .unwrap()
            .iter()
            .find(|m| m["account"] == c.account.as_str())
            .unwrap()
            .clone();
        assert_member(&me);
        uids.push(me["uid"].as_i64().unwrap());
    }
    let mut unique = uids.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), uids.len(), "unique in the channel: {uids:?}");
}
