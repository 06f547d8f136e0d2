//! The per-worker [`Recorder`] and the 1-second [`Sample`] it hands over.
//!
//! A recorder belongs to one worker task and is never shared: recording is a push into a
//! `Vec` (or, once a window holds many values, an HdrHistogram record), with no lock and no
//! atomic. Time is cut into 1-second windows counted from the run's origin; when an event
//! falls into a later window, the finished window is handed to the aggregator through a
//! bounded channel. Small windows stay as raw values because an HdrHistogram at 3
//! significant digits costs 16–64 KiB, which a thousand workers × a dozen metrics × one
//! window per second would turn into real memory and allocation churn; the aggregator
//! records the raw values into its histograms, so the result is identical.

use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use tokio::sync::mpsc;
use tokio::sync::mpsc::error::TrySendError;

use super::aggregate::{Aggregator, LiveStats};
use super::failures::{FailureKind, FailureSample, Failures};
use super::histogram::{LatencyHistogram, add_into, micros, new_histogram, record};
use super::results::AbortReason;
use super::{MetricId, MetricSet};

/// Capacity of the sample channel, in windows. Each worker sends at most one window per
/// second, so this only fills if the aggregator stalls; a recorder then keeps its windows
/// locally and retries, rather than blocking the worker or dropping data.
pub const SAMPLE_QUEUE: usize = 1024;

/// Finished windows a recorder keeps while the aggregator's queue is full. Past this the
/// two oldest are folded into one (totals stay exact; only the timeline places the
/// younger one's data a few seconds early), so a stalled aggregator cannot grow memory.
const MAX_BACKLOG: usize = 16;

/// Values kept raw per metric per window before switching to a histogram.
const RAW_LIMIT: usize = 512;

/// The latencies of one metric in one window, in microseconds.
#[derive(Clone, Debug)]
pub(crate) enum Values {
    Raw(Vec<u64>),
    Histogram(Box<LatencyHistogram>),
}

impl Values {
    fn new() -> Values {
        Values::Raw(Vec::new())
    }

    fn push(&mut self, us: u64) {
        match self {
            Values::Raw(raw) if raw.len() < RAW_LIMIT => raw.push(us),
            Values::Raw(raw) => {
                let mut histogram = new_histogram();
                for v in raw.drain(..) {
                    record(&mut histogram, v);
                }
                record(&mut histogram, us);
                *self = Values::Histogram(Box::new(histogram));
            }
            Values::Histogram(histogram) => record(histogram, us),
        }
    }

    /// How many values were recorded.
    pub(crate) fn len(&self) -> u64 {
        match self {
            Values::Raw(raw) => raw.len() as u64,
            Values::Histogram(histogram) => histogram.len(),
        }
    }

    /// Adds `other`'s values into these.
    fn absorb(&mut self, other: &Values) {
        if other.len() == 0 {
            return;
        }
        let mut histogram = match std::mem::replace(self, Values::new()) {
            Values::Histogram(h) => h,
            raw => {
                let mut h = Box::new(new_histogram());
                raw.add_to(&mut h);
                h
            }
        };
        other.add_to(&mut histogram);
        *self = Values::Histogram(histogram);
    }

    /// Adds the values into `target`.
    pub(crate) fn add_to(&self, target: &mut LatencyHistogram) {
        match self {
            Values::Raw(raw) => {
                for &v in raw {
                    record(target, v);
                }
            }
            Values::Histogram(histogram) => add_into(target, histogram),
        }
    }
}

/// What one recorder saw during one 1-second window.
#[derive(Clone, Debug)]
pub struct Sample {
    /// The window: whole seconds since the run's origin.
    pub(crate) window: u64,
    /// Per metric id.
    pub(crate) latencies: Vec<Values>,
    /// `(op, code, count)`; a handful of entries, so a linear scan beats hashing.
    pub(crate) codes: Vec<(&'static str, u32, u64)>,
    pub(crate) sessions_started: u64,
    pub(crate) sessions_ok: u64,
    pub(crate) sessions_failed: u64,
    pub(crate) failures: Failures,
    pub(crate) late_starts: Values,
    /// Sessions cut off before their end, by why (`(reason, count)`, a handful).
    pub(crate) aborted: Vec<(AbortReason, u64)>,
    /// Requests that got no response in time, per metric id (empty until one times out).
    pub(crate) timeouts: Vec<u64>,
}

impl Sample {
    /// Adds `other` (a later window) into this one.
    fn absorb(&mut self, other: Sample) {
        for (mine, theirs) in self.latencies.iter_mut().zip(&other.latencies) {
            mine.absorb(theirs);
        }
        for (op, code, count) in other.codes {
            match self
                .codes
                .iter_mut()
                .find(|(o, c, _)| *o == op && *c == code)
            {
                Some(entry) => entry.2 += count,
                None => self.codes.push((op, code, count)),
            }
        }
        self.sessions_ok += other.sessions_ok;
        self.sessions_failed += other.sessions_failed;
        self.failures.merge(other.failures);
        self.late_starts.absorb(&other.late_starts);
        for (why, count) in other.aborted {
            match self.aborted.iter_mut().find(|(r, _)| *r == why) {
                Some(entry) => entry.1 += count,
                None => self.aborted.push((why, count)),
            }
        }
        if self.timeouts.len() < other.timeouts.len() {
            self.timeouts.resize(other.timeouts.len(), 0);
        }
        for (mine, theirs) in self.timeouts.iter_mut().zip(other.timeouts) {
            *mine += theirs;
        }
    }

    fn empty(window: u64, metrics: usize) -> Sample {
        Sample {
            window,
            latencies: (0..metrics).map(|_| Values::new()).collect(),
            codes: Vec::new(),
            sessions_started: 0,
            sessions_ok: 0,
            sessions_failed: 0,
            failures: Failures::default(),
            late_starts: Values::new(),
            aborted: Vec::new(),
            timeouts: Vec::new(),
        }
    }

    /// The window: whole seconds since the run's origin.
    pub fn window(&self) -> u64 {
        self.window
    }

    /// Latencies recorded for `id` in this window.
    pub fn count(&self, id: MetricId) -> u64 {
        self.latencies.get(id.index()).map_or(0, Values::len)
    }

    /// Sessions completed in this window, `(ok, failed)`.
    pub fn sessions(&self) -> (u64, u64) {
        (self.sessions_ok, self.sessions_failed)
    }

    /// True when nothing at all was recorded.
    pub fn is_empty(&self) -> bool {
        self.latencies.iter().all(|v| v.len() == 0)
            && self.codes.is_empty()
            && self.sessions_started == 0
            && self.sessions_ok == 0
            && self.sessions_failed == 0
            && self.failures.is_empty()
            && self.late_starts.len() == 0
            && self.aborted.is_empty()
            && self.timeouts.is_empty()
    }
}

/// Records one worker's measurements; see the module docs. Create one per worker task
/// with [`Collector::recorder`] (or [`Recorder::detached`]), and call [`Recorder::finish`]
/// when the worker ends so its last window reaches the aggregator.
#[derive(Debug)]
pub struct Recorder {
    origin: Instant,
    current: Sample,
    /// Finished windows not yet handed over (queue full, or a detached recorder).
    backlog: VecDeque<Sample>,
    sink: Option<mpsc::Sender<Sample>>,
    live: Arc<LiveStats>,
}

impl Recorder {
    /// A recorder that keeps its windows until [`Recorder::take_samples`] — for runners
    /// that collect results when workers join, and for tests.
    pub fn detached(metrics: &MetricSet, origin: Instant) -> Recorder {
        Recorder::with_sink(metrics, origin, None, Arc::new(LiveStats::new()))
    }

    fn with_sink(
        metrics: &MetricSet,
        origin: Instant,
        sink: Option<mpsc::Sender<Sample>>,
        live: Arc<LiveStats>,
    ) -> Recorder {
        Recorder {
            origin,
            current: Sample::empty(0, metrics.len()),
            backlog: VecDeque::new(),
            sink,
            live,
        }
    }

    /// Records a latency for `metric`, attributed to the current time's window.
    pub fn record(&mut self, metric: MetricId, latency: Duration) {
        self.record_at(metric, latency, Instant::now());
    }

    /// Records a latency that ended at `at` (saves a clock read when the caller has one).
    /// An id from another set is ignored.
    pub fn record_at(&mut self, metric: MetricId, latency: Duration, at: Instant) {
        self.tick(at);
        if let Some(values) = self.current.latencies.get_mut(metric.index()) {
            values.push(micros(latency));
        }
    }

    /// Counts a response `code` to `op`, in the current window.
    pub fn count_code(&mut self, op: &'static str, code: u32) {
        self.count_codes(op, code, 1);
    }

    /// Counts `n` responses `code` to `op` (or under a driver's label, e.g. a SIP
    /// method), in the current window.
    pub fn count_codes(&mut self, op: &'static str, code: u32, n: u64) {
        let codes = &mut self.current.codes;
        match codes.iter_mut().find(|(o, c, _)| *o == op && *c == code) {
            Some(entry) => entry.2 += n,
            None => codes.push((op, code, n)),
        }
    }

    /// Counts a session that starts now (sessions in flight are started minus done).
    pub fn session_started(&mut self) {
        self.tick(Instant::now());
        self.current.sessions_started += 1;
        self.live.sessions_started.fetch_add(1, Ordering::Relaxed);
    }

    /// Counts a finished session; `ok` is false when any of its expectations failed.
    pub fn session_done(&mut self, ok: bool) {
        self.tick(Instant::now());
        let (local, live) = if ok {
            (&mut self.current.sessions_ok, &self.live.sessions_ok)
        } else {
            (
                &mut self.current.sessions_failed,
                &self.live.sessions_failed,
            )
        };
        *local += 1;
        live.fetch_add(1, Ordering::Relaxed);
    }

    /// Sessions that failed so far over the whole run (every recorder's, as counted
    /// live).
    pub fn failed_sessions(&self) -> u64 {
        self.live.sessions_failed.load(Ordering::Relaxed)
    }

    /// Counts a session that started but was cut off before its end.
    pub fn session_aborted(&mut self, why: AbortReason) {
        self.tick(Instant::now());
        let aborted = &mut self.current.aborted;
        match aborted.iter_mut().find(|(r, _)| *r == why) {
            Some(entry) => entry.1 += 1,
            None => aborted.push((why, 1)),
        }
        self.live.sessions_aborted.fetch_add(1, Ordering::Relaxed);
    }

    /// Counts a request of `metric` that got no response within its timeout (it has no
    /// latency, so the percentiles cannot show it).
    pub fn timeout(&mut self, metric: MetricId) {
        self.tick(Instant::now());
        let timeouts = &mut self.current.timeouts;
        let index = metric.index();
        if timeouts.len() <= index {
            timeouts.resize(index + 1, 0);
        }
        timeouts[index] += 1;
    }

    /// Counts an open-model session that started `lag` after its intended time.
    pub fn late_start(&mut self, lag: Duration) {
        self.tick(Instant::now());
        self.current.late_starts.push(micros(lag));
        self.live.late_starts.fetch_add(1, Ordering::Relaxed);
    }

    /// Counts a failure of `kind`; `sample` is kept if the kind has few samples yet.
    pub fn failure(&mut self, kind: FailureKind, mut sample: FailureSample) {
        let now = Instant::now();
        self.tick(now);
        let since = now.saturating_duration_since(self.origin);
        sample.at_ms = u64::try_from(since.as_millis()).unwrap_or(u64::MAX);
        self.current.failures.add(kind, sample);
        self.live.failures.fetch_add(1, Ordering::Relaxed);
    }

    /// Hands over the current window if `now` is past it. Recording calls this already; an
    /// idle worker may call it so its last window is not held back.
    pub fn tick(&mut self, now: Instant) {
        let window = now.saturating_duration_since(self.origin).as_secs();
        if window > self.current.window {
            let fresh = Sample::empty(window, self.current.latencies.len());
            let done = std::mem::replace(&mut self.current, fresh);
            if !done.is_empty() {
                self.hand_over(done);
            }
        }
    }

    fn hand_over(&mut self, sample: Sample) {
        self.backlog.push_back(sample);
        // Only a recorder with a queue folds: a detached one keeps its windows by design.
        if self.sink.is_some()
            && self.backlog.len() > MAX_BACKLOG
            && let (Some(mut oldest), Some(next)) =
                (self.backlog.pop_front(), self.backlog.pop_front())
        {
            oldest.absorb(next);
            self.backlog.push_front(oldest);
        }
        let Some(sink) = &self.sink else { return };
        while let Some(next) = self.backlog.pop_front() {
            match sink.try_send(next) {
                Ok(()) => {}
                Err(TrySendError::Full(back)) => {
                    self.backlog.push_front(back);
                    return;
                }
                Err(TrySendError::Closed(back)) => {
                    // The aggregator is gone (run torn down); keep the data for
                    // `take_samples` instead of retrying forever.
                    self.backlog.push_front(back);
                    self.sink = None;
                    return;
                }
            }
        }
    }

    /// Everything not yet handed over: finished windows and the current one (which is
    /// reset, empty, for the same window).
    pub fn take_samples(&mut self) -> Vec<Sample> {
        let fresh = Sample::empty(self.current.window, self.current.latencies.len());
        let current = std::mem::replace(&mut self.current, fresh);
        let mut out: Vec<Sample> = self.backlog.drain(..).collect();
        if !current.is_empty() {
            out.push(current);
        }
        out
    }

    /// Sends every remaining window to the aggregator, waiting for room in the queue.
    /// For a detached recorder, or when the aggregator is gone, the data is dropped.
    pub async fn finish(mut self) {
        let samples = self.take_samples();
        if let Some(sink) = self.sink.take() {
            for sample in samples {
                if sink.send(sample).await.is_err() {
                    break;
                }
            }
        }
    }
}

impl Drop for Recorder {
    /// A recorder dropped without [`Recorder::finish`] (a worker that panicked or was
    /// aborted) still tries to deliver its windows, without waiting.
    fn drop(&mut self) {
        let Some(sink) = self.sink.take() else { return };
        let samples = self.take_samples();
        let mut lost = 0usize;
        for sample in samples {
            if sink.try_send(sample).is_err() {
                lost += 1;
            }
        }
        if lost > 0 {
            tracing::warn!(
                lost,
                "a recorder was dropped with windows the aggregator did not take"
            );
        }
    }
}

/// Hands out recorders that feed one [`Aggregator`]. Cheap to clone; the aggregator's
/// [`Aggregator::run`] ends once every `Collector` and [`Recorder`] is gone.
#[derive(Clone, Debug)]
pub struct Collector {
    metrics: MetricSet,
    origin: Instant,
    sink: mpsc::Sender<Sample>,
    live: Arc<LiveStats>,
}

impl Collector {
    /// A new recorder for one worker task.
    pub fn recorder(&self) -> Recorder {
        Recorder::with_sink(
            &self.metrics,
            self.origin,
            Some(self.sink.clone()),
            self.live.clone(),
        )
    }

    /// The live counters the recorders update (for a progress display).
    pub fn live(&self) -> Arc<LiveStats> {
        self.live.clone()
    }

    /// The run's origin: window 0 starts here.
    pub fn origin(&self) -> Instant {
        self.origin
    }

    /// The metric names.
    pub fn metrics(&self) -> &MetricSet {
        &self.metrics
    }
}

/// Starts collecting for a run that begins at `origin`: a [`Collector`] that hands out
/// recorders, and the [`Aggregator`] they feed (spawn [`Aggregator::run`]).
pub fn collect(metrics: &MetricSet, origin: Instant) -> (Collector, Aggregator) {
    let (sink, queue) = mpsc::channel(SAMPLE_QUEUE);
    let live = Arc::new(LiveStats::new());
    let aggregator = Aggregator::with_queue(metrics, live.clone(), queue);
    let collector = Collector {
        metrics: metrics.clone(),
        origin,
        sink,
        live,
    };
    (collector, aggregator)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set() -> MetricSet {
        MetricSet::new(["call", "session"]).unwrap()
    }

    #[test]
    fn windows_rotate_on_second_boundaries() {
        let origin = Instant::now();
        let set = set();
        let call = set.id("call").unwrap();
        let mut rec = Recorder::detached(&set, origin);
        let at = |ms: u64| origin + Duration::from_millis(ms);
        rec.record_at(call, Duration::from_millis(1), at(10));
        rec.record_at(call, Duration::from_millis(2), at(999));
        rec.record_at(call, Duration::from_millis(3), at(1000));
        rec.record_at(call, Duration::from_millis(4), at(3500));
        // An event earlier than the current window stays in the current window.
        rec.record_at(call, Duration::from_millis(5), at(2000));
        let samples = rec.take_samples();
        let windows: Vec<(u64, u64)> = samples
            .iter()
            .map(|s| (s.window(), s.count(call)))
            .collect();
        assert_eq!(windows, vec![(0, 2), (1, 1), (3, 2)]);
    }

    #[test]
    fn a_stalled_aggregator_cannot_grow_the_backlog_and_loses_nothing() {
        let set = MetricSet::new(["call"]).unwrap();
        let call = set.id("call").unwrap();
        let origin = Instant::now();
        let (tx, rx) = mpsc::channel(1);
        let mut rec = Recorder::with_sink(&set, origin, Some(tx), Arc::new(LiveStats::new()));
        for second in 0..100u64 {
            let at = origin + Duration::from_secs(second);
            rec.record_at(call, Duration::from_micros(100 + second), at);
            rec.count_code("call", 200);
            rec.session_done(true);
        }
        assert!(rec.backlog.len() <= MAX_BACKLOG, "{}", rec.backlog.len());
        let samples = rec.take_samples();
        drop(rx);
        let mut agg = Aggregator::new(&set);
        // The one window in the channel was taken by nobody: count what the recorder kept.
        let kept: u64 = samples.iter().map(|s| s.count(call)).sum();
        assert_eq!(kept, 99, "everything but the window handed to the channel");
        for s in samples {
            agg.add(s);
        }
        let results = agg.finish(Duration::from_secs(100));
        assert_eq!(results.sessions_ok, 99);
        assert_eq!(results.codes["call"][&200], 99);
    }

    #[test]
    fn codes_sessions_failures_and_late_starts_are_counted() {
        let set = set();
        let mut rec = Recorder::detached(&set, Instant::now());
        rec.count_code("call", 200);
        rec.count_code("call", 200);
        rec.count_code("call", 10404);
        rec.session_done(true);
        rec.session_done(false);
        rec.late_start(Duration::from_millis(20));
        rec.failure(
            FailureKind::new("call", "caller", "expected 200, got 10404"),
            FailureSample::new(7, "channel x"),
        );
        let live = rec.live.snapshot();
        assert_eq!((live.sessions_done, live.sessions_failed), (2, 1));
        assert_eq!((live.failures, live.late_starts), (1, 1));
        let samples = rec.take_samples();
        assert_eq!(samples.len(), 1);
        let s = &samples[0];
        assert_eq!(s.codes, vec![("call", 200, 2), ("call", 10404, 1)]);
        assert_eq!(s.sessions(), (1, 1));
        assert_eq!(s.failures.total(), 1);
        assert_eq!(s.late_starts.len(), 1);
    }

    #[test]
    fn large_windows_switch_to_a_histogram_without_losing_values() {
        let set = set();
        let call = set.id("call").unwrap();
        let origin = Instant::now();
        let mut rec = Recorder::detached(&set, origin);
        for i in 0..(RAW_LIMIT as u64 * 3) {
            rec.record_at(call, Duration::from_micros(i), origin);
        }
        let samples = rec.take_samples();
        assert!(matches!(samples[0].latencies[0], Values::Histogram(_)));
        assert_eq!(samples[0].count(call), RAW_LIMIT as u64 * 3);
    }

    #[test]
    fn unknown_metric_id_is_ignored() {
        let small = MetricSet::new(["a"]).unwrap();
        let big = MetricSet::new(["a", "b", "c"]).unwrap();
        let mut rec = Recorder::detached(&small, Instant::now());
        rec.record(big.id("c").unwrap(), Duration::from_millis(1));
        assert!(rec.take_samples().is_empty());
    }

    #[tokio::test]
    async fn full_queue_keeps_windows_and_finish_delivers_them() {
        let set = set();
        let call = set.id("call").unwrap();
        let origin = Instant::now();
        let (tx, mut rx) = mpsc::channel(1);
        let mut rec = Recorder::with_sink(&set, origin, Some(tx), Arc::new(LiveStats::new()));
        for second in 0..5 {
            rec.record_at(
                call,
                Duration::from_millis(1),
                origin + Duration::from_secs(second),
            );
        }
        // Window 0 went through; windows 1..=3 wait in the backlog; 4 is current.
        assert_eq!(rec.backlog.len(), 3);
        let reader = tokio::spawn(async move {
            let mut windows = Vec::new();
            while let Some(s) = rx.recv().await {
                windows.push(s.window());
            }
            windows
        });
        rec.finish().await;
        let mut windows = reader.await.unwrap();
        windows.sort_unstable();
        assert_eq!(windows, vec![0, 1, 2, 3, 4]);
    }
}
