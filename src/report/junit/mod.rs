//! JUnit XML for CI: a generic writer ([`JunitReport`] → [`JunitSuite`] →
//! [`JunitCase`] with an [`Outcome`]), and in `run` the mapping of a run's report onto
//! it ([`JunitSuite::of_run`], [`JunitReport::of_runs`]). The conformance command builds
//! its own cases (one per conformance case) with the same types. The output follows the
//! Ant/Surefire JUnit format that Jenkins, GitLab and GitHub test reporters read.

use std::fmt::Write as _;
use std::path::Path;

use super::escape::{push_attr, push_text};

mod run;

pub(crate) use run::limit_text;

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

    /// Writes [`JunitReport::to_xml`] to `path` (replacing it, atomically: CI asks for a
    /// fixed name), creating its folder.
    pub fn write(&self, path: &Path) -> std::io::Result<()> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)?;
        }
        crate::report::file::write_replacing(path, self.to_xml().as_bytes())
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
}
