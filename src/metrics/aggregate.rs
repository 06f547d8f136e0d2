//! The [`Aggregator`]: adds the recorders' samples into [`Results`], and the live counters
//! a progress display reads.
//!
//! Per-second intervals stay as histograms only while samples for them may still arrive
//! (`SEAL_AFTER_WINDOWS` seconds); then they are sealed into their compact encoded form.
//! A one-hour soak with a dozen metrics thus keeps a few MiB of timeline instead of
//! gigabytes. A sample that arrives for a sealed interval (from a worker that was idle
//! for a long time) reopens it, so nothing is lost — it is only slower.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use tokio::sync::mpsc;

use super::failures::Failures;
use super::histogram::{LatencyHistogram, micros, new_histogram};
use super::live::{LiveMetric, LiveTotals};
use super::recorder::Sample;
use super::results::{AbortReason, Interval, OpenInterval, Results};
use super::{MetricId, MetricSet, SESSION};

/// An interval is sealed once samples for a window this much newer have arrived. Ten
/// seconds of open histograms cost ~0.5 MiB per metric; reopening a sealed interval costs
/// ~30 µs per late sample (measured), which a worker idle for 10 s can afford.
const SEAL_AFTER_WINDOWS: u64 = 10;

/// Counters the recorders bump (one relaxed atomic add per session, failure or late start
/// — never per request) and the aggregator's recent p99, for a progress display.
#[derive(Debug)]
pub struct LiveStats {
    pub(crate) sessions_started: AtomicU64,
    pub(crate) sessions_ok: AtomicU64,
    pub(crate) sessions_failed: AtomicU64,
    pub(crate) failures: AtomicU64,
    pub(crate) late_starts: AtomicU64,
    pub(crate) sessions_aborted: AtomicU64,
    /// Microseconds; `u64::MAX` while unknown.
    recent_p99_us: AtomicU64,
    /// Every metric's totals as of the newest window, for live views. A std mutex: held
    /// only to swap or clone the `Arc`, never across an await.
    totals: Mutex<Arc<LiveTotals>>,
    /// When the load phase began (after login): the open model's schedule time 0, or the
    /// first closed-model session. Live views place the current stage with it.
    load_started: OnceLock<std::time::Instant>,
    /// When closed and ramping loads (by index in `LoadModel::parts`) ended before their
    /// plan did (session count run out): live views and the report's target line stop
    /// counting them. A std mutex, held only to push or copy.
    parts_ended: Mutex<Vec<(usize, std::time::Instant)>>,
}

impl Default for LiveStats {
    fn default() -> Self {
        LiveStats::new()
    }
}

impl LiveStats {
    /// All zero, no p99 yet.
    pub fn new() -> LiveStats {
        LiveStats {
            sessions_started: AtomicU64::new(0),
            sessions_ok: AtomicU64::new(0),
            sessions_failed: AtomicU64::new(0),
            failures: AtomicU64::new(0),
            late_starts: AtomicU64::new(0),
            sessions_aborted: AtomicU64::new(0),
            recent_p99_us: AtomicU64::new(u64::MAX),
            totals: Mutex::new(Arc::new(LiveTotals::default())),
            load_started: OnceLock::new(),
            parts_ended: Mutex::new(Vec::new()),
        }
    }

    /// The newest totals the aggregator published.
    pub fn totals(&self) -> Arc<LiveTotals> {
        match self.totals.lock() {
            Ok(totals) => totals.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    fn publish_totals(&self, totals: LiveTotals) {
        let totals = Arc::new(totals);
        match self.totals.lock() {
            Ok(mut slot) => *slot = totals,
            Err(poisoned) => *poisoned.into_inner() = totals,
        }
    }

    /// Marks the start of the load phase (the first call wins).
    pub fn mark_load_started(&self, at: std::time::Instant) {
        let _ = self.load_started.set(at);
    }

    /// When the load phase began, if it has.
    pub fn load_started(&self) -> Option<std::time::Instant> {
        self.load_started.get().copied()
    }

    /// Marks the end of a closed or ramping load (by its index in `LoadModel::parts`).
    pub fn mark_part_ended(&self, part: usize, at: std::time::Instant) {
        self.parts_ended
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push((part, at));
    }

    /// When each ended load part ended, as time since the load began.
    pub fn parts_ended(&self) -> Vec<(usize, std::time::Duration)> {
        let Some(start) = self.load_started() else {
            return Vec::new();
        };
        self.parts_ended
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .map(|&(part, at)| (part, at.saturating_duration_since(start)))
            .collect()
    }

    /// The counters now.
    pub fn snapshot(&self) -> LiveSnapshot {
        let ok = self.sessions_ok.load(Ordering::Relaxed);
        let failed = self.sessions_failed.load(Ordering::Relaxed);
        let p99 = self.recent_p99_us.load(Ordering::Relaxed);
        LiveSnapshot {
            sessions_started: self.sessions_started.load(Ordering::Relaxed),
            sessions_done: ok + failed,
            sessions_failed: failed,
            failures: self.failures.load(Ordering::Relaxed),
            late_starts: self.late_starts.load(Ordering::Relaxed),
            sessions_aborted: self.sessions_aborted.load(Ordering::Relaxed),
            recent_p99: (p99 != u64::MAX).then(|| Duration::from_micros(p99)),
        }
    }

    fn publish_p99(&self, p99: Duration) {
        self.recent_p99_us.store(micros(p99), Ordering::Relaxed);
    }
}

/// A copy of the live counters.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LiveSnapshot {
    /// Sessions started (in flight: started minus done).
    pub sessions_started: u64,
    /// Sessions finished, successful or not.
    pub sessions_done: u64,
    /// Sessions finished with a failure.
    pub sessions_failed: u64,
    /// Failures recorded (a session may record more than one).
    pub failures: u64,
    /// Open-model sessions that started late.
    pub late_starts: u64,
    /// Sessions cut off before their end.
    pub sessions_aborted: u64,
    /// p99 of the live metric over roughly the last second; `None` before any data.
    pub recent_p99: Option<Duration>,
}

/// Called with the run's totals so far (no timeline) each time samples for a newer
/// window start arriving — about once a second — e.g. to stop a run whose abort
/// threshold broke.
pub struct Watch(Box<dyn FnMut(&Results) + Send>);

impl Watch {
    pub fn new(f: impl FnMut(&Results) + Send + 'static) -> Watch {
        Watch(Box::new(f))
    }
}

impl std::fmt::Debug for Watch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Watch")
    }
}

/// Adds samples into totals and a timeline; see the module docs.
#[derive(Debug)]
pub struct Aggregator {
    metrics: MetricSet,
    queue: Option<mpsc::Receiver<Sample>>,
    live: Arc<LiveStats>,
    live_metric: Option<MetricId>,
    totals: Vec<LatencyHistogram>,
    open: BTreeMap<u64, OpenInterval>,
    sealed: BTreeMap<u64, Interval>,
    /// Newest window seen.
    newest: u64,
    codes: BTreeMap<&'static str, BTreeMap<u32, u64>>,
    failures: Failures,
    late_starts: LatencyHistogram,
    sessions_ok: u64,
    sessions_failed: u64,
    /// Sessions cut off before their end, by why.
    aborted: BTreeMap<AbortReason, u64>,
    /// Timed-out requests per metric id.
    timeouts: Vec<u64>,
    /// Live-metric values since the last p99 publication, and their window.
    recent: LatencyHistogram,
    recent_window: u64,
    /// The newest window whose arrival published [`LiveTotals`]; `None` before any.
    published: Option<u64>,
    /// Looks at the totals once per new window ([`Aggregator::set_watch`]).
    watch: Option<Watch>,
    /// When the run's clock started, for the watch's notion of elapsed time.
    started: std::time::Instant,
}

impl Aggregator {
    /// An aggregator fed by hand with [`Aggregator::add`] (no channel).
    pub fn new(metrics: &MetricSet) -> Aggregator {
        Aggregator::build(metrics, Arc::new(LiveStats::new()), None)
    }

    pub(crate) fn with_queue(
        metrics: &MetricSet,
        live: Arc<LiveStats>,
        queue: mpsc::Receiver<Sample>,
    ) -> Aggregator {
        Aggregator::build(metrics, live, Some(queue))
    }

    fn build(
        metrics: &MetricSet,
        live: Arc<LiveStats>,
        queue: Option<mpsc::Receiver<Sample>>,
    ) -> Aggregator {
        let live_metric = metrics
            .id(SESSION)
            .or_else(|| metrics.iter().next().map(|(id, _)| id));
        Aggregator {
            metrics: metrics.clone(),
            queue,
            live,
            live_metric,
            totals: (0..metrics.len()).map(|_| new_histogram()).collect(),
            open: BTreeMap::new(),
            sealed: BTreeMap::new(),
            newest: 0,
            codes: BTreeMap::new(),
            failures: Failures::default(),
            late_starts: new_histogram(),
            sessions_ok: 0,
            sessions_failed: 0,
            aborted: BTreeMap::new(),
            timeouts: vec![0; metrics.len()],
            recent: new_histogram(),
            recent_window: 0,
            published: None,
            watch: None,
            started: std::time::Instant::now(),
        }
    }

    /// The live counters (shared with the recorders when built by [`super::collect`]).
    pub fn live(&self) -> Arc<LiveStats> {
        self.live.clone()
    }

    /// Chooses the metric whose recent p99 is published to [`LiveStats`] (default: the
    /// [`SESSION`] metric if present, else the first).
    pub fn set_live_metric(&mut self, metric: Option<MetricId>) {
        self.live_metric = metric;
    }

    /// Calls `watch` with the totals so far whenever samples for a newer window start
    /// arriving. Its `duration` is the time since this call.
    pub fn set_watch(&mut self, watch: Watch) {
        self.watch = Some(watch);
        self.started = std::time::Instant::now();
    }

    /// Receives samples until every [`super::Collector`] and [`super::Recorder`] is gone,
    /// then returns itself for [`Aggregator::finish`]. Spawn it as a task.
    pub async fn run(self) -> Aggregator {
        self.run_until(std::future::pending()).await
    }

    /// Like [`Aggregator::run`], but also ends when `stop` completes — after taking the
    /// samples already queued. Use it so that a worker that never returns (and so never
    /// drops its recorder) cannot keep the run from ending: e.g. `stop` = the end of the
    /// grace period after Ctrl-C.
    pub async fn run_until(mut self, stop: impl Future<Output = ()>) -> Aggregator {
        let Some(mut queue) = self.queue.take() else {
            return self;
        };
        let mut stop = std::pin::pin!(stop);
        loop {
            tokio::select! {
                biased;
                sample = queue.recv() => match sample {
                    Some(sample) => self.add(sample),
                    None => break,
                },
                () = &mut stop => {
                    while let Ok(sample) = queue.try_recv() {
                        self.add(sample);
                    }
                    break;
                }
            }
        }
        self
    }

    /// Adds one sample.
    pub fn add(&mut self, sample: Sample) {
        let window = sample.window;
        let newer = window > self.newest;
        self.newest = self.newest.max(window);
        self.update_recent(&sample);

        for (op, code, count) in &sample.codes {
            *self.codes.entry(*op).or_default().entry(*code).or_default() += count;
        }
        self.sessions_ok += sample.sessions_ok;
        self.sessions_failed += sample.sessions_failed;
        sample.late_starts.add_to(&mut self.late_starts);
        for (why, count) in &sample.aborted {
            *self.aborted.entry(*why).or_default() += count;
        }
        for (total, count) in self.timeouts.iter_mut().zip(&sample.timeouts) {
            *total += count;
        }

        let interval = match self.sealed.remove(&window) {
            Some(sealed) => self
                .open
                .entry(window)
                .or_insert(OpenInterval::reopen(sealed, self.metrics.len())),
            None => self
                .open
                .entry(window)
                .or_insert_with(|| OpenInterval::new(self.metrics.len())),
        };
        interval.sessions_ok += sample.sessions_ok;
        interval.sessions_failed += sample.sessions_failed;
        interval.failures += sample.failures.total();
        interval.late_starts += sample.late_starts.len();
        interval.sessions_started += sample.sessions_started;
        for (i, values) in sample.latencies.iter().enumerate() {
            if values.len() == 0 {
                continue;
            }
            if let Some(total) = self.totals.get_mut(i) {
                values.add_to(total);
            }
            if let Some(slot) = interval.metrics.get_mut(i) {
                values.add_to(slot.get_or_insert_with(new_histogram));
            }
        }
        self.failures.merge(sample.failures);
        self.seal_older_than(self.newest.saturating_sub(SEAL_AFTER_WINDOWS));
        if self.published.is_none_or(|p| self.newest > p) {
            self.publish_totals();
        }
        if newer && self.watch.is_some() {
            let so_far = self.so_far();
            if let Some(watch) = &mut self.watch {
                (watch.0)(&so_far);
            }
        }
    }

    /// The totals so far, without the timeline.
    fn so_far(&self) -> Results {
        Results {
            metrics: self.metrics.clone(),
            totals: self.totals.clone(),
            timeline: Vec::new(),
            codes: self
                .codes
                .iter()
                .map(|(op, codes)| ((*op).to_owned(), codes.clone()))
                .collect(),
            failures: self.failures.clone(),
            late_starts: self.late_starts.clone(),
            sessions_ok: self.sessions_ok,
            sessions_failed: self.sessions_failed,
            aborted: self.aborted.clone(),
            timeouts: self.timeouts.clone(),
            duration: self.started.elapsed(),
        }
    }

    /// Publishes every metric's totals to [`LiveStats`] (once per new window: a few
    /// microseconds per metric).
    fn publish_totals(&mut self) {
        self.published = Some(self.newest);
        let metrics = self
            .metrics
            .iter()
            .zip(&self.totals)
            .map(|((_, name), h)| LiveMetric::of(name, h))
            .collect();
        let codes = self
            .codes
            .iter()
            .map(|(op, codes)| ((*op).to_owned(), codes.clone()))
            .collect();
        self.live.publish_totals(LiveTotals {
            window: self.newest,
            metrics,
            codes,
            live_metric: self
                .live_metric
                .and_then(|id| self.metrics.name(id))
                .map(str::to_owned),
        });
    }

    /// Publishes the p99 of the previous window's live-metric values when a newer window
    /// starts arriving, then starts collecting the new one.
    fn update_recent(&mut self, sample: &Sample) {
        let Some(values) = self
            .live_metric
            .and_then(|id| sample.latencies.get(id.index()))
        else {
            return;
        };
        if sample.window > self.recent_window {
            if !self.recent.is_empty() {
                let p99 = self.recent.value_at_quantile(0.99);
                self.live.publish_p99(Duration::from_micros(p99));
                self.recent.reset();
            }
            self.recent_window = sample.window;
        }
        values.add_to(&mut self.recent);
    }

    fn seal_older_than(&mut self, window: u64) {
        while let Some(entry) = self.open.first_entry() {
            if *entry.key() >= window {
                break;
            }
            let (second, open) = entry.remove_entry();
            self.sealed.insert(second, open.seal(second));
        }
    }

    /// Seals everything and returns the results of a run that lasted `duration`.
    pub fn finish(mut self, duration: Duration) -> Results {
        self.publish_totals();
        self.seal_older_than(u64::MAX);
        let last = self.sealed.last_key_value().map(|(k, _)| *k);
        let mut timeline = Vec::new();
        if let Some(last) = last {
            for second in 0..=last {
                let interval = self
                    .sealed
                    .remove(&second)
                    .unwrap_or_else(|| Interval::empty(second, self.metrics.len()));
                timeline.push(interval);
            }
        }
        Results {
            metrics: self.metrics,
            totals: self.totals,
            timeline,
            codes: self
                .codes
                .into_iter()
                .map(|(op, codes)| (op.to_owned(), codes))
                .collect(),
            failures: self.failures,
            late_starts: self.late_starts,
            sessions_ok: self.sessions_ok,
            sessions_failed: self.sessions_failed,
            aborted: self.aborted,
            timeouts: self.timeouts,
            duration,
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Instant;

    use super::*;
    use crate::metrics::{FailureKind, FailureSample, Recorder, collect};

    fn set() -> MetricSet {
        MetricSet::new(["call", "session"]).unwrap()
    }

    #[test]
    fn timeline_has_one_interval_per_second_with_gaps_filled() {
        let set = set();
        let call = set.id("call").unwrap();
        let origin = Instant::now();
        let mut rec = Recorder::detached(&set, origin);
        for (sec, ms) in [(0, 1), (0, 3), (2, 5), (7, 9)] {
            rec.record_at(
                call,
                Duration::from_millis(ms),
                origin + Duration::from_secs(sec),
            );
        }
        rec.session_done(true);
        let mut agg = Aggregator::new(&set);
        for s in rec.take_samples() {
            agg.add(s);
        }
        let results = agg.finish(Duration::from_secs(8));
        assert_eq!(results.timeline.len(), 8);
        let counts: Vec<u64> = results
            .timeline
            .iter()
            .map(|i| i.metrics[0].as_ref().map_or(0, |m| m.count))
            .collect();
        assert_eq!(counts, vec![2, 0, 1, 0, 0, 0, 0, 1]);
        let first = results.timeline[0].metrics[0].as_ref().unwrap();
        assert_eq!(
            first.max_us,
            results.timeline[0].histogram(0).unwrap().max()
        );
        assert_eq!(
            results.timeline[7].sessions_ok, 1,
            "session counted in the current window"
        );
        assert_eq!(results.total(call).unwrap().len(), 4);
    }

    #[test]
    fn late_sample_for_a_sealed_interval_is_added() {
        let set = set();
        let call = set.id("call").unwrap();
        let origin = Instant::now();
        let at = |s: u64| origin + Duration::from_secs(s);
        let mut early = Recorder::detached(&set, origin);
        early.record_at(call, Duration::from_millis(2), at(1));
        let mut busy = Recorder::detached(&set, origin);
        for s in 0..20 {
            busy.record_at(call, Duration::from_millis(1), at(s));
        }
        let mut agg = Aggregator::new(&set);
        for s in busy.take_samples() {
            agg.add(s);
        }
        assert!(agg.sealed.contains_key(&1));
        for s in early.take_samples() {
            agg.add(s);
        }
        let results = agg.finish(Duration::from_secs(20));
        assert_eq!(results.timeline[1].metrics[0].as_ref().unwrap().count, 2);
        assert_eq!(results.total(call).unwrap().len(), 21);
    }

    #[tokio::test]
    async fn run_until_ends_although_a_recorder_is_still_alive() {
        let set = set();
        let call = set.id("call").unwrap();
        let origin = Instant::now();
        let (collector, aggregator) = collect(&set, origin);
        let mut stuck = collector.recorder();
        stuck.record_at(call, Duration::from_millis(1), origin);
        stuck.record_at(
            call,
            Duration::from_millis(2),
            origin + Duration::from_secs(1),
        );
        let stop = tokio::time::sleep(Duration::from_millis(20));
        let aggregator = tokio::time::timeout(Duration::from_secs(2), aggregator.run_until(stop))
            .await
            .expect("run_until returns although the collector and a recorder are alive");
        let results = aggregator.finish(Duration::from_secs(2));
        assert_eq!(
            results.total(call).unwrap().len(),
            1,
            "the handed-over window is kept"
        );
        drop((stuck, collector));
    }

    #[tokio::test]
    async fn channel_pipeline_delivers_everything_and_updates_live() {
        let set = set();
        let call = set.id("call").unwrap();
        let session = set.id("session").unwrap();
        let origin = Instant::now();
        let (collector, aggregator) = collect(&set, origin);
        let live = collector.live();
        let task = tokio::spawn(aggregator.run());
        let mut workers = Vec::new();
        for w in 0..4u64 {
            let mut rec = collector.recorder();
            workers.push(tokio::spawn(async move {
                for s in 0..3u64 {
                    let at = origin + Duration::from_secs(s);
                    rec.record_at(call, Duration::from_micros(100 * (w + 1)), at);
                    rec.record_at(session, Duration::from_millis(10 * (w + 1)), at);
                }
                rec.session_done(w != 0);
                rec.failure(
                    FailureKind::new("call", "caller", "x"),
                    FailureSample::new(w, ""),
                );
                rec.finish().await;
            }));
        }
        for w in workers {
            w.await.unwrap();
        }
        drop(collector);
        let results = task.await.unwrap().finish(Duration::from_secs(3));
        assert_eq!(results.total(call).unwrap().len(), 12);
        assert_eq!((results.sessions_ok, results.sessions_failed), (3, 1));
        assert_eq!(results.failures.total(), 4);
        let snap = live.snapshot();
        assert_eq!(
            (snap.sessions_done, snap.sessions_failed, snap.failures),
            (4, 1, 4)
        );
        let p99 = snap.recent_p99.expect("a p99 was published");
        assert!(
            p99 >= Duration::from_millis(10) && p99 <= Duration::from_millis(41),
            "{p99:?}"
        );
    }
}
