//! Measurement: what the runner records while sessions run, and what it adds up to.
//!
//! The data flow mirrors rewrk-core's recording pipeline:
//!
//! 1. [`MetricSet`] turns the metric names known at start (step names, [`LOGIN`],
//!    [`SESSION`]) into [`MetricId`]s, so the hot path indexes a `Vec` instead of hashing.
//! 2. Each worker task owns a [`Recorder`] (no lock, no shared histogram). It fills a
//!    [`Sample`] per 1-second window and hands each finished window over a bounded
//!    channel — one message per worker per second, never one per request.
//! 3. One [`Aggregator`] task adds the samples into [`Results`]: exact totals per metric,
//!    a per-second [`Interval`] timeline, codes per op, failures by kind, late starts. It
//!    also publishes a recent p99 and, once per window, every metric's [`LiveTotals`] to
//!    [`LiveStats`] for live views (progress line, `--metrics-listen`, `--live`).
//! 4. [`threshold`] evaluates [`ThresholdCheck`]s against `Results`.
//!
//! Every histogram is an HdrHistogram of microseconds ([`histogram`]); histograms add
//! exactly, and encode to the portable V2 + deflate format, so results from many runs or
//! machines merge without approximation ([`Results::merge`]).
//!
//! ```
//! use std::time::{Duration, Instant};
//! use sigbench::metrics::{self, MetricSet};
//!
//! # #[tokio::main(flavor = "current_thread")] async fn main() {
//! let set = MetricSet::new(["call", metrics::LOGIN, metrics::SESSION]).unwrap();
//! let call = set.id("call").unwrap();
//! let (collector, aggregator) = metrics::collect(&set, Instant::now());
//! let aggregating = tokio::spawn(aggregator.run());
//!
//! let mut recorder = collector.recorder(); // one per worker task
//! recorder.record(call, Duration::from_micros(850));
//! recorder.session_done(true);
//! recorder.finish().await;
//!
//! drop(collector); // the aggregator ends when every sender is gone
//! let results = aggregating.await.unwrap().finish(Duration::from_secs(1));
//! assert_eq!(results.histogram("call").map(|h| h.len()), Some(1));
//! # }
//! ```

mod aggregate;
mod failures;
pub mod histogram;
pub mod live;
mod recorder;
mod results;
pub mod threshold;

use std::sync::Arc;

pub use aggregate::{Aggregator, LiveSnapshot, LiveStats, Watch};
pub use failures::{
    FailureEntry, FailureKind, FailureSample, Failures, MAX_FRAMES_PER_SAMPLE, MAX_KINDS,
    MAX_SAMPLES_PER_KIND, MAX_TEXT_BYTES,
};
pub use histogram::{HistogramCodecError, LatencyHistogram, Stats};
pub use live::{LiveMetric, LiveTotals};
pub use recorder::{Collector, Recorder, SAMPLE_QUEUE, Sample, collect};
pub(crate) use results::rate;
pub use results::{AbortReason, Interval, IntervalMetric, Results, add_targets};
pub use threshold::{
    Comparison, Quantity, Stat, ThresholdCheck, ThresholdError, ThresholdResult, evaluate, validate,
};

/// The metric for connect + login of an account.
pub const LOGIN: &str = "login";
/// The metric for a whole session, from its (intended) start to its end.
pub const SESSION: &str = "session";
/// In a mix, `<flow>/session` measures the flow's sessions …
pub const FLOW_SESSION: &str = "session";
/// … and `<flow>/failed sessions` those of them that failed.
pub const FLOW_FAILED: &str = "failed sessions";

/// The failed-sessions metric that goes with a flow's session metric
/// (`accept/session` → `accept/failed sessions`).
pub fn flow_failed_metric(session_metric: &str) -> Option<String> {
    session_metric
        .strip_suffix(FLOW_SESSION)
        .filter(|prefix| prefix.ends_with('/'))
        .map(|prefix| format!("{prefix}{FLOW_FAILED}"))
}

/// Index of a metric in its [`MetricSet`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct MetricId(usize);

impl MetricId {
    /// The position of the metric in its set (0-based).
    pub const fn index(self) -> usize {
        self.0
    }
}

/// A metric name appeared twice.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("metric '{0}' is defined twice")]
pub struct DuplicateMetric(pub String);

/// The metric names of a run, fixed at start. Cheap to clone (shared).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MetricSet {
    names: Arc<[String]>,
}

impl MetricSet {
    /// The set of `names`, in order; ids are their positions. Duplicates are an error,
    /// because two steps sharing a name would silently share a histogram.
    pub fn new<I, S>(names: I) -> Result<MetricSet, DuplicateMetric>
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        let mut list: Vec<String> = Vec::new();
        for name in names {
            let name = name.into();
            if list.contains(&name) {
                return Err(DuplicateMetric(name));
            }
            list.push(name);
        }
        Ok(MetricSet { names: list.into() })
    }

    /// The id of `name`, if the set has it.
    pub fn id(&self, name: &str) -> Option<MetricId> {
        self.names.iter().position(|n| n == name).map(MetricId)
    }

    /// The name of `id`; `None` for an id from another, larger set.
    pub fn name(&self, id: MetricId) -> Option<&str> {
        self.names.get(id.0).map(String::as_str)
    }

    /// Number of metrics.
    pub fn len(&self) -> usize {
        self.names.len()
    }

    /// True when the set has no metric.
    pub fn is_empty(&self) -> bool {
        self.names.is_empty()
    }

    /// All names, in id order.
    pub fn names(&self) -> &[String] {
        &self.names
    }

    /// `(id, name)` pairs in id order.
    pub fn iter(&self) -> impl Iterator<Item = (MetricId, &str)> {
        self.names
            .iter()
            .enumerate()
            .map(|(i, n)| (MetricId(i), n.as_str()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_follow_order_and_duplicates_fail() {
        let set = MetricSet::new(["call", "accept", LOGIN]).unwrap();
        assert_eq!(set.id("accept").map(MetricId::index), Some(1));
        assert_eq!(set.name(MetricId(2)), Some(LOGIN));
        assert_eq!(set.id("nope"), None);
        assert_eq!(set.name(MetricId(9)), None);
        assert_eq!(
            MetricSet::new(["a", "b", "a"]),
            Err(DuplicateMetric("a".into()))
        );
    }
}
