//! The end-of-run summary: what it shows (asserted on contents, not on whitespace).

use std::time::{Duration, Instant, UNIX_EPOCH};

use sigbench::metrics::{
    self, Aggregator, FailureKind, FailureSample, MetricSet, Recorder, Stat, ThresholdCheck,
};
use sigbench::report::{RunMeta, RunReport, Shard, render_summary, verdict};

fn meta(interrupted: bool) -> RunMeta {
    RunMeta {
        scenario: "call-accept".into(),
        scenario_file: "scenarios/call-accept.yaml".into(),
        target: "ws://127.0.0.1:9000".into(),
        started_at: UNIX_EPOCH + Duration::from_secs(1_764_094_560),
        shard: Shard::WHOLE,
        load: "open: 100/s for 10s".into(),
        interrupted,
        stopped_early: None,
        flows: Vec::new(),
        aborts_expected: false,
        code_names: sigbench::drivers::vocabulary_named("sigbench")
            .unwrap()
            .code_names(),
    }
}

/// 1000 sessions; `failures` of them fail at `accept`; `late` start late by 2 s.
fn run(failures: u64, late: u64, checks: &[ThresholdCheck], interrupted: bool) -> RunReport {
    let set = MetricSet::new(["call", "invite delivered", "accept", metrics::SESSION]).unwrap();
    let ids: Vec<_> = set.iter().map(|(id, _)| id).collect();
    let origin = Instant::now();
    let mut rec = Recorder::detached(&set, origin);
    for i in 0..1000u64 {
        let at = origin + Duration::from_millis(i * 10);
        rec.record_at(ids[0], Duration::from_micros(800 + i), at);
        rec.record_at(ids[1], Duration::from_micros(2_000 + 10 * i), at);
        rec.record_at(ids[3], Duration::from_millis(150 + i % 300), at);
        rec.count_code("call", 200);
        let fails = i < failures;
        if fails {
            rec.count_code("accept", 10409);
            rec.failure(
                FailureKind::new(
                    "accept",
                    "callee",
                    "expected 200, got 10409 INVITE_HAS_REJECT",
                ),
                FailureSample::new(i, format!("channel c-{i}"))
                    .with_frame(r#"-> {"id":4,"op":"accept","params":{"channelId":"c"}}"#)
                    .with_frame(r#"<- {"id":4,"code":10409,"message":"INVITE_HAS_REJECT"}"#),
            );
        } else {
            rec.record_at(ids[2], Duration::from_micros(900), at);
            rec.count_code("accept", 200);
        }
        if i < late {
            rec.late_start(Duration::from_secs(2));
        }
        rec.session_done(!fails);
    }
    let mut aggregator = Aggregator::new(&set);
    for sample in rec.take_samples() {
        aggregator.add(sample);
    }
    let results = aggregator.finish(Duration::from_secs(10));
    let thresholds = metrics::evaluate(checks, &results).unwrap();
    RunReport::new(meta(interrupted), &results, &thresholds).unwrap()
}

fn line_with<'a>(text: &'a str, needle: &str) -> &'a str {
    text.lines()
        .find(|l| l.contains(needle))
        .unwrap_or_else(|| panic!("no line with {needle:?} in\n{text}"))
}

#[test]
fn clean_run_shows_table_codes_thresholds_and_verdict() {
    let checks = [
        ThresholdCheck::latency("call", Stat::P99, Duration::from_millis(50)),
        ThresholdCheck::max_failures(0),
    ];
    let report = run(0, 0, &checks, false);
    let text = render_summary(&report, false);

    assert!(!text.contains('\x1b'), "no color codes when color is off");
    assert!(line_with(&text, "call-accept").contains("ws://127.0.0.1:9000"));
    assert!(line_with(&text, "sessions:").contains("1000 done"));
    let header = line_with(&text, "metric");
    for column in ["count", "p50", "p95", "p99", "max"] {
        assert!(header.contains(column), "{header}");
    }
    let call = line_with(&text, "call  ");
    assert!(call.contains("1000"), "{call}");
    assert!(call.contains("ms"), "human units: {call}");
    let session = line_with(&text, "session  ");
    assert!(session.contains("ms"), "{session}");
    let codes = line_with(&text, "  accept");
    assert!(codes.contains("200 OK ×1000"), "{codes}");
    assert!(line_with(&text, "call p99 <= 50.0ms").contains("ok"));
    assert!(line_with(&text, "failures <= 0").contains("observed 0"));
    assert!(!text.contains("FAIL"));
    assert!(!text.contains("warning"));
    assert_eq!(
        text.lines().last().unwrap(),
        "call-accept: 1000 sessions, 0 failed, 2 thresholds ok"
    );
}

#[test]
fn failures_show_kind_count_one_sample_and_failed_thresholds() {
    let checks = [ThresholdCheck::max_failures(0)];
    let report = run(5, 0, &checks, false);
    let text = render_summary(&report, false);

    assert!(line_with(&text, "failures:").contains("5 in 1 kind"));
    let kind = line_with(&text, "accept [callee]");
    assert!(
        kind.contains("5×") && kind.contains("got 10409 INVITE_HAS_REJECT"),
        "{kind}"
    );
    assert!(line_with(&text, "session 0 at").contains("channel c-0"));
    assert!(text.contains(r#"-> {"id":4,"op":"accept""#));
    assert!(
        !text.contains("session 1 at"),
        "only one sample per kind is shown"
    );
    let codes = line_with(&text, "  accept");
    assert!(
        codes.contains("10409 INVITE_HAS_REJECT ×5") && codes.contains("200 OK ×995"),
        "{codes}"
    );
    assert!(line_with(&text, "failures <= 0").contains("FAIL"));
    assert!(line_with(&text, "failures <= 0").contains("observed 5"));
    assert_eq!(
        text.lines().last().unwrap(),
        "call-accept: 1000 sessions, 5 failed, 1 of 1 thresholds failed"
    );
}

#[test]
fn late_starts_show_with_the_bottleneck_warning() {
    let report = run(0, 50, &[], false);
    let text = render_summary(&report, false);
    let late = line_with(&text, "late starts:");
    assert!(late.contains("50") && late.contains("2.00s"), "{late}");
    let warning = line_with(&text, "warning:");
    assert!(
        warning.contains("bottleneck") && warning.contains("50 of 1000"),
        "{warning}"
    );
    assert!(text.lines().last().unwrap().ends_with("no thresholds"));

    let few = run(0, 0, &[], false);
    assert!(few.warnings.is_empty());
}

#[test]
fn interrupted_runs_say_so_and_color_marks_the_verdict() {
    let report = run(0, 0, &[], true);
    assert!(verdict(&report).ends_with(", interrupted"));
    let colored = render_summary(&report, true);
    assert!(
        colored.contains("\x1b[1;31m"),
        "the verdict of an interrupted run is red"
    );
    let plain = run(0, 0, &[ThresholdCheck::max_failures(0)], false);
    let colored = render_summary(&plain, true);
    assert!(colored.contains("\x1b[32m"), "passing marks are green");
}

#[test]
fn metrics_without_data_show_dashes() {
    let report = run(1000, 0, &[], false);
    let text = render_summary(&report, false);
    let accept = line_with(&text, "accept  ");
    assert!(accept.contains(" 0 ") && accept.contains('-'), "{accept}");
}
