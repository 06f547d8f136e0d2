//! The "Flows" section of a mix's report: per flow, its share, its sessions and how
//! they ended, its session latencies, the p99 of each of its own metrics and how many of
//! its thresholds held — so a failing flow stands out from the healthy ones.

use std::fmt::Write as _;

use crate::metrics::histogram::format_micros;
use crate::metrics::{FLOW_FAILED, FLOW_SESSION};

use super::super::escape::text;
use super::super::json::{FlowReport, MetricReport, RunReport};

pub(super) fn flows(out: &mut String, report: &RunReport) {
    if report.flows.is_empty() {
        return;
    }
    let failing = report
        .flows
        .iter()
        .filter(|f| f.sessions.failed > 0)
        .count();
    let sub = match failing {
        0 => format!("{} flows, no failed session", report.flows.len()),
        n => format!("{n} of {} flows with failed sessions", report.flows.len()),
    };
    let _ = write!(
        out,
        "<section id=\"flows\">\n<h2>Flows<span class=\"sub\">{}</span></h2>\n<table>\n\
         <thead><tr><th>flow</th><th class=\"num\">share</th><th class=\"num\">sessions</th>\
         <th class=\"num\">ok</th><th class=\"num\">failed</th><th class=\"num\">failure rate</th>\
         <th class=\"num\">rate</th><th class=\"num\">session p50</th>\
         <th class=\"num\">session p99</th><th>p99 of its metrics</th>\
         <th class=\"num\">thresholds held</th></tr></thead>\n<tbody>\n",
        text(&sub)
    );
    for flow in &report.flows {
        row(out, report, flow);
    }
    out.push_str("</tbody>\n</table>\n</section>\n");
}

fn row(out: &mut String, report: &RunReport, flow: &FlowReport) {
    let prefix = format!("{}/", flow.name);
    let own = |m: &&MetricReport| m.name.starts_with(&prefix);
    let session = report
        .metrics
        .iter()
        .filter(own)
        .find(|m| m.name[prefix.len()..] == *FLOW_SESSION);
    let latency = |us: Option<u64>| us.map_or_else(|| "-".to_owned(), format_micros);
    let steps: Vec<String> = report
        .metrics
        .iter()
        .filter(own)
        .filter(|m| {
            let name = &m.name[prefix.len()..];
            name != FLOW_SESSION && name != FLOW_FAILED && m.count > 0
        })
        .map(|m| format!("{} {}", &m.name[prefix.len()..], format_micros(m.p99_us)))
        .collect();
    let thresholds: Vec<bool> = report
        .thresholds
        .iter()
        .filter(|t| t.name.starts_with(&prefix))
        .map(|t| t.pass)
        .collect();
    let held = thresholds.iter().filter(|pass| **pass).count();
    let s = &flow.sessions;
    let failure_rate = s.failed as f64 * 100.0 / s.done.max(1) as f64;
    let class = if s.failed > 0 || held < thresholds.len() {
        " class=\"bad\""
    } else {
        ""
    };
    let _ = writeln!(
        out,
        "<tr{class}><td>{}</td><td class=\"num\">{:.1}%</td><td class=\"num\">{}</td>\
         <td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{failure_rate:.1}%</td>\
         <td class=\"num\">{:.1}/s</td><td class=\"num\">{}</td><td class=\"num\">{}</td>\
         <td>{}</td><td class=\"num\">{}</td></tr>",
        text(&flow.name),
        flow.share_percent,
        s.done,
        s.ok,
        s.failed,
        s.rate_per_s,
        latency(session.map(|m| m.p50_us)),
        latency(session.map(|m| m.p99_us)),
        text(&steps.join(", ")),
        if thresholds.is_empty() {
            "-".to_owned()
        } else {
            format!("{held}/{}", thresholds.len())
        },
    );
}
