//! sigbench: a load-testing and conformance harness for call-invitation signaling servers.
//!
//! # Layout
//! The modules follow the data flow.
//! - [`protocol`]: the wire protocol as types, shared by server and harness.
//! - [`server`]: the reference server (`sigbench serve`), the embedded default target.
//! - [`metrics`]: recording latencies, codes and failures per worker; aggregation; thresholds.
//! - [`report`]: the end summary, the JSON report and the progress display.

pub mod metrics;
pub mod protocol;
pub mod report;
