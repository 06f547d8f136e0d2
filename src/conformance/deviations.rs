//! The expected-deviations file: cases a server knowingly fails, with the reason.
//!
//! ```yaml
//! # deviations.yaml
//! - case: cancel-notifies-invitee          # a case name (or a pattern: cancel-*)
//!   reason: cancel is silent until ticket 123 ships
//! - spec: P-7.3                            # every case of a rule (patterns: P-7.*)
//!   reason: our offline store has no cap
//! ```
//!
//! A listed case that fails is reported `XFAIL` and does not fail the run; a listed case
//! that passes is reported `XPASS` so that the stale entry gets removed.

use super::catalog::{CatalogEntry, glob};
use super::{CaseResult, Verdict};
use crate::scenario::node::{self, Node, Value};
use crate::scenario::{Cx, ScenarioError};

/// One entry of the file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Deviation {
    /// A case name or pattern.
    pub case: Option<String>,
    /// A rule id or pattern (`P-6.2`, `P-7.*`).
    pub spec: Option<String>,
    pub reason: String,
}

impl Deviation {
    fn matches(&self, entry: &CatalogEntry) -> bool {
        let case_ok = self
            .case
            .as_deref()
            .is_none_or(|p| glob(p, &entry.case.name));
        let spec_ok = self
            .spec
            .as_deref()
            .is_none_or(|p| glob(p, &entry.case.spec));
        case_ok && spec_ok
    }

    fn label(&self) -> String {
        match (&self.spec, &self.case) {
            (Some(s), Some(c)) => format!("{s} {c}"),
            (Some(s), None) => s.clone(),
            (None, Some(c)) => c.clone(),
            (None, None) => "?".into(),
        }
    }
}

/// The loaded deviations.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Deviations {
    /// Where they came from, for messages.
    pub source: String,
    pub entries: Vec<Deviation>,
}

impl Deviations {
    /// Parses the file's text: a list of entries, or `{deviations: [...]}`; every entry
    /// needs `case` or `spec`, and a `reason`. Every error is located
    /// (`file:line:column: …`, one per line).
    pub fn parse(source: &str, text: &str) -> Result<Deviations, String> {
        let joined = |errors: Vec<ScenarioError>| {
            errors
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join("\n")
        };
        let root = node::parse_file(source, text).map_err(joined)?;
        let mut cx = Cx::for_file(source);
        let items: &[Node] = match &root.value {
            Value::Null => &[],
            Value::Seq(items) => items,
            Value::Map(_) => match cx.map(&root, "the deviations file") {
                Some(fields) => {
                    cx.check_keys(&fields, &["deviations"], "the deviations file");
                    match fields.get("deviations") {
                        Some(Node {
                            value: Value::Seq(items),
                            ..
                        }) => items,
                        Some(Node {
                            value: Value::Null, ..
                        }) => &[],
                        Some(other) => {
                            cx.error(
                                other.span,
                                format!(
                                    "deviations must be a list of {{case or spec, reason}}, found {}",
                                    other.value.kind()
                                ),
                            );
                            &[]
                        }
                        None => {
                            cx.error(root.span, "expected a list of {case or spec, reason}, or `deviations:` with one");
                            &[]
                        }
                    }
                }
                None => &[],
            },
            other => {
                cx.error(
                    root.span,
                    format!(
                        "expected a list of {{case or spec, reason}}, found {}",
                        other.kind()
                    ),
                );
                &[]
            }
        };
        let mut entries = Vec::with_capacity(items.len());
        for item in items {
            let Some(fields) = cx.map(item, "a deviation") else {
                continue;
            };
            cx.check_keys(&fields, &["case", "spec", "reason"], "a deviation");
            let case = fields.get("case").and_then(|n| cx.string(n, "case"));
            let spec = fields.get("spec").and_then(|n| cx.string(n, "spec"));
            let reason = fields.get("reason").and_then(|n| cx.string(n, "reason"));
            if !fields.has("case") && !fields.has("spec") {
                cx.error(item.span, "the deviation names neither a case nor a spec");
            }
            match reason {
                Some(r) if !r.trim().is_empty() => entries.push(Deviation {
                    case,
                    spec,
                    reason: r,
                }),
                Some(_) => cx.error(
                    fields.get("reason").map_or(item.span, |n| n.span),
                    "the deviation's reason is empty",
                ),
                None if !fields.has("reason") => cx.error(item.span, "the deviation has no reason"),
                None => {}
            }
        }
        let errors = cx.into_errors();
        if !errors.is_empty() {
            return Err(joined(errors));
        }
        Ok(Deviations {
            source: source.to_string(),
            entries,
        })
    }

    /// Reads and parses a file.
    pub fn read(path: &std::path::Path) -> Result<Deviations, String> {
        let source = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|e| format!("{source}: {e}"))?;
        Deviations::parse(&source, &text)
    }

    /// The entry that lists this case, if any.
    pub fn find(&self, entry: &CatalogEntry) -> Option<&Deviation> {
        self.entries.iter().find(|d| d.matches(entry))
    }

    /// Entries that match no case of the suite (probably misspelt).
    pub fn unmatched(&self, suite: &[CatalogEntry]) -> Vec<String> {
        self.entries
            .iter()
            .filter(|d| !suite.iter().any(|e| d.matches(e)))
            .map(Deviation::label)
            .collect()
    }

    /// Turns a failure of a listed case into `XFAIL`, a pass into `XPASS`.
    pub fn apply(&self, entry: &CatalogEntry, result: &mut CaseResult) {
        let Some(d) = self.find(entry) else {
            return;
        };
        match result.verdict {
            Verdict::Fail | Verdict::Error | Verdict::NonStrict => {
                result.verdict = Verdict::Xfail;
                result.note = Some(format!("expected deviation: {}", d.reason));
            }
            Verdict::Pass => {
                result.verdict = Verdict::Xpass;
                result.note = Some(format!(
                    "listed in {} ({}) but passes: remove it from the deviations file",
                    self.source,
                    d.label()
                ));
            }
            Verdict::Skip | Verdict::Xfail | Verdict::Xpass => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_lists_and_rejects_bad_entries() {
        let d = Deviations::parse(
            "d.yaml",
            "- case: cancel-*\n  reason: later\n- spec: P-7.3\n  reason: no cap\n",
        )
        .unwrap();
        assert_eq!(d.entries.len(), 2);
        let w =
            Deviations::parse("d.yaml", "deviations:\n  - spec: P-1.3\n    reason: x\n").unwrap();
        assert_eq!(w.entries[0].spec.as_deref(), Some("P-1.3"));
        assert!(
            Deviations::parse("d.yaml", "- reason: x\n")
                .unwrap_err()
                .contains("neither")
        );
        assert_eq!(
            Deviations::parse("d.yaml", "- case: a\n").unwrap_err(),
            "d.yaml:1:3: the deviation has no reason"
        );
        assert_eq!(
            Deviations::parse("d.yaml", "- case: a\n  reason: x\n  colour: red\n").unwrap_err(),
            "d.yaml:3:3: unknown key 'colour' in a deviation (expected one of: case, spec, reason)"
        );
        assert_eq!(
            Deviations::parse("d.yaml", "- case: a\n  reason: [x]\n").unwrap_err(),
            "d.yaml:2:11: reason must be a string, found a list"
        );
        assert_eq!(
            Deviations::parse("d.yaml", "- case: a\n  reason: \"  \"\n").unwrap_err(),
            "d.yaml:2:11: the deviation's reason is empty"
        );
        assert!(
            Deviations::parse("d.yaml", "deviations: 3\n")
                .unwrap_err()
                .starts_with("d.yaml:1:13: deviations must be a list")
        );
        assert!(
            Deviations::parse("d.yaml", "- case: [a\n")
                .unwrap_err()
                .starts_with("d.yaml:")
        );
        assert!(Deviations::parse("d.yaml", "").unwrap().entries.is_empty());
    }
}
