//! sigbench: a load-testing and conformance harness for call-invitation signaling servers.
//!
//! # Layout
//! The modules follow the data flow.
//! - [`protocol`]: the wire protocol as types, shared by server and harness.
//! - [`server`]: the reference server (`sigbench serve`), the embedded default target.

pub mod protocol;
pub mod scenario;
