//! Reading a report back into exact [`Results`], and merging the reports of several
//! shards (or runs) into one — histograms added, counts summed, thresholds re-evaluated.
//!
//! Reports merge when they are of the same scenario, with the same thresholds, and their
//! shards fit together ([`RunReport::mergeable`]): shards of one split (`I/N` with the
//! same `N`), none twice; or whole runs (`1/1`), which add up as independent runs. A
//! merge of some shards of a split but not all of them works and says so in a warning.

use std::collections::BTreeMap;
use std::time::{Duration, UNIX_EPOCH};

use crate::metrics::histogram::decode;
use crate::metrics::{
    AbortReason, FailureEntry, FailureKind, Failures, Interval, IntervalMetric, MetricSet, Results,
    evaluate,
};

use super::json::{FlowMeta, ReportError, RunMeta, RunReport, ThresholdReport};
use super::shard::Shard;

fn decoded(metric: &str, text: &str) -> Result<crate::metrics::LatencyHistogram, ReportError> {
    decode(text).map_err(|source| ReportError::Histogram {
        metric: metric.to_owned(),
        source,
    })
}

/// Why two of the reports given to [`RunReport::merge`] cannot be merged: which two (by
/// position, 0-based) and what differs. The `Display` text is only the difference, for
/// callers to prefix with the reports' names.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{what}")]
pub struct MergeConflict {
    pub first: usize,
    pub other: usize,
    pub kind: ConflictKind,
    pub what: String,
}

/// What differs between two reports that cannot be merged.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ConflictKind {
    Scenario,
    Thresholds,
    Shards,
}

/// A threshold as a comparable key: `(metric, stat, op, unit, limit bits)`.
fn threshold_key(t: &ThresholdReport) -> (Option<String>, String, String, String, u64) {
    (
        t.metric.clone(),
        t.stat.to_string(),
        t.op.symbol().to_owned(),
        t.unit.clone(),
        t.limit.to_bits(),
    )
}

fn threshold_names(r: &RunReport) -> String {
    let names: Vec<&str> = r.thresholds.iter().map(|t| t.name.as_str()).collect();
    if names.is_empty() {
        "none".to_owned()
    } else {
        names.join(", ")
    }
}

fn sorted_keys(r: &RunReport) -> Vec<(Option<String>, String, String, String, u64)> {
    let mut keys: Vec<_> = r.thresholds.iter().map(threshold_key).collect();
    keys.sort();
    keys
}

impl RunReport {
    /// Checks that `reports` can be merged: same scenario, same thresholds (in any order),
    /// and shards that fit together — all `1/1` (independent runs), or shards `I/N` of
    /// one `N` with no shard twice.
    pub fn mergeable(reports: &[RunReport]) -> Result<(), MergeConflict> {
        let Some(first) = reports.first() else {
            return Ok(());
        };
        let conflict = |other: usize, kind: ConflictKind, what: String| MergeConflict {
            first: 0,
            other,
            kind,
            what,
        };
        let keys = sorted_keys(first);
        for (i, r) in reports.iter().enumerate().skip(1) {
            if r.meta.scenario != first.meta.scenario {
                return Err(conflict(
                    i,
                    ConflictKind::Scenario,
                    format!(
                        "different scenarios: '{}' and '{}'",
                        first.meta.scenario, r.meta.scenario
                    ),
                ));
            }
            if sorted_keys(r) != keys {
                return Err(conflict(
                    i,
                    ConflictKind::Thresholds,
                    format!(
                        "different thresholds (run every shard with the same scenario file \
                         and --set values): [{}] and [{}]",
                        threshold_names(first),
                        threshold_names(r)
                    ),
                ));
            }
        }
        let mut seen: Vec<(Shard, usize)> = Vec::new();
        for (i, r) in reports.iter().enumerate() {
            for &shard in &r.meta.shards {
                for &(earlier, at) in &seen {
                    let both_whole = shard.count == 1 && earlier.count == 1;
                    let what = if shard.count != earlier.count && !both_whole {
                        format!(
                            "shards of different splits: {earlier} and {shard} (every \
                             generator of one run uses the same N in --shard I/N)"
                        )
                    } else if shard == earlier && !both_whole {
                        format!("shard {shard} appears twice; its data would count double")
                    } else {
                        continue;
                    };
                    return Err(MergeConflict {
                        first: at,
                        other: i,
                        kind: ConflictKind::Shards,
                        what,
                    });
                }
                seen.push((shard, i));
            }
        }
        Ok(())
    }

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
            interval.sessions_started += report.sessions_started;
            interval.planned_starts += report.planned_starts;
            interval.target_in_flight =
                crate::metrics::add_targets(interval.target_in_flight, report.target_in_flight);
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
            aborted: self
                .sessions
                .aborted_by
                .iter()
                .map(|(why, n)| {
                    let reason = AbortReason::from_name(why)
                        .ok_or_else(|| ReportError::AbortReason(why.clone()))?;
                    Ok((reason, *n))
                })
                .collect::<Result<_, ReportError>>()?,
            timeouts: self.metrics.iter().map(|m| m.timeouts).collect(),
            duration: Duration::from_millis(self.meta.duration_ms),
        })
    }

    /// `merged 2 of 3 shards; missing 3/3` when `reports` are part of a split but not all
    /// of it; `None` when they are complete (or whole runs).
    pub fn missing_shards(reports: &[RunReport]) -> Option<String> {
        let shards: Vec<Shard> = reports.iter().flat_map(|r| r.meta.shards.clone()).collect();
        missing_shards(&shards)
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
        Self::mergeable(reports).map_err(|c| {
            if c.kind == ConflictKind::Scenario {
                ReportError::DifferentScenarios(
                    first.meta.scenario.clone(),
                    reports[c.other].meta.scenario.clone(),
                )
            } else {
                ReportError::Conflict(c)
            }
        })?;
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
            load: merged_load(reports),
            interrupted: reports.iter().any(|r| r.meta.interrupted),
            // The earliest shard to stop itself speaks for the merged run.
            stopped_early: reports
                .iter()
                .filter_map(|r| r.meta.stopped_early.clone())
                .min_by_key(|s| s.at_ms),
            flows: first
                .flows
                .iter()
                .map(|f| FlowMeta {
                    name: f.name.clone(),
                    weight: f.weight,
                    load: f.load.clone(),
                })
                .collect(),
            aborts_expected: reports.iter().all(|r| r.meta.aborts_expected),
            // Every shard ran the same scenario, hence the same driver.
            code_names: reports
                .iter()
                .flat_map(|r| &r.codes)
                .filter_map(|c| Some((c.code, c.name.clone()?)))
                .collect(),
        };
        let mut report = RunReport::new(meta, &merged, &thresholds)?;
        let mut shards: Vec<Shard> = reports.iter().flat_map(|r| r.meta.shards.clone()).collect();
        shards.sort_unstable();
        report.meta.shards = shards;
        if let Some(missing) = missing_shards(&report.meta.shards) {
            report.warnings.push(format!(
                "{missing}: the numbers cover only part of the planned load"
            ));
        }
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

/// The warning for a merge of an incomplete split, e.g. shards 1/3 and 2/3 without 3/3.
fn missing_shards(shards: &[Shard]) -> Option<String> {
    let count = shards.iter().map(|s| s.count).max().filter(|&n| n > 1)?;
    let missing: Vec<String> = (1..=count)
        .filter(|&i| !shards.iter().any(|s| s.index == i))
        .map(|i| Shard { index: i, count }.to_string())
        .collect();
    (!missing.is_empty()).then(|| {
        format!(
            "merged {} of {count} shards; missing {}",
            usize::try_from(count).unwrap_or(usize::MAX) - missing.len(),
            missing.join(", ")
        )
    })
}

/// The load of merged reports: `3 × (closed, concurrency 50, 1000 sessions)` when every
/// input describes the same load (the usual split), else the distinct ones joined by `+`.
fn merged_load(reports: &[RunReport]) -> String {
    let mut loads: Vec<(&str, usize)> = Vec::new();
    for r in reports {
        match loads.iter_mut().find(|(load, _)| *load == r.meta.load) {
            Some((_, n)) => *n += 1,
            None => loads.push((&r.meta.load, 1)),
        }
    }
    match loads.as_slice() {
        [(load, 1)] => (*load).to_owned(),
        _ => loads
            .iter()
            .map(|(load, n)| format!("{n} × ({load})"))
            .collect::<Vec<_>>()
            .join(" + "),
    }
}
