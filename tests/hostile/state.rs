//! Problems 1 and 2: what one account can make the server hold, and who can find and
//! enter a channel.

use serde_json::{Value, json};
use sigbench::protocol::Code;
use sigbench::server::{Limits, ServerConfig};

use crate::common::fixtures::inv;
use crate::common::*;

fn limits(limits: Limits) -> ServerConfig {
    ServerConfig {
        limits,
        ..ServerConfig::default()
    }
}

async fn gauge(server: &TestServer, name: &str) -> f64 {
    let m = server.metrics().await;
    assert!(m.has(name), "/metrics lacks {name}");
    m.get(name, &[])
}

/// Problem 1: inviting never-seen accounts with `offlineEnabled` used to store events
/// for any number of accounts. Now the store holds events for at most the configured
/// number of accounts; past it, the invite answers 429 and changes nothing.
#[tokio::test]
async fn inviting_many_unknown_accounts_stops_at_the_offline_store_bound() {
    let server = start_server_with(limits(Limits {
        offline_accounts: 20,
        ..Limits::default()
    }))
    .await;
    let inviter = acct("flooder");
    let mut a = server.online(&inviter).await;
    let ch = a.ok("create", json!({"type": 1})).await["channel"].clone();
    let victims: Vec<String> = (0..30).map(|_| acct("never-seen")).collect();
    for (n, victim) in victims.iter().enumerate() {
        let r = a
            .request(
                "invite",
                inv(&ch, victim, "r", json!({"offlineEnabled": true})),
            )
            .await;
        let want = if n < 20 {
            Code::PeerNimOffline
        } else {
            Code::LimitExceeded
        };
        assert_code(&r, want, &format!("invite #{n}"));
    }
    assert_eq!(gauge(&server, "sigbench_offline_accounts").await, 20.0);
    assert_eq!(
        gauge(&server, "sigbench_limit_offline_accounts").await,
        20.0
    );
    let m = server.metrics().await;
    assert_eq!(
        m.get("sigbench_ops_total", &[("op", "invite"), ("code", "429")]),
        10.0
    );

    // A refused invite changed nothing: no stored event, no invitation to answer.
    let mut late = server.connect().await;
    let session = late.login(&victims[25]).await;
    assert!(
        session.unread.is_empty(),
        "stored events for a refused invite"
    );
    late.expect_code(
        "accept",
        inv(&ch, &inviter, "r", json!({})),
        Code::InviteNotExists,
    )
    .await;
    // One that was stored is delivered at login.
    let mut first = server.connect().await;
    let s = first.login(&victims[0]).await;
    assert_eq!(s.unread.len(), 1, "the first victim's stored INVITE");
}

/// Problem 1: an account cannot hold more than its share of invitations.
#[tokio::test]
async fn invitations_per_inviter_are_bounded_and_given_back() {
    let server = start_server_with(limits(Limits {
        invitations_per_inviter: 5,
        ..Limits::default()
    }))
    .await;
    let mut a = server.online(&acct("inviter")).await;
    let ch = a.ok("create", json!({"type": 1})).await["channel"].clone();
    let bob = acct("bob");
    for n in 0..5 {
        a.expect_code(
            "invite",
            inv(&ch, &bob, &format!("r{n}"), json!({})),
            Code::PeerNimOffline,
        )
        .await;
    }
    // Renewing a held invitation takes nothing more.
    a.expect_code(
        "invite",
        inv(&ch, &bob, "r0", json!({})),
        Code::PeerNimOffline,
    )
    .await;
    a.expect_code(
        "invite",
        inv(&ch, &bob, "r5", json!({})),
        Code::LimitExceeded,
    )
    .await;
    assert_eq!(gauge(&server, "sigbench_invitations").await, 5.0);
    // A cancel gives one back.
    a.ok("cancel", inv(&ch, &bob, "r1", json!({}))).await;
    a.expect_code(
        "invite",
        inv(&ch, &bob, "r5", json!({})),
        Code::PeerNimOffline,
    )
    .await;
    // Closing the channel gives all back.
    a.ok("close", json!({"channelId": ch["channelId"]})).await;
    assert_eq!(gauge(&server, "sigbench_invitations").await, 0.0);
}

/// Problem 1: 20,000 channels with a 4 KB `ext` each. Now an account holds at most its
/// channel allowance and its `ext` bytes; closing gives them back.
#[tokio::test]
async fn channels_and_ext_bytes_per_account_are_bounded() {
    let server = start_server_with(limits(Limits {
        channels_per_creator: 10,
        ext_bytes_per_account: 16 * 1024,
        ..Limits::default()
    }))
    .await;
    let mut a = server.online(&acct("hoarder")).await;
    let ext = "e".repeat(4000);
    let mut ids = Vec::new();
    for n in 0..4 {
        let data = a.ok("create", json!({"type": 1, "ext": ext})).await;
        ids.push(data["channel"]["channelId"].clone());
        assert_eq!(
            gauge(&server, "sigbench_ext_bytes").await,
            4000.0 * (n + 1) as f64
        );
    }
    // A fifth 4 KB ext passes 16 KiB: 429, and nothing was created.
    let before = gauge(&server, "sigbench_channels").await;
    a.expect_code(
        "create",
        json!({"type": 1, "ext": ext, "channelName": "fifth"}),
        Code::LimitExceeded,
    )
    .await;
    assert_eq!(gauge(&server, "sigbench_channels").await, before);
    a.expect_code(
        "query",
        json!({"channelName": "fifth"}),
        Code::RoomNotExists,
    )
    .await;
    // Channels without ext count against the channel allowance: 6 more fit, not 7.
    for _ in 0..6 {
        ids.push(a.ok("create", json!({"type": 1})).await["channel"]["channelId"].clone());
    }
    a.expect_code("create", json!({"type": 1}), Code::LimitExceeded)
        .await;
    a.expect_code(
        "call",
        json!({"type": 1, "account": acct("x"), "requestId": "r"}),
        Code::LimitExceeded,
    )
    .await;
    // Another account is not affected.
    let mut b = server.online(&acct("neighbour")).await;
    b.ok("create", json!({"type": 1, "ext": ext})).await;
    // Closing gives back both allowances.
    a.ok("close", json!({"channelId": ids[0]})).await;
    a.ok("create", json!({"type": 1, "ext": ext})).await;
    let m = server.metrics().await;
    assert_eq!(m.get("sigbench_limit_channels_per_creator", &[]), 10.0);
    assert_eq!(m.get("sigbench_limit_ext_bytes_per_account", &[]), 16384.0);
}

/// Problem 1: the store's byte bound and the sender's ext allowance also cover events
/// that carry a large attachExt.
#[tokio::test]
async fn stored_bytes_are_bounded_in_total() {
    let server = start_server_with(limits(Limits {
        offline_bytes: 64 * 1024,
        ..Limits::default()
    }))
    .await;
    let mut a = server.online(&acct("sender")).await;
    let ch = a.ok("create", json!({"type": 1})).await["channel"].clone();
    let bob = acct("offline-bob");
    let big = "b".repeat(4000);
    let mut refused = 0;
    for n in 0..40 {
        let r = a
            .request(
                "invite",
                inv(
                    &ch,
                    &bob,
                    &format!("r{n}"),
                    json!({"offlineEnabled": true, "attachExt": big}),
                ),
            )
            .await;
        match Code::from_number(r["code"].as_u64().unwrap_or(0) as u32) {
            Some(Code::PeerNimOffline) => {}
            Some(Code::LimitExceeded) => refused += 1,
            _ => panic!("invite #{n}: {r}"),
        }
    }
    assert!(refused > 0, "40 x 4 KB fit in a 64 KiB store");
    let stored = gauge(&server, "sigbench_offline_bytes").await;
    assert!(stored <= 65536.0, "stored {stored} bytes");
    // Every invite answered 10201 has its event stored: none was dropped silently.
    assert_eq!(gauge(&server, "sigbench_events_refused_total").await, 0.0);
    // Reading them frees the store.
    let mut b = server.connect().await;
    let unread = b.login(&bob).await.unread;
    let msgids: Vec<Value> = unread.iter().map(|e| e["msgid"].clone()).collect();
    b.ok("markRead", json!({"msgids": msgids})).await;
    assert_eq!(gauge(&server, "sigbench_offline_bytes").await, 0.0);
    assert_eq!(gauge(&server, "sigbench_offline_accounts").await, 0.0);
}

fn is_unguessable(id: &str) -> bool {
    let hex: String = id.chars().filter(char::is_ascii_hexdigit).collect();
    hex.len() >= 32
}

/// Problem 2: channel ids were `c-1`, `c-2`, …; a stranger found a victim's channel in
/// 39 queries. Now ids carry 128 random bits, and neither ids nor generated names follow
/// one another.
#[tokio::test]
async fn channel_ids_and_generated_names_cannot_be_guessed() {
    let server = start_server().await;
    let mut a = server.online(&acct("alice")).await;
    let mut seen = std::collections::HashSet::new();
    for _ in 0..20 {
        let ch = a.ok("create", json!({"type": 1})).await["channel"].clone();
        let (id, name) = (
            ch["channelId"].as_str().unwrap(),
            ch["channelName"].as_str().unwrap(),
        );
        assert!(is_unguessable(id), "channel id {id}");
        assert!(is_unguessable(name), "generated name {name}");
        assert!(seen.insert(id.to_string()) && seen.insert(name.to_string()));
    }
    // The old guesses find nothing.
    let mut stranger = server.online(&acct("stranger")).await;
    for n in 0..50 {
        stranger
            .expect_code(
                "query",
                json!({"channelId": format!("c-{n}")}),
                Code::RoomNotExists,
            )
            .await;
    }
}

/// Problem 2: with `members_only`, a stranger who knows the id can neither read the
/// members, nor join, nor push `control` at them, nor close; the callee's accept works.
#[tokio::test]
async fn members_only_keeps_strangers_out_of_a_call() {
    let server = start_server_with(ServerConfig {
        members_only: true,
        ..ServerConfig::default()
    })
    .await;
    let (alice, bob, eve) = (acct("alice"), acct("bob"), acct("eve"));
    let mut a = server.online(&alice).await;
    let mut b = server.online(&bob).await;
    let mut e = server.online(&eve).await;
    let ch = a
        .ok(
            "call",
            json!({"type": 2, "account": bob, "requestId": "r1"}),
        )
        .await["channel"]
        .clone();
    b.expect_event("INVITE").await;
    let id = ch["channelId"].clone();
    e.expect_code("query", json!({"channelId": id}), Code::RoomNotExists)
        .await;
    e.expect_code(
        "query",
        json!({"channelName": ch["channelName"]}),
        Code::RoomNotExists,
    )
    .await;
    e.expect_code("join", json!({"channelId": id}), Code::RoomNotExists)
        .await;
    e.expect_code(
        "control",
        json!({"channelId": id, "account": alice}),
        Code::RoomNotExists,
    )
    .await;
    e.expect_code("control", json!({"channelId": id}), Code::RoomNotExists)
        .await;
    e.expect_code("close", json!({"channelId": id}), Code::RoomMemberNotExists)
        .await;
    all_quiet(&mut [&mut a, &mut b]).await;
    // The invitee may look and accept; then both are members.
    b.ok("query", json!({"channelId": id})).await;
    let data = b
        .ok("accept", inv(&ch, &alice, "r1", json!({"autoJoin": true})))
        .await;
    assert_eq!(data["members"].as_array().map(Vec::len), Some(2));
    a.expect_event("ACCEPT").await;
    a.expect_event("ROOM_JOIN").await;
    b.ok("control", json!({"channelId": id, "account": alice}))
        .await;
    a.expect_event("CONTROL").await;
}

/// Without the option (the default), the protocol is unchanged: anyone who knows the id
/// may query (the conformance suite relies on it).
#[tokio::test]
async fn without_members_only_query_is_open_as_the_protocol_says() {
    let server = start_server().await;
    let mut a = server.online(&acct("alice")).await;
    let ch = a.ok("create", json!({"type": 1})).await["channel"].clone();
    let mut s = server.online(&acct("stranger")).await;
    s.ok("query", json!({"channelId": ch["channelId"]})).await;
}
