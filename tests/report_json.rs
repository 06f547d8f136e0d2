//! The JSON report: write → read round trip, histogram recovery, file naming, and merging
//! shard reports exactly (issue 5's ground work).

use std::path::PathBuf;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use sigbench::metrics::{
    self, Aggregator, Comparison, FailureKind, FailureSample, MetricSet, Quantity, Recorder,
    Results, Stat, ThresholdCheck,
};
use sigbench::report::{FORMAT, ReportError, RunMeta, RunReport, Shard, Status};

/// A fresh directory under the system temp dir, removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new(name: &str) -> TempDir {
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_nanos();
        let dir =
            std::env::temp_dir().join(format!("sigbench-{name}-{}-{nanos}", std::process::id()));
        TempDir(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn metric_set() -> MetricSet {
    MetricSet::new(["call", "invite delivered", metrics::LOGIN, metrics::SESSION]).unwrap()
}

/// Deterministic latencies in µs with a tail.
fn latencies(seed: u64, n: usize) -> Vec<u64> {
    let mut x = seed;
    (0..n)
        .map(|_| {
            x = x
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            let r = x >> 33;
            if r % 50 == 0 {
                20_000 + r % 500_000
            } else {
                300 + r % 9_000
            }
        })
        .collect()
}

/// Records `values` for `call` (and a derived `invite delivered`) spread over `secs`
/// seconds, one session per value; every 100th session fails.
fn record(values: &[u64], secs: u64, failing_every: u64) -> Results {
    let set = metric_set();
    let call = set.id("call").unwrap();
    let invite = set.id("invite delivered").unwrap();
    let session = set.id(metrics::SESSION).unwrap();
    let origin = Instant::now();
    let mut rec = Recorder::detached(&set, origin);
    for (i, &us) in values.iter().enumerate() {
        let at = origin + Duration::from_millis(i as u64 * secs * 1000 / values.len() as u64);
        rec.record_at(call, Duration::from_micros(us), at);
        rec.record_at(invite, Duration::from_micros(us / 2 + 50), at);
        rec.record_at(session, Duration::from_micros(us * 3), at);
        let fails = (i as u64 + 1) % failing_every == 0;
        rec.count_code("call", if fails { 10404 } else { 200 });
        if fails {
            rec.failure(
                FailureKind::new("call", "caller", "expected 200, got 10404 ROOM_NOT_EXISTS"),
                FailureSample::new(i as u64, "channel c-1")
                    .with_frame(r#"-> {"id":3,"op":"call"}"#)
                    .with_frame(r#"<- {"id":3,"code":10404}"#),
            );
        }
        rec.session_done(!fails);
    }
    let mut aggregator = Aggregator::new(&set);
    for sample in rec.take_samples() {
        aggregator.add(sample);
    }
    aggregator.finish(Duration::from_secs(secs))
}

fn checks() -> Vec<ThresholdCheck> {
    vec![
        ThresholdCheck::latency("call", Stat::P99, Duration::from_millis(600)),
        ThresholdCheck::new(
            None,
            Stat::FailureRate,
            Comparison::Le,
            Quantity::Fraction(0.02),
        ),
    ]
}

fn meta(start_ms: u64, shard: Shard) -> RunMeta {
    RunMeta {
        scenario: "call-accept".into(),
        scenario_file: "scenarios/call-accept.yaml".into(),
        target: "ws://127.0.0.1:9000".into(),
        started_at: UNIX_EPOCH + Duration::from_millis(start_ms),
        shard,
        load: "closed: 1000 sessions, concurrency 100".into(),
        interrupted: false,
        stopped_early: None,
        flows: Vec::new(),
        aborts_expected: false,
        code_names: sigbench::drivers::vocabulary_named("sigbench")
            .unwrap()
            .code_names(),
    }
}

fn report(results: &Results, start_ms: u64, shard: Shard) -> RunReport {
    let thresholds = metrics::evaluate(&checks(), results).unwrap();
    RunReport::new(meta(start_ms, shard), results, &thresholds).unwrap()
}

const START_MS: u64 = 1_764_094_560_123; // 2025-11-25T18:16:00.123Z

#[test]
fn report_round_trips_through_a_file() {
    let results = record(&latencies(1, 2_000), 4, 100);
    let report = report(&results, START_MS, Shard::WHOLE);
    let dir = TempDir::new("roundtrip");
    let path = report.write(&dir.0.join("reports")).unwrap();
    assert_eq!(
        path.file_name().unwrap().to_str().unwrap(),
        "call-accept-20251125T181600Z.json"
    );
    let back = RunReport::read(&path).unwrap();
    assert_eq!(back, report);

    // The metadata the issue asks for.
    assert_eq!(back.format, FORMAT);
    assert_eq!(back.meta.started_at, "2025-11-25T18:16:00.123Z");
    assert_eq!(back.meta.duration_ms, 4_000);
    assert_eq!(back.meta.sigbench_version, env!("CARGO_PKG_VERSION"));
    assert_eq!(back.meta.shards, vec![Shard::WHOLE]);
    assert_eq!(back.sessions.done, 2_000);
    assert_eq!(back.sessions.failed, 20);
    assert_eq!(back.sessions.rate_per_s, 500.0);
    assert_eq!(back.timeline.len(), 4);
    assert_eq!(back.failure_count(), 20);
    assert_eq!(
        back.failures[0].samples.len(),
        metrics::MAX_SAMPLES_PER_KIND
    );
    assert_eq!(
        back.meta.status,
        Status::Failed,
        "failed sessions fail the run"
    );
    assert_eq!(back.meta.exit_code, 1);

    // The raw JSON uses the documented field names.
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    assert_eq!(json["meta"]["shards"][0], "1/1");
    assert_eq!(json["metrics"][0]["name"], "call");
    assert!(json["metrics"][0]["p99_us"].is_u64());
    assert!(json["timeline"][0]["metrics"][0]["histogram"].is_string());
    assert_eq!(json["codes"][1]["code"], 10404);
    assert_eq!(json["thresholds"][0]["stat"], "p99");
    assert_eq!(json["thresholds"][0]["op"], "le");
    assert_eq!(json["thresholds"][0]["unit"], "us");
}

#[test]
fn histograms_are_recovered_exactly_from_the_report() {
    let results = record(&latencies(7, 3_000), 3, 1_000_000);
    let back = RunReport::from_json(
        &serde_json::to_string(&report(&results, START_MS, Shard::WHOLE)).unwrap(),
    )
    .unwrap()
    .results()
    .unwrap();
    for name in ["call", "invite delivered", "session"] {
        let (a, b) = (
            results.histogram(name).unwrap(),
            back.histogram(name).unwrap(),
        );
        assert_eq!(a.len(), b.len(), "{name}");
        for q in [0.0, 0.5, 0.9, 0.99, 0.999, 1.0] {
            assert_eq!(
                a.value_at_quantile(q),
                b.value_at_quantile(q),
                "{name} q={q}"
            );
        }
    }
    assert_eq!(back.timeline, results.timeline);
    assert_eq!(back.codes, results.codes);
    assert_eq!(back.failures, results.failures);
    assert_eq!(back.sessions_ok, results.sessions_ok);
}

#[test]
fn second_report_in_the_same_second_gets_a_suffix() {
    let results = record(&latencies(2, 100), 1, 1_000);
    let report = report(&results, START_MS, Shard { index: 2, count: 3 });
    let dir = TempDir::new("suffix");
    let first = report.write(&dir.0).unwrap();
    let second = report.write(&dir.0).unwrap();
    assert!(
        first.ends_with("call-accept-20251125T181600Z-shard-2-of-3.json"),
        "{first:?}"
    );
    assert!(
        second.ends_with("call-accept-20251125T181600Z-shard-2-of-3-2.json"),
        "{second:?}"
    );
}

#[test]
fn other_formats_and_garbage_are_errors() {
    let mut value =
        serde_json::to_value(report(&record(&[100], 1, 10), START_MS, Shard::WHOLE)).unwrap();
    value["format"] = "sigbench-report/2".into();
    assert!(matches!(
        RunReport::from_json(&value.to_string()),
        Err(ReportError::Format(f)) if f == "sigbench-report/2"
    ));
    assert!(matches!(
        RunReport::from_json("{"),
        Err(ReportError::Json { .. })
    ));
    let dir = TempDir::new("missing");
    assert!(matches!(
        RunReport::read(&dir.0.join("nope.json")),
        Err(ReportError::Io { .. })
    ));
}

#[test]
fn merged_shards_equal_one_run_of_the_union() {
    let parts = [
        latencies(11, 1_500),
        latencies(12, 2_500),
        latencies(13, 1_000),
    ];
    let shards: Vec<RunReport> = parts
        .iter()
        .enumerate()
        .map(|(i, values)| {
            let shard = Shard {
                index: i as u32 + 1,
                count: 3,
            };
            // Shards start up to ~1 s apart.
            report(&record(values, 3, 100), START_MS + 400 * i as u64, shard)
        })
        .collect();
    // Through the file format, as `sigbench merge` will do.
    let shards: Vec<RunReport> = shards
        .iter()
        .map(|r| RunReport::from_json(&serde_json::to_string(r).unwrap()).unwrap())
        .collect();
    let merged = RunReport::merge(&shards).unwrap();

    let union_values = parts.concat();
    let union = report(&record(&union_values, 3, 100), START_MS, Shard::WHOLE);
    assert_eq!(merged.sessions.done, union.sessions.done);
    assert_eq!(merged.sessions.failed, union.sessions.failed);
    assert_eq!(merged.codes, union.codes);
    assert_eq!(merged.failure_count(), union.failure_count());
    for (m, u) in merged.metrics.iter().zip(&union.metrics) {
        assert_eq!(m.name, u.name);
        assert_eq!(m.count, u.count, "{}", m.name);
        assert_eq!(m.p99_us, u.p99_us, "{}", m.name);
        assert_eq!(m.p999_us, u.p999_us, "{}", m.name);
        assert_eq!(m.max_us, u.max_us, "{}", m.name);
    }
    // The merged p99 is the p99 of the union of recorded values (at 3 significant digits).
    let mut sorted = union_values.clone();
    sorted.sort_unstable();
    let exact = sorted[(sorted.len() as f64 * 0.99).ceil() as usize - 1];
    let call = merged.results().unwrap();
    let call = call.histogram("call").unwrap();
    assert!(call.equivalent(merged.metrics[0].p99_us, exact));

    assert_eq!(merged.meta.shards.len(), 3);
    assert_eq!(merged.meta.started_unix_ms, START_MS);
    assert_eq!(
        merged.meta.duration_ms, 4_000,
        "last shard starts ~1 s later"
    );
    let timeline_sessions: u64 = merged
        .timeline
        .iter()
        .map(|i| i.sessions_ok + i.sessions_failed)
        .sum();
    assert_eq!(timeline_sessions, merged.sessions.done);
    assert_eq!(merged.thresholds.len(), 2);
    assert!(merged.file_name().ends_with("-merged.json"));
}

#[test]
fn thresholds_fail_on_merged_data_when_they_should() {
    // Each shard alone stays under 1.5 % failed sessions…
    let a = report(
        &record(&latencies(21, 1_000), 2, 1_000_000),
        START_MS,
        Shard { index: 1, count: 2 },
    );
    let b = report(
        &record(&latencies(22, 1_000), 2, 34),
        START_MS,
        Shard { index: 2, count: 2 },
    );
    let strict = [ThresholdCheck::new(
        None,
        Stat::FailureRate,
        Comparison::Lt,
        Quantity::Fraction(0.015),
    )];
    let with = |r: &RunReport, results: &Results| {
        let t = metrics::evaluate(&strict, results).unwrap();
        RunReport::new(meta(r.meta.started_unix_ms, r.meta.shards[0]), results, &t).unwrap()
    };
    let a = with(&a, &a.results().unwrap());
    let b = with(&b, &b.results().unwrap());
    assert!(a.thresholds[0].pass && !b.thresholds[0].pass);
    // …but together (29 of 2000 = 1.45 %) they pass, and the status follows the data.
    let merged = RunReport::merge(&[a.clone(), b.clone()]).unwrap();
    assert!(merged.thresholds[0].pass, "{:?}", merged.thresholds[0]);
    // A p99 limit between the shards' p99s fails once the slow shard is merged in.
    let slow = record(
        &latencies(23, 1_000)
            .iter()
            .map(|v| v * 100)
            .collect::<Vec<_>>(),
        2,
        1_000_000,
    );
    let fast = record(&latencies(24, 1_000), 2, 1_000_000);
    let limit = Duration::from_micros(fast.stats("call").unwrap().p99_us * 2);
    let p99 = [ThresholdCheck::latency("call", Stat::P99, limit)];
    let fast_report = RunReport::new(
        meta(START_MS, Shard { index: 1, count: 2 }),
        &fast,
        &metrics::evaluate(&p99, &fast).unwrap(),
    )
    .unwrap();
    let slow_report = RunReport::new(
        meta(START_MS, Shard { index: 2, count: 2 }),
        &slow,
        &metrics::evaluate(&p99, &slow).unwrap(),
    )
    .unwrap();
    assert!(fast_report.thresholds[0].pass);
    let merged = RunReport::merge(&[fast_report, slow_report]).unwrap();
    assert!(!merged.thresholds[0].pass);
    assert_eq!(merged.status(), Status::Failed);
    assert_eq!(merged.status().exit_code(), 1);
}

#[test]
fn merging_different_scenarios_or_nothing_is_an_error() {
    let a = report(&record(&[100], 1, 10), START_MS, Shard::WHOLE);
    let mut b = a.clone();
    b.meta.scenario = "call-reject".into();
    assert!(matches!(
        RunReport::merge(&[a, b]),
        Err(ReportError::DifferentScenarios(..))
    ));
    assert!(matches!(
        RunReport::merge(&[]),
        Err(ReportError::NothingToMerge)
    ));
}

#[test]
fn interrupted_and_clean_runs_have_their_exit_codes() {
    let clean = record(&latencies(3, 500), 1, 1_000_000);
    let passed = report(&clean, START_MS, Shard::WHOLE);
    assert_eq!(
        (passed.status(), passed.meta.exit_code),
        (Status::Passed, 0)
    );
    let mut m = meta(START_MS, Shard::WHOLE);
    m.interrupted = true;
    let interrupted = RunReport::new(m, &clean, &[]).unwrap();
    assert_eq!(
        (interrupted.status(), interrupted.meta.exit_code),
        (Status::Interrupted, 130)
    );
}

#[test]
fn shard_parses_and_rejects_nonsense() {
    assert_eq!("2/3".parse::<Shard>(), Ok(Shard { index: 2, count: 3 }));
    for bad in ["0/3", "4/3", "3", "a/b", "1/0"] {
        assert!(bad.parse::<Shard>().is_err(), "{bad}");
    }
}

/// A report of one session in which `codes` were counted, labelled with the code names
/// of `driver`'s vocabulary (as `sigbench run` does).
fn coded(driver: &str, shard: Shard, codes: &[(&'static str, u32, u64)]) -> RunReport {
    let set = metric_set();
    let mut rec = Recorder::detached(&set, Instant::now());
    for &(op, code, n) in codes {
        rec.count_codes(op, code, n);
    }
    rec.session_done(true);
    let mut aggregator = Aggregator::new(&set);
    for sample in rec.take_samples() {
        aggregator.add(sample);
    }
    let results = aggregator.finish(Duration::from_secs(1));
    let meta = RunMeta {
        code_names: sigbench::drivers::vocabulary_named(driver)
            .unwrap()
            .code_names(),
        ..meta(START_MS, shard)
    };
    RunReport::new(meta, &results, &[]).unwrap()
}

/// Every place a report shows codes: the terminal summary, the HTML page, JUnit.
fn rendered(report: &RunReport) -> [String; 3] {
    [
        sigbench::report::render_summary(report, false),
        sigbench::report::render_html(report).unwrap(),
        sigbench::report::JunitSuite::of_run(report).to_xml(),
    ]
}

#[test]
fn codes_are_labelled_by_the_driver_that_ran_also_after_reading_and_merging() {
    let name = |r: &RunReport, op: &str, code: u32| {
        r.codes
            .iter()
            .find(|c| c.op == op && c.code == code)
            .unwrap_or_else(|| panic!("no {op} {code} in {:?}", r.codes))
            .name
            .clone()
    };
    // SIP: reason phrases; a status the driver does not name stays a bare number.
    let sip_codes = [
        ("REGISTER", 401, 2),
        ("REGISTER", 200, 4),
        ("INVITE", 486, 3),
        ("INVITE (UAS)", 486, 3),
        ("INVITE", 599, 1),
    ];
    let sip = coded("sip", Shard { index: 1, count: 2 }, &sip_codes);
    assert_eq!(name(&sip, "REGISTER", 401).as_deref(), Some("Unauthorized"));
    assert_eq!(name(&sip, "INVITE", 486).as_deref(), Some("Busy Here"));
    assert_eq!(name(&sip, "INVITE", 599), None);
    for text in rendered(&sip) {
        assert!(
            text.contains("401 Unauthorized ×2") || text.contains("401 Unauthorized<"),
            "{text}"
        );
        assert!(text.contains("486 Busy Here"), "{text}");
        assert!(!text.contains("NOT_LOGGED_IN"), "{text}");
    }
    // Native: the protocol's symbolic names, the same numbers named differently.
    let native = coded(
        "sigbench",
        Shard::WHOLE,
        &[("login", 401, 1), ("call", 200, 5)],
    );
    assert_eq!(
        name(&native, "login", 401).as_deref(),
        Some("NOT_LOGGED_IN")
    );
    for text in rendered(&native) {
        assert!(text.contains("401 NOT_LOGGED_IN"), "{text}");
        assert!(!text.contains("Unauthorized"), "{text}");
    }
    // Read back from JSON (`sigbench report`) and merged (`sigbench merge`): the names
    // travel in the report, nothing looks them up again.
    let other = coded("sip", Shard { index: 2, count: 2 }, &sip_codes);
    let read = |r: &RunReport| RunReport::from_json(&serde_json::to_string(r).unwrap()).unwrap();
    let (first, second) = (read(&sip), read(&other));
    assert_eq!(first, sip);
    let merged = RunReport::merge(&[first, second]).unwrap();
    assert_eq!(
        name(&merged, "INVITE (UAS)", 486).as_deref(),
        Some("Busy Here")
    );
    assert_eq!(name(&merged, "INVITE", 599), None);
    let summary = sigbench::report::render_summary(&merged, false);
    assert!(summary.contains("486 Busy Here ×6"), "{summary}");
    assert!(summary.contains("401 Unauthorized ×4"), "{summary}");
    assert!(summary.contains("599 ×2"), "{summary}");
    // A report from before code names reads, and shows bare numbers.
    let mut old: serde_json::Value = serde_json::to_value(&native).unwrap();
    for code in old["codes"].as_array_mut().unwrap() {
        code.as_object_mut().unwrap().remove("name");
    }
    let old = RunReport::from_json(&old.to_string()).unwrap();
    let summary = sigbench::report::render_summary(&old, false);
    assert!(summary.contains("401 ×1"), "{summary}");
}
