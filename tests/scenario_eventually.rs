//! The scenario-language forms for servers that are eventually consistent, close
//! properly, or are checked at their default limits: `eventually:` (repeat probes until
//! they hold, within a deadline), `raw: {close: N}` (start the closing handshake),
//! `repeat` with a count over settings and an `index`, and `login` steps naming other
//! accounts — compiled, checked, and run against the reference server.

use std::time::Duration;

use sigbench::runner::accounts::AccountSource;
use sigbench::runner::client::Target;
use sigbench::runner::{Run, RunOptions};
use sigbench::scenario::{
    self, RawExpect, RawFrame, Setting, SettingValues, StepKind, check_str, check_suite_str,
    load_str,
};
use sigbench::server::{Auth, ServerConfig, spawn};
use tokio_util::sync::CancellationToken;

const HEAD: &str = "name: t\nroles:\n  alice: {}\n  bob: {}\nsteps:\n";

fn errors(steps: &str) -> Vec<String> {
    match check_str("t.yaml", &format!("{HEAD}{steps}"), &[]) {
        Ok(_) => Vec::new(),
        Err(e) => e.iter().map(ToString::to_string).collect(),
    }
}

const PROBE: &str = r#"
  - { name: create, as: alice, create: { type: 1 }, save: { cid: data.channel.channelId } }
  - { name: bob leaves, as: bob, disconnect: ~ }
  - name: bob is offline
    eventually:
      - { name: probe, as: alice, invite: { channelId: "${cid}", account: "${bob}", requestId: p }, expect: PEER_NIM_OFFLINE }
    within: 3s
    every: 20ms
  - { name: after, as: alice, query: { channelId: "${cid}" } }
"#;

#[test]
fn eventually_compiles_with_its_deadline_and_period() {
    let plan = load_str("t.yaml", &format!("{HEAD}{PROBE}"), &[]).unwrap();
    let StepKind::Eventually(ev) = &plan.steps[2].kind else {
        panic!("not an eventually step: {:?}", plan.steps[2].kind);
    };
    assert_eq!(ev.within, Duration::from_secs(3));
    assert_eq!(ev.every, Duration::from_millis(20));
    assert_eq!(ev.steps.len(), 1);
    // Defaults: the scenario's timeout and 50 ms.
    let plan = load_str(
        "t.yaml",
        &format!(
            "timeout: 700ms\n{HEAD}  - eventually:\n      - {{ as: alice, query: {{ channelName: x }}, expect: ROOM_NOT_EXISTS }}\n"
        ),
        &[],
    )
    .unwrap();
    let StepKind::Eventually(ev) = &plan.steps[0].kind else {
        panic!("not an eventually step");
    };
    assert_eq!(ev.within, Duration::from_millis(700));
    assert_eq!(ev.every, Duration::from_millis(50));
}

#[test]
fn eventually_takes_requests_only() {
    let e = errors("  - eventually:\n      - { as: bob, await: INVITE }\n");
    assert!(
        e.iter()
            .any(|m| m.contains("t.yaml:7:9") && m.contains("not 'await INVITE' steps")),
        "{e:#?}"
    );
    let e = errors("  - eventually: { as: bob, query: {} }\n");
    assert!(e.iter().any(|m| m.contains("must be a list")), "{e:#?}");
    let e = errors("  - eventually: []\n");
    assert!(e.iter().any(|m| m.contains("must not be empty")), "{e:#?}");
    let e =
        errors("  - eventually:\n      - { as: bob, query: {} }\n    every: 0s\n    match: {}\n");
    assert!(
        e.iter().any(|m| m.contains("every must be longer than 0")),
        "{e:#?}"
    );
    assert!(
        e.iter()
            .any(|m| m.contains("'match' is not allowed on a 'eventually' step")),
        "{e:#?}"
    );
    // Saves inside are visible after the step.
    let ok = errors(
        "  - eventually:\n      - { as: bob, create: { type: 1 }, save: { c: data.channel.channelId } }\n  - { as: bob, query: { channelId: \"${c}\" } }\n",
    );
    assert!(ok.is_empty(), "{ok:#?}");
}

#[test]
fn raw_close_frames_are_checked() {
    let plan = load_str(
        "t.yaml",
        &format!("{HEAD}  - {{ as: bob, raw: {{ close: 4000 }}, expect: {{ close: 4000 }} }}\n"),
        &[],
    )
    .unwrap();
    let StepKind::Raw(raw) = &plan.steps[0].kind else {
        panic!("not raw");
    };
    assert_eq!(raw.frame, RawFrame::Close(4000));
    assert_eq!(raw.expect, RawExpect::Close(4000));
    let e = errors("  - { as: bob, raw: { close: 1005 }, expect: { close: 1005 } }\n");
    assert!(
        e.iter()
            .any(|m| m.contains("1005 is not a close code a client may send")),
        "{e:#?}"
    );
    let e = errors("  - { as: bob, raw: { close: 1000 }, expect: 200 }\n");
    assert!(
        e.iter()
            .any(|m| m.contains("a Close frame gets no response")),
        "{e:#?}"
    );
    let e = errors("  - { as: bob, raw: { close: 1000, text: x }, expect: { close: 1000 } }\n");
    assert!(e.iter().any(|m| m.contains("takes nothing else")), "{e:#?}");
}

/// Runs `yaml` once against a fresh reference server with `config`; returns the failures.
async fn run_against(config: ServerConfig, yaml: &str) -> Vec<String> {
    let plan = scenario::load_str("t.yaml", yaml, &[]).unwrap();
    let secret = match &config.auth {
        Auth::Secret(s) => Some(s.clone()),
        Auth::Open => None,
    };
    let server = spawn(config).await.unwrap();
    let target = Target::resolve(&server.url(), &Default::default())
        .await
        .unwrap();
    let run_id = format!("ev{:06x}", rand::random::<u32>() & 0xffffff);
    let driver = sigbench::drivers::driver_for(plan.vocabulary).expect("the native driver");
    let options = RunOptions {
        target,
        driver,
        accounts: AccountSource::generated(&run_id, None, secret),
        run_id,
        sources: Vec::new(),
        interrupt: CancellationToken::new(),
        grace: Duration::from_secs(2),
        stop_now: CancellationToken::new(),
        start_at: None,
        server_in_process: true,
        tracer: None,
    };
    let outcome = Run::new(plan, options).unwrap().execute().await.unwrap();
    server.shutdown().await;
    outcome
        .results
        .failures
        .sorted()
        .into_iter()
        .map(|(kind, entry)| {
            let detail = entry.samples.first().map_or("", |s| s.detail.as_str());
            format!("{kind} / {detail}")
        })
        .collect()
}

#[tokio::test]
async fn eventually_waits_out_a_presence_lag() {
    let config = ServerConfig {
        presence_lag: Duration::from_millis(300),
        ..ServerConfig::default()
    };
    let failures = run_against(config, &format!("{HEAD}{PROBE}")).await;
    assert!(failures.is_empty(), "{failures:#?}");
}

#[tokio::test]
async fn eventually_fails_with_the_last_difference_after_its_deadline() {
    // The lag outlasts the deadline: the probe keeps answering 200.
    let config = ServerConfig {
        presence_lag: Duration::from_secs(600),
        ..ServerConfig::default()
    };
    let yaml = format!("{HEAD}{}", PROBE.replace("within: 3s", "within: 300ms"));
    let failures = run_against(config, &yaml).await;
    assert_eq!(failures.len(), 1, "{failures:#?}");
    let f = &failures[0];
    assert!(
        f.contains("probe [alice]")
            && f.contains("expected 10201 PEER_NIM_OFFLINE, got 200 OK")
            && f.contains("(eventually: still after 300ms)")
            && f.contains("times over"),
        "{f}"
    );
}

#[tokio::test]
async fn a_close_frame_gets_its_code_back() {
    let yaml = format!(
        "{HEAD}  - {{ name: bye, as: bob, raw: {{ close: 4000 }}, expect: {{ close: 4000 }} }}\n  - {{ name: wrong, as: alice, raw: {{ close: 1000 }}, expect: {{ close: 4000 }} }}\n"
    );
    let failures = run_against(ServerConfig::default(), &yaml).await;
    assert_eq!(failures.len(), 1, "{failures:#?}");
    assert!(
        failures[0].contains("wrong [alice]: expected close code 4000, got close code 1000"),
        "{failures:#?}"
    );
}

const FILL: &str = r#"
cases:
  - name: fill
    spec: P-5.2
    description: x
    requires: [max_members]
    roles: { a: {}, crowd: { online: false } }
    steps:
      - repeat:
          count: max_members - 1
          index: n
          steps:
            - { as: crowd, query: { channelName: "c-${n}" }, expect: ROOM_NOT_EXISTS }
      - { as: a, query: { channelName: "c-${n}" }, expect: ROOM_NOT_EXISTS }
"#;

#[test]
fn repeat_counts_may_use_count_settings_and_an_index() {
    let mut values = SettingValues::default();
    values.set_count(Setting::MaxMembers, 100);
    let suite = check_suite_str("s.yaml", FILL, &values).unwrap();
    let StepKind::Repeat(rep) = &suite.cases[0].plan.steps[0].kind else {
        panic!("not a repeat");
    };
    assert_eq!(rep.count, 99);
    assert!(rep.index.is_some());

    let not_required = FILL.replace("requires: [max_members]", "requires: []");
    let e = check_suite_str("s.yaml", &not_required, &values).unwrap_err();
    assert!(
        e.iter().any(|e| e
            .to_string()
            .contains("'max_members' is used but not required")),
        "{e:?}"
    );
    let negative = FILL.replace("max_members - 1", "max_members - 101");
    let e = check_suite_str("s.yaml", &negative, &values).unwrap_err();
    assert!(
        e.iter()
            .any(|e| e.to_string().contains("comes out negative")),
        "{e:?}"
    );
    // Plain scenarios have no settings.
    let e = errors("  - repeat: { count: max_members, steps: [ { pause: 1ms } ] }\n");
    assert!(
        e.iter()
            .any(|m| m.contains("settings can only be used in the cases of a conformance suite")),
        "{e:#?}"
    );
    let e = errors("  - repeat: { count: 2, index: bob, steps: [ { pause: 1ms } ] }\n");
    assert!(
        e.iter().any(|m| m.contains("it is a role or a builtin")),
        "{e:#?}"
    );
}

#[tokio::test]
async fn a_login_step_naming_another_account_gets_that_accounts_token() {
    // A server with a secret: the account's token must be derived from it.
    let config = ServerConfig {
        auth: Auth::Secret("derive-me".into()),
        ..ServerConfig::default()
    };
    let yaml = r#"
name: crowd
roles: { alice: {}, crowd: { online: false } }
steps:
  - { name: create, as: alice, create: { type: 1 }, save: { cid: data.channel.channelId } }
  - repeat:
      count: 3
      index: n
      steps:
        - { name: member login, as: crowd, login: { account: "${crowd}-${n}" }, expect: { code: OK, data: { account: "${crowd}-${n}" } } }
        - { name: member join, as: crowd, join: { channelId: "${cid}" } }
        - { name: member leaves, as: crowd, disconnect: ~ }
  - { name: count, as: alice, query: { channelId: "${cid}" }, expect: { code: OK, data: { members: { $len: 3 } } } }
  - { name: wrong token still fails, as: crowd, login: { account: "${crowd}-9", token: "nope" }, expect: AUTH_FAILED }
"#;
    let failures = run_against(config, yaml).await;
    assert!(failures.is_empty(), "{failures:#?}");
}

#[tokio::test]
async fn eventually_rounds_are_numbered() {
    let config = ServerConfig {
        presence_lag: Duration::from_millis(200),
        ..ServerConfig::default()
    };
    // A fresh requestId per round: `probe-1`, `probe-2`, … (no re-invite needed).
    let yaml = format!(
        "{HEAD}{}",
        PROBE
            .replace("requestId: p }", "requestId: \"probe-${k}\" }")
            .replace("    within: 3s\n", "    within: 3s\n    index: k\n")
    );
    let plan = load_str("t.yaml", &yaml, &[]).unwrap();
    let StepKind::Eventually(ev) = &plan.steps[2].kind else {
        panic!("not eventually");
    };
    assert!(ev.index.is_some());
    let failures = run_against(config, &yaml).await;
    assert!(failures.is_empty(), "{failures:#?}");
}
