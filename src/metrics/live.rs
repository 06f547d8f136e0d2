//! [`LiveTotals`]: the whole-run numbers of every metric so far, published by the
//! aggregator once per window for live views (the Prometheus endpoint, the `--live` file,
//! the progress line). Built from the aggregator's exact totals, so the last published
//! totals equal the report's (minus the windows still on their way).

use std::collections::BTreeMap;

use super::LatencyHistogram;

/// Upper bounds (µs) of the live latency histogram buckets: 1-2.5-5 steps from 100 µs to
/// 60 s, the range of signaling latencies (a `+Inf` bucket follows).
pub const LIVE_BUCKETS_US: [u64; 19] = [
    100, 250, 500, 1_000, 2_500, 5_000, 10_000, 25_000, 50_000, 100_000, 250_000, 500_000,
    1_000_000, 2_500_000, 5_000_000, 10_000_000, 15_000_000, 30_000_000, 60_000_000,
];

/// The quantiles every live summary carries.
pub const LIVE_QUANTILES: [f64; 5] = [0.5, 0.9, 0.95, 0.99, 0.999];

/// One metric over the run so far.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct LiveMetric {
    pub name: String,
    pub count: u64,
    /// Sum of all values, µs (mean × count).
    pub sum_us: f64,
    /// The value at each of [`LIVE_QUANTILES`], µs; all 0 without data.
    pub quantiles_us: [u64; 5],
    pub max_us: u64,
    /// Values at or below each of [`LIVE_BUCKETS_US`] (cumulative).
    pub buckets: [u64; 19],
}

impl LiveMetric {
    /// The numbers of `histogram`. Bucket counts are exact up to the histogram's 3
    /// significant digits (a value within 0.1 % of a bound may land on either side).
    pub fn of(name: &str, histogram: &LatencyHistogram) -> LiveMetric {
        let mut metric = LiveMetric {
            name: name.to_owned(),
            count: histogram.len(),
            ..LiveMetric::default()
        };
        if histogram.is_empty() {
            return metric;
        }
        metric.sum_us = histogram.mean() * histogram.len() as f64;
        metric.max_us = histogram.max();
        for (slot, q) in metric.quantiles_us.iter_mut().zip(LIVE_QUANTILES) {
            *slot = histogram.value_at_quantile(q);
        }
        // One pass over the recorded values (not a range count per bucket, which would
        // walk the whole counts array 19 times).
        let mut per_bucket = [0u64; 19];
        for v in histogram.iter_recorded() {
            let at = histogram.lowest_equivalent(v.value_iterated_to());
            if let Some(i) = LIVE_BUCKETS_US.iter().position(|&bound| at <= bound) {
                per_bucket[i] += v.count_at_value();
            }
        }
        let mut sum = 0;
        for (slot, n) in metric.buckets.iter_mut().zip(per_bucket) {
            sum += n;
            *slot = sum;
        }
        metric
    }
}

/// Every metric's numbers so far, response codes by op, and the recent p99 of the
/// metric the progress line follows.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct LiveTotals {
    /// The newest window (second of the run) these totals include.
    pub window: u64,
    /// In the run's metric order.
    pub metrics: Vec<LiveMetric>,
    /// `op → code → count`.
    pub codes: BTreeMap<String, BTreeMap<u32, u64>>,
    /// The metric whose recent p99 the progress line shows.
    pub live_metric: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::histogram::{new_histogram, record};

    #[test]
    fn buckets_are_cumulative_and_quantiles_exact() {
        let mut h = new_histogram();
        for us in [90, 200, 200, 800, 30_000, 70_000_000] {
            record(&mut h, us);
        }
        let m = LiveMetric::of("call", &h);
        assert_eq!(m.count, 6);
        assert_eq!(&m.buckets[..4], &[1, 3, 3, 4]);
        assert_eq!(m.buckets[18], 5, "70 s is above the last bound");
        assert_eq!(m.quantiles_us[0], h.value_at_quantile(0.5));
        assert!((m.sum_us - h.mean() * 6.0).abs() < 1e-6);
        assert_eq!(LiveMetric::of("x", &new_histogram()).count, 0);
    }
}
