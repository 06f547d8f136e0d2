//! Responses to our requests: matched to their client transaction by top Via branch and
//! CSeq method (RFC 3261 §17.1.3); challenges answered (401/407), 423 retried with the
//! server's Min-Expires; ACKs sent (in the transaction for a non-2xx final, end to end
//! for a 2xx); dialogs learnt; the registration's refresh scheduled.

use std::time::Duration;

use tokio::time::Instant;

use super::{
    Attempt, CallState, ClientTx, Event, MAX_RETRIES, Origin, PROCEEDING_TIMEOUT, ResponseEvent, Ua,
};
use crate::drivers::sip::digest::Challenge;
use crate::drivers::sip::message::Message;

impl Ua {
    pub(super) fn on_response(&mut self, now: Instant, msg: Message, out: &mut Vec<Event>) {
        let status = msg.status().unwrap_or_default();
        // Both were checked by the parse.
        let branch = msg.top_via().ok().flatten().unwrap_or_default();
        let method = msg.cseq().map(|(_, m)| m).unwrap_or_default();
        let id = format!("{branch} {method}");
        let Some(tx) = self.clients.get_mut(&id) else {
            self.stray_response(&msg, &id, out);
            return;
        };
        self.tally.count(&method, false, status);
        if status < 200 {
            tx.proceeding = true;
            let key = tx.key;
            let origin = tx.origin;
            if method == "INVITE" {
                if let Some(call) = self.uac.get_mut(msg.call_id()) {
                    if call.state != CallState::Cancelling {
                        tx.deadline = now + PROCEEDING_TIMEOUT;
                        call.state = CallState::Early;
                    }
                    if let Err(why) = call.learn(&msg) {
                        out.push(Event::Unreadable {
                            key: Some(key),
                            why,
                        });
                        return;
                    }
                }
            }
            out.push(Event::Response(event(key, origin, &method, msg, None)));
            return;
        }
        let tx = self.clients.remove(&id).expect("found above");
        self.remember(id);
        if method == "INVITE"
            && status >= 300
            && let Some(call) = self.uac.get(msg.call_id())
        {
            // Non-2xx: ACK inside the INVITE's transaction, whatever follows.
            out.push(Event::Send(call.ack_for_failure(
                &msg,
                self.config.transport,
                &self.host,
            )));
        }
        let mut note = None;
        if status == 401 || status == 407 {
            match self.retry_with_credentials(now, &tx, &msg) {
                Ok(text) => {
                    out.push(Event::Send(text));
                    return;
                }
                Err(why) => note = Some(why),
            }
        }
        if status == 423
            && method == "REGISTER"
            && let Some(text) = self.retry_with_min_expires(now, &tx, &msg)
        {
            out.push(Event::Send(text));
            return;
        }
        match method.as_str() {
            "REGISTER" => self.registered_as(now, &msg, status),
            "INVITE" => {
                if let Some(call) = self.uac.get_mut(msg.call_id()) {
                    call.final_status = Some(status);
                    if (200..300).contains(&status) {
                        if let Err(why) = call.learn(&msg) {
                            note = Some(why);
                        }
                        call.state = CallState::Answered;
                        if call.auto_ack {
                            out.push(Event::Send(
                                call.ack_for_2xx(self.config.transport, &self.host),
                            ));
                            call.state = CallState::Confirmed;
                        }
                    } else {
                        self.uac.remove(msg.call_id());
                    }
                }
            }
            "BYE" => {
                self.uac.remove(msg.call_id());
                self.uas.remove(msg.call_id());
            }
            _ => {}
        }
        if tx.origin != Origin::Internal {
            out.push(Event::Response(event(
                tx.key, tx.origin, &method, msg, note,
            )));
        }
    }

    /// A response no open transaction waits for: a late one (dropped), a retransmitted
    /// 2xx of an established call (ACKed again), or an error.
    fn stray_response(&mut self, msg: &Message, id: &str, out: &mut Vec<Event>) {
        let status = msg.status().unwrap_or_default();
        if (200..300).contains(&status)
            && id.ends_with(" INVITE")
            && let Some(call) = self.uac.get(msg.call_id())
            && let Some(ack) = &call.ack_text
        {
            out.push(Event::Send(ack.clone()));
            return;
        }
        if self.recent.iter().any(|r| r == id) {
            return;
        }
        out.push(Event::Unreadable {
            key: None,
            why: format!(
                "response to no request of this connection (its Via branch and CSeq '{}' match none)",
                msg.header("cseq").unwrap_or_default(),
            ),
        });
    }

    /// Answers a 401/407 by resending the request with credentials (new branch, CSeq + 1).
    /// `Err` says why not: no password, a challenge we cannot answer, or credentials
    /// refused (challenged again after answering a fresh challenge, without stale=true).
    fn retry_with_credentials(
        &mut self,
        now: Instant,
        tx: &ClientTx,
        msg: &Message,
    ) -> Result<String, String> {
        let proxy = msg.status() == Some(407);
        let header = if proxy {
            "proxy-authenticate"
        } else {
            "www-authenticate"
        };
        let user = &self.config.auth_user;
        if self.config.password.is_none() {
            return Err(format!(
                "no password for '{user}' to answer the challenge with"
            ));
        }
        let challenge = Challenge::choose(msg.headers_named(header), proxy)?;
        if tx.fresh_answers > 0 && !challenge.stale {
            return Err(format!(
                "the credentials of '{user}' were refused (challenged again after answering realm '{}')",
                challenge.realm
            ));
        }
        if tx.retries >= MAX_RETRIES {
            return Err(format!("challenged {} times in a row", tx.retries + 1));
        }
        let cseq = tx.cseq + 1;
        if tx.draft.method == "REGISTER" {
            self.registration.cseq = cseq;
        }
        let attempt = Attempt {
            fresh: Some(challenge),
            retries: tx.retries + 1,
            fresh_answers: tx.fresh_answers + 1,
        };
        self.start(now, tx.key, tx.origin, tx.draft.clone(), cseq, attempt)
    }

    /// 423 Interval Too Brief: register again for the server's Min-Expires.
    fn retry_with_min_expires(
        &mut self,
        now: Instant,
        tx: &ClientTx,
        msg: &Message,
    ) -> Option<String> {
        let min: u32 = msg.header("min-expires")?.trim().parse().ok()?;
        if min <= self.registration.asked || tx.retries >= MAX_RETRIES {
            return None;
        }
        let mut draft = tx.draft.clone();
        for (name, value) in &mut draft.extra {
            if name.eq_ignore_ascii_case("Expires") {
                *value = min.to_string();
            }
        }
        self.registration.asked = min;
        self.registration.cseq = tx.cseq + 1;
        self.registration.in_flight = true;
        let attempt = Attempt {
            fresh: None,
            retries: tx.retries + 1,
            fresh_answers: tx.fresh_answers,
        };
        self.start(now, tx.key, tx.origin, draft, tx.cseq + 1, attempt)
            .ok()
    }

    /// The outcome of a REGISTER: the granted expiry (our Contact's `expires`, else the
    /// Expires header, else what we asked) and when to refresh (half of it).
    fn registered_as(&mut self, now: Instant, msg: &Message, status: u16) {
        let reg = &mut self.registration;
        reg.in_flight = false;
        if !(200..300).contains(&status) || reg.asked == 0 {
            reg.granted = None;
            reg.refresh_at = None;
            return;
        }
        let ours = self.host.as_str();
        let from_contact = msg.addr_list("contact").ok().and_then(|list| {
            list.iter()
                .find(|a| a.uri().to_string().contains(ours))
                .and_then(|a| {
                    a.param_raw("expires")
                        .flatten()
                        .and_then(|v| v.parse().ok())
                })
        });
        let granted = from_contact
            .or_else(|| msg.header("expires").and_then(|v| v.trim().parse().ok()))
            .unwrap_or(reg.asked);
        if granted == 0 {
            reg.granted = None;
            reg.refresh_at = None;
            return;
        }
        reg.granted = Some(granted);
        reg.refresh_at =
            Some(now + Duration::from_millis(u64::from(granted) * 500).max(Duration::from_secs(1)));
    }
}

fn event(
    key: super::Key,
    origin: Origin,
    method: &str,
    msg: Message,
    note: Option<String>,
) -> ResponseEvent {
    let (status, reason) = match &msg.start {
        crate::drivers::sip::message::StartLine::Response { status, reason } => {
            (*status, reason.clone())
        }
        crate::drivers::sip::message::StartLine::Request { .. } => (0, String::new()),
    };
    ResponseEvent {
        key,
        origin,
        method: method.to_string(),
        call_id: msg.call_id().to_string(),
        status,
        reason,
        is_final: status >= 200,
        message: Some(msg),
        note,
    }
}
