//! The report's three kinds of chart, as inline SVG:
//! - [`percentile_chart`]: a metric's latency by percentile, on the log-scale percentile
//!   axis HdrHistogram's plots use (0 %, 90 %, 99 %, 99.9 %, … equally spaced), so the
//!   tail gets as much room as the body;
//! - [`throughput_chart`]: sessions finished per second (ok and failed stacked), with
//!   failures and late starts per second as lines;
//! - [`latency_timeline_chart`]: each metric's p99 per bucket over the run, on a log
//!   latency axis so that a 300 ms session and a 300 µs request both show their shape.

use crate::metrics::LatencyHistogram;
use crate::metrics::histogram::format_micros;

use super::svg::{Axis, LogAxis, Plot, Svg, count_tick, seconds_tick};
use super::timeline::Buckets;

/// Series colors cycle through this many CSS classes (`s0` … `s19`); the second ten
/// are also drawn dashed, so up to 20 metrics stay apart.
pub(super) const SERIES_CLASSES: usize = 20;

/// The CSS classes of series `i`: its color, and `dashed` for the second ten.
pub(super) fn series_class(i: usize) -> String {
    let k = i % SERIES_CLASSES;
    if k >= SERIES_CLASSES / 2 {
        format!("s{k} dashed")
    } else {
        format!("s{k}")
    }
}

const PERCENTILE_PLOT: Plot = Plot {
    width: 560.0,
    height: 280.0,
    left: 62.0,
    right: 18.0,
    top: 14.0,
    bottom: 44.0,
};

const TIMELINE_PLOT: Plot = Plot {
    width: 1120.0,
    height: 260.0,
    left: 62.0,
    right: 18.0,
    top: 14.0,
    bottom: 40.0,
};

/// Points per decade of the percentile axis.
const STEPS_PER_DECADE: u32 = 24;

/// How many nines the percentile axis shows for `count` values: enough to reach the
/// highest percentile the data can tell apart, between 2 (99 %) and 6 (99.9999 %).
pub(super) fn decades_for(count: u64) -> u32 {
    let decades = (count.max(1) as f64).log10().ceil() as u32;
    decades.clamp(2, 6)
}

/// `90%`, `99.9%` for `decade` nines; `0%` for none.
fn percentile_label(decade: u32) -> String {
    match decade {
        0 => "0%".to_owned(),
        1 => "90%".to_owned(),
        2 => "99%".to_owned(),
        d => format!("99.{}%", "9".repeat(d as usize - 2)),
    }
}

fn horizontal_grid(svg: &mut Svg, plot: &Plot, axis: &Axis, label: impl Fn(f64) -> String) {
    for tick in axis.ticks() {
        let y = plot.py(axis.fraction(tick));
        svg.line("grid", (plot.x0(), y), (plot.x1(), y));
        svg.text("tick", (plot.x0() - 6.0, y + 4.0), "end", &label(tick));
    }
}

/// One curve of a percentile chart.
pub(super) struct Curve<'a> {
    pub histogram: &'a LatencyHistogram,
    /// CSS classes of the line (its color), e.g. `s0`, `base`.
    pub class: &'a str,
    /// Prefix of the hover titles of its marks, e.g. `base ` (may be empty).
    pub label: &'a str,
}

/// A horizontal limit line (a threshold) on a latency chart.
pub(super) struct LimitLine {
    pub us: f64,
    /// `p99 ≤ 5ms`.
    pub label: String,
    /// The threshold failed: drawn in the failure color.
    pub failed: bool,
}

/// The log latency axis that holds every curve's range and every limit.
fn latency_axis(curves: &[Curve<'_>], limits: &[LimitLine]) -> Option<LogAxis> {
    let filled = curves.iter().filter(|c| !c.histogram.is_empty());
    let lows = filled.clone().map(|c| c.histogram.min());
    let highs = filled.map(|c| c.histogram.max());
    let limit_us = limits.iter().map(|l| l.us.round() as u64);
    let min = lows.chain(limit_us.clone()).min()?;
    let max = highs.chain(limit_us).max()?;
    Some(LogAxis::around(min, max))
}

fn log_grid(svg: &mut Svg, plot: &Plot, axis: &LogAxis) {
    for (us, label) in axis.ticks() {
        let y = plot.py(axis.fraction(us));
        let class = if label.is_empty() {
            "grid minor"
        } else {
            "grid"
        };
        svg.line(class, (plot.x0(), y), (plot.x1(), y));
        if !label.is_empty() {
            svg.text("tick", (plot.x0() - 6.0, y + 4.0), "end", &label);
        }
    }
}

fn limit_lines(svg: &mut Svg, plot: &Plot, axis: &LogAxis, limits: &[LimitLine]) {
    for limit in limits {
        let y = plot.py(axis.fraction(limit.us));
        let class = if limit.failed {
            "limit failed"
        } else {
            "limit"
        };
        svg.line(class, (plot.x0(), y), (plot.x1(), y));
        svg.text(
            &format!("limit-label{}", if limit.failed { " failed" } else { "" }),
            (plot.x0() + 4.0, y - 4.0),
            "start",
            &limit.label,
        );
    }
}

/// A latency-by-percentile chart of one or more curves (one metric, or the same metric
/// in two reports), with `limits` as horizontal lines. Both axes are logarithmic: the
/// percentile axis in nines (`decades` from [`decades_for`], the same for every chart of
/// a page so they compare at a glance), the latency axis in decades of microseconds so
/// that p50 and a tail ten times higher both show their shape.
pub(super) fn percentile_chart(
    title: &str,
    curves: &[Curve<'_>],
    limits: &[LimitLine],
    decades: u32,
) -> String {
    let plot = PERCENTILE_PLOT;
    let mut svg = Svg::new(&plot, "chart percentiles", title);
    let d = f64::from(decades.max(1));
    let x_of = |nines: f64| plot.px(nines / d);
    let axis = latency_axis(curves, limits);
    if let Some(axis) = &axis {
        log_grid(&mut svg, &plot, axis);
    }
    let mut x_ticks: Vec<(f64, String)> = (0..=decades)
        .map(|k| (f64::from(k), percentile_label(k)))
        .collect();
    x_ticks.insert(1, (2f64.log10(), "50%".to_owned()));
    for (nines, label) in &x_ticks {
        let x = x_of(*nines);
        svg.line("grid vertical", (x, plot.y1()), (x, plot.y0()));
        // The last label ends at the right edge instead of running past it.
        let anchor = if *nines >= d { "end" } else { "middle" };
        let x = if *nines >= d { x + 4.0 } else { x };
        svg.text("tick", (x, plot.y0() + 16.0), anchor, label);
    }
    svg.text(
        "axis-title",
        ((plot.x0() + plot.x1()) / 2.0, plot.height - 6.0),
        "middle",
        "percentile (log scale of nines)",
    );
    svg.vertical_text(
        "axis-title",
        (12.0, (plot.y0() + plot.y1()) / 2.0),
        "latency (log scale)",
    );
    svg.line("axis", (plot.x0(), plot.y0()), (plot.x1(), plot.y0()));
    let Some(axis) = axis.filter(|_| curves.iter().any(|c| !c.histogram.is_empty())) else {
        svg.text(
            "empty",
            ((plot.x0() + plot.x1()) / 2.0, (plot.y0() + plot.y1()) / 2.0),
            "middle",
            "no data",
        );
        return svg.finish();
    };
    limit_lines(&mut svg, &plot, &axis, limits);
    let y_of = |us: u64| plot.py(axis.fraction(us as f64));
    let steps = decades * STEPS_PER_DECADE;
    for curve in curves.iter().filter(|c| !c.histogram.is_empty()) {
        let h = curve.histogram;
        let mut points: Vec<(f64, f64)> = (0..=steps)
            .map(|i| {
                let nines = f64::from(i) / f64::from(STEPS_PER_DECADE);
                let q = 1.0 - 10f64.powf(-nines);
                (x_of(nines), y_of(h.value_at_quantile(q)))
            })
            .collect();
        points.push((x_of(d), y_of(h.max())));
        svg.polyline(&format!("series {}", curve.class), &points);
        let marks = [
            ("p50", 2f64.log10(), 0.5),
            ("p90", 1.0, 0.9),
            ("p99", 2.0, 0.99),
            ("p99.9", 3.0, 0.999),
        ];
        let mark_class = format!("mark {}", curve.class);
        for (label, nines, q) in marks {
            if nines <= d {
                let us = h.value_at_quantile(q);
                let title = format!("{}{label}: {}", curve.label, format_micros(us));
                svg.circle(&mark_class, (x_of(nines), y_of(us)), 3.0, Some(&title));
            }
        }
        let title = format!("{}max: {}", curve.label, format_micros(h.max()));
        svg.circle(&mark_class, (x_of(d), y_of(h.max())), 3.0, Some(&title));
    }
    svg.finish()
}

/// Steps of a time axis in seconds: round numbers of seconds, minutes and hours.
const TIME_STEPS: [u64; 17] = [
    1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200,
];

fn time_axis(svg: &mut Svg, plot: &Plot, span: u64) {
    let raw = span.div_ceil(10).max(1);
    let step = TIME_STEPS
        .iter()
        .copied()
        .find(|&s| s >= raw)
        .unwrap_or_else(|| raw.div_ceil(86400) * 86400);
    for tick in (0..=span).step_by(usize::try_from(step).unwrap_or(usize::MAX)) {
        let tick = tick as f64;
        let x = plot.px(tick / span.max(1) as f64);
        svg.line("tick-mark", (x, plot.y0()), (x, plot.y0() + 4.0));
        svg.text("tick", (x, plot.y0() + 17.0), "middle", &seconds_tick(tick));
    }
    svg.line("axis", (plot.x0(), plot.y0()), (plot.x1(), plot.y0()));
}

/// The x range of a bucket: from its start to its end, as coordinates.
fn bucket_x(plot: &Plot, span: u64, start: u64, secs: u64) -> (f64, f64) {
    let span = span.max(1) as f64;
    (
        plot.px(start as f64 / span),
        plot.px((start + secs) as f64 / span),
    )
}

/// Sessions per second (stacked ok / failed bars), failures and late starts per second.
pub(super) fn throughput_chart(b: &Buckets) -> String {
    let plot = TIMELINE_PLOT;
    let mut svg = Svg::new(&plot, "chart timeline", "sessions and failures per second");
    let max = b
        .buckets
        .iter()
        .map(|k| {
            k.rate(k.sessions_ok + k.sessions_failed)
                .max(k.rate(k.failures))
                .max(k.rate(k.late_starts))
        })
        .fold(0.0, f64::max);
    let axis = Axis::up_to(max, 5, 0.1);
    horizontal_grid(&mut svg, &plot, &axis, |t| count_tick(t, &axis));
    let per = if b.width == 1 {
        "in second".to_owned()
    } else {
        format!("per second, averaged over {}", seconds_tick(b.width as f64))
    };
    for k in &b.buckets {
        let (x0, x1) = bucket_x(&plot, b.span, k.start, k.secs);
        let gap = ((x1 - x0) * 0.15).min(2.0);
        let (x, w) = (x0 + gap / 2.0, x1 - x0 - gap);
        let ok = k.rate(k.sessions_ok);
        let failed = k.rate(k.sessions_failed);
        let y_ok = plot.py(axis.fraction(ok));
        let y_all = plot.py(axis.fraction(ok + failed));
        let title = format!(
            "{}–{}: {} ok, {} failed sessions ({per})",
            seconds_tick(k.start as f64),
            seconds_tick((k.start + k.secs) as f64),
            k.sessions_ok,
            k.sessions_failed
        );
        if ok > 0.0 {
            svg.rect("bar ok", (x, y_ok), (w, plot.y0() - y_ok), Some(&title));
        }
        if failed > 0.0 {
            svg.rect("bar failed", (x, y_all), (w, y_ok - y_all), Some(&title));
        }
    }
    let line = |svg: &mut Svg, class: &str, value: &dyn Fn(&super::timeline::Bucket) -> u64| {
        if b.buckets.iter().all(|k| value(k) == 0) {
            return;
        }
        let points: Vec<(f64, f64)> = b
            .buckets
            .iter()
            .map(|k| {
                let (x0, x1) = bucket_x(&plot, b.span, k.start, k.secs);
                ((x0 + x1) / 2.0, plot.py(axis.fraction(k.rate(value(k)))))
            })
            .collect();
        svg.polyline(class, &points);
        if let [only] = points.as_slice() {
            svg.circle(class, *only, 3.0, None);
        }
    };
    line(&mut svg, "series failures", &|k| k.failures);
    line(&mut svg, "series late", &|k| k.late_starts);
    time_axis(&mut svg, &plot, b.span);
    svg.vertical_text(
        "axis-title",
        (14.0, (plot.y0() + plot.y1()) / 2.0),
        "per second",
    );
    svg.finish()
}

/// Each metric's p99 per bucket, one line per metric (classes from [`series_class`], in
/// the order of the buckets' `p99_us`), on a log latency axis; `limits` (p99 thresholds)
/// as horizontal lines in their metric's color. The page writes the legend.
pub(super) fn latency_timeline_chart(b: &Buckets, limits: &[(usize, LimitLine)]) -> String {
    let plot = TIMELINE_PLOT;
    let mut svg = Svg::new(&plot, "chart timeline", "p99 latency over time, per metric");
    let values = || {
        b.buckets
            .iter()
            .flat_map(|k| k.p99_us.iter().flatten())
            .copied()
            .chain(limits.iter().map(|(_, l)| l.us.round() as u64))
    };
    let axis = LogAxis::around(
        values().min().unwrap_or(100),
        values().max().unwrap_or(1_000),
    );
    log_grid(&mut svg, &plot, &axis);
    for (i, limit) in limits {
        let y = plot.py(axis.fraction(limit.us));
        let failed = if limit.failed { " failed" } else { "" };
        svg.line(
            &format!("limit {}{failed}", series_class(*i)),
            (plot.x0(), y),
            (plot.x1(), y),
        );
        svg.text(
            &format!("limit-label{failed}"),
            (plot.x1() - 4.0, y - 4.0),
            "end",
            &limit.label,
        );
    }
    let series = b.buckets.first().map_or(0, |k| k.p99_us.len());
    for i in 0..series {
        let class = format!("series {}", series_class(i));
        let dot = format!("dot {}", series_class(i));
        let flush = |svg: &mut Svg, run: &mut Vec<(f64, f64)>| {
            match run.as_slice() {
                [] => {}
                [only] => svg.circle(&dot, *only, 2.5, None),
                _ => svg.polyline(&class, run),
            }
            run.clear();
        };
        let mut run: Vec<(f64, f64)> = Vec::new();
        for k in &b.buckets {
            match k.p99_us.get(i).copied().flatten() {
                Some(us) => {
                    let (x0, x1) = bucket_x(&plot, b.span, k.start, k.secs);
                    run.push(((x0 + x1) / 2.0, plot.py(axis.fraction(us as f64))));
                }
                None => flush(&mut svg, &mut run),
            }
        }
        flush(&mut svg, &mut run);
    }
    time_axis(&mut svg, &plot, b.span);
    svg.vertical_text(
        "axis-title",
        (14.0, (plot.y0() + plot.y1()) / 2.0),
        "p99 (log scale)",
    );
    svg.finish()
}

/// A number read off a bucket (a rate, a count) for a line chart.
type BucketValue<'a> = &'a dyn Fn(&super::timeline::Bucket) -> f64;

/// Lines of per-bucket values on a linear axis from 0, one per `(class, value)`; a
/// single bucket is drawn as a dot.
fn count_lines(
    title: &str,
    axis_title: &str,
    b: &Buckets,
    lines: &[(&str, BucketValue<'_>)],
) -> String {
    let plot = TIMELINE_PLOT;
    let mut svg = Svg::new(&plot, "chart timeline", title);
    let max = b
        .buckets
        .iter()
        .flat_map(|k| lines.iter().map(move |(_, v)| v(k)))
        .fold(0.0, f64::max);
    let axis = Axis::up_to(max, 5, 0.1);
    horizontal_grid(&mut svg, &plot, &axis, |t| count_tick(t, &axis));
    for (class, value) in lines {
        let points: Vec<(f64, f64)> = b
            .buckets
            .iter()
            .map(|k| {
                let (x0, x1) = bucket_x(&plot, b.span, k.start, k.secs);
                ((x0 + x1) / 2.0, plot.py(axis.fraction(value(k))))
            })
            .collect();
        match points.as_slice() {
            [only] => svg.circle(&format!("dot {class}"), *only, 3.0, None),
            _ => svg.polyline(&format!("series {class}"), &points),
        }
    }
    time_axis(&mut svg, &plot, b.span);
    svg.vertical_text(
        "axis-title",
        (14.0, (plot.y0() + plot.y1()) / 2.0),
        axis_title,
    );
    svg.finish()
}

/// Sessions started per second against the schedule's planned arrivals per second (the
/// open model): where the lines part, the generator or the server fell behind.
pub(super) fn arrival_chart(b: &Buckets) -> String {
    count_lines(
        "planned and achieved arrivals per second",
        "sessions started per second",
        b,
        // Planned last, dashed on top, so it shows where the two coincide.
        &[
            ("started", &|k| k.rate(k.started)),
            ("planned", &|k| k.rate(k.planned)),
        ],
    )
}

/// Sessions in flight (started, not finished) over time: the average over each bucket
/// (session time of the sessions that ended in it, per second of it: Little's law), and
/// the count at the end of each second (the most in the bucket).
/// With a load that sets a target concurrency (`stages`), that target is drawn too,
/// dashed: where the lines part, sessions took longer than the ramp allowed for.
pub(super) fn in_flight_chart(b: &Buckets) -> String {
    let average: BucketValue<'_> = &|k| k.session_us / (k.secs.max(1) as f64 * 1e6);
    let end: BucketValue<'_> = &|k| k.in_flight as f64;
    let target: BucketValue<'_> = &|k| k.target.unwrap_or(0) as f64;
    let mut lines = vec![("in-flight", average), ("in-flight-end", end)];
    if b.buckets.iter().any(|k| k.target.is_some()) {
        // Last, dashed on top, as the planned arrivals are.
        lines.push(("in-flight-target", target));
    }
    count_lines(
        "sessions in flight over time",
        "sessions in flight",
        b,
        &lines,
    )
}

/// The x coordinate, in a percentile chart of `decades`, of percentile `q` (for tests).
#[cfg(test)]
fn percentile_x(q: f64, decades: u32) -> String {
    let nines = -(1.0 - q).log10();
    super::svg::num(PERCENTILE_PLOT.px(nines / f64::from(decades)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decades_follow_the_count() {
        assert_eq!(decades_for(0), 2);
        assert_eq!(decades_for(200), 3);
        assert_eq!(decades_for(1_000_000), 6);
        assert_eq!(decades_for(u64::MAX), 6);
        assert_eq!(percentile_label(3), "99.9%");
        assert_eq!(percentile_label(1), "90%");
        assert_eq!(percentile_label(2), "99%");
    }

    #[test]
    fn percentile_axis_is_logarithmic() {
        // 99 % sits two thirds along a 3-decade axis.
        let plot = PERCENTILE_PLOT;
        let two_thirds = super::super::svg::num(plot.px(2.0 / 3.0));
        assert_eq!(percentile_x(0.99, 3), two_thirds);
    }
}
