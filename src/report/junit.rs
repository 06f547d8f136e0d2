//! JUnit XML for CI: a generic writer ([`JunitReport`] → [`JunitSuite`] →
//! [`JunitCase`]) and the mapping of a run's report onto it ([`JunitSuite::of_run`]).
//!
//! The mapping for `run` and `merge`, one `<testsuite>` per scenario:
//! - classname `<scenario>.steps`: one passing testcase per step (metric) without
//!   failures, named after the step; one failing testcase per failure kind, named
//!   `<step> [<role>]: <reason>`, so a CI page lists the steps that held next to the ways
//!   the others failed. A step that recorded nothing and failed nowhere is skipped
//!   ("never reached").
//! - classname `<scenario>.thresholds`: one testcase per threshold.
//! - classname `<scenario>`: a failing `run` testcase when the run was interrupted.
//!
//! The conformance command builds its own cases (one per conformance case) with the same
//! types. The output follows the Ant/Surefire JUnit format that Jenkins, GitLab and GitHub
//! test reporters read.

use std::fmt::Write as _;
use std::path::Path;

use crate::metrics::Quantity;
use crate::metrics::histogram::format_micros;

use super::escape::{push_attr, push_text};
use super::json::{FailureReport, RunReport, ThresholdReport};
use super::summary::{code_label, verdict};

/// A JUnit document: `<testsuites>` with its suites.
#[derive(Clone, Debug, PartialEq)]
pub struct JunitReport {
    /// The `name` of `<testsuites>`, e.g. `sigbench run`.
    pub name: String,
    pub suites: Vec<JunitSuite>,
}

/// One `<testsuite>`.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct JunitSuite {
    pub name: String,
    /// Start, `YYYY-MM-DDTHH:MM:SS` (UTC), as the JUnit schema writes it.
    pub timestamp: Option<String>,
    /// Seconds.
    pub time: Option<f64>,
    /// `<property name value>` pairs, in order.
    pub properties: Vec<(String, String)>,
    pub cases: Vec<JunitCase>,
    /// Suite-level `<system-out>` (e.g. the verdict line).
    pub system_out: Option<String>,
    /// Suite-level `<system-err>` (e.g. warnings).
    pub system_err: Option<String>,
}

/// One `<testcase>`.
#[derive(Clone, Debug, PartialEq)]
pub struct JunitCase {
    pub classname: String,
    pub name: String,
    /// Seconds.
    pub time: Option<f64>,
    pub outcome: Outcome,
    /// The case's `<system-out>`: numbers that explain a pass.
    pub output: Option<String>,
}

/// How a testcase ended.
#[derive(Clone, Debug, PartialEq)]
pub enum Outcome {
    Pass,
    /// An expectation did not hold: `<failure message>details</failure>`.
    Fail {
        message: String,
        details: String,
    },
    /// The case could not be judged (e.g. the target was unreachable):
    /// `<error message>details</error>`.
    Error {
        message: String,
        details: String,
    },
    Skip {
        reason: String,
    },
}

impl JunitCase {
    /// A case with no time and no output.
    pub fn new(classname: impl Into<String>, name: impl Into<String>, outcome: Outcome) -> Self {
        JunitCase {
            classname: classname.into(),
            name: name.into(),
            time: None,
            outcome,
            output: None,
        }
    }
}

/// Counts of a suite's outcomes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct JunitCounts {
    pub tests: usize,
    pub failures: usize,
    pub errors: usize,
    pub skipped: usize,
}

impl JunitCounts {
    fn add(self, other: JunitCounts) -> JunitCounts {
        JunitCounts {
            tests: self.tests + other.tests,
            failures: self.failures + other.failures,
            errors: self.errors + other.errors,
            skipped: self.skipped + other.skipped,
        }
    }

    fn push_attrs(self, out: &mut String) {
        let _ = write!(
            out,
            " tests=\"{}\" failures=\"{}\" errors=\"{}\" skipped=\"{}\"",
            self.tests, self.failures, self.errors, self.skipped
        );
    }
}

fn push_time(out: &mut String, time: Option<f64>) {
    if let Some(t) = time.filter(|t| t.is_finite() && *t >= 0.0) {
        let _ = write!(out, " time=\"{t:.3}\"");
    }
}

fn push_element(out: &mut String, indent: &str, tag: &str, text: &str) {
    let _ = write!(out, "{indent}<{tag}>");
    push_text(out, text);
    let _ = writeln!(out, "</{tag}>");
}

impl JunitSuite {
    /// How many cases passed, failed, errored and were skipped.
    pub fn counts(&self) -> JunitCounts {
        let mut counts = JunitCounts {
            tests: self.cases.len(),
            ..JunitCounts::default()
        };
        for case in &self.cases {
            match case.outcome {
                Outcome::Pass => {}
                Outcome::Fail { .. } => counts.failures += 1,
                Outcome::Error { .. } => counts.errors += 1,
                Outcome::Skip { .. } => counts.skipped += 1,
            }
        }
        counts
    }

    /// The `<testsuite>` element (no XML declaration), indented by two spaces.
    pub fn to_xml(&self) -> String {
        let mut out = String::new();
        self.push_xml(&mut out);
        out
    }

    fn push_xml(&self, out: &mut String) {
        out.push_str("  <testsuite name=\"");
        push_attr(out, &self.name);
        out.push('"');
        self.counts().push_attrs(out);
        push_time(out, self.time);
        if let Some(ts) = &self.timestamp {
            out.push_str(" timestamp=\"");
            push_attr(out, ts);
            out.push('"');
        }
        out.push_str(">\n");
        if !self.properties.is_empty() {
            out.push_str("    <properties>\n");
            for (name, value) in &self.properties {
                out.push_str("      <property name=\"");
                push_attr(out, name);
                out.push_str("\" value=\"");
                push_attr(out, value);
                out.push_str("\"/>\n");
            }
            out.push_str("    </properties>\n");
        }
        for case in &self.cases {
            case.push_xml(out);
        }
        if let Some(text) = &self.system_out {
            push_element(out, "    ", "system-out", text);
        }
        if let Some(text) = &self.system_err {
            push_element(out, "    ", "system-err", text);
        }
        out.push_str("  </testsuite>\n");
    }
}

/// `<failure>` or `<error>` with its message attribute and details text.
fn push_detailed(out: &mut String, tag: &str, message: &str, details: &str) {
    let _ = write!(out, "      <{tag} message=\"");
    push_attr(out, message);
    let _ = write!(out, "\" type=\"{tag}\">");
    push_text(out, details);
    let _ = writeln!(out, "</{tag}>");
}

impl JunitCase {
    fn push_xml(&self, out: &mut String) {
        out.push_str("    <testcase classname=\"");
        push_attr(out, &self.classname);
        out.push_str("\" name=\"");
        push_attr(out, &self.name);
        out.push('"');
        push_time(out, self.time);
        if self.outcome == Outcome::Pass && self.output.is_none() {
            out.push_str("/>\n");
            return;
        }
        out.push_str(">\n");
        match &self.outcome {
            Outcome::Pass => {}
            Outcome::Fail { message, details } => push_detailed(out, "failure", message, details),
            Outcome::Error { message, details } => push_detailed(out, "error", message, details),
            Outcome::Skip { reason } => {
                out.push_str("      <skipped message=\"");
                push_attr(out, reason);
                out.push_str("\"/>\n");
            }
        }
        if let Some(text) = &self.output {
            push_element(out, "      ", "system-out", text);
        }
        out.push_str("    </testcase>\n");
    }
}

impl JunitReport {
    /// A document of one suite per run report (`run` with several scenarios, or `merge`).
    pub fn of_runs(name: impl Into<String>, reports: &[RunReport]) -> JunitReport {
        JunitReport {
            name: name.into(),
            suites: reports.iter().map(JunitSuite::of_run).collect(),
        }
    }

    /// Counts over all suites.
    pub fn counts(&self) -> JunitCounts {
        self.suites
            .iter()
            .map(JunitSuite::counts)
            .fold(JunitCounts::default(), JunitCounts::add)
    }

    /// The whole document, with XML declaration.
    pub fn to_xml(&self) -> String {
        let mut out =
            String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuites name=\"");
        push_attr(&mut out, &self.name);
        out.push('"');
        self.counts().push_attrs(&mut out);
        let times: Vec<f64> = self.suites.iter().filter_map(|s| s.time).collect();
        if !times.is_empty() {
            push_time(&mut out, Some(times.iter().sum()));
        }
        out.push_str(">\n");
        for suite in &self.suites {
            suite.push_xml(&mut out);
        }
        out.push_str("</testsuites>\n");
        out
    }

    /// Writes [`JunitReport::to_xml`] to `path` (replacing it: CI asks for a fixed name).
    pub fn write(&self, path: &Path) -> std::io::Result<()> {
        std::fs::write(path, self.to_xml())
    }
}

/// `2025-11-25T18:16:00` from `2025-11-25T18:16:00.123Z`.
fn junit_timestamp(rfc3339: &str) -> String {
    rfc3339.get(..19).unwrap_or(rfc3339).to_owned()
}

/// A threshold's limit in human units, `<= 50.0ms`.
pub(crate) fn limit_text(t: &ThresholdReport) -> String {
    let limit = Quantity::from_unit(&t.unit, t.limit)
        .map_or_else(|| format!("{} {}", t.limit, t.unit), |q| q.to_string());
    format!("{} {limit}", t.op.symbol())
}

fn failure_case(classname: &str, report: &RunReport, f: &FailureReport) -> JunitCase {
    let message = format!(
        "{}: {} ({} time{} in {} sessions)",
        f.step,
        f.reason,
        f.count,
        if f.count == 1 { "" } else { "s" },
        report.sessions.done
    );
    let mut details = format!(
        "step:   {}\nrole:   {}\nreason: {}\ncount:  {} failure{} in {} sessions ({} failed)\n",
        f.step,
        f.role,
        f.reason,
        f.count,
        if f.count == 1 { "" } else { "s" },
        report.sessions.done,
        report.sessions.failed
    );
    for (i, sample) in f.samples.iter().enumerate() {
        let _ = writeln!(
            details,
            "\nsample {}: session {} at {:.3}s",
            i + 1,
            sample.session,
            sample.at_ms as f64 / 1000.0
        );
        if !sample.detail.is_empty() {
            let _ = writeln!(details, "  {}", sample.detail);
        }
        for frame in &sample.frames {
            let _ = writeln!(details, "  {frame}");
        }
    }
    JunitCase::new(
        classname,
        format!("{} [{}]: {}", f.step, f.role, f.reason),
        Outcome::Fail { message, details },
    )
}

fn threshold_case(classname: &str, t: &ThresholdReport) -> JunitCase {
    let observed = t.observed_text();
    let limit = limit_text(t);
    let subject = match &t.metric {
        Some(metric) => format!("{} of {metric}", t.stat),
        None => t.stat.to_string(),
    };
    let outcome = if t.pass {
        Outcome::Pass
    } else {
        let mut details = format!(
            "threshold: {}\nstatistic: {subject}\nlimit:     {limit}\nobserved:  {observed}\n",
            t.name
        );
        if t.observed.is_none() {
            details.push_str(
                "\nThe run recorded no data for this statistic (the step never completed, or \
                 no session finished), so the threshold cannot hold.\n",
            );
        }
        Outcome::Fail {
            message: format!("{subject} must be {limit}, observed {observed}"),
            details,
        }
    };
    let mut case = JunitCase::new(classname, t.name.clone(), outcome);
    if t.pass {
        case.output = Some(format!("observed {observed}, limit {limit}"));
    }
    case
}

/// The numbers of a step: `200 latencies: p50 855µs, p90 …, p99 21.5ms, max 23.5ms`.
fn step_output(report: &RunReport, name: &str) -> Option<String> {
    let m = report.metrics.iter().find(|m| m.name == name)?;
    let text = format!(
        "{} latencies: p50 {}, p90 {}, p99 {}, max {}",
        m.count,
        format_micros(m.p50_us),
        format_micros(m.p90_us),
        format_micros(m.p99_us),
        format_micros(m.max_us)
    );
    Some(text)
}

/// The verdict line and the response codes per op.
fn suite_output(report: &RunReport) -> String {
    let mut text = verdict(report);
    let mut ops: Vec<&str> = Vec::new();
    for c in &report.codes {
        if !ops.contains(&c.op.as_str()) {
            ops.push(&c.op);
        }
    }
    for op in ops {
        let codes: Vec<String> = report
            .codes
            .iter()
            .filter(|c| c.op == op)
            .map(|c| format!("{} ×{}", code_label(c.code), c.count))
            .collect();
        let _ = write!(text, "\ncodes of {op}: {}", codes.join(", "));
    }
    text
}

impl JunitSuite {
    /// The suite of one run (or merged) report; see the module docs for the mapping.
    pub fn of_run(report: &RunReport) -> JunitSuite {
        let scenario = &report.meta.scenario;
        let steps = format!("{scenario}.steps");
        let thresholds = format!("{scenario}.thresholds");
        let mut cases = Vec::new();
        for metric in &report.metrics {
            let failures: Vec<&FailureReport> = report
                .failures
                .iter()
                .filter(|f| f.step == metric.name)
                .collect();
            if failures.is_empty() {
                let outcome = if metric.count == 0 {
                    Outcome::Skip {
                        reason: "never reached: no latency recorded and no failure at this step"
                            .to_owned(),
                    }
                } else {
                    Outcome::Pass
                };
                let mut case = JunitCase::new(&steps, metric.name.clone(), outcome);
                case.output = step_output(report, &metric.name);
                cases.push(case);
            } else {
                cases.extend(failures.iter().map(|f| failure_case(&steps, report, f)));
            }
        }
        cases.extend(
            report
                .failures
                .iter()
                .filter(|f| !report.metrics.iter().any(|m| m.name == f.step))
                .map(|f| failure_case(&steps, report, f)),
        );
        cases.extend(
            report
                .thresholds
                .iter()
                .map(|t| threshold_case(&thresholds, t)),
        );
        if report.meta.interrupted {
            cases.push(JunitCase::new(
                scenario.clone(),
                "run",
                Outcome::Fail {
                    message: format!(
                        "interrupted after {:.1}s: {} sessions done",
                        report.meta.duration_ms as f64 / 1000.0,
                        report.sessions.done
                    ),
                    details: format!(
                        "The run was ended early (Ctrl-C or SIGTERM); its numbers cover only \
                         part of the planned load ({}).\n",
                        report.meta.load
                    ),
                },
            ));
        }
        let shards: Vec<String> = report.meta.shards.iter().map(ToString::to_string).collect();
        let properties = [
            ("scenario_file", report.meta.scenario_file.clone()),
            ("target", report.meta.target.clone()),
            ("load", report.meta.load.clone()),
            ("shards", shards.join(",")),
            ("started_at", report.meta.started_at.clone()),
            ("sessions_done", report.sessions.done.to_string()),
            ("sessions_failed", report.sessions.failed.to_string()),
            ("sigbench_version", report.meta.sigbench_version.clone()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect();
        JunitSuite {
            name: scenario.clone(),
            timestamp: Some(junit_timestamp(&report.meta.started_at)),
            time: Some(report.meta.duration_ms as f64 / 1000.0),
            properties,
            cases,
            system_out: Some(suite_output(report)),
            system_err: (!report.warnings.is_empty()).then(|| report.warnings.join("\n")),
        }
    }

    /// A suite for a scenario that ended without a report (target unreachable, login
    /// impossible, a runner error): one errored `run` case.
    pub fn not_run(scenario: &str, exit_code: u8) -> JunitSuite {
        JunitSuite {
            name: scenario.to_owned(),
            cases: vec![JunitCase::new(
                scenario,
                "run",
                Outcome::Error {
                    message: format!("the scenario did not run (exit code {exit_code})"),
                    details: "No report was produced; the reason is in the log of sigbench \
                              run (exit code 3: target unreachable or login impossible; 2: \
                              usage or scenario error)."
                        .to_owned(),
                },
            )],
            ..JunitSuite::default()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_and_empty_pass_is_self_closing() {
        let suite = JunitSuite {
            name: "s".into(),
            cases: vec![
                JunitCase::new("c", "ok", Outcome::Pass),
                JunitCase::new(
                    "c",
                    "bad <1>",
                    Outcome::Fail {
                        message: "expected \"a\"".into(),
                        details: "-> {\"op\":\"x\"}\n<- &".into(),
                    },
                ),
                JunitCase::new("c", "skip", Outcome::Skip { reason: "r".into() }),
            ],
            ..JunitSuite::default()
        };
        let counts = suite.counts();
        assert_eq!((counts.tests, counts.failures, counts.skipped), (3, 1, 1));
        let xml = suite.to_xml();
        assert!(
            xml.contains("<testcase classname=\"c\" name=\"ok\"/>"),
            "{xml}"
        );
        assert!(xml.contains("name=\"bad &lt;1&gt;\""), "{xml}");
        assert!(xml.contains("message=\"expected &quot;a&quot;\""), "{xml}");
        assert!(xml.contains("&lt;- &amp;</failure>"), "{xml}");
    }

    #[test]
    fn timestamp_drops_fraction_and_zone() {
        assert_eq!(
            junit_timestamp("2025-11-25T18:16:00.123Z"),
            "2025-11-25T18:16:00"
        );
        assert_eq!(junit_timestamp("short"), "short");
    }
}
