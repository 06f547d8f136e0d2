//! The conformance suite as shipped: the files of `scenarios/conformance/`, compiled into
//! the binary so that an installed sigbench runs the suite without a checkout, and
//! `--only` selection over them.

use super::ConformanceError;
use crate::scenario::{self, Case, SettingValues};

/// Every suite file, in the order cases are run and listed (rule groups P-1 … P-9).
pub const SUITE_FILES: [(&str, &str); 9] = [
    (
        "p1-transport.yaml",
        include_str!("../../scenarios/conformance/p1-transport.yaml"),
    ),
    (
        "p2-frames.yaml",
        include_str!("../../scenarios/conformance/p2-frames.yaml"),
    ),
    (
        "p3-session.yaml",
        include_str!("../../scenarios/conformance/p3-session.yaml"),
    ),
    (
        "p4-shapes.yaml",
        include_str!("../../scenarios/conformance/p4-shapes.yaml"),
    ),
    (
        "p5-channels.yaml",
        include_str!("../../scenarios/conformance/p5-channels.yaml"),
    ),
    (
        "p6-invitations.yaml",
        include_str!("../../scenarios/conformance/p6-invitations.yaml"),
    ),
    (
        "p7-offline.yaml",
        include_str!("../../scenarios/conformance/p7-offline.yaml"),
    ),
    (
        "p8-multidevice.yaml",
        include_str!("../../scenarios/conformance/p8-multidevice.yaml"),
    ),
    (
        "p9-codes.yaml",
        include_str!("../../scenarios/conformance/p9-codes.yaml"),
    ),
];

/// One case with the file it comes from.
#[derive(Clone, Debug)]
pub struct CatalogEntry {
    pub file: &'static str,
    pub case: Case,
}

impl CatalogEntry {
    /// `P-6.1 invite-online`, as printed and as deviations name it.
    pub fn label(&self) -> String {
        format!("{} {}", self.case.spec, self.case.name)
    }
}

/// Compiles every built-in case with the given setting values.
pub fn load(settings: &SettingValues) -> Result<Vec<CatalogEntry>, ConformanceError> {
    let mut entries = Vec::new();
    let mut errors = Vec::new();
    for (file, text) in SUITE_FILES {
        match scenario::check_suite_str(&format!("scenarios/conformance/{file}"), text, settings) {
            Ok(suite) => entries.extend(
                suite
                    .cases
                    .into_iter()
                    .map(|case| CatalogEntry { file, case }),
            ),
            Err(e) => errors.extend(e.iter().map(ToString::to_string)),
        }
    }
    if errors.is_empty() {
        Ok(entries)
    } else {
        Err(ConformanceError::Suite(errors.join("\n")))
    }
}

/// Keeps the entries that match any pattern (all of them when `patterns` is empty). A
/// pattern is matched against the rule id and the case name; `*` matches any text and
/// `?` one character: `P-6.*`, `P-6.1`, `invite-*`.
pub fn select(
    entries: Vec<CatalogEntry>,
    patterns: &[String],
) -> Result<Vec<CatalogEntry>, ConformanceError> {
    if patterns.is_empty() {
        return Ok(entries);
    }
    let chosen: Vec<CatalogEntry> = entries
        .into_iter()
        .filter(|e| {
            patterns
                .iter()
                .any(|p| glob(p, &e.case.spec) || glob(p, &e.case.name))
        })
        .collect();
    if chosen.is_empty() {
        return Err(ConformanceError::NothingSelected(patterns.join(",")));
    }
    Ok(chosen)
}

/// The Markdown table of cases that docs/conformance.md embeds (`sigbench conformance
/// --list --markdown`): rule, case, what it checks, what it needs of the target, and
/// `non-strict` for the cases that check a choice of docs/protocol.md.
pub fn markdown_table(entries: &[CatalogEntry]) -> String {
    let mut out = String::from("| rule | case | checks | needs | tier |\n|---|---|---|---|---|\n");
    for e in entries {
        let needs: Vec<String> = e
            .case
            .requires
            .iter()
            .filter(|r| {
                !matches!(
                    r,
                    crate::scenario::Requirement::Known(crate::scenario::Setting::ResponseBudget)
                )
            })
            .map(|r| format!("`{r}`"))
            .collect();
        out.push_str(&format!(
            "| {} | `{}` | {} | {} | {} |\n",
            e.case.spec,
            e.case.name,
            e.case.description.replace('|', "\\|"),
            needs.join(", "),
            match e.case.tier {
                crate::scenario::Tier::Strict => "",
                crate::scenario::Tier::NonStrict => "non-strict",
            }
        ));
    }
    out
}

/// Glob matching with `*` and `?` (iterative, no backtracking blow-up).
pub fn glob(pattern: &str, text: &str) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let t: Vec<char> = text.chars().collect();
    let (mut pi, mut ti) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == t[ti]) {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some((pi, ti));
            pi += 1;
        } else if let Some((sp, st)) = star {
            pi = sp + 1;
            ti = st + 1;
            star = Some((sp, st + 1));
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|c| *c == '*')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs() {
        assert!(glob("P-6.*", "P-6.1"));
        assert!(glob("P-6.*", "P-6.12"));
        assert!(!glob("P-6.*", "P-6"));
        assert!(!glob("P-6.*", "P-5.1"));
        assert!(glob("P-?.1", "P-5.1"));
        assert!(glob("*", ""));
        assert!(glob("invite-*-ok", "invite-member-ok"));
        assert!(!glob("invite", "invite-online"));
    }
}
