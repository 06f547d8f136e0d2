//! Loading scenarios into plans: structure, defaults, every step form, and the run-time
//! helpers (templates, expectations, saves, matchers) exercised through a loaded plan.

use serde_json::{Value, json};
use sigbench::drivers::native::NativeWire;
use sigbench::drivers::native::{
    VOCABULARY, classify, event_spec, kind_spec, login_params, op_spec,
};
use sigbench::drivers::{Identity, OpParams, Wire};
use sigbench::protocol::frame::ResponseFrame;
use sigbench::protocol::{EventType, Op, PushKind};
use sigbench::scenario::{
    Awaited, CodeMatch, LoadModel, MetricKind, Pause, Plan, RawExpect, RawFrame, RawPayload, Since,
    Stage, Stat, StepKind, Target, Threshold, load_file, load_str,
};
use std::path::Path;
use std::time::Duration;

const ISSUE_EXAMPLE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/scenarios/call-accept.yaml");

fn plan(text: &str) -> Plan {
    load_str("t.yaml", text, &[]).unwrap_or_else(|e| panic!("{e}"))
}

fn who<'a>(account: &'a str, device: &'a str) -> Identity<'a> {
    Identity {
        account,
        token: "tok",
        device,
    }
}

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

fn response(code: u32, message: &str, data: Value) -> ResponseFrame {
    ResponseFrame {
        id: Some(1),
        code,
        message: message.into(),
        data: Some(data.into()),
        error: None,
    }
}

#[test]
fn the_issue_example_loads_as_written() {
    let p = load_file(Path::new(ISSUE_EXAMPLE), &[]).unwrap();
    assert_eq!(p.name, "call-accept");
    assert_eq!(p.roles.len(), 2);
    assert!(p.roles.iter().all(|r| r.devices == 1 && r.online));
    assert_eq!(
        p.load,
        LoadModel::Closed {
            sessions: Some(1000),
            duration: None,
            concurrency: 100
        }
    );
    assert_eq!(p.login_rate.per_sec, 500.0);
    assert!(!p.strict);
    assert_eq!(p.steps.len(), 7);
    assert_eq!(
        p.metric_names().collect::<Vec<_>>(),
        [
            "login",
            "session",
            "call",
            "invite delivered",
            "accept",
            "accept delivered",
            "hang up",
            "close delivered"
        ]
    );
    assert_eq!(p.metrics[Plan::LOGIN_METRIC].kind, MetricKind::Login);
    assert_eq!(p.metrics[Plan::SESSION_METRIC].kind, MetricKind::Session);
    assert_eq!(p.timed_steps, 3);

    let StepKind::Op(call) = &p.steps[0].kind else {
        panic!("call")
    };
    assert_eq!(
        (call.op, call.target),
        (op_spec(Op::Call), Target { role: 0, device: 0 })
    );
    assert_eq!(p.steps[0].line, 11);
    let StepKind::Await(invite) = &p.steps[1].kind else {
        panic!("await")
    };
    assert_eq!(invite.within, ms(2000));
    assert_eq!(invite.since, Since::Step(call.id));
    assert_eq!(
        invite.matcher.awaited,
        Awaited::Event {
            event: event_spec(EventType::Invite),
            via: kind_spec(PushKind::Notify)
        }
    );
    assert!(matches!(
        p.steps[4].kind,
        StepKind::Pause(Pause::Uniform { min, max }) if min == ms(100) && max == ms(500)
    ));
    let StepKind::Await(close) = &p.steps[6].kind else {
        panic!("await")
    };
    let StepKind::Op(hang_up) = &p.steps[5].kind else {
        panic!("close")
    };
    assert_eq!(close.since, Since::Step(hang_up.id));

    assert_eq!(p.thresholds.len(), 3);
    assert_eq!(p.thresholds[0].to_string(), "call p99 <= 50ms");
    assert_eq!(p.thresholds[1].to_string(), "invite delivered p99 <= 100ms");
    assert_eq!(p.thresholds[2], Threshold::Failures { max: 0 });
}

/// The native wire writes a step's params template straight into the request: the
/// same text as a request carrying the rendered params, escapes and saved values of
/// every type included.
#[test]
fn a_request_from_a_params_template_is_the_request_of_its_rendered_value() {
    let p = plan(
        r#"
roles: { caller: {}, callee: {} }
steps:
  - as: caller
    call: { type: 2, account: "${callee}", requestId: "r\"${session}\"\n${run}", attachExt: "${caller}" }
    save: { x: data.channel.ext }
  - as: callee
    allow_unknown_params: true
    accept: { channelId: "${x}", account: "${caller}", requestId: "${session}/${x}", autoJoin: true, pushInfo: { list: ["${x}", 1.5, "${run}", { n: "${x}" }], "k\"ey": "${x}" } }
"#,
    );
    let StepKind::Op(call) = &p.steps[0].kind else {
        panic!()
    };
    let StepKind::Op(accept) = &p.steps[1].kind else {
        panic!()
    };
    let mut vars = p.new_vars("run \\ 1", "s-\u{1}é", &["alice \"a\"", "bob"]);
    for x in [
        Value::Null,
        json!(77),
        json!(-1.25),
        json!("c\"\t☎"),
        json!(true),
        json!([1, {"k": "v"}]),
        json!({"b": 2, "a": [null]}),
    ] {
        let resp = response(200, "OK", json!({ "channel": { "ext": x } }));
        call.save[0].apply_response(&resp, &mut vars).unwrap();
        for op in [call, accept] {
            let (mut direct, mut rendered) = (NativeWire::default(), NativeWire::default());
            let written = direct
                .request(op.op, OpParams::Template(op.params.with(&vars)))
                .unwrap();
            let value = op.params.render(&vars);
            let expected = rendered.request(op.op, (&value).into()).unwrap();
            assert_eq!(written.text, expected.text);
            let back: Value = serde_json::from_str(&written.text).unwrap();
            assert_eq!(back["params"], value, "{}", written.text);
        }
    }
}

#[test]
fn one_session_flows_through_templates_expectations_and_saves() {
    let p = load_file(Path::new(ISSUE_EXAMPLE), &[]).unwrap();
    let mut vars = p.new_vars("run-1", "s-42", &["alice", "bob"]);
    let StepKind::Op(call) = &p.steps[0].kind else {
        panic!()
    };
    assert_eq!(
        call.params.render(&vars),
        json!({"type": 2, "account": "bob", "requestId": "s-42"})
    );
    let resp = response(
        200,
        "OK",
        json!({"channel": {"channelId": 77}, "members": []}),
    );
    call.expect.check(&resp, &vars, &VOCABULARY).unwrap();
    for save in &call.save {
        save.apply_response(&resp, &mut vars).unwrap();
    }
    // A saved number stays a number when the template is exactly `${cid}`.
    let StepKind::Op(accept) = &p.steps[2].kind else {
        panic!()
    };
    assert_eq!(
        accept.params.render(&vars),
        json!({"channelId": 77, "account": "alice", "requestId": "s-42", "autoJoin": true})
    );
    let bad = response(10404, "ROOM_NOT_EXISTS", Value::Null);
    assert_eq!(
        accept
            .expect
            .check(&bad, &vars, &VOCABULARY)
            .unwrap_err()
            .to_string(),
        "expected 200 OK, got 10404 ROOM_NOT_EXISTS"
    );

    let StepKind::Await(invite) = &p.steps[1].kind else {
        panic!()
    };
    let push = json!({"push": "notify", "event": {"eventType": "INVITE", "from": "alice", "requestId": "s-42"}});
    assert!(
        invite
            .matcher
            .matches(&classify(PushKind::Notify, push.clone()), &vars)
    );
    let other = json!({"push": "notify", "event": {"eventType": "INVITE", "from": "alice", "requestId": "s-41"}});
    assert!(
        !invite
            .matcher
            .matches(&classify(PushKind::Notify, other.clone()), &vars)
    );
    assert_eq!(
        invite.matcher.describe(&vars),
        "INVITE (via notify) with from=\"alice\", requestId=\"s-42\""
    );
}

#[test]
fn every_op_is_a_step() {
    let mut text = String::from("roles: {a: {}}\nsteps:\n");
    for op in Op::ALL {
        text.push_str(&format!("  - {{ as: a, {op}: ~ }}\n"));
    }
    let p = plan(&text);
    assert_eq!(p.steps.len(), Op::ALL.len());
    for (step, op) in p.steps.iter().zip(Op::ALL) {
        match &step.kind {
            StepKind::Login(l) => {
                assert_eq!(op, Op::Login);
                assert_eq!(p.metrics[l.metric].name, "login");
            }
            StepKind::Op(o) => {
                assert_eq!(o.op, op_spec(op));
                assert_eq!(p.metrics[o.metric].name, op.as_str());
                assert_eq!(o.params.as_const(), Some(&json!({})));
            }
            other => panic!("{other:?}"),
        }
    }
}

#[test]
fn expect_forms() {
    let p = plan(
        r#"
roles: {a: {}}
steps:
  - { as: a, query: {}, expect: 10404 }
  - { as: a, query: {}, expect: ROOM_NOT_EXISTS }
  - { as: a, query: {}, expect: [200, PEER_NIM_OFFLINE] }
  - { as: a, query: {}, expect: any }
  - as: a
    query: {}
    expect:
      code: 200
      data:
        channel.type: 2
        members[0].account: "${a}"     # block style: brackets need no quotes
  - { as: a, query: {}, expect: { message: BAD_FRAME, error: channelId } }
  - { as: a, query: {} }
"#,
    );
    let expects: Vec<_> = p
        .steps
        .iter()
        .map(|s| match &s.kind {
            StepKind::Op(o) => o.expect.clone(),
            _ => panic!(),
        })
        .collect();
    assert_eq!(expects[0].codes, [CodeMatch::Number(10404)]);
    assert_eq!(
        expects[1].codes,
        [CodeMatch::Named(
            VOCABULARY.code("ROOM_NOT_EXISTS").unwrap()
        )]
    );
    assert_eq!(
        expects[2].codes,
        [
            CodeMatch::Number(200),
            CodeMatch::Named(VOCABULARY.code("PEER_NIM_OFFLINE").unwrap())
        ]
    );
    assert!(expects[3].codes.is_empty());
    assert_eq!(expects[6].codes, [CodeMatch::Number(200)]);

    let vars = p.new_vars("r", "s", &["alice"]);
    let good = response(
        200,
        "OK",
        json!({"channel": {"type": 2}, "members": [{"account": "alice"}]}),
    );
    expects[4].check(&good, &vars, &VOCABULARY).unwrap();
    let wrong = response(
        200,
        "OK",
        json!({"channel": {"type": 2}, "members": [{"account": "bob"}]}),
    );
    assert_eq!(
        expects[4]
            .check(&wrong, &vars, &VOCABULARY)
            .unwrap_err()
            .to_string(),
        "expected data.members[0].account = \"alice\", got \"bob\""
    );
    assert!(expects[5].codes.is_empty());
    let mut bad_frame = response(400, "BAD_FRAME", Value::Null);
    bad_frame.error = Some("missing channelId".into());
    expects[5].check(&bad_frame, &vars, &VOCABULARY).unwrap();
    bad_frame.error = Some("other".into());
    assert_eq!(
        expects[5]
            .check(&bad_frame, &vars, &VOCABULARY)
            .unwrap_err()
            .to_string(),
        "expected an error mentioning 'channelId', got error 'other'"
    );
}

#[test]
fn targets_devices_and_roles() {
    let p = plan(
        r#"roles:
  caller: ~
  callee: { devices: 2, online: false }
steps:
  - { as: callee#2, login: { pushToken: "t-${session}" } }
  - { as: { role: callee, device: 1 }, connect: ~ }
  - { as: callee, disconnect: {} }
"#,
    );
    assert!(p.roles[0].online && !p.roles[1].online);
    assert_eq!(p.roles[1].devices, 2);
    let StepKind::Login(l) = &p.steps[0].kind else {
        panic!()
    };
    assert_eq!(l.target, Target { role: 1, device: 1 });
    let vars = p.new_vars("r", "s9", &["a", "b"]);
    assert_eq!(l.params.render(&vars), json!({"pushToken": "t-s9"}));
    assert_eq!(
        login_params(l.params.render(&vars), who("b", "d2")),
        json!({"pushToken": "t-s9", "account": "b", "token": "tok", "device": "d2"})
    );
    let bad = plan("roles: {a: {}}\nsteps:\n  - { as: a, login: { token: wrong } }\n");
    let StepKind::Login(l) = &bad.steps[0].kind else {
        panic!()
    };
    let vars = bad.new_vars("r", "s", &["a"]);
    assert_eq!(
        login_params(l.params.render(&vars), who("a", "d1"))["token"],
        "wrong"
    );
    assert_eq!(
        p.steps[1].kind,
        StepKind::Connect(Target { role: 1, device: 0 })
    );
    assert_eq!(
        p.steps[2].kind,
        StepKind::Disconnect(Target { role: 1, device: 0 })
    );
    assert_eq!(p.steps[2].label(), "disconnect (line 7)");
    assert_eq!(p.role_id("callee"), Some(1));
}

#[test]
fn awaits_refutes_and_since() {
    let p = plan(
        r#"
roles: {a: {}, b: {devices: 2}}
steps:
  - { as: b, await: INVITE }
  - { name: first, as: a, query: {} }
  - { name: second, as: a, query: {} }
  - { as: b, await: INVITE, via: unreadSync, since: first, save: { m: msgid } }
  - { as: b#2, await: multiClientSync, match: { event.eventType: ACCEPT } }
  - { as: b, await: kicked, match: { reason: LOGIN_ELSEWHERE }, within: 1s }
  - { as: b, refute: CANCEL_INVITE, within: 300ms }
  - { as: b, markRead: { msgids: ["${m}"] } }
"#,
    );
    let StepKind::Await(a0) = &p.steps[0].kind else {
        panic!()
    };
    assert_eq!(a0.since, Since::SessionStart);
    assert_eq!(a0.within, Duration::from_secs(5));
    assert_eq!(p.metrics[a0.metric].name, "INVITE");
    let StepKind::Op(first) = &p.steps[1].kind else {
        panic!()
    };
    let StepKind::Await(a3) = &p.steps[3].kind else {
        panic!()
    };
    assert_eq!(a3.since, Since::Step(first.id));
    assert_eq!(
        a3.matcher.awaited,
        Awaited::Event {
            event: event_spec(EventType::Invite),
            via: kind_spec(PushKind::UnreadSync)
        }
    );
    let StepKind::Await(a4) = &p.steps[4].kind else {
        panic!()
    };
    assert_eq!(
        a4.matcher.awaited,
        Awaited::Push(kind_spec(PushKind::MultiClientSync))
    );
    assert_eq!(a4.target, Target { role: 1, device: 1 });
    let StepKind::Refute(r) = &p.steps[6].kind else {
        panic!()
    };
    assert_eq!(r.within, ms(300));

    // The saved msgid flows from the matched stored event into markRead.
    let mut vars = p.new_vars("r", "s", &["a", "b"]);
    let sync = json!({"push": "unreadSync", "events": [
        {"eventType": "ACCEPT", "msgid": "m1"},
        {"eventType": "INVITE", "msgid": "m2"}]});
    let sync = classify(PushKind::UnreadSync, sync);
    let event = a3.matcher.find(&sync, &vars).unwrap().clone();
    for s in &a3.save {
        s.apply(&event, &mut vars).unwrap();
    }
    let StepKind::Op(mark) = &p.steps[7].kind else {
        panic!()
    };
    assert_eq!(mark.params.render(&vars), json!({"msgids": ["m2"]}));
}

#[test]
fn raw_pause_parallel_and_repeat() {
    let p = plan(
        r#"
roles: {a: {}, b: {}}
steps:
  - { as: a, raw: { text: '{"id":1,"op":"${pad}"}', size: 40 }, expect: UNKNOWN_OP }
  - { as: a, raw: { binary: "00ff" }, expect: { close: 1003 } }
  - { as: a, raw: { binary: { base64: "AP8=" } }, expect: { close: 1003 } }
  - pause: { exp: 200ms }
  - pause: 2s
  - name: race
    parallel:
      - { as: a, accept: {}, expect: [OK, INVITE_NOT_EXISTS] }
      - { as: b, cancel: {}, expect: [OK, INVITE_HAS_ACCEPT] }
    exactly_one: OK
  - repeat:
      count: 3
      steps:
        - { as: a, call: {}, save: { cid: data.channel.channelId } }
        - { as: a, close: { channelId: "${cid}" } }
  - { as: a, query: { channelId: "${cid}" } }
"#,
    );
    let vars = p.new_vars("r", "s", &["x", "y"]);
    let StepKind::Raw(r0) = &p.steps[0].kind else {
        panic!()
    };
    let RawPayload::Text(t) = r0.frame.render(&vars) else {
        panic!()
    };
    assert_eq!(t.len(), 40);
    assert!(
        t.starts_with("{\"id\":1,\"op\":\"xxx") && t.ends_with("x\"}"),
        "{t}"
    );
    assert_eq!(p.metrics[r0.metric].name, "raw");
    let StepKind::Raw(r1) = &p.steps[1].kind else {
        panic!()
    };
    assert_eq!(r1.frame, RawFrame::Binary(vec![0, 255]));
    assert_eq!(r1.expect, RawExpect::Close(1003));
    let StepKind::Raw(r2) = &p.steps[2].kind else {
        panic!()
    };
    assert_eq!(r2.frame, RawFrame::Binary(vec![0, 255]));
    assert_eq!(
        p.steps[3].kind,
        StepKind::Pause(Pause::Exponential { mean: ms(200) })
    );
    assert_eq!(p.steps[4].kind, StepKind::Pause(Pause::Fixed(ms(2000))));
    let StepKind::Parallel(g) = &p.steps[5].kind else {
        panic!()
    };
    assert_eq!(g.branches.len(), 2);
    let one = g.exactly_one.as_ref().unwrap();
    let ok = response(200, "OK", Value::Null);
    let lost = response(10410, "INVITE_HAS_ACCEPT", Value::Null);
    one.check([&ok, &lost], &VOCABULARY).unwrap();
    assert!(one.check([&ok, &ok], &VOCABULARY).is_err());
    let StepKind::Repeat(r) = &p.steps[6].kind else {
        panic!()
    };
    assert_eq!((r.count, r.steps.len()), (3, 2));
}

#[test]
fn load_models_and_guards() {
    let p = plan(
        r#"
roles: {a: {}}
steps: [ { pause: 1s } ]
load:
  arrival:
    - { ramp: 10/s..100/s, over: 30s }
    - { hold: 100/s, for: 60s }
  max_in_flight: 200
  login_rate: 2000/s
  max_duration: 2m
"#,
    );
    let LoadModel::Open {
        stages,
        max_in_flight,
    } = &p.load
    else {
        panic!()
    };
    assert_eq!(*max_in_flight, 200);
    assert_eq!(stages.len(), 2);
    assert!(
        matches!(stages[1], Stage::Hold { rate, duration } if rate.per_sec == 100.0 && duration == Duration::from_secs(60))
    );
    assert_eq!(p.login_rate.per_sec, 2000.0);
    assert_eq!(p.max_duration, Some(Duration::from_secs(120)));
    assert_eq!(p.load.planned_sessions(), Some(1650 + 6000));
    assert_eq!(p.load.planned_duration(), Some(Duration::from_secs(90)));
    assert_eq!(p.load.max_concurrent(), 200);

    let p =
        plan("roles: {a: {}}\nsteps: [ { pause: 1s } ]\nload: { duration: 30s, concurrency: 4 }\n");
    assert_eq!(
        p.load,
        LoadModel::Closed {
            sessions: None,
            duration: Some(Duration::from_secs(30)),
            concurrency: 4
        }
    );
    // No `load`: one session, for conformance-style scenarios.
    let p = plan("roles: {a: {}}\nsteps: [ { pause: 1s } ]\n");
    assert_eq!(
        p.load,
        LoadModel::Closed {
            sessions: Some(1),
            duration: None,
            concurrency: 1
        }
    );
    assert_eq!(p.name, "t");
    assert_eq!(p.timeout, Duration::from_secs(5));
}

#[test]
fn thresholds_of_every_kind() {
    let p = plan(
        r#"
roles: {a: {}}
timeout: 3s
steps:
  - { name: call, as: a, call: {} }
  - { as: a, close: {} }
thresholds:
  call: { p50: 5ms, p90: 10ms, p95: 20ms, p99: 50ms, p999: 80ms, max: 1s, mean: 7ms, rate: ">= 100/s" }
  close: { p99: 20ms }
  login: { p99: 100ms }
  session: { rate: 50/s }
  failures: 3
  failure_rate: 0.1%
"#,
    );
    assert_eq!(p.timeout, Duration::from_secs(3));
    let described: Vec<String> = p.thresholds.iter().map(ToString::to_string).collect();
    assert_eq!(
        described,
        [
            "call p50 <= 5ms",
            "call p90 <= 10ms",
            "call p95 <= 20ms",
            "call p99 <= 50ms",
            "call p999 <= 80ms",
            "call max <= 1s",
            "call mean <= 7ms",
            "call rate >= 100/s",
            "close p99 <= 20ms",
            "login p99 <= 100ms",
            "session rate >= 50/s",
            "failures <= 3",
            "failure_rate <= 0.1%",
        ]
    );
    let Threshold::Latency { metric, stat, .. } = &p.thresholds[3] else {
        panic!()
    };
    assert_eq!(
        (metric.id, *stat),
        (p.metric_id("call").unwrap(), Stat::P99)
    );
    let Threshold::FailureRate { max } = p.thresholds[12] else {
        panic!()
    };
    assert!((max - 0.001).abs() < 1e-12);
}

#[test]
fn overrides_apply_before_validation() {
    let set = |pairs: &[&str]| sigbench::scenario::parse_overrides(pairs).unwrap();
    let p = load_file(
        Path::new(ISSUE_EXAMPLE),
        &set(&[
            "load.sessions=10",
            "load.concurrency=2",
            "thresholds.call.p99=80ms",
            "strict=true",
        ]),
    )
    .unwrap();
    assert_eq!(
        p.load,
        LoadModel::Closed {
            sessions: Some(10),
            duration: None,
            concurrency: 2
        }
    );
    assert!(p.strict);
    assert_eq!(p.thresholds[0].to_string(), "call p99 <= 80ms");
    // Switching models needs the closed keys gone: overriding one is an error.
    let e = load_file(
        Path::new(ISSUE_EXAMPLE),
        &set(&["load.arrival=[{hold: 5/s, for: 1s}]"]),
    )
    .unwrap_err();
    assert!(
        e.to_string()
            .contains("'sessions' belongs to the closed model"),
        "{e}"
    );
}

#[test]
fn anchors_and_merge_keys_work() {
    let p = plan(
        r#"
roles: {a: {}, b: {}}
steps:
  - &ring { name: ring, as: b, await: INVITE, within: 1s }
  - { <<: *ring, name: ring again, within: 3s }
"#,
    );
    let StepKind::Await(second) = &p.steps[1].kind else {
        panic!()
    };
    assert_eq!(second.within, Duration::from_secs(3));
    assert_eq!(p.steps[1].name.as_deref(), Some("ring again"));
    // Errors inside merged values point at the merge.
    let e = load_str(
        "t.yaml",
        "roles: {a: {}}\nsteps:\n  - &s { as: a, await: INVITE, within: 1s }\n  - { <<: *s, as: nobody, name: x }\n",
        &[],
    )
    .unwrap_err();
    assert_eq!(e.location.map(|l| l.0), Some(4), "{e}");
}
