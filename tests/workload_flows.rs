//! Mixes whose flows each have their own load model (`flows.<name>.load`): several
//! models at once in one run, per-flow reports, unique session numbers and accounts
//! across flows, `--shard` and `merge`, the run-wide limits, and the mistakes `check`
//! and `run` refuse. The real binary against the embedded server.

mod workload_support;

use workload_support::{
    assert_schema, check, flows, merge, report_file, sigbench, text, threshold, write,
};

/// The flows' `load` strings and share percentages, in order.
fn flow_loads(report: &serde_json::Value) -> Vec<(String, f64)> {
    report["flows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            assert!(f.get("weight").is_none(), "a weight on {f}");
            (
                f["load"].as_str().unwrap().to_string(),
                f["share_percent"].as_f64().unwrap(),
            )
        })
        .collect()
}

/// The shipped scenario: an open, a closed and a ramping closed flow at once. Latency
/// limits are not judged (a debug build on a busy machine may miss them); everything
/// else must hold.
#[test]
fn the_shipped_per_flow_mix_runs_every_load_model_at_once() {
    let (out, report) = sigbench("own-loads", &["run", "scenarios/load/mix-own-loads.yaml"]);
    let all = text(&out);
    assert!(matches!(out.status.code(), Some(0 | 1)), "{all}");
    let report = report.expect("a report");
    assert_schema(&report);
    let counts = flows(&report);
    assert_eq!(counts[0], ("accept".to_string(), 100, 100, 0), "{all}");
    assert_eq!(counts[1], ("reject".to_string(), 30, 30, 0), "{all}");
    let (name, done, ok, failed) = &counts[2];
    assert_eq!((name.as_str(), failed), ("cancel", &0), "{all}");
    assert!(*done >= 4 && done == ok, "{counts:?}");
    assert_eq!(report["sessions"]["ok"], 130 + done);
    assert_eq!(report["sessions"]["failed"], 0);
    let loads = flow_loads(&report);
    assert!(loads[0].0.starts_with("open,"), "{loads:?}");
    assert!(loads[1].0.starts_with("closed, concurrency 3"), "{loads:?}");
    assert!(loads[2].0.contains("1..4"), "{loads:?}");
    let shares: f64 = loads.iter().map(|l| l.1).sum();
    assert!((shares - 100.0).abs() < 0.05, "{loads:?}");
    let load = report["meta"]["load"].as_str().unwrap();
    assert!(load.starts_with("per flow; accept: open"), "{load}");
    for name in [
        "accept/failed sessions count <= 0",
        "reject/failed sessions count <= 0",
        "cancel/session failure_rate <= 0.00%",
        "failures <= 0",
    ] {
        assert_eq!(threshold(&report, name)["pass"], true, "{name}");
    }
    // The open flow's schedule is in the timeline; in flight are all flows' sessions.
    let timeline = report["timeline"].as_array().unwrap();
    let planned: u64 = timeline
        .iter()
        .map(|i| i["planned_starts"].as_u64().unwrap_or(0))
        .sum();
    assert_eq!(planned, 100);
    let peak = timeline
        .iter()
        .filter_map(|i| i["in_flight"].as_u64())
        .max()
        .unwrap_or(0);
    assert!(peak <= 20 + 3 + 4, "{peak}");
    assert!(all.contains("accept") && all.contains("cancel"), "{all}");
}

/// Two flows whose sessions each create a channel named after `${session}` and leave
/// it open: a number used twice would meet 10405 (the name is taken). Both flows run
/// at once, on their own slots.
#[test]
fn session_numbers_never_repeat_across_flows() {
    let yaml = r#"
name: numbers
roles: { owner: {} }
flows:
  open:
    load: { arrival: [ { hold: 40/s, for: 1s } ], max_in_flight: 5 }
    steps:
      - { name: create, as: owner, create: { type: 1, channelName: "n-${session}" } }
  closed:
    load: { sessions: 40, concurrency: 4 }
    steps:
      - { name: create, as: owner, create: { type: 1, channelName: "n-${session}" } }
      - { name: again, as: owner, create: { type: 1, channelName: "n-${session}" }, expect: ROOM_HAS_EXISTS }
thresholds:
  failures: 0
"#;
    let path = write("numbers", "numbers.yaml", yaml);
    let (out, report) = sigbench("numbers", &["run", path.to_str().unwrap(), "--quiet"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let report = report.expect("a report");
    assert_eq!(
        flows(&report),
        [
            ("open".to_string(), 40, 40, 0),
            ("closed".to_string(), 40, 40, 0)
        ]
    );
}

/// Each flow's load has its own slots and accounts: two flows' sessions that each hold
/// a channel named after their account never meet one another's name (10405). Every
/// session closes its channel at the end: a closed-model slot may run two of its flow's
/// sessions one after the other on its own account (whichever slot is free first takes
/// the next session), and that reuse is not what this test is about.
#[test]
fn flows_never_share_an_account() {
    let yaml = r#"
name: accounts
roles: { owner: {} }
flows:
  one:
    load: { sessions: 3, concurrency: 3 }
    steps:
      - { name: create, as: owner, create: { type: 1, channelName: "a-${owner}" }, save: { cid: data.channel.channelId } }
      - pause: 300ms
      - { name: close, as: owner, close: { channelId: "${cid}" } }
  two:
    load: { arrival: [ { hold: 10/s, for: 300ms } ], max_in_flight: 3 }
    steps:
      - { name: create, as: owner, create: { type: 1, channelName: "a-${owner}" }, save: { cid: data.channel.channelId } }
      - pause: 300ms
      - { name: close, as: owner, close: { channelId: "${cid}" } }
thresholds:
  failures: 0
"#;
    let path = write("accounts", "accounts.yaml", yaml);
    let (out, report) = sigbench("accounts", &["run", path.to_str().unwrap(), "--quiet"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let report = report.expect("a report");
    assert_eq!(
        flows(&report),
        [("one".to_string(), 3, 3, 0), ("two".to_string(), 3, 3, 0)]
    );
}

/// `--shard`: each shard runs its share of every flow's load; `merge` adds them up.
#[test]
fn shards_split_every_flows_load_and_merge_exactly() {
    let mut reports = Vec::new();
    let mut done = [0u64; 3];
    for shard in ["1/2", "2/2"] {
        let test = format!("own-loads-shard-{}", &shard[..1]);
        let (out, report) = sigbench(
            &test,
            &[
                "run",
                "scenarios/load/mix-own-loads.yaml",
                "--shard",
                shard,
                "--quiet",
            ],
        );
        assert!(matches!(out.status.code(), Some(0 | 1)), "{}", text(&out));
        let report = report.expect("a shard report");
        let counts = flows(&report);
        assert_eq!((counts[0].1, counts[1].1), (50, 15), "{counts:?}");
        for (sum, flow) in done.iter_mut().zip(&counts) {
            *sum += flow.1;
        }
        reports.push(report_file(&test));
    }
    let (out, report) = merge("own-loads", &reports);
    assert!(matches!(out.status.code(), Some(0 | 1)), "{}", text(&out));
    assert_schema(&report);
    let merged: Vec<u64> = flows(&report).iter().map(|f| f.1).collect();
    assert_eq!(merged, done);
    assert_eq!(&merged[..2], [100, 30]);
    assert_eq!(flow_loads(&report).len(), 3);
}

/// `max_failures` (top-level) counts the failed sessions of every flow and stops them
/// all.
#[test]
fn run_wide_limits_stop_every_flow() {
    let yaml = r#"
name: stop
roles: { caller: {}, callee: {} }
load: { max_failures: 3 }
flows:
  good:
    load: { duration: 60s, concurrency: 2 }
    steps:
      - { name: call, as: caller, call: { type: 1, account: "${callee}", requestId: "${session}" }, save: { cid: data.channel.channelId } }
      - { name: hang up, as: caller, close: { channelId: "${cid}" } }
  bad:
    load: { arrival: [ { hold: 5/s, for: 60s } ], max_in_flight: 2 }
    steps:
      - { name: call, as: caller, call: { type: 1, account: "${callee}", requestId: "${session}" }, expect: ROOM_NOT_EXISTS }
"#;
    let path = write("stop", "stop.yaml", yaml);
    let (out, report) = sigbench("stop", &["run", path.to_str().unwrap()]);
    let all = text(&out);
    assert_eq!(out.status.code(), Some(1), "{all}");
    assert!(all.contains("max_failures: 3 sessions failed"), "{all}");
    let report = report.expect("a report");
    assert_schema(&report);
    assert!(
        report["meta"]["duration_ms"].as_u64().unwrap() < 30_000,
        "{report:#}"
    );
    let counts = flows(&report);
    // The third failure stops new sessions; the other bad session may have been in
    // flight.
    assert!((3..=4).contains(&counts[1].3), "{counts:?}");
    assert!(counts[0].1 > 0 && counts[0].3 == 0, "{counts:?}");
}

/// The load shorthands change one shared load: with per-flow loads they are a usage
/// error that names the file and says what to do instead.
#[test]
fn load_shorthands_with_per_flow_loads_are_usage_errors() {
    for flags in [
        &["--sessions", "10"][..],
        &["--rate", "5/s", "--duration", "2s"],
    ] {
        let mut args = vec!["run", "scenarios/load/mix-own-loads.yaml"];
        args.extend(flags);
        let (out, report) = sigbench("own-loads-flags", &args);
        let all = text(&out);
        assert_eq!(out.status.code(), Some(2), "{all}");
        assert!(report.is_none());
        assert!(
            all.contains("scenarios/load/mix-own-loads.yaml: ")
                && all.contains(&format!(
                    "{}: this scenario's flows each have their own load",
                    flags[0]
                ))
                && all.contains("--set flows.accept.load.sessions="),
            "{all}"
        );
    }
}

#[test]
fn per_flow_load_mistakes_are_located_errors() {
    let steps = r#"    steps:
      - { name: call, as: caller, call: { type: 1, account: "${callee}", requestId: "${session}" } }"#;
    let scenario = |top: &str, a: &str, b: &str| {
        format!(
            "name: m\nroles: {{ caller: {{}}, callee: {{}} }}\n{top}flows:\n  a:\n{a}{steps}\n  b:\n{b}{steps}\n"
        )
    };
    let own = "    load: { sessions: 5, concurrency: 1 }\n";
    let cases = [
        (
            scenario("", own, "    weight: 2\n"),
            vec![
                "m.yaml:9:5: 'weight' shares the top-level load between flows, but these flows have their own loads: flow 'b' needs a 'load' instead",
                "m.yaml:8:3: flow 'b' has no 'load', but flow 'a' has its own: either every flow has its own load, or none has and they share the top-level load by weight",
            ],
        ),
        (
            scenario("load: { sessions: 10, max_duration: 1m }\n", own, own),
            vec![
                "m.yaml:3:9: 'sessions' describes a load model, and the flows have their own (flow 'a' has a 'load'): a load is either shared by every flow (top-level, flows by weight) or each flow's own; next to per-flow loads the top-level load takes only the run-wide keys (login_rate, max_duration, max_failures, aborts_expected, unresponsive_after)",
            ],
        ),
        (
            scenario("", "    load: { sessions: 5, max_duration: 1m }\n", own),
            vec![
                "m.yaml:5:26: 'max_duration' applies to the whole run, not to one flow: put it in the top-level load",
            ],
        ),
        (
            scenario(
                "",
                "    load: { stages: [ { ramp: 1/s..5/s, over: 2s } ] }\n",
                own,
            ),
            vec!["m.yaml:5:31: ramp: '1/s..5/s' is a rate; 'stages' ramp the concurrency"],
        ),
        (
            scenario(
                "",
                "    load: { arrival: [ { hold: 0/s, for: 2s } ] }\n",
                own,
            ),
            vec!["m.yaml:5:22: these arrival stages start no session at all"],
        ),
        (
            scenario("", "    load: { concurrency: 2 }\n", own),
            vec!["m.yaml:5:11: load needs 'sessions' and/or 'duration'"],
        ),
    ];
    let (code, all) = check(&["scenarios/load/mix-own-loads.yaml"]);
    assert_eq!(code, Some(0), "{all}");
    assert!(all.contains("3 flows, each with its own load"), "{all}");
    for (yaml, expected) in cases {
        let path = write("per-flow-mistakes", "m.yaml", &yaml);
        let (code, all) = check(&[path.to_str().unwrap()]);
        assert_eq!(code, Some(2), "{yaml}\n{all}");
        for line in expected {
            assert!(
                all.contains(line),
                "expected '{line}' for\n{yaml}\ngot:\n{all}"
            );
        }
    }
}

/// The target line (`timeline[].target_in_flight`) counts a closed flow limited by a
/// session count only until its sessions ran out, not until the whole load ends.
#[test]
fn a_closed_flow_leaves_the_target_line_when_its_sessions_run_out() {
    let yaml = r#"
name: target-line
roles: { owner: {} }
flows:
  short:
    load: { sessions: 3, concurrency: 3 }
    steps:
      - { name: query, as: owner, query: { channelId: "none" }, expect: 10404 }
  long:
    load: { stages: [ { hold: 2, for: 4s } ] }
    steps:
      - { name: wait, as: owner, query: { channelId: "none" }, expect: 10404 }
      - pause: 200ms
thresholds:
  failures: 0
"#;
    let path = write("target-line", "target.yaml", yaml);
    let (out, report) = sigbench("target-line", &["run", path.to_str().unwrap(), "--quiet"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let report = report.expect("a report");
    assert_schema(&report);
    let targets: Vec<u64> = report["timeline"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|s| s["target_in_flight"].as_u64())
        .collect();
    assert!(targets.iter().all(|&t| t <= 5), "{targets:?}");
    // By the hold's last second the short flow's three query sessions are long over.
    assert!(targets.len() >= 4, "{targets:?}");
    assert_eq!(targets[3], 2, "{targets:?}");
}
