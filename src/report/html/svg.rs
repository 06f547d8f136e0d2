//! A small SVG writer for the report's charts: a plot area inside margins, nice axis
//! ticks, and elements styled by CSS classes (the page's stylesheet colors them, so the
//! charts follow its light or dark theme). Coordinates are written with one decimal,
//! which keeps the output small and byte-for-byte deterministic.

use std::fmt::Write as _;

use super::super::escape::{push_attr, push_text};

/// A chart's size and the margins around its plot area (the axes' labels live there).
#[derive(Clone, Copy, Debug)]
pub(super) struct Plot {
    pub width: f64,
    pub height: f64,
    pub left: f64,
    pub right: f64,
    pub top: f64,
    pub bottom: f64,
}

impl Plot {
    /// Left edge of the plot area.
    pub fn x0(&self) -> f64 {
        self.left
    }
    /// Right edge of the plot area.
    pub fn x1(&self) -> f64 {
        self.width - self.right
    }
    /// Bottom edge of the plot area (largest y).
    pub fn y0(&self) -> f64 {
        self.height - self.bottom
    }
    /// Top edge of the plot area.
    pub fn y1(&self) -> f64 {
        self.top
    }
    /// The x coordinate of a fraction (0 = left, 1 = right) of the plot width.
    pub fn px(&self, fraction: f64) -> f64 {
        self.x0() + fraction.clamp(0.0, 1.0) * (self.x1() - self.x0())
    }
    /// The y coordinate of a fraction (0 = bottom, 1 = top) of the plot height.
    pub fn py(&self, fraction: f64) -> f64 {
        self.y0() - fraction.clamp(0.0, 1.0) * (self.y0() - self.y1())
    }
}

/// A number for an SVG attribute: one decimal, without a trailing `.0`.
pub(super) fn num(v: f64) -> String {
    let v = if v.is_finite() { v } else { 0.0 };
    let text = format!("{v:.1}");
    match text.strip_suffix(".0") {
        Some("-0") => "0".to_owned(),
        Some(whole) => whole.to_owned(),
        None => text,
    }
}

/// A "nice" tick step (1, 2 or 5 times a power of ten) that cuts `span` into about
/// `ticks` parts; 1 for an empty span.
pub(super) fn nice_step(span: f64, ticks: usize) -> f64 {
    if !(span.is_finite() && span > 0.0) {
        return 1.0;
    }
    let raw = span / ticks.max(1) as f64;
    let magnitude = 10f64.powf(raw.log10().floor());
    let norm = raw / magnitude;
    let nice = if norm <= 1.0 {
        1.0
    } else if norm <= 2.0 {
        2.0
    } else if norm <= 5.0 {
        5.0
    } else {
        10.0
    };
    nice * magnitude
}

/// An axis from 0 to a nice top at or above `max`, with its step.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(super) struct Axis {
    pub top: f64,
    pub step: f64,
}

impl Axis {
    /// 0 ..= a multiple of a nice step at or above `max` (at least `min_step`).
    pub fn up_to(max: f64, ticks: usize, min_step: f64) -> Axis {
        let step = nice_step(max, ticks).max(min_step);
        let top = if max > 0.0 {
            (max / step).ceil() * step
        } else {
            step
        };
        Axis { top, step }
    }

    /// The tick values from 0 to the top.
    pub fn ticks(&self) -> Vec<f64> {
        let n = (self.top / self.step).round() as usize;
        (0..=n).map(|i| i as f64 * self.step).collect()
    }

    /// The fraction of the axis `value` is at.
    pub fn fraction(&self, value: f64) -> f64 {
        if self.top > 0.0 {
            value / self.top
        } else {
            0.0
        }
    }
}

/// A log-scale latency axis over whole decades of microseconds, `10^lo ..= 10^hi`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(super) struct LogAxis {
    lo: i32,
    hi: i32,
}

impl LogAxis {
    /// The decades around `min ..= max` (µs; values below 1 µs count as 1 µs), at least one.
    pub fn around(min: u64, max: u64) -> LogAxis {
        let exp = |v: u64| (v.max(1) as f64).log10();
        let lo = exp(min).floor() as i32;
        let hi = (exp(max).ceil() as i32).max(lo + 1);
        LogAxis { lo, hi }
    }

    /// The fraction of the axis `us` is at (clamped to the axis).
    pub fn fraction(&self, us: f64) -> f64 {
        let v = us.max(1.0).log10();
        (v - f64::from(self.lo)) / f64::from(self.hi - self.lo)
    }

    /// Ticks: every decade, labelled; 2× and 5× in between (labelled when the axis spans
    /// at most three decades). Pairs of (µs, label or empty).
    pub fn ticks(&self) -> Vec<(f64, String)> {
        let label_minor = self.hi - self.lo <= 3;
        let mut ticks = Vec::new();
        for e in self.lo..=self.hi {
            let decade = 10f64.powi(e);
            ticks.push((decade, log_tick(decade)));
            if e < self.hi {
                for m in [2.0, 5.0] {
                    let v = decade * m;
                    let label = if label_minor {
                        log_tick(v)
                    } else {
                        String::new()
                    };
                    ticks.push((v, label));
                }
            }
        }
        ticks
    }
}

/// A log-axis label: `100µs`, `2ms`, `50ms`, `1s`.
fn log_tick(us: f64) -> String {
    if us >= 1e6 {
        format!("{}s", num(us / 1e6))
    } else if us >= 1e3 {
        format!("{}ms", num(us / 1e3))
    } else {
        format!("{}µs", num(us))
    }
}

/// Decimals needed to tell ticks `step` apart.
pub(super) fn decimals(step: f64) -> usize {
    if step >= 1.0 {
        0
    } else if step >= 0.1 {
        1
    } else {
        2
    }
}

/// A count tick label: `40`, `2.5`, `12k`.
pub(super) fn count_tick(value: f64, axis: &Axis) -> String {
    if axis.top >= 10_000.0 {
        let d = decimals(axis.step / 1000.0);
        format!("{:.d$}k", value / 1000.0)
    } else {
        let d = decimals(axis.step);
        format!("{value:.d$}")
    }
}

/// A time tick label for seconds since the start: `45s`, `2m`, `1m30s`, `1h`.
pub(super) fn seconds_tick(secs: f64) -> String {
    let s = secs.round().max(0.0) as u64;
    match (s / 3600, s % 3600 / 60, s % 60) {
        (0, 0, s) => format!("{s}s"),
        (0, m, 0) => format!("{m}m"),
        (0, m, s) => format!("{m}m{s}s"),
        (h, 0, 0) => format!("{h}h"),
        (h, m, _) => format!("{h}h{m}m"),
    }
}

/// An `<svg>` element being written.
pub(super) struct Svg {
    out: String,
}

impl Svg {
    /// Opens an `<svg>` of the plot's size with an accessible title.
    pub fn new(plot: &Plot, class: &str, title: &str) -> Svg {
        let mut out = String::new();
        let _ = write!(
            out,
            "<svg class=\"{class}\" viewBox=\"0 0 {} {}\" role=\"img\" aria-label=\"",
            num(plot.width),
            num(plot.height)
        );
        push_attr(&mut out, title);
        out.push_str("\"><title>");
        push_text(&mut out, title);
        out.push_str("</title>\n");
        Svg { out }
    }

    pub fn line(&mut self, class: &str, from: (f64, f64), to: (f64, f64)) {
        let _ = writeln!(
            self.out,
            "<line class=\"{class}\" x1=\"{}\" y1=\"{}\" x2=\"{}\" y2=\"{}\"/>",
            num(from.0),
            num(from.1),
            num(to.0),
            num(to.1)
        );
    }

    /// Text anchored `start`, `middle` or `end` at `(x, y)`.
    pub fn text(&mut self, class: &str, at: (f64, f64), anchor: &str, text: &str) {
        let _ = write!(
            self.out,
            "<text class=\"{class}\" x=\"{}\" y=\"{}\" text-anchor=\"{anchor}\">",
            num(at.0),
            num(at.1)
        );
        push_text(&mut self.out, text);
        self.out.push_str("</text>\n");
    }

    /// Vertical text (an axis title) centered at `(x, y)`.
    pub fn vertical_text(&mut self, class: &str, at: (f64, f64), text: &str) {
        let (x, y) = (num(at.0), num(at.1));
        let _ = write!(
            self.out,
            "<text class=\"{class}\" x=\"{x}\" y=\"{y}\" text-anchor=\"middle\" \
             transform=\"rotate(-90 {x} {y})\">"
        );
        push_text(&mut self.out, text);
        self.out.push_str("</text>\n");
    }

    /// A rectangle with an optional hover title.
    pub fn rect(&mut self, class: &str, at: (f64, f64), size: (f64, f64), title: Option<&str>) {
        let _ = write!(
            self.out,
            "<rect class=\"{class}\" x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\"",
            num(at.0),
            num(at.1),
            num(size.0.max(0.0)),
            num(size.1.max(0.0))
        );
        self.close_with_title(title, "rect");
    }

    /// A circle with an optional hover title.
    pub fn circle(&mut self, class: &str, at: (f64, f64), r: f64, title: Option<&str>) {
        let _ = write!(
            self.out,
            "<circle class=\"{class}\" cx=\"{}\" cy=\"{}\" r=\"{}\"",
            num(at.0),
            num(at.1),
            num(r)
        );
        self.close_with_title(title, "circle");
    }

    fn close_with_title(&mut self, title: Option<&str>, tag: &str) {
        match title {
            Some(title) => {
                self.out.push_str("><title>");
                push_text(&mut self.out, title);
                let _ = writeln!(self.out, "</title></{tag}>");
            }
            None => self.out.push_str("/>\n"),
        }
    }

    /// A polyline through `points` (nothing for fewer than one point). Consecutive
    /// points that land on the same pixel are dropped.
    pub fn polyline(&mut self, class: &str, points: &[(f64, f64)]) {
        let mut d = String::new();
        let mut last: Option<(String, String)> = None;
        for &(x, y) in points {
            let p = (num(x), num(y));
            if last.as_ref() == Some(&p) {
                continue;
            }
            let _ = write!(
                d,
                "{}{},{}",
                if last.is_none() { "M" } else { " L" },
                p.0,
                p.1
            );
            last = Some(p);
        }
        if !d.is_empty() {
            let _ = writeln!(self.out, "<path class=\"{class}\" d=\"{d}\"/>");
        }
    }

    pub fn finish(mut self) -> String {
        self.out.push_str("</svg>\n");
        self.out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nice_steps_are_1_2_5() {
        assert_eq!(nice_step(100.0, 5), 20.0);
        assert_eq!(nice_step(23.5, 5), 5.0);
        assert_eq!(nice_step(0.0, 5), 1.0);
        assert_eq!(nice_step(7_300.0, 4), 2_000.0);
        let axis = Axis::up_to(21_500.0, 5, 1.0);
        assert_eq!((axis.top, axis.step), (25_000.0, 5_000.0));
        assert_eq!(axis.ticks().len(), 6);
    }

    #[test]
    fn tick_labels_pick_a_unit() {
        assert_eq!(seconds_tick(90.0), "1m30s");
        assert_eq!(seconds_tick(3600.0), "1h");
        assert_eq!(num(-0.01), "0");
        let log = LogAxis::around(300, 520_000);
        let labels: Vec<String> = log.ticks().into_iter().map(|t| t.1).collect();
        assert_eq!(labels.first().map(String::as_str), Some("100µs"));
        assert_eq!(labels.last().map(String::as_str), Some("1s"));
        assert!(
            labels.contains(&String::new()),
            "4 decades: minor ticks unlabelled"
        );
        assert_eq!(log.fraction(1e4), 0.5);
        assert_eq!(num(12.26), "12.3");
    }
}
