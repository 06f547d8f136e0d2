//! The wire protocol of `docs/protocol.md`, as types: the one source of truth that the
//! reference server and the harness share.
//!
//! - [`codes`]: result codes and their names (§P-9).
//! - [`op`]: operation names and the params each takes.
//! - [`frame`]: request parsing, response and push writing, client-side decoding (§P-2).
//! - [`json`]: the borrowed JSON tree client frames are parsed into.
//! - [`lazy`]: JSON a client keeps as text until it reads it (replies' data, push bodies).
//! - [`params`]: param validation into typed requests (§P-2.5, §P-4.5).
//! - [`model`]: channel, member, event and pushInfo shapes (§P-4).
//! - [`token`]: HMAC login tokens (§P-3.3).

pub mod codes;
pub mod frame;
pub mod json;
pub mod lazy;
pub mod model;
pub mod op;
pub mod params;
pub mod token;

pub use codes::Code;
pub use frame::{FrameError, Push, PushKind, RequestFrame, ServerFrame};
pub use model::{ChannelInfo, ChannelWithMembers, Event, EventType, MemberInfo, PushInfo};
pub use op::Op;
pub use params::{ParamError, Request};
