//! The JSON report of a conformance run (`conformance-<UTC time>.json` in the report
//! folder, format `sigbench-conformance/1`) and the file naming shared with the JUnit XML.

use std::fs;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Serialize;

use super::{CaseResult, Counts, SuiteOutcome, TargetSettings};

/// The `format` field of the report.
pub const FORMAT: &str = "sigbench-conformance/1";

/// Durations as whole milliseconds.
pub(crate) fn millis<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_u64(u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

#[derive(Serialize)]
struct Report<'a> {
    format: &'static str,
    sigbench_version: &'static str,
    target: &'a str,
    started_at: String,
    #[serde(serialize_with = "millis")]
    duration_ms: Duration,
    settings: &'a TargetSettings,
    /// `--timeout-scale`: every wait of the suite was multiplied by this.
    timeout_scale: f64,
    /// `--strict`: failures of non-strict cases count as `FAIL`.
    strict: bool,
    /// True when no case failed or could not run (the exit code is 0).
    ok: bool,
    counts: Counts,
    summary: String,
    cases: &'a [CaseResult],
}

/// The JSON text of the report.
pub fn to_json(outcome: &SuiteOutcome) -> String {
    let counts = outcome.counts();
    let report = Report {
        format: FORMAT,
        sigbench_version: env!("CARGO_PKG_VERSION"),
        target: &outcome.target,
        started_at: humantime::format_rfc3339_millis(outcome.started_at).to_string(),
        duration_ms: outcome.duration,
        settings: &outcome.settings,
        timeout_scale: outcome.timeout_scale,
        strict: outcome.strict,
        ok: outcome.ok(),
        counts,
        summary: counts.summary_line(),
        cases: &outcome.cases,
    };
    // Serializing plain structs of strings and numbers cannot fail.
    serde_json::to_string_pretty(&report).unwrap_or_default()
}

/// `conformance-20250101T120000Z`: the stem of the report files of this run.
pub fn file_stem(outcome: &SuiteOutcome) -> String {
    let stamp: String = humantime::format_rfc3339_seconds(outcome.started_at)
        .to_string()
        .chars()
        .filter(|c| !matches!(c, '-' | ':'))
        .collect();
    format!("conformance-{stamp}")
}

/// A report file that could not be written: the file meant, and why.
#[derive(Debug, thiserror::Error)]
#[error("cannot write {}: {why}", path.display())]
pub struct Unwritten {
    pub path: PathBuf,
    pub why: String,
}

/// Writes `text` to `dir/<stem>.<ext>` (or `<stem>-2.<ext>`, … if taken), atomically;
/// returns the path.
pub fn write_new(dir: &Path, stem: &str, ext: &str, text: &str) -> Result<PathBuf, Unwritten> {
    crate::report::file::write_new(dir, stem, ext, format!("{text}\n").as_bytes()).map_err(|e| {
        Unwritten {
            path: dir.join(format!("{stem}.{ext}")),
            why: e.to_string(),
        }
    })
}

/// Writes `text` to exactly `path` (for `--junit FILE`), creating its folder, atomically.
pub fn write_at(path: &Path, text: &str) -> Result<PathBuf, Unwritten> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        fs::create_dir_all(dir).map_err(|e| Unwritten {
            path: path.to_path_buf(),
            why: format!("cannot create {}: {e}", dir.display()),
        })?;
    }
    crate::report::file::write_replacing(path, format!("{text}\n").as_bytes()).map_err(|e| {
        Unwritten {
            path: path.to_path_buf(),
            why: e.to_string(),
        }
    })?;
    Ok(path.to_path_buf())
}
