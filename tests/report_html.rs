//! The HTML report's structure: self-contained (no script, nothing loaded from a URL),
//! one chart per metric plus the timeline charts, escaped failure samples, written next
//! to the JSON by `run`, and re-rendered byte for byte by `sigbench report`.

mod procs;

use procs::{TempDir, call_scenario, sigbench};
use sigbench::report::{RunReport, render_html};

/// A failing run's JSON report and the HTML `run` wrote next to it.
fn failing_run(dir: &TempDir) -> (std::path::PathBuf, std::path::PathBuf) {
    let scenario = dir.write(
        "html.yaml",
        &call_scenario("html-run", 10, true, "  call: { p99: 1s }\n  failures: 0\n"),
    );
    let out = sigbench(
        dir,
        &[
            "run",
            scenario.to_str().unwrap(),
            "--report-dir",
            dir.join("reports").to_str().unwrap(),
        ],
    );
    assert_eq!(out.code, Some(1), "{}", out.text());
    (out.path_after("report: "), out.path_after("html: "))
}

fn occurrences(haystack: &str, needle: &str) -> usize {
    haystack.matches(needle).count()
}

#[test]
fn run_writes_a_self_contained_page_that_report_re_renders_identically() {
    let dir = TempDir::new("html");
    let (json, html_path) = failing_run(&dir);
    assert_eq!(html_path, json.with_extension("html"), "next to the JSON");
    let html = std::fs::read_to_string(&html_path).unwrap();
    let report = RunReport::read(&json).unwrap();

    // Self-contained: no script, no external resource of any kind.
    assert!(html.starts_with("<!DOCTYPE html>"));
    assert!(html.trim_end().ends_with("</html>"));
    let lower = html.to_ascii_lowercase();
    for banned in [
        "<script",
        "http://",
        "https://",
        " src=",
        "href=",
        "@import",
        "url(",
        "<link",
        "<iframe",
        "<img",
        "@font-face",
    ] {
        assert!(!lower.contains(banned), "the page contains '{banned}'");
    }
    assert_eq!(occurrences(&html, "<style>"), 1);

    // One percentile chart per metric, plus throughput, latency over time and sessions in
    // flight (a closed-model run: no arrival-rate chart).
    assert_eq!(
        occurrences(&html, "<svg class=\"chart percentiles\""),
        report.metrics.len()
    );
    assert_eq!(occurrences(&html, "<svg class=\"chart timeline\""), 3);
    assert!(html.contains("<b>Sessions in flight</b>") && !html.contains("<b>Arrival rate</b>"));
    assert_eq!(occurrences(&html, "<svg"), report.metrics.len() + 3);
    assert_eq!(occurrences(&html, "<svg"), occurrences(&html, "</svg>"));
    for m in &report.metrics {
        assert!(
            html.contains(&format!("<figcaption><b>{}</b>", m.name)),
            "{}",
            m.name
        );
    }
    // The log-scale percentile axis.
    for tick in [">0%<", ">90%<", ">99%<"] {
        assert!(html.contains(tick), "percentile tick {tick}");
    }

    // Verdict, thresholds, codes and the failure with its escaped sample frames.
    assert!(html.contains("<span class=\"badge failed\">failed</span>"));
    assert!(html.contains("<span class=\"fail-mark\">FAIL</span>"));
    assert!(html.contains("200 OK"));
    let failure = &report.failures[0];
    let frame = &failure.samples[0].frames[0];
    assert!(frame.contains('"'), "{frame}");
    assert!(!html.contains(frame.as_str()), "frames are escaped");
    assert!(html.contains(&frame.replace('"', "&quot;").replace('>', "&gt;")));

    // `report` re-renders the same bytes from the JSON.
    let again = dir.join("again.html");
    let out = sigbench(
        &dir,
        &[
            "report",
            json.to_str().unwrap(),
            "--html",
            again.to_str().unwrap(),
        ],
    );
    assert_eq!(out.code, Some(0), "{}", out.text());
    assert!(
        out.stdout.contains("html-run: 10 sessions"),
        "prints the summary"
    );
    assert_eq!(std::fs::read_to_string(&again).unwrap(), html);
    assert_eq!(render_html(&report).unwrap(), html, "the library agrees");
}

#[test]
fn hostile_report_text_cannot_inject_markup() {
    let dir = TempDir::new("html-hostile");
    let (json, _) = failing_run(&dir);
    let mut report = RunReport::read(&json).unwrap();
    let evil = "<script>alert('x')</script><img src=x onerror=y>";
    report.meta.scenario = evil.to_owned();
    report.meta.target = evil.to_owned();
    report.warnings.push(evil.to_owned());
    report.failures[0].reason = evil.to_owned();
    report.failures[0].samples[0].detail = evil.to_owned();
    report.failures[0].samples[0]
        .frames
        .push(format!("<- {evil}"));
    report.metrics[0].name = evil.to_owned();
    report.timeline.iter_mut().for_each(|i| i.metrics.clear());
    let html = render_html(&report).unwrap();
    assert!(!html.contains("<script"), "no script tag gets through");
    assert!(!html.contains("<img"), "no element gets through");
    assert!(html.contains("&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;"));
}

#[test]
fn report_on_a_missing_or_broken_file_exits_2_naming_it() {
    let dir = TempDir::new("html-bad");
    let missing = dir.join("missing.json");
    let out = sigbench(&dir, &["report", missing.to_str().unwrap()]);
    assert_eq!(out.code, Some(2));
    assert!(out.stderr.contains("missing.json"), "{}", out.text());
    let broken = dir.write("broken.json", "{\"format\": \"sigbench-report/1\"}");
    let out = sigbench(&dir, &["report", broken.to_str().unwrap()]);
    assert_eq!(out.code, Some(2));
    assert!(out.stderr.contains("broken.json"), "{}", out.text());
}

/// A report built in-process: `values` (µs) for `call`, spread over `secs` seconds.
fn synthetic(values: &[u64], secs: u64, interrupted: bool) -> RunReport {
    use std::time::{Duration, Instant, UNIX_EPOCH};

    use sigbench::metrics::{self, Aggregator, MetricSet, Recorder};
    use sigbench::report::{RunMeta, Shard};

    let set = MetricSet::new(["call", "never reached", metrics::SESSION]).unwrap();
    let call = set.id("call").unwrap();
    let origin = Instant::now();
    let mut rec = Recorder::detached(&set, origin);
    for (i, &us) in values.iter().enumerate() {
        let at = origin + Duration::from_millis(i as u64 * secs * 1000 / values.len() as u64);
        rec.record_at(call, Duration::from_micros(us), at);
        rec.session_done(true);
    }
    let mut aggregator = Aggregator::new(&set);
    for sample in rec.take_samples() {
        aggregator.add(sample);
    }
    let results = aggregator.finish(Duration::from_secs(secs));
    let meta = RunMeta {
        scenario: "synthetic".into(),
        scenario_file: "synthetic.yaml".into(),
        target: "ws://127.0.0.1:9000/".into(),
        started_at: UNIX_EPOCH + Duration::from_secs(1_764_094_560),
        shard: Shard::WHOLE,
        load: "closed, concurrency 1".into(),
        interrupted,
        stopped_early: None,
        flows: Vec::new(),
        aborts_expected: false,
        code_names: sigbench::drivers::vocabulary_named("sigbench")
            .unwrap()
            .code_names(),
    };
    RunReport::new(meta, &results, &[]).unwrap()
}

#[test]
fn an_empty_interrupted_run_renders_and_says_so() {
    let report = synthetic(&[], 0, true);
    let html = render_html(&report).unwrap();
    assert!(html.contains("<span class=\"badge interrupted\">interrupted</span>"));
    assert_eq!(
        occurrences(&html, ">no data</text>"),
        3,
        "one per metric chart"
    );
    assert_eq!(occurrences(&html, "<svg"), 3 + 2);
    assert!(
        !html.contains("NaN") && !html.contains("inf"),
        "no broken numbers"
    );

    let junit = sigbench::report::JunitReport::of_runs("t", std::slice::from_ref(&report));
    let xml = junit.to_xml();
    let doc = roxmltree::Document::parse(&xml).unwrap();
    let suite = doc.root_element().first_element_child().unwrap();
    assert_eq!(suite.attribute("skipped"), Some("3"), "{xml}");
    assert_eq!(
        suite.attribute("failures"),
        Some("1"),
        "the interrupted run: {xml}"
    );
}

#[test]
fn a_long_run_is_drawn_in_buckets_with_exact_percentiles() {
    // 20 minutes, one value a second: 1 ms, but 500 ms in the first second of each minute.
    let values: Vec<u64> = (0..1200u64)
        .map(|s| if s % 60 == 0 { 500_000 } else { 1_000 })
        .collect();
    let report = synthetic(&values, 1200, false);
    assert_eq!(report.timeline.len(), 1200);
    let html = render_html(&report).unwrap();
    assert!(
        html.contains("in 5 s buckets"),
        "1200 s / 240 bars → 5 s buckets"
    );
    let bars = occurrences(&html, "<rect class=\"bar ok\"");
    assert_eq!(bars, 240);
    assert!(!html.contains("NaN"));
    // Re-rendering is deterministic.
    assert_eq!(render_html(&report).unwrap(), html);
}

/// Runs the shipped mix with `sessions` sessions (2 at a time); its JSON report and the
/// run's output.
fn run_the_mix(dir: &TempDir, sessions: u32) -> (std::path::PathBuf, procs::Output) {
    let sessions = sessions.to_string();
    let out = sigbench(
        dir,
        &[
            "run",
            "scenarios/load/mix.yaml",
            "--sessions",
            &sessions,
            "--concurrency",
            "2",
            "--report-dir",
            dir.join("reports").to_str().unwrap(),
        ],
    );
    assert!(matches!(out.code, Some(0 | 1)), "{}", out.text());
    (out.path_after("report: "), out)
}

/// A mix's page has a "Flows" section: per flow its share, sessions, failures, session
/// latencies, the p99 of its own metrics and its thresholds; a flow with failed
/// sessions stands out. A single-flow run has no such section.
#[test]
fn a_mix_has_a_flows_section_with_each_flow() {
    let dir = TempDir::new("html-flows");
    let (json, _) = run_the_mix(&dir, 20);
    let mut report = RunReport::read(&json).unwrap();
    let html = render_html(&report).unwrap();
    let section = html
        .split("<section id=\"flows\">")
        .nth(1)
        .and_then(|rest| rest.split("</section>").next())
        .expect("a flows section");
    assert!(
        section.contains("<h2>Flows<span class=\"sub\">3 flows, no failed session</span></h2>"),
        "{section}"
    );
    // 70/20/10 of 20 sessions, in the scenario's order, all ok.
    for (flow, share, done) in [
        ("accept", "70.0%", 14),
        ("reject", "20.0%", 4),
        ("cancel", "10.0%", 2),
    ] {
        let row = section
            .lines()
            .find(|l| l.starts_with(&format!("<tr><td>{flow}</td>")))
            .unwrap_or_else(|| panic!("no row for {flow}: {section}"));
        assert!(
            row.contains(&format!("<td class=\"num\">{share}</td><td class=\"num\">{done}</td><td class=\"num\">{done}</td><td class=\"num\">0</td>")),
            "{row}"
        );
        assert!(row.contains("invite delivered "), "its metrics' p99: {row}");
    }
    // The section is the report's: a flow with failed sessions is marked.
    report.flows[2].sessions.failed = 1;
    let html = render_html(&report).unwrap();
    assert!(html.contains("<tr class=\"bad\"><td>cancel</td>"), "{html}");
    assert!(html.contains("1 of 3 flows with failed sessions"));
    // A single flow: no section.
    let (single, _) = failing_run(&dir);
    let html = render_html(&RunReport::read(&single).unwrap()).unwrap();
    assert!(!html.contains("id=\"flows\""));
}

/// A flow's `<flow>/failed sessions` metric is a count: the flows table shows it, and no
/// report gives it a latency row or an empty latency chart (the summary, JUnit and
/// `compare` neither).
#[test]
fn a_flows_failed_sessions_are_a_count_not_a_latency() {
    let dir = TempDir::new("html-flow-counts");
    let (json, out) = run_the_mix(&dir, 10);
    let report = RunReport::read(&json).unwrap();
    let counts: Vec<&str> = report
        .metrics
        .iter()
        .map(|m| m.name.as_str())
        .filter(|n| report.is_count_metric(n))
        .collect();
    assert_eq!(
        counts,
        [
            "accept/failed sessions",
            "reject/failed sessions",
            "cancel/failed sessions"
        ],
        "one count per flow, and nothing else is one"
    );
    let html = render_html(&report).unwrap();
    let latency = report.metrics.len() - counts.len();
    assert_eq!(
        occurrences(&html, "<svg class=\"chart percentiles\""),
        latency
    );
    for name in &counts {
        assert!(!html.contains(&format!("<td>{name}</td>")), "{name}: a row");
        assert!(!html.contains(&format!("<b>{name}</b>")), "{name}: a chart");
        assert!(
            !html.contains(&format!("</span>{name}</li>")),
            "{name}: a line"
        );
    }
    // The summary's metrics table neither (its thresholds may still name the metric).
    assert!(
        !out.stdout
            .lines()
            .any(|l| l.starts_with("accept/failed sessions ")),
        "{}",
        out.stdout
    );

    let junit = sigbench::report::JunitReport::of_runs("t", std::slice::from_ref(&report));
    let xml = junit.to_xml();
    for name in &counts {
        assert!(!xml.contains(&format!("name=\"{name}\"")), "{xml}");
    }

    // `compare` shows them as counts with the sessions, and refuses a latency bound.
    let out = sigbench(
        &dir,
        &["compare", json.to_str().unwrap(), json.to_str().unwrap()],
    );
    assert_eq!(out.code, Some(0), "{}", out.text());
    let (sessions, latency) = out.stdout.split_once("\nlatency").unwrap();
    assert!(
        sessions.contains("  accept/failed sessions") && sessions.contains("±0"),
        "{sessions}"
    );
    assert!(!latency.contains("failed sessions"), "{latency}");
    let out = sigbench(
        &dir,
        &[
            "compare",
            json.to_str().unwrap(),
            json.to_str().unwrap(),
            "--max-regression",
            "accept/failed sessions.p99=10%",
        ],
    );
    assert_eq!(out.code, Some(2), "{}", out.text());
    assert!(
        out.stderr.contains("'accept/failed sessions' is a count"),
        "{}",
        out.text()
    );
}
