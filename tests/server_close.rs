//! The closing handshake (RFC 6455 §5.5.1, §7.1.2) in both directions, and
//! `--presence-lag`: a connection that ended counts as online for that long.

mod common;

use std::time::Duration;

use common::*;
use serde_json::json;
use sigbench::server::ServerConfig;
use tokio::time::Instant;

/// After the server's Close frame, the TCP connection ends (no further frames).
async fn ends_after_close(c: &mut Client) {
    match c.wire(WAIT).await {
        Wire::Ended(_) => {}
        other => panic!("{c:?}: expected the end of the connection after Close, got {other:?}"),
    }
}

#[tokio::test]
async fn a_client_close_is_answered_with_the_same_code() {
    let server = start_server().await;
    for code in [1000, 1001, 4000, 4999] {
        let mut c = server.online(&acct("closer")).await;
        c.take_pending();
        c.send_close(code).await;
        match c.wire(WAIT).await {
            Wire::Close(Some(got)) => assert_eq!(got, code, "the reply repeats the code"),
            other => panic!("Close {code}: expected a Close reply, got {other:?}"),
        }
        ends_after_close(&mut c).await;
    }
    // Before login too.
    let mut c = server.connect().await;
    c.send_close(1000).await;
    assert!(matches!(c.wire(WAIT).await, Wire::Close(Some(1000))));
}

#[tokio::test]
async fn shutdown_sends_close_1001() {
    let server = start_server().await;
    let mut c = server.online(&acct("bystander")).await;
    c.take_pending();
    let shutdown = tokio::spawn(server.handle.shutdown());
    match c.wire(WAIT).await {
        Wire::Close(Some(1001)) => {}
        other => panic!("expected Close 1001 at shutdown, got {other:?}"),
    }
    c.close().await;
    tokio::time::timeout(WAIT, shutdown)
        .await
        .expect("shutdown finishes")
        .expect("shutdown task");
}

#[tokio::test]
async fn server_closes_are_close_frames() {
    let server = start_server().await;
    // 1009: a message over the size limit.
    let mut c = server.online(&acct("big")).await;
    c.take_pending();
    c.send_text(format!(
        r#"{{"id":1,"op":"query","params":{{"channelName":"{}"}}}}"#,
        "x".repeat(70_000)
    ))
    .await;
    c.expect_close(1009).await;
    // 1003: a binary frame.
    let mut c = server.online(&acct("bin")).await;
    c.take_pending();
    c.send_message(tokio_tungstenite::tungstenite::Message::binary(vec![1, 2]))
        .await;
    c.expect_close(1003).await;
    ends_after_close(&mut c).await;
}

#[tokio::test]
async fn an_ended_connection_stays_online_for_the_presence_lag() {
    // A lag far longer than the test: the account must still count as online. The
    // server's shutdown cuts the lag short.
    let server = start_server_with(ServerConfig {
        presence_lag: Duration::from_secs(600),
        ..ServerConfig::default()
    })
    .await;
    let bob = acct("bob");
    let c = server.online(&bob).await;
    c.close().await;
    let mut alice = server.online(&acct("alice")).await;
    let cid = alice.ok("create", json!({"type": 1})).await["channel"]["channelId"].clone();
    let r = alice
        .request(
            "invite",
            json!({"channelId": cid, "account": bob, "requestId": "r", "offlineEnabled": true}),
        )
        .await;
    assert_eq!(r["code"], 200, "bob's ended connection still counts: {r}");
    // What was sent to the ended connection is lost, not stored.
    let mut back = server.connect().await;
    let session = back.login(&bob).await;
    assert!(session.unread.is_empty(), "nothing stored: {session:?}");
    tokio::time::timeout(WAIT, server.handle.shutdown())
        .await
        .expect("shutdown does not wait for the presence lag");
}

#[tokio::test]
async fn an_ended_connection_goes_offline_after_the_presence_lag() {
    let lag = Duration::from_millis(200);
    let server = start_server_with(ServerConfig {
        presence_lag: lag,
        ..ServerConfig::default()
    })
    .await;
    let bob = acct("bob");
    let c = server.online(&bob).await;
    let closed = Instant::now();
    // Closes, then polls until an invite answers 10201, within a deadline.
    server.go_offline(c).await;
    assert!(
        closed.elapsed() >= lag,
        "offline after {:?}, before the {lag:?} lag",
        closed.elapsed()
    );
}
