//! `sigbench compare`: two JSON reports side by side. Percentiles come from the exact
//! HdrHistograms the reports carry (not from their rounded summary fields), so `p99.99`
//! can be compared as well as `p99`; code counts and session counts are compared as
//! numbers. Regression bounds (`call.p99=10%`, `session.max=+50ms`) turn the comparison
//! into a verdict a CI job can exit on.

use std::fmt;
use std::fmt::Write as _;

use crate::metrics::LatencyHistogram;
use crate::metrics::histogram::{decode, format_micros};

use super::json::{ReportError, RunReport};

/// A statistic of a latency histogram that can be compared.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum CompareStat {
    /// A quantile in (0, 1), e.g. 0.99 for `p99`.
    Percentile(f64),
    Mean,
    Max,
}

impl CompareStat {
    /// The statistics every comparison shows, in order.
    pub const SHOWN: [CompareStat; 6] = [
        CompareStat::Percentile(0.50),
        CompareStat::Percentile(0.90),
        CompareStat::Percentile(0.99),
        CompareStat::Percentile(0.999),
        CompareStat::Max,
        CompareStat::Mean,
    ];

    /// Parses `p50`, `p99`, `p99.9`, `p999` (read as 99.9), `max`, `mean`.
    pub fn parse(text: &str) -> Result<CompareStat, String> {
        let bad = || {
            format!("unknown statistic '{text}' (expected p50, p90, p99, p99.9, ..., max or mean)")
        };
        match text {
            "max" => return Ok(CompareStat::Max),
            "mean" => return Ok(CompareStat::Mean),
            _ => {}
        }
        let digits = text.strip_prefix('p').ok_or_else(bad)?;
        // `p999` is the usual spelling of 99.9 (as in the report's `p999_us`).
        let percent: f64 = match digits {
            d if !d.contains('.') && d.len() > 2 && d.starts_with("99") => {
                format!("{}.{}", &d[..2], &d[2..])
                    .parse()
                    .map_err(|_| bad())?
            }
            d => d.parse().map_err(|_| bad())?,
        };
        if !(percent > 0.0 && percent < 100.0) {
            return Err(bad());
        }
        // Rounded to 12 decimals, so that `p99.99` is the double nearest 0.9999 (not
        // 0.99989999…, which HdrHistogram would read one value lower in a large count).
        Ok(CompareStat::Percentile((percent * 1e10).round() / 1e12))
    }

    /// The statistic of `h`, in microseconds; `None` when `h` is empty.
    pub fn of(self, h: &LatencyHistogram) -> Option<f64> {
        if h.is_empty() {
            return None;
        }
        Some(match self {
            CompareStat::Percentile(q) => h.value_at_quantile(q) as f64,
            CompareStat::Mean => h.mean(),
            CompareStat::Max => h.max() as f64,
        })
    }
}

impl fmt::Display for CompareStat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CompareStat::Percentile(q) => {
                let percent = format!("{:.4}", q * 100.0);
                let percent = percent.trim_end_matches('0').trim_end_matches('.');
                write!(f, "p{percent}")
            }
            CompareStat::Mean => f.write_str("mean"),
            CompareStat::Max => f.write_str("max"),
        }
    }
}

/// How much worse a statistic may get.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Allowance {
    /// At most this many percent above the base value.
    Percent(f64),
    /// At most this many microseconds above the base value.
    Micros(u64),
}

impl fmt::Display for Allowance {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Allowance::Percent(p) => write!(f, "+{}%", trim_float(*p)),
            Allowance::Micros(us) => write!(f, "+{}", format_micros(*us)),
        }
    }
}

fn trim_float(v: f64) -> String {
    let text = format!("{v:.3}");
    text.trim_end_matches('0').trim_end_matches('.').to_owned()
}

/// One `--max-regression` bound: `METRIC.STAT=LIMIT`.
#[derive(Clone, Debug, PartialEq)]
pub struct RegressionBound {
    pub metric: String,
    pub stat: CompareStat,
    pub allowance: Allowance,
}

impl RegressionBound {
    /// Parses `call.p99=10%` or `session.max=50ms` (a duration is an absolute increase;
    /// a leading `+` is allowed). The metric is everything before the last `.` that
    /// starts a statistic, so metric names may contain dots.
    pub fn parse(text: &str) -> Result<RegressionBound, String> {
        let (key, limit) = text.split_once('=').ok_or_else(|| {
            format!("--max-regression '{text}': expected METRIC.STAT=LIMIT, e.g. call.p99=10%")
        })?;
        let (metric, stat) = split_metric_stat(key.trim()).ok_or_else(|| {
            format!(
                "--max-regression '{text}': '{key}' is not METRIC.STAT (e.g. call.p99, session.max)"
            )
        })?;
        let stat =
            CompareStat::parse(stat).map_err(|e| format!("--max-regression '{text}': {e}"))?;
        let limit = limit.trim();
        let value = limit.strip_prefix('+').unwrap_or(limit);
        let allowance = if let Some(percent) = value.strip_suffix('%') {
            match percent.trim().parse::<f64>() {
                Ok(p) if p.is_finite() && p >= 0.0 => Allowance::Percent(p),
                _ => {
                    return Err(format!(
                        "--max-regression '{text}': '{limit}' is not a percentage like 10%"
                    ));
                }
            }
        } else {
            let d = crate::scenario::parse_duration(value).map_err(|e| {
                format!(
                    "--max-regression '{text}': the limit is a percentage (10%) or a duration: {e}"
                )
            })?;
            Allowance::Micros(crate::metrics::histogram::micros(d))
        };
        Ok(RegressionBound {
            metric: metric.to_owned(),
            stat,
            allowance,
        })
    }
}

impl fmt::Display for RegressionBound {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{} {}", self.metric, self.stat, self.allowance)
    }
}

/// `("call.x", "p99.9")` from `call.x.p99.9`: the statistic is the shortest tail that
/// parses (`p99.9` rather than `9`).
fn split_metric_stat(key: &str) -> Option<(&str, &str)> {
    key.match_indices('.')
        .map(|(i, _)| (&key[..i], &key[i + 1..]))
        .find(|(metric, stat)| !metric.is_empty() && CompareStat::parse(stat).is_ok())
}

/// One metric in both reports. Values in microseconds; `None` when absent or empty.
#[derive(Clone, Debug, PartialEq)]
pub struct MetricDelta {
    pub name: String,
    pub base_count: Option<u64>,
    pub new_count: Option<u64>,
    /// `(stat, base, new)` for each of [`CompareStat::SHOWN`].
    pub stats: Vec<(CompareStat, Option<f64>, Option<f64>)>,
}

/// How often `op` got `code` in each report.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CodeDelta {
    pub op: String,
    pub code: u32,
    /// The code's name as the reports carry it (`codes[].name`).
    pub name: Option<String>,
    pub base: u64,
    pub new: u64,
}

impl CodeDelta {
    /// `486 Busy Here`, `10404 ROOM_NOT_EXISTS`, or the bare number.
    pub fn label(&self) -> String {
        match &self.name {
            Some(name) => format!("{} {name}", self.code),
            None => self.code.to_string(),
        }
    }
}

/// A bound checked against both reports.
#[derive(Clone, Debug, PartialEq)]
pub struct Verdict {
    pub bound: RegressionBound,
    pub base_us: Option<f64>,
    pub new_us: Option<f64>,
    /// Why the bound could not be judged (it then fails), e.g. no data.
    pub problem: Option<String>,
    pub pass: bool,
}

impl Verdict {
    /// The change as text: `+12.5% (+1.20ms)`, or the problem.
    pub fn change_text(&self) -> String {
        match (&self.problem, self.base_us, self.new_us) {
            (Some(p), _, _) => p.clone(),
            (None, Some(b), Some(n)) => change_text(b, n),
            _ => "-".to_owned(),
        }
    }
}

/// Two reports compared; see the module docs.
#[derive(Clone, Debug, PartialEq)]
pub struct Comparison {
    /// How the two reports are named on screen (their paths).
    pub base_label: String,
    pub new_label: String,
    pub base: Summary,
    pub new: Summary,
    /// Base's latency metrics in order, then the ones only the new report has.
    pub metrics: Vec<MetricDelta>,
    /// The metrics that are counts (a flow's failed sessions, see
    /// [`RunReport::is_count_metric`]), compared as numbers, base's order first.
    pub counts: Vec<CountDelta>,
    /// Every `(op, code)` either report has, base's order first.
    pub codes: Vec<CodeDelta>,
    pub verdicts: Vec<Verdict>,
    /// The base histograms and the new ones, per metric of `metrics` (for charts).
    pub histograms: Vec<(Option<LatencyHistogram>, Option<LatencyHistogram>)>,
}

/// A count metric of either report: its count on each side (`None`: not in that report).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CountDelta {
    pub name: String,
    pub base: Option<u64>,
    pub new: Option<u64>,
}

/// The run-level numbers of one side.
#[derive(Clone, Debug, PartialEq)]
pub struct Summary {
    pub scenario: String,
    pub started_at: String,
    pub duration_ms: u64,
    pub sessions: u64,
    pub failed: u64,
    pub rate_per_s: f64,
    pub failures: u64,
    pub sigbench_version: String,
}

impl Summary {
    fn of(report: &RunReport) -> Summary {
        Summary {
            scenario: report.meta.scenario.clone(),
            started_at: report.meta.started_at.clone(),
            duration_ms: report.meta.duration_ms,
            sessions: report.sessions.done,
            failed: report.sessions.failed,
            rate_per_s: report.sessions.rate_per_s,
            failures: report.failure_count(),
            sigbench_version: report.meta.sigbench_version.clone(),
        }
    }
}

/// Why two reports could not be compared.
#[derive(Debug, thiserror::Error)]
pub enum CompareError {
    #[error(transparent)]
    Report(#[from] ReportError),
    #[error(
        "--max-regression {bound}: metric '{metric}' is in neither report (they have: {known})"
    )]
    UnknownMetric {
        bound: String,
        metric: String,
        known: String,
    },
    #[error(
        "--max-regression {bound}: '{metric}' is a count (a flow's failed sessions), not a latency; its change is shown with the sessions"
    )]
    CountMetric { bound: String, metric: String },
}

/// The latency metrics' histograms.
fn histograms(report: &RunReport) -> Result<Vec<(String, LatencyHistogram)>, ReportError> {
    report
        .latency_metrics()
        .map(|m| {
            decode(&m.histogram)
                .map(|h| (m.name.clone(), h))
                .map_err(|source| ReportError::Histogram {
                    metric: m.name.clone(),
                    source,
                })
        })
        .collect()
}

impl Comparison {
    /// Compares `new` against `base` and judges `bounds`. A bound naming a metric neither
    /// report has is an error (a typo must not pass silently); a metric only one report
    /// has, or one without data, fails its bound.
    pub fn new(
        (base_label, base): (&str, &RunReport),
        (new_label, new): (&str, &RunReport),
        bounds: &[RegressionBound],
    ) -> Result<Comparison, CompareError> {
        let base_h = histograms(base)?;
        let new_h = histograms(new)?;
        let mut names: Vec<&str> = base_h.iter().map(|(n, _)| n.as_str()).collect();
        for (n, _) in &new_h {
            if !names.contains(&n.as_str()) {
                names.push(n);
            }
        }
        let find = |list: &[(String, LatencyHistogram)], name: &str| {
            list.iter().find(|(n, _)| n == name).map(|(_, h)| h.clone())
        };
        let mut metrics = Vec::new();
        let mut hists = Vec::new();
        for name in &names {
            let (b, n) = (find(&base_h, name), find(&new_h, name));
            let stats = CompareStat::SHOWN
                .iter()
                .map(|s| {
                    (
                        *s,
                        b.as_ref().and_then(|h| s.of(h)),
                        n.as_ref().and_then(|h| s.of(h)),
                    )
                })
                .collect();
            metrics.push(MetricDelta {
                name: (*name).to_owned(),
                base_count: b.as_ref().map(|h| h.len()),
                new_count: n.as_ref().map(|h| h.len()),
                stats,
            });
            hists.push((b, n));
        }
        let mut codes: Vec<CodeDelta> = Vec::new();
        for (side, report) in [(0, base), (1, new)] {
            for c in &report.codes {
                let entry = match codes.iter_mut().find(|d| d.op == c.op && d.code == c.code) {
                    Some(entry) => entry,
                    None => {
                        codes.push(CodeDelta {
                            op: c.op.clone(),
                            code: c.code,
                            name: None,
                            base: 0,
                            new: 0,
                        });
                        codes.last_mut().expect("just pushed")
                    }
                };
                if entry.name.is_none() {
                    entry.name.clone_from(&c.name);
                }
                if side == 0 {
                    entry.base += c.count;
                } else {
                    entry.new += c.count;
                }
            }
        }
        let mut counts: Vec<CountDelta> = Vec::new();
        for (side, report) in [(0, base), (1, new)] {
            for m in report
                .metrics
                .iter()
                .filter(|m| report.is_count_metric(&m.name))
            {
                let entry = match counts.iter_mut().find(|c| c.name == m.name) {
                    Some(entry) => entry,
                    None => {
                        counts.push(CountDelta {
                            name: m.name.clone(),
                            base: None,
                            new: None,
                        });
                        counts.last_mut().expect("just pushed")
                    }
                };
                if side == 0 {
                    entry.base = Some(m.count);
                } else {
                    entry.new = Some(m.count);
                }
            }
        }
        let mut verdicts = Vec::new();
        for bound in bounds {
            if counts.iter().any(|c| c.name == bound.metric) {
                return Err(CompareError::CountMetric {
                    bound: bound.to_string(),
                    metric: bound.metric.clone(),
                });
            }
            let (b, n) = (find(&base_h, &bound.metric), find(&new_h, &bound.metric));
            if b.is_none() && n.is_none() {
                return Err(CompareError::UnknownMetric {
                    bound: bound.to_string(),
                    metric: bound.metric.clone(),
                    known: names.join(", "),
                });
            }
            verdicts.push(judge(bound, b.as_ref(), n.as_ref()));
        }
        Ok(Comparison {
            base_label: base_label.to_owned(),
            new_label: new_label.to_owned(),
            base: Summary::of(base),
            new: Summary::of(new),
            metrics,
            counts,
            codes,
            verdicts,
            histograms: hists,
        })
    }

    /// True when every bound held.
    pub fn passed(&self) -> bool {
        self.verdicts.iter().all(|v| v.pass)
    }

    /// The terminal table: sessions, every metric's statistics, code counts, bounds.
    pub fn render_text(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(out, "base: {} ({})", self.base_label, self.base.started_at);
        let _ = writeln!(out, "new:  {} ({})", self.new_label, self.new.started_at);
        if self.base.scenario != self.new.scenario {
            let _ = writeln!(
                out,
                "note: different scenarios ('{}' and '{}')",
                self.base.scenario, self.new.scenario
            );
        }
        let _ = writeln!(
            out,
            "\n{:<24} {:>12} {:>12}  {:>18}",
            "sessions", "base", "new", "change"
        );
        let count_row = |out: &mut String, label: &str, b: f64, n: f64, digits: usize| {
            let _ = writeln!(
                out,
                "{label:<24} {:>12} {:>12}  {:>18}",
                format!("{b:.digits$}"),
                format!("{n:.digits$}"),
                percent_text(b, n)
            );
        };
        let (b, n) = (&self.base, &self.new);
        count_row(&mut out, "  done", b.sessions as f64, n.sessions as f64, 0);
        count_row(&mut out, "  failed", b.failed as f64, n.failed as f64, 0);
        count_row(&mut out, "  per second", b.rate_per_s, n.rate_per_s, 1);
        count_row(
            &mut out,
            "  failures",
            b.failures as f64,
            n.failures as f64,
            0,
        );
        for c in &self.counts {
            let _ = writeln!(
                out,
                "{:<24} {:>12} {:>12}  {:>18}",
                truncate(&format!("  {}", c.name), 24),
                opt_count(c.base),
                opt_count(c.new),
                c.change_text()
            );
        }
        let _ = writeln!(
            out,
            "\n{:<24} {:>12} {:>12}  {:>18}",
            "latency", "base", "new", "change"
        );
        for m in &self.metrics {
            let counts = format!(
                "{} (count {} → {})",
                m.name,
                opt_count(m.base_count),
                opt_count(m.new_count)
            );
            let _ = writeln!(out, "{}", truncate(&counts, 80));
            for (stat, b, n) in &m.stats {
                let change = match (b, n) {
                    (Some(b), Some(n)) => change_text(*b, *n),
                    _ => "-".to_owned(),
                };
                let _ = writeln!(
                    out,
                    "  {:<22} {:>12} {:>12}  {:>18}",
                    stat.to_string(),
                    opt_us(*b),
                    opt_us(*n),
                    change
                );
            }
        }
        if !self.codes.is_empty() {
            let _ = writeln!(
                out,
                "\n{:<24} {:>12} {:>12}  {:>18}",
                "codes", "base", "new", "change"
            );
            for c in &self.codes {
                let label = format!("{} {}", c.op, c.label());
                let _ = writeln!(
                    out,
                    "  {:<22} {:>12} {:>12}  {:>18}",
                    truncate(&label, 22),
                    c.base,
                    c.new,
                    count_change(c.base, c.new)
                );
            }
        }
        if !self.verdicts.is_empty() {
            out.push_str("\nregression bounds\n");
            for v in &self.verdicts {
                let _ = writeln!(
                    out,
                    "  {:<4}  {}: {} → {}, {}",
                    if v.pass { "ok" } else { "FAIL" },
                    v.bound,
                    opt_us(v.base_us),
                    opt_us(v.new_us),
                    v.change_text()
                );
            }
            let failed = self.verdicts.iter().filter(|v| !v.pass).count();
            let _ = writeln!(
                out,
                "\n{}",
                match failed {
                    0 => format!("no regression: {} bounds held", self.verdicts.len()),
                    f => format!("REGRESSION: {f} of {} bounds exceeded", self.verdicts.len()),
                }
            );
        }
        out
    }
}

fn judge(
    bound: &RegressionBound,
    base: Option<&LatencyHistogram>,
    new: Option<&LatencyHistogram>,
) -> Verdict {
    let base_us = base.and_then(|h| bound.stat.of(h));
    let new_us = new.and_then(|h| bound.stat.of(h));
    let problem = match (base, new, base_us, new_us) {
        (None, _, _, _) => Some("not in the base report".to_owned()),
        (_, None, _, _) => Some("not in the new report".to_owned()),
        (_, _, None, _) => Some("no data in the base report".to_owned()),
        (_, _, _, None) => Some("no data in the new report".to_owned()),
        _ => None,
    };
    let pass = match (base_us, new_us, &problem) {
        (Some(b), Some(n), None) => match bound.allowance {
            Allowance::Micros(us) => n <= b + us as f64,
            // A base of 0 µs allows only 0 µs (any growth is infinitely many percent).
            Allowance::Percent(p) => n <= b * (1.0 + p / 100.0) + 1e-9,
        },
        _ => false,
    };
    Verdict {
        bound: bound.clone(),
        base_us,
        new_us,
        problem,
        pass,
    }
}

/// `+12.5% (+1.20ms)`, `-3.0% (-40µs)`, `±0`.
pub fn change_text(base: f64, new: f64) -> String {
    let diff = new - base;
    if diff.abs() < 0.5 {
        return "±0".to_owned();
    }
    let sign = if diff > 0.0 { "+" } else { "-" };
    let abs = format_micros(diff.abs().round() as u64);
    if base > 0.0 {
        format!("{:+.1}% ({sign}{abs})", diff / base * 100.0)
    } else {
        format!("{sign}{abs}")
    }
}

/// `+12.5%`, `±0`, `new` (from zero).
fn percent_text(base: f64, new: f64) -> String {
    if (new - base).abs() < 1e-9 {
        "±0".to_owned()
    } else if base == 0.0 {
        "new".to_owned()
    } else {
        format!("{:+.1}%", (new - base) / base * 100.0)
    }
}

impl CountDelta {
    /// [`count_change`], or `-` when one report does not have the metric.
    pub fn change_text(&self) -> String {
        match (self.base, self.new) {
            (Some(b), Some(n)) => count_change(b, n),
            _ => "-".to_owned(),
        }
    }
}

/// `+12 (+3.4%)`, `±0`, `+5 (new)`, `-5 (gone)`.
pub fn count_change(base: u64, new: u64) -> String {
    match (base, new) {
        (b, n) if b == n => "±0".to_owned(),
        (0, n) => format!("+{n} (new)"),
        (b, 0) => format!("-{b} (gone)"),
        (b, n) => {
            let diff = n as i128 - b as i128;
            format!("{diff:+} ({:+.1}%)", diff as f64 / b as f64 * 100.0)
        }
    }
}

fn opt_us(v: Option<f64>) -> String {
    v.map_or_else(|| "-".to_owned(), |us| format_micros(us.round() as u64))
}

fn opt_count(v: Option<u64>) -> String {
    v.map_or_else(|| "-".to_owned(), |c| c.to_string())
}

fn truncate(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        text.to_owned()
    } else {
        let mut t: String = text.chars().take(max - 1).collect();
        t.push('…');
        t
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stats_parse_and_print() {
        assert_eq!(CompareStat::parse("p99"), Ok(CompareStat::Percentile(0.99)));
        assert_eq!(CompareStat::parse("p999").unwrap().to_string(), "p99.9");
        assert_eq!(CompareStat::parse("p99.99").unwrap().to_string(), "p99.99");
        assert_eq!(CompareStat::parse("p50").unwrap().to_string(), "p50");
        assert_eq!(CompareStat::parse("max"), Ok(CompareStat::Max));
        for bad in ["p100", "p0", "q99", "p", "pxx", "median"] {
            assert!(CompareStat::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn bounds_parse_with_dotted_metrics() {
        let b = RegressionBound::parse("call.p99=10%").unwrap();
        assert_eq!(
            (b.metric.as_str(), b.stat, b.allowance),
            (
                "call",
                CompareStat::Percentile(0.99),
                Allowance::Percent(10.0)
            )
        );
        let b = RegressionBound::parse("a.b.p99.9=+2ms").unwrap();
        assert_eq!(b.metric, "a.b");
        assert_eq!(b.stat, CompareStat::Percentile(0.999));
        assert_eq!(b.allowance, Allowance::Micros(2_000));
        assert_eq!(b.to_string(), "a.b.p99.9 +2.00ms");
        for bad in [
            "call.p99",
            "call=10%",
            "call.p99=ten%",
            "call.p99=-5%",
            "call.p99=5",
        ] {
            assert!(RegressionBound::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn changes_read_well() {
        assert_eq!(change_text(1000.0, 1125.0), "+12.5% (+125µs)");
        assert_eq!(change_text(2000.0, 1000.0), "-50.0% (-1.00ms)");
        assert_eq!(change_text(5.0, 5.2), "±0");
        assert_eq!(count_change(10, 12), "+2 (+20.0%)");
        assert_eq!(count_change(0, 3), "+3 (new)");
        assert_eq!(count_change(3, 0), "-3 (gone)");
    }
}
