//! Hostile clients against the reference server: one test (or more) per problem of
//! issue 11, each reproducing what one client could do to everyone else, and checking
//! that the server now bounds it.
//!
//! 1. unbounded state (offline store, channels, ext) — [`state`]
//! 2. guessable channel ids; strangers in other people's channels — [`state`]
//! 3. queues counted in frames, no write deadline, kicked clients that do not read —
//!    [`deadlines`]
//! 4. no deadline after the upgrade; connection limits — [`deadlines`]
//! 5. rate limit after parsing — [`edges`]
//! 6. expiry by scanning — [`edges`]
//! 7. HTTP edges and WebSocket close codes — [`edges`]

mod common;

#[path = "hostile/deadlines.rs"]
mod deadlines;
#[path = "hostile/edges.rs"]
mod edges;
#[path = "hostile/state.rs"]
mod state;
