//! A SIP server that answers with broken messages: the request waiting for the answer
//! fails at once with the rule broken (the runner quotes the frame, see
//! tests/sip_cli.rs); no panic, no hang.

mod sip;

use sigbench::drivers::sip::ua::Event;
use sip::{BadServer, Sip, answer, config};
use tokio::time::Instant;

/// Registers against `script`'s server and returns the problem reported.
async fn problem(script: fn(&str) -> Vec<String>) -> (Option<u64>, String, usize) {
    let server = BadServer::start(script).await;
    let mut ua = Sip::connect(&server.url, config("alice", Some("pw"))).await;
    let (key, text) = ua.with(|ua| ua.register(Instant::now(), 60)).unwrap();
    ua.send(text).await;
    match ua.next().await {
        Event::Unreadable { key: got, why } => {
            if got.is_some() {
                assert_eq!(got, Some(key));
            }
            (got, why, ua.with(|ua| ua.open_transactions()))
        }
        other => panic!("expected a reported problem, got {other:?}"),
    }
}

#[tokio::test]
async fn no_blank_line_after_the_headers() {
    let (key, why, open) =
        problem(|req| vec![answer(req, "200 OK").replace("\r\n\r\n", "\r\n")]).await;
    assert!(key.is_some());
    assert!(why.starts_with("no blank line after the headers"), "{why}");
    assert_eq!(open, 0);
}

#[tokio::test]
async fn a_bad_start_line() {
    let (key, why, _) =
        problem(|req| vec![answer(req, "200 OK").replacen("SIP/2.0 200 OK", "SIP/2.0 OK", 1)])
            .await;
    assert!(key.is_some());
    assert!(why.starts_with("bad start line 'SIP/2.0 OK'"), "{why}");
}

#[tokio::test]
async fn a_missing_call_id() {
    let (key, why, _) = problem(|req| {
        let a = answer(req, "200 OK");
        let line = a
            .lines()
            .find(|l| l.starts_with("Call-ID:"))
            .unwrap()
            .to_string();
        vec![a.replace(&format!("{line}\r\n"), "")]
    })
    .await;
    assert!(key.is_some());
    assert_eq!(why, "missing Call-ID header");
}

#[tokio::test]
async fn a_missing_cseq() {
    let (key, why, _) = problem(|req| {
        let a = answer(req, "200 OK");
        let line = a
            .lines()
            .find(|l| l.starts_with("CSeq:"))
            .unwrap()
            .to_string();
        vec![a.replace(&format!("{line}\r\n"), "")]
    })
    .await;
    assert!(key.is_some());
    assert!(why.starts_with("missing CSeq header"), "{why}");
}

#[tokio::test]
async fn content_length_larger_than_the_body() {
    let (key, why, _) = problem(|req| {
        vec![answer(req, "200 OK").replace(
            "Content-Length: 0\r\n\r\n",
            "Content-Length: 500\r\n\r\nv=0\r\n",
        )]
    })
    .await;
    assert!(key.is_some());
    assert!(
        why.starts_with("Content-Length 500 exceeds the 5-byte body"),
        "{why}"
    );
}

#[tokio::test]
async fn a_hundred_kilobytes_of_headers() {
    let (key, why, _) = problem(|req| {
        let pad = format!("X-Pad: {}\r\n", "a".repeat(1000)).repeat(100);
        vec![answer(req, "200 OK").replace(
            "Content-Length: 0\r\n",
            &format!("{pad}Content-Length: 0\r\n"),
        )]
    })
    .await;
    assert!(key.is_some());
    assert!(why.contains("exceeds the 65536-byte limit"), "{why}");
    assert!(why.len() < 1000, "the reason is short: {} bytes", why.len());
}

#[tokio::test]
async fn a_response_to_nothing() {
    let (key, why, open) = problem(|req| {
        let a = answer(req, "200 OK");
        vec![a.replace("branch=z9hG4bK", "branch=z9hG4bKother")]
    })
    .await;
    assert_eq!(key, None);
    assert!(
        why.starts_with("response to no request of this connection"),
        "{why}"
    );
    // The REGISTER still waits (its own answer never came): the runner's deadline ends it.
    assert_eq!(open, 1);
}
