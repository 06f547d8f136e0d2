//! sigbench: a load-testing and conformance harness for call-invitation signaling servers.
//!
//! # Layout
//! The modules follow the data flow.
//! - [`cli`]: the command line; `main.rs` only calls [`cli::main`].
//! - [`protocol`]: the wire protocol as types, shared by server and harness.
//! - [`server`]: the reference server (`sigbench serve`), the embedded default target.

pub mod cli;
pub mod protocol;
pub mod runner;
pub mod server;
