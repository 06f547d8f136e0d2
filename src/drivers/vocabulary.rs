//! What a driver lets scenarios say: its ops (steps that send something), the push kinds
//! and event types `await`/`refute` can name, and its result codes. The scenario compiler
//! resolves every name in a scenario against the vocabulary of the scenario's driver at
//! plan time; the plan then holds `&'static` references into these tables, so the runner
//! never looks a name up again.

use std::collections::BTreeMap;

use serde_json::Value;

use crate::protocol::lazy::{LazyJson, PathStep};

/// A driver's names, as the scenario compiler sees them.
#[derive(Debug)]
pub struct Vocabulary {
    /// The driver's name (`driver:` in a scenario): `sigbench`, `sip`, …
    pub name: &'static str,
    /// Ops in documentation order; `OpSpec::id` is the index.
    pub ops: &'static [OpSpec],
    /// Push kinds; `KindSpec::id` is the index.
    pub kinds: &'static [KindSpec],
    /// Event types carried by pushes; `EventSpec::id` is the index.
    pub events: &'static [EventSpec],
    /// Result codes that may be named in `expect:`.
    pub codes: &'static [CodeSpec],
    /// The code a step expects when it says nothing (`expect` absent), and the code a
    /// login must get for the runner to count the device as logged in.
    pub ok_code: u32,
    /// The carrier an event await uses without `via:` (native: `notify`).
    pub default_carrier: u16,
    /// Typical event names, for error messages (`INVITE, ACCEPT`).
    pub example_events: &'static [&'static str],
    /// A typical code name, for error messages (`ROOM_NOT_EXISTS`).
    pub example_code: &'static str,
    /// What the target keeps for an account while a role is offline (native: events
    /// stored offline), for the warning on accounts shared between sessions; `None`
    /// when nothing.
    pub offline_state: Option<&'static str>,
    /// `check_param(op, param, value)`: the code and reason with which the target must
    /// refuse a request of `op` whose `param` is `value` (a wrong type, range or
    /// length), whatever its other params; `None` when the value can pass. The scenario
    /// checker uses it on literal params of steps that expect success.
    pub check_param: fn(&str, &str, &Value) -> Option<(u32, String)>,
}

/// Two vocabularies are the same when they are the same driver's (drivers' names are
/// unique; the tables are static).
impl PartialEq for Vocabulary {
    fn eq(&self, other: &Vocabulary) -> bool {
        self.name == other.name
    }
}

impl Eq for Vocabulary {}

/// The fields a JSON value is known to have, as paths: `channel.channelId`,
/// `members[].uid` (`[]`: any item of a list), `pushInfo.*` (anything below). The scenario
/// checker follows `save:` and `match:` paths through it; a path that leaves it leads
/// nowhere in any frame the target sends.
pub type Shape = &'static [&'static str];

/// A param whose value makes the target keep state that belongs to the account rather
/// than to the session (a registered push token, events stored while offline): the next
/// session on the same account sees it.
#[derive(Debug, PartialEq, Eq)]
pub struct AccountState {
    pub param: &'static str,
    /// Only when the param is `true`; otherwise whenever it is given.
    pub when_true: bool,
    /// What the target keeps, for messages: `a pushToken set at login`.
    pub what: &'static str,
    /// `cleanup: true` removes it (native: events stored offline, which the session's
    /// devices acknowledge when they receive them); `false` when the driver has no way
    /// to (native: a pushToken outlives later logins, §P-3.4).
    pub cleaned_up: bool,
}

/// How `cleanup: true` undoes what a request of an op left on the target (native: a
/// `create` or `call` is undone by `close` of its channel, a `join` by `leave`).
#[derive(Debug, PartialEq, Eq)]
pub struct Undo {
    /// The undoing op, by name in the same vocabulary.
    pub op: &'static str,
    /// Its params, each from the request or from the reply.
    pub params: &'static [(&'static str, UndoValue)],
    /// Only when this param of the request was `true` (native `accept` with
    /// `autoJoin`).
    pub when_true: Option<&'static str>,
    /// Codes of the undoing op that mean nothing was left to undo (native: 10404, the
    /// channel is gone; 10406, no longer a member).
    pub done_codes: &'static [u32],
}

/// Where a param of an [`Undo`] comes from.
#[derive(Debug, PartialEq, Eq)]
pub enum UndoValue {
    /// The request's param of this name.
    Param(&'static str),
    /// This dotted path below the reply's `data` (`channel.channelId`); a reply that
    /// carries it left the state, whatever its code.
    Data(&'static str),
}

/// How stored events a push kind delivers are acknowledged, so that the target stops
/// keeping them (native: `markRead` of the `msgid`s an `unreadSync` carried, §P-7.2).
#[derive(Debug, PartialEq, Eq)]
pub struct Ack {
    /// The acknowledging op, by name in the same vocabulary.
    pub op: &'static str,
    /// Its param that lists the values.
    pub param: &'static str,
    /// The field of each event whose value is listed.
    pub field: &'static str,
    /// At most this many values per request.
    pub max: usize,
}

/// What an op step does at run time.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OpRole {
    /// A request answered by one reply.
    Request,
    /// The login: the runner fills in the account's credentials and the driver runs its
    /// whole login exchange ([`super::Driver::login`]).
    Login,
}

/// One op: a step name, the params it takes and how it runs.
#[derive(Debug, PartialEq, Eq)]
pub struct OpSpec {
    /// Index in [`Vocabulary::ops`].
    pub id: u16,
    /// The step name in scenarios (`invite`, `register`, …).
    pub name: &'static str,
    /// The params the op understands, required ones first; others are flagged by the
    /// scenario checker as likely typos unless the step allows unknown params.
    pub params: &'static [&'static str],
    pub role: OpRole,
    /// The fields of a successful reply's `data`, for checking `save:` paths; `None`
    /// when the driver does not say, `Some(&[])` when the reply has no `data`.
    pub data: Option<Shape>,
    /// Params that leave per-account state on the target.
    pub account_state: &'static [AccountState],
    /// What undoes a request of this op for `cleanup: true`; `None`: it leaves nothing
    /// to undo, or the driver cannot.
    pub undo: Option<Undo>,
}

/// Where a push keeps its events.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Carrier {
    /// The push carries no event (await it by kind).
    None,
    /// One event (native `notify`: the `event` field).
    One,
    /// A list of events (native `unreadSync`).
    List,
}

/// One push kind.
#[derive(Debug, PartialEq, Eq)]
pub struct KindSpec {
    /// Index in [`Vocabulary::kinds`].
    pub id: u16,
    pub name: &'static str,
    pub carrier: Carrier,
    /// May be named in `await:`/`refute:` (native: every kind but `notify`, whose events
    /// are awaited by type).
    pub awaitable: bool,
    /// May be named in `via:` (an event carrier).
    pub via: bool,
    /// `strict: true` fails a session when a push of this kind was left unconsumed.
    pub strict: bool,
    /// State sent right after a login; the runner's own logins consume these.
    pub login_sync: bool,
    /// The target closes the connection right after this push (native `kicked`, §P-3.5):
    /// a session that saw one waits for that close, so that the runner reconnects the
    /// device for the next session instead of handing it a connection on its way out.
    pub ends_connection: bool,
    /// The push's fields (the whole push, as `match:`/`save:` paths of a push await
    /// see it); `None` when the driver does not say.
    pub fields: Option<Shape>,
    /// Awaiting this kind (or an event through it) reads per-account state the target
    /// kept (native `unreadSync`: events stored offline); what, for messages.
    pub account_state: Option<&'static str>,
    /// How the stored events it delivers are acknowledged (`cleanup: true`); `None`
    /// when they need none.
    pub ack: Option<Ack>,
}

/// One event type.
#[derive(Debug, PartialEq, Eq)]
pub struct EventSpec {
    /// Index in [`Vocabulary::events`].
    pub id: u16,
    pub name: &'static str,
    /// The event's top-level fields, for checking `match:` paths before anything runs;
    /// empty when the driver does not say (then any path is accepted).
    pub fields: &'static [&'static str],
}

/// A result code that may be named.
#[derive(Debug, PartialEq, Eq)]
pub struct CodeSpec {
    pub number: u32,
    pub name: &'static str,
    /// A name matches only replies that carry this name too (native: `BAD_FRAME` and
    /// `UNKNOWN_OP` share 400). `false`: the number alone decides (SIP reason phrases
    /// vary between servers).
    pub match_name: bool,
}

impl Vocabulary {
    pub fn op(&self, name: &str) -> Option<&'static OpSpec> {
        self.ops.iter().find(|o| o.name == name)
    }

    pub fn kind(&self, name: &str) -> Option<&'static KindSpec> {
        self.kinds.iter().find(|k| k.name == name)
    }

    pub fn event(&self, name: &str) -> Option<&'static EventSpec> {
        self.events.iter().find(|e| e.name == name)
    }

    /// A code by name; names are compared exactly.
    pub fn code(&self, name: &str) -> Option<&'static CodeSpec> {
        self.codes.iter().find(|c| c.name == name)
    }

    /// The driver can clean up after sessions (`cleanup: true`): some op has an
    /// [`Undo`] or some push kind an [`Ack`].
    pub fn cleans_up(&self) -> bool {
        self.ops.iter().any(|o| o.undo.is_some()) || self.kinds.iter().any(|k| k.ack.is_some())
    }

    /// The carrier kind used by event awaits without `via:`.
    pub fn default_carrier(&self) -> &'static KindSpec {
        &self.kinds[usize::from(self.default_carrier)]
    }

    /// `200 OK`, `10404 ROOM_NOT_EXISTS`, `400 BAD_FRAME/UNKNOWN_OP`, or the bare number.
    pub fn code_label(&self, code: u32) -> String {
        match self.code_name(code) {
            Some(name) => format!("{code} {name}"),
            None => code.to_string(),
        }
    }

    /// The name(s) of a code number, joined by `/` when several codes share it
    /// (`BAD_FRAME/UNKNOWN_OP`); `None` for a number the table does not name.
    pub fn code_name(&self, code: u32) -> Option<String> {
        let names: Vec<&str> = self
            .codes
            .iter()
            .filter(|c| c.number == code)
            .map(|c| c.name)
            .collect();
        (!names.is_empty()).then(|| names.join("/"))
    }

    /// Every named code with its name, as [`Vocabulary::code_name`] gives it: what a
    /// run's report labels codes with (it travels in the report, so a saved or merged
    /// report is labelled by the driver that ran, without knowing the driver).
    pub fn code_names(&self) -> BTreeMap<u32, String> {
        self.codes
            .iter()
            .filter_map(|c| Some((c.number, self.code_name(c.number)?)))
            .collect()
    }
}

/// Where an event sits in a push body.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EventAt {
    /// The body is the event (e.g. a SIP request).
    Root,
    /// `body[field]`.
    Field(&'static str),
    /// `body[field][index]`.
    Item(&'static str, usize),
}

impl EventAt {
    /// Calls `f` with this place as path steps.
    pub fn with_steps<R>(self, f: impl FnOnce(&[PathStep<'_>]) -> R) -> R {
        match self {
            EventAt::Root => f(&[]),
            EventAt::Field(field) => f(&[PathStep::Key(field)]),
            EventAt::Item(field, i) => f(&[
                PathStep::Key(field),
                PathStep::Index(i64::try_from(i).unwrap_or(i64::MAX)),
            ]),
        }
    }

    pub fn get(self, body: &Value) -> Option<&Value> {
        match self {
            EventAt::Root => Some(body),
            EventAt::Field(f) => body.get(f),
            EventAt::Item(f, i) => body.get(f)?.get(i),
        }
    }
}

/// A push as a driver classified it: its kind, its body as the checks see it (`match`
/// paths of push awaits start here), and the events it carries.
#[derive(Clone, Debug, PartialEq)]
pub struct Push {
    pub kind: &'static KindSpec,
    /// Kept as text until read (see [`LazyJson`]).
    pub body: LazyJson,
    /// `(event type, where in body)`, in order; each place is in the body (drivers list
    /// the events they found).
    pub events: Vec<(&'static EventSpec, EventAt)>,
}

impl Push {
    /// The events of a given type, in order.
    pub fn events_of<'a>(&'a self, event: &'a EventSpec) -> impl Iterator<Item = &'a Value> + 'a {
        self.events
            .iter()
            .filter(move |(e, _)| e.id == event.id)
            .filter_map(|(_, at)| at.get(&self.body))
    }
}
