//! The end-of-run summary printed on the terminal: latency table, codes per op, failures
//! by kind with one sample, thresholds, late starts and warnings, and a one-line verdict.
//!
//! It renders from a [`RunReport`], so `run`, `merge` and `report` print the same thing.

use std::fmt::Write as _;
use std::io::{IsTerminal as _, Write as _};

use crate::metrics::histogram::format_micros;

use super::json::{RunReport, Status};

/// Longest frame text shown per line in the summary (the JSON keeps up to 1 KiB).
const FRAME_PREVIEW_CHARS: usize = 160;

/// ANSI styling, or nothing when color is off.
#[derive(Clone, Copy)]
struct Style {
    color: bool,
}

impl Style {
    fn paint(self, code: &str, text: &str) -> String {
        if self.color {
            format!("\x1b[{code}m{text}\x1b[0m")
        } else {
            text.to_owned()
        }
    }
    fn bold(self, text: &str) -> String {
        self.paint("1", text)
    }
    fn red(self, text: &str) -> String {
        self.paint("1;31", text)
    }
    fn green(self, text: &str) -> String {
        self.paint("32", text)
    }
    fn yellow(self, text: &str) -> String {
        self.paint("33", text)
    }
    fn dim(self, text: &str) -> String {
        self.paint("2", text)
    }
}

/// The one-line verdict, e.g. `call-accept: 1000 sessions, 0 failed, 2 thresholds ok`.
pub fn verdict(report: &RunReport) -> String {
    let total = report.thresholds.len();
    let failed = report.thresholds.iter().filter(|t| !t.pass).count();
    let thresholds = match (total, failed) {
        (0, _) => "no thresholds".to_owned(),
        (1, 0) => "1 threshold ok".to_owned(),
        (n, 0) => format!("{n} thresholds ok"),
        (n, f) => format!("{f} of {n} thresholds failed"),
    };
    let mut line = format!(
        "{}: {} sessions, {} failed, {thresholds}",
        report.meta.scenario, report.sessions.done, report.sessions.failed
    );
    if report.meta.interrupted {
        line.push_str(", interrupted");
    }
    if let Some(stop) = &report.meta.stopped_early {
        line.push_str(&format!(
            ", stopped early at {}: {}",
            format_micros(stop.at_ms.saturating_mul(1000)),
            stop.reason
        ));
    }
    line
}

/// Renders the summary; `color` adds ANSI colors.
pub fn render_summary(report: &RunReport, color: bool) -> String {
    let style = Style { color };
    let mut out = String::new();
    let meta = &report.meta;
    let duration = format_micros(meta.duration_ms.saturating_mul(1000));
    let shards = match meta.shards.as_slice() {
        [one] if one.count == 1 => String::new(),
        list => {
            let list: Vec<String> = list.iter().map(ToString::to_string).collect();
            format!(" — shards {}", list.join(", "))
        }
    };
    let _ = writeln!(
        out,
        "{} — {} — {duration} — {}{shards}",
        style.bold(&meta.scenario),
        meta.target,
        meta.load
    );
    let _ = writeln!(
        out,
        "sessions: {} done, {} ok, {} failed, {:.1}/s",
        report.sessions.done,
        report.sessions.ok,
        report.sessions.failed,
        report.sessions.rate_per_s
    );

    render_flows(&mut out, report, style);
    render_metrics(&mut out, report, style);
    render_codes(&mut out, report, style);
    render_failures(&mut out, report, style);
    render_thresholds(&mut out, report, style);

    let late = &report.late_starts;
    if late.count > 0 {
        let _ = writeln!(
            out,
            "\nlate starts: {} (p50 lag {}, p99 {}, max {})",
            late.count,
            format_micros(late.p50_us),
            format_micros(late.p99_us),
            format_micros(late.max_us)
        );
    }
    if !report.warnings.is_empty() {
        out.push('\n');
        for warning in &report.warnings {
            let _ = writeln!(out, "{} {warning}", style.yellow("warning:"));
        }
    }

    let verdict = verdict(report);
    let verdict = match meta.status {
        Status::Passed => style.green(&verdict),
        Status::Failed | Status::Interrupted => style.red(&verdict),
    };
    let _ = writeln!(out, "\n{verdict}");
    out
}

/// The latency metrics; a flow's failed sessions (a count) are in the flows table.
fn render_metrics(out: &mut String, report: &RunReport, style: Style) {
    if report.latency_metrics().next().is_none() {
        return;
    }
    let width = report
        .latency_metrics()
        .map(|m| m.name.chars().count())
        .chain(["metric".len()])
        .max()
        .unwrap_or(6);
    let header = format!(
        "{:<width$}  {:>8}  {:>8}  {:>8}  {:>8}  {:>8}",
        "metric", "count", "p50", "p95", "p99", "max"
    );
    let _ = writeln!(out, "\n{}", style.bold(&header));
    for m in report.latency_metrics() {
        let stat = |us: u64| {
            if m.count == 0 {
                "-".to_owned()
            } else {
                format_micros(us)
            }
        };
        let _ = writeln!(
            out,
            "{:<width$}  {:>8}  {:>8}  {:>8}  {:>8}  {:>8}",
            m.name,
            m.count,
            stat(m.p50_us),
            stat(m.p95_us),
            stat(m.p99_us),
            stat(m.max_us)
        );
    }
}

fn render_codes(out: &mut String, report: &RunReport, style: Style) {
    if report.codes.is_empty() {
        return;
    }
    let _ = writeln!(out, "\n{}", style.bold("codes"));
    let width = report
        .codes
        .iter()
        .map(|c| c.op.chars().count())
        .max()
        .unwrap_or(0);
    for (op, codes) in report.codes_by_op() {
        let codes: Vec<String> = codes
            .iter()
            .map(|c| {
                let text = format!("{} ×{}", c.label(), c.count);
                if c.is_success() {
                    text
                } else {
                    style.yellow(&text)
                }
            })
            .collect();
        let _ = writeln!(out, "  {op:<width$}  {}", codes.join(", "));
    }
}

fn preview(text: &str) -> String {
    let mut chars = text.chars();
    let shown: String = chars.by_ref().take(FRAME_PREVIEW_CHARS).collect();
    if chars.next().is_some() {
        format!("{shown}…")
    } else {
        shown
    }
}

/// The mix: each flow's share and sessions.
fn render_flows(out: &mut String, report: &RunReport, style: Style) {
    if report.flows.is_empty() {
        return;
    }
    let width = report
        .flows
        .iter()
        .map(|f| f.name.chars().count())
        .max()
        .unwrap_or(0)
        .max(4);
    let _ = writeln!(
        out,
        "\n{}",
        style.bold(&format!(
            "{:<width$}  {:>6}  {:>9}  {:>9}  {:>7}  {:>8}",
            "flow", "share", "sessions", "ok", "failed", "rate"
        ))
    );
    for f in &report.flows {
        let failed = format!("{:>7}", f.sessions.failed);
        let failed = if f.sessions.failed > 0 {
            style.red(&failed)
        } else {
            failed
        };
        let _ = writeln!(
            out,
            "{:<width$}  {:>5.1}%  {:>9}  {:>9}  {failed}  {:>6.1}/s",
            f.name, f.share_percent, f.sessions.done, f.sessions.ok, f.sessions.rate_per_s
        );
    }
}

fn render_failures(out: &mut String, report: &RunReport, style: Style) {
    if report.failures.is_empty() {
        return;
    }
    let _ = writeln!(
        out,
        "\n{}",
        style.bold(&format!(
            "failures: {} in {} kind{}",
            report.failure_count(),
            report.failures.len(),
            if report.failures.len() == 1 { "" } else { "s" }
        ))
    );
    for f in &report.failures {
        let _ = writeln!(
            out,
            "  {} {} [{}]: {}",
            style.red(&format!("{}×", f.count)),
            f.step,
            f.role,
            f.reason
        );
        if let Some(sample) = f.samples.first() {
            let at = format!("{:.3}s", sample.at_ms as f64 / 1000.0);
            let detail = if sample.detail.is_empty() {
                String::new()
            } else {
                format!(": {}", preview(&sample.detail))
            };
            let _ = writeln!(
                out,
                "     {}",
                style.dim(&format!("{} at {at}{detail}", sample.where_text()))
            );
            for frame in &sample.frames {
                let _ = writeln!(out, "       {}", style.dim(&preview(frame)));
            }
        }
    }
}

fn render_thresholds(out: &mut String, report: &RunReport, style: Style) {
    if report.thresholds.is_empty() {
        return;
    }
    let _ = writeln!(out, "\n{}", style.bold("thresholds"));
    for t in &report.thresholds {
        let mark = if t.pass {
            style.green("ok  ")
        } else {
            style.red("FAIL")
        };
        let _ = writeln!(out, "  {mark}  {} (observed {})", t.name, t.observed_text());
    }
}

/// Prints the summary to stdout, in color when stdout is a terminal and `NO_COLOR` is
/// not set.
pub fn print_summary(report: &RunReport) -> std::io::Result<()> {
    let stdout = std::io::stdout();
    let color = stdout.is_terminal() && std::env::var_os("NO_COLOR").is_none();
    let mut lock = stdout.lock();
    lock.write_all(render_summary(report, color).as_bytes())?;
    lock.flush()
}
