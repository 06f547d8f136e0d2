//! The HTML page of `sigbench compare`: the regression bounds, the sessions, every
//! metric's statistics side by side with the change, both runs' latency-by-percentile
//! curves on one chart per metric, and the code counts. Self-contained like the report.

use std::fmt::Write as _;

use crate::metrics::histogram::format_micros;

use super::super::compare::{Comparison, change_text, count_change};
use super::super::escape::text;
use super::STYLE;
use super::charts::{Curve, decades_for, percentile_chart};

/// The comparison page.
pub fn render_compare_html(c: &Comparison) -> String {
    let mut out = String::with_capacity(64 * 1024);
    let (status, verdict) = match c.verdicts.iter().filter(|v| !v.pass).count() {
        _ if c.verdicts.is_empty() => ("compared", "no regression bounds given".to_owned()),
        0 => (
            "passed",
            format!("no regression: {} bounds held", c.verdicts.len()),
        ),
        n => (
            "failed",
            format!("regression: {n} of {} bounds exceeded", c.verdicts.len()),
        ),
    };
    let _ = write!(
        out,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <title>{} — compare — sigbench</title>\n<style>\n{STYLE}</style>\n</head>\n<body>\n<main>\n\
         <header class=\"head {status}\">\n<div class=\"title\"><h1>{}</h1>\
         <span class=\"badge {status}\">{status}</span></div>\n<p class=\"verdict\">{}</p>\n\
         <dl class=\"meta\">\n",
        text(&c.new.scenario),
        text(&c.new.scenario),
        text(&verdict)
    );
    for (key, value) in [
        ("base", format!("{} ({})", c.base_label, c.base.started_at)),
        ("new", format!("{} ({})", c.new_label, c.new.started_at)),
    ] {
        let _ = writeln!(
            out,
            "<div><dt>{}</dt><dd>{}</dd></div>",
            text(key),
            text(&value)
        );
    }
    out.push_str("</dl>\n</header>\n");
    bounds(&mut out, c);
    sessions(&mut out, c);
    latency(&mut out, c);
    codes(&mut out, c);
    out.push_str(
        "<footer>sigbench compare · percentiles from each report's exact HdrHistograms</footer>\n\
         </main>\n</body>\n</html>\n",
    );
    out
}

fn opt_us(v: Option<f64>) -> String {
    v.map_or_else(|| "-".to_owned(), |us| format_micros(us.round() as u64))
}

/// `worse` / `better` cell class for a latency change (higher is worse).
fn change_class(base: Option<f64>, new: Option<f64>) -> &'static str {
    match (base, new) {
        (Some(b), Some(n)) if n > b + 0.5 => " worse",
        (Some(b), Some(n)) if n + 0.5 < b => " better",
        _ => "",
    }
}

fn bounds(out: &mut String, c: &Comparison) {
    if c.verdicts.is_empty() {
        return;
    }
    out.push_str(
        "<section id=\"bounds\">\n<h2>Regression bounds</h2>\n<table>\n<thead><tr><th></th>\
         <th>bound</th><th class=\"num\">base</th><th class=\"num\">new</th>\
         <th class=\"num\">change</th></tr></thead>\n<tbody>\n",
    );
    for v in &c.verdicts {
        let (row, mark) = if v.pass {
            ("", "<span class=\"ok-mark\">OK</span>")
        } else {
            (" class=\"bad\"", "<span class=\"fail-mark\">FAIL</span>")
        };
        let _ = writeln!(
            out,
            "<tr{row}><td>{mark}</td><td>{}</td><td class=\"num\">{}</td>\
             <td class=\"num\">{}</td><td class=\"num\">{}</td></tr>",
            text(&v.bound.to_string()),
            opt_us(v.base_us),
            opt_us(v.new_us),
            text(&v.change_text())
        );
    }
    out.push_str("</tbody>\n</table>\n</section>\n");
}

fn sessions(out: &mut String, c: &Comparison) {
    out.push_str(
        "<section id=\"sessions\">\n<h2>Sessions</h2>\n<table>\n<thead><tr><th></th>\
         <th class=\"num\">base</th><th class=\"num\">new</th><th class=\"num\">change</th>\
         </tr></thead>\n<tbody>\n",
    );
    let (b, n) = (&c.base, &c.new);
    for (label, bv, nv) in [
        ("done", b.sessions, n.sessions),
        ("failed", b.failed, n.failed),
        ("failures", b.failures, n.failures),
    ] {
        let _ = writeln!(
            out,
            "<tr><td>{label}</td><td class=\"num\">{bv}</td><td class=\"num\">{nv}</td>\
             <td class=\"num\">{}</td></tr>",
            text(&count_change(bv, nv))
        );
    }
    for c in &c.counts {
        let count = |v: Option<u64>| v.map_or_else(|| "-".to_owned(), |v| v.to_string());
        let _ = writeln!(
            out,
            "<tr><td>{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td>\
             <td class=\"num\">{}</td></tr>",
            text(&c.name),
            count(c.base),
            count(c.new),
            text(&c.change_text())
        );
    }
    let _ = writeln!(
        out,
        "<tr><td>per second</td><td class=\"num\">{:.1}</td><td class=\"num\">{:.1}</td>\
         <td class=\"num\"></td></tr>",
        b.rate_per_s, n.rate_per_s
    );
    out.push_str("</tbody>\n</table>\n</section>\n");
}

fn latency(out: &mut String, c: &Comparison) {
    if c.metrics.is_empty() {
        return;
    }
    out.push_str(
        "<section id=\"latency\">\n<h2>Latency<span class=\"sub\">base → new; charts: latency \
         (log scale) by percentile, base dashed</span></h2>\n<table>\n<thead><tr><th>metric</th>\
         <th>stat</th><th class=\"num\">base</th><th class=\"num\">new</th>\
         <th class=\"num\">change</th></tr></thead>\n<tbody>\n",
    );
    for m in &c.metrics {
        for (i, (stat, b, n)) in m.stats.iter().enumerate() {
            let name = if i == 0 {
                format!(
                    "{} <span class=\"muted\">({} → {})</span>",
                    text(&m.name),
                    m.base_count.map_or("-".to_owned(), |c| c.to_string()),
                    m.new_count.map_or("-".to_owned(), |c| c.to_string())
                )
            } else {
                String::new()
            };
            let change = match (b, n) {
                (Some(b), Some(n)) => change_text(*b, *n),
                _ => "-".to_owned(),
            };
            let _ = writeln!(
                out,
                "<tr><td>{name}</td><td>{stat}</td><td class=\"num\">{}</td>\
                 <td class=\"num\">{}</td><td class=\"num{}\">{}</td></tr>",
                opt_us(*b),
                opt_us(*n),
                change_class(*b, *n),
                text(&change)
            );
        }
    }
    out.push_str(
        "</tbody>\n</table>\n<ul class=\"legend\"><li><span class=\"sw line base\"></span>base\
         </li><li><span class=\"sw line new\"></span>new</li></ul>\n<div class=\"charts\">\n",
    );
    let most = c
        .histograms
        .iter()
        .flat_map(|(b, n)| [b, n])
        .flatten()
        .map(|h| h.len())
        .max()
        .unwrap_or(0);
    let decades = decades_for(most);
    for (m, (b, n)) in c.metrics.iter().zip(&c.histograms) {
        let mut curves = Vec::new();
        if let Some(h) = b {
            curves.push(Curve {
                histogram: h,
                class: "base",
                label: "base ",
            });
        }
        if let Some(h) = n {
            curves.push(Curve {
                histogram: h,
                class: "new",
                label: "new ",
            });
        }
        let _ = write!(
            out,
            "<figure>\n<figcaption><b>{}</b></figcaption>\n{}</figure>\n",
            text(&m.name),
            percentile_chart(
                &format!("{}: base and new latency by percentile", m.name),
                &curves,
                &[],
                decades
            )
        );
    }
    out.push_str("</div>\n</section>\n");
}

fn codes(out: &mut String, c: &Comparison) {
    if c.codes.is_empty() {
        return;
    }
    out.push_str(
        "<section id=\"codes\">\n<h2>Response codes</h2>\n<table>\n<thead><tr><th>op</th>\
         <th>code</th><th class=\"num\">base</th><th class=\"num\">new</th>\
         <th class=\"num\">change</th></tr></thead>\n<tbody>\n",
    );
    for d in &c.codes {
        let _ = writeln!(
            out,
            "<tr><td>{}</td><td>{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td>\
             <td class=\"num\">{}</td></tr>",
            text(&d.op),
            text(&d.label()),
            d.base,
            d.new,
            text(&count_change(d.base, d.new))
        );
    }
    out.push_str("</tbody>\n</table>\n</section>\n");
}
