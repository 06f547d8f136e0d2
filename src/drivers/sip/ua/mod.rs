//! The user agent core of one connection (RFC 3261 §8, §12–§17 for a reliable
//! transport): client transactions matched by Via branch and CSeq method, dialogs
//! (tags, route set from Record-Route, remote target from Contact), the registration and
//! its refresh, and digest answers to 401/407. Sans-IO: every action returns the text to
//! send, every inbound frame becomes [`Event`]s, and the caller passes the time in.
//!
//! Layout: this file holds the state and the actions a scenario takes;
//! [`responses`] handles answers to our requests (auth retries, ACKs, dialogs);
//! [`requests`] handles requests from peers and the answers a UA owes (200 to CANCEL
//! then 487, 200 to BYE, 481, 405); [`calls`] is the per-call state.

mod calls;
mod requests;
mod responses;

use std::collections::{HashMap, VecDeque};
use std::time::Duration;

use tokio::time::Instant;

use super::compose::{self, Draft, Transport};
use super::digest::Challenge;
use super::message::Message;
pub use calls::{Call, CallState, Role, reason};

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
    key: Key,
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
    /// Calls by Call-ID: ours (UAC) and theirs (UAS) apart, so a UA may call itself.
    uac: HashMap<String, Call>,
    uas: HashMap<String, Call>,
    /// The call that steps act on when they name none.
    latest: Option<(Role, String)>,
    registration: Registration,
    /// Challenges to answer up front: one from a 401, one from a 407.
    www: Option<Cached>,
    proxy: Option<Cached>,
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

    /// REGISTER our contact for `expires` seconds (0: un-REGISTER).
    pub fn register(&mut self, now: Instant, expires: u32) -> Result<(Key, String), String> {
        let key = self.new_key();
        let text = self.send_register(now, key, Origin::Step, expires)?;
        Ok((key, text))
    }

    fn send_register(
        &mut self,
        now: Instant,
        key: Key,
        origin: Origin,
        expires: u32,
    ) -> Result<String, String> {
        let reg = &mut self.registration;
        reg.cseq += 1;
        reg.asked = expires;
        reg.in_flight = true;
        let cseq = reg.cseq;
        let aor = self.aor();
        let draft = Draft {
            method: "REGISTER".into(),
            uri: format!("sip:{}", self.config.domain),
            from: format!("<{aor}>;tag={}", token()),
            to: format!("<{aor}>"),
            call_id: self.registration.call_id.clone(),
            routes: Vec::new(),
            contact: Some(self.contact.clone()),
            extra: vec![("Expires".into(), expires.to_string())],
            body: None,
        };
        self.start(now, key, origin, draft, cseq, Attempt::default())
    }

    /// INVITE `to` (a user of our domain or a `sip:` URI) with extra headers and an SDP
    /// offer (or `body` as given). Returns the key and the Call-ID.
    pub fn invite(
        &mut self,
        now: Instant,
        to: &str,
        extra: Vec<(String, String)>,
        body: Option<(String, String)>,
        auto_ack: bool,
    ) -> Result<(Key, String, String), String> {
        if self.calls() >= MAX_CALLS {
            return Err(format!("{MAX_CALLS} calls are open on this connection"));
        }
        let key = self.new_key();
        let call_id = token();
        let uri = self.uri_of(to);
        let local_tag = token();
        let from = format!("<{}>;tag={local_tag}", self.aor());
        let to_header = format!("<{uri}>");
        let body = body.or_else(|| Some(("application/sdp".into(), compose::sdp(key))));
        let draft = Draft {
            method: "INVITE".into(),
            uri: uri.clone(),
            from: from.clone(),
            to: to_header.clone(),
            call_id: call_id.clone(),
            routes: Vec::new(),
            contact: Some(self.contact.clone()),
            extra,
            body,
        };
        self.uac.insert(
            call_id.clone(),
            Call::outgoing(call_id.clone(), key, uri, from, to_header, auto_ack),
        );
        self.latest = Some((Role::Uac, call_id.clone()));
        match self.start(now, key, Origin::Step, draft, 1, Attempt::default()) {
            Ok(text) => Ok((key, call_id, text)),
            Err(e) => {
                self.uac.remove(&call_id);
                Err(e)
            }
        }
    }

    /// The call an action names, or the latest one of `role`.
    fn pick(&self, role: Role, call_id: Option<&str>) -> Result<String, String> {
        let map = match role {
            Role::Uac => &self.uac,
            Role::Uas => &self.uas,
        };
        match call_id {
            Some(id) if map.contains_key(id) => Ok(id.to_string()),
            Some(id) => Err(format!("no {} call with Call-ID '{id}'", role.label())),
            None => match &self.latest {
                Some((r, id)) if *r == role && map.contains_key(id) => Ok(id.clone()),
                _ => map
                    .keys()
                    .next()
                    .cloned()
                    .ok_or_else(|| format!("no {} call", role.label())),
            },
        }
    }

    /// CANCEL our pending INVITE (RFC 3261 §9.1): same branch, Call-ID, From, To and
    /// CSeq number as the INVITE.
    pub fn cancel(&mut self, now: Instant, call_id: Option<&str>) -> Result<(Key, String), String> {
        let id = self.pick(Role::Uac, call_id)?;
        let call = &self.uac[&id];
        let invite_key = format!("{} INVITE", call.invite_branch);
        let Some(tx) = self.clients.get_mut(&invite_key) else {
            return Err(format!(
                "the INVITE of call '{id}' already got its final response ({})",
                call.state.label()
            ));
        };
        // The INVITE must now end within 64 × T1 (RFC 3261 §9.1).
        tx.deadline = now + TRANSACTION_TIMEOUT;
        let draft = Draft {
            method: "CANCEL".into(),
            uri: tx.draft.uri.clone(),
            from: tx.draft.from.clone(),
            to: tx.draft.to.clone(),
            call_id: id.clone(),
            routes: tx.draft.routes.clone(),
            contact: None,
            extra: Vec::new(),
            body: None,
        };
        let cseq = tx.cseq;
        let branch = call.invite_branch.clone();
        let text = compose::request(
            &draft,
            self.config.transport,
            &self.host,
            &branch,
            cseq,
            None,
        );
        let key = self.new_key();
        self.clients.insert(
            format!("{branch} CANCEL"),
            ClientTx {
                key,
                origin: Origin::Step,
                draft,
                cseq,
                deadline: now + TRANSACTION_TIMEOUT,
                proceeding: false,
                retries: 0,
                fresh_answers: 0,
            },
        );
        if let Some(call) = self.uac.get_mut(&id) {
            call.state = CallState::Cancelling;
        }
        Ok((key, text))
    }

    /// The ACK for our call's 2xx (end to end, RFC 3261 §13.2.2.4) when it is not sent
    /// automatically.
    pub fn ack(&mut self, call_id: Option<&str>) -> Result<String, String> {
        let id = self.pick(Role::Uac, call_id)?;
        let call = self.uac.get_mut(&id).expect("picked");
        if call.state != CallState::Answered {
            return Err(format!(
                "call '{id}' has no 2xx to acknowledge ({})",
                call.state.label()
            ));
        }
        let text = call.ack_for_2xx(self.config.transport, &self.host);
        call.state = CallState::Confirmed;
        Ok(text)
    }

    /// BYE the call (either role): the call ends when the BYE is answered.
    pub fn bye(&mut self, now: Instant, call_id: Option<&str>) -> Result<(Key, String), String> {
        let (role, id) = match call_id {
            Some(id) if self.uac.contains_key(id) => (Role::Uac, id.to_string()),
            Some(id) if self.uas.contains_key(id) => (Role::Uas, id.to_string()),
            Some(id) => return Err(format!("no call with Call-ID '{id}'")),
            None => match &self.latest {
                Some((r, id)) if self.call(*r, id).is_some() => (*r, id.clone()),
                _ => return Err("no call to hang up".into()),
            },
        };
        self.bye_as(now, role, &id, Origin::Step)
    }

    fn bye_as(
        &mut self,
        now: Instant,
        role: Role,
        id: &str,
        origin: Origin,
    ) -> Result<(Key, String), String> {
        let map = match role {
            Role::Uac => &mut self.uac,
            Role::Uas => &mut self.uas,
        };
        let call = map.get_mut(id).ok_or_else(|| format!("no call '{id}'"))?;
        if !matches!(call.state, CallState::Answered | CallState::Confirmed) {
            return Err(format!(
                "call '{id}' is not established ({})",
                call.state.label()
            ));
        }
        call.local_cseq += 1;
        call.state = CallState::Terminating;
        let cseq = call.local_cseq;
        let draft = call.in_dialog("BYE");
        let key = self.new_key();
        let text = self.start(now, key, origin, draft, cseq, Attempt::default())?;
        Ok((key, text))
    }

    /// Sends a provisional response (180 Ringing, 183 Session Progress) to the
    /// incoming INVITE; 183 carries the SDP answer.
    pub fn ring(&mut self, call_id: Option<&str>, status: u16) -> Result<String, String> {
        if !(101..200).contains(&status) {
            return Err(format!("{status} is not a provisional status (101..199)"));
        }
        let id = self.pick(Role::Uas, call_id)?;
        let contact = self.contact.clone();
        let call = self.uas.get_mut(&id).expect("picked");
        call.reply(status, &contact, status == 183)
    }

    /// Answers the incoming INVITE with 200 and the SDP answer; the call waits for
    /// the ACK.
    pub fn answer(&mut self, now: Instant, call_id: Option<&str>) -> Result<String, String> {
        let id = self.pick(Role::Uas, call_id)?;
        let contact = self.contact.clone();
        let call = self.uas.get_mut(&id).expect("picked");
        let text = call.reply(200, &contact, true)?;
        call.state = CallState::Answered;
        call.ack_deadline = Some(now + TRANSACTION_TIMEOUT);
        Ok(text)
    }

    /// Rejects the incoming INVITE with a final status (300..699); the call ends when
    /// the proxy's ACK arrives (or at once: that ACK carries nothing we need).
    pub fn reject(&mut self, call_id: Option<&str>, status: u16) -> Result<String, String> {
        if !(300..700).contains(&status) {
            return Err(format!("{status} is not a rejection status (300..699)"));
        }
        let id = self.pick(Role::Uas, call_id)?;
        let contact = self.contact.clone();
        let call = self.uas.get_mut(&id).expect("picked");
        let text = call.reply(status, &contact, false)?;
        self.uas.remove(&id);
        Ok(text)
    }

    /// When [`Ua::tick`] next has work (transaction timeouts, refresh, ACK waits).
    pub fn next_deadline(&self) -> Option<Instant> {
        let tx = self.clients.values().map(|t| t.deadline);
        let acks = self.uas.values().filter_map(|c| c.ack_deadline);
        let refresh = if self.registration.in_flight {
            None
        } else {
            self.registration.refresh_at
        };
        tx.chain(acks).chain(refresh).min()
    }

    /// Timers: transaction timeouts become 408 responses, registrations are refreshed,
    /// an answer without ACK is ended with BYE.
    pub fn tick(&mut self, now: Instant, out: &mut Vec<Event>) {
        let expired: Vec<String> = self
            .clients
            .iter()
            .filter(|(_, tx)| tx.deadline <= now)
            .map(|(k, _)| k.clone())
            .collect();
        for branch_method in expired {
            let tx = self.clients.remove(&branch_method).expect("listed");
            let timer = if tx.draft.method == "INVITE" {
                if tx.proceeding {
                    "no final response within 180 s of the provisional one (Timer C)"
                } else {
                    "no response within 32 s (Timer B)"
                }
            } else {
                "no final response within 32 s (Timer F)"
            };
            if tx.draft.method == "INVITE" {
                self.uac.remove(&tx.draft.call_id);
            }
            if tx.draft.method == "REGISTER" {
                self.registration.in_flight = false;
            }
            if tx.draft.method == "BYE" {
                self.uac.remove(&tx.draft.call_id);
                self.uas.remove(&tx.draft.call_id);
            }
            self.remember(branch_method);
            out.push(Event::Response(ResponseEvent {
                key: tx.key,
                origin: tx.origin,
                method: tx.draft.method.clone(),
                call_id: tx.draft.call_id.clone(),
                status: 408,
                reason: "Request Timeout".into(),
                is_final: true,
                message: None,
                note: Some(timer.into()),
            }));
        }
        let reg = &self.registration;
        if !reg.in_flight && reg.granted.is_some() && reg.refresh_at.is_some_and(|at| at <= now) {
            let expires = reg.asked;
            let key = self.new_key();
            match self.send_register(now, key, Origin::Refresh, expires) {
                Ok(text) => out.push(Event::Send(text)),
                Err(why) => out.push(Event::Unreadable { key: None, why }),
            }
        }
        let unacked: Vec<String> = self
            .uas
            .iter()
            .filter(|(_, c)| c.ack_deadline.is_some_and(|d| d <= now))
            .map(|(id, _)| id.clone())
            .collect();
        for id in unacked {
            if let Some(call) = self.uas.get_mut(&id) {
                call.ack_deadline = None;
            }
            out.push(Event::NoAck {
                call_id: id.clone(),
            });
            if let Ok((_, text)) = self.bye_as(now, Role::Uas, &id, Origin::Internal) {
                out.push(Event::Send(text));
            }
        }
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
