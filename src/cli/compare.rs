//! `sigbench compare BASE.json NEW.json [--max-regression call.p99=10%,...]`: two JSON
//! reports side by side (terminal table, optional HTML page), and a verdict for CI.
//! Exit codes: 0 every bound held (or none given), 1 a bound was exceeded, 2 unreadable
//! report, bad bound, unknown metric or unwritable page.

use std::path::PathBuf;

use clap::Args;

use super::error::{CliError, EXIT_FAILED, EXIT_PASSED, Outcome};
use super::out;
use crate::report::file::write_replacing;
use crate::report::{Comparison, RegressionBound, RunReport, render_compare_html};

#[derive(Args, Debug)]
pub struct CompareArgs {
    /// The report to compare against (e.g. the last run on main).
    #[arg(value_name = "BASE.json")]
    pub base: PathBuf,
    /// The report of the change under test.
    #[arg(value_name = "NEW.json")]
    pub new: PathBuf,
    /// Fail (exit 1) when a statistic got worse than allowed: METRIC.STAT=LIMIT, LIMIT a
    /// percentage (`call.p99=10%`) or a duration (`session.max=50ms`); STAT is p50, p90,
    /// p99, p99.9, ..., max or mean. Comma-separated or repeated.
    #[arg(long, value_name = "METRIC.STAT=LIMIT", value_delimiter = ',')]
    pub max_regression: Vec<String>,
    /// Also write the comparison as an HTML page.
    #[arg(long, value_name = "FILE.html")]
    pub html: Option<PathBuf>,
    /// Print only the verdict lines of the bounds.
    #[arg(long)]
    pub quiet: bool,
}

/// `sigbench compare`.
pub fn compare(args: CompareArgs) -> Result<Outcome, CliError> {
    let usage = |e: String| CliError::Usage(e);
    let bounds = args
        .max_regression
        .iter()
        .filter(|b| !b.trim().is_empty())
        .map(|b| RegressionBound::parse(b))
        .collect::<Result<Vec<_>, String>>()
        .map_err(usage)?;
    let base = RunReport::read(&args.base).map_err(|e| usage(e.to_string()))?;
    let new = RunReport::read(&args.new).map_err(|e| usage(e.to_string()))?;
    let comparison = Comparison::new(
        (&args.base.display().to_string(), &base),
        (&args.new.display().to_string(), &new),
        &bounds,
    )
    .map_err(|e| usage(e.to_string()))?;
    let text = comparison.render_text();
    if args.quiet {
        for line in text.lines().filter(|l| {
            l.starts_with("  ok  ")
                || l.starts_with("  FAIL")
                || l.starts_with("no regression")
                || l.starts_with("REGRESSION")
        }) {
            out!("{line}");
        }
    } else {
        out!("{}", text.trim_end_matches('\n'));
    }
    let mut outcome = Outcome::verdict(if comparison.passed() {
        EXIT_PASSED
    } else {
        EXIT_FAILED
    });
    if let Some(path) = &args.html {
        match write_replacing(path, render_compare_html(&comparison).as_bytes()) {
            Ok(()) if !args.quiet => out!("html: {}", path.display()),
            Ok(()) => {}
            Err(e) => outcome.errors.push(CliError::Artifact {
                what: "HTML comparison",
                path: path.display().to_string(),
                why: e.to_string(),
            }),
        }
    }
    Ok(outcome)
}
