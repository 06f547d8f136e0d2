//! sigbench: a load-testing and conformance harness for call-invitation signaling servers.
//!
//! # Layout
//! The modules follow the data flow: protocol types → server; scenario → plan → runner
//! → metrics → checks → report.
//! - [`protocol`]: the wire protocol as types, shared by server and harness.
//! - [`drivers`]: what depends on the target's protocol: names scenarios may use, framing,
//!   correlation, push classification, login; the built-in protocol is one driver.
//! - [`server`]: the reference server (`sigbench serve`), the embedded default target.
//! - [`scenario`]: YAML scenarios → validated, typed run plans.
//! - [`runner`]: drives a plan's sessions concurrently against a target.
//! - [`metrics`]: per-worker recording, aggregation, thresholds.
//! - [`checks`]: thresholds turned into checks after a run.
//! - [`report`]: terminal summary, JSON, HTML and JUnit reports, merging, progress.
//! - [`conformance`]: the built-in per-rule suite (`sigbench conformance`).
//! - [`cli`]: the command line; `main.rs` only calls [`cli::main`].

pub mod checks;
pub mod cli;
pub mod conformance;
pub mod drivers;
pub mod metrics;
pub mod protocol;
pub mod report;
pub mod runner;
pub mod scenario;
pub mod server;
