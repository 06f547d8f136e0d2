//! The SIP UA core against a real SIP server nobody on this project wrote: Kamailio from
//! Debian's packages, as deploy/kamailio/sigbench.cfg configures it (registrar + proxy,
//! digest auth, WebSocket). Each test starts its own instance on a free port.

mod sip;

use sigbench::drivers::sip::ua::{CallState, Event, Role};
use sip::{Kamailio, PASSWORD, Sip, config};
use tokio::time::Instant;

#[tokio::test]
async fn register_with_md5_qop_auth_then_unregister() {
    let server = Kamailio::start(&[]);
    let mut alice = Sip::connect(&server.url, config("alice", Some(PASSWORD))).await;
    let ok = alice.register(60).await;
    assert_eq!(alice.with(|ua| ua.registered()), Some(60));
    // The 401 was answered: the frames show the challenge and nc=00000001.
    let log = alice.log();
    assert!(log.contains("SIP/2.0 401 Unauthorized"), "{log}");
    assert!(log.contains("qop=auth, nc=00000001"), "{log}");
    assert!(
        ok.message
            .unwrap()
            .header("contact")
            .unwrap()
            .contains(".invalid")
    );
    alice.register(0).await;
    assert_eq!(alice.with(|ua| ua.registered()), None);
}

/// Registers alice and bob on a Kamailio started with `args`, has alice call bob (so the
/// proxy's 407 is answered too) and bob reject with 486; every digest answer in alice's
/// frames must use `algorithm`, with nc/cnonce exactly when the server offers qop=auth.
async fn digest_variant(args: &[&str], algorithm: &str, qop: bool) {
    let server = Kamailio::start(args);
    let (mut alice, mut bob) = registered_pair(&server).await;
    let key = dial(&mut alice, &mut bob).await;
    let reject = bob.with(|ua| ua.reject(None, 486)).unwrap();
    bob.send(reject).await;
    assert_eq!(alice.final_response(key).await.status, 486);
    let log = alice.log();
    let answers: Vec<&str> = log
        .lines()
        .filter(|l| {
            l.starts_with("Authorization: Digest") || l.starts_with("Proxy-Authorization: Digest")
        })
        .collect();
    assert!(
        answers.iter().any(|l| l.starts_with("Authorization"))
            && answers.iter().any(|l| l.starts_with("Proxy-Authorization")),
        "both a 401 and a 407 answered: {log}"
    );
    for line in answers {
        assert!(line.contains(&format!("algorithm={algorithm}")), "{line}");
        assert_eq!(line.contains(", qop=auth, nc=0000000"), qop, "{line}");
        assert_eq!(line.contains("cnonce="), qop, "{line}");
    }
    let challenges = log.lines().filter(|l| l.contains("-Authenticate: Digest"));
    for line in challenges {
        assert_eq!(line.contains("qop=\"auth\""), qop, "{line}");
    }
}

#[tokio::test]
async fn md5_with_qop_auth_through_registrar_and_proxy() {
    digest_variant(&[], "MD5", true).await;
}

#[tokio::test]
async fn md5_without_qop_through_registrar_and_proxy() {
    digest_variant(&["--no-qop"], "MD5", false).await;
}

#[tokio::test]
async fn sha256_with_qop_auth_through_registrar_and_proxy() {
    digest_variant(&["--sha256"], "SHA-256", true).await;
}

#[tokio::test]
async fn sha256_without_qop_through_registrar_and_proxy() {
    digest_variant(&["--sha256", "--no-qop"], "SHA-256", false).await;
}

#[tokio::test]
async fn an_expired_nonce_is_answered_again_after_a_stale_challenge() {
    // Nonces live 1 s: the refresh, 2 s after the 200 (half of the 4 s granted), answers
    // a nonce issued at least 2 s earlier, which Kamailio calls stale (its clock has
    // whole seconds, so 1 s later could still pass).
    let server = Kamailio::start(&["--nonce-expire", "1"]);
    let mut alice = Sip::connect(&server.url, config("alice", Some(PASSWORD))).await;
    alice.register(4).await;
    match alice.next().await {
        Event::Response(r) => {
            assert_eq!(r.origin, sigbench::drivers::sip::ua::Origin::Refresh);
            assert_eq!(r.status, 200, "{}", alice.log());
        }
        other => panic!("{other:?}"),
    }
    let log = alice.log();
    // First 401: no credentials yet; second: the cached nonce went stale.
    assert_eq!(log.matches("SIP/2.0 401 Unauthorized").count(), 2, "{log}");
    let stale = log
        .lines()
        .filter(|l| l.starts_with("WWW-Authenticate:") && l.contains("stale=true"))
        .count();
    assert_eq!(stale, 1, "{log}");
    // The answer to the stale challenge starts the new nonce's count at 1.
    let answers: Vec<&str> = log
        .lines()
        .filter(|l| l.starts_with("Authorization: Digest"))
        .collect();
    assert_eq!(answers.len(), 3, "{log}");
    assert!(answers[1].contains("nc=00000002"), "{log}");
    assert!(answers[2].contains("nc=00000001"), "{log}");
    assert_eq!(alice.with(|ua| ua.registered()), Some(4));
}

#[tokio::test]
async fn a_wrong_password_ends_with_the_401() {
    let server = Kamailio::start(&[]);
    let mut alice = Sip::connect(&server.url, config("alice", Some("wrong"))).await;
    let (key, text) = alice.with(|ua| ua.register(Instant::now(), 60)).unwrap();
    alice.send(text).await;
    let refused = alice.final_response(key).await;
    assert_eq!(refused.status, 401);
    assert!(
        refused
            .note
            .unwrap()
            .contains("credentials of 'alice' were refused"),
        "{}",
        alice.log()
    );
}

#[tokio::test]
async fn the_registration_is_refreshed_before_it_expires() {
    let server = Kamailio::start(&[]);
    let mut alice = Sip::connect(&server.url, config("alice", Some(PASSWORD))).await;
    alice.register(2).await;
    assert_eq!(alice.with(|ua| ua.registered()), Some(2));
    // The refresh goes out by itself after 1 s; its 200 is the event we wait for.
    match alice.next().await {
        Event::Response(r) => {
            assert_eq!(r.origin, sigbench::drivers::sip::ua::Origin::Refresh);
            assert_eq!(r.status, 200, "{}", alice.log());
        }
        other => panic!("{other:?}"),
    }
    // The cached challenge answered it up front: nc 2, no second 401.
    let log = alice.log();
    assert!(log.contains("nc=00000002"), "{log}");
    assert_eq!(log.matches("401 Unauthorized").count(), 1, "{log}");
}

/// Alice calls bob; returns the INVITE's key once bob has the INVITE.
async fn dial(alice: &mut Sip, bob: &mut Sip) -> sigbench::drivers::sip::ua::Key {
    let (key, _, invite) = alice
        .with(|ua| ua.invite(Instant::now(), "bob", Vec::new(), None, true))
        .unwrap();
    alice.send(invite).await;
    bob.request("INVITE").await;
    key
}

async fn registered_pair(server: &Kamailio) -> (Sip, Sip) {
    let mut alice = Sip::connect(&server.url, config("alice", Some(PASSWORD))).await;
    let mut bob = Sip::connect(&server.url, config("bob", Some(PASSWORD))).await;
    alice.register(60).await;
    bob.register(60).await;
    (alice, bob)
}

#[tokio::test]
async fn call_accept_and_hang_up_through_kamailio() {
    let server = Kamailio::start(&[]);
    let (mut alice, mut bob) = registered_pair(&server).await;
    let (key, call_id, invite) = alice
        .with(|ua| ua.invite(Instant::now(), "bob", Vec::new(), None, true))
        .unwrap();
    alice.send(invite).await;
    let incoming = bob.request("INVITE").await;
    assert_eq!(incoming.call_id, call_id);
    let ringing = bob.with(|ua| ua.ring(None, 180)).unwrap();
    bob.send(ringing).await;
    // 100 Trying from the proxy may come first; 407 was answered on the way.
    alice.response(key, 180).await;
    let ok = bob.with(|ua| ua.answer(Instant::now(), None)).unwrap();
    bob.send(ok).await;
    alice.response(key, 200).await;
    assert_eq!(
        alice.with(|ua| ua.call(Role::Uac, &call_id).unwrap().state),
        CallState::Confirmed
    );
    bob.request("ACK").await;
    let log = alice.log();
    assert!(
        log.contains("SIP/2.0 407 Proxy Authentication Required"),
        "{log}"
    );
    assert!(log.contains("Proxy-Authorization: Digest"), "{log}");

    let (bye, text) = alice.with(|ua| ua.bye(Instant::now(), None)).unwrap();
    alice.send(text).await;
    bob.request("BYE").await;
    alice.response(bye, 200).await;
    assert_eq!(
        (alice.with(|ua| ua.calls()), bob.with(|ua| ua.calls())),
        (0, 0)
    );
}

#[tokio::test]
async fn the_callee_hangs_up_through_kamailio() {
    let server = Kamailio::start(&[]);
    let (mut alice, mut bob) = registered_pair(&server).await;
    let key = dial(&mut alice, &mut bob).await;
    let ok = bob.with(|ua| ua.answer(Instant::now(), None)).unwrap();
    bob.send(ok).await;
    alice.response(key, 200).await;
    bob.request("ACK").await;
    let (bye, text) = bob.with(|ua| ua.bye(Instant::now(), None)).unwrap();
    bob.send(text).await;
    alice.request("BYE").await;
    bob.response(bye, 200).await;
}

#[tokio::test]
async fn cancel_while_ringing_through_kamailio() {
    let server = Kamailio::start(&[]);
    let (mut alice, mut bob) = registered_pair(&server).await;
    let key = dial(&mut alice, &mut bob).await;
    let ringing = bob.with(|ua| ua.ring(None, 180)).unwrap();
    bob.send(ringing).await;
    alice.response(key, 180).await;
    let (cancel, text) = alice.with(|ua| ua.cancel(Instant::now(), None)).unwrap();
    alice.send(text).await;
    alice.response(cancel, 200).await;
    bob.request("CANCEL").await;
    alice.response(key, 487).await;
    assert_eq!(
        (alice.with(|ua| ua.calls()), bob.with(|ua| ua.calls())),
        (0, 0)
    );
}

#[tokio::test]
async fn rejections_reach_the_caller() {
    let server = Kamailio::start(&[]);
    let (mut alice, mut bob) = registered_pair(&server).await;
    for code in [486, 603] {
        let key = dial(&mut alice, &mut bob).await;
        let reject = bob.with(|ua| ua.reject(None, code)).unwrap();
        bob.send(reject).await;
        let r = alice.final_response(key).await;
        assert_eq!(r.status, code, "{}", alice.log());
    }
}

#[tokio::test]
async fn a_call_to_an_unregistered_user_gets_404() {
    let server = Kamailio::start(&[]);
    let mut alice = Sip::connect(&server.url, config("alice", Some(PASSWORD))).await;
    alice.register(60).await;
    let (key, _, invite) = alice
        .with(|ua| ua.invite(Instant::now(), "nobody", Vec::new(), None, true))
        .unwrap();
    alice.send(invite).await;
    let r = alice.final_response(key).await;
    assert_eq!(r.status, 404, "{}", alice.log());
    assert_eq!(alice.with(|ua| ua.calls()), 0);
}
