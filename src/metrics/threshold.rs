//! Thresholds: a limit on one statistic of the run, checked against [`Results`].
//!
//! The scenario parser builds [`ThresholdCheck`]s from YAML (it owns that syntax); this
//! module checks that they make sense ([`validate`], for `sigbench check`) and evaluates
//! them ([`evaluate`]). A threshold naming a metric the run does not have is an error,
//! never a silent pass; a latency threshold on a metric that recorded nothing fails.

use std::fmt;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::MetricSet;
use super::histogram::{Stats, format_micros, micros};
use super::results::{Results, rate};

/// The statistic a threshold limits.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Stat {
    P50,
    P90,
    P95,
    P99,
    P999,
    Max,
    Mean,
    /// Latencies recorded for the metric; without a metric, sessions finished.
    Count,
    /// `Count` per second of run time.
    Rate,
    /// Failures at the step named by the metric; without a metric, all failures.
    Failures,
    /// Failed sessions / finished sessions (run-wide only).
    FailureRate,
}

impl Stat {
    /// Every statistic.
    pub const ALL: [Stat; 11] = [
        Stat::P50,
        Stat::P90,
        Stat::P95,
        Stat::P99,
        Stat::P999,
        Stat::Max,
        Stat::Mean,
        Stat::Count,
        Stat::Rate,
        Stat::Failures,
        Stat::FailureRate,
    ];

    /// The name used in scenarios and reports (`p99`, `failure_rate`).
    pub const fn as_str(self) -> &'static str {
        match self {
            Stat::P50 => "p50",
            Stat::P90 => "p90",
            Stat::P95 => "p95",
            Stat::P99 => "p99",
            Stat::P999 => "p999",
            Stat::Max => "max",
            Stat::Mean => "mean",
            Stat::Count => "count",
            Stat::Rate => "rate",
            Stat::Failures => "failures",
            Stat::FailureRate => "failure_rate",
        }
    }

    /// Looks a statistic up by [`Stat::as_str`] name.
    pub fn from_name(name: &str) -> Option<Stat> {
        Stat::ALL.into_iter().find(|s| s.as_str() == name)
    }

    /// The comparison a bare limit implies: at least for `count` and `rate`, at most
    /// otherwise (`p99: 50ms` means p99 ≤ 50 ms; `rate: 100` means ≥ 100/s).
    pub const fn default_comparison(self) -> Comparison {
        match self {
            Stat::Count | Stat::Rate => Comparison::Ge,
            _ => Comparison::Le,
        }
    }

    /// The unit of this statistic's limit, as [`Quantity::unit`] names it.
    pub const fn unit(self) -> &'static str {
        match self {
            Stat::Count | Stat::Failures => "count",
            Stat::Rate => "per_s",
            Stat::FailureRate => "fraction",
            _ => "us",
        }
    }

    /// The latency statistics, which limit a metric's histogram.
    pub const LATENCY: [Stat; 7] = [
        Stat::P50,
        Stat::P90,
        Stat::P95,
        Stat::P99,
        Stat::P999,
        Stat::Max,
        Stat::Mean,
    ];

    /// True for the statistics of a latency histogram (percentiles, max, mean).
    pub const fn is_latency(self) -> bool {
        matches!(
            self,
            Stat::P50 | Stat::P90 | Stat::P95 | Stat::P99 | Stat::P999 | Stat::Max | Stat::Mean
        )
    }
}

impl fmt::Display for Stat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How the observed value must compare with the limit.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Comparison {
    Le,
    Ge,
    Lt,
    Gt,
}

impl Comparison {
    /// `<=`, `>=`, `<`, `>`.
    pub const fn symbol(self) -> &'static str {
        match self {
            Comparison::Le => "<=",
            Comparison::Ge => ">=",
            Comparison::Lt => "<",
            Comparison::Gt => ">",
        }
    }

    /// True when `observed <op> limit` holds.
    pub fn holds(self, observed: f64, limit: f64) -> bool {
        match self {
            Comparison::Le => observed <= limit,
            Comparison::Ge => observed >= limit,
            Comparison::Lt => observed < limit,
            Comparison::Gt => observed > limit,
        }
    }
}

/// A value with its unit: a limit, or what was observed.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Quantity {
    Latency(Duration),
    Count(u64),
    /// Per second.
    Rate(f64),
    /// 0.0 ..= 1.0.
    Fraction(f64),
}

impl Quantity {
    /// `us`, `count`, `per_s` or `fraction` (the names used in the JSON report).
    pub const fn unit(&self) -> &'static str {
        match self {
            Quantity::Latency(_) => "us",
            Quantity::Count(_) => "count",
            Quantity::Rate(_) => "per_s",
            Quantity::Fraction(_) => "fraction",
        }
    }

    /// The number in its unit (microseconds for a latency).
    pub fn value(&self) -> f64 {
        match *self {
            Quantity::Latency(d) => micros(d) as f64,
            Quantity::Count(n) => n as f64,
            Quantity::Rate(r) | Quantity::Fraction(r) => r,
        }
    }

    /// Rebuilds a quantity from [`Quantity::unit`] and [`Quantity::value`]; `None` for an
    /// unknown unit or a negative or non-finite latency or count.
    pub fn from_unit(unit: &str, value: f64) -> Option<Quantity> {
        let whole = (value.is_finite() && value >= 0.0).then_some(value.round() as u64);
        match unit {
            "us" => whole.map(|us| Quantity::Latency(Duration::from_micros(us))),
            "count" => whole.map(Quantity::Count),
            "per_s" => value.is_finite().then_some(Quantity::Rate(value)),
            "fraction" => value.is_finite().then_some(Quantity::Fraction(value)),
            _ => None,
        }
    }
}

impl fmt::Display for Quantity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Quantity::Latency(d) => f.write_str(&format_micros(micros(d))),
            Quantity::Count(n) => write!(f, "{n}"),
            Quantity::Rate(r) => write!(f, "{r:.1}/s"),
            Quantity::Fraction(x) => write!(f, "{:.2}%", x * 100.0),
        }
    }
}

/// One threshold: `metric stat op limit`, e.g. `call p99 <= 50ms`.
#[derive(Clone, Debug, PartialEq)]
pub struct ThresholdCheck {
    /// The metric (step name, `login`, `session`); `None` for run-wide statistics.
    pub metric: Option<String>,
    pub stat: Stat,
    pub op: Comparison,
    pub limit: Quantity,
}

impl ThresholdCheck {
    /// A check on `metric` (or run-wide when `None`).
    pub fn new(metric: Option<&str>, stat: Stat, op: Comparison, limit: Quantity) -> Self {
        ThresholdCheck {
            metric: metric.map(str::to_owned),
            stat,
            op,
            limit,
        }
    }

    /// A latency check, e.g. `latency("call", Stat::P99, Duration::from_millis(50))` for
    /// `call p99 <= 50ms`.
    pub fn latency(metric: &str, stat: Stat, limit: Duration) -> Self {
        ThresholdCheck::new(Some(metric), stat, Comparison::Le, Quantity::Latency(limit))
    }

    /// At most `limit` failures in the whole run.
    pub fn max_failures(limit: u64) -> Self {
        ThresholdCheck::new(None, Stat::Failures, Comparison::Le, Quantity::Count(limit))
    }

    /// The readable name, e.g. `call p99 <= 50.00ms` or `failures <= 0`.
    pub fn name(&self) -> String {
        let subject = match (&self.metric, self.stat) {
            (Some(metric), stat) => format!("{metric} {stat}"),
            (None, Stat::Count) => "sessions".to_owned(),
            (None, Stat::Rate) => "session rate".to_owned(),
            (None, stat) => stat.as_str().to_owned(),
        };
        format!("{subject} {} {}", self.op.symbol(), self.limit)
    }
}

/// The outcome of one check.
#[derive(Clone, Debug, PartialEq)]
pub struct ThresholdResult {
    pub check: ThresholdCheck,
    /// [`ThresholdCheck::name`].
    pub name: String,
    /// What the run measured; `None` when there was no data (a latency statistic of a
    /// metric that recorded nothing, or a failure rate without sessions), which fails.
    pub observed: Option<Quantity>,
    pub pass: bool,
}

/// A threshold that cannot be evaluated; the scenario is wrong.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ThresholdError {
    #[error(
        "threshold '{threshold}' names metric '{metric}', which does not exist (metrics: {known})"
    )]
    UnknownMetric {
        threshold: String,
        metric: String,
        known: String,
    },
    #[error("threshold '{threshold}': {stat} needs a metric (put it under a step name)")]
    NeedsMetric { threshold: String, stat: Stat },
    #[error("threshold '{threshold}': {stat} applies to the whole run, not to one metric")]
    RunWideOnly { threshold: String, stat: Stat },
    #[error("threshold '{threshold}': {stat} takes a limit in {expected}, not {got}")]
    WrongUnit {
        threshold: String,
        stat: Stat,
        expected: &'static str,
        got: &'static str,
    },
}

/// Checks that every threshold names an existing metric and has a fitting limit.
pub fn validate(checks: &[ThresholdCheck], metrics: &MetricSet) -> Result<(), ThresholdError> {
    checks
        .iter()
        .try_for_each(|check| validate_one(check, metrics))
}

fn validate_one(check: &ThresholdCheck, metrics: &MetricSet) -> Result<(), ThresholdError> {
    let threshold = || check.name();
    if check.limit.unit() != check.stat.unit() {
        return Err(ThresholdError::WrongUnit {
            threshold: threshold(),
            stat: check.stat,
            expected: check.stat.unit(),
            got: check.limit.unit(),
        });
    }
    match (&check.metric, check.stat) {
        (None, stat) if stat.is_latency() => Err(ThresholdError::NeedsMetric {
            threshold: threshold(),
            stat,
        }),
        (Some(metric), Stat::FailureRate)
            if super::flow_failed_metric(metric).is_some_and(|f| metrics.id(&f).is_some())
                && metrics.id(metric).is_some() =>
        {
            Ok(())
        }
        (Some(_), Stat::FailureRate) => Err(ThresholdError::RunWideOnly {
            threshold: threshold(),
            stat: Stat::FailureRate,
        }),
        (Some(metric), _) if metrics.id(metric).is_none() => Err(ThresholdError::UnknownMetric {
            threshold: threshold(),
            metric: metric.clone(),
            known: metrics.names().join(", "),
        }),
        _ => Ok(()),
    }
}

/// Evaluates every check against `results`, in order.
pub fn evaluate(
    checks: &[ThresholdCheck],
    results: &Results,
) -> Result<Vec<ThresholdResult>, ThresholdError> {
    validate(checks, &results.metrics)?;
    Ok(checks
        .iter()
        .map(|check| {
            let observed = observe(check, results);
            let pass = observed.is_some_and(|o| check.op.holds(o.value(), check.limit.value()));
            ThresholdResult {
                check: check.clone(),
                name: check.name(),
                observed,
                pass,
            }
        })
        .collect())
}

/// The value a (validated) check limits.
fn observe(check: &ThresholdCheck, results: &Results) -> Option<Quantity> {
    let histogram = check.metric.as_deref().and_then(|m| results.histogram(m));
    let count = match (histogram, check.stat) {
        (_, Stat::Failures) => {
            let failures = match &check.metric {
                Some(step) => results.failures.total_for_step(step),
                None => results.failures.total(),
            };
            return Some(Quantity::Count(failures));
        }
        (Some(h), Stat::FailureRate) => {
            // A flow's failure rate: its failed-sessions metric over its session metric.
            let failed = check
                .metric
                .as_deref()
                .and_then(super::flow_failed_metric)
                .and_then(|f| results.histogram(&f))
                .map_or(0, |f| f.len());
            let done = h.len();
            return (done > 0).then(|| Quantity::Fraction(failed as f64 / done as f64));
        }
        (_, Stat::FailureRate) => {
            let done = results.sessions_done();
            return (done > 0)
                .then(|| Quantity::Fraction(results.sessions_failed as f64 / done as f64));
        }
        (Some(h), _) => h.len(),
        (None, _) => results.sessions_done(),
    };
    match check.stat {
        Stat::Count => return Some(Quantity::Count(count)),
        Stat::Rate => return Some(Quantity::Rate(rate(count, results.duration))),
        _ => {}
    }
    let stats = Stats::of(histogram?);
    if stats.count == 0 {
        return None;
    }
    let us = match check.stat {
        Stat::P50 => stats.p50_us,
        Stat::P90 => stats.p90_us,
        Stat::P95 => stats.p95_us,
        Stat::P99 => stats.p99_us,
        Stat::P999 => stats.p999_us,
        Stat::Max => stats.max_us,
        _ => stats.mean_us.round() as u64,
    };
    Some(Quantity::Latency(Duration::from_micros(us)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::{FailureKind, FailureSample};

    fn results() -> Results {
        let set = MetricSet::new(["call", "invite delivered", "session"]).unwrap();
        let mut r = Results::empty(&set, Duration::from_secs(10));
        for v in 1..=1000u64 {
            crate::metrics::histogram::record(&mut r.totals[0], v * 10); // 10 µs .. 10 ms
        }
        r.sessions_ok = 990;
        r.sessions_failed = 10;
        for i in 0..10 {
            r.failures.add(
                FailureKind::new("invite delivered", "callee", "no INVITE within 2s"),
                FailureSample::new(i, ""),
            );
        }
        r
    }

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn latency_thresholds_pass_and_fail() {
        let r = results();
        let out = evaluate(
            &[
                ThresholdCheck::latency("call", Stat::P99, ms(50)),
                ThresholdCheck::latency("call", Stat::P50, ms(1)),
                ThresholdCheck::latency("call", Stat::Max, ms(10)),
            ],
            &r,
        )
        .unwrap();
        assert!(out[0].pass, "{:?}", out[0]);
        assert!(!out[1].pass, "p50 is about 5ms");
        assert!(
            !out[2].pass,
            "max 10ms rounds up to its bucket's top (10.007ms)"
        );
        let Some(Quantity::Latency(p99)) = out[0].observed else {
            panic!()
        };
        assert!((ms(9)..=ms(10)).contains(&p99), "{p99:?}");
        assert_eq!(out[0].name, "call p99 <= 50.0ms");
    }

    #[test]
    fn counts_rates_and_failures() {
        let r = results();
        let check = |metric: Option<&str>, stat, op, limit| {
            evaluate(&[ThresholdCheck::new(metric, stat, op, limit)], &r).unwrap()[0].clone()
        };
        use Comparison::*;
        assert!(check(None, Stat::Failures, Le, Quantity::Count(10)).pass);
        assert!(!check(None, Stat::Failures, Lt, Quantity::Count(10)).pass);
        let at_step = check(
            Some("invite delivered"),
            Stat::Failures,
            Le,
            Quantity::Count(0),
        );
        assert_eq!(at_step.observed, Some(Quantity::Count(10)));
        assert!(check(Some("call"), Stat::Failures, Le, Quantity::Count(0)).pass);
        assert!(check(None, Stat::FailureRate, Le, Quantity::Fraction(0.01)).pass);
        assert!(!check(None, Stat::FailureRate, Lt, Quantity::Fraction(0.01)).pass);
        let sessions = check(None, Stat::Rate, Ge, Quantity::Rate(100.0));
        assert_eq!(sessions.observed, Some(Quantity::Rate(100.0)));
        assert!(sessions.pass);
        assert!(check(Some("call"), Stat::Count, Ge, Quantity::Count(1000)).pass);
        assert!(!check(Some("call"), Stat::Count, Gt, Quantity::Count(1000)).pass);
    }

    #[test]
    fn unknown_metric_is_an_error_not_a_pass() {
        let err = evaluate(
            &[ThresholdCheck::latency("acept", Stat::P99, ms(5))],
            &results(),
        );
        let Err(ThresholdError::UnknownMetric { metric, known, .. }) = err else {
            panic!("{err:?}")
        };
        assert_eq!(metric, "acept");
        assert!(known.contains("invite delivered"));
    }

    #[test]
    fn misplaced_or_mistyped_limits_are_errors() {
        let set = results().metrics;
        let latency_without_metric =
            ThresholdCheck::new(None, Stat::P99, Comparison::Le, Quantity::Latency(ms(1)));
        assert!(matches!(
            validate(&[latency_without_metric], &set),
            Err(ThresholdError::NeedsMetric { .. })
        ));
        let wrong_unit =
            ThresholdCheck::new(Some("call"), Stat::P99, Comparison::Le, Quantity::Count(5));
        assert!(matches!(
            validate(&[wrong_unit], &set),
            Err(ThresholdError::WrongUnit {
                expected: "us",
                got: "count",
                ..
            })
        ));
        let rate_on_metric = ThresholdCheck::new(
            Some("call"),
            Stat::FailureRate,
            Comparison::Le,
            Quantity::Fraction(0.1),
        );
        assert!(matches!(
            validate(&[rate_on_metric], &set),
            Err(ThresholdError::RunWideOnly { .. })
        ));
    }

    #[test]
    fn no_data_fails_a_latency_threshold() {
        let r = results();
        let out = evaluate(&[ThresholdCheck::latency("session", Stat::P99, ms(1))], &r).unwrap();
        assert_eq!(out[0].observed, None);
        assert!(!out[0].pass);
    }

    #[test]
    fn quantities_round_trip_through_unit_and_value() {
        for q in [
            Quantity::Latency(ms(50)),
            Quantity::Count(7),
            Quantity::Rate(12.5),
            Quantity::Fraction(0.25),
        ] {
            assert_eq!(Quantity::from_unit(q.unit(), q.value()), Some(q));
        }
        assert_eq!(Quantity::from_unit("us", -1.0), None);
        assert_eq!(Quantity::from_unit("parsecs", 1.0), None);
        assert_eq!(Stat::from_name("failure_rate"), Some(Stat::FailureRate));
    }
}
