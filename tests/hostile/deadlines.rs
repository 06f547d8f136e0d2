//! Problems 3 and 4: clients that do not read, do not log in, or hold connections open.

use std::time::Duration;

use serde_json::json;
use sigbench::server::{Limits, ServerConfig, Timeouts};
use tokio::time::Instant;

use crate::common::*;

async fn counter(server: &TestServer, name: &str) -> f64 {
    server.metrics().await.get(name, &[])
}

/// Polls `/metrics` until `name` passes `above` (the event a test waits for), at most
/// `within`.
async fn wait_counter(server: &TestServer, name: &str, above: f64, within: Duration) -> bool {
    let deadline = Instant::now() + within;
    let mut poll = tokio::time::interval(Duration::from_millis(20));
    loop {
        poll.tick().await;
        if counter(server, name).await > above {
            return true;
        }
        if Instant::now() > deadline {
            return false;
        }
    }
}

/// A WebSocket handshake that may be refused: the HTTP status of a refusal.
async fn try_connect(server: &TestServer) -> Result<Client, u16> {
    Client::try_connect(&server.url()).await
}

/// Sends `n` CONTROL pushes of about 4 KB from `sender` to `target` in `ch`; returns
/// how many the server answered 200 before the target went offline.
async fn push_controls(
    sender: &mut Client,
    ch: &serde_json::Value,
    target: &str,
    n: usize,
) -> usize {
    let payload = "x".repeat(4096);
    let mut ids = Vec::new();
    for _ in 0..n {
        ids.push(
            sender
                .send(
                    "control",
                    json!({"channelId": ch, "account": target, "attachExt": payload}),
                )
                .await,
        );
    }
    let mut ok = 0;
    for id in ids {
        if sender.response_to(id).await["code"] == 200 {
            ok += 1;
        }
    }
    ok
}

/// Problem 3: the queue counted 1,024 frames, so one client that never read pinned
/// ~55 MiB. Now it is bounded in bytes: the client is closed once its queue passes the
/// bound, long before 1,024 large frames.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_queue_is_bounded_in_bytes() {
    let server = start_server_with(ServerConfig {
        max_queue: 64 * 1024,
        ..ServerConfig::default()
    })
    .await;
    let (victim_name, sender_name) = (acct("victim"), acct("sender"));
    let mut victim = Client::connect_small_buffer(&server.url(), 4096).await;
    victim.login(&victim_name).await;
    let mut sender = server.online(&sender_name).await;
    let ch = sender.ok("create", json!({"type": 1})).await["channel"]["channelId"].clone();
    victim.ok("join", json!({"channelId": ch})).await;
    let before = counter(&server, "sigbench_slow_consumer_disconnects_total").await;
    // 1,000 frames of 4 KB: 4 MB, fewer frames than the old bound. Socket buffers take
    // some; the 64 KiB queue must overflow well before the end.
    let mut delivered = 0;
    for _ in 0..10 {
        delivered += push_controls(&mut sender, &ch, &victim_name, 100).await;
        if counter(&server, "sigbench_slow_consumer_disconnects_total").await > before {
            break;
        }
    }
    assert!(
        wait_counter(
            &server,
            "sigbench_slow_consumer_disconnects_total",
            before,
            WAIT
        )
        .await,
        "no slow-consumer disconnect after {delivered} pushes of 4 KB"
    );
    assert!(
        delivered < 1000,
        "{delivered} pushes queued before the disconnect"
    );
    let code = victim.drain_until_closed(Duration::from_secs(5)).await;
    assert!(matches!(code, None | Some(1008)), "close code {code:?}");
}

/// Problem 3: ten clients kept just under the queue bound were held for over 60 s. Now
/// a write that does not complete within the write deadline closes the client, even
/// when its queue is far below the byte bound.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_write_that_blocks_past_the_deadline_closes_the_client() {
    let server = start_server_with(ServerConfig {
        max_queue: 256 * 1024 * 1024,
        timeouts: Timeouts {
            write: Duration::from_millis(300),
            ..Timeouts::default()
        },
        ..ServerConfig::default()
    })
    .await;
    let (victim_name, sender_name) = (acct("victim"), acct("sender"));
    let mut victim = Client::connect_small_buffer(&server.url(), 4096).await;
    victim.login(&victim_name).await;
    let mut sender = server.online(&sender_name).await;
    let ch = sender.ok("create", json!({"type": 1})).await["channel"]["channelId"].clone();
    victim.ok("join", json!({"channelId": ch})).await;
    let before = counter(&server, "sigbench_slow_consumer_disconnects_total").await;
    // At most 32 MB, an eighth of the queue's bound: only the write deadline can end it.
    for _ in 0..80 {
        push_controls(&mut sender, &ch, &victim_name, 100).await;
        if counter(&server, "sigbench_slow_consumer_disconnects_total").await > before {
            break;
        }
    }
    assert!(
        wait_counter(
            &server,
            "sigbench_slow_consumer_disconnects_total",
            before,
            WAIT
        )
        .await,
        "a client that never reads was not closed by the write deadline"
    );
    let code = victim.drain_until_closed(Duration::from_secs(5)).await;
    assert!(matches!(code, None | Some(1008)), "close code {code:?}");
}

/// Problem 3: a kicked client that does not read was never closed, and the new login
/// waited ~2 s for it. Now it is closed at once and the new login answers promptly.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_kicked_client_that_does_not_read_is_closed_at_once() {
    let server = start_server_with(ServerConfig {
        max_queue: 256 * 1024 * 1024,
        timeouts: Timeouts {
            write: Duration::from_secs(60),
            ..Timeouts::default()
        },
        ..ServerConfig::default()
    })
    .await;
    let (victim_name, sender_name) = (acct("victim"), acct("sender"));
    let mut old = Client::connect_small_buffer(&server.url(), 4096).await;
    old.login(&victim_name).await;
    let mut sender = server.online(&sender_name).await;
    let ch = sender.ok("create", json!({"type": 1})).await["channel"]["channelId"].clone();
    old.ok("join", json!({"channelId": ch})).await;
    // 8 MB for a client with a 4 KB receive buffer: its writes block.
    for _ in 0..20 {
        push_controls(&mut sender, &ch, &victim_name, 100).await;
    }
    let started = Instant::now();
    let mut new = server.connect().await;
    new.login(&victim_name).await;
    let took = started.elapsed();
    // The old connection gets at most a 250 ms goodbye; the 2 s of before would show.
    assert!(
        took < Duration::from_millis(1500),
        "the new login took {took:?}"
    );
    let code = old.drain_until_closed(Duration::from_secs(5)).await;
    assert!(matches!(code, None | Some(4001)), "close code {code:?}");
    assert!(counter(&server, "sigbench_kicks_total").await >= 1.0);
}

/// Problem 4: connections that never logged in were kept forever. Now they are closed
/// with 1008 after the login deadline, and counted.
#[tokio::test]
async fn a_connection_that_does_not_log_in_is_closed_at_the_deadline() {
    let server = start_server_with(ServerConfig {
        timeouts: Timeouts {
            login: Duration::from_millis(200),
            ..Timeouts::default()
        },
        ..ServerConfig::default()
    })
    .await;
    let mut idle = server.connect().await;
    match idle.wire(WAIT).await {
        Wire::Close(Some(code)) => assert_eq!(code, 1008),
        other => panic!("expected close 1008, got {other:?}"),
    }
    assert_eq!(counter(&server, "sigbench_login_timeouts_total").await, 1.0);
    // A client that logs in in time stays.
    let mut ok = server.connect().await;
    ok.login(&acct("prompt")).await;
    ok.expect_no_frame(Duration::from_millis(400)).await;
    ok.ok("create", json!({"type": 1})).await;
}

/// Problem 4: the connections waiting to log in, and those of one address, are bounded:
/// past the bound the upgrade is answered 503 and logged-in clients are unaffected.
#[tokio::test]
async fn connections_not_logged_in_and_per_address_are_bounded() {
    let server = start_server_with(ServerConfig {
        limits: Limits {
            not_logged_in: 3,
            connections_per_addr: 5,
            ..Limits::default()
        },
        ..ServerConfig::default()
    })
    .await;
    let mut waiting = Vec::new();
    for _ in 0..3 {
        waiting.push(server.connect().await);
    }
    assert_eq!(try_connect(&server).await.err(), Some(503));
    let m = server.metrics().await;
    assert_eq!(m.get("sigbench_connections_not_logged_in", &[]), 3.0);
    assert_eq!(m.get("sigbench_connections_refused_total", &[]), 1.0);
    assert_eq!(m.get("sigbench_limit_not_logged_in", &[]), 3.0);
    // One logs in: a place is free again.
    waiting[0].login(&acct("a")).await;
    let mut fourth = try_connect(&server)
        .await
        .expect("a place freed by the login");
    fourth.login(&acct("b")).await;
    // Five connections are now open from 127.0.0.1, the bound: a sixth is refused.
    let mut fifth = server.connect().await;
    fifth.login(&acct("c")).await;
    assert_eq!(try_connect(&server).await.err(), Some(503));
    waiting[0].ok("create", json!({"type": 1})).await;
}

/// Idle clients: a ping goes out after half the idle timeout; a client that answers it
/// stays, one that never reads (so never answers) is closed and counted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn silent_clients_are_pinged_and_dead_ones_closed() {
    let server = start_server_with(ServerConfig {
        timeouts: Timeouts {
            idle: Duration::from_millis(400),
            ..Timeouts::default()
        },
        ..ServerConfig::default()
    })
    .await;
    let mut alive = server.online(&acct("alive")).await;
    let mut dead = server.online(&acct("dead")).await;
    // `alive` reads (the client library answers pings while reading); `dead` does not.
    alive.expect_no_frame(Duration::from_millis(1200)).await;
    assert!(
        wait_counter(&server, "sigbench_idle_timeouts_total", 0.0, WAIT).await,
        "the silent client was not closed"
    );
    assert_eq!(counter(&server, "sigbench_idle_timeouts_total").await, 1.0);
    alive.ok("create", json!({"type": 1})).await;
    let code = dead.drain_until_closed(WAIT).await;
    assert!(matches!(code, None | Some(1008)), "close code {code:?}");
}
