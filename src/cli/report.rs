//! `sigbench report`: re-renders a JSON report as HTML (and JUnit on request), and prints
//! its summary. Exit codes: 0 rendered, 2 unreadable report or unwritable output. (The
//! run's own verdict is in the report and in `run`'s or `merge`'s exit code, not here.)
//! Also the output helpers `run` and `merge` share.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::Args;

use crate::report::{JunitReport, RunReport, print_summary, write_html};

use super::EXIT_USAGE;

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

/// Writes the HTML page of `report` to `path`; prints where unless `quiet`. False (after
/// printing the error) when it could not.
pub(crate) fn write_html_page(report: &RunReport, path: &Path, quiet: bool) -> bool {
    match write_html(report, path) {
        Ok(()) => {
            if !quiet {
                super::out!("html: {}", path.display());
            }
            true
        }
        Err(e) => {
            eprintln!("error: cannot write the HTML report: {e}");
            false
        }
    }
}

/// Writes the JUnit XML of `reports` to `path`. False (after printing the error) when it
/// could not.
pub(crate) fn write_junit(junit: &JunitReport, path: &Path, quiet: bool) -> bool {
    match junit.write(path) {
        Ok(()) => {
            if !quiet {
                super::out!("junit: {}", path.display());
            }
            true
        }
        Err(e) => {
            eprintln!("error: cannot write JUnit XML to {}: {e}", path.display());
            false
        }
    }
}

/// `sigbench report`.
pub fn report(args: ReportArgs) -> ExitCode {
    let report = match RunReport::read(&args.report) {
        Ok(report) => report,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(EXIT_USAGE);
        }
    };
    if !args.quiet {
        let _ = print_summary(&report);
    }
    let html = args.html.unwrap_or_else(|| html_path_for(&args.report));
    let mut ok = write_html_page(&report, &html, args.quiet);
    if let Some(path) = &args.junit {
        let junit = JunitReport::of_runs("sigbench report", std::slice::from_ref(&report));
        ok &= write_junit(&junit, path, args.quiet);
    }
    if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(EXIT_USAGE)
    }
}
