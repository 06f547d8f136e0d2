//! Protocol drivers: everything that depends on what the target speaks, behind one
//! boundary. Scenarios, load models, metrics, checks, reports and shards never know
//! which driver runs.
//!
//! # The boundary
//! A driver has two faces:
//! - **Plan time — [`Vocabulary`].** Its ops (step names, params, which op is the
//!   login), push kinds and event types (`await:`/`refute:`/`via:` names), and result
//!   codes (names usable in `expect:`). The scenario compiler resolves every name of a
//!   scenario against the vocabulary of its `driver:` (default `sigbench`), so a typo is
//!   a located error with a did-you-mean before anything connects, and the plan holds
//!   `&'static` references into the tables.
//! - **Run time — [`Driver`] and [`Wire`].** A [`Driver`] is shared by the whole run: it
//!   says how to open a connection ([`Handshake`]: WebSocket subprotocols, extra upgrade
//!   headers, query string — per identity, so tokens can go there), makes one [`Wire`] per
//!   connection, runs the login exchange (one or several requests, e.g. a digest
//!   challenge) and the logout. A [`Wire`] is the per-connection protocol state (id
//!   counters, transactions, dialogs): it encodes a request and names the correlation
//!   key its reply will carry; it decodes every inbound text frame into [`Inbound`]
//!   items (a reply for a key, a classified [`Push`], a frame to send back at once — the
//!   auto-replies a protocol owes — or an unreadable frame with the rule it broke); and
//!   it may ask for a periodic tick (keepalive, registration refresh).
//!
//! The runner owns everything else: sockets, TLS, the per-connection inbox (pushes wait
//! there until a step takes them, so an early push is never lost), deadlines, sessions
//! and recording. Replies use one shape for every driver ([`Reply`]: id, code, message,
//! data, error), so `expect:` and `save:` work unchanged.
//!
//! # Drivers
//! - [`native`]: the framing of docs/protocol.md.
//! - [`profile`]: any JSON request/response/push framing described by a YAML wire profile
//!   (docs/profiles.md), with the native vocabulary.
//! - [`sip`]: SIP over WebSocket (RFC 7118).
//!
//! To add one: write its [`Vocabulary`] (static tables), a [`Driver`] and a [`Wire`],
//! and list it in [`vocabulary_named`] and [`driver_for`] (or [`driver_for_target`]).

pub mod native;
pub mod profile;
pub mod sip;
mod vocabulary;

use std::borrow::Cow;
use std::sync::Arc;
use std::time::Duration;

use futures_util::future::BoxFuture;
use serde::{Serialize, Serializer};
use serde_json::Value;

use crate::runner::client::{Device, Exchange, Failed};
use crate::scenario::Rendered;

pub use crate::protocol::frame::ResponseFrame as Reply;
pub use vocabulary::{
    AccountState, Ack, Carrier, CodeSpec, EventAt, EventSpec, KindSpec, OpRole, OpSpec, Push,
    Shape, Undo, UndoValue, Vocabulary,
};

/// Who a connection belongs to: what the login (and the handshake) may use.
#[derive(Clone, Copy, Debug)]
pub struct Identity<'a> {
    pub account: &'a str,
    /// The account's token or password (HMAC-derived, or from the accounts CSV).
    pub token: &'a str,
    /// The device name of this connection.
    pub device: &'a str,
}

/// How to open a connection, beyond the target URL.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Handshake {
    /// Offered in `Sec-WebSocket-Protocol`, in order of preference (SIP: `sip`).
    pub subprotocols: Vec<String>,
    /// Extra upgrade request headers.
    pub headers: Vec<(String, String)>,
    /// Appended to the URL's query string (`key=value&…`, already encoded).
    pub query: Option<String>,
}

/// A login to run on a connected device.
#[derive(Debug)]
pub struct Login<'a> {
    pub who: Identity<'a>,
    /// The step's own params (an object; empty for the runner's logins). The driver fills
    /// in what it takes from `who` where the step does not set it.
    pub params: Value,
    /// Limit for each request of the exchange.
    pub timeout: Duration,
}

/// The params of a request: a value (logins, cleanup, the runner's own requests) or a
/// step's params template with the session's variables. A wire that places the params
/// in its frame as they are serializes either straight into the frame ([`Serialize`]:
/// a template is then never built into a `Value`); one that reads them takes
/// [`OpParams::value`].
#[derive(Clone, Copy, Debug)]
pub enum OpParams<'a> {
    Value(&'a Value),
    Template(Rendered<'a>),
}

impl<'a> OpParams<'a> {
    /// The params as a value (a template is rendered).
    pub fn value(self) -> Cow<'a, Value> {
        match self {
            OpParams::Value(v) => Cow::Borrowed(v),
            OpParams::Template(t) => Cow::Owned(t.value()),
        }
    }
}

impl<'a> From<&'a Value> for OpParams<'a> {
    fn from(value: &'a Value) -> Self {
        OpParams::Value(value)
    }
}

impl Serialize for OpParams<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            OpParams::Value(v) => v.serialize(serializer),
            OpParams::Template(t) => t.serialize(serializer),
        }
    }
}

/// A protocol driver, shared by every connection of a run.
pub trait Driver: Send + Sync + 'static {
    /// The names scenarios may use with this driver.
    fn vocabulary(&self) -> &'static Vocabulary;

    /// What the WebSocket upgrade of `who`'s connection carries besides the URL.
    fn handshake(&self, who: Identity<'_>) -> Handshake {
        let _ = who;
        Handshake::default()
    }

    /// Fresh per-connection protocol state.
    fn wire(&self) -> Box<dyn Wire>;

    /// Logs `device` in; returns the exchange whose reply decides the login (the last
    /// one of a multi-step login). A reply other than [`Vocabulary::ok_code`] is a
    /// refused login; transport failures are `Err`.
    fn login<'a>(
        &'a self,
        device: &'a Device,
        login: Login<'a>,
    ) -> BoxFuture<'a, Result<Exchange, Failed>>;

    /// Where the report's code counts come from. `false` (the default): the runner counts
    /// each step's reply under the step's op name. `true`: the driver's wires count what
    /// they saw on the wire ([`Wire::take_codes`]; SIP: every response by method and
    /// status, both directions), and step replies are not counted again.
    fn counts_codes(&self) -> bool {
        false
    }

    /// The pushes a server sends right after a login (native: `channelsSync`,
    /// `unreadSync`); the runner's own logins wait for and consume them so that no
    /// session sees them. The default: the vocabulary's `login_sync` kinds.
    fn login_syncs(&self) -> Vec<&'static KindSpec> {
        self.vocabulary()
            .kinds
            .iter()
            .filter(|k| k.login_sync)
            .collect()
    }

    /// Logs `device` out before the runner closes it (SIP: un-REGISTER). Best effort:
    /// failures are not reported. The default does nothing.
    fn logout<'a>(&'a self, device: &'a Device, timeout: Duration) -> BoxFuture<'a, ()> {
        let _ = (device, timeout);
        Box::pin(async {})
    }
}

/// What a request became on the wire.
#[derive(Debug)]
pub struct Outgoing {
    pub expecting: Expecting,
    pub text: String,
}

/// How a request completes.
#[derive(Debug)]
pub enum Expecting {
    /// When the reply with this correlation key arrives (see [`Inbound::Reply`]).
    Reply(u64),
    /// Once the frame is queued, with this outcome (one-way ops, e.g. a SIP `ring` that
    /// sends a 180: the driver states what the step's `expect:` is checked against).
    Nothing(Reply),
}

/// What one inbound frame meant. A frame may yield several (a reply and an auto-reply).
#[derive(Debug)]
pub enum Inbound {
    /// The final reply to the request with correlation key `key` (`None`, or a key no
    /// request waits for: kept for `raw` steps as an unclaimed reply).
    Reply { key: Option<u64>, reply: Reply },
    /// A push, classified.
    Push(Push),
    /// A frame to send at once (acks, answers the protocol owes, keepalives).
    Send(String),
    /// A frame the driver cannot read: `why` names the rule it broke. With the key of a
    /// waiting request, that request fails with it; otherwise it is reported as a
    /// malformed server frame of the session.
    Unreadable { key: Option<u64>, why: String },
}

/// Per-connection protocol state. Called with a lock held: never blocks.
pub trait Wire: Send + 'static {
    /// Encodes a request of `op` with `params`. `Err` says why it cannot be sent (a
    /// param the protocol cannot express).
    fn request(&mut self, op: &'static OpSpec, params: OpParams<'_>) -> Result<Outgoing, String>;

    /// Encodes a request outside the vocabulary, by the driver's own name for it (login
    /// exchange steps, refreshes). The default knows none.
    fn request_named(&mut self, name: &str, params: &Value) -> Result<Outgoing, String> {
        let _ = params;
        Err(format!("this driver has no request named '{name}'"))
    }

    /// Decodes one inbound text frame into `out`.
    fn receive(&mut self, text: &str, out: &mut Vec<Inbound>);

    /// How often [`Wire::tick`] runs (keepalives, refreshes); `None`: never.
    fn tick_every(&self) -> Option<Duration> {
        None
    }

    /// Periodic work: frames to send go into `out` as [`Inbound::Send`].
    fn tick(&mut self, out: &mut Vec<Inbound>) {
        let _ = out;
    }

    /// Moves the codes counted since last asked into `out` as `(label, code, count)`,
    /// for drivers that count their own ([`Driver::counts_codes`]). The runner asks at
    /// the end of each session and before it drops a connection.
    fn take_codes(&mut self, out: &mut Vec<(&'static str, u32, u64)>) {
        let _ = out;
    }
}

/// The vocabulary of a driver by its `driver:` name.
pub fn vocabulary_named(name: &str) -> Option<&'static Vocabulary> {
    match name {
        "sigbench" => Some(&native::VOCABULARY),
        "sip" => Some(&sip::VOCABULARY),
        _ => None,
    }
}

/// The names `driver:` accepts.
pub const DRIVER_NAMES: [&str; 2] = ["sigbench", "sip"];

/// The driver that runs `plan` against `target`: the wire profile given on the command
/// line, else the plan's `profile:`, else the built-in driver of its vocabulary.
pub fn driver_for_plan(
    plan: &crate::scenario::Plan,
    profile: Option<&profile::ProfileRef>,
    target: &str,
) -> Result<Arc<dyn Driver>, String> {
    if let Some(p) = profile.or(plan.profile.as_ref()) {
        if plan.vocabulary.name != native::VOCABULARY.name {
            return Err(format!(
                "the wire profile '{}' describes sigbench's own ops; '{}' uses driver '{}'",
                p.0.file, plan.source, plan.vocabulary.name
            ));
        }
        return Ok(Arc::new(profile::ProfileDriver::new(p.0.clone())));
    }
    driver_for_target(plan.vocabulary, target)
        .ok_or_else(|| format!("no driver runs '{}' scenarios", plan.vocabulary.name))
}

/// The built-in driver that runs plans written in `vocabulary`, for drivers that do not
/// depend on the target (`None` for those that do: see [`driver_for_target`]).
pub fn driver_for(vocabulary: &'static Vocabulary) -> Option<Arc<dyn Driver>> {
    match vocabulary.name {
        "sigbench" => Some(Arc::new(native::Native)),
        _ => None,
    }
}

/// The built-in driver that runs plans written in `vocabulary` against `target` (a
/// `ws://`/`wss://` URL; SIP takes its domain from the host).
pub fn driver_for_target(vocabulary: &'static Vocabulary, target: &str) -> Option<Arc<dyn Driver>> {
    match vocabulary.name {
        "sip" => Some(Arc::new(sip::Sip::for_target(target))),
        _ => driver_for(vocabulary),
    }
}

/// Drivers that the embedded reference server cannot answer: a run needs `--target`.
pub fn needs_external_target(vocabulary: &Vocabulary) -> Option<&'static str> {
    match vocabulary.name {
        "sip" => Some(
            "sigbench has no SIP server of its own: start one with `scripts/kamailio start` \
             (it prints `listening on ws://HOST:PORT/`) and run again with \
             --target ws://HOST:PORT/ --password sigbench",
        ),
        _ => None,
    }
}
