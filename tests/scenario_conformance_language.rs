//! The scenario-language features added for conformance cases: field predicates, `before`
//! (order on one connection), `expect` on `id`/`error`/`data` absence, suite files with
//! `spec` and `requires`, and settings in durations — loaded from YAML and exercised
//! through the plan, as the runner uses it.

use std::time::Duration;

use serde_json::json;
use sigbench::drivers::native::{VOCABULARY, classify};
use sigbench::protocol::PushKind;
use sigbench::protocol::frame::ResponseFrame;
use sigbench::scenario::{
    self, Requirement, Setting, SettingValues, Step, StepKind, check_suite_str,
};

fn plan(yaml: &str) -> scenario::Plan {
    scenario::load_str("t.yaml", yaml, &[]).unwrap_or_else(|e| panic!("{e}"))
}

fn errors(yaml: &str) -> String {
    scenario::load_str("t.yaml", yaml, &[])
        .err()
        .map(|e| e.to_string())
        .unwrap_or_else(|| "no error".into())
}

fn response(
    id: Option<u64>,
    code: u32,
    message: &str,
    data: Option<serde_json::Value>,
    error: Option<&str>,
) -> ResponseFrame {
    ResponseFrame {
        id,
        code,
        message: message.into(),
        data: data.map(Into::into),
        error: error.map(str::to_string),
    }
}

fn find<'a>(steps: &'a [Step], name: &str) -> &'a Step {
    steps
        .iter()
        .find(|s| s.name.as_deref() == Some(name))
        .unwrap_or_else(|| panic!("no step {name}"))
}

const PREDICATES: &str = r#"
roles: { a: {} }
steps:
  - name: create
    as: a
    create: { type: 1 }
    save: { first: data.channel.channelName }
    expect:
      code: OK
      error: null
      data:
        channel.createTime: { $type: integer, $min: 1 }
        members: { $exists: false }
        channel.channelName: { $len: 3 }
  - name: event
    as: a
    await: INVITE
    match: { msgid: { $type: string, $ne: "${first}" }, member: { $exists: false } }
"#;

#[test]
fn predicates_check_fields_the_server_chooses() {
    let p = plan(PREDICATES);
    let StepKind::Op(create) = &find(&p.steps, "create").kind else {
        panic!()
    };
    let vars = p.new_vars("r", "s", &["alice"]);
    let good = response(
        Some(1),
        200,
        "OK",
        Some(json!({"channel": {"createTime": 17, "channelName": "abc"}})),
        None,
    );
    assert!(create.expect.check(&good, &vars, &VOCABULARY).is_ok());
    let fraction = response(
        Some(1),
        200,
        "OK",
        Some(json!({"channel": {"createTime": 1.5, "channelName": "abc"}})),
        None,
    );
    assert_eq!(
        create
            .expect
            .check(&fraction, &vars, &VOCABULARY)
            .unwrap_err()
            .to_string(),
        "expected data.channel.createTime matching {$type: integer, $min: 1}, got 1.5"
    );
    let with_error = response(Some(1), 200, "OK", None, Some("oops"));
    assert_eq!(
        create
            .expect
            .check(&with_error, &vars, &VOCABULARY)
            .unwrap_err()
            .to_string(),
        "expected no error field, got error 'oops'"
    );

    let StepKind::Await(event) = &find(&p.steps, "event").kind else {
        panic!()
    };
    let mut vars = p.new_vars("r", "s", &["alice"]);
    create.save[0]
        .apply_response(&good, &mut vars)
        .expect("saved");
    let push = |msgid: &str, extra: serde_json::Value| {
        let mut event = json!({"eventType": "INVITE", "msgid": msgid});
        if let (Some(e), Some(x)) = (event.as_object_mut(), extra.as_object()) {
            e.extend(x.clone());
        }
        json!({"push": "notify", "event": event})
    };
    assert!(
        event
            .matcher
            .matches(&classify(PushKind::Notify, push("m-1", json!({}))), &vars)
    );
    assert!(
        !event
            .matcher
            .matches(&classify(PushKind::Notify, push("abc", json!({}))), &vars)
    );
    assert!(!event.matcher.matches(
        &classify(PushKind::Notify, push("m-1", json!({"member": {}}))),
        &vars
    ));
}

#[test]
fn predicate_mistakes_are_located() {
    let unknown = errors(
        "roles: {a: {}}\nsteps:\n  - { as: a, await: INVITE, match: { msgid: { $tpye: string } } }\n",
    );
    assert!(
        unknown.contains("t.yaml:3:47: unknown predicate '$tpye' — did you mean '$type'?"),
        "{unknown}"
    );
    let mixed = errors(
        "roles: {a: {}}\nsteps:\n  - { as: a, await: INVITE, match: { attachExt: { $type: string, y: 1 } } }\n",
    );
    assert!(mixed.contains("mixes predicates"), "{mixed}");
    let bad_type = errors(
        "roles: {a: {}}\nsteps:\n  - { as: a, await: INVITE, match: { attachExt: { $type: integr } } }\n",
    );
    assert!(
        bad_type.contains("unknown type 'integr' — did you mean 'integer'?"),
        "{bad_type}"
    );
    let bad_id = errors(
        "roles: {a: {}}\nsteps:\n  - { as: a, raw: { text: x }, expect: { code: 400, id: -1 } }\n",
    );
    assert!(bad_id.contains("expect.id must be an id"), "{bad_id}");
}

#[test]
fn expect_id_and_absent_data() {
    let p = plan(
        "roles: {a: {}}\nsteps:\n  - { name: r, as: a, raw: { text: x }, expect: { code: BAD_FRAME, id: null } }\n  - { name: l, as: a, leave: { channelId: c }, expect: { code: OK, data: null } }\n",
    );
    let vars = p.new_vars("r", "s", &["alice"]);
    let StepKind::Raw(raw) = &find(&p.steps, "r").kind else {
        panic!()
    };
    let scenario::RawExpect::Response(expect) = &raw.expect else {
        panic!()
    };
    assert!(
        expect
            .check(
                &response(None, 400, "BAD_FRAME", None, Some("x")),
                &vars,
                &VOCABULARY
            )
            .is_ok()
    );
    assert_eq!(
        expect
            .check(
                &response(Some(3), 400, "BAD_FRAME", None, Some("x")),
                &vars,
                &VOCABULARY
            )
            .unwrap_err()
            .to_string(),
        "expected id null, got id 3"
    );
    let StepKind::Op(leave) = &find(&p.steps, "l").kind else {
        panic!()
    };
    assert!(
        leave
            .expect
            .check(
                &response(Some(1), 200, "OK", None, None),
                &vars,
                &VOCABULARY
            )
            .is_ok()
    );
    assert!(
        leave
            .expect
            .check(
                &response(Some(1), 200, "OK", Some(json!({})), None),
                &vars,
                &VOCABULARY
            )
            .is_err()
    );
}

#[test]
fn before_takes_the_oldest_and_fails_on_the_wrong_order() {
    let p = plan(
        "roles: {a: {}}\nsteps:\n  - { name: first, as: a, await: channelsSync, before: unreadSync }\n",
    );
    let StepKind::Await(a) = &p.steps[0].kind else {
        panic!()
    };
    let vars = p.new_vars("r", "s", &["alice"]);
    let unread = json!({"push": "unreadSync", "events": []});
    let channels = json!({"push": "channelsSync", "channels": []});
    // The runner takes the oldest push the matcher accepts …
    assert!(
        a.matcher
            .matches(&classify(PushKind::UnreadSync, unread.clone()), &vars)
    );
    assert!(
        a.matcher
            .matches(&classify(PushKind::ChannelsSync, channels.clone()), &vars)
    );
    // … and the order guard fails when it was the `before` one.
    let guard = a.save.last().expect("an order guard");
    let mut vars = p.new_vars("r", "s", &["alice"]);
    let root = a
        .matcher
        .find(&classify(PushKind::UnreadSync, unread.clone()), &vars)
        .cloned()
        .unwrap_or(serde_json::Value::Null);
    assert_eq!(
        guard.apply(&root, &mut vars).unwrap_err().to_string(),
        "expected channelsSync before unreadSync, got unreadSync first"
    );
    let root = a
        .matcher
        .find(&classify(PushKind::ChannelsSync, channels.clone()), &vars)
        .cloned()
        .unwrap_or(serde_json::Value::Null);
    assert!(guard.apply(&root, &mut vars).is_ok());

    let on_refute = errors(
        "roles: {a: {}}\nsteps:\n  - { refute: INVITE, as: a, before: CANCEL_INVITE, within: 1s }\n",
    );
    assert!(
        on_refute.contains("'before' is not allowed on a 'refute' step"),
        "{on_refute}"
    );
}

#[test]
fn settings_belong_to_suites() {
    let plain = errors("roles: {a: {}}\nsteps:\n  - pause: invite_ttl + 1s\n");
    assert!(
        plain.contains("settings can only be used in the cases of a conformance suite"),
        "{plain}"
    );
    let suite = errors("cases: []\n");
    assert!(
        suite.contains("suites run with `sigbench conformance`"),
        "{suite}"
    );
}

#[test]
fn suites_compile_each_case_with_the_settings() {
    let text = r#"
suite: demo
defaults: { timeout: 1s, roles: { a: {} }, requires: [channel_ttl] }
cases:
  - name: waits
    spec: P-5.7
    description: Waits for expiry.
    steps:
      - { pause: "0.5 * channel_ttl + 100ms" }
      - { name: q, as: a, query: { channelName: x }, expect: ROOM_NOT_EXISTS, within: channel_ttl }
  - name: full
    spec: P-5.2
    description: Needs a small member limit.
    requires: [{ max_members: 3 }]
    steps:
      - { as: a, query: { channelName: x }, expect: ROOM_NOT_EXISTS }
"#;
    let mut values = SettingValues::default();
    values.set(Setting::ChannelTtl, Duration::from_secs(2));
    let suite = check_suite_str("demo.yaml", text, &values).unwrap();
    let waits = &suite.cases[0];
    assert_eq!(
        waits.requires,
        vec![Requirement::Known(Setting::ChannelTtl)]
    );
    assert_eq!(
        waits.plan.steps[0].kind,
        StepKind::Pause(scenario::Pause::Fixed(Duration::from_millis(1100)))
    );
    let StepKind::Op(q) = &waits.plan.steps[1].kind else {
        panic!()
    };
    assert_eq!(q.timeout, Duration::from_secs(2));
    assert_eq!(waits.plan.timeout, Duration::from_secs(1));
    // A case's own requires replace the defaults'.
    assert_eq!(
        suite.cases[1].requires,
        vec![Requirement::Equals(Setting::MaxMembers, 3)]
    );
    assert_eq!(suite.cases[1].line, 11);
}
