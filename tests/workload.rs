//! Workload modelling as a load tester uses it from the command line: the load
//! shorthands (`--sessions`, `--concurrency`, `--rate`, `--duration`), feeders and
//! generators, and early stop. The real binary against the embedded server, judged by
//! exit code, output and JSON report.

mod workload_support;

use std::process::Command;

use workload_support::{
    assert_schema, flows, merge, report_file, sigbench, targets_in_flight, text, threshold, write,
};

#[test]
fn help_lists_the_load_shorthands() {
    let out = Command::new(env!("CARGO_BIN_EXE_sigbench"))
        .args(["run", "--help"])
        .output()
        .unwrap();
    let help = text(&out);
    for flag in [
        "--sessions <N>",
        "--concurrency <N>",
        "--rate <RATE>",
        "--duration <DURATION>",
    ] {
        assert!(help.contains(flag), "{flag} missing from:\n{help}");
    }
}

/// A short call without latency thresholds (a debug build on a busy machine may miss
/// any latency limit without anything being wrong).
const SIMPLE: &str = r#"
name: simple
roles:
  caller: {}
  callee: {}
load: { sessions: 100, concurrency: 10 }
steps:
  - name: call
    as: caller
    call: { type: 1, account: "${callee}", requestId: "${session}" }
    save: { cid: data.channel.channelId }
  - name: invite delivered
    as: callee
    await: INVITE
    match: { requestId: "${session}" }
  - name: hang up
    as: caller
    close: { channelId: "${cid}" }
"#;

#[test]
fn sessions_and_concurrency_flags_replace_the_scenario_load() {
    let path = write("sessions-flag", "simple.yaml", SIMPLE);
    let (out, report) = sigbench(
        "sessions-flag",
        &[
            "run",
            path.to_str().unwrap(),
            "--sessions",
            "7",
            "--concurrency",
            "3",
            "--quiet",
        ],
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let report = report.expect("a report");
    assert_eq!(report["sessions"]["ok"], 7, "{report:#}");
    assert!(
        report["meta"]["load"]
            .as_str()
            .unwrap()
            .contains("concurrency 3"),
        "{}",
        report["meta"]["load"]
    );
}

#[test]
fn rate_and_duration_flags_make_a_constant_arrival_rate() {
    let path = write("rate-flag", "simple.yaml", SIMPLE);
    let (out, report) = sigbench(
        "rate-flag",
        &[
            "run",
            path.to_str().unwrap(),
            "--rate",
            "20/s",
            "--duration",
            "500ms",
            "--quiet",
        ],
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let report = report.expect("a report");
    assert_eq!(report["sessions"]["ok"], 10, "{report:#}");
    assert!(
        report["meta"]["load"].as_str().unwrap().starts_with("open"),
        "{}",
        report["meta"]["load"]
    );
}

#[test]
fn a_shorthand_that_does_not_fit_the_model_is_a_usage_error() {
    let (out, report) = sigbench(
        "bad-shorthand",
        &["run", "scenarios/load/open-rate.yaml", "--sessions", "5"],
    );
    let all = text(&out);
    assert_eq!(out.status.code(), Some(2), "{all}");
    assert!(
        all.contains("open-rate.yaml") && all.contains("--sessions sets the closed model"),
        "{all}"
    );
    assert!(report.is_none());
    let (out, _) = sigbench(
        "bad-rate",
        &["run", "scenarios/call-reject.yaml", "--rate", "fast"],
    );
    let all = text(&out);
    assert_eq!(out.status.code(), Some(2), "{all}");
    assert!(all.contains("expected a rate like 100/s"), "{all}");
}

/// A call whose type and channel name come from a feeder; `DATA` is replaced by the
/// scenario's `feeders`/`generate` section and `LOAD` by its load.
const FED_CALL: &str = r#"
name: fed-call
roles:
  caller: {}
  callee: {}
DATA
load: LOAD
steps:
  - name: call
    as: caller
    call: { type: "${kind}", account: "${callee}", requestId: "${session}", channelName: "${room}-${session}" }
    expect: 200
    save: { cid: data.channel.channelId }
  - name: invite delivered
    as: callee
    await: INVITE
    match: { from: "${caller}", requestId: "${session}", channel.channelName: "${room}-${session}" }
    within: 2s
  - name: hang up
    as: caller
    close: { channelId: "${cid}" }
"#;

#[test]
fn json_lines_rows_feed_typed_values_in_order() {
    write(
        "jsonl",
        "calls.jsonl",
        "{\"kind\": 1, \"room\": \"audio\"}\n{\"kind\": 2, \"room\": \"video\"}\n\n{\"kind\": 7, \"room\": \"bad\"}\n",
    );
    let yaml = FED_CALL
        .replace(
            "DATA",
            "feeders:\n  - { file: calls.jsonl, order: sequential }",
        )
        .replace("LOAD", "{ sessions: 6, concurrency: 1 }");
    let path = write("jsonl", "fed.yaml", &yaml);
    let (out, report) = sigbench("jsonl", &["run", path.to_str().unwrap(), "--quiet"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let report = report.expect("a report");
    // Rows 1, 2, 3, 1, 2, 3: the two sessions that got `kind: 7` are the failures, and
    // the others prove that a JSON number stays a number (a string type is a 414).
    assert_eq!(report["sessions"]["ok"], 4, "{report:#}");
    assert_eq!(report["sessions"]["failed"], 2, "{report:#}");
    let codes = report["codes"].as_array().unwrap();
    assert!(
        codes
            .iter()
            .any(|c| c["op"] == "call" && c["code"] == 414 && c["count"] == 2),
        "{codes:?}"
    );
}

#[test]
fn a_unique_feeder_that_runs_dry_stops_the_run_and_says_why() {
    write("dry", "rooms.csv", "room\nr1\nr2\nr3\n");
    let yaml = FED_CALL
        .replace(
            "DATA",
            "feeders:\n  - { file: rooms.csv, order: unique }\ngenerate:\n  kind: { int: 1..3 }",
        )
        .replace("LOAD", "{ duration: 60s, concurrency: 1 }");
    let path = write("dry", "fed.yaml", &yaml);
    let (out, report) = sigbench("dry", &["run", path.to_str().unwrap()]);
    let all = text(&out);
    assert_eq!(out.status.code(), Some(1), "{all}");
    assert!(all.contains("stopped early at"), "{all}");
    assert!(
        all.contains("the unique feeder rooms.csv ran dry: all 3 rows were used"),
        "{all}"
    );
    let report = report.expect("a report");
    assert_schema(&report);
    assert_eq!(report["sessions"]["ok"], 3, "{report:#}");
    assert_eq!(report["sessions"]["failed"], 0, "{report:#}");
    assert_eq!(report["meta"]["status"], "failed");
    let stop = &report["meta"]["stopped_early"];
    assert!(
        stop["reason"].as_str().unwrap().contains("ran dry"),
        "{stop}"
    );
    assert!(stop["at_ms"].as_u64().unwrap() < 60_000, "{stop}");
}

#[test]
fn generated_values_fill_templates() {
    let yaml = FED_CALL
        .replace(
            "DATA",
            "generate:\n  kind: { int: 1..3 }\n  room: { string: 10 }\n  trace: uuid",
        )
        .replace("LOAD", "{ sessions: 5, concurrency: 2 }")
        .replace("requestId: \"${session}\"", "requestId: \"${trace}\"");
    let path = write("generated", "gen.yaml", &yaml);
    let (out, report) = sigbench("generated", &["run", path.to_str().unwrap(), "--quiet"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert_eq!(report.unwrap()["sessions"]["ok"], 5);
}

#[test]
fn feeder_mistakes_are_located_errors_before_anything_runs() {
    write("feeder-errors", "two.csv", "room,kind\nr1,1\nr2,2\n");
    write("feeder-errors", "badhead.csv", "room,the kind\nr1,1\n");
    let cases = [
        (
            "feeders:\n  - { file: two.csv, order: unique }",
            "{ sessions: 3 }",
            "fed.yaml:7:3: the unique feeder two.csv has 2 rows but the load plans 3 sessions",
        ),
        (
            "feeders:\n  - { file: missing.csv }",
            "{ sessions: 1 }",
            "fed.yaml:7:13: feeder 'missing.csv': cannot read",
        ),
        (
            "feeders:\n  - { file: two.csv, order: uniq }",
            "{ sessions: 1 }",
            "unknown feeder order 'uniq' — did you mean 'unique'?",
        ),
        (
            "feeders:\n  - { file: badhead.csv }",
            "{ sessions: 1 }",
            "feeder 'badhead.csv': 'the kind' cannot be a variable name",
        ),
        (
            "generate:\n  kind: { int: 5..1 }\n  room: dice",
            "{ sessions: 1 }",
            "int: expected MIN..MAX with MIN <= MAX",
        ),
        (
            "generate:\n  kind: uuid\n  room: dice",
            "{ sessions: 1 }",
            "unknown generator 'dice'",
        ),
        (
            "generate:\n  kind: uuid\n  caller: uuid\n  room: uuid",
            "{ sessions: 1 }",
            "variable 'caller' is already a role",
        ),
    ];
    for (data, load, expected) in cases {
        let yaml = FED_CALL.replace("DATA", data).replace("LOAD", load);
        let path = write("feeder-errors", "fed.yaml", &yaml);
        let out = Command::new(env!("CARGO_BIN_EXE_sigbench"))
            .args(["check", path.to_str().unwrap()])
            .output()
            .unwrap();
        let all = text(&out);
        assert_eq!(out.status.code(), Some(2), "{data}: {all}");
        assert!(
            all.contains(expected),
            "{data}: expected '{expected}' in:\n{all}"
        );
    }
    // A shorthand that plans more sessions than a unique feeder has rows is caught too.
    let yaml = FED_CALL
        .replace("DATA", "feeders:\n  - { file: two.csv, order: unique }")
        .replace("LOAD", "{ sessions: 2 }");
    let path = write("feeder-errors", "fed.yaml", &yaml);
    let (out, _) = sigbench(
        "feeder-sessions-flag",
        &["run", path.to_str().unwrap(), "--sessions", "5"],
    );
    let all = text(&out);
    assert_eq!(out.status.code(), Some(2), "{all}");
    assert!(
        all.contains("has 2 rows but the load plans 5 sessions"),
        "{all}"
    );
}

/// [`SIMPLE`] with a wrong expectation on the call (every session fails), a long
/// closed-model load, and `EXTRA` appended (thresholds).
fn failing(load_extra: &str, extra: &str) -> String {
    SIMPLE
        .replace(
            "load: { sessions: 100, concurrency: 10 }",
            &format!("load: {{ duration: 60s, concurrency: 2{load_extra} }}"),
        )
        .replace(
            "    save: { cid: data.channel.channelId }\n",
            "    expect: PEER_NIM_OFFLINE\n    save: { cid: data.channel.channelId }\n",
        )
        + extra
}

/// The run stopped itself: exit 1, a report that says why and when, in the schema.
fn assert_stopped(test: &str, yaml: &str, reason: &str) -> serde_json::Value {
    let path = write(test, "stop.yaml", yaml);
    let (out, report) = sigbench(test, &["run", path.to_str().unwrap()]);
    let all = text(&out);
    assert_eq!(out.status.code(), Some(1), "{all}");
    assert!(
        all.contains("stopped early at") && all.contains(reason),
        "{all}"
    );
    let report = report.expect("a report");
    assert_schema(&report);
    let stop = &report["meta"]["stopped_early"];
    assert!(stop["reason"].as_str().unwrap().contains(reason), "{stop}");
    // Far less than the 60 s the load asked for: the run did stop.
    assert!(
        report["meta"]["duration_ms"].as_u64().unwrap() < 30_000,
        "{report:#}"
    );
    report
}

#[test]
fn max_failures_stops_the_run() {
    let report = assert_stopped(
        "max-failures",
        &failing(", max_failures: 5", ""),
        "max_failures: 5 sessions failed",
    );
    let failed = report["sessions"]["failed"].as_u64().unwrap();
    // The fifth failure stops new sessions; at most the other worker's session was in
    // flight.
    assert!((5..=6).contains(&failed), "{failed}");
}

#[test]
fn an_abort_threshold_stops_the_run_when_it_breaks() {
    assert_stopped(
        "abort",
        &failing("", "thresholds:\n  failures: { max: 0, abort: true }\n"),
        "threshold 'failures <= 0' broke (abort: true): observed",
    );
}

#[test]
fn abort_after_holds_the_judgement_back() {
    let report = assert_stopped(
        "abort-after",
        &failing(
            "",
            "thresholds:\n  call: { p99: 1h }\n  failure_rate: { max: 1%, abort: true, abort_after: 2s }\n",
        ),
        "threshold 'failure_rate <= 1.00%' broke (abort: true)",
    );
    let at = report["meta"]["stopped_early"]["at_ms"].as_u64().unwrap();
    assert!(at >= 2000, "stopped at {at} ms, before abort_after");
}

#[test]
fn early_stop_mistakes_are_located_errors() {
    let cases = [
        (
            "",
            "thresholds:\n  failures: { max: 0, abort_after: 2s }\n",
            "'abort_after' needs 'abort: true'",
        ),
        (
            "",
            "thresholds:\n  failures: { abort: true }\n",
            "'failures' as a mapping needs 'max'",
        ),
        (
            "",
            "thresholds:\n  call: { abort: true }\n",
            "a metric threshold needs a limit",
        ),
        (
            "",
            "thresholds:\n  call: { p99: 1s, abort: yes }\n",
            "abort must be true or false",
        ),
        (", max_failures: 0", "", "max_failures must be at least 1"),
        (
            "",
            "thresholds:\n  call: { p99: 1s, abrot: true }\n",
            "unknown key 'abrot' in thresholds of 'call' — did you mean 'abort'?",
        ),
    ];
    for (load, thresholds, expected) in cases {
        let path = write("early-stop-errors", "stop.yaml", &failing(load, thresholds));
        let out = Command::new(env!("CARGO_BIN_EXE_sigbench"))
            .args(["check", path.to_str().unwrap()])
            .output()
            .unwrap();
        let all = text(&out);
        assert_eq!(out.status.code(), Some(2), "{thresholds}: {all}");
        assert!(
            all.contains("stop.yaml:") && all.contains(expected),
            "expected '{expected}' in:\n{all}"
        );
    }
}

/// The flows of a report: name → (done, ok, failed).
/// The shipped mix: 70 % accepted, 20 % rejected, 10 % cancelled calls at once, with
/// each flow's metrics and thresholds. Latency limits are not judged (a debug build on
/// a busy machine may miss them); everything else must hold.
#[test]
fn the_shipped_mix_runs_its_flows_by_weight_with_per_flow_thresholds() {
    let (out, report) = sigbench(
        "mix",
        &[
            "run",
            "scenarios/load/mix.yaml",
            "--sessions",
            "100",
            "--concurrency",
            "10",
        ],
    );
    let all = text(&out);
    assert!(matches!(out.status.code(), Some(0 | 1)), "{all}");
    let report = report.expect("a report");
    assert_schema(&report);
    assert_eq!(
        flows(&report),
        [
            ("accept".to_string(), 70, 70, 0),
            ("reject".to_string(), 20, 20, 0),
            ("cancel".to_string(), 10, 10, 0)
        ],
        "{all}"
    );
    assert_eq!(report["sessions"]["ok"], 100);
    let share: Vec<f64> = report["flows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["share_percent"].as_f64().unwrap())
        .collect();
    assert_eq!(share, [70.0, 20.0, 10.0]);
    let metrics: Vec<&str> = report["metrics"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["name"].as_str().unwrap())
        .collect();
    for name in [
        "session",
        "accept/call",
        "accept/accept delivered",
        "reject/reject delivered",
        "cancel/cancel delivered",
        "cancel/session",
    ] {
        assert!(metrics.contains(&name), "{name} missing from {metrics:?}");
    }
    // Per-flow failure limits are thresholds of their own, and hold.
    for name in [
        "accept/failed sessions count <= 0",
        "reject/failed sessions count <= 0",
        "cancel/session failure_rate <= 0.00%",
    ] {
        assert_eq!(threshold(&report, name)["pass"], true, "{name}");
    }
    // The summary shows the mix.
    assert!(
        all.contains("flow ") && all.contains("accept") && all.contains("70.0%"),
        "{all}"
    );
}

/// A mix with one broken flow: its failures and thresholds are its own.
#[test]
fn a_broken_flow_fails_its_own_thresholds_and_counts() {
    let yaml = r#"
name: two-flows
roles: { caller: {}, callee: {} }
load: { sessions: 12, concurrency: 3 }
flows:
  good:
    weight: 2
    steps:
      - { name: call, as: caller, call: { type: 1, account: "${callee}", requestId: "${session}" }, save: { cid: data.channel.channelId } }
      - { name: hang up, as: caller, close: { channelId: "${cid}" } }
    thresholds:
      failures: 0
  bad:
    weight: 1
    steps:
      - { name: call, as: caller, call: { type: 1, account: "${callee}", requestId: "${session}" }, expect: ROOM_NOT_EXISTS }
    thresholds:
      failures: { max: 0 }
      call: { max: 1h }
thresholds:
  good/call: { max: 1h }
"#;
    let path = write("broken-flow", "mix.yaml", yaml);
    let (out, report) = sigbench("broken-flow", &["run", path.to_str().unwrap(), "--quiet"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let report = report.expect("a report");
    assert_schema(&report);
    assert_eq!(
        flows(&report),
        [("good".to_string(), 8, 8, 0), ("bad".to_string(), 4, 0, 4)]
    );
    assert_eq!(
        threshold(&report, "good/failed sessions count <= 0")["pass"],
        true
    );
    assert_eq!(
        threshold(&report, "bad/failed sessions count <= 0")["pass"],
        false
    );
    assert_eq!(threshold(&report, "bad/call max <= 3600.00s")["pass"], true);
    assert_eq!(
        threshold(&report, "good/call max <= 3600.00s")["pass"],
        true
    );
    let failure = &report["failures"][0];
    assert_eq!(failure["step"], "bad/call", "{failure}");
}

/// `--shard`: each shard runs its share of the mix; `merge` adds the flows up.
#[test]
fn shards_of_a_mix_merge_into_the_whole_mix() {
    let mut reports = Vec::new();
    for shard in ["1/2", "2/2"] {
        let test = format!("mix-shard-{}", &shard[..1]);
        let (out, report) = sigbench(
            &test,
            &[
                "run",
                "scenarios/load/mix.yaml",
                "--sessions",
                "40",
                "--concurrency",
                "4",
                "--shard",
                shard,
                "--quiet",
            ],
        );
        assert!(matches!(out.status.code(), Some(0 | 1)), "{}", text(&out));
        let report = report.expect("a shard report");
        assert_eq!(report["sessions"]["ok"], 20);
        reports.push(report_file(&test));
    }
    let (out, report) = merge("mix", &reports);
    assert!(matches!(out.status.code(), Some(0 | 1)), "{}", text(&out));
    assert_schema(&report);
    let total: u64 = flows(&report).iter().map(|f| f.1).sum();
    assert_eq!(total, 40);
    // Each shard interleaves the mix from its first session: 14 + 14 accepted, 4 + 4
    // rejected, 2 + 2 cancelled.
    assert_eq!(
        flows(&report),
        [
            ("accept".to_string(), 28, 28, 0),
            ("reject".to_string(), 8, 8, 0),
            ("cancel".to_string(), 4, 4, 0)
        ]
    );
    assert_eq!(
        threshold(&report, "accept/failed sessions count <= 0")["pass"],
        true
    );
}

#[test]
fn mix_mistakes_are_located_errors() {
    let base = r#"
name: m
roles: { caller: {}, callee: {} }
FLOWS
"#;
    let flow = r#"
    steps:
      - { name: call, as: caller, call: { type: 1, account: "${callee}", requestId: "${session}" } }
      - { name: seen, as: callee, await: INVITE, since: call }"#;
    let cases = [
        (
            format!("steps: []\nflows:\n  a:{flow}"),
            "m.yaml:5:1: a scenario has either 'steps' (one flow) or 'flows' (a mix of flows), not both",
        ),
        (
            format!("flows:\n  a:\n    weight: 0{flow}"),
            "weight must be at least 1",
        ),
        (
            format!("flows:\n  a:\n    wieght: 2{flow}"),
            "unknown key 'wieght' in a flow — did you mean 'weight'?",
        ),
        (
            format!("flows:\n  a:{flow}\n    thresholds:\n      cal: {{ p99: 1s }}"),
            "unknown metric 'a/cal' in thresholds — did you mean 'a/call'?",
        ),
        (
            format!(
                "flows:\n  a:{flow}\n  b:\n    steps:\n      - {{ name: seen, as: callee, await: INVITE, since: call }}"
            ),
            "since: no step named 'b/call' runs before this await",
        ),
        (format!("flows:\n  a/b:{flow}"), "bad flow name 'a/b'"),
        (
            format!("flows:\n  a:\n    weight: 9000{flow}\n  b:\n    weight: 2000{flow}"),
            "the flows' weights add up to 11000",
        ),
    ];
    for (flows, expected) in cases {
        let path = write("mix-errors", "m.yaml", &base.replace("FLOWS", &flows));
        let out = Command::new(env!("CARGO_BIN_EXE_sigbench"))
            .args(["check", path.to_str().unwrap()])
            .output()
            .unwrap();
        let all = text(&out);
        assert_eq!(out.status.code(), Some(2), "{flows}: {all}");
        assert!(all.contains(expected), "expected '{expected}' in:\n{all}");
    }
}

/// `check` knows what the protocol fixes: a literal param the server must refuse, on a
/// step that expects success, and a `match` on a field the event never has.
#[test]
fn check_knows_the_protocol() {
    let base = r#"
name: p
roles: { caller: {}, callee: {} }
steps:
  - name: call
    as: caller
    call: { type: TYPE, account: "${callee}", requestId: "${session}" }
    EXPECT
    save: { cid: data.channel.channelId }
  - name: seen
    as: callee
    await: INVITE
    match: MATCH
  - name: accept
    as: callee
    accept: { channelId: "${cid}", account: "${caller}", requestId: "${session}", autoJoin: AUTOJOIN }
"#;
    let scenario = |ty: &str, expect: &str, matched: &str, auto: &str| {
        base.replace("TYPE", ty)
            .replace("EXPECT", expect)
            .replace("MATCH", matched)
            .replace("AUTOJOIN", auto)
    };
    let check = |yaml: &str| {
        let path = write("check-protocol", "p.yaml", yaml);
        let out = Command::new(env!("CARGO_BIN_EXE_sigbench"))
            .args(["check", path.to_str().unwrap()])
            .output()
            .unwrap();
        (out.status.code(), text(&out))
    };
    let good = scenario(
        "2",
        "",
        "{ from: \"${caller}\", member: { $exists: false }, to: null }",
        "true",
    );
    let (code, all) = check(&good);
    assert_eq!(code, Some(0), "{all}");

    let cases = [
        (
            scenario("2", "", "{ from: \"${caller}\" }", "yes"),
            "p.yaml:16:93: param 'autoJoin': must be a boolean: 'accept' answers 414 PARAM_ERROR to a string ('yes'), but this step expects 200; fix the value or expect 414",
        ),
        (
            scenario("\"2\"", "", "{ from: \"${caller}\" }", "true"),
            "p.yaml:7:19: param 'type': must be 1 (audio), 2 (video) or 3 (custom)",
        ),
        (
            scenario("2", "", "{ form: \"${caller}\" }", "true"),
            "p.yaml:13:14: INVITE events have no field 'form' — did you mean 'from'?",
        ),
        (
            scenario("2", "", "{ requestID: \"${session}\" }", "true"),
            "INVITE events have no field 'requestID' — did you mean 'requestId'?",
        ),
    ];
    for (yaml, expected) in cases {
        let (code, all) = check(&yaml);
        assert_eq!(code, Some(2), "{all}");
        assert!(all.contains(expected), "expected '{expected}' in:\n{all}");
    }
    // A step that asks for the refusal is a bad-input test, not a mistake.
    let (code, all) = check(&scenario(
        "7",
        "expect: PARAM_ERROR",
        "{ from: \"${caller}\" }",
        "true",
    ));
    assert_eq!(code, Some(0), "{all}");
}

/// Sessions that reuse accounts while the scenario depends on per-account server state
/// get a warning; one session per account does not.
#[test]
fn shared_accounts_with_per_account_state_are_called_out() {
    let yaml = r#"
name: offline
roles: { caller: {}, callee: { online: false } }
load: { sessions: 4, concurrency: 2 }
steps:
  - name: call
    as: caller
    call: { type: 1, account: "${callee}", requestId: "${session}", offlineEnabled: true }
    expect: [OK, PEER_NIM_OFFLINE, PEER_PUSH_OFFLINE]
    save: { cid: data.channel.channelId }
  - name: hang up
    as: caller
    close: { channelId: "${cid}" }
"#;
    let path = write("shared-state", "offline.yaml", yaml);
    let (out, report) = sigbench("shared-state", &["run", path.to_str().unwrap()]);
    let all = text(&out);
    assert!(
        all.contains("warning: sessions share accounts (2 accounts per role"),
        "{all}"
    );
    assert!(all.contains("events stored offline"), "{all}");
    let warnings = report.expect("a report")["warnings"].to_string();
    assert!(warnings.contains("sessions share accounts"), "{warnings}");
    let (out, report) = sigbench(
        "shared-state-fresh",
        &[
            "run",
            path.to_str().unwrap(),
            "--sessions",
            "2",
            "--concurrency",
            "2",
        ],
    );
    let all = text(&out);
    assert!(!all.contains("sessions share accounts"), "{all}");
    assert!(
        !report.expect("a report")["warnings"]
            .to_string()
            .contains("share accounts")
    );
}

/// `SIMPLE` with a ramping closed model: up to 4 slots, held, and down again.
fn ramping(stages: &str) -> String {
    SIMPLE.replace(
        "load: { sessions: 100, concurrency: 10 }",
        &format!("load:\n  stages: {stages}"),
    )
}

/// The most sessions in flight at the end of any second of the report's timeline.
fn peak_in_flight(report: &serde_json::Value) -> u64 {
    report["timeline"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["in_flight"].as_u64().unwrap())
        .max()
        .unwrap_or(0)
}

#[test]
fn a_ramping_closed_model_runs_its_stages_and_reports_sessions_in_flight() {
    let yaml = ramping("[{ramp: 1..4, over: 1s}, {hold: 4, for: 1s}, {ramp: 4..0, over: 500ms}]");
    let path = write("ramp", "ramp.yaml", &yaml);
    let (out, report) = sigbench("ramp", &["run", path.to_str().unwrap(), "--quiet"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let report = report.expect("a report");
    assert_schema(&report);
    assert_eq!(
        report["meta"]["load"], "closed, concurrency 1..4 → 4 → 4..0 over 2500ms",
        "{report:#}"
    );
    // Slot 0 runs from the first instant; no more than the peak ever runs at once.
    let ok = report["sessions"]["ok"].as_u64().unwrap();
    assert!(ok >= 1, "{report:#}");
    assert_eq!(report["sessions"]["failed"], 0);
    assert!(peak_in_flight(&report) <= 4, "{report:#}");
    // The stages' target is in the timeline, second by second, from when the load
    // began; the HTML in-flight chart draws it.
    let targets = targets_in_flight(&report);
    assert!(!targets.is_empty(), "{report:#}");
    assert!(targets.iter().all(|&t| t <= 4), "{targets:?}");
    assert!(targets.iter().any(|&t| t >= 2), "{targets:?}");
    let html = report_file("ramp").with_extension("html");
    let out = Command::new(env!("CARGO_BIN_EXE_sigbench"))
        .arg("report")
        .arg(report_file("ramp"))
        .arg("--html")
        .arg(&html)
        .arg("--quiet")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let page = std::fs::read_to_string(&html).unwrap();
    assert!(
        page.contains("class=\"series in-flight-target\"")
            && page.contains("target (the stages' concurrency)"),
        "no target line in the in-flight chart"
    );
    // --sessions caps a ramp; the stages still run.
    let (out, report) = sigbench(
        "ramp-capped",
        &["run", path.to_str().unwrap(), "--sessions", "3", "--quiet"],
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert_eq!(report.expect("a report")["sessions"]["ok"], 3);
}

#[test]
fn shards_of_a_ramp_split_its_concurrency_and_merge() {
    let yaml = ramping("[{ramp: 2..6, over: 1s}, {hold: 6, for: 500ms}]");
    let path = write("ramp-shards", "ramp.yaml", &yaml);
    let mut files = Vec::new();
    let mut total = 0;
    for shard in ["1/2", "2/2"] {
        let test = format!("ramp-shard-{}", &shard[..1]);
        let (out, report) = sigbench(
            &test,
            &["run", path.to_str().unwrap(), "--shard", shard, "--quiet"],
        );
        assert_eq!(out.status.code(), Some(0), "{}", text(&out));
        let report = report.expect("a shard report");
        // Each shard runs half of the level at every instant: at most 3 of the 6.
        assert!(peak_in_flight(&report) <= 3, "{report:#}");
        total += report["sessions"]["ok"].as_u64().unwrap();
        let dir =
            std::env::temp_dir().join(format!("sigbench-workload-{}-{test}", std::process::id()));
        files.push(
            std::fs::read_dir(&dir)
                .unwrap()
                .map(|e| e.unwrap().path())
                .find(|p| p.extension().is_some_and(|e| e == "json"))
                .unwrap(),
        );
    }
    let merged = std::env::temp_dir().join(format!(
        "sigbench-workload-{}-ramp-merged.json",
        std::process::id()
    ));
    let out = Command::new(env!("CARGO_BIN_EXE_sigbench"))
        .args([
            "merge",
            files[0].to_str().unwrap(),
            files[1].to_str().unwrap(),
        ])
        .args(["--no-html", "--quiet", "--out"])
        .arg(&merged)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&merged).unwrap()).unwrap();
    assert_schema(&report);
    assert_eq!(report["sessions"]["ok"].as_u64().unwrap(), total);
    assert!(peak_in_flight(&report) <= 6, "{report:#}");
    // The shards' targets add up (each shard ran its share of the level).
    let targets = targets_in_flight(&report);
    assert!(
        targets.iter().any(|&t| t >= 3) && targets.iter().all(|&t| t <= 6),
        "{targets:?}"
    );
}

#[test]
fn ramp_mistakes_are_located_errors() {
    let cases = [
        (
            "[{ramp: 10/s..50/s, over: 10s}]",
            "ramp.yaml:7:19: ramp: '10/s..50/s' is a rate; 'stages' ramp the concurrency (e.g. 10..500), arrival rates go in 'arrival' (open model)",
        ),
        (
            "[{ramp: 1..2000000, over: 10s}]",
            "ramp.yaml:7:19: concurrency 2000000 is more than one generator can run (at most 1000000; split the load with --shard)",
        ),
        (
            "[{ramp: 1..many, over: 10s}]",
            "'many' is not a concurrency: expected a non-negative integer",
        ),
        ("[{hold: 5, for: 0s}]", "for must be longer than 0"),
        ("[{hold: 5/s, for: 1s}]", "hold: '5/s' is a rate"),
        ("[{ramp: 1..5}]", "a ramp stage needs 'over'"),
        (
            "[{hold: 0, for: 1s}, {ramp: 0..0, over: 1s}]",
            "these stages never run a session: every concurrency is 0",
        ),
        ("[]", "stages must list at least one stage"),
        (
            "[{hold: 5, for: 1s}]\n  concurrency: 5",
            "ramp.yaml:8:3: 'concurrency' does not go with 'stages'",
        ),
    ];
    for (stages, expected) in cases {
        let path = write("ramp-errors", "ramp.yaml", &ramping(stages));
        let out = Command::new(env!("CARGO_BIN_EXE_sigbench"))
            .args(["check", path.to_str().unwrap()])
            .output()
            .unwrap();
        let all = text(&out);
        assert_eq!(out.status.code(), Some(2), "{stages}: {all}");
        assert!(all.contains(expected), "expected '{expected}' in:\n{all}");
    }
    // A load flag that the stages set is a usage error.
    let path = write("ramp-flags", "ramp.yaml", &ramping("[{hold: 2, for: 1s}]"));
    let (out, report) = sigbench(
        "ramp-flags",
        &["run", path.to_str().unwrap(), "--concurrency", "5"],
    );
    let all = text(&out);
    assert_eq!(out.status.code(), Some(2), "{all}");
    assert!(
        all.contains("--concurrency: this scenario ramps its concurrency"),
        "{all}"
    );
    assert!(report.is_none());
}

/// A session that reads the callee's stored offline events expects exactly its own.
/// With accounts shared between sessions, the events earlier sessions left are still
/// stored and the later sessions fail; `accounts: fresh` gives every session new ones.
const STORED_OFFLINE: &str = r#"
name: stored
ACCOUNTS
roles: { caller: {}, callee: { online: false } }
load: { sessions: 3, concurrency: 1 }
steps:
  - name: call
    as: caller
    call: { type: 1, account: "${callee}", requestId: "${session}", offlineEnabled: true }
    expect: PEER_NIM_OFFLINE
    save: { cid: data.channel.channelId }
  - { name: callee logs in, as: callee, login: {} }
  - name: only this session's invitation is stored
    as: callee
    await: unreadSync
    match: { events: { $len: 1 }, "events[0].requestId": "${session}" }
    within: 2s
  - { name: hang up, as: caller, close: { channelId: "${cid}" } }
"#;

#[test]
fn fresh_accounts_keep_per_account_state_from_carrying_over() {
    let shared = write(
        "stored-shared",
        "stored.yaml",
        &STORED_OFFLINE.replace("ACCOUNTS\n", ""),
    );
    let (out, report) = sigbench("stored-shared", &["run", shared.to_str().unwrap()]);
    let all = text(&out);
    assert_eq!(out.status.code(), Some(1), "{all}");
    // The summary line comes from the plan: the stored events and their reading.
    assert!(
        all.contains("warning: sessions share accounts (1 accounts per role")
            && all.contains(
                "events stored offline, events stored offline, read at login (unreadSync)"
            ),
        "{all}"
    );
    let report = report.expect("a report");
    assert_eq!(
        report["sessions"]["ok"], 1,
        "only the first session finds a clean account"
    );
    assert_eq!(report["sessions"]["failed"], 2);

    let fresh = write(
        "stored-fresh",
        "stored.yaml",
        &STORED_OFFLINE.replace("ACCOUNTS", "accounts: fresh"),
    );
    let (out, report) = sigbench("stored-fresh", &["run", fresh.to_str().unwrap()]);
    let all = text(&out);
    assert_eq!(out.status.code(), Some(0), "{all}");
    assert!(!all.contains("share accounts"), "{all}");
    let report = report.expect("a report");
    assert_eq!(report["sessions"]["ok"], 3, "{report:#}");
    // Each session's accounts logged in: the first slot's before the load, then one
    // new caller after each session (the offline callee logs in in its session).
    let logins = report["metrics"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["name"] == "login")
        .unwrap()["count"]
        .as_u64()
        .unwrap();
    assert!(logins >= 4, "{logins} logins");

    let bad = write(
        "stored-bad",
        "stored.yaml",
        &STORED_OFFLINE.replace("ACCOUNTS", "accounts: frsh"),
    );
    let out = Command::new(env!("CARGO_BIN_EXE_sigbench"))
        .args(["check", bad.to_str().unwrap()])
        .output()
        .unwrap();
    let all = text(&out);
    assert_eq!(out.status.code(), Some(2), "{all}");
    assert!(
        all.contains("stored.yaml:3:11: accounts: expected 'shared' (the default: a slot's sessions reuse its accounts) or 'fresh' (new accounts for every session), got 'frsh' — did you mean 'fresh'?"),
        "{all}"
    );
}

/// The runner's own logins (before the first session, and when a slot puts a role back
/// online after a session) answer like any request: their codes are in the report's
/// `codes`, next to those of the steps, also with the native driver, which does not
/// count codes itself.
#[test]
fn the_runners_own_logins_are_in_the_codes() {
    let yaml = r#"
name: own-logins
roles: { caller: {}, callee: {} }
load: { sessions: 3, concurrency: 1 }
steps:
  - { name: query, as: caller, query: { channelId: "none" }, expect: 10404 }
  - { as: callee, disconnect: ~ }
  - { name: login, as: callee, login: {} }
"#;
    let path = write("own-logins", "own.yaml", yaml);
    let (out, report) = sigbench("own-logins", &["run", path.to_str().unwrap(), "--quiet"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let report = report.expect("a report");
    let codes: Vec<(String, u64, u64)> = report["codes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["op"].as_str().unwrap().to_string(),
                c["code"].as_u64().unwrap(),
                c["count"].as_u64().unwrap(),
            )
        })
        .collect();
    // Two logins before the first session and three by the sessions' `login` steps.
    assert_eq!(
        codes,
        vec![
            ("login".to_string(), 200, 5),
            ("query".to_string(), 10404, 3)
        ],
        "{report:#}"
    );
}
