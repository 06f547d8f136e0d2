//! Reading a report back into exact [`Results`], and merging the reports of several
//! shards (or runs) into one — histograms added, counts summed, thresholds re-evaluated.

use std::collections::BTreeMap;
use std::time::{Duration, UNIX_EPOCH};

use crate::metrics::histogram::decode;
use crate::metrics::{
    FailureEntry, FailureKind, Failures, Interval, IntervalMetric, MetricSet, Results, evaluate,
};

use super::json::{ReportError, RunMeta, RunReport};
use super::shard::Shard;

fn decoded(metric: &str, text: &str) -> Result<crate::metrics::LatencyHistogram, ReportError> {
    decode(text).map_err(|source| ReportError::Histogram {
        metric: metric.to_owned(),
        source,
    })
}

impl RunReport {
    /// The report's measurements in exact form: every histogram decoded.
    pub fn results(&self) -> Result<Results, ReportError> {
        let metrics = MetricSet::new(self.metrics.iter().map(|m| m.name.clone()))
            .map_err(|e| ReportError::DuplicateMetric(e.0))?;
        let totals = self
            .metrics
            .iter()
            .map(|m| decoded(&m.name, &m.histogram))
            .collect::<Result<Vec<_>, _>>()?;

        let width = metrics.len();
        let last = self.timeline.iter().map(|i| i.second).max();
        let mut timeline: Vec<Interval> = match last {
            Some(last) => (0..=last).map(|s| Interval::empty(s, width)).collect(),
            None => Vec::new(),
        };
        for report in &self.timeline {
            let Some(interval) = usize::try_from(report.second)
                .ok()
                .and_then(|s| timeline.get_mut(s))
            else {
                continue;
            };
            interval.sessions_ok += report.sessions_ok;
            interval.sessions_failed += report.sessions_failed;
            interval.failures += report.failures;
            interval.late_starts += report.late_starts;
            for m in &report.metrics {
                let id = metrics
                    .id(&m.name)
                    .ok_or_else(|| ReportError::UnlistedMetric {
                        second: report.second,
                        metric: m.name.clone(),
                    })?;
                interval.metrics[id.index()] = Some(IntervalMetric {
                    count: m.count,
                    p50_us: m.p50_us,
                    p99_us: m.p99_us,
                    max_us: m.max_us,
                    histogram: m.histogram.clone(),
                });
            }
        }

        let mut codes: BTreeMap<String, BTreeMap<u32, u64>> = BTreeMap::new();
        for c in &self.codes {
            *codes
                .entry(c.op.clone())
                .or_default()
                .entry(c.code)
                .or_default() += c.count;
        }
        let mut failures = Failures::default();
        for f in &self.failures {
            failures.add_entry(
                FailureKind::new(f.step.clone(), f.role.clone(), f.reason.clone()),
                FailureEntry {
                    count: f.count,
                    samples: f.samples.clone(),
                },
            );
        }
        Ok(Results {
            metrics,
            totals,
            timeline,
            codes,
            failures,
            late_starts: decoded("late starts", &self.late_starts.histogram)?,
            sessions_ok: self.sessions.ok,
            sessions_failed: self.sessions.failed,
            duration: Duration::from_millis(self.meta.duration_ms),
        })
    }

    /// Merges the reports of one scenario run on several generators (`--shard I/N`) into
    /// one report, exactly. Timelines are aligned on wall-clock start (to the nearest
    /// second); thresholds are those of the first report, re-evaluated on merged data.
    pub fn merge(reports: &[RunReport]) -> Result<RunReport, ReportError> {
        let first = reports.first().ok_or(ReportError::NothingToMerge)?;
        if let Some(other) = reports
            .iter()
            .find(|r| r.meta.scenario != first.meta.scenario)
        {
            return Err(ReportError::DifferentScenarios(
                first.meta.scenario.clone(),
                other.meta.scenario.clone(),
            ));
        }
        let start_ms = reports
            .iter()
            .map(|r| r.meta.started_unix_ms)
            .min()
            .unwrap_or(first.meta.started_unix_ms);
        let no_metrics =
            MetricSet::new(Vec::<String>::new()).map_err(|e| ReportError::DuplicateMetric(e.0))?;
        let mut merged = Results::empty(&no_metrics, Duration::ZERO);
        for report in reports {
            let offset = report
                .meta
                .started_unix_ms
                .saturating_sub(start_ms)
                .saturating_add(500)
                / 1000;
            merged
                .merge(&report.results()?, offset)
                .map_err(|source| ReportError::Histogram {
                    metric: "(merge)".to_owned(),
                    source,
                })?;
        }
        let checks = first
            .thresholds
            .iter()
            .map(|t| t.check())
            .collect::<Result<Vec<_>, _>>()?;
        let thresholds = evaluate(&checks, &merged)?;

        let mut targets: Vec<&str> = Vec::new();
        for r in reports {
            if !targets.contains(&r.meta.target.as_str()) {
                targets.push(&r.meta.target);
            }
        }
        let meta = RunMeta {
            scenario: first.meta.scenario.clone(),
            scenario_file: first.meta.scenario_file.clone(),
            target: targets.join(", "),
            started_at: UNIX_EPOCH + Duration::from_millis(start_ms),
            shard: Shard::WHOLE,
            load: first.meta.load.clone(),
            interrupted: reports.iter().any(|r| r.meta.interrupted),
        };
        let mut report = RunReport::new(meta, &merged, &thresholds)?;
        let mut shards: Vec<Shard> = reports.iter().flat_map(|r| r.meta.shards.clone()).collect();
        shards.sort_unstable();
        report.meta.shards = shards;
        for r in reports {
            let label = r
                .meta
                .shards
                .iter()
                .map(Shard::to_string)
                .collect::<Vec<_>>()
                .join(",");
            report
                .warnings
                .extend(r.warnings.iter().map(|w| format!("[shard {label}] {w}")));
        }
        Ok(report)
    }
}
