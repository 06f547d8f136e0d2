//! `sigbench compare`: verdicts on crafted reports whose percentiles are known exactly —
//! a bound that holds, one exceeded by a hair, absolute bounds, a metric missing from one
//! side, a typo in a metric name — and the exit codes, table and HTML page of the command.

mod procs;

use std::time::{Duration, Instant, UNIX_EPOCH};

use procs::{TempDir, sigbench};
use sigbench::metrics::{self, Aggregator, MetricSet, Recorder};
use sigbench::report::compare::{Allowance, CompareStat};
use sigbench::report::{
    Comparison, RegressionBound, RunMeta, RunReport, Shard, render_compare_html,
};

/// A report whose `call` metric holds `call_us` (one value each) and whose `extra`
/// metric, when given, holds `extra_us`; `codes` (op call) counted as given.
fn report(call_us: &[u64], extra_us: Option<&[u64]>, codes: &[(u32, u64)]) -> RunReport {
    let mut names = vec!["call", metrics::SESSION];
    if extra_us.is_some() {
        names.push("extra");
    }
    let set = MetricSet::new(names).unwrap();
    let origin = Instant::now();
    let mut rec = Recorder::detached(&set, origin);
    let call = set.id("call").unwrap();
    for &us in call_us {
        rec.record_at(call, Duration::from_micros(us), origin);
        rec.session_done(true);
    }
    if let (Some(values), Some(id)) = (extra_us, set.id("extra")) {
        for &us in values {
            rec.record_at(id, Duration::from_micros(us), origin);
        }
    }
    for &(code, count) in codes {
        for _ in 0..count {
            rec.count_code("call", code);
        }
    }
    let mut aggregator = Aggregator::new(&set);
    for sample in rec.take_samples() {
        aggregator.add(sample);
    }
    let results = aggregator.finish(Duration::from_secs(1));
    let meta = RunMeta {
        scenario: "crafted".into(),
        scenario_file: "crafted.yaml".into(),
        target: "ws://127.0.0.1:1".into(),
        started_at: UNIX_EPOCH + Duration::from_secs(1_764_000_000),
        shard: Shard::WHOLE,
        load: "closed".into(),
        interrupted: false,
        aborts_expected: false,
        stopped_early: None,
        flows: Vec::new(),
        code_names: sigbench::drivers::vocabulary_named("sigbench")
            .unwrap()
            .code_names(),
    };
    RunReport::new(meta, &results, &[]).unwrap()
}

/// 1..=1000 ms in steps of 1 ms, scaled: p50 = 500·scale ms, p99 = 990·scale ms.
fn ramp(scale_permille: u64) -> Vec<u64> {
    (1..=1000u64).map(|i| i * scale_permille).collect()
}

fn bound(text: &str) -> RegressionBound {
    RegressionBound::parse(text).unwrap()
}

fn compare(base: &RunReport, new: &RunReport, bounds: &[&str]) -> Comparison {
    let bounds: Vec<RegressionBound> = bounds.iter().map(|b| bound(b)).collect();
    Comparison::new(("base.json", base), ("new.json", new), &bounds).unwrap()
}

#[test]
fn percent_bounds_hold_up_to_the_limit_and_fail_past_it() {
    let base = report(&ramp(1000), None, &[]);
    // 9.9 % slower everywhere: p99 990 ms → 1088.1 ms.
    let slower = report(&ramp(1099), None, &[]);
    let c = compare(&base, &slower, &["call.p99=10%", "call.p50=9%"]);
    let [p99, p50] = c.verdicts.as_slice() else {
        panic!("two verdicts")
    };
    assert!(p99.pass, "9.9% is within 10%: {p99:?}");
    assert!(!p50.pass, "9.9% exceeds 9%: {p50:?}");
    // The values come from the exact histograms (3 significant digits).
    let (b, n) = (p99.base_us.unwrap(), p99.new_us.unwrap());
    assert!((b - 990_000.0).abs() <= 990.0, "{b}");
    assert!((n - 1_088_010.0).abs() <= 1_089.0, "{n}");
    assert!(!c.passed());
    let text = c.render_text();
    assert!(text.contains("FAIL  call.p50 +9%"), "{text}");
    assert!(text.contains("ok    call.p99 +10%"), "{text}");
    assert!(
        text.contains("REGRESSION: 1 of 2 bounds exceeded"),
        "{text}"
    );
}

#[test]
fn faster_runs_pass_and_absolute_bounds_count_microseconds() {
    let base = report(&ramp(1000), None, &[]);
    let faster = report(&ramp(800), None, &[]);
    assert!(compare(&base, &faster, &["call.p99=0%", "call.max=0%"]).passed());

    // p50 moves from 500 ms to 505 ms: within +6ms, not within +4ms.
    let shifted: Vec<u64> = ramp(1000).iter().map(|us| us + 5_000).collect();
    let new = report(&shifted, None, &[]);
    let c = compare(&base, &new, &["call.p50=+6ms", "call.p50=4ms"]);
    assert_eq!(c.verdicts[0].bound.allowance, Allowance::Micros(6_000));
    assert!(c.verdicts[0].pass, "{:?}", c.verdicts[0]);
    assert!(!c.verdicts[1].pass, "{:?}", c.verdicts[1]);
}

#[test]
fn percentiles_beyond_the_summary_fields_come_from_the_histograms() {
    let base = report(&ramp(1000), None, &[]);
    let mut values = ramp(1000);
    // One slow outlier: only p99.99 and max see it.
    *values.last_mut().unwrap() = 60_000_000;
    let new = report(&values, None, &[]);
    let c = compare(&base, &new, &["call.p99=0%", "call.p99.99=50%"]);
    assert_eq!(c.verdicts[1].bound.stat, CompareStat::Percentile(0.9999));
    assert!(c.verdicts[0].pass, "{:?}", c.verdicts[0]);
    assert!(!c.verdicts[1].pass, "{:?}", c.verdicts[1]);
}

#[test]
fn missing_metrics_fail_their_bound_and_typos_are_errors() {
    let base = report(&ramp(1000), Some(&[100, 200]), &[]);
    let new = report(&ramp(1000), None, &[]);
    let c = compare(&base, &new, &["extra.p99=10%"]);
    assert!(!c.verdicts[0].pass);
    assert_eq!(c.verdicts[0].change_text(), "not in the new report");
    // A metric present but empty (no data) fails too, rather than passing silently.
    let empty = report(&ramp(1000), Some(&[]), &[]);
    let c = compare(&base, &empty, &["extra.p99=10%"]);
    assert_eq!(c.verdicts[0].change_text(), "no data in the new report");

    let bounds = [bound("cal.p99=10%")];
    let err = Comparison::new(("b", &base), ("n", &new), &bounds).unwrap_err();
    let message = err.to_string();
    assert!(
        message.contains("'cal'") && message.contains("call, session, extra"),
        "{message}"
    );
}

#[test]
fn code_counts_are_compared_per_op_and_code() {
    let base = report(&ramp(1000), None, &[(200, 990), (10404, 10)]);
    let new = report(&ramp(1000), None, &[(200, 1000), (10403, 2)]);
    let c = compare(&base, &new, &[]);
    let row = |code: u32| {
        let d = c.codes.iter().find(|d| d.code == code).unwrap();
        (d.base, d.new)
    };
    assert_eq!(row(200), (990, 1000));
    assert_eq!(row(10404), (10, 0));
    assert_eq!(row(10403), (0, 2));
    let text = c.render_text();
    assert!(
        text.contains("-10 (gone)") && text.contains("+2 (new)"),
        "{text}"
    );
    let html = render_compare_html(&c);
    assert!(html.contains("<section id=\"codes\">") && html.contains("+10 (+1.0%)"));
}

#[test]
fn the_command_exits_1_on_a_regression_and_writes_the_page() {
    let dir = TempDir::new("compare");
    let base = dir.join("base.json");
    let new = dir.join("new.json");
    report(&ramp(1000), None, &[(200, 1000)])
        .write_to(&base)
        .unwrap();
    report(&ramp(1200), None, &[(200, 1000)])
        .write_to(&new)
        .unwrap();
    let (b, n) = (base.to_str().unwrap(), new.to_str().unwrap());
    let html = dir.join("cmp.html");

    let out = sigbench(
        &dir,
        &[
            "compare",
            b,
            n,
            "--max-regression",
            "call.p99=10%,call.p50=25%",
            "--html",
            html.to_str().unwrap(),
        ],
    );
    assert_eq!(out.code, Some(1), "{}", out.text());
    assert!(out.stdout.contains("REGRESSION: 1 of 2 bounds exceeded"));
    // Every line but those naming the files (whose paths the user chose).
    let table = out.stdout.lines().filter(|l| {
        !(l.starts_with("base: ") || l.starts_with("new: ") || l.starts_with("html: "))
    });
    for line in table {
        assert!(line.chars().count() <= 80, "wider than 80 columns: {line}");
    }
    let page = std::fs::read_to_string(&html).unwrap();
    assert!(page.contains("FAIL") && page.contains("call.p99 +10%"));
    assert!(page.contains("class=\"series base\"") && page.contains("class=\"series new\""));

    let out = sigbench(&dir, &["compare", b, n, "--max-regression", "call.p99=25%"]);
    assert_eq!(out.code, Some(0), "{}", out.text());
    assert!(out.stdout.contains("no regression: 1 bounds held"));

    let out = sigbench(&dir, &["compare", b, n, "--max-regression", "call.p99"]);
    assert_eq!(out.code, Some(2), "{}", out.text());
    assert!(
        out.stderr.contains("expected METRIC.STAT=LIMIT"),
        "{}",
        out.stderr
    );

    let out = sigbench(&dir, &["compare", b, "missing.json"]);
    assert_eq!(out.code, Some(2), "{}", out.text());
    assert!(out.stderr.contains("missing.json"), "{}", out.stderr);
}
