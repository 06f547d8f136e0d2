//! Reporting: what people and CI see of a run.
//!
//! - [`RunReport`]: the JSON report (`reports/<scenario>-<time>.json`), built from
//!   [`crate::metrics::Results`]; read back with [`RunReport::read`], turned back into
//!   exact results with [`RunReport::results`], merged across shards with
//!   [`RunReport::merge`]. `docs/report.md` documents its shape.
//! - [`render_html`] / [`write_html`]: the self-contained HTML report (inline CSS and SVG
//!   charts, no script), deterministic for a given JSON report.
//! - [`junit`]: JUnit XML for CI ([`JunitReport`], [`JunitSuite::of_run`]).
//! - [`RunReport::merge`] / [`RunReport::mergeable`]: exact merging of shard reports.
//! - [`render_summary`] / [`print_summary`]: the end-of-run table on the terminal.
//! - [`compare`]: two reports side by side with regression bounds ([`Comparison`],
//!   [`render_compare_html`]) for `sigbench compare`.
//! - [`live`]: one frame of live numbers per second, served on `--metrics-listen`
//!   (Prometheus text), appended to `--live` (JSON lines) and shown by the progress line.
//! - [`Progress`]: the live progress bar or status lines while the run goes on.
//!
//! The runner's end of a run, in order:
//!
//! ```no_run
//! # use std::time::{Duration, SystemTime};
//! # use sigbench::metrics::{self, Results, ThresholdCheck};
//! # use sigbench::report::{self, RunMeta, RunReport, Shard};
//! # fn end(results: Results, checks: Vec<ThresholdCheck>) -> anyhow::Result<u8> {
//! let thresholds = metrics::evaluate(&checks, &results)?;
//! let meta = RunMeta {
//!     scenario: "call-accept".into(),
//!     scenario_file: "scenarios/call-accept.yaml".into(),
//!     target: "ws://127.0.0.1:9000".into(),
//!     started_at: SystemTime::now(),
//!     shard: Shard::WHOLE,
//!     load: "closed: 1000 sessions, concurrency 100".into(),
//!     interrupted: false,
//!     stopped_early: None,
//!     flows: Vec::new(),
//!     aborts_expected: false,
//!     code_names: sigbench::drivers::vocabulary_named("sigbench").unwrap().code_names(),
//! };
//! let report = RunReport::new(meta, &results, &thresholds)?;
//! let path = report.write("reports".as_ref())?;
//! report::print_summary(&report)?;
//! println!("report: {}", path.display());
//! Ok(report.status().exit_code())
//! # }
//! ```

pub mod compare;
mod escape;
pub mod file;
mod html;
mod json;
pub mod junit;
pub mod live;
mod merge;
mod progress;
mod shard;
mod summary;

pub use compare::{Comparison, RegressionBound};
pub use html::{render_compare_html, render_html, write_html};
pub use json::{
    BOTTLENECK_LAG, BOTTLENECK_LATE_PERCENT, CodeReport, FORMAT, FailureReport, FlowMeta,
    FlowReport, IntervalMetricReport, IntervalReport, LateStartsReport, Meta, MetricReport,
    ReportError, RunMeta, RunReport, SessionsReport, Status, StoppedEarly, ThresholdReport,
    bottleneck_warning,
};
pub use junit::{JunitCase, JunitReport, JunitSuite, Outcome};
pub use merge::{ConflictKind, MergeConflict};
pub use progress::{Goal, LINE_EVERY, Progress, ProgressMode, status_line};
pub use shard::{BadShard, Shard};
pub use summary::{print_summary, render_summary, verdict};
