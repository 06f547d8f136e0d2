//! Scenario validation errors: each names file:line:column and what was expected.

use sigbench::scenario::{ErrorKind, ScenarioError, check_str, load_str};

const HEAD: &str = "name: t\nroles:\n  caller: {}\n  callee: { devices: 2 }\nsteps:\n";

/// All errors of `HEAD + steps`, rendered.
fn errors(steps: &str) -> Vec<String> {
    errors_of(&format!("{HEAD}{steps}"))
}

fn errors_of(text: &str) -> Vec<String> {
    match check_str("t.yaml", text, &[]) {
        Ok(_) => Vec::new(),
        Err(e) => e.iter().map(ScenarioError::to_string).collect(),
    }
}

/// The only error of `HEAD + steps`.
fn error(steps: &str) -> String {
    let all = errors(steps);
    assert_eq!(all.len(), 1, "expected exactly one error, got {all:#?}");
    all.into_iter().next().unwrap()
}

#[test]
fn unknown_op_suggests_the_closest() {
    // Line 6 is the first step; `acept` is at line 7, column 5.
    assert_eq!(
        error("  - name: a\n    acept: {}\n    as: callee\n"),
        "t.yaml:7:5: unknown op 'acept' — did you mean 'accept'?"
    );
    assert_eq!(
        error("  - as: callee\n    awiat: INVITE\n"),
        "t.yaml:7:5: unknown step kind 'awiat' — did you mean 'await'?"
    );
    assert_eq!(
        error("  - as: callee\n    await: INVITE\n    macth: {}\n"),
        "t.yaml:8:5: unknown key 'macth' in step — did you mean 'match'?"
    );
}

#[test]
fn a_step_needs_exactly_one_action() {
    assert!(
        error("  - name: a\n    as: caller\n").starts_with("t.yaml:6:5: a step needs an action")
    );
    assert_eq!(
        error("  - as: caller\n    call: {}\n    accept: {}\n"),
        "t.yaml:8:5: a step has one action, found 'call' and 'accept'; split it into two steps"
    );
}

#[test]
fn unknown_top_level_keys_and_missing_sections() {
    let e = errors_of("name: t\nroles: {a: {}}\nstpes: []\n");
    assert_eq!(
        e,
        vec![
            "t.yaml:3:1: unknown key 'stpes' in the scenario — did you mean 'steps'?",
            "t.yaml:1:1: missing 'steps': the list of what one session does (or 'flows': a mix)",
        ]
        .into_iter()
        .rev()
        .collect::<Vec<_>>()
    );
    assert_eq!(
        errors_of("steps:\n  - pause: 1s\n"),
        vec!["t.yaml:1:1: missing 'roles': e.g. roles: {caller: {}, callee: {}}"]
    );
    assert_eq!(
        errors_of("- 1\n"),
        vec!["t.yaml:1:1: a scenario must be a mapping, found a list"]
    );
}

#[test]
fn roles_and_devices_are_checked() {
    assert_eq!(
        error("  - as: calee\n    call: {}\n"),
        "t.yaml:6:9: unknown role 'calee' — did you mean 'callee'? (roles: caller, callee)"
    );
    assert_eq!(
        error("  - as: callee#3\n    call: {}\n"),
        "t.yaml:6:9: role 'callee' has 2 device(s), numbered from 1; there is no device 3"
    );
    assert_eq!(
        error("  - as: { role: callee, device: 0 }\n    call: {}\n"),
        "t.yaml:6:9: role 'callee' has 2 device(s), numbered from 1; there is no device 0"
    );
    assert_eq!(
        error("  - call: {}\n"),
        "t.yaml:6:5: missing 'as': which role does this 'call'? (roles: caller, callee)"
    );
    let e = errors_of("roles:\n  session: {}\n  bad name: {}\nsteps:\n  - pause: 1s\n");
    assert_eq!(
        e,
        vec![
            "t.yaml:2:3: 'session' is a builtin variable; choose another role name",
            "t.yaml:3:3: bad role name 'bad name' (letters, digits, '_' or '-', starting with a letter or '_')",
        ]
    );
}

#[test]
fn variables_must_be_defined_by_an_earlier_step() {
    assert_eq!(
        error("  - as: caller\n    close: { channelId: \"${cid}\" }\n"),
        "t.yaml:7:25: undefined variable 'cid': not a role, a builtin (session, run) or a variable saved by an earlier step"
    );
    // Saved later: known name, wrong place.
    let e = errors(
        "  - as: caller\n    close: { channelId: \"${cid}\" }\n  - as: caller\n    call: {}\n    save: { cid: data.channel.channelId }\n",
    );
    assert_eq!(e.len(), 1);
    assert!(
        e[0].starts_with("t.yaml:7:25: undefined variable 'cid'"),
        "{e:?}"
    );
    let e = errors(
        "  - as: caller\n    call: {}\n    save: { cid: data.channel.channelId }\n  - as: caller\n    close: { channelId: \"${cd}\" }\n",
    );
    assert_eq!(
        e,
        vec![
            "t.yaml:10:25: undefined variable 'cd': not a role, a builtin (session, run) or a variable saved by an earlier step — did you mean 'cid'?"
        ]
    );
    // A parallel sibling's save is not visible; after the group it is.
    let e = errors(
        "  - parallel:\n      - { as: caller, call: {}, save: { cid: data.channel.channelId } }\n      - { as: caller, close: { channelId: \"${cid}\" } }\n  - as: caller\n    close: { channelId: \"${cid}\" }\n",
    );
    assert_eq!(e.len(), 1, "{e:?}");
    assert!(
        e[0].starts_with("t.yaml:8:43: variable 'cid' is not saved by an earlier step"),
        "{e:?}"
    );
    assert_eq!(
        error("  - as: caller\n    call: { account: \"${x\" }\n"),
        "t.yaml:7:22: unclosed '${' in \"${x\""
    );
}

#[test]
fn saves_are_checked() {
    assert_eq!(
        error("  - as: caller\n    call: {}\n    save: { cid: channel.channelId }\n"),
        "t.yaml:8:18: a response save path starts with one of data, code, message, error, id (e.g. data.channel.channelId), got 'channel.channelId'"
    );
    assert_eq!(
        error("  - as: caller\n    call: {}\n    save: { callee: data.x }\n"),
        "t.yaml:8:13: cannot save into 'callee': it is a role, a builtin or a feeder/generated variable"
    );
    assert_eq!(
        error("  - as: caller\n    call: {}\n    save: { x: \"data..x\" }\n"),
        "t.yaml:8:16: bad JSON path 'data..x': empty key (two dots, or a leading or trailing dot?)"
    );
}

#[test]
fn unknown_params_are_errors_unless_allowed() {
    assert_eq!(
        error("  - as: caller\n    call: { acount: x }\n"),
        "t.yaml:7:13: unknown param 'acount' for op 'call' — did you mean 'account'? (params: type, account, requestId, channelName, ext, uid, offlineEnabled, attachExt, pushInfo; set `allow_unknown_params: true` on the step to send it anyway)"
    );
    assert!(
        errors("  - as: caller\n    call: { acount: x }\n    allow_unknown_params: true\n")
            .is_empty()
    );
    assert_eq!(
        error("  - as: caller\n    call: [1]\n"),
        "t.yaml:7:11: the params of 'call' must be a mapping (or empty), found a list"
    );
}

#[test]
fn expectations_are_checked() {
    assert_eq!(
        error("  - as: caller\n    call: {}\n    expect: ROOM_NOT_EXIST\n"),
        "t.yaml:8:13: unknown code 'ROOM_NOT_EXIST' — did you mean 'ROOM_NOT_EXISTS'? (codes are numbers like 200 or names like ROOM_NOT_EXISTS)"
    );
    assert_eq!(
        error("  - as: caller\n    call: {}\n    expect: { code: 200, dta: {} }\n"),
        "t.yaml:8:26: unknown key 'dta' in expect — did you mean 'data'?"
    );
    assert_eq!(
        error("  - as: caller\n    call: {}\n    expect: []\n"),
        "t.yaml:8:13: a list of codes must not be empty"
    );
    assert_eq!(
        error("  - as: caller\n    raw: { text: x }\n"),
        "t.yaml:7:5: raw steps need 'expect': a code, {code, message} or {close: 1003}"
    );
    assert_eq!(
        error("  - as: caller\n    raw: { text: x }\n    expect: { close: 1003, code: 1 }\n"),
        "t.yaml:8:28: 'code' cannot go with 'close': a closed connection sends no response to check"
    );
}

#[test]
fn awaits_and_since_are_checked() {
    assert_eq!(
        error("  - as: callee\n    await: INVTE\n"),
        "t.yaml:7:12: unknown event 'INVTE' — did you mean 'INVITE'? (expected one of ROOM_CLOSE, ROOM_JOIN, INVITE, CANCEL_INVITE, REJECT, ACCEPT, LEAVE, CONTROL, multiClientSync, unreadSync, channelsSync, kicked)"
    );
    assert_eq!(
        error("  - as: callee\n    await: kicked\n    via: unreadSync\n"),
        "t.yaml:8:10: via only applies to event types (INVITE, ...), not push kinds"
    );
    assert_eq!(
        error("  - as: callee\n    await: INVITE\n    since: call\n"),
        "t.yaml:8:12: since: no step named 'call' runs before this await"
    );
    // Names an await, or a later step.
    let e = errors(
        "  - { name: first, as: callee, await: INVITE }\n  - { as: callee, await: INVITE, since: first }\n  - { as: callee, await: INVITE, since: later }\n  - { name: later, as: caller, call: {} }\n",
    );
    assert_eq!(
        e,
        vec![
            "t.yaml:7:41: since: 'first' is not a request step (op, login or raw) that runs before this await",
            "t.yaml:8:41: since: no step named 'later' runs before this await",
        ]
    );
    assert_eq!(
        error("  - as: callee\n    refute: INVITE\n"),
        "t.yaml:7:5: refute needs 'within': how long the push must stay away"
    );
    assert_eq!(
        error("  - as: callee\n    call: {}\n    match: {}\n"),
        "t.yaml:8:5: 'match' is not allowed on a 'call' step (allowed: name, as, metric, expect, save, within, allow_unknown_params)"
    );
    assert_eq!(
        error("  - as: callee\n    await: INVITE\n    within: 2\n"),
        "t.yaml:8:13: within: expected a duration like 500ms or 2s, found an integer ('2')"
    );
    assert_eq!(
        error("  - as: callee\n    await: INVITE\n    within: 0s\n"),
        "t.yaml:8:13: within must be longer than 0"
    );
}

#[test]
fn names_are_unique_and_not_reserved() {
    assert_eq!(
        error("  - { name: a, pause: 1s }\n  - { name: a, pause: 1s }\n"),
        "t.yaml:7:13: step name 'a' is already used at line 6; step names must be unique (use `metric:` to share a metric)"
    );
    assert_eq!(
        error("  - { name: session, pause: 1s }\n"),
        "t.yaml:6:13: 'session' is a reserved metric name; choose another step name"
    );
    assert_eq!(
        error(
            "  - { name: x, as: caller, call: {} }\n  - { name: y, metric: x, as: caller, await: INVITE }\n"
        ),
        "t.yaml:7:24: metric 'x' already measures request→response time; give this step another name or `metric:`"
    );
}

#[test]
fn pauses_parallel_and_repeat_are_checked() {
    assert_eq!(
        error("  - pause: 500ms..100ms\n"),
        "t.yaml:6:12: pause: the range 500ms..100ms runs backwards"
    );
    assert_eq!(
        error("  - pause: { mean: 1s }\n"),
        "t.yaml:6:14: unknown key 'mean' in pause (expected one of: exp)"
    );
    assert_eq!(
        error("  - parallel:\n      - { as: caller, call: {} }\n    exactly_one: 200\n"),
        "t.yaml:8:18: exactly_one needs at least two request steps directly in the group"
    );
    assert_eq!(
        error("  - repeat: { count: 0, steps: [ { pause: 1s } ] }\n"),
        "t.yaml:6:22: repeat.count must be at least 1"
    );
    assert_eq!(
        error("  - as: caller\n    raw: { text: \"a\", size: 10 }\n    expect: 200\n"),
        "t.yaml:7:18: with `size`, the text must contain `${pad}` exactly once (found 0)"
    );
    assert_eq!(
        error(
            "  - as: caller\n    raw: { text: \"${pad}\", size: 99999999999 }\n    expect: 200\n"
        ),
        "t.yaml:7:34: raw.size is limited to 16777216 bytes (16 MiB)"
    );
    assert_eq!(
        error("  - as: caller\n    raw: { binary: \"0g\" }\n    expect: 200\n"),
        "t.yaml:7:20: bad hex: Invalid character 'g' at position 1"
    );
}

#[test]
fn load_sections_are_checked() {
    let load = |l: &str| {
        errors_of(&format!(
            "roles: {{a: {{}}}}\nload:\n{l}steps:\n  - pause: 1s\n"
        ))
    };
    assert_eq!(
        load("  concurrency: 5\n"),
        vec![
            "t.yaml:3:3: load needs 'sessions' and/or 'duration' (closed model), 'stages' (closed model, ramping) or 'arrival' (open model)"
        ]
    );
    assert_eq!(
        load("  sessions: 10\n  arrival: [ { hold: 1/s, for: 1s } ]\n"),
        vec![
            "t.yaml:3:3: 'sessions' belongs to the closed model; with 'arrival' (open model) the stages set the load and 'max_in_flight' bounds it"
        ]
    );
    assert_eq!(
        load("  arrival: [ { ramp: 10/s..x, over: 1s } ]\n"),
        vec!["t.yaml:3:22: ramp: expected a rate like 100/s or 600/m, got 'x'"]
    );
    assert_eq!(
        load("  arrival: [ { hold: 10/s } ]\n"),
        vec!["t.yaml:3:14: a hold stage needs 'for': how long it lasts"]
    );
    assert_eq!(
        load("  arrival: [ { hold: 0/s, for: 10s } ]\n"),
        vec!["t.yaml:3:12: these arrival stages start no session at all"]
    );
    assert_eq!(
        load("  sessions: -1\n"),
        vec!["t.yaml:3:13: sessions must be a non-negative integer, found an integer ('-1')"]
    );
    assert_eq!(
        load("  sessions: 1\n  sesions: 2\n"),
        vec!["t.yaml:4:3: unknown key 'sesions' in load — did you mean 'sessions'?"]
    );
}

#[test]
fn thresholds_must_name_existing_metrics() {
    let t = |th: &str| {
        errors(&format!(
            "  - {{ name: call, as: caller, call: {{}} }}\nthresholds:\n{th}"
        ))
    };
    assert_eq!(
        t("  cal: { p99: 50ms }\n"),
        vec![
            "t.yaml:8:3: unknown metric 'cal' in thresholds — did you mean 'call'? (known: login, session, call, failures, failure_rate)"
        ]
    );
    assert_eq!(
        t("  call: { P99: 50ms }\n"),
        vec!["t.yaml:8:11: unknown key 'P99' in thresholds of 'call' — did you mean 'p99'?"]
    );
    assert_eq!(
        t("  failure_rate: 5\n"),
        vec![
            "t.yaml:8:17: failure_rate must be a percentage like 0.1% or a fraction from 0 to 1, found an integer ('5')"
        ]
    );
    assert_eq!(
        t("  session: { rate: fast }\n"),
        vec![
            "t.yaml:8:20: rate: expected a rate like 100/s or 600/m, got 'fast' (optionally prefixed by '>=')"
        ]
    );
}

#[test]
fn yaml_syntax_errors_are_located() {
    let e = load_str("t.yaml", "name: t\nroles: [a\nsteps: []\n", &[]).unwrap_err();
    assert_eq!(e.kind, ErrorKind::Syntax);
    assert!(e.location.is_some(), "{e}");
    assert!(e.to_string().starts_with("t.yaml:"), "{e}");
    assert!(e.message.starts_with("invalid YAML"), "{e}");
    let e = load_str("t.yaml", "name: t\nname: u\n", &[]).unwrap_err();
    assert_eq!(e.location, Some((2, 1)), "{e}");
    assert!(e.message.contains("duplicate"), "{e}");
}

#[test]
fn errors_come_back_together_in_document_order() {
    let e = errors(
        "  - as: nobody\n    call: {}\n  - as: caller\n    close: { channelId: \"${x}\" }\n    expect: NOPE\n",
    );
    assert_eq!(e.len(), 3, "{e:#?}");
    assert!(e[0].starts_with("t.yaml:6:9:"));
    assert!(e[1].starts_with("t.yaml:9:25:"));
    assert!(e[2].starts_with("t.yaml:10:13:"));
    // load_str reports the first.
    let first = load_str(
        "t.yaml",
        &format!("{HEAD}  - as: nobody\n    call: {{}}\n"),
        &[],
    )
    .unwrap_err();
    assert_eq!(first.location, Some((6, 9)));
}

#[test]
fn overrides_are_validated_like_written_values() {
    let text = format!("{HEAD}  - pause: 1s\nload: {{ sessions: 10 }}\n");
    let set = |k: &str, v: &str| vec![(k.to_string(), v.to_string())];
    let e = load_str("t.yaml", &text, &set("load.sessions", "many")).unwrap_err();
    assert_eq!(
        e.to_string(),
        "t.yaml: --set load.sessions=many: sessions must be a non-negative integer, found a string ('many')"
    );
    let e = load_str("t.yaml", &text, &set("lod.sessions", "5")).unwrap_err();
    assert_eq!(
        e.to_string(),
        "t.yaml: --set lod.sessions=5: unknown key 'lod' in the scenario — did you mean 'load'?"
    );
    let e = load_str("t.yaml", &text, &set("name.x", "5")).unwrap_err();
    assert_eq!(e.kind, ErrorKind::Override);
    assert_eq!(
        e.to_string(),
        "t.yaml: --set name.x=5: 'name' is a string, not a mapping or list"
    );
    assert!(sigbench::scenario::parse_overrides(&["novalue"]).is_err());
}

#[test]
fn a_missing_file_is_an_io_error() {
    let e =
        sigbench::scenario::load_file(std::path::Path::new("no/such/file.yaml"), &[]).unwrap_err();
    assert_eq!(e.kind, ErrorKind::Io);
    assert!(
        e.to_string()
            .starts_with("no/such/file.yaml: cannot read the scenario:"),
        "{e}"
    );
}

#[test]
fn hostile_input_is_an_error_not_a_crash() {
    let deep = format!(
        "roles: {{a: {{}}}}\nsteps: {}{}\n",
        "[".repeat(500),
        "]".repeat(500)
    );
    assert_eq!(
        load_str("t.yaml", &deep, &[]).unwrap_err().kind,
        ErrorKind::Syntax
    );
    let huge = format!(
        "{HEAD}  - pause: {{ exp: 99999999999999999h }}\nload:\n  arrival:\n    - {{ hold: 1/s, for: 99999999999999999h }}\n    - {{ hold: 1/s, for: 99999999999999999h }}\n"
    );
    // Either rejected or accepted, but never a panic.
    let _ = check_str("t.yaml", &huge, &[]);
    assert!(
        errors_of("")
            .iter()
            .any(|e| e.contains("a scenario must be a mapping"))
    );
}

/// `save:` paths follow the shape of the op's reply (docs/protocol.md, "Ops at a
/// glance"), and await `save:`/`match:` paths that of the event or push: a path that
/// leads nowhere fails (or never matches) in every session, so `check` says so.
#[test]
fn save_and_match_paths_follow_the_protocol_shapes() {
    // A reply's data: a typo, one level down, an unindexed list, an op without data.
    assert_eq!(
        error("  - as: caller\n    call: {}\n    save: { cid: data.chanel.channelId }\n"),
        "t.yaml:8:18: 'call' responses have no field 'chanel' in 'data' — did you mean 'channel'? (fields: channel, members); saving 'data.chanel.channelId' would fail in every session"
    );
    assert_eq!(
        error("  - as: caller\n    create: {}\n    save: { cid: data.channel.channelID }\n"),
        "t.yaml:8:18: 'create' responses have no field 'channelID' in 'data.channel' — did you mean 'channelId'? (fields: channelId, channelName, type, ext, creator, createTime, expireTime, invalid); saving 'data.channel.channelID' would fail in every session"
    );
    assert_eq!(
        error("  - as: caller\n    join: {}\n    save: { uid: data.members.uid }\n"),
        "t.yaml:8:18: 'join' responses have a list at 'data.members', not a field 'uid': index it, as in data.members[0]; saving 'data.members.uid' would fail in every session"
    );
    assert_eq!(
        error("  - as: caller\n    leave: {}\n    save: { x: data.channel }\n"),
        "t.yaml:8:16: 'leave' responses have no data; saving 'data.channel' would fail in every session"
    );
    // Good paths pass: the reply's own fields, data itself, list items, login data.
    assert_eq!(
        errors(
            "  - as: caller\n    call: {}\n    save: { a: data.channel.channelId, b: \"data.members[-1].uid\", c: code, d: data }\n  - as: caller\n    login: {}\n    expect: any\n    save: { t: data.serverTime }\n"
        ),
        Vec::<String>::new()
    );
    // Push awaits: match and save paths against the whole push.
    assert_eq!(
        error("  - as: callee\n    await: unreadSync\n    match: { \"event[0].requestId\": x }\n"),
        "t.yaml:8:14: unreadSync pushes have no field 'event' — did you mean 'events'? (fields: push, events); this await could never match"
    );
    assert_eq!(
        error(
            "  - as: callee\n    await: channelsSync\n    save: { c: \"channels[0].channel.channelid\" }\n"
        ),
        "t.yaml:8:16: channelsSync pushes have no field 'channelid' in 'channels[0].channel' — did you mean 'channelId'? (fields: channelId, channelName, type, ext, creator, createTime, expireTime, invalid); saving 'channels[0].channel.channelid' would fail in every session"
    );
    assert_eq!(
        error("  - as: callee\n    await: kicked\n    match: { reson: LOGIN_ELSEWHERE }\n"),
        "t.yaml:8:14: kicked pushes have no field 'reson' — did you mean 'reason'? (fields: push, reason); this await could never match"
    );
    assert_eq!(
        error(
            "  - as: callee#2\n    refute: multiClientSync\n    within: 1s\n    match: { evnt.eventType: ACCEPT }\n"
        ),
        "t.yaml:9:14: multiClientSync pushes have no field 'evnt' — did you mean 'event'? (fields: push, event); this await could never match"
    );
    // Event awaits: save paths from the event, like match paths.
    assert_eq!(
        error("  - as: callee\n    await: INVITE\n    save: { m: msgId }\n"),
        "t.yaml:8:16: INVITE events have no field 'msgId' — did you mean 'msgid'? (fields: eventType, msgid, channel, from, time, to, requestId, attachExt, pushInfo); saving 'msgId' would fail in every session"
    );
    // Fields expected absent may be named anyway; good push paths pass.
    assert_eq!(
        errors(
            "  - as: callee#2\n    await: multiClientSync\n    match: { event.eventType: ACCEPT, event.member.uid: { $type: integer }, nope: null }\n    save: { id: event.msgid }\n  - as: callee\n    await: unreadSync\n    match: { \"events[0].requestId\": x, \"events\": { $len: 1 } }\n"
        ),
        Vec::<String>::new()
    );
}
