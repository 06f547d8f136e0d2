//! Scenario errors: `file:line:column: message`, and "did you mean" suggestions.

use std::fmt;

/// What went wrong, broadly.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorKind {
    /// The file could not be read.
    Io,
    /// Not valid YAML.
    Syntax,
    /// Valid YAML, but not a valid scenario.
    Invalid,
    /// A `--set` override is malformed.
    Override,
}

/// A located scenario error. Display: `file:line:col: message`, or `file: message`
/// when there is no location (I/O errors, `--set` overrides).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub struct ScenarioError {
    pub file: String,
    /// 1-based line and column.
    pub location: Option<(u32, u32)>,
    pub message: String,
    pub kind: ErrorKind,
}

impl fmt::Display for ScenarioError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.location {
            Some((line, col)) => write!(f, "{}:{line}:{col}: {}", self.file, self.message),
            None => write!(f, "{}: {}", self.file, self.message),
        }
    }
}

/// The closest candidate to `word`, if one is close enough to be a likely typo.
pub(crate) fn suggest<'a>(
    word: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> Option<&'a str> {
    let lower = word.to_lowercase();
    let limit = (word.chars().count() / 3).max(2);
    candidates
        .into_iter()
        .filter_map(|c| {
            let d = if c.to_lowercase() == lower {
                0
            } else {
                edit_distance(&lower, &c.to_lowercase())
            };
            (d <= limit).then_some((d, c))
        })
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

/// ` — did you mean 'x'?` or nothing.
pub(crate) fn did_you_mean<'a>(
    word: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> String {
    suggest(word, candidates).map_or_else(String::new, |s| format!(" — did you mean '{s}'?"))
}

/// Levenshtein distance over chars.
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1; b.len() + 1];
        for (j, cb) in b.iter().enumerate() {
            let cost = usize::from(ca != *cb);
            cur[j + 1] = (prev[j] + cost).min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        prev = cur;
    }
    prev[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggestions() {
        let ops = ["accept", "cancel", "markRead", "call"];
        assert_eq!(suggest("acept", ops), Some("accept"));
        assert_eq!(suggest("markread", ops), Some("markRead"));
        assert_eq!(suggest("zzzzzzz", ops), None);
        assert_eq!(did_you_mean("cal", ops), " — did you mean 'call'?");
        assert_eq!(edit_distance("kitten", "sitting"), 3);
    }

    #[test]
    fn display_with_and_without_location() {
        let mut e = ScenarioError {
            file: "x.yaml".into(),
            location: Some((12, 5)),
            message: "boom".into(),
            kind: ErrorKind::Invalid,
        };
        assert_eq!(e.to_string(), "x.yaml:12:5: boom");
        e.location = None;
        assert_eq!(e.to_string(), "x.yaml: boom");
    }
}
