//! `sigbench merge`: adds the JSON reports of the shards of one run (`run --shard I/N` on
//! several generators) into one report — histograms added exactly, counts summed,
//! thresholds re-evaluated on the merged data — and writes it as JSON and HTML (JUnit on
//! request). Exit codes as `run`: 0 every expectation and threshold held, 1 something
//! failed, 130 a shard was interrupted, 2 unreadable reports, reports that do not belong
//! together (different scenarios or thresholds, a shard twice, different splits), shards
//! missing from their split (unless `--allow-partial`), or an output that could not be
//! written.

use std::path::{Path, PathBuf};

use clap::Args;

use crate::report::{JunitReport, RunReport, print_summary};

use super::error::{CliError, Outcome};
use super::out;
use super::report::{html_path_for, unwritten, write_html_page, write_junit};

#[derive(Args, Debug)]
pub struct MergeArgs {
    /// The shards' JSON reports.
    #[arg(required = true, value_name = "REPORT.json")]
    pub reports: Vec<PathBuf>,
    /// Where to write the merged JSON report [default: next to the first report, named
    /// after the scenario and start time, ending in -merged.json].
    #[arg(long, value_name = "FILE.json")]
    pub out: Option<PathBuf>,
    /// Where to write the HTML page [default: next to the merged JSON, .html].
    #[arg(long, value_name = "FILE.html", conflicts_with = "no_html")]
    pub html: Option<PathBuf>,
    /// Write no HTML page.
    #[arg(long)]
    pub no_html: bool,
    /// Also write JUnit XML to this file.
    #[arg(long, value_name = "FILE.xml")]
    pub junit: Option<PathBuf>,
    /// Do not print the summary (the exit code and files still tell).
    #[arg(long)]
    pub quiet: bool,
    /// Merge the shards given even when some of their split are missing (the report then
    /// covers only part of the planned load, and says so). Without it that is an error.
    #[arg(long)]
    pub allow_partial: bool,
}

/// Reads every report, and decodes its histograms once so that a damaged one is reported
/// with its file name.
fn read_all(paths: &[PathBuf]) -> Result<Vec<RunReport>, String> {
    paths
        .iter()
        .map(|path| {
            let report = RunReport::read(path).map_err(|e| e.to_string())?;
            report
                .results()
                .map_err(|e| format!("{}: {e}", path.display()))?;
            Ok(report)
        })
        .collect()
}

/// `sigbench merge`.
pub fn merge(args: MergeArgs) -> Result<Outcome, CliError> {
    let reports = read_all(&args.reports).map_err(CliError::Usage)?;
    if let Err(c) = RunReport::mergeable(&reports) {
        return Err(CliError::Usage(format!(
            "cannot merge {} and {}: {c}",
            args.reports[c.first].display(),
            args.reports[c.other].display()
        )));
    }
    if let Some(missing) = RunReport::missing_shards(&reports)
        && !args.allow_partial
    {
        return Err(CliError::Usage(format!(
            "{missing}; a verdict on part of a run could be a false pass (--allow-partial merges them anyway)"
        )));
    }
    let merged = RunReport::merge(&reports).map_err(|e| CliError::Usage(e.to_string()))?;
    let json = match &args.out {
        Some(path) => merged.write_to(path).map(|()| path.clone()),
        None => {
            let dir = args.reports[0].parent().unwrap_or(Path::new("."));
            merged.write(dir)
        }
    };
    // Without the JSON report there is nothing for the page to sit next to.
    let json = json.map_err(|e| {
        let meant = args.out.clone().unwrap_or_else(|| args.reports[0].clone());
        unwritten("merged report", &meant, e)
    })?;
    if !args.quiet {
        let _ = print_summary(&merged);
        out!("report: {}", json.display());
    }
    let mut outcome = Outcome::verdict(merged.status().exit_code());
    if !args.no_html {
        let html = args.html.clone().unwrap_or_else(|| html_path_for(&json));
        outcome
            .errors
            .extend(write_html_page(&merged, &html, args.quiet).err());
    }
    if let Some(path) = &args.junit {
        let junit = JunitReport::of_runs("sigbench merge", std::slice::from_ref(&merged));
        outcome
            .errors
            .extend(write_junit(&junit, path, args.quiet).err());
    }
    Ok(outcome)
}
