//! Operations: `/healthz`, `/metrics`, the per-connection rate limit (416, §P-2.6), slow
//! consumers (close 1008, counted), and graceful shutdown.

mod common;

use std::time::Duration;

use common::*;
use serde_json::{Value, json};
use sigbench::protocol::Code;
use sigbench::server::ServerConfig;
use tokio::time::Instant;

#[tokio::test]
async fn healthz_answers_ok() {
    let server = start_server().await;
    let (status, body) = server.http_get("/healthz").await;
    assert_eq!(status, 200);
    assert_eq!(body.trim(), "ok");
}

#[tokio::test]
async fn metrics_expose_every_documented_series() {
    let server = start_server().await;
    let m = server.metrics().await;
    for name in [
        "sigbench_connections",
        "sigbench_ops_total",
        "sigbench_events_delivered_total",
        "sigbench_events_stored_total",
        "sigbench_events_dropped_total",
        "sigbench_slow_consumer_disconnects_total",
        "sigbench_kicks_total",
    ] {
        assert!(m.has(name), "/metrics lacks {name}:\n{}", m.text);
    }
    assert!(
        m.text
            .lines()
            .any(|l| l.trim() == "# TYPE sigbench_connections gauge"),
        "sigbench_connections is a gauge:\n{}",
        m.text
    );
}

#[tokio::test]
async fn metrics_count_ops_by_code_and_delivered_events() {
    let server = start_server().await;
    let before = server.metrics().await;
    let (alice, bob) = (acct("alice"), acct("bob"));
    let mut a = server.online(&alice).await;
    let mut b1 = server.online_on(&bob, "d1").await;
    let mut b2 = server.online_on(&bob, "d2").await;
    let name = acct("room");
    let ch = a
        .ok("create", json!({"type": 1, "channelName": name}))
        .await["channel"]["channelId"]
        .clone();
    a.expect_code(
        "create",
        json!({"type": 1, "channelName": name}),
        Code::RoomHasExists,
    )
    .await;
    a.ok(
        "invite",
        json!({"channelId": ch, "account": bob, "requestId": "r"}),
    )
    .await;
    b1.expect_event("INVITE").await;
    b2.expect_event("INVITE").await;
    let after = server.metrics().await;

    let ops = |m: &Metrics, op: &str, code: &str| {
        m.get("sigbench_ops_total", &[("op", op), ("code", code)])
    };
    assert_eq!(
        ops(&after, "login", "200") - ops(&before, "login", "200"),
        3.0
    );
    assert_eq!(
        ops(&after, "create", "200") - ops(&before, "create", "200"),
        1.0
    );
    assert_eq!(
        ops(&after, "create", "10405") - ops(&before, "create", "10405"),
        1.0
    );
    assert_eq!(
        ops(&after, "invite", "200") - ops(&before, "invite", "200"),
        1.0
    );
    let delivered = after.get("sigbench_events_delivered_total", &[])
        - before.get("sigbench_events_delivered_total", &[]);
    assert!(delivered >= 1.0, "INVITE delivered: {delivered}");
}

/// Polls `/metrics` until `sigbench_connections` satisfies `ok` (at most 2 s).
async fn wait_connections(server: &TestServer, what: &str, ok: impl Fn(f64) -> bool) -> f64 {
    let deadline = Instant::now() + WAIT;
    loop {
        let n = server.metrics().await.get("sigbench_connections", &[]);
        if ok(n) {
            return n;
        }
        assert!(
            Instant::now() < deadline,
            "sigbench_connections {n}: {what}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn the_connections_gauge_follows_clients() {
    let server = start_server().await;
    let base = server.metrics().await.get("sigbench_connections", &[]);
    let mut clients = Vec::new();
    for _ in 0..3 {
        clients.push(server.online(&acct("alice")).await);
    }
    clients.push(server.connect().await);
    wait_connections(&server, "4 clients connected", |n| n >= base + 4.0).await;
    for c in clients {
        c.close().await;
    }
    wait_connections(&server, "back to the baseline", |n| n <= base).await;
}

#[tokio::test]
async fn a_connection_over_its_rate_gets_416_and_others_are_not_affected() {
    let server = start_server_with(ServerConfig {
        rate_limit: Some(5),
        ..ServerConfig::default()
    })
    .await;
    let mut observer = server.online(&acct("observer")).await;
    let mut c = server.online(&acct("alice")).await;

    // A burst of 30 pipelined requests, then three frames sent while over the rate.
    let mut ids = Vec::new();
    for _ in 0..30 {
        ids.push(c.send("query", json!({"channelId": "none"})).await);
    }
    c.send_text(r#"{"id":900,"op":"nope"}"#).await;
    c.send_text(r#"{"op":"create"}"#).await;
    c.send_text("not json").await;

    let mut passed = 0;
    let mut limited = 0;
    for (i, id) in ids.iter().enumerate() {
        let r = c.response_to(*id).await;
        match r["code"].as_u64() {
            Some(416) => {
                assert_code(&r, Code::RateLimited, "over the rate");
                limited += 1;
            }
            Some(10404) => passed += 1,
            _ => panic!("request {i}: {r}"),
        }
    }
    assert!(passed >= 1, "the first requests pass");
    assert!(limited >= 1, "a burst of 30 at 5/s is limited");
    assert!(passed <= 10, "at most about 5/s pass: {passed}");
    // P-2.6: rate limit before UNKNOWN_OP and BAD_FRAME, but after the JSON parse.
    let r = c.recv().await;
    assert_code(&r, Code::RateLimited, "unknown op while over the rate");
    assert_eq!(r["id"], 900);
    let r = c.recv().await;
    assert_code(
        &r,
        Code::RateLimited,
        "frame without id while over the rate",
    );
    assert_eq!(r["id"], Value::Null);
    let r = c.recv().await;
    assert_code(&r, Code::BadFrame, "non-JSON while over the rate");

    // Per connection: the observer is served.
    observer
        .expect_code("query", json!({"channelId": "none"}), Code::RoomNotExists)
        .await;
    // The rate recovers.
    tokio::time::sleep(Duration::from_millis(1050)).await;
    c.expect_code("query", json!({"channelId": "none"}), Code::RoomNotExists)
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_never_reads_is_disconnected_and_counted() {
    let server = start_server().await;
    let (victim_name, sender_name) = (acct("victim"), acct("sender"));
    let mut victim = Client::connect_small_buffer(&server.url(), 4096).await;
    victim.login(&victim_name).await;
    let mut sender = server.online(&sender_name).await;
    let ch = sender.ok("create", json!({"type": 1})).await["channel"]["channelId"].clone();
    victim.ok("join", json!({"channelId": ch})).await;
    let before = server
        .metrics()
        .await
        .get("sigbench_slow_consumer_disconnects_total", &[]);

    // The victim reads nothing from here on. CONTROL pushes of ~4.5 KB each fill its
    // socket buffers, then the server's bounded queue.
    let payload = "x".repeat(4096);
    let started = Instant::now();
    let mut sent = 0;
    let disconnected = loop {
        let mut ids = Vec::new();
        for _ in 0..200 {
            ids.push(
                sender
                    .send(
                        "control",
                        json!({"channelId": ch, "account": victim_name, "attachExt": payload}),
                    )
                    .await,
            );
        }
        let mut offline = false;
        for id in ids {
            let r = sender.response_to(id).await;
            match r["code"].as_u64() {
                Some(200) => {}
                Some(10201) => offline = true,
                _ => panic!("control: {r}"),
            }
        }
        sent += 200;
        let count = server
            .metrics()
            .await
            .get("sigbench_slow_consumer_disconnects_total", &[]);
        if count > before {
            break true;
        }
        assert!(!offline, "victim went offline without being counted");
        if sent >= 20_000 || started.elapsed() > Duration::from_secs(15) {
            break false;
        }
    };
    assert!(
        disconnected,
        "no slow-consumer disconnect after {sent} pushes"
    );

    // The victim sees close 1008 after what was already sent, or a reset.
    let code = victim.drain_until_closed(Duration::from_secs(5)).await;
    assert!(matches!(code, None | Some(1008)), "close code {code:?}");
    // The server is fine: the victim goes offline, others are served, new logins work.
    // (Presence has no sync point with the close the victim saw: poll, with a deadline.)
    let deadline = Instant::now() + WAIT;
    loop {
        let r = sender
            .request("control", json!({"channelId": ch, "account": victim_name}))
            .await;
        if r["code"] == Code::PeerNimOffline.number() {
            break;
        }
        assert!(Instant::now() < deadline, "victim still online: {r}");
    }
    let mut again = server.online(&victim_name).await;
    again.ok("query", json!({"channelId": ch})).await;
}

#[tokio::test]
async fn shutdown_closes_connected_clients_and_completes() {
    let server = start_server().await;
    let addr = server.addr();
    let (alice, bob) = (acct("alice"), acct("bob"));
    let mut a = server.online(&alice).await;
    let mut b = server.online(&bob).await;
    let mut fresh = server.connect().await;
    let ch = a.ok("create", json!({"type": 1})).await["channel"]["channelId"].clone();
    a.ok("join", json!({"channelId": ch})).await;
    b.ok("join", json!({"channelId": ch})).await;
    a.expect_event("ROOM_JOIN").await;

    tokio::time::timeout(Duration::from_secs(3), server.shutdown())
        .await
        .expect("shutdown completes within 3 s");
    for c in [&mut a, &mut b, &mut fresh] {
        c.drain_until_closed(WAIT).await;
    }
    assert!(
        tokio::net::TcpStream::connect(addr).await.is_err(),
        "nothing listens after shutdown"
    );
}

#[tokio::test]
async fn shutdown_is_not_held_up_by_a_connection_that_never_handshakes() {
    let server = start_server().await;
    let _idle = tokio::net::TcpStream::connect(server.addr())
        .await
        .expect("TCP connect");
    let _client = server.online(&acct("alice")).await;
    tokio::time::timeout(Duration::from_secs(3), server.shutdown())
        .await
        .expect("shutdown completes within 3 s");
}
