//! A wire profile with a mistake in any section is refused with file:line:column and,
//! where a name was misspelt, a did-you-mean — like a scenario mistake. `check
//! --profile` reports them together with the scenario's.

use std::process::Command;

use sigbench::drivers::profile::load_str;

/// A complete profile; each test breaks one line of it.
const GOOD: &str = r#"name: acme
connect:
  subprotocols: [acme.v1]
login:
  token: run
  headers: { X-Device: "{device}" }
  steps:
    - { method: hello, params: { user: "{account}" }, save: { session: result.session } }
    - { op: login, params: { session: "{session}", token: "{token}" } }
requests:
  frame: { v: 1, id: $id, method: $method, params: $params }
correlation:
  id: id
  form: string
  source: counter
responses:
  when: { result: $present }
result:
  success: { ok: true }
  code: error.code
  codes: { "404": ROOM_NOT_EXISTS }
pushes:
  when: { event: $present }
  kind: event
  kinds: { incoming: notify }
keepalive:
  every: 20s
  method: ping
auto_replies:
  - when: { ack: $present }
    reply: { id: $request.id, ok: true }
"#;

/// The line of `GOOD` where `text` starts.
fn line_of(text: &str) -> usize {
    let at = GOOD.find(text).unwrap_or_else(|| panic!("{text}"));
    GOOD[..at].matches('\n').count() + 1
}

fn error_of(from: &str, to: &str) -> String {
    assert!(GOOD.contains(from), "{from}");
    let text = GOOD.replacen(from, to, 1);
    match load_str("acme.yaml", &text) {
        Ok(_) => panic!("accepted with {to:?}"),
        Err(errors) => errors
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join("\n"),
    }
}

fn assert_located(error: &str, line: usize, needle: &str) {
    assert!(
        error.contains(&format!("acme.yaml:{line}:")),
        "not at line {line}: {error}"
    );
    assert!(error.contains(needle), "no '{needle}' in: {error}");
}

#[test]
fn the_complete_profile_loads() {
    let p = load_str("acme.yaml", GOOD).unwrap_or_else(|e| panic!("{e:?}"));
    assert_eq!(p.name, "acme");
    assert!(!p.builtin_framing);
}

#[test]
fn a_mistake_in_each_section_is_located_with_a_suggestion() {
    // Top level.
    assert_located(
        &error_of("keepalive:", "keepalve:"),
        line_of("keepalive:"),
        "unknown key 'keepalve' in the profile — did you mean 'keepalive'?",
    );
    // connect
    assert_located(
        &error_of("  subprotocols:", "  subprotocol:"),
        line_of("  subprotocols:"),
        "did you mean 'subprotocols'?",
    );
    // login: a placeholder that is not known at that step.
    assert_located(
        &error_of("session: \"{session}\"", "session: \"{sesion}\""),
        line_of("session: \"{session}\""),
        "unknown placeholder '{sesion}' — did you mean 'session'?",
    );
    assert_located(
        &error_of("- { op: login,", "- { op: logn,"),
        line_of("- { op: login,"),
        "unknown op 'logn' — did you mean 'login'?",
    );
    // requests: a hole that does not exist.
    assert_located(
        &error_of("id: $id, method", "id: $idd, method"),
        line_of("id: $id, method"),
        "unknown placeholder '$idd' — did you mean '$id'?",
    );
    // correlation
    assert_located(
        &error_of("form: string", "form: strng"),
        line_of("form: string"),
        "correlation.form must be integer or string, got 'strng' — did you mean 'string'?",
    );
    // responses: a test that does not exist.
    assert_located(
        &error_of("result: $present }", "result: $presnt }"),
        line_of("result: $present }"),
        "unknown test '$presnt' — did you mean '$present'?",
    );
    // result: a code name sigbench does not know.
    assert_located(
        &error_of("ROOM_NOT_EXISTS", "ROOM_NOT_EXIST"),
        line_of("ROOM_NOT_EXISTS"),
        "unknown code name 'ROOM_NOT_EXIST' — did you mean 'ROOM_NOT_EXISTS'?",
    );
    // pushes: a push kind sigbench does not know.
    assert_located(
        &error_of("incoming: notify", "incoming: notfy"),
        line_of("incoming: notify"),
        "unknown push kind 'notfy' — did you mean 'notify'?",
    );
    // keepalive
    assert_located(
        &error_of("every: 20s", "every: 20 parsecs"),
        line_of("every: 20s"),
        "keepalive.every",
    );
    // auto_replies: a hole only requests have.
    assert_located(
        &error_of("id: $request.id, ok", "id: $id, ok"),
        line_of("id: $request.id, ok"),
        "'$id' cannot be used here",
    );
}

#[test]
fn missing_sections_and_holes_are_named() {
    let e = error_of(
        "pushes:\n  when: { event: $present }\n  kind: event\n  kinds: { incoming: notify }\n",
        "",
    );
    assert!(e.contains("missing 'pushes'"), "{e}");
    let e = error_of("id: $id, ", "");
    assert_located(&e, line_of("  frame:"), "requests.frame has no $id");
}

#[test]
fn check_reports_profile_and_scenario_together() {
    let dir = std::env::temp_dir().join(format!("sigbench-profile-check-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let profile = dir.join("acme.yaml");
    std::fs::write(&profile, GOOD.replacen("form: string", "form: strng", 1)).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_sigbench"))
        .args(["check", "--profile"])
        .arg(&profile)
        .arg("scenarios/call-accept.yaml")
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    let at = format!("acme.yaml:{}:", line_of("form: string"));
    assert!(stderr.contains(&at), "{stderr}");

    // A scenario naming a broken profile is itself an error, located in both files.
    let scenario = dir.join("s.yaml");
    std::fs::write(
        &scenario,
        "profile: acme.yaml\nroles: {a: {}}\nsteps:\n  - { as: a, query: { channelName: x }, expect: any }\n",
    )
    .unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_sigbench"))
        .arg("check")
        .arg(&scenario)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("s.yaml:1:10: the profile"), "{stderr}");
    assert!(stderr.contains(&at), "{stderr}");

    // The shipped profiles check with every shipped scenario.
    for p in ["sigbench", "jsonrpc", "protoo"] {
        let out = Command::new(env!("CARGO_BIN_EXE_sigbench"))
            .args(["check", "--profile", &format!("profiles/{p}.yaml")])
            .args(["scenarios/call-accept.yaml", "scenarios/group-call.yaml"])
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert_eq!(
            out.status.code(),
            Some(0),
            "{p}: {stdout}{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(stdout.contains(&format!("profile {p}")), "{stdout}");
    }
}
