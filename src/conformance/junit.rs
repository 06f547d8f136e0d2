//! JUnit XML of a conformance run, in the Ant/Surefire format that Jenkins, GitLab and
//! GitHub test reporters read: one `<testsuite>` per suite file, one `<testcase>` per
//! case named `P-6.1 invite-online`. `FAIL` is a `<failure>`, `ERROR` an `<error>`,
//! `SKIP` and `XFAIL` are `<skipped>` (with the reason), `XPASS` passes with a note.

use std::fmt::Write as _;

use super::{CaseResult, SuiteOutcome, Verdict};

/// The XML document.
pub fn to_xml(outcome: &SuiteOutcome) -> String {
    let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    let counts = outcome.counts();
    let _ = writeln!(
        out,
        "<testsuites name=\"sigbench conformance\" tests=\"{}\" failures=\"{}\" errors=\"{}\" skipped=\"{}\" time=\"{:.3}\">",
        outcome.cases.len(),
        counts.fail,
        counts.error,
        counts.skip + counts.xfail,
        outcome.duration.as_secs_f64()
    );
    let mut files: Vec<&str> = Vec::new();
    for case in &outcome.cases {
        if !files.contains(&case.file.as_str()) {
            files.push(&case.file);
        }
    }
    let timestamp: String = humantime::format_rfc3339_seconds(outcome.started_at)
        .to_string()
        .trim_end_matches('Z')
        .to_string();
    for file in files {
        let cases: Vec<&CaseResult> = outcome.cases.iter().filter(|c| c.file == file).collect();
        let suite = file.trim_end_matches(".yaml");
        let count = |v: &[Verdict]| cases.iter().filter(|c| v.contains(&c.verdict)).count();
        let time: f64 = cases.iter().map(|c| c.duration.as_secs_f64()).sum();
        out.push_str("  <testsuite name=\"");
        push_escaped(&mut out, suite);
        let _ = writeln!(
            out,
            "\" tests=\"{}\" failures=\"{}\" errors=\"{}\" skipped=\"{}\" time=\"{time:.3}\" timestamp=\"{timestamp}\">",
            cases.len(),
            count(&[Verdict::Fail]),
            count(&[Verdict::Error]),
            count(&[Verdict::Skip, Verdict::Xfail]),
        );
        out.push_str("    <properties>\n      <property name=\"target\" value=\"");
        push_escaped(&mut out, &outcome.target);
        out.push_str("\"/>\n    </properties>\n");
        for case in cases {
            push_case(&mut out, suite, case);
        }
        out.push_str("  </testsuite>\n");
    }
    out.push_str("</testsuites>");
    out
}

fn push_case(out: &mut String, suite: &str, case: &CaseResult) {
    out.push_str("    <testcase classname=\"conformance.");
    push_escaped(out, suite);
    out.push_str("\" name=\"");
    push_escaped(out, &format!("{} {}", case.spec, case.name));
    let _ = writeln!(out, "\" time=\"{:.3}\">", case.duration.as_secs_f64());
    let details = details(case);
    let message = case
        .difference
        .as_ref()
        .map(|d| format!("{} [{}]: {}", d.step, d.role, d.reason))
        .or_else(|| case.note.clone())
        .unwrap_or_default();
    match case.verdict {
        Verdict::Pass => {}
        Verdict::Fail | Verdict::Error => {
            let tag = if case.verdict == Verdict::Fail {
                "failure"
            } else {
                "error"
            };
            let _ = write!(out, "      <{tag} message=\"");
            push_escaped(out, &message);
            out.push_str("\">");
            push_escaped(out, &details);
            let _ = writeln!(out, "</{tag}>");
        }
        Verdict::Skip | Verdict::Xfail => {
            out.push_str("      <skipped message=\"");
            push_escaped(out, case.note.as_deref().unwrap_or_default());
            out.push_str("\"/>\n");
        }
        Verdict::Xpass => {
            out.push_str("      <system-out>");
            push_escaped(out, case.note.as_deref().unwrap_or_default());
            out.push_str("</system-out>\n");
        }
    }
    if case.verdict == Verdict::Xfail && !details.is_empty() {
        out.push_str("      <system-out>");
        push_escaped(out, &details);
        out.push_str("</system-out>\n");
    }
    out.push_str("    </testcase>\n");
}

/// The description, the first difference and its frames, as text.
fn details(case: &CaseResult) -> String {
    let mut text = case.description.clone();
    if let Some(note) = &case.note {
        text.push('\n');
        text.push_str(note);
    }
    if let Some(d) = &case.difference {
        let _ = write!(text, "\nstep '{}' [{}]: {}", d.step, d.role, d.reason);
        if !d.detail.is_empty() {
            text.push('\n');
            text.push_str(&d.detail);
        }
        for frame in &d.frames {
            text.push('\n');
            text.push_str(frame);
        }
    }
    text
}

/// XML-escapes text for attributes and element content; drops characters XML 1.0
/// cannot carry.
fn push_escaped(out: &mut String, text: &str) {
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\n' | '\t' | '\r' => {
                let _ = write!(out, "&#{};", c as u32);
            }
            c if (c as u32) < 0x20 || c == '\u{FFFE}' || c == '\u{FFFF}' => {}
            c => out.push(c),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::conformance::{Difference, TargetSettings};
    use std::time::{Duration, SystemTime};

    fn case(name: &str, verdict: Verdict) -> CaseResult {
        CaseResult {
            spec: "P-6.2".into(),
            name: name.into(),
            file: "p6-invitations.yaml".into(),
            description: "Cancel <notifies> \"the\" invitee.".into(),
            verdict,
            note: (verdict != Verdict::Pass).then(|| "why & how".to_string()),
            difference: (verdict == Verdict::Fail).then(|| Difference {
                step: "cancel delivered".into(),
                role: "bob".into(),
                reason: "no CANCEL_INVITE within 2s".into(),
                detail: "waited".into(),
                frames: vec!["<- {\"push\":\"notify\"}".into()],
            }),
            sessions_failed: 0,
            sessions: 1,
            duration: Duration::from_millis(12),
        }
    }

    #[test]
    fn verdicts_map_to_junit_elements() {
        let outcome = SuiteOutcome {
            target: "ws://x/".into(),
            started_at: SystemTime::UNIX_EPOCH,
            duration: Duration::from_secs(1),
            settings: TargetSettings::default(),
            cases: vec![
                case("a", Verdict::Pass),
                case("b", Verdict::Fail),
                case("c", Verdict::Skip),
                case("d", Verdict::Xfail),
                case("e", Verdict::Xpass),
            ],
        };
        let xml = to_xml(&outcome);
        assert!(xml.contains("<testsuites name=\"sigbench conformance\" tests=\"5\" failures=\"1\" errors=\"0\" skipped=\"2\""));
        assert!(
            xml.contains("<testcase classname=\"conformance.p6-invitations\" name=\"P-6.2 b\"")
        );
        assert!(
            xml.contains(
                "<failure message=\"cancel delivered [bob]: no CANCEL_INVITE within 2s\">"
            )
        );
        assert!(xml.contains("Cancel &lt;notifies&gt; &quot;the&quot; invitee."));
        assert!(xml.contains("<skipped message=\"why &amp; how\"/>"));
        assert_eq!(xml.matches("<testcase ").count(), 5);
        assert_eq!(xml.matches("</testcase>").count(), 5);
    }
}
