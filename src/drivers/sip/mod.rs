//! SIP over WebSocket (RFC 7118): a sans-IO user agent core. It turns actions (register,
//! invite, ring, answer, cancel, bye, …) into SIP messages to send, and every inbound
//! frame into events (responses to our requests, requests from peers) plus the answers
//! a UA owes without being told. Time is passed in, so every timer is testable without
//! waiting.
//!
//! Data flow: [`message`] (one frame ↔ one parsed message) → [`compose`] (building
//! requests and responses) → [`digest`] (401/407 answers) → [`ua`] (transactions,
//! dialogs, registration) → [`wire`] (the UA behind the driver boundary: ops in,
//! replies and pushes out) → [`driver`] (handshake, REGISTER as login, un-REGISTER as
//! logout). [`vocabulary`] holds the names scenarios use (`driver: sip`).

pub mod compose;
pub mod digest;
mod driver;
pub mod message;
pub mod ua;
pub mod vocabulary;
pub mod wire;

pub use driver::Sip;
pub use vocabulary::VOCABULARY;
