//! The runner: drives a validated plan's sessions concurrently against a target.

pub mod accounts;
pub mod arrivals;
pub mod client;
pub mod login;
