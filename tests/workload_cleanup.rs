//! `cleanup: true`: the harness undoes what each session left on its accounts (channels
//! it created or joined, stored events it read), so that sessions reusing accounts start
//! clean. Each scenario here fails on reused accounts without the option and passes
//! with it. The real binary against the embedded server.

mod workload_support;

use sigbench::server::{Auth, ServerConfig, spawn};
use workload_support::{assert_schema, check, sigbench, text, write};

/// Each session creates a channel named after its caller and never closes it: from the
/// second session on a slot, the name is taken (10405).
const NAMED_ROOM: &str = r#"
name: named-room
roles: { caller: {}, callee: {} }
load: { sessions: 6, concurrency: 2 }
steps:
  - { name: create, as: caller, create: { type: 1, channelName: "room-${caller}" }, save: { cid: data.channel.channelId } }
  - { name: join, as: caller, join: { channelId: "${cid}" } }
  - { name: callee joins, as: callee, join: { channelId: "${cid}" } }
thresholds:
  failures: 0
"#;

/// An invitation stored for an offline callee, read at its login: from the second
/// session on the same accounts, the stored events of earlier sessions come too.
const STORED_EVENTS: &str = r#"
name: stored-events
roles: { caller: {}, callee: { online: false } }
load: { sessions: 4, concurrency: 1 }
steps:
  - name: call
    as: caller
    call: { type: 1, account: "${callee}", requestId: "${session}", offlineEnabled: true }
    expect: PEER_NIM_OFFLINE
    save: { cid: data.channel.channelId }
  - { name: login, as: callee, login: {} }
  - name: stored
    as: callee
    await: unreadSync
    match: { events: { $len: 1 }, "events[0].requestId": "${session}" }
    within: 1s
  - { name: hang up, as: caller, close: { channelId: "${cid}" } }
thresholds:
  failures: 0
"#;

fn sessions(report: &serde_json::Value) -> (u64, u64) {
    (
        report["sessions"]["ok"].as_u64().unwrap(),
        report["sessions"]["failed"].as_u64().unwrap(),
    )
}

fn warnings(report: &serde_json::Value) -> Vec<String> {
    report["warnings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| w.as_str().unwrap().to_string())
        .collect()
}

#[test]
fn cleanup_closes_the_channels_a_session_created_and_joined() {
    let path = write("named-room", "room.yaml", NAMED_ROOM);
    let path = path.to_str().unwrap();
    let (out, report) = sigbench("named-room-shared", &["run", path, "--quiet"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let report = report.expect("a report");
    assert_eq!(sessions(&report), (2, 4), "the names stay taken");
    let reasons = report["failures"].to_string();
    assert!(reasons.contains("ROOM_HAS_EXISTS"), "{reasons}");

    let (out, report) = sigbench(
        "named-room-clean",
        &["run", path, "--quiet", "--set", "cleanup=true"],
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let report = report.expect("a report");
    assert_schema(&report);
    assert_eq!(sessions(&report), (6, 0));
    assert_eq!(report["failures"].as_array().unwrap().len(), 0);
    // Cleanup requests are not measured: the ops' counts are the steps' own.
    let codes = report["codes"].to_string();
    assert!(!codes.contains("\"close\""), "{codes}");
}

#[test]
fn cleanup_marks_read_what_a_session_read_and_silences_the_warning() {
    let path = write("stored", "stored.yaml", STORED_EVENTS);
    let path = path.to_str().unwrap();
    let (out, report) = sigbench("stored-shared", &["run", path, "--quiet"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let report = report.expect("a report");
    assert_eq!(
        sessions(&report),
        (1, 3),
        "earlier sessions' events come again"
    );
    assert!(
        warnings(&report)
            .iter()
            .any(|w| w.contains("per-account server state") && w.contains("cleanup: true")),
        "{:?}",
        warnings(&report)
    );

    let (out, report) = sigbench(
        "stored-clean",
        &["run", path, "--quiet", "--set", "cleanup=true"],
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let report = report.expect("a report");
    assert_eq!(sessions(&report), (4, 0));
    assert!(
        !warnings(&report)
            .iter()
            .any(|w| w.contains("per-account server state")),
        "{:?}",
        warnings(&report)
    );
}

/// What the driver cannot undo, `cleanup: true` does not promise: `check` says so,
/// where, and what to do instead.
#[test]
fn cleanup_that_cannot_be_done_is_an_error_at_check_time() {
    let push_token = r#"
name: push
cleanup: true
roles: { caller: {}, callee: { online: false } }
load: { sessions: 4, concurrency: 1 }
steps:
  - { name: login, as: callee, login: { pushToken: "t-${session}" } }
"#;
    let path = write("cleanup-errors", "push.yaml", push_token);
    let (code, all) = check(&[path.to_str().unwrap()]);
    assert_eq!(code, Some(2), "{all}");
    assert!(
        all.contains("push.yaml:3:1: cleanup cannot undo a pushToken set at login: driver 'sigbench' has no op that removes it; give every session new accounts with accounts: fresh"),
        "{all}"
    );
    let (code, all) = check(&["scenarios/sip/call-reject.yaml", "--set", "cleanup=true"]);
    assert_eq!(code, Some(2), "{all}");
    assert!(
        all.contains("--set cleanup=true: cleanup: driver 'sip' cannot clean up after a session"),
        "{all}"
    );
}

/// The cleanup acts only on a connection logged in as the role's account: the session
/// left one open that never logged in (`connect`) after closing the one that created the
/// channel, so the cleanup logs in anew and closes the channel; without the option the
/// name stays taken and the next session fails.
#[test]
fn cleanup_logs_in_anew_when_the_open_connection_never_logged_in() {
    let yaml = r#"
name: cleanup-connect-only
roles: { owner: { devices: 2, online: false } }
load: { sessions: 3, concurrency: 1 }
steps:
  - { name: login, as: "owner#1", login: {} }
  - { name: create, as: "owner#1", create: { type: 1, channelName: "room-${owner}" } }
  - { as: "owner#1", disconnect: ~ }
  - { as: "owner#2", connect: ~ }
thresholds:
  failures: 0
"#;
    let path = write("cleanup-connect-only", "connect.yaml", yaml);
    let path = path.to_str().unwrap();
    let (out, report) = sigbench("cleanup-connect-shared", &["run", path, "--quiet"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert_eq!(
        sessions(&report.expect("a report")),
        (1, 2),
        "the name stays taken"
    );

    let (out, report) = sigbench(
        "cleanup-connect-clean",
        &["run", path, "--quiet", "--set", "cleanup=true"],
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let report = report.expect("a report");
    assert_schema(&report);
    assert_eq!(sessions(&report), (3, 0));
    assert_eq!(report["failures"], serde_json::json!([]), "{report}");
}

/// A cleanup that fails is reported — a failure of step `cleanup` and a warning with
/// the count — and fails the run, though the session itself passed. Here the cleanup
/// cannot log in: the accounts file gives the owner a token the target refuses, and
/// only the session's own login step names the right one.
#[test]
fn a_failed_cleanup_is_reported_and_fails_the_run() {
    let secret = "cleanup-fails";
    let account = "cleanup-owner";
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let server = runtime
        .block_on(spawn(ServerConfig {
            auth: Auth::Secret(secret.into()),
            ..ServerConfig::default()
        }))
        .unwrap();
    let good = sigbench::protocol::token::token_for(secret, account);
    let yaml = format!(
        r#"
name: cleanup-fails
cleanup: true
roles: {{ owner: {{ online: false }} }}
steps:
  - {{ name: login, as: owner, login: {{ token: "{good}" }} }}
  - {{ name: create, as: owner, create: {{ type: 1 }} }}
  - {{ as: owner, disconnect: ~ }}
"#
    );
    let path = write("cleanup-fails", "fails.yaml", &yaml);
    let accounts = write(
        "cleanup-fails",
        "accounts.csv",
        &format!("{account},bogus\n"),
    );
    let (out, report) = sigbench(
        "cleanup-fails",
        &[
            "run",
            path.to_str().unwrap(),
            "--target",
            &server.url(),
            "--accounts",
            accounts.to_str().unwrap(),
        ],
    );
    let all = text(&out);
    assert_eq!(out.status.code(), Some(1), "{all}");
    let report = report.expect("a report");
    assert_schema(&report);
    assert_eq!(sessions(&report), (1, 0), "the session itself passed");
    let failure = &report["failures"][0];
    assert_eq!(failure["step"], "cleanup", "{failure}");
    assert_eq!(failure["role"], "owner", "{failure}");
    assert_eq!(failure["reason"], "cannot log in", "{failure}");
    assert!(
        failure["samples"]
            .to_string()
            .contains("answered 302 AUTH_FAILED"),
        "{failure}"
    );
    assert!(
        warnings(&report)
            .iter()
            .any(|w| w.starts_with("the cleanup after sessions failed 1 time:")),
        "{:?}",
        warnings(&report)
    );
    assert!(
        all.contains("the cleanup after sessions failed 1 time"),
        "{all}"
    );
    drop(runtime);
}
