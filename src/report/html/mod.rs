//! The HTML report: one self-contained file (inline CSS and SVG, no script, nothing loaded
//! from anywhere) rendered from a [`RunReport`], so `run`, `merge` and `report` produce the
//! same page for the same JSON — byte for byte: the page holds nothing but what the JSON
//! says (no render time, no randomness, fixed number formatting).
//!
//! - `mod.rs`: the page frame, header and the order of sections;
//! - `sections`: thresholds, latency, timeline, codes, failures, warnings;
//! - `flows`: the flows of a mix;
//! - `charts` / `svg` / `timeline`: the charts;
//! - `compare`: the page of `sigbench compare` (two reports side by side).

mod charts;
mod compare;
mod flows;
mod sections;
mod svg;
mod timeline;

use std::fmt::Write as _;
use std::path::Path;

use super::escape::{attr, text};
use super::json::{ReportError, RunReport, Status};
use super::summary::verdict;

pub use compare::render_compare_html;

const STYLE: &str = include_str!("style.css");

/// The HTML page of `report`. Fails only on a histogram that does not decode.
pub fn render_html(report: &RunReport) -> Result<String, ReportError> {
    let mut out = String::with_capacity(64 * 1024);
    let meta = &report.meta;
    let status = status_word(meta.status);
    let _ = write!(
        out,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <meta name=\"generator\" content=\"sigbench {}\">\n\
         <title>{} — {status} — sigbench</title>\n<style>\n{STYLE}</style>\n</head>\n<body>\n<main>\n",
        attr(&meta.sigbench_version),
        text(&meta.scenario),
    );
    header(&mut out, report);
    sections::warnings(&mut out, report);
    sections::thresholds(&mut out, report);
    flows::flows(&mut out, report);
    sections::latency(&mut out, report)?;
    sections::timeline(&mut out, report);
    sections::codes(&mut out, report);
    sections::failures(&mut out, report);
    let _ = write!(
        out,
        "<footer>sigbench {} · {} · latencies from HdrHistogram (3 significant digits) · \
         rendered from the JSON report</footer>\n</main>\n</body>\n</html>\n",
        text(&meta.sigbench_version),
        text(&report.format)
    );
    Ok(out)
}

/// Renders `report` and writes the page to `path` (replacing it, atomically).
pub fn write_html(report: &RunReport, path: &Path) -> Result<(), ReportError> {
    let html = render_html(report)?;
    crate::report::file::write_replacing(path, html.as_bytes()).map_err(|source| ReportError::Io {
        path: path.to_owned(),
        source,
    })
}

fn status_word(status: Status) -> &'static str {
    match status {
        Status::Passed => "passed",
        Status::Failed => "failed",
        Status::Interrupted => "interrupted",
    }
}

/// A wall-clock duration: `972 ms`, `12.3 s`, `4m 05s`, `1h 02m`.
fn duration_text(ms: u64) -> String {
    let secs = ms / 1000;
    match ms {
        0..1_000 => format!("{ms} ms"),
        1_000..60_000 => format!("{:.1} s", ms as f64 / 1000.0),
        60_000..3_600_000 => format!("{}m {:02}s", secs / 60, secs % 60),
        _ => format!("{}h {:02}m", secs / 3600, secs % 3600 / 60),
    }
}

fn kpi(out: &mut String, class: &str, value: &str, key: &str) {
    let _ = writeln!(
        out,
        "<div class=\"kpi {class}\"><div class=\"v\">{}</div><div class=\"k\">{}</div></div>",
        text(value),
        text(key)
    );
}

fn header(out: &mut String, report: &RunReport) {
    let meta = &report.meta;
    let status = status_word(meta.status);
    let _ = write!(
        out,
        "<header class=\"head {status}\">\n<div class=\"title\"><h1>{}</h1>\
         <span class=\"badge {status}\">{status}</span></div>\n<p class=\"verdict\">{}</p>\n\
         <div class=\"kpis\">\n",
        text(&meta.scenario),
        text(&verdict(report)),
    );
    let s = &report.sessions;
    kpi(out, "", &s.done.to_string(), "sessions");
    kpi(
        out,
        if s.ok > 0 { "good" } else { "" },
        &s.ok.to_string(),
        "ok",
    );
    kpi(
        out,
        if s.failed > 0 { "bad" } else { "" },
        &s.failed.to_string(),
        "failed",
    );
    kpi(out, "", &format!("{:.1}/s", s.rate_per_s), "session rate");
    let failures = report.failure_count();
    kpi(
        out,
        if failures > 0 { "bad" } else { "" },
        &failures.to_string(),
        "failures",
    );
    let held = report.thresholds.iter().filter(|t| t.pass).count();
    let thresholds = format!("{held}/{}", report.thresholds.len());
    let class = if held < report.thresholds.len() {
        "bad"
    } else {
        ""
    };
    kpi(out, class, &thresholds, "thresholds held");
    out.push_str("</div>\n<dl class=\"meta\">\n");
    let shards: Vec<String> = meta.shards.iter().map(ToString::to_string).collect();
    let rows = [
        ("target", meta.target.clone()),
        ("started", meta.started_at.clone()),
        ("duration", duration_text(meta.duration_ms)),
        ("load", meta.load.clone()),
        ("scenario file", meta.scenario_file.clone()),
        ("shards", shards.join(", ")),
        ("exit code", meta.exit_code.to_string()),
        ("sigbench", meta.sigbench_version.clone()),
    ];
    for (key, value) in rows {
        let _ = writeln!(
            out,
            "<div><dt>{}</dt><dd>{}</dd></div>",
            text(key),
            text(&value)
        );
    }
    out.push_str("</dl>\n</header>\n");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_well() {
        assert_eq!(duration_text(972), "972 ms");
        assert_eq!(duration_text(12_340), "12.3 s");
        assert_eq!(duration_text(245_000), "4m 05s");
        assert_eq!(duration_text(3_720_000), "1h 02m");
    }
}
