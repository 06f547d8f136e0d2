//! A conformance run as JUnit XML, through the generic writer of
//! [`crate::report::junit`]: one `<testsuite>` per suite file, one `<testcase>` per case
//! named `P-6.1 invite-online`. `FAIL` is a `<failure>` whose message is the first
//! difference, `ERROR` an `<error>`, `SKIP` and `XFAIL` are `<skipped>` (with the reason),
//! `XPASS` passes with its note in `<system-out>`. A non-strict case carries
//! `[non-strict]` in its name; its failure without `--strict` is a `<skipped>` whose
//! message starts with `NON-STRICT:`. A passed case lists its negative checks, and how
//! long each waited, in `<system-out>`.

use std::fmt::Write as _;

use super::{CaseResult, SuiteOutcome, Tier, Verdict};
use crate::report::{JunitCase, JunitReport, JunitSuite, Outcome};

/// The JUnit document of a run.
pub fn report(outcome: &SuiteOutcome) -> JunitReport {
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
    let suites = files
        .into_iter()
        .map(|file| {
            let suite = file.trim_end_matches(".yaml");
            let cases: Vec<&CaseResult> = outcome.cases.iter().filter(|c| c.file == file).collect();
            JunitSuite {
                name: suite.to_string(),
                timestamp: Some(timestamp.clone()),
                time: Some(cases.iter().map(|c| c.duration.as_secs_f64()).sum()),
                properties: vec![("target".to_string(), outcome.target.clone())],
                cases: cases.iter().map(|c| case(suite, c)).collect(),
                system_out: None,
                system_err: None,
            }
        })
        .collect();
    JunitReport {
        name: "sigbench conformance".into(),
        suites,
    }
}

/// The XML text of [`report`].
pub fn to_xml(outcome: &SuiteOutcome) -> String {
    report(outcome).to_xml()
}

fn case(suite: &str, c: &CaseResult) -> JunitCase {
    let details = details(c);
    let message = c
        .difference
        .as_ref()
        .map(|d| format!("{} [{}]: {}", d.step, d.role, d.reason))
        .or_else(|| c.note.clone())
        .unwrap_or_default();
    let note = c.note.clone().unwrap_or_default();
    let (outcome, output) = match c.verdict {
        Verdict::Pass => (Outcome::Pass, None),
        Verdict::Fail => (Outcome::Fail { message, details }, None),
        Verdict::Error => (Outcome::Error { message, details }, None),
        Verdict::Skip => (Outcome::Skip { reason: note }, None),
        Verdict::Xfail => (Outcome::Skip { reason: note }, Some(details)),
        Verdict::Xpass => (Outcome::Pass, Some(note)),
        Verdict::NonStrict => (
            Outcome::Skip {
                reason: format!("NON-STRICT: {message} ({note})"),
            },
            Some(details),
        ),
    };
    let output = match (output, c.negative_checks.is_empty()) {
        (output, true) => output,
        (output, false) => {
            let mut text = output.map(|o| format!("{o}\n")).unwrap_or_default();
            text.push_str("negative checks (nothing came within):");
            for n in &c.negative_checks {
                let _ = write!(text, "\n  {} [{}]: {:?}", n.step, n.role, n.waited);
                if n.times > 1 {
                    let _ = write!(text, " x{}", n.times);
                }
            }
            Some(text)
        }
    };
    // Non-strict cases are marked in their name, whatever their verdict.
    let name = match c.tier {
        Tier::Strict => format!("{} {}", c.spec, c.name),
        Tier::NonStrict => format!("{} {} [non-strict]", c.spec, c.name),
    };
    JunitCase {
        time: Some(c.duration.as_secs_f64()),
        output,
        ..JunitCase::new(format!("conformance.{suite}"), name, outcome)
    }
}

/// The description, the note, the first difference and its frames, as text.
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
            tier: if verdict == Verdict::NonStrict {
                Tier::NonStrict
            } else {
                Tier::Strict
            },
            verdict,
            note: (verdict != Verdict::Pass).then(|| "why & how".to_string()),
            difference: matches!(verdict, Verdict::Fail | Verdict::NonStrict).then(|| Difference {
                step: "cancel delivered".into(),
                role: "bob".into(),
                reason: "no CANCEL_INVITE within 2s".into(),
                detail: "waited".into(),
                frames: vec!["<- {\"push\":\"notify\"}".into()],
            }),
            negative_checks: if verdict == Verdict::Pass {
                vec![crate::conformance::NegativeCheck {
                    step: "refute INVITE (line 9)".into(),
                    role: "alice".into(),
                    waited: Duration::from_millis(200),
                    times: 2,
                }]
            } else {
                Vec::new()
            },
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
            timeout_scale: 1.0,
            strict: false,
            cases: vec![
                case("a", Verdict::Pass),
                case("b", Verdict::Fail),
                case("c", Verdict::Skip),
                case("d", Verdict::Xfail),
                case("e", Verdict::Xpass),
                case("f", Verdict::NonStrict),
            ],
        };
        let xml = to_xml(&outcome);
        assert!(
            xml.contains("<testsuites name=\"sigbench conformance\" tests=\"6\" failures=\"1\" errors=\"0\" skipped=\"3\""),
            "{xml}"
        );
        assert!(
            xml.contains("name=\"P-6.2 f [non-strict]\"")
                && xml.contains("<skipped message=\"NON-STRICT: cancel delivered [bob]: no CANCEL_INVITE within 2s (why &amp; how)\"/>"),
            "{xml}"
        );
        assert!(
            xml.contains(
                "negative checks (nothing came within):\n  refute INVITE (line 9) [alice]: 200ms x2"
            ),
            "{xml}"
        );
        assert!(
            xml.contains("<testcase classname=\"conformance.p6-invitations\" name=\"P-6.2 b\""),
            "{xml}"
        );
        assert!(
            xml.contains("<failure message=\"cancel delivered [bob]: no CANCEL_INVITE within 2s\""),
            "{xml}"
        );
        assert!(xml.contains("Cancel &lt;notifies&gt;"), "{xml}");
        assert!(
            xml.contains("<skipped message=\"why &amp; how\"/>"),
            "{xml}"
        );
        assert_eq!(xml.matches("<testcase ").count(), 6);
        assert!(xml.contains("<property name=\"target\" value=\"ws://x/\"/>"));
    }
}
