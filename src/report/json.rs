//! The JSON report ([`RunReport`]): its shape, how it is built from [`Results`], and
//! writing and reading it. `docs/report.md` documents the shape field by field; keep the
//! two in step.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

use super::shard::Shard;
use crate::metrics::histogram::{HistogramCodecError, Stats, encode, format_micros};
use crate::metrics::{
    AbortReason, Comparison, FailureSample, Quantity, Results, Stat, ThresholdCheck,
    ThresholdResult,
};

/// The value of [`RunReport::format`]; readers reject other major versions.
pub const FORMAT: &str = "sigbench-report/1";

/// Why a report could not be built, written, read or merged.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: not a sigbench JSON report: {source}")]
    Json {
        path: PathBuf,
        source: serde_json::Error,
    },
    #[error("unsupported report format '{0}' (this sigbench reads {FORMAT})")]
    Format(String),
    #[error("histogram of '{metric}': {source}")]
    Histogram {
        metric: String,
        source: HistogramCodecError,
    },
    #[error("report lists metric '{0}' twice")]
    DuplicateMetric(String),
    #[error("timeline second {second} names metric '{metric}', which the report does not list")]
    UnlistedMetric { second: u64, metric: String },
    #[error("threshold '{0}' in the report has an unknown unit")]
    ThresholdUnit(String),
    #[error("unknown reason '{0}' in sessions.aborted_by")]
    AbortReason(String),
    #[error("nothing to merge")]
    NothingToMerge,
    #[error("cannot merge reports of different scenarios: '{0}' and '{1}'")]
    DifferentScenarios(String, String),
    #[error("cannot merge report {} and report {}: {}", .0.first + 1, .0.other + 1, .0)]
    Conflict(#[from] super::merge::MergeConflict),
    #[error(transparent)]
    Threshold(#[from] crate::metrics::ThresholdError),
}

/// What the runner knows about the run, besides the measurements.
#[derive(Clone, Debug, PartialEq)]
pub struct RunMeta {
    /// The scenario's `name`.
    pub scenario: String,
    /// The scenario file as given on the command line.
    pub scenario_file: String,
    /// The target URL (the embedded server's loopback URL when no `--target`).
    pub target: String,
    /// Wall-clock start; the timeline's second 0 begins here.
    pub started_at: SystemTime,
    pub shard: Shard,
    /// One line describing the load model, e.g. `closed: 1000 sessions, concurrency 100`.
    pub load: String,
    /// Ctrl-C ended the run early.
    pub interrupted: bool,
    /// The scenario says sessions cut off by `max_duration` do not fail the run
    /// (`load.aborts_expected`).
    pub aborts_expected: bool,
    /// The run stopped itself before its load model ended (exit 1).
    pub stopped_early: Option<StoppedEarly>,
    /// The flows of a mix (empty for a single-flow scenario); their counts come from
    /// the `<flow>/session` and `<flow>/failed sessions` metrics.
    pub flows: Vec<FlowMeta>,
    /// The names of the result codes of the driver that ran (`401` → `Unauthorized` for
    /// SIP, `10404` → `ROOM_NOT_EXISTS` natively: `Vocabulary::code_names`), so the
    /// report labels codes without knowing which protocol ran.
    pub code_names: BTreeMap<u32, String>,
}

/// A flow of a mix, as the scenario declares it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FlowMeta {
    pub name: String,
    /// Its weight in a mix that shares one load; `None` when it has a load of its own.
    pub weight: Option<u32>,
    /// Its own load model, described; `None` in a mix by weight.
    pub load: Option<String>,
}

/// One flow of a mix: its share of the sessions and how they fared.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FlowReport {
    pub name: String,
    /// Its weight in a mix by weight; absent when the flow has its own load.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub weight: Option<u32>,
    /// Its own load model, described; absent in a mix by weight.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub load: Option<String>,
    /// In a mix by weight, the flow's weight over the sum of the weights; with loads of
    /// their own, its share of the flows' finished sessions. In percent.
    pub share_percent: f64,
    pub sessions: FlowSessions,
}

/// A flow's finished sessions (sessions cut off are counted run-wide only).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FlowSessions {
    pub done: u64,
    pub ok: u64,
    pub failed: u64,
    /// `done` per second of run time.
    pub rate_per_s: f64,
}

/// Why and when a run stopped itself before its load model ended: an `abort`
/// threshold broke, `max_failures` was reached, or a unique feeder ran dry.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoppedEarly {
    pub reason: String,
    /// Milliseconds after the load started (the initial logins not counted).
    pub at_ms: u64,
}

/// How the run ended, as the exit code tells it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// Every expectation and threshold held (exit 0).
    Passed,
    /// Some expectation or threshold failed (exit 1).
    Failed,
    /// Interrupted by Ctrl-C (exit 130).
    Interrupted,
}

impl Status {
    /// The process exit code for this status.
    pub const fn exit_code(self) -> u8 {
        match self {
            Status::Passed => 0,
            Status::Failed => 1,
            Status::Interrupted => 130,
        }
    }
}

/// Run metadata in the report.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Meta {
    pub scenario: String,
    pub scenario_file: String,
    pub target: String,
    /// RFC 3339, UTC, milliseconds.
    pub started_at: String,
    pub started_unix_ms: u64,
    pub duration_ms: u64,
    pub sigbench_version: String,
    /// `["1/1"]` for a single run; every shard's `I/N` for a merged report.
    pub shards: Vec<Shard>,
    pub load: String,
    pub interrupted: bool,
    /// `null` unless the run stopped itself early; reports from before this field read
    /// as `null`.
    #[serde(default)]
    pub stopped_early: Option<StoppedEarly>,
    /// Sessions cut off by `max_duration` do not fail this run.
    #[serde(default)]
    pub aborts_expected: bool,
    pub status: Status,
    pub exit_code: u8,
}

/// Session counts.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SessionsReport {
    pub done: u64,
    pub ok: u64,
    pub failed: u64,
    /// Sessions that started but were cut off before their end (not in `done`).
    #[serde(default)]
    pub aborted: u64,
    /// `aborted` by why: `duration_limit`, `interrupt`, `target_lost`,
    /// `target_unresponsive`, `harness_error`.
    #[serde(default)]
    pub aborted_by: BTreeMap<String, u64>,
    /// `done` per second of run time.
    pub rate_per_s: f64,
}

/// One metric over the whole run.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MetricReport {
    pub name: String,
    pub count: u64,
    pub min_us: u64,
    pub mean_us: f64,
    pub p50_us: u64,
    pub p90_us: u64,
    pub p95_us: u64,
    pub p99_us: u64,
    pub p999_us: u64,
    pub max_us: u64,
    /// Requests that got no response within their timeout: they have no latency, so
    /// the percentiles above leave them out.
    #[serde(default)]
    pub timeouts: u64,
    /// HdrHistogram V2 + deflate, base64.
    pub histogram: String,
}

/// One metric in one second.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct IntervalMetricReport {
    pub name: String,
    pub count: u64,
    pub p50_us: u64,
    pub p99_us: u64,
    pub max_us: u64,
    pub histogram: String,
}

/// One second of the run.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct IntervalReport {
    pub second: u64,
    pub sessions_ok: u64,
    pub sessions_failed: u64,
    pub failures: u64,
    pub late_starts: u64,
    /// Sessions started in this second (absent in reports before sigbench 0.1 had it).
    #[serde(default)]
    pub sessions_started: u64,
    /// Sessions the open model's schedule meant to start in this second; 0 for the
    /// closed model.
    #[serde(default)]
    pub planned_starts: u64,
    /// Sessions started and not finished at the end of this second.
    #[serde(default)]
    pub in_flight: u64,
    /// The sessions the load meant to have in flight in this second: the ramping closed
    /// model's target concurrency (summed over flows and shards); absent otherwise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target_in_flight: Option<u64>,
    /// Only metrics that recorded something in this second.
    pub metrics: Vec<IntervalMetricReport>,
}

/// How often `op` got `code`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CodeReport {
    pub op: String,
    pub code: u32,
    /// The code's name in the driver that ran (`Busy Here`, `ROOM_NOT_EXISTS`); absent
    /// when it has none (and in reports from before this field).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    pub count: u64,
}

impl CodeReport {
    /// `486 Busy Here`, `10404 ROOM_NOT_EXISTS`, or the bare number.
    pub fn label(&self) -> String {
        match &self.name {
            Some(name) => format!("{} {name}", self.code),
            None => self.code.to_string(),
        }
    }

    /// A provisional or successful answer (1xx, 2xx: the classes the native codes and
    /// SIP share with HTTP), which reports do not highlight.
    pub fn is_success(&self) -> bool {
        (100..300).contains(&self.code)
    }
}

/// One failure kind.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FailureReport {
    pub step: String,
    pub role: String,
    pub reason: String,
    pub count: u64,
    pub samples: Vec<FailureSample>,
}

/// Open-model sessions that started after their intended time.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LateStartsReport {
    pub count: u64,
    pub p50_us: u64,
    pub p99_us: u64,
    pub max_us: u64,
    pub histogram: String,
}

/// One threshold with its outcome.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ThresholdReport {
    pub name: String,
    pub metric: Option<String>,
    pub stat: Stat,
    pub op: Comparison,
    /// `us`, `count`, `per_s` or `fraction`.
    pub unit: String,
    pub limit: f64,
    /// `null` when there was no data (which fails the threshold).
    pub observed: Option<f64>,
    pub pass: bool,
}

impl ThresholdReport {
    fn of(result: &ThresholdResult) -> ThresholdReport {
        ThresholdReport {
            name: result.name.clone(),
            metric: result.check.metric.clone(),
            stat: result.check.stat,
            op: result.check.op,
            unit: result.check.limit.unit().to_owned(),
            limit: result.check.limit.value(),
            observed: result.observed.map(|q| q.value()),
            pass: result.pass,
        }
    }

    /// The check this threshold came from (to re-evaluate it, e.g. after a merge).
    pub fn check(&self) -> Result<ThresholdCheck, ReportError> {
        let limit = Quantity::from_unit(&self.unit, self.limit)
            .ok_or_else(|| ReportError::ThresholdUnit(self.name.clone()))?;
        Ok(ThresholdCheck::new(
            self.metric.as_deref(),
            self.stat,
            self.op,
            limit,
        ))
    }

    /// The observed value in human units (`4.50ms`, `12`, `no data`).
    pub fn observed_text(&self) -> String {
        match self
            .observed
            .and_then(|v| Quantity::from_unit(&self.unit, v))
        {
            Some(q) => q.to_string(),
            None => "no data".to_owned(),
        }
    }
}

/// The JSON report of one run (or of several merged shards).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RunReport {
    /// Always [`FORMAT`].
    pub format: String,
    pub meta: Meta,
    pub sessions: SessionsReport,
    /// Per flow of a mix, in the scenario's order; empty for a single flow (and in
    /// reports from before mixes).
    #[serde(default)]
    pub flows: Vec<FlowReport>,
    /// In the order the runner defined them.
    pub metrics: Vec<MetricReport>,
    /// One entry per second, from 0, without gaps.
    pub timeline: Vec<IntervalReport>,
    pub codes: Vec<CodeReport>,
    /// Most frequent first.
    pub failures: Vec<FailureReport>,
    pub late_starts: LateStartsReport,
    pub thresholds: Vec<ThresholdReport>,
    pub warnings: Vec<String>,
}

/// Late starts reach this share of sessions (percent) before we call the generator the
/// bottleneck; a single late start of [`BOTTLENECK_LAG`] or more also does.
pub const BOTTLENECK_LATE_PERCENT: u64 = 1;
/// See [`BOTTLENECK_LATE_PERCENT`].
pub const BOTTLENECK_LAG: Duration = Duration::from_secs(1);

/// The warning to print when late starts show the load generator could not keep up.
pub fn bottleneck_warning(results: &Results) -> Option<String> {
    let late = results.late_starts.len();
    let max = results.late_starts.max();
    let many = late * 100 >= BOTTLENECK_LATE_PERCENT * results.sessions_done().max(1);
    let long = max >= crate::metrics::histogram::micros(BOTTLENECK_LAG);
    (late > 0 && (many || long)).then(|| {
        format!(
            "the load generator is the bottleneck: {late} of {} sessions started late \
             (p99 lag {}, max {}); the requested arrival rate was not reached",
            results.sessions_done(),
            format_micros(results.late_starts.value_at_quantile(0.99)),
            format_micros(max),
        )
    })
}

fn unix_ms(time: SystemTime) -> u64 {
    let since = time.duration_since(UNIX_EPOCH).unwrap_or_default();
    u64::try_from(since.as_millis()).unwrap_or(u64::MAX)
}

fn encoded(metric: &str, h: &crate::metrics::LatencyHistogram) -> Result<String, ReportError> {
    encode(h).map_err(|source| ReportError::Histogram {
        metric: metric.to_owned(),
        source,
    })
}

impl RunReport {
    /// Builds the report of a run from its measurements and evaluated thresholds
    /// ([`crate::metrics::evaluate`]). Adds the generator-bottleneck warning if due.
    pub fn new(
        meta: RunMeta,
        results: &Results,
        thresholds: &[ThresholdResult],
    ) -> Result<RunReport, ReportError> {
        let metrics = results
            .metrics
            .iter()
            .zip(&results.totals)
            .map(|((id, name), histogram)| {
                let s = Stats::of(histogram);
                Ok(MetricReport {
                    name: name.to_owned(),
                    count: s.count,
                    min_us: s.min_us,
                    mean_us: (s.mean_us * 10.0).round() / 10.0,
                    p50_us: s.p50_us,
                    p90_us: s.p90_us,
                    p95_us: s.p95_us,
                    p99_us: s.p99_us,
                    p999_us: s.p999_us,
                    max_us: s.max_us,
                    timeouts: results.timeouts.get(id.index()).copied().unwrap_or(0),
                    histogram: encoded(name, histogram)?,
                })
            })
            .collect::<Result<Vec<_>, ReportError>>()?;
        let names = results.metrics.names();
        let mut in_flight = 0u64;
        let timeline = results
            .timeline
            .iter()
            .map(|interval| IntervalReport {
                second: interval.second,
                sessions_ok: interval.sessions_ok,
                sessions_failed: interval.sessions_failed,
                failures: interval.failures,
                late_starts: interval.late_starts,
                sessions_started: interval.sessions_started,
                planned_starts: interval.planned_starts,
                in_flight: {
                    in_flight = (in_flight + interval.sessions_started)
                        .saturating_sub(interval.sessions_ok + interval.sessions_failed);
                    in_flight
                },
                target_in_flight: interval.target_in_flight,
                metrics: interval
                    .metrics
                    .iter()
                    .zip(names)
                    .filter_map(|(m, name)| {
                        let m = m.as_ref()?;
                        Some(IntervalMetricReport {
                            name: name.clone(),
                            count: m.count,
                            p50_us: m.p50_us,
                            p99_us: m.p99_us,
                            max_us: m.max_us,
                            histogram: m.histogram.clone(),
                        })
                    })
                    .collect(),
            })
            .collect();
        let codes = results
            .codes
            .iter()
            .flat_map(|(op, codes)| {
                codes.iter().map(|(&code, &count)| CodeReport {
                    op: op.clone(),
                    code,
                    name: meta.code_names.get(&code).cloned(),
                    count,
                })
            })
            .collect();
        let failures = results
            .failures
            .sorted()
            .into_iter()
            .map(|(kind, entry)| FailureReport {
                step: kind.step.clone(),
                role: kind.role.clone(),
                reason: kind.reason.clone(),
                count: entry.count,
                samples: entry.samples.clone(),
            })
            .collect();
        let late = Stats::of(&results.late_starts);
        let late_starts = LateStartsReport {
            count: late.count,
            p50_us: late.p50_us,
            p99_us: late.p99_us,
            max_us: late.max_us,
            histogram: encoded("late starts", &results.late_starts)?,
        };
        let thresholds: Vec<ThresholdReport> = thresholds.iter().map(ThresholdReport::of).collect();
        let total_weight: u64 = meta
            .flows
            .iter()
            .map(|f| u64::from(f.weight.unwrap_or(0)))
            .sum();
        let flow_count = |name: &str, suffix: &str| {
            results
                .histogram(&format!("{name}/{suffix}"))
                .map_or(0, |h| h.len())
        };
        let total_done: u64 = meta
            .flows
            .iter()
            .map(|f| flow_count(&f.name, crate::metrics::FLOW_SESSION))
            .sum();
        let percent =
            |part: u64, whole: u64| (part as f64 * 10_000.0 / whole.max(1) as f64).round() / 100.0;
        let flows = meta
            .flows
            .iter()
            .map(|f| {
                let done = flow_count(&f.name, crate::metrics::FLOW_SESSION);
                let failed = flow_count(&f.name, crate::metrics::FLOW_FAILED).min(done);
                FlowReport {
                    name: f.name.clone(),
                    weight: f.weight,
                    load: f.load.clone(),
                    share_percent: match f.weight {
                        Some(w) => percent(u64::from(w), total_weight),
                        None => percent(done, total_done),
                    },
                    sessions: FlowSessions {
                        done,
                        ok: done - failed,
                        failed,
                        rate_per_s: (crate::metrics::rate(done, results.duration) * 100.0).round()
                            / 100.0,
                    },
                }
            })
            .collect();
        let status = status_of(&meta, results, &thresholds);
        let meta = Meta {
            scenario: meta.scenario,
            scenario_file: meta.scenario_file,
            target: meta.target,
            started_at: humantime::format_rfc3339_millis(meta.started_at).to_string(),
            started_unix_ms: unix_ms(meta.started_at),
            duration_ms: u64::try_from(results.duration.as_millis()).unwrap_or(u64::MAX),
            sigbench_version: env!("CARGO_PKG_VERSION").to_owned(),
            shards: vec![meta.shard],
            load: meta.load,
            interrupted: meta.interrupted,
            stopped_early: meta.stopped_early,
            aborts_expected: meta.aborts_expected,
            status,
            exit_code: status.exit_code(),
        };
        Ok(RunReport {
            format: FORMAT.to_owned(),
            meta,
            sessions: SessionsReport {
                done: results.sessions_done(),
                ok: results.sessions_ok,
                failed: results.sessions_failed,
                aborted: results.sessions_aborted(),
                aborted_by: results
                    .aborted
                    .iter()
                    .map(|(why, n)| (why.as_str().to_owned(), *n))
                    .collect(),
                rate_per_s: (results.session_rate() * 100.0).round() / 100.0,
            },
            flows,
            metrics,
            timeline,
            codes,
            failures,
            late_starts,
            thresholds,
            warnings: bottleneck_warning(results).into_iter().collect(),
        })
    }

    /// How the run ended.
    pub fn status(&self) -> Status {
        self.meta.status
    }

    /// The response codes grouped by op, ops in report order.
    pub fn codes_by_op(&self) -> Vec<(&str, Vec<&CodeReport>)> {
        let mut groups: Vec<(&str, Vec<&CodeReport>)> = Vec::new();
        for c in &self.codes {
            match groups.iter_mut().find(|(op, _)| *op == c.op) {
                Some((_, codes)) => codes.push(c),
                None => groups.push((&c.op, vec![c])),
            }
        }
        groups
    }

    /// Total failures over all kinds.
    pub fn failure_count(&self) -> u64 {
        self.failures.iter().map(|f| f.count).sum()
    }

    /// True for a metric that counts rather than times: a flow's `<flow>/failed
    /// sessions`, whose `count` is what matters (its histogram only holds the durations
    /// it needs to be added up over shards). Reports show it as a count, in the flows.
    pub fn is_count_metric(&self, name: &str) -> bool {
        self.flows.iter().any(|f| {
            name.strip_prefix(f.name.as_str())
                .and_then(|rest| rest.strip_prefix('/'))
                == Some(crate::metrics::FLOW_FAILED)
        })
    }

    /// The metrics that are latencies (every metric but [`Self::is_count_metric`]), in
    /// order.
    pub fn latency_metrics(&self) -> impl Iterator<Item = &MetricReport> {
        self.metrics
            .iter()
            .filter(|m| !self.is_count_metric(&m.name))
    }

    /// The file name [`RunReport::write`] uses: `<scenario>-<UTC time>[-shard-I-of-N].json`.
    pub fn file_name(&self) -> String {
        let scenario: String = self
            .meta
            .scenario
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || "-_.".contains(c) {
                    c
                } else {
                    '_'
                }
            })
            .collect();
        let scenario = if scenario.is_empty() {
            "run".to_owned()
        } else {
            scenario
        };
        let started = UNIX_EPOCH + Duration::from_millis(self.meta.started_unix_ms);
        let stamp: String = humantime::format_rfc3339_seconds(started)
            .to_string()
            .chars()
            .filter(|c| !matches!(c, '-' | ':'))
            .collect();
        let shard = match self.meta.shards.as_slice() {
            [one] if one.count > 1 => format!("-shard-{}-of-{}", one.index, one.count),
            [_, _, ..] => "-merged".to_owned(),
            _ => String::new(),
        };
        format!("{scenario}-{stamp}{shard}.json")
    }

    /// Writes the report into `dir` (created if missing) as [`RunReport::file_name`], or
    /// with `-2`, `-3`, … appended if that file exists; atomically (a temporary file,
    /// synced and renamed: a crash never leaves a truncated report). Returns the path.
    pub fn write(&self, dir: &Path) -> Result<PathBuf, ReportError> {
        let name = self.file_name();
        let stem = name.trim_end_matches(".json");
        let text = self.to_json_text(&dir.join(&name))?;
        super::file::write_new(dir, stem, "json", text.as_bytes()).map_err(|source| {
            ReportError::Io {
                path: dir.join(&name),
                source,
            }
        })
    }

    /// Writes the report to exactly `path`, replacing a file that is there (for an output
    /// name the user chose, e.g. `sigbench merge --out`) — atomically, so a crash keeps
    /// the previous file whole.
    pub fn write_to(&self, path: &Path) -> Result<(), ReportError> {
        let text = self.to_json_text(path)?;
        super::file::write_replacing(path, text.as_bytes()).map_err(|source| ReportError::Io {
            path: path.to_owned(),
            source,
        })
    }

    fn to_json_text(&self, path: &Path) -> Result<String, ReportError> {
        let mut text = serde_json::to_string_pretty(self).map_err(|source| ReportError::Json {
            path: path.to_owned(),
            source,
        })?;
        text.push('\n');
        Ok(text)
    }

    /// Reads a report written by [`RunReport::write`] (any `sigbench-report/1.x`).
    pub fn read(path: &Path) -> Result<RunReport, ReportError> {
        let text = fs::read_to_string(path).map_err(|source| ReportError::Io {
            path: path.to_owned(),
            source,
        })?;
        RunReport::from_json(&text).map_err(|e| match e {
            ReportError::Json { source, .. } => ReportError::Json {
                path: path.to_owned(),
                source,
            },
            other => other,
        })
    }

    /// Parses a report from JSON text.
    pub fn from_json(text: &str) -> Result<RunReport, ReportError> {
        #[derive(Deserialize)]
        struct Header {
            format: String,
        }
        let json = |source| ReportError::Json {
            path: PathBuf::new(),
            source,
        };
        let header: Header = serde_json::from_str(text).map_err(json)?;
        let major = FORMAT.rsplit_once('.').map_or(FORMAT, |(m, _)| m);
        if header.format != FORMAT && !header.format.starts_with(&format!("{major}.")) {
            return Err(ReportError::Format(header.format));
        }
        serde_json::from_str(text).map_err(json)
    }
}

/// Passed, failed or interrupted, from the measurements and thresholds. A run that
/// stopped itself early has failed.
pub(crate) fn status_of(
    meta: &RunMeta,
    results: &Results,
    thresholds: &[ThresholdReport],
) -> Status {
    // A session cut off is a lost verdict: only a scenario that expects its last
    // sessions to be cut off at `max_duration` may pass with some.
    let unexpected_aborts = results
        .aborted
        .iter()
        .any(|(why, n)| *n > 0 && !(meta.aborts_expected && *why == AbortReason::DurationLimit));
    if meta.interrupted {
        Status::Interrupted
    } else if meta.stopped_early.is_some()
        || results.sessions_failed > 0
        || unexpected_aborts
        || !results.failures.is_empty()
        || thresholds.iter().any(|t| !t.pass)
    {
        Status::Failed
    } else {
        Status::Passed
    }
}
