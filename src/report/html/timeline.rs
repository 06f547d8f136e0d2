//! The report's per-second timeline gathered into chart buckets: one bucket per second for
//! short runs, wider buckets (2 s, 5 s, … 1 h) so that a long soak still draws at most
//! [`MAX_BUCKETS`] bars. Bucket percentiles come from the added per-second histograms, so
//! they are exact, not averages of percentiles.

use crate::metrics::histogram::{add_into, decode, new_histogram};

use super::super::json::RunReport;

/// At most this many bars in a timeline chart.
pub(super) const MAX_BUCKETS: u64 = 240;

/// Bucket widths in seconds, smallest first.
const WIDTHS: [u64; 13] = [1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600];

/// Some seconds of the run, added up.
#[derive(Clone, Debug, PartialEq)]
pub(super) struct Bucket {
    /// First second of the bucket.
    pub start: u64,
    /// Seconds the bucket covers (the last one may be shorter).
    pub secs: u64,
    pub sessions_ok: u64,
    pub sessions_failed: u64,
    pub failures: u64,
    pub late_starts: u64,
    /// Sessions started in the bucket.
    pub started: u64,
    /// Sessions the open model planned to start in the bucket.
    pub planned: u64,
    /// The most sessions in flight at the end of any of the bucket's seconds.
    pub in_flight: u64,
    /// The highest target in flight the load set in the bucket's seconds, if it set one.
    pub target: Option<u64>,
    /// Microseconds of session time of the sessions that finished in the bucket: divided
    /// by the bucket's length, the average number in flight (Little's law).
    pub session_us: f64,
    /// p99 per metric (in the order of `report.metrics`); `None` without data.
    pub p99_us: Vec<Option<u64>>,
}

impl Bucket {
    /// `count` per second of this bucket.
    pub fn rate(&self, count: u64) -> f64 {
        count as f64 / self.secs.max(1) as f64
    }
}

/// The buckets of a report's timeline, and their width in seconds.
#[derive(Clone, Debug, PartialEq)]
pub(super) struct Buckets {
    pub width: u64,
    /// Seconds the chart spans: the run's duration rounded up, at least the timeline.
    pub span: u64,
    pub buckets: Vec<Bucket>,
}

/// Gathers `report.timeline` into buckets.
pub(super) fn buckets(report: &RunReport) -> Buckets {
    let timeline_secs = report.timeline.iter().map(|i| i.second + 1).max();
    let span = report
        .meta
        .duration_ms
        .div_ceil(1000)
        .max(timeline_secs.unwrap_or(0))
        .max(1);
    let raw = span.div_ceil(MAX_BUCKETS);
    let width = WIDTHS
        .iter()
        .copied()
        .find(|&w| w >= raw)
        .unwrap_or_else(|| raw.div_ceil(3600) * 3600);
    let count = span.div_ceil(width);
    let metrics = report.metrics.len();
    let mut buckets: Vec<Bucket> = (0..count)
        .map(|i| Bucket {
            start: i * width,
            secs: width.min(span - i * width),
            sessions_ok: 0,
            sessions_failed: 0,
            failures: 0,
            late_starts: 0,
            started: 0,
            planned: 0,
            in_flight: 0,
            target: None,
            session_us: 0.0,
            p99_us: vec![None; metrics],
        })
        .collect();
    let mut histograms: Vec<Vec<Option<crate::metrics::LatencyHistogram>>> = if width > 1 {
        (0..count).map(|_| vec![None; metrics]).collect()
    } else {
        Vec::new()
    };
    for interval in &report.timeline {
        let index = usize::try_from(interval.second / width).unwrap_or(usize::MAX);
        let Some(bucket) = buckets.get_mut(index) else {
            continue;
        };
        bucket.sessions_ok += interval.sessions_ok;
        bucket.sessions_failed += interval.sessions_failed;
        bucket.failures += interval.failures;
        bucket.late_starts += interval.late_starts;
        bucket.started += interval.sessions_started;
        bucket.planned += interval.planned_starts;
        bucket.in_flight = bucket.in_flight.max(interval.in_flight);
        if let Some(target) = interval.target_in_flight {
            bucket.target = Some(bucket.target.map_or(target, |t| t.max(target)));
        }
        if let Some(h) = interval
            .metrics
            .iter()
            .find(|m| m.name == crate::metrics::SESSION)
            .and_then(|m| decode(&m.histogram).ok())
        {
            bucket.session_us += h.mean() * h.len() as f64;
        }
        for m in &interval.metrics {
            // A count (a flow's failed sessions) has no latency line.
            if report.is_count_metric(&m.name) {
                continue;
            }
            let Some(id) = report.metrics.iter().position(|r| r.name == m.name) else {
                continue;
            };
            if width == 1 {
                bucket.p99_us[id] = (m.count > 0).then_some(m.p99_us);
                continue;
            }
            // An undecodable histogram (a hand-edited report) leaves a gap in the line.
            let (Some(slot), Ok(h)) = (
                histograms.get_mut(index).and_then(|b| b.get_mut(id)),
                decode(&m.histogram),
            ) else {
                continue;
            };
            add_into(slot.get_or_insert_with(new_histogram), &h);
        }
    }
    for (bucket, hs) in buckets.iter_mut().zip(histograms) {
        for (p99, h) in bucket.p99_us.iter_mut().zip(hs) {
            *p99 = h
                .filter(|h| !h.is_empty())
                .map(|h| h.value_at_quantile(0.99));
        }
    }
    Buckets {
        width,
        span,
        buckets,
    }
}
