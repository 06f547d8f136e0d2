//! A run's (or merged) report as JUnit: one `<testsuite>` per scenario.
//!
//! - classname `<scenario>.steps`: one passing testcase per step (metric) without
//!   failures, named after the step; one failing testcase per failure kind, named
//!   `<step> [<role>]: <reason>`, so a CI page lists the steps that held next to the ways
//!   the others failed. A step that recorded nothing and failed nowhere is skipped
//!   ("never reached").
//! - classname `<scenario>.thresholds`: one testcase per threshold.
//! - classname `<scenario>`: a failing `run` testcase when the run was interrupted or
//!   stopped itself early.

use std::fmt::Write as _;

use crate::metrics::Quantity;
use crate::metrics::histogram::format_micros;

use super::super::json::{FailureReport, RunReport, ThresholdReport};
use super::super::summary::verdict;
use super::{JunitCase, JunitReport, JunitSuite, Outcome};

impl JunitReport {
    /// A document of one suite per run report (`run` with several scenarios, or `merge`).
    pub fn of_runs(name: impl Into<String>, reports: &[RunReport]) -> JunitReport {
        JunitReport {
            name: name.into(),
            suites: reports.iter().map(JunitSuite::of_run).collect(),
        }
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
            "\nsample {}: {} at {:.3}s",
            i + 1,
            sample.where_text(),
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
    for (op, codes) in report.codes_by_op() {
        let codes: Vec<String> = codes
            .iter()
            .map(|c| format!("{} ×{}", c.label(), c.count))
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
        // A flow's failed sessions are a count, not a step: its sessions' failures are
        // the cases of the steps that failed.
        for metric in report.latency_metrics() {
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
        if let Some(stop) = &report.meta.stopped_early {
            cases.push(JunitCase::new(
                scenario.clone(),
                "run",
                Outcome::Fail {
                    message: format!(
                        "stopped early at {:.1}s: {}",
                        stop.at_ms as f64 / 1000.0,
                        stop.reason
                    ),
                    details: format!(
                        "The run stopped itself before its load model ended; its numbers \
                         cover only part of the planned load ({}).\n",
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
    pub fn not_run(scenario: &str, exit_code: u8, reason: &str) -> JunitSuite {
        JunitSuite {
            name: scenario.to_owned(),
            cases: vec![JunitCase::new(
                scenario,
                "run",
                Outcome::Error {
                    message: format!("the scenario did not run (exit code {exit_code}): {reason}"),
                    details: format!(
                        "No report was produced: {reason}. Exit codes: 3 target unreachable, \
                         unresponsive or login impossible; 2 usage or scenario error; 130 \
                         interrupted."
                    ),
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
    fn timestamp_drops_fraction_and_zone() {
        assert_eq!(
            junit_timestamp("2025-11-25T18:16:00.123Z"),
            "2025-11-25T18:16:00"
        );
        assert_eq!(junit_timestamp("short"), "short");
    }
}
