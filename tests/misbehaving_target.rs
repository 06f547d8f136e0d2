//! The harness against targets that misbehave (tests/common/rogue.rs) and runs cut
//! short: whatever the target does, memory stays bounded, every started session is in
//! the report, and the verdict is never a false pass. Regression tests for issue 10's
//! problems 1–4 and 8, run in-process through the library.

mod common;

use std::time::Duration;

use common::rogue::{self, Misbehaviour};
use sigbench::drivers::driver_for;
use sigbench::metrics::AbortReason;
use sigbench::report::{RunMeta, RunReport, Shard, Status};
use sigbench::runner::accounts::AccountSource;
use sigbench::runner::client::Target;
use sigbench::runner::{Run, RunOptions};
use sigbench::scenario;
use tokio_util::sync::CancellationToken;

/// Runs `yaml` against `url` in-process and builds its report.
async fn run(url: &str, yaml: &str, interrupt: CancellationToken, grace: Duration) -> RunReport {
    let plan = scenario::load_str("t.yaml", yaml, &[]).expect("a valid scenario");
    let target = Target::resolve(url, &Default::default()).await.unwrap();
    let driver = driver_for(plan.vocabulary).unwrap();
    let checks = sigbench::checks::threshold_checks(&plan);
    let meta = RunMeta {
        scenario: plan.name.clone(),
        scenario_file: "t.yaml".into(),
        target: url.into(),
        started_at: std::time::SystemTime::now(),
        shard: Shard::WHOLE,
        load: String::new(),
        interrupted: false,
        aborts_expected: plan.aborts_expected,
        code_names: plan.vocabulary.code_names(),
        stopped_early: None,
        flows: Vec::new(),
    };
    let options = RunOptions {
        target,
        driver,
        run_id: "rogue".into(),
        accounts: AccountSource::generated("rogue", None, None),
        sources: Vec::new(),
        interrupt: interrupt.clone(),
        grace,
        stop_now: CancellationToken::new(),
        start_at: None,
        server_in_process: true,
        tracer: None,
    };
    let outcome = Run::new(plan, options).unwrap().execute().await.unwrap();
    let thresholds = sigbench::metrics::evaluate(&checks, &outcome.results).unwrap();
    let meta = RunMeta {
        interrupted: outcome.interrupted,
        ..meta
    };
    RunReport::new(meta, &outcome.results, &thresholds).unwrap()
}

/// Runs `yaml` against `url` until its load ends (no interrupt, 1 s of grace).
async fn run_to_end(url: &str, yaml: &str) -> RunReport {
    run(url, yaml, CancellationToken::new(), Duration::from_secs(1)).await
}

fn failure_count(report: &RunReport, reason: &str) -> u64 {
    report
        .failures
        .iter()
        .filter(|f| f.reason.contains(reason))
        .map(|f| f.count)
        .sum()
}

fn reasons(report: &RunReport) -> Vec<String> {
    report
        .failures
        .iter()
        .map(|f| format!("{} [{}]: {} ×{}", f.step, f.role, f.reason, f.count))
        .collect()
}

/// Problem 1: a flood of unsolicited responses and of big pushes is dropped past the
/// byte budgets, counted, and fails the run.
#[tokio::test]
async fn a_flooding_target_is_bounded_counted_and_fails_the_run() {
    let target = rogue::start(Misbehaviour::Flood {
        responses: 20_000,
        pushes: 60,
        push_bytes: 60_000,
    })
    .await;
    let yaml = r#"
name: flood
roles: { a: {} }
steps:
  - name: call
    as: a
    call: { type: 2, account: "nobody", requestId: "${session}" }
  - name: flood over
    as: a
    await: ROOM_CLOSE
    within: 10s
"#;
    let report = run_to_end(&target.url(), yaml).await;
    let why = reasons(&report);
    assert_eq!(report.meta.status, Status::Failed, "{why:?}");
    assert!(
        failure_count(&report, "push buffer overflow") > 0,
        "{why:?}"
    );
    assert!(
        failure_count(&report, "unsolicited responses") > 0,
        "{why:?}"
    );
    let sample = &report
        .failures
        .iter()
        .find(|f| f.reason == "push buffer overflow")
        .unwrap()
        .samples[0];
    assert!(sample.detail.contains("pushes dropped"), "{sample:?}");
}

/// Problem 2: a reply that comes after its request timed out is counted as late and
/// dropped; the next raw step (in the next session, on the same connection) gets its
/// own reply, not the late one.
#[tokio::test]
async fn a_late_reply_never_answers_a_later_step() {
    let target = rogue::start(Misbehaviour::Stale).await;
    let yaml = r#"
name: stale
roles: { a: {} }
load: { sessions: 2, concurrency: 1 }
steps:
  - name: probe
    as: a
    raw: { text: '{"id": 900000, "op": "query", "params": {}}' }
    expect: { code: 400 }
  - name: slow call
    as: a
    call: { type: 2, account: "nobody", requestId: "${session}" }
    within: 200ms
"#;
    let report = run_to_end(&target.url(), yaml).await;
    let why = reasons(&report);
    assert!(
        !report.failures.iter().any(|f| f.step == "probe"),
        "the probe took a stale reply: {why:?}"
    );
    assert_eq!(failure_count(&report, "late response"), 1, "{why:?}");
    let slow = report
        .metrics
        .iter()
        .find(|m| m.name == "slow call")
        .unwrap();
    assert_eq!((slow.count, slow.timeouts), (0, 2));
    assert_eq!(report.meta.status, Status::Failed);
}

/// Problem 8: a target that stops answering ends the run as "target unresponsive"
/// instead of timing out session after session; timeouts are counted per metric.
#[tokio::test]
async fn a_silent_target_ends_the_run_as_unresponsive() {
    let target = rogue::start(Misbehaviour::Silent).await;
    let yaml = r#"
name: silent
roles: { a: {} }
timeout: 100ms
load: { sessions: 3000, concurrency: 5, unresponsive_after: 500ms }
steps:
  - name: call
    as: a
    call: { type: 2, account: "nobody", requestId: "${session}" }
"#;
    let report = run_to_end(&target.url(), yaml).await;
    let why = reasons(&report);
    assert_eq!(report.meta.status, Status::Failed, "{why:?}");
    assert_eq!(failure_count(&report, "target unresponsive"), 1, "{why:?}");
    assert!(
        report.sessions.done < 3000,
        "the run went on: {:?}",
        report.sessions
    );
    let call = report.metrics.iter().find(|m| m.name == "call").unwrap();
    assert_eq!(call.count, 0);
    assert!(call.timeouts >= 1, "timeouts are counted: {call:?}");
    assert_eq!(call.timeouts, report.sessions.failed);
    let sample = &report
        .failures
        .iter()
        .find(|f| f.reason == "no response")
        .unwrap()
        .samples[0];
    assert!(
        sample.detail.contains("no response within 100ms"),
        "{sample:?}"
    );
}

/// Garbage instead of replies: counted as malformed frames, and the requests time out.
#[tokio::test]
async fn garbage_replies_are_malformed_frames_and_timeouts() {
    let target = rogue::start(Misbehaviour::Garbage).await;
    let yaml = r#"
name: garbage
roles: { a: {} }
load: { sessions: 2, concurrency: 1 }
steps:
  - name: call
    as: a
    call: { type: 2, account: "nobody", requestId: "${session}" }
    within: 200ms
"#;
    let report = run_to_end(&target.url(), yaml).await;
    let why = reasons(&report);
    assert_eq!(
        failure_count(&report, "malformed server frame"),
        2,
        "{why:?}"
    );
    assert_eq!(failure_count(&report, "no response"), 2, "{why:?}");
    assert_eq!(report.meta.status, Status::Failed);
}

/// Problem 3: sessions cut off by the Ctrl-C grace period are in the report, as
/// aborted by the interrupt.
#[tokio::test]
async fn sessions_cut_off_by_an_interrupt_are_reported() {
    let target = rogue::start(Misbehaviour::Silent).await;
    let interrupt = CancellationToken::new();
    let yaml = r#"
name: cut
roles: { a: {} }
load: { sessions: 10, concurrency: 3, unresponsive_after: 1h }
steps:
  - name: call
    as: a
    call: { type: 2, account: "nobody", requestId: "${session}" }
    within: 1h
"#;
    let stopper = {
        let (interrupt, reached) = (interrupt.clone(), target.requests_reach(3));
        tokio::spawn(async move {
            // Ctrl-C once every worker's session is waiting for the target.
            reached.await;
            interrupt.cancel();
        })
    };
    let report = run(&target.url(), yaml, interrupt, Duration::from_millis(50)).await;
    stopper.await.unwrap();
    assert_eq!(report.meta.status, Status::Interrupted);
    assert_eq!(report.sessions.aborted, 3, "{:?}", report.sessions);
    assert_eq!(
        report
            .sessions
            .aborted_by
            .get(AbortReason::Interrupt.as_str()),
        Some(&3)
    );
}

const CUT_BY_MAX_DURATION: &str = r#"
name: long
roles: { a: {} }
load: { sessions: 3, concurrency: 3, max_duration: 300ms, unresponsive_after: 1h }
steps:
  - name: call
    as: a
    call: { type: 2, account: "nobody", requestId: "${session}" }
    within: 1h
"#;

/// Problem 3: sessions cut off by `max_duration` fail the run (they were reported as
/// 0 sessions, passed) …
#[tokio::test]
async fn sessions_cut_off_by_max_duration_fail_the_run() {
    let target = rogue::start(Misbehaviour::Silent).await;
    let report = run(
        &target.url(),
        CUT_BY_MAX_DURATION,
        CancellationToken::new(),
        Duration::from_millis(50),
    )
    .await;
    assert_eq!(report.meta.status, Status::Failed);
    assert_eq!(report.sessions.done, 0);
    assert_eq!(report.sessions.aborted, 3);
    assert_eq!(report.sessions.aborted_by.get("duration_limit"), Some(&3));
}

/// … unless the scenario says so.
#[tokio::test]
async fn aborts_at_max_duration_pass_when_expected() {
    let target = rogue::start(Misbehaviour::Silent).await;
    let yaml = CUT_BY_MAX_DURATION.replace(
        "max_duration: 300ms",
        "max_duration: 300ms, aborts_expected: true",
    );
    let report = run(
        &target.url(),
        &yaml,
        CancellationToken::new(),
        Duration::from_millis(50),
    )
    .await;
    assert_eq!(report.sessions.aborted, 3);
    assert_eq!(report.meta.status, Status::Passed, "{:?}", reasons(&report));
}

/// Problem 4: values `check` used to accept but the runner could not execute are
/// rejected with a located error.
#[test]
fn unexecutable_values_are_rejected_where_they_are_written() {
    let cases = [
        ("within: 5124095576030430h", "longest wait"),
        ("within: 367d", "expected a duration"),
    ];
    for (line, wanted) in cases {
        let yaml = format!(
            "name: big\nroles: {{ a: {{}} }}\nsteps:\n  - name: call\n    as: a\n    call: {{ type: 2, account: x }}\n    {line}\n"
        );
        let e = scenario::load_str("big.yaml", &yaml, &[])
            .unwrap_err()
            .to_string();
        assert!(e.contains("big.yaml:7:"), "{e}");
        assert!(e.contains(wanted), "{e}");
    }
    for (load, wanted) in [
        (
            "{ sessions: 1, concurrency: 4611686018427387904 }",
            "concurrency is 4611686018427387904",
        ),
        (
            "{ sessions: 1, concurrency: 18446744073709551615 }",
            "concurrency is",
        ),
        ("{ duration: 9223372036854775807s }", "longest wait"),
        (
            "{ arrival: [{ hold: 9999999999/s, for: 1s }] }",
            "at most 1000000/s",
        ),
        ("{ sessions: 1, max_duration: 9000h }", "longest wait"),
    ] {
        let yaml = format!(
            "name: big\nroles: {{ a: {{}} }}\nload: {load}\nsteps:\n  - name: call\n    as: a\n    call: {{ type: 2, account: x }}\n"
        );
        let e = scenario::load_str("big.yaml", &yaml, &[])
            .unwrap_err()
            .to_string();
        assert!(e.contains("big.yaml:3:"), "{load}: {e}");
        assert!(e.contains(wanted), "{load}: {e}");
    }
}
