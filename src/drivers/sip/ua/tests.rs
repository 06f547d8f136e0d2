//! The UA core against itself (two UAs wired back to back, as a proxy that changes
//! nothing would) and against scripted server answers. Time is passed in.

use super::*;
use crate::drivers::sip::compose::Answer;
use crate::drivers::sip::message::Message;

fn ua(user: &str, password: Option<&str>) -> Ua {
    Ua::new(Config {
        user: user.into(),
        domain: "127.0.0.1".into(),
        auth_user: user.into(),
        password: password.map(str::to_string),
        transport: Transport::Ws,
    })
}

fn feed(ua: &mut Ua, now: Instant, text: &str) -> Vec<Event> {
    let mut out = Vec::new();
    ua.receive(now, text, &mut out);
    out
}

fn sends(events: &[Event]) -> Vec<&str> {
    events
        .iter()
        .filter_map(|e| match e {
            Event::Send(t) => Some(t.as_str()),
            _ => None,
        })
        .collect()
}

fn responses(events: &[Event]) -> Vec<(Key, u16, String)> {
    events
        .iter()
        .filter_map(|e| match e {
            Event::Response(r) => Some((r.key, r.status, r.method.clone())),
            _ => None,
        })
        .collect()
}

fn requests(events: &[Event]) -> Vec<String> {
    events
        .iter()
        .filter_map(|e| match e {
            Event::Request(r) => Some(r.method.clone()),
            _ => None,
        })
        .collect()
}

fn parse(text: &str) -> Message {
    Message::parse(text).unwrap()
}

/// A server's answer to `request`.
fn answer(request: &str, status: u16, extra: &[(&str, &str)]) -> String {
    let req = parse(request);
    compose::response(
        &req,
        status,
        calls::reason(status),
        &Answer {
            to_tag: Some("srv"),
            extra,
            ..Answer::default()
        },
    )
}

#[test]
fn call_accept_and_hang_up() {
    let now = Instant::now();
    let (mut a, mut b) = (ua("alice", None), ua("bob", None));
    let (key, call_id, invite) = a.invite(now, "bob", Vec::new(), None, true).unwrap();
    let inv = parse(&invite);
    assert!(inv.header("via").unwrap().starts_with("SIP/2.0/WS "));
    assert!(
        inv.header("via")
            .unwrap()
            .contains(".invalid;branch=z9hG4bK")
    );
    assert!(
        inv.header("contact")
            .unwrap()
            .contains(".invalid;transport=ws>")
    );
    assert_eq!(inv.header("content-type"), Some("application/sdp"));

    assert_eq!(requests(&feed(&mut b, now, &invite)), ["INVITE"]);
    let ringing = b.ring(None, 180).unwrap();
    assert_eq!(
        responses(&feed(&mut a, now, &ringing)),
        [(key, 180, "INVITE".into())]
    );
    assert_eq!(a.call(Role::Uac, &call_id).unwrap().state, CallState::Early);

    let ok = b.answer(now, None).unwrap();
    let events = feed(&mut a, now, &ok);
    assert_eq!(responses(&events), [(key, 200, "INVITE".into())]);
    let ack = sends(&events)[0].to_string();
    let ack_msg = parse(&ack);
    assert_eq!(ack_msg.method(), Some("ACK"));
    assert_eq!(ack_msg.cseq().unwrap(), (1, "ACK".into()));
    // End to end: a new branch, to Bob's contact.
    assert_ne!(ack_msg.top_via().unwrap(), inv.top_via().unwrap());
    assert!(ack.starts_with("ACK sip:bob@"));

    assert_eq!(requests(&feed(&mut b, now, &ack)), ["ACK"]);
    assert_eq!(
        b.call(Role::Uas, &call_id).unwrap().state,
        CallState::Confirmed
    );

    let (bye_key, bye) = a.bye(now, None).unwrap();
    assert_eq!(parse(&bye).cseq().unwrap(), (2, "BYE".into()));
    let events = feed(&mut b, now, &bye);
    assert_eq!(requests(&events), ["BYE"]);
    let ok = sends(&events)[0].to_string();
    assert!(ok.starts_with("SIP/2.0 200 OK"));
    assert_eq!(
        responses(&feed(&mut a, now, &ok)),
        [(bye_key, 200, "BYE".into())]
    );
    assert_eq!((a.calls(), b.calls()), (0, 0));
    assert_eq!(a.open_transactions(), 0);
    // Codes by method and status: what each side received, and what it sent.
    assert_eq!(
        codes(&mut a),
        [("INVITE", 180, 1), ("INVITE", 200, 1), ("BYE", 200, 1)]
    );
    assert_eq!(
        codes(&mut b),
        [
            ("INVITE (UAS)", 180, 1),
            ("INVITE (UAS)", 200, 1),
            ("BYE (UAS)", 200, 1)
        ]
    );
    assert!(codes(&mut b).is_empty());
}

#[test]
fn the_callee_hangs_up_too() {
    let now = Instant::now();
    let (mut a, mut b) = (ua("alice", None), ua("bob", None));
    let (_, _, invite) = a.invite(now, "bob", Vec::new(), None, true).unwrap();
    feed(&mut b, now, &invite);
    let ok = b.answer(now, None).unwrap();
    let ack = sends(&feed(&mut a, now, &ok))[0].to_string();
    feed(&mut b, now, &ack);
    let (key, bye) = b.bye(now, None).unwrap();
    let bye_msg = parse(&bye);
    assert!(bye.starts_with("BYE sip:alice@"), "{bye}");
    assert_eq!(
        bye_msg.tag("to").unwrap(),
        parse(&invite).tag("from").unwrap()
    );
    let events = feed(&mut a, now, &bye);
    assert_eq!(requests(&events), ["BYE"]);
    assert_eq!(
        responses(&feed(&mut b, now, sends(&events)[0])),
        [(key, 200, "BYE".into())]
    );
}

#[test]
fn cancel_while_ringing_gets_200_then_487_and_the_487_is_acked_in_its_transaction() {
    let now = Instant::now();
    let (mut a, mut b) = (ua("alice", None), ua("bob", None));
    let (key, _, invite) = a.invite(now, "bob", Vec::new(), None, true).unwrap();
    feed(&mut b, now, &invite);
    let ringing = b.ring(None, 180).unwrap();
    feed(&mut a, now, &ringing);
    let (cancel_key, cancel) = a.cancel(now, None).unwrap();
    let c = parse(&cancel);
    assert_eq!(c.top_via().unwrap(), parse(&invite).top_via().unwrap());
    assert_eq!(c.cseq().unwrap(), (1, "CANCEL".into()));

    let events = feed(&mut b, now, &cancel);
    assert_eq!(requests(&events), ["CANCEL"]);
    let out = sends(&events);
    assert!(out[0].starts_with("SIP/2.0 200 OK") && out[0].contains("CSeq: 1 CANCEL"));
    assert!(
        out[1].starts_with("SIP/2.0 487 Request Terminated") && out[1].contains("CSeq: 1 INVITE")
    );
    assert_eq!(b.calls(), 0);

    assert_eq!(
        responses(&feed(&mut a, now, out[0])),
        [(cancel_key, 200, "CANCEL".into())]
    );
    let events = feed(&mut a, now, out[1]);
    assert_eq!(responses(&events), [(key, 487, "INVITE".into())]);
    let ack = parse(sends(&events)[0]);
    assert_eq!(ack.method(), Some("ACK"));
    assert_eq!(ack.top_via().unwrap(), parse(&invite).top_via().unwrap());
    assert_eq!(ack.tag("to").unwrap(), parse(out[1]).tag("to").unwrap());
    assert_eq!(a.calls(), 0);
    // A late answer to the CANCEL of nothing: 481.
    let late = feed(&mut b, now, &cancel);
    assert!(sends(&late)[0].starts_with("SIP/2.0 481 "));
}

#[test]
fn rejects_end_the_call_on_both_sides() {
    let now = Instant::now();
    for code in [486, 603] {
        let (mut a, mut b) = (ua("alice", None), ua("bob", None));
        let (key, _, invite) = a.invite(now, "bob", Vec::new(), None, true).unwrap();
        feed(&mut b, now, &invite);
        let reject = b.reject(None, code).unwrap();
        assert_eq!(parse(&reject).status(), Some(code));
        let events = feed(&mut a, now, &reject);
        assert_eq!(responses(&events), [(key, code, "INVITE".into())]);
        assert!(sends(&events)[0].starts_with("ACK "));
        assert_eq!((a.calls(), b.calls()), (0, 0));
        assert!(b.reject(None, code).is_err());
    }
}

#[test]
fn manual_ack_and_retransmitted_2xx() {
    let now = Instant::now();
    let (mut a, mut b) = (ua("alice", None), ua("bob", None));
    let (_, _, invite) = a.invite(now, "bob", Vec::new(), None, false).unwrap();
    feed(&mut b, now, &invite);
    let ok = b.answer(now, None).unwrap();
    assert!(sends(&feed(&mut a, now, &ok)).is_empty());
    let ack = a.ack(None).unwrap();
    assert!(ack.starts_with("ACK "));
    // The 2xx again (the UAS retransmits until it sees the ACK): the same ACK again.
    assert_eq!(sends(&feed(&mut a, now, &ok)), [ack.as_str()]);
    assert!(a.ack(None).is_err());
    // Codes by method and status: what each side received and sent (a retransmitted 2xx
    // is not a second response).
    assert_eq!(codes(&mut a), [("INVITE", 200, 1)]);
    assert_eq!(codes(&mut b), [("INVITE (UAS)", 200, 1)]);
    assert!(codes(&mut b).is_empty());
}

fn codes(ua: &mut Ua) -> Vec<(&'static str, u32, u64)> {
    let mut out = Vec::new();
    ua.take_codes(&mut out);
    out
}

#[test]
fn answers_a_ua_owes() {
    let now = Instant::now();
    let (mut a, mut b) = (ua("alice", None), ua("bob", None));
    let (_, _, invite) = a.invite(now, "bob", Vec::new(), None, true).unwrap();
    let bye = invite
        .replacen("INVITE sip", "BYE sip", 1)
        .replace("CSeq: 1 INVITE", "CSeq: 2 BYE")
        .replacen(
            "To: <sip:bob@127.0.0.1>",
            "To: <sip:bob@127.0.0.1>;tag=nope",
            1,
        );
    assert!(
        sends(&feed(&mut b, now, &bye))[0]
            .starts_with("SIP/2.0 481 Call/Transaction Does Not Exist")
    );
    let message = invite
        .replacen("INVITE sip", "MESSAGE sip", 1)
        .replace("CSeq: 1 INVITE", "CSeq: 1 MESSAGE");
    let out = feed(&mut b, now, &message);
    assert!(sends(&out)[0].starts_with("SIP/2.0 405 Method Not Allowed"));
    assert!(sends(&out)[0].contains("Allow: INVITE, ACK, CANCEL, BYE, OPTIONS"));
    let options = invite
        .replacen("INVITE sip", "OPTIONS sip", 1)
        .replace("CSeq: 1 INVITE", "CSeq: 1 OPTIONS");
    assert!(sends(&feed(&mut b, now, &options))[0].starts_with("SIP/2.0 200 OK"));
    assert!(requests(&out).is_empty());
    assert_eq!(
        codes(&mut b),
        [
            ("BYE (UAS)", 481, 1),
            ("MESSAGE (UAS)", 405, 1),
            ("OPTIONS (UAS)", 200, 1)
        ]
    );
}

const CHALLENGE: &str = r#"Digest realm="127.0.0.1", nonce="n1", qop="auth", algorithm=MD5"#;

#[test]
fn register_answers_a_401_then_refreshes_and_unregisters() {
    let now = Instant::now();
    let mut a = ua("alice", Some("secret"));
    let (key, register) = a.register(now, 60).unwrap();
    let first = parse(&register);
    assert_eq!(first.header("expires"), Some("60"));
    assert!(register.starts_with("REGISTER sip:127.0.0.1 SIP/2.0"));
    assert!(first.header("authorization").is_none());

    let events = feed(
        &mut a,
        now,
        &answer(&register, 401, &[("WWW-Authenticate", CHALLENGE)]),
    );
    assert!(responses(&events).is_empty(), "the challenge is absorbed");
    let retry = sends(&events)[0].to_string();
    let second = parse(&retry);
    assert_eq!(second.cseq().unwrap().0, first.cseq().unwrap().0 + 1);
    assert_ne!(second.top_via().unwrap(), first.top_via().unwrap());
    assert_eq!(second.call_id(), first.call_id());
    let auth = second.header("authorization").unwrap();
    assert!(
        auth.contains("username=\"alice\"")
            && auth.contains("nc=00000001")
            && auth.contains("uri=\"sip:127.0.0.1\""),
        "{auth}"
    );

    let contact = format!("{};expires=40", a.contact());
    let events = feed(&mut a, now, &answer(&retry, 200, &[("Contact", &contact)]));
    assert_eq!(responses(&events), [(key, 200, "REGISTER".into())]);
    assert_eq!(a.registered(), Some(40));
    assert_eq!(a.next_deadline(), Some(now + Duration::from_secs(20)));

    // Refresh at half the granted time, with the cached challenge (nc 2).
    let mut out = Vec::new();
    a.tick(now + Duration::from_secs(19), &mut out);
    assert!(out.is_empty());
    a.tick(now + Duration::from_secs(20), &mut out);
    let refresh = sends(&out)[0].to_string();
    assert!(
        parse(&refresh)
            .header("authorization")
            .unwrap()
            .contains("nc=00000002")
    );
    let events = feed(&mut a, now, &answer(&refresh, 200, &[("Expires", "60")]));
    match &events[0] {
        Event::Response(r) => assert_eq!((r.origin, r.status), (Origin::Refresh, 200)),
        other => panic!("{other:?}"),
    }
    assert_eq!(a.registered(), Some(60));

    let (_, unregister) = a.register(now, 0).unwrap();
    assert_eq!(parse(&unregister).header("expires"), Some("0"));
    feed(&mut a, now, &answer(&unregister, 200, &[]));
    assert_eq!(a.registered(), None);
    assert_eq!(a.next_deadline(), None);
}

#[test]
fn a_second_challenge_is_a_refusal_unless_stale() {
    let now = Instant::now();
    let mut a = ua("alice", Some("wrong"));
    let (key, register) = a.register(now, 60).unwrap();
    let retry = sends(&feed(
        &mut a,
        now,
        &answer(&register, 401, &[("WWW-Authenticate", CHALLENGE)]),
    ))[0]
        .to_string();
    // stale=true: the nonce expired, the password was right: answer again.
    let stale = r#"Digest realm="127.0.0.1", nonce="n2", qop="auth", stale=true"#;
    let again = sends(&feed(
        &mut a,
        now,
        &answer(&retry, 401, &[("WWW-Authenticate", stale)]),
    ))[0]
        .to_string();
    assert!(
        parse(&again)
            .header("authorization")
            .unwrap()
            .contains("nonce=\"n2\"")
    );
    // A new challenge without stale: refused.
    let fresh = r#"Digest realm="127.0.0.1", nonce="n3", qop="auth""#;
    let events = feed(
        &mut a,
        now,
        &answer(&again, 401, &[("WWW-Authenticate", fresh)]),
    );
    assert!(sends(&events).is_empty());
    match &events[0] {
        Event::Response(r) => {
            assert_eq!((r.key, r.status), (key, 401));
            assert!(
                r.note
                    .as_deref()
                    .unwrap()
                    .contains("credentials of 'alice' were refused"),
                "{:?}",
                r.note
            );
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(a.open_transactions(), 0);
}

#[test]
fn without_a_password_the_challenge_is_returned() {
    let now = Instant::now();
    let mut a = ua("alice", None);
    let (_, register) = a.register(now, 60).unwrap();
    let events = feed(
        &mut a,
        now,
        &answer(&register, 401, &[("WWW-Authenticate", CHALLENGE)]),
    );
    match &events[0] {
        Event::Response(r) => {
            assert_eq!(r.status, 401);
            assert!(r.note.as_deref().unwrap().contains("no password"));
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn invite_answers_a_407_after_acking_it() {
    let now = Instant::now();
    let mut a = ua("alice", Some("secret"));
    let (key, call_id, invite) = a.invite(now, "bob", Vec::new(), None, true).unwrap();
    let challenge = r#"Digest realm="127.0.0.1", nonce="p1", algorithm=SHA-256"#;
    let events = feed(
        &mut a,
        now,
        &answer(&invite, 407, &[("Proxy-Authenticate", challenge)]),
    );
    let out = sends(&events);
    assert_eq!(out.len(), 2);
    let ack = parse(out[0]);
    assert_eq!(ack.method(), Some("ACK"));
    assert_eq!(ack.top_via().unwrap(), parse(&invite).top_via().unwrap());
    let again = parse(out[1]);
    assert_eq!(again.cseq().unwrap(), (2, "INVITE".into()));
    assert_eq!(again.call_id(), call_id);
    let auth = again.header("proxy-authorization").unwrap();
    assert!(
        auth.contains("algorithm=SHA-256") && !auth.contains("nc="),
        "{auth}"
    );
    // The final answer reaches the same key; a CANCEL now uses the new branch.
    let (_, cancel) = a.cancel(now, None).unwrap();
    assert_eq!(parse(&cancel).top_via().unwrap(), again.top_via().unwrap());
    assert_eq!(parse(&cancel).cseq().unwrap(), (2, "CANCEL".into()));
    let events = feed(&mut a, now, &answer(out[1], 487, &[]));
    assert_eq!(responses(&events), [(key, 487, "INVITE".into())]);
}

#[test]
fn interval_too_brief_retries_with_min_expires() {
    let now = Instant::now();
    let mut a = ua("alice", None);
    let (key, register) = a.register(now, 10).unwrap();
    let retry = sends(&feed(
        &mut a,
        now,
        &answer(&register, 423, &[("Min-Expires", "120")]),
    ))[0]
        .to_string();
    assert_eq!(parse(&retry).header("expires"), Some("120"));
    let events = feed(&mut a, now, &answer(&retry, 200, &[]));
    assert_eq!(responses(&events), [(key, 200, "REGISTER".into())]);
    assert_eq!(a.registered(), Some(120));
}

#[test]
fn transactions_time_out_with_408() {
    let now = Instant::now();
    let mut a = ua("alice", None);
    let (reg_key, _) = a.register(now, 60).unwrap();
    let (inv_key, _, invite) = a.invite(now, "bob", Vec::new(), None, true).unwrap();
    let mut out = Vec::new();
    a.tick(now + Duration::from_secs(31), &mut out);
    assert!(out.is_empty());
    // A provisional moves the INVITE on to the proceeding bound.
    feed(
        &mut a,
        now + Duration::from_secs(1),
        &answer(&invite, 180, &[]),
    );
    a.tick(now + TRANSACTION_TIMEOUT, &mut out);
    let timed_out: Vec<_> = out
        .iter()
        .filter_map(|e| match e {
            Event::Response(r) => Some((r.key, r.status, r.note.clone().unwrap())),
            _ => None,
        })
        .collect();
    assert_eq!(
        timed_out,
        [(
            reg_key,
            408,
            "no final response within 32 s (Timer F)".to_string()
        )]
    );
    out.clear();
    a.tick(now + Duration::from_secs(1) + PROCEEDING_TIMEOUT, &mut out);
    assert_eq!(responses(&out), [(inv_key, 408, "INVITE".into())]);
    assert_eq!((a.calls(), a.open_transactions()), (0, 0));
}

#[test]
fn an_unacknowledged_answer_is_hung_up() {
    let now = Instant::now();
    let (mut a, mut b) = (ua("alice", None), ua("bob", None));
    let (_, call_id, invite) = a.invite(now, "bob", Vec::new(), None, true).unwrap();
    feed(&mut b, now, &invite);
    b.answer(now, None).unwrap();
    let mut out = Vec::new();
    b.tick(now + TRANSACTION_TIMEOUT, &mut out);
    assert!(matches!(&out[0], Event::NoAck { call_id: c } if *c == call_id));
    assert!(sends(&out)[0].starts_with("BYE "));
}

#[test]
fn stray_and_broken_frames_are_reported() {
    let now = Instant::now();
    let (mut a, mut b) = (ua("alice", None), ua("bob", None));
    let (_, _, invite) = a.invite(now, "bob", Vec::new(), None, true).unwrap();
    // A response to a request this UA never sent.
    let (_, _, other) = b.invite(now, "carol", Vec::new(), None, true).unwrap();
    let events = feed(&mut a, now, &answer(&other, 200, &[]));
    match &events[..] {
        [Event::Unreadable { key: None, why }] => {
            assert!(
                why.starts_with("response to no request of this connection"),
                "{why}"
            );
        }
        other => panic!("{other:?}"),
    }
    // A broken response naming our INVITE's branch fails that INVITE.
    let broken = answer(&invite, 180, &[]).replace("Call-ID:", "X-Call-ID:");
    match &feed(&mut a, now, &broken)[..] {
        [Event::Unreadable { key: Some(1), why }] => assert_eq!(why, "missing Call-ID header"),
        other => panic!("{other:?}"),
    }
    assert_eq!((a.calls(), a.open_transactions()), (0, 0));
    // Keepalives are nothing.
    assert!(feed(&mut a, now, "\r\n\r\n").is_empty());
}

#[test]
fn too_many_calls_are_refused() {
    let now = Instant::now();
    let mut b = ua("bob", None);
    let mut a = ua("alice", None);
    for _ in 0..MAX_CALLS {
        let (_, _, invite) = a.invite(now, "bob", Vec::new(), None, true).unwrap();
        feed(&mut b, now, &invite);
        // Keep a's table small: forget its side.
        a.uac.clear();
        a.clients.clear();
    }
    let (_, _, invite) = a.invite(now, "bob", Vec::new(), None, true).unwrap();
    assert!(sends(&feed(&mut b, now, &invite))[0].starts_with("SIP/2.0 486 Busy Here"));
}
