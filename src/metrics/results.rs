//! [`Results`]: everything a run measured, in exact (histogram) form, and how results from
//! several runs or machines add up.

use std::collections::BTreeMap;
use std::time::Duration;

use super::failures::Failures;
use super::histogram::{
    HistogramCodecError, LatencyHistogram, Stats, add_into, decode, encode, new_histogram,
};
use super::{MetricId, MetricSet};

/// One metric in one 1-second interval: the numbers a timeline shows, and the encoded
/// histogram they come from (so intervals, too, merge exactly).
#[derive(Clone, Debug, PartialEq)]
pub struct IntervalMetric {
    pub count: u64,
    pub p50_us: u64,
    pub p99_us: u64,
    pub max_us: u64,
    /// V2 + deflate, base64 (see [`super::histogram::encode`]).
    pub histogram: String,
}

impl IntervalMetric {
    fn of(histogram: &LatencyHistogram) -> Result<IntervalMetric, HistogramCodecError> {
        let stats = Stats::of(histogram);
        Ok(IntervalMetric {
            count: stats.count,
            p50_us: stats.p50_us,
            p99_us: stats.p99_us,
            max_us: stats.max_us,
            histogram: encode(histogram)?,
        })
    }
}

/// What happened during one second of the run.
#[derive(Clone, Debug, PartialEq)]
pub struct Interval {
    /// Seconds since the run's origin: this interval covers `[second, second + 1)`.
    pub second: u64,
    /// Sessions that ended in this second.
    pub sessions_ok: u64,
    pub sessions_failed: u64,
    /// Failures recorded in this second.
    pub failures: u64,
    /// Late session starts recorded in this second.
    pub late_starts: u64,
    /// Sessions that started in this second.
    pub sessions_started: u64,
    /// Sessions the open model's schedule meant to start in this second (0 for the
    /// closed model); filled in by the runner, which knows the schedule.
    pub planned_starts: u64,
    /// The sessions the load meant to have in flight in this second (the ramping closed
    /// model's target concurrency, or per-flow closed loads' sum); `None` when the load
    /// sets no such target, or before it began. Filled in by the runner.
    pub target_in_flight: Option<u64>,
    /// Per metric id; `None` when the metric recorded nothing in this second.
    pub metrics: Vec<Option<IntervalMetric>>,
}

impl Interval {
    /// An interval in which nothing happened.
    pub fn empty(second: u64, metrics: usize) -> Interval {
        Interval {
            second,
            sessions_ok: 0,
            sessions_failed: 0,
            failures: 0,
            late_starts: 0,
            sessions_started: 0,
            planned_starts: 0,
            target_in_flight: None,
            metrics: vec![None; metrics],
        }
    }

    /// Decodes the histogram of metric index `index` in this interval.
    pub fn histogram(&self, index: usize) -> Option<LatencyHistogram> {
        let metric = self.metrics.get(index)?.as_ref()?;
        decode(&metric.histogram).ok()
    }
}

/// An interval that may still receive samples: plain histograms.
#[derive(Debug)]
pub(crate) struct OpenInterval {
    pub(crate) sessions_ok: u64,
    pub(crate) sessions_failed: u64,
    pub(crate) failures: u64,
    pub(crate) late_starts: u64,
    pub(crate) sessions_started: u64,
    pub(crate) planned_starts: u64,
    pub(crate) target_in_flight: Option<u64>,
    pub(crate) metrics: Vec<Option<LatencyHistogram>>,
}

impl OpenInterval {
    pub(crate) fn new(metrics: usize) -> OpenInterval {
        OpenInterval {
            sessions_ok: 0,
            sessions_failed: 0,
            failures: 0,
            late_starts: 0,
            sessions_started: 0,
            planned_starts: 0,
            target_in_flight: None,
            metrics: (0..metrics).map(|_| None).collect(),
        }
    }

    /// Turns a sealed interval back into histograms. Our own encodings always decode; a
    /// foreign one that does not (a hand-edited report) counts as empty for that metric.
    pub(crate) fn reopen(sealed: Interval, metrics: usize) -> OpenInterval {
        let mut open = OpenInterval::new(metrics.max(sealed.metrics.len()));
        open.sessions_ok = sealed.sessions_ok;
        open.sessions_failed = sealed.sessions_failed;
        open.failures = sealed.failures;
        open.late_starts = sealed.late_starts;
        open.sessions_started = sealed.sessions_started;
        open.planned_starts = sealed.planned_starts;
        open.target_in_flight = sealed.target_in_flight;
        for (slot, metric) in open.metrics.iter_mut().zip(&sealed.metrics) {
            *slot = metric.as_ref().and_then(|m| decode(&m.histogram).ok());
        }
        open
    }

    /// Encodes the histograms. Encoding a histogram only fails for counts beyond `i64`,
    /// which cannot happen in one second; such a metric would be left out with a warning.
    pub(crate) fn seal(self, second: u64) -> Interval {
        let metrics = self
            .metrics
            .iter()
            .map(|slot| {
                let histogram = slot.as_ref().filter(|h| !h.is_empty())?;
                IntervalMetric::of(histogram)
                    .inspect_err(|e| tracing::warn!(second, "interval histogram dropped: {e}"))
                    .ok()
            })
            .collect();
        Interval {
            second,
            sessions_ok: self.sessions_ok,
            sessions_failed: self.sessions_failed,
            failures: self.failures,
            late_starts: self.late_starts,
            sessions_started: self.sessions_started,
            planned_starts: self.planned_starts,
            target_in_flight: self.target_in_flight,
            metrics,
        }
    }
}

/// Two generators' targets in flight for one second add up; a second without a target
/// in either has none.
pub fn add_targets(a: Option<u64>, b: Option<u64>) -> Option<u64> {
    match (a, b) {
        (None, None) => None,
        (a, b) => Some(a.unwrap_or(0).saturating_add(b.unwrap_or(0))),
    }
}

/// Why a session that started did not reach its end.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum AbortReason {
    /// `load.max_duration` (plus the grace period) passed.
    DurationLimit,
    /// Ctrl-C or SIGTERM (plus the grace period).
    Interrupt,
    /// The target stopped accepting connections.
    TargetLost,
    /// The target stopped answering for longer than `unresponsive_after`.
    TargetUnresponsive,
    /// The harness itself failed (a panic).
    HarnessError,
    /// The run stopped itself (an `abort` threshold, `max_failures`, a unique feeder
    /// ran dry), plus the grace period.
    EarlyStop,
}

impl AbortReason {
    pub const ALL: [AbortReason; 6] = [
        AbortReason::DurationLimit,
        AbortReason::Interrupt,
        AbortReason::TargetLost,
        AbortReason::TargetUnresponsive,
        AbortReason::HarnessError,
        AbortReason::EarlyStop,
    ];

    /// The name used in reports.
    pub const fn as_str(self) -> &'static str {
        match self {
            AbortReason::DurationLimit => "duration_limit",
            AbortReason::Interrupt => "interrupt",
            AbortReason::TargetLost => "target_lost",
            AbortReason::TargetUnresponsive => "target_unresponsive",
            AbortReason::HarnessError => "harness_error",
            AbortReason::EarlyStop => "early_stop",
        }
    }

    /// The reason called `name` in a report.
    pub fn from_name(name: &str) -> Option<AbortReason> {
        AbortReason::ALL.into_iter().find(|r| r.as_str() == name)
    }
}

impl std::fmt::Display for AbortReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Everything a run measured. Histograms are exact; see [`Results::merge`].
#[derive(Clone, Debug)]
pub struct Results {
    /// The metric names; `totals` and each interval's `metrics` are indexed by their ids.
    pub metrics: MetricSet,
    /// All latencies of each metric over the run.
    pub totals: Vec<LatencyHistogram>,
    /// One interval per second from 0 to the last second with data, without gaps.
    pub timeline: Vec<Interval>,
    /// Response codes per op name: `op → code → count`.
    pub codes: BTreeMap<String, BTreeMap<u32, u64>>,
    /// Failures by kind, with samples.
    pub failures: Failures,
    /// How late open-model sessions started (only those that were late).
    pub late_starts: LatencyHistogram,
    pub sessions_ok: u64,
    pub sessions_failed: u64,
    /// Sessions that started but were cut off before their end, by why.
    pub aborted: BTreeMap<AbortReason, u64>,
    /// Requests that got no response within their timeout, per metric id (they have no
    /// latency, so no percentile shows them).
    pub timeouts: Vec<u64>,
    /// Wall time of the run.
    pub duration: Duration,
}

impl Results {
    /// Results with nothing recorded.
    pub fn empty(metrics: &MetricSet, duration: Duration) -> Results {
        Results {
            metrics: metrics.clone(),
            totals: (0..metrics.len()).map(|_| new_histogram()).collect(),
            timeline: Vec::new(),
            codes: BTreeMap::new(),
            failures: Failures::default(),
            late_starts: new_histogram(),
            sessions_ok: 0,
            sessions_failed: 0,
            aborted: BTreeMap::new(),
            timeouts: vec![0; metrics.len()],
            duration,
        }
    }

    /// The whole-run histogram of `metric`.
    pub fn total(&self, metric: MetricId) -> Option<&LatencyHistogram> {
        self.totals.get(metric.index())
    }

    /// The whole-run histogram of the metric called `name`.
    pub fn histogram(&self, name: &str) -> Option<&LatencyHistogram> {
        self.total(self.metrics.id(name)?)
    }

    /// Summary numbers of the metric called `name`.
    pub fn stats(&self, name: &str) -> Option<Stats> {
        self.histogram(name).map(Stats::of)
    }

    /// Sessions finished, successful or not.
    pub fn sessions_done(&self) -> u64 {
        self.sessions_ok + self.sessions_failed
    }

    /// Sessions cut off before their end, for any reason.
    pub fn sessions_aborted(&self) -> u64 {
        self.aborted.values().sum()
    }

    /// Timed-out requests of the metric called `name`.
    pub fn timeouts_of(&self, name: &str) -> u64 {
        self.metrics
            .id(name)
            .and_then(|id| self.timeouts.get(id.index()))
            .copied()
            .unwrap_or(0)
    }

    /// Sessions finished per second of run time (0 for a zero-length run).
    pub fn session_rate(&self) -> f64 {
        rate(self.sessions_done(), self.duration)
    }

    /// Adds `other` into `self`, exactly: histograms are added, counts summed, failures
    /// merged. `other`'s timeline is placed `offset_secs` after `self`'s origin (use the
    /// difference of the runs' start times; 0 for runs that started together). Metrics
    /// are matched by name; names only `other` has are added.
    pub fn merge(&mut self, other: &Results, offset_secs: u64) -> Result<(), HistogramCodecError> {
        let ids = self.adopt_metrics(&other.metrics);
        for (from, &to) in ids.iter().enumerate() {
            if let (Some(source), Some(target)) = (other.totals.get(from), self.totals.get_mut(to))
            {
                add_into(target, source);
            }
        }
        let width = self.metrics.len();
        for interval in &other.timeline {
            let second = interval.second + offset_secs;
            while self.timeline.len() as u64 <= second {
                let next = self.timeline.len() as u64;
                self.timeline.push(Interval::empty(next, width));
            }
            let Some(target) = usize::try_from(second)
                .ok()
                .and_then(|s| self.timeline.get_mut(s))
            else {
                continue;
            };
            target.metrics.resize(width, None);
            target.sessions_ok += interval.sessions_ok;
            target.sessions_failed += interval.sessions_failed;
            target.failures += interval.failures;
            target.late_starts += interval.late_starts;
            target.sessions_started += interval.sessions_started;
            target.planned_starts += interval.planned_starts;
            target.target_in_flight =
                add_targets(target.target_in_flight, interval.target_in_flight);
            for (from, metric) in interval.metrics.iter().enumerate() {
                let (Some(metric), Some(&to)) = (metric, ids.get(from)) else {
                    continue;
                };
                let Some(slot) = target.metrics.get_mut(to) else {
                    continue;
                };
                *slot = Some(match slot.take() {
                    None => metric.clone(),
                    Some(mine) => {
                        let mut sum = decode(&mine.histogram)?;
                        add_into(&mut sum, &decode(&metric.histogram)?);
                        IntervalMetric::of(&sum)?
                    }
                });
            }
        }
        for (op, codes) in &other.codes {
            let mine = self.codes.entry(op.clone()).or_default();
            for (code, count) in codes {
                *mine.entry(*code).or_default() += count;
            }
        }
        self.failures.merge(other.failures.clone());
        add_into(&mut self.late_starts, &other.late_starts);
        self.sessions_ok += other.sessions_ok;
        self.sessions_failed += other.sessions_failed;
        for (why, count) in &other.aborted {
            *self.aborted.entry(*why).or_default() += count;
        }
        self.timeouts.resize(self.metrics.len(), 0);
        for (from, count) in other.timeouts.iter().enumerate() {
            if let Some(slot) = ids.get(from).and_then(|&to| self.timeouts.get_mut(to)) {
                *slot += count;
            }
        }
        self.duration = self
            .duration
            .max(Duration::from_secs(offset_secs) + other.duration);
        Ok(())
    }

    /// Adds the names of `other` that `self` lacks; returns, for each of `other`'s ids,
    /// the matching index in `self`.
    fn adopt_metrics(&mut self, other: &MetricSet) -> Vec<usize> {
        let mut names = self.metrics.names().to_vec();
        let ids = other
            .names()
            .iter()
            .map(|name| match names.iter().position(|n| n == name) {
                Some(i) => i,
                None => {
                    names.push(name.clone());
                    names.len() - 1
                }
            })
            .collect();
        if names.len() > self.metrics.len() {
            // Names were unique in both sets and we only appended missing ones.
            if let Ok(set) = MetricSet::new(names) {
                self.metrics = set;
            }
            self.totals.resize_with(self.metrics.len(), new_histogram);
            let width = self.metrics.len();
            for interval in &mut self.timeline {
                interval.metrics.resize(width, None);
            }
        }
        ids
    }
}

/// `count` per second of `duration`; 0 for a zero duration.
pub(crate) fn rate(count: u64, duration: Duration) -> f64 {
    let secs = duration.as_secs_f64();
    if secs > 0.0 { count as f64 / secs } else { 0.0 }
}

#[cfg(test)]
mod tests {
    use std::time::Instant;

    use super::*;
    use crate::metrics::{Aggregator, FailureKind, FailureSample, Recorder};

    /// Records `values` (µs) for "call" spread over `seconds`, returns the results.
    fn run(set: &MetricSet, values: &[u64], seconds: u64) -> Results {
        let origin = Instant::now();
        let call = set.id("call").unwrap();
        let mut rec = Recorder::detached(set, origin);
        for (i, &v) in values.iter().enumerate() {
            let at =
                origin + Duration::from_millis(i as u64 * seconds * 1000 / values.len() as u64);
            rec.record_at(call, Duration::from_micros(v), at);
            rec.count_code("call", if v % 7 == 0 { 10404 } else { 200 });
        }
        rec.session_done(true);
        rec.failure(
            FailureKind::new("call", "caller", "x"),
            FailureSample::new(0, ""),
        );
        let mut agg = Aggregator::new(set);
        for s in rec.take_samples() {
            agg.add(s);
        }
        agg.finish(Duration::from_secs(seconds))
    }

    /// A deterministic spread of latencies with a long tail.
    fn values(seed: u64, n: usize) -> Vec<u64> {
        let mut x = seed;
        (0..n)
            .map(|_| {
                x = x
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                let r = x >> 33;
                if r % 100 == 0 {
                    50_000 + r % 2_000_000
                } else {
                    200 + r % 20_000
                }
            })
            .collect()
    }

    #[test]
    fn merged_p99_equals_p99_of_the_union() {
        let set = MetricSet::new(["call", "session"]).unwrap();
        let parts = [values(1, 5_000), values(2, 3_000), values(3, 7_000)];
        let mut merged = run(&set, &parts[0], 5);
        merged.merge(&run(&set, &parts[1], 5), 0).unwrap();
        merged.merge(&run(&set, &parts[2], 5), 2).unwrap();

        let all: Vec<u64> = parts.concat();
        let union = run(&set, &all, 5);
        let (m, u) = (
            merged.histogram("call").unwrap(),
            union.histogram("call").unwrap(),
        );
        assert_eq!(m.len(), all.len() as u64);
        for q in [0.5, 0.9, 0.99, 0.999, 1.0] {
            assert_eq!(m.value_at_quantile(q), u.value_at_quantile(q), "q={q}");
        }
        // And the histogram p99 is the exact p99 within 3 significant digits.
        let mut sorted = all.clone();
        sorted.sort_unstable();
        let exact = sorted[(sorted.len() as f64 * 0.99).ceil() as usize - 1];
        assert!(m.equivalent(m.value_at_quantile(0.99), exact));

        assert_eq!(merged.sessions_ok, 3);
        assert_eq!(merged.failures.total(), 3);
        let calls: u64 = merged.codes["call"].values().sum();
        assert_eq!(calls, all.len() as u64);
        assert_eq!(merged.duration, Duration::from_secs(7));
        assert_eq!(merged.timeline.len(), 7);
        let timeline_count: u64 = merged
            .timeline
            .iter()
            .filter_map(|i| i.metrics[0].as_ref())
            .map(|m| m.count)
            .sum();
        assert_eq!(timeline_count, all.len() as u64);
    }

    #[test]
    fn merge_adds_metrics_only_the_other_has() {
        let a = MetricSet::new(["call", "session"]).unwrap();
        let b = MetricSet::new(["session", "call", "extra"]).unwrap();
        let mut left = run(&a, &[100, 200], 1);
        let mut right = Results::empty(&b, Duration::from_secs(1));
        crate::metrics::histogram::record(&mut right.totals[2], 5);
        crate::metrics::histogram::record(&mut right.totals[1], 300);
        left.merge(&right, 0).unwrap();
        assert_eq!(left.metrics.names(), ["call", "session", "extra"]);
        assert_eq!(left.histogram("call").unwrap().len(), 3);
        assert_eq!(left.histogram("extra").unwrap().len(), 1);
        assert!(left.timeline.iter().all(|i| i.metrics.len() == 3));
    }
}
