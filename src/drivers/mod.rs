//! Protocol drivers: what depends on what the target speaks.
//! - [`sip`]: SIP over WebSocket (RFC 7118), a user agent core.

pub mod sip;
