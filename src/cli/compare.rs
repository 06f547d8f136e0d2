//! `sigbench compare BASE.json NEW.json [--max-regression call.p99=10%,...]`: two JSON
//! reports side by side (terminal table, optional HTML page), and a verdict for CI.
//! Exit codes: 0 every bound held (or none given), 1 a bound was exceeded, 2 unreadable
//! report, bad bound, unknown metric or unwritable page.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;

use crate::report::{Comparison, RegressionBound, RunReport, render_compare_html};

use super::EXIT_USAGE;

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
pub fn compare(args: CompareArgs) -> ExitCode {
    match run(&args) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(super::run::EXIT_FAILED),
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(EXIT_USAGE)
        }
    }
}

fn run(args: &CompareArgs) -> anyhow::Result<bool> {
    let bounds = args
        .max_regression
        .iter()
        .filter(|b| !b.trim().is_empty())
        .map(|b| RegressionBound::parse(b).map_err(anyhow::Error::msg))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let base = RunReport::read(&args.base)?;
    let new = RunReport::read(&args.new)?;
    let comparison = Comparison::new(
        (&args.base.display().to_string(), &base),
        (&args.new.display().to_string(), &new),
        &bounds,
    )?;
    let text = comparison.render_text();
    if args.quiet {
        for line in text.lines().filter(|l| {
            l.starts_with("  ok  ")
                || l.starts_with("  FAIL")
                || l.starts_with("no regression")
                || l.starts_with("REGRESSION")
        }) {
            println!("{line}");
        }
    } else {
        print!("{text}");
    }
    if let Some(path) = &args.html {
        std::fs::write(path, render_compare_html(&comparison)).map_err(|e| {
            anyhow::anyhow!("cannot write the HTML comparison {}: {e}", path.display())
        })?;
        if !args.quiet {
            println!("html: {}", path.display());
        }
    }
    Ok(comparison.passed())
}
