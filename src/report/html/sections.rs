//! The sections of the HTML report below its header, each written from the report alone.

use std::fmt::Write as _;

use crate::metrics::histogram::{decode, format_micros};

use super::super::escape::text;
use super::super::json::{MetricReport, ReportError, RunReport, ThresholdReport};
use super::super::junit::limit_text;
use super::charts::{
    Curve, LimitLine, arrival_chart, decades_for, in_flight_chart, latency_timeline_chart,
    percentile_chart, series_class, throughput_chart,
};
use super::timeline::buckets;

pub(super) fn warnings(out: &mut String, report: &RunReport) {
    if report.warnings.is_empty() {
        return;
    }
    out.push_str("<section id=\"warnings\">\n<h2>Warnings</h2>\n");
    for w in &report.warnings {
        let _ = writeln!(out, "<p class=\"warning\"><b>warning:</b> {}</p>", text(w));
    }
    out.push_str("</section>\n");
}

pub(super) fn thresholds(out: &mut String, report: &RunReport) {
    if report.thresholds.is_empty() {
        return;
    }
    let failed = report.thresholds.iter().filter(|t| !t.pass).count();
    let sub = match failed {
        0 => "all held".to_owned(),
        n => format!("{n} of {} failed", report.thresholds.len()),
    };
    let _ = write!(
        out,
        "<section id=\"thresholds\">\n<h2>Thresholds<span class=\"sub\">{sub}</span></h2>\n\
         <table>\n<thead><tr><th></th><th>threshold</th><th class=\"num\">limit</th>\
         <th class=\"num\">observed</th></tr></thead>\n<tbody>\n"
    );
    for t in &report.thresholds {
        let (row, mark) = if t.pass {
            ("", "<span class=\"ok-mark\">OK</span>")
        } else {
            (" class=\"bad\"", "<span class=\"fail-mark\">FAIL</span>")
        };
        let _ = writeln!(
            out,
            "<tr{row}><td>{mark}</td><td>{}</td><td class=\"num\">{}</td>\
             <td class=\"num\">{}</td></tr>",
            text(&t.name),
            text(&limit_text(t)),
            text(&t.observed_text())
        );
    }
    out.push_str("</tbody>\n</table>\n</section>\n");
}

/// The latency thresholds on `metric` as chart lines (`stats`: which statistics; all
/// latency ones when `None`).
fn limit_lines(
    report: &RunReport,
    metric: &str,
    stats: Option<&[crate::metrics::Stat]>,
) -> Vec<LimitLine> {
    report
        .thresholds
        .iter()
        .filter(|t| t.metric.as_deref() == Some(metric) && t.unit == "us" && t.stat.is_latency())
        .filter(|t| stats.is_none_or(|s| s.contains(&t.stat)))
        .map(|t| LimitLine {
            us: t.limit,
            label: limit_label(t),
            failed: !t.pass,
        })
        .collect()
}

/// `p99 ≤ 5.00ms` (and `FAILED` when it did not hold).
fn limit_label(t: &ThresholdReport) -> String {
    let label = format!("{} {}", t.stat, limit_text(t));
    if t.pass {
        label
    } else {
        format!("{label} FAILED")
    }
}

/// A latency cell: `-` when the metric recorded nothing.
fn us_cell(m: &MetricReport, us: u64) -> String {
    if m.count == 0 {
        "-".to_owned()
    } else {
        format_micros(us)
    }
}

/// The latency metrics only: a count (a flow's failed sessions) is in the flows table.
pub(super) fn latency(out: &mut String, report: &RunReport) -> Result<(), ReportError> {
    if report.latency_metrics().next().is_none() {
        return Ok(());
    }
    out.push_str(
        "<section id=\"latency\">\n<h2>Latency<span class=\"sub\">whole run; charts show \
         latency (log scale) by percentile (log scale of nines, as HdrHistogram plots do), \
         with the thresholds as dashed lines</span></h2>\n<table>\n\
         <thead><tr><th>metric</th><th class=\"num\">count</th><th class=\"num\">min</th>\
         <th class=\"num\">p50</th><th class=\"num\">p90</th><th class=\"num\">p95</th>\
         <th class=\"num\">p99</th><th class=\"num\">p99.9</th><th class=\"num\">max</th>\
         <th class=\"num\">mean</th></tr></thead>\n<tbody>\n",
    );
    for m in report.latency_metrics() {
        let mean = if m.count == 0 {
            "-".to_owned()
        } else {
            format_micros(m.mean_us.round() as u64)
        };
        let _ = writeln!(
            out,
            "<tr><td>{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td>\
             <td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td>\
             <td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td>\
             <td class=\"num\">{}</td></tr>",
            text(&m.name),
            m.count,
            us_cell(m, m.min_us),
            us_cell(m, m.p50_us),
            us_cell(m, m.p90_us),
            us_cell(m, m.p95_us),
            us_cell(m, m.p99_us),
            us_cell(m, m.p999_us),
            us_cell(m, m.max_us),
            mean
        );
    }
    out.push_str("</tbody>\n</table>\n<div class=\"charts\">\n");
    let decades = decades_for(report.latency_metrics().map(|m| m.count).max().unwrap_or(0));
    for m in report.latency_metrics() {
        let histogram = decode(&m.histogram).map_err(|source| ReportError::Histogram {
            metric: m.name.clone(),
            source,
        })?;
        let stats = if m.count == 0 {
            "no data".to_owned()
        } else {
            format!(
                "{} · p50 {} · p99 {} · p99.9 {} · max {}",
                m.count,
                format_micros(m.p50_us),
                format_micros(m.p99_us),
                format_micros(m.p999_us),
                format_micros(m.max_us)
            )
        };
        let _ = write!(
            out,
            "<figure>\n<figcaption><b>{}</b><span class=\"stats\">{}</span></figcaption>\n{}</figure>\n",
            text(&m.name),
            text(&stats),
            percentile_chart(
                &format!("{}: latency by percentile", m.name),
                &[Curve {
                    histogram: &histogram,
                    class: "s0",
                    label: "",
                }],
                &limit_lines(report, &m.name, None),
                decades
            )
        );
    }
    out.push_str("</div>\n</section>\n");
    Ok(())
}

pub(super) fn timeline(out: &mut String, report: &RunReport) {
    let b = buckets(report);
    let per = if b.width == 1 {
        "per second".to_owned()
    } else {
        format!("in {} s buckets", b.width)
    };
    let _ = write!(
        out,
        "<section id=\"timeline\">\n<h2>Timeline<span class=\"sub\">{per}</span></h2>\n\
         <figure class=\"wide\">\n<figcaption><b>Throughput</b><span class=\"stats\">sessions \
         finished per second, failures per second</span></figcaption>\n\
         <ul class=\"legend\"><li><span class=\"sw ok\"></span>sessions ok</li>\
         <li><span class=\"sw failed\"></span>sessions failed</li>\
         <li><span class=\"sw line\"></span>failures</li>"
    );
    if report.late_starts.count > 0 {
        out.push_str("<li><span class=\"sw line late\"></span>late starts</li>");
    }
    let _ = write!(out, "</ul>\n{}</figure>\n", throughput_chart(&b));
    if !report.metrics.is_empty() {
        out.push_str(
            "<figure class=\"wide\">\n<figcaption><b>Latency over time</b>\
             <span class=\"stats\">p99 of each metric</span></figcaption>\n<ul class=\"legend\">",
        );
        // Colours follow the position in `report.metrics`, as the chart's series do.
        for (i, m) in report.metrics.iter().enumerate() {
            if report.is_count_metric(&m.name) {
                continue;
            }
            let _ = write!(
                out,
                "<li><span class=\"sw {}\"></span>{}</li>",
                series_class(i),
                text(&m.name)
            );
        }
        let limits: Vec<(usize, LimitLine)> = report
            .metrics
            .iter()
            .enumerate()
            .flat_map(|(i, m)| {
                limit_lines(report, &m.name, Some(&[crate::metrics::Stat::P99]))
                    .into_iter()
                    .map(move |l| (i, l))
            })
            .collect();
        if !limits.is_empty() {
            out.push_str("<li><span class=\"sw line limit\"></span>p99 thresholds</li>");
        }
        let _ = write!(
            out,
            "</ul>\n{}</figure>\n",
            latency_timeline_chart(&b, &limits)
        );
    }
    if b.buckets.iter().any(|k| k.planned > 0) {
        let _ = write!(
            out,
            "<figure class=\"wide\">\n<figcaption><b>Arrival rate</b><span class=\"stats\">\
             sessions the open model planned to start per second, and those that started\
             </span></figcaption>\n<ul class=\"legend\"><li><span class=\"sw line planned\">\
             </span>planned</li><li><span class=\"sw line started\"></span>started</li></ul>\n\
             {}</figure>\n",
            arrival_chart(&b)
        );
    }
    if b.buckets.iter().any(|k| k.started > 0) {
        let _ = write!(
            out,
            "<figure class=\"wide\">\n<figcaption><b>Sessions in flight</b>\
             <span class=\"stats\">started and not yet finished</span></figcaption>\n\
             <ul class=\"legend\"><li><span class=\"sw line in-flight\"></span>average (session \
             time per second)</li><li><span class=\"sw line in-flight-end\"></span>at the end of \
             each second{}</li>{}</ul>\n{}</figure>\n",
            if b.width == 1 {
                ""
            } else {
                " (the most in each bucket)"
            },
            if b.buckets.iter().any(|k| k.target.is_some()) {
                "<li><span class=\"sw line in-flight-target\"></span>target (the stages' \
                 concurrency)</li>"
            } else {
                ""
            },
            in_flight_chart(&b)
        );
    }
    let late = &report.late_starts;
    if late.count > 0 {
        let _ = writeln!(
            out,
            "<p class=\"muted\">{} open-model sessions started late (lag p50 {}, p99 {}, max {}); \
             their latencies still count from the intended start.</p>",
            late.count,
            format_micros(late.p50_us),
            format_micros(late.p99_us),
            format_micros(late.max_us)
        );
    }
    out.push_str("</section>\n");
}

pub(super) fn codes(out: &mut String, report: &RunReport) {
    if report.codes.is_empty() {
        return;
    }
    out.push_str(
        "<section id=\"codes\">\n<h2>Response codes</h2>\n<table>\n<thead><tr><th>op</th>\
         <th>code</th><th class=\"num\">count</th><th class=\"num\">share of op</th></tr>\
         </thead>\n<tbody>\n",
    );
    for c in &report.codes {
        let op_total: u64 = report
            .codes
            .iter()
            .filter(|o| o.op == c.op)
            .map(|o| o.count)
            .sum();
        let share = c.count as f64 * 100.0 / op_total.max(1) as f64;
        let row = if c.is_success() {
            ""
        } else {
            " class=\"warn\""
        };
        let _ = writeln!(
            out,
            "<tr{row}><td>{}</td><td class=\"code\">{}</td><td class=\"num\">{}</td>\
             <td class=\"num\">{share:.1}%</td></tr>",
            text(&c.op),
            text(&c.label()),
            c.count
        );
    }
    out.push_str("</tbody>\n</table>\n</section>\n");
}

/// A frame line with its direction styled: `->` sent, `<-` received.
fn frame_line(out: &mut String, frame: &str) {
    let class = if frame.starts_with("->") {
        "out"
    } else if frame.starts_with("<-") {
        "in"
    } else {
        "other"
    };
    let _ = writeln!(out, "<span class=\"{class}\">{}</span>", text(frame));
}

pub(super) fn failures(out: &mut String, report: &RunReport) {
    if report.failures.is_empty() {
        return;
    }
    let kinds = report.failures.len();
    let _ = write!(
        out,
        "<section id=\"failures\">\n<h2>Failures<span class=\"sub\">{} in {kinds} kind{}, \
         most frequent first; up to 3 samples each</span></h2>\n",
        report.failure_count(),
        if kinds == 1 { "" } else { "s" }
    );
    for f in &report.failures {
        let _ = write!(
            out,
            "<article class=\"failure\">\n<h3><span class=\"count\">{}×</span> {} \
             <span class=\"role\">[{}]</span></h3>\n<p class=\"reason\">{}</p>\n",
            f.count,
            text(&f.step),
            text(&f.role),
            text(&f.reason)
        );
        let mut shown = false;
        for s in &f.samples {
            let detail = if s.detail.is_empty() {
                String::new()
            } else {
                format!(" — <span class=\"detail\">{}</span>", text(&s.detail))
            };
            let summary = format!(
                "{} at {:.3}s{detail}",
                s.where_text(),
                s.at_ms as f64 / 1000.0
            );
            if s.frames.is_empty() {
                let _ = writeln!(out, "<p class=\"sample\">{summary}</p>");
                continue;
            }
            // The first sample with frames is shown open; the others one click away.
            let open = if shown { "" } else { " open" };
            shown = true;
            let _ = writeln!(out, "<details{open}><summary>{summary}</summary>");
            out.push_str("<pre class=\"frames\">");
            for frame in &s.frames {
                frame_line(out, frame);
            }
            out.push_str("</pre>\n</details>\n");
        }
        out.push_str("</article>\n");
    }
    out.push_str("</section>\n");
}
