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

use serde::Deserialize;

use super::catalog::{CatalogEntry, glob};
use super::{CaseResult, Verdict};

/// One entry of the file.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Deviation {
    /// A case name or pattern.
    #[serde(default)]
    pub case: Option<String>,
    /// A rule id or pattern (`P-6.2`, `P-7.*`).
    #[serde(default)]
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

/// The file's shape: a list, or `{deviations: [...]}`.
#[derive(Deserialize)]
#[serde(untagged)]
enum File {
    List(Vec<Deviation>),
    Wrapped { deviations: Vec<Deviation> },
}

/// The loaded deviations.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Deviations {
    /// Where they came from, for messages.
    pub source: String,
    pub entries: Vec<Deviation>,
}

impl Deviations {
    /// Parses the file's text; every entry needs `case` or `spec`, and a `reason`.
    pub fn parse(source: &str, text: &str) -> Result<Deviations, String> {
        let entries = if text.trim().is_empty() {
            Vec::new()
        } else {
            match serde_saphyr::from_str::<File>(text) {
                Ok(File::List(list)) | Ok(File::Wrapped { deviations: list }) => list,
                Err(e) => {
                    return Err(format!(
                        "{source}: expected a list of {{case or spec, reason}}: {e}"
                    ));
                }
            }
        };
        for (i, d) in entries.iter().enumerate() {
            if d.case.is_none() && d.spec.is_none() {
                return Err(format!(
                    "{source}: entry {} names neither a case nor a spec",
                    i + 1
                ));
            }
            if d.reason.trim().is_empty() {
                return Err(format!(
                    "{source}: entry {} ({}) has no reason",
                    i + 1,
                    d.label()
                ));
            }
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
        assert!(Deviations::parse("d.yaml", "- case: a\n").is_err());
        assert!(Deviations::parse("d.yaml", "- case: a\n  reason: x\n  colour: red\n").is_err());
        assert!(Deviations::parse("d.yaml", "").unwrap().entries.is_empty());
    }
}
