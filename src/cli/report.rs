//! `sigbench report`: re-renders a JSON report as HTML (and JUnit on request), and prints
//! its summary. Exit codes: 0 rendered, 2 unreadable report or unwritable output. (The
//! run's own verdict is in the report and in `run`'s or `merge`'s exit code, not here.)
//! Also the output helpers `run` and `merge` share.

use std::path::{Path, PathBuf};

use clap::Args;

use crate::report::{JunitReport, ReportError, RunReport, print_summary, write_html};

use super::error::{CliError, EXIT_PASSED, Outcome};

#[derive(Args, Debug)]
pub struct ReportArgs {
    /// The JSON report to render.
    #[arg(value_name = "REPORT.json")]
    pub report: PathBuf,
    /// Where to write the HTML page [default: next to the JSON, same name, .html].
    #[arg(long, value_name = "FILE.html")]
    pub html: Option<PathBuf>,
    /// Also write JUnit XML to this file.
    #[arg(long, value_name = "FILE.xml")]
    pub junit: Option<PathBuf>,
    /// Do not print the summary.
    #[arg(long)]
    pub quiet: bool,
}

/// The HTML file that goes with a JSON report: same folder and name, `.html`.
pub fn html_path_for(json: &Path) -> PathBuf {
    json.with_extension("html")
}

/// The error for an artifact (`what`, meant for `path`) that could not be written: the
/// file the error names, and why, without saying the path twice.
pub(crate) fn unwritten(what: &'static str, path: &Path, e: ReportError) -> CliError {
    let (path, why) = match e {
        ReportError::Io { path, source } => (path, source.to_string()),
        e => (path.to_path_buf(), e.to_string()),
    };
    CliError::Artifact {
        what,
        path: path.display().to_string(),
        why,
    }
}

/// Writes the HTML page of `report` to `path`; prints where unless `quiet`.
pub(crate) fn write_html_page(
    report: &RunReport,
    path: &Path,
    quiet: bool,
) -> Result<(), CliError> {
    write_html(report, path).map_err(|e| unwritten("HTML report", path, e))?;
    if !quiet {
        super::out!("html: {}", path.display());
    }
    Ok(())
}

/// Writes the JUnit XML of `reports` to `path`; prints where unless `quiet`.
pub(crate) fn write_junit(junit: &JunitReport, path: &Path, quiet: bool) -> Result<(), CliError> {
    junit.write(path).map_err(|e| CliError::Artifact {
        what: "JUnit XML",
        path: path.display().to_string(),
        why: e.to_string(),
    })?;
    if !quiet {
        super::out!("junit: {}", path.display());
    }
    Ok(())
}

/// `sigbench report`: the outputs it could not write are its errors; the report's own
/// verdict does not change the exit code.
pub fn report(args: ReportArgs) -> Result<Outcome, CliError> {
    let report = RunReport::read(&args.report).map_err(|e| CliError::Usage(e.to_string()))?;
    if !args.quiet {
        let _ = print_summary(&report);
    }
    let html = args.html.unwrap_or_else(|| html_path_for(&args.report));
    let mut outcome = Outcome::verdict(EXIT_PASSED);
    outcome
        .errors
        .extend(write_html_page(&report, &html, args.quiet).err());
    if let Some(path) = &args.junit {
        let junit = JunitReport::of_runs("sigbench report", std::slice::from_ref(&report));
        outcome
            .errors
            .extend(write_junit(&junit, path, args.quiet).err());
    }
    Ok(outcome)
}
