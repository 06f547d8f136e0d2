//! The scenario-language forms for servers that are eventually consistent or that close
//! properly: `eventually:` (repeat probes until they hold, within a deadline) and
//! `raw: {close: N}` (start the closing handshake) — compiled, checked, and run against
//! the reference server with a presence lag.

use std::time::Duration;

use sigbench::runner::accounts::AccountSource;
use sigbench::runner::client::Target;
use sigbench::runner::{Run, RunOptions};
use sigbench::scenario::{self, RawExpect, RawFrame, StepKind, check_str, load_str};
use sigbench::server::{ServerConfig, spawn};
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
    let server = spawn(config).await.unwrap();
    let target = Target::resolve(&server.url(), None).await.unwrap();
    let run_id = format!("ev{:06x}", rand::random::<u32>() & 0xffffff);
    let driver = sigbench::drivers::driver_for(plan.vocabulary).expect("the native driver");
    let options = RunOptions {
        target,
        driver,
        accounts: AccountSource::generated(&run_id, None, None),
        run_id,
        sources: Vec::new(),
        interrupt: CancellationToken::new(),
        grace: Duration::from_secs(2),
        server_in_process: true,
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
