//! The user agent core of one connection (RFC 3261 §8, §12–§17 for a reliable
//! transport): client transactions matched by Via branch and CSeq method, dialogs
//! (tags, route set from Record-Route, remote target from Contact), the registration and
//! its refresh, and digest answers to 401/407. Sans-IO: every action returns the text to
//! send, every inbound frame becomes [`Event`]s, and the caller passes the time in.
//!
//! Layout: this file holds the state and the inbound entry point; [`actions`] the
//! actions a scenario takes; [`timers`] timeouts and refreshes; [`responses`] handles
//! answers to our requests (auth retries, ACKs, dialogs);
//! [`requests`] handles requests from peers and the answers a UA owes (200 to CANCEL
//! then 487, 200 to BYE, 481, 405); [`calls`] is the per-call state; [`tally`] counts
//! the responses received and sent, by method and status.

mod actions;
mod calls;
mod requests;
mod responses;
pub mod tally;
mod timers;

use std::collections::{HashMap, VecDeque};
use std::time::Duration;

use tokio::time::Instant;

use super::compose::{self, Draft, Transport};
use super::digest::Challenge;
use super::message::Message;
pub use calls::{Call, CallState, Role, reason};
use tally::Tally;

/// Correlates an action with the response events it leads to.
pub type Key = u64;

/// Timer B / Timer F: 64 × T1 (RFC 3261 §17.1.1.2, §17.1.2.2).
pub const TRANSACTION_TIMEOUT: Duration = Duration::from_secs(32);
/// Timer C-like bound for an INVITE that got a provisional but no final response.
pub const PROCEEDING_TIMEOUT: Duration = Duration::from_secs(180);
/// Calls one connection may have at once; an INVITE past this gets 486.
pub const MAX_CALLS: usize = 256;
/// Transactions one connection may have open at once.
pub const MAX_TRANSACTIONS: usize = 1024;
/// Recently finished branches remembered so that a late response is not an error.
const RECENT: usize = 64;

/// Who this UA is and how it talks.
#[derive(Clone, Debug)]
pub struct Config {
    /// The SIP user (address-of-record user part).
    pub user: String,
    /// The SIP domain: host (and port) of the address of record and the registrar.
    pub domain: String,
    /// The digest username (usually the user).
    pub auth_user: String,
    /// The digest password; `None`: challenges are returned to the caller unanswered.
    pub password: Option<String>,
    /// `WS` or `WSS` in our Via.
    pub transport: Transport,
}

/// Who asked for a request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Origin {
    /// An action of the caller (a scenario step).
    Step,
    /// A registration refresh the UA sent by itself.
    Refresh,
    /// A request the UA sent by itself for RFC reasons (BYE after a missing ACK).
    Internal,
}

/// A response to one of our requests.
#[derive(Clone, Debug)]
pub struct ResponseEvent {
    pub key: Key,
    pub origin: Origin,
    pub method: String,
    pub call_id: String,
    pub status: u16,
    pub reason: String,
    /// 200..699 (a provisional response has more to come).
    pub is_final: bool,
    /// `None` when the UA made it up (408 after a transaction timeout).
    pub message: Option<Message>,
    /// What the UA adds: why a challenge was not answered, which timer fired.
    pub note: Option<String>,
}

/// A request from a peer, after the UA answered what it owes.
#[derive(Clone, Debug)]
pub struct RequestEvent {
    pub method: String,
    pub call_id: String,
    pub message: Message,
}

/// What the caller must do or know.
#[derive(Clone, Debug)]
pub enum Event {
    /// Write this frame now.
    Send(String),
    Response(ResponseEvent),
    Request(RequestEvent),
    /// An answered call got no ACK within 32 s; the UA sent BYE (RFC 3261 §13.3.1.4).
    NoAck {
        call_id: String,
    },
    /// A frame that breaks the rules; `key` when it belongs to a request we wait on.
    Unreadable {
        key: Option<Key>,
        why: String,
    },
}

/// An open client transaction.
#[derive(Debug)]
struct ClientTx {
    /// The key its responses are reported under (kept across auth retries).
    key: Key,
    /// Who asked: a step, a refresh, the UA itself.
    origin: Origin,
    /// The request without branch/CSeq/credentials, for retries after 401/407/423.
    draft: Draft,
    cseq: u32,
    /// When it times out (Timer B/F; moved on for proceeding INVITEs and CANCELs).
    deadline: Instant,
    /// A provisional response arrived.
    proceeding: bool,
    /// Retries so far on this chain (after 401/407/423); bounded by [`MAX_RETRIES`].
    retries: u8,
    /// Answers to a challenge received on this chain (not a cached one): a second
    /// challenge after one of these, without `stale=true`, means wrong credentials.
    fresh_answers: u8,
}

/// How a request is (re)sent: a challenge just received, and the chain's counts.
#[derive(Debug, Default)]
struct Attempt {
    fresh: Option<Challenge>,
    retries: u8,
    fresh_answers: u8,
}

/// Retries of one request after 401/407/423.
const MAX_RETRIES: u8 = 3;

/// The registration of this UA's contact.
#[derive(Debug, Default)]
struct Registration {
    /// One Call-ID for every REGISTER of this UA (RFC 3261 §10.2).
    call_id: String,
    /// CSeq of the last REGISTER.
    cseq: u32,
    /// The expiry asked for by the last REGISTER.
    asked: u32,
    /// Seconds granted by the last successful REGISTER; `None`: not registered.
    granted: Option<u32>,
    /// When to refresh (half the granted time).
    refresh_at: Option<Instant>,
    /// A REGISTER is in flight: no refresh on top of it.
    in_flight: bool,
}

/// A cached challenge, answered without waiting for a 401/407 (RFC 3261 §22.3).
#[derive(Debug)]
struct Cached {
    challenge: Challenge,
    /// Uses of its nonce so far (the next nc).
    nc: u32,
}

/// The user agent core of one connection.
#[derive(Debug)]
pub struct Ua {
    /// Identity, credentials and transport.
    config: Config,
    /// Random `.invalid` host of our Via and Contact (RFC 7118 §5.2).
    host: String,
    /// Our Contact header value.
    contact: String,
    /// Next correlation key.
    next_key: Key,
    /// Open client transactions by `branch method`.
    clients: HashMap<String, ClientTx>,
    /// Branches that finished lately: their late responses are dropped, not errors.
    recent: VecDeque<String>,
    /// Calls we placed, by Call-ID (apart from `uas`, so a UA may call itself).
    uac: HashMap<String, Call>,
    /// Calls we received, by Call-ID.
    uas: HashMap<String, Call>,
    /// The call that steps act on when they name none.
    latest: Option<(Role, String)>,
    /// Our REGISTER state: Call-ID, CSeq, granted expiry, refresh time.
    registration: Registration,
    /// The last 401 challenge, answered up front on the next REGISTER.
    www: Option<Cached>,
    /// The last 407 challenge, answered up front on the next other requests.
    proxy: Option<Cached>,
    /// Responses received and sent since last taken, by method and status.
    tally: Tally,
}

pub(crate) fn token() -> String {
    format!("{:016x}", rand::random::<u64>())
}

impl Ua {
    pub fn new(config: Config) -> Ua {
        let host = format!("{}.invalid", &token()[..12]);
        let contact = format!("<sip:{}@{host};transport=ws>", config.user);
        Ua {
            config,
            contact,
            host,
            next_key: 1,
            clients: HashMap::new(),
            recent: VecDeque::new(),
            uac: HashMap::new(),
            uas: HashMap::new(),
            latest: None,
            registration: Registration {
                call_id: token(),
                ..Registration::default()
            },
            www: None,
            proxy: None,
            tally: Tally::default(),
        }
    }

    pub fn config(&self) -> &Config {
        &self.config
    }

    /// Our Contact header value.
    pub fn contact(&self) -> &str {
        &self.contact
    }

    /// `sip:user@domain`.
    pub fn aor(&self) -> String {
        format!("sip:{}@{}", self.config.user, self.config.domain)
    }

    /// The URI of another user of our domain (or a full `sip:` URI as given).
    pub fn uri_of(&self, who: &str) -> String {
        if who.starts_with("sip:") || who.starts_with("sips:") {
            who.to_string()
        } else {
            format!("sip:{who}@{}", self.config.domain)
        }
    }

    /// Seconds granted by the last successful REGISTER (`None`: not registered).
    pub fn registered(&self) -> Option<u32> {
        self.registration.granted
    }

    pub fn call(&self, role: Role, call_id: &str) -> Option<&Call> {
        match role {
            Role::Uac => self.uac.get(call_id),
            Role::Uas => self.uas.get(call_id),
        }
    }

    /// Open client transactions (for tests and bounds).
    pub fn open_transactions(&self) -> usize {
        self.clients.len()
    }

    /// Moves the responses counted since last asked into `out` as `(label, status,
    /// count)`: `INVITE` for responses to our INVITEs, `INVITE (UAS)` for ours to a
    /// peer's (see [`tally`]).
    pub fn take_codes(&mut self, out: &mut Vec<(&'static str, u32, u64)>) {
        self.tally.take(out);
    }

    /// Live calls, both roles.
    pub fn calls(&self) -> usize {
        self.uac.len() + self.uas.len()
    }

    fn new_key(&mut self) -> Key {
        let key = self.next_key;
        self.next_key += 1;
        key
    }

    /// Sends a new client transaction (or a retry of one, with `key`): picks a branch,
    /// adds cached credentials, records it. Returns the text to send.
    fn start(
        &mut self,
        now: Instant,
        key: Key,
        origin: Origin,
        draft: Draft,
        cseq: u32,
        attempt: Attempt,
    ) -> Result<String, String> {
        let Attempt {
            fresh,
            retries,
            fresh_answers,
        } = attempt;
        if self.clients.len() >= MAX_TRANSACTIONS {
            return Err(format!(
                "{MAX_TRANSACTIONS} transactions are open on this connection"
            ));
        }
        let branch = format!("z9hG4bK{}", token());
        let cached = match fresh {
            Some(challenge) => {
                let slot = if challenge.proxy {
                    &mut self.proxy
                } else {
                    &mut self.www
                };
                *slot = Some(Cached { challenge, nc: 0 });
                slot.as_mut()
            }
            None if draft.method == "REGISTER" => self.www.as_mut(),
            None if draft.method != "ACK" && draft.method != "CANCEL" => self.proxy.as_mut(),
            None => None,
        };
        let auth = match (cached, &self.config.password) {
            (Some(c), Some(password)) => {
                c.nc += 1;
                Some((
                    c.challenge.answer_header(),
                    c.challenge.answer(
                        &self.config.auth_user,
                        password,
                        &draft.method,
                        &draft.uri,
                        c.nc,
                        &token(),
                    ),
                ))
            }
            _ => None,
        };
        let text = compose::request(
            &draft,
            self.config.transport,
            &self.host,
            &branch,
            cseq,
            auth.as_ref().map(|(n, v)| (*n, v.as_str())),
        );
        if draft.method == "INVITE"
            && let Some(call) = self.uac.get_mut(&draft.call_id)
        {
            call.invite_branch = branch.clone();
            call.local_cseq = cseq;
            call.invite_cseq = cseq;
            call.invite_text = text.clone();
        }
        if draft.method == "BYE" {
            for call in [
                self.uac.get_mut(&draft.call_id),
                self.uas.get_mut(&draft.call_id),
            ]
            .into_iter()
            .flatten()
            {
                call.local_cseq = call.local_cseq.max(cseq);
            }
        }
        let method = draft.method.clone();
        self.clients.insert(
            format!("{branch} {method}"),
            ClientTx {
                key,
                origin,
                draft,
                cseq,
                deadline: now + TRANSACTION_TIMEOUT,
                proceeding: false,
                retries,
                fresh_answers,
            },
        );
        Ok(text)
    }

    fn remember(&mut self, branch_method: String) {
        if self.recent.len() == RECENT {
            self.recent.pop_front();
        }
        self.recent.push_back(branch_method);
    }

    /// Handles one inbound frame.
    pub fn receive(&mut self, now: Instant, text: &str, out: &mut Vec<Event>) {
        if text.trim_matches(['\r', '\n']).is_empty() {
            // A CRLF keepalive (RFC 5626 §4.4.1): nothing to do.
            return;
        }
        let message = match Message::parse(text) {
            Ok(m) => m,
            Err(e) => {
                let key = self.owner_of_broken(text);
                out.push(Event::Unreadable {
                    key,
                    why: e.to_string(),
                });
                return;
            }
        };
        if message.status().is_some() {
            self.on_response(now, message, out);
        } else {
            self.on_request(now, message, out);
        }
    }

    /// A broken frame that names one of our branches belongs to that request: it fails
    /// with the parse error instead of waiting for its timeout.
    fn owner_of_broken(&mut self, text: &str) -> Option<Key> {
        let at = text.find("branch=")? + 7;
        let branch: String = text[at..]
            .chars()
            .take_while(|c| !matches!(c, ';' | ',' | ' ' | '\r' | '\n'))
            .collect();
        let found = self
            .clients
            .keys()
            .find(|k| k.split(' ').next() == Some(branch.as_str()))
            .cloned()?;
        let tx = self.clients.remove(&found)?;
        if tx.draft.method == "INVITE" {
            self.uac.remove(&tx.draft.call_id);
        }
        if tx.draft.method == "REGISTER" {
            self.registration.in_flight = false;
        }
        self.remember(found);
        Some(tx.key)
    }
}

#[cfg(test)]
mod tests;
