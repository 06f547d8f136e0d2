//! Requests from peers and the answers a UA owes without being told (RFC 3261 §8.2,
//! §9.2, §12.2.2, §15.1.2): a new INVITE becomes an incoming call; CANCEL gets 200 and
//! the INVITE 487; BYE gets 200; requests for unknown dialogs get 481; OPTIONS 200;
//! everything else 405 with Allow.

use tokio::time::Instant;

use super::tally::Tally;
use super::{Call, CallState, Event, MAX_CALLS, RequestEvent, Ua};
use crate::drivers::sip::compose::{self, ALLOW, Answer};
use crate::drivers::sip::message::Message;

impl Ua {
    pub(super) fn on_request(&mut self, now: Instant, msg: Message, out: &mut Vec<Event>) {
        let method = msg.method().unwrap_or_default().to_string();
        let to_tag = msg.tag("to").ok().flatten();
        match method.as_str() {
            "INVITE" if to_tag.is_none() => self.incoming_invite(msg, out),
            "INVITE" => {
                // A re-INVITE: the session does not change; answer with the same SDP.
                let Some(call) = self.dialog_of(&msg) else {
                    return reply(&mut self.tally, out, &msg, 481, &Answer::default());
                };
                let contact = self.contact.clone();
                let body = compose::sdp(u64::from(call.invite_cseq));
                let answer = Answer {
                    contact: Some(&contact),
                    body: Some(("application/sdp", &body)),
                    ..Answer::default()
                };
                reply(&mut self.tally, out, &msg, 200, &answer);
            }
            "ACK" => self.incoming_ack(now, msg, out),
            "CANCEL" => self.incoming_cancel(msg, out),
            "BYE" => {
                if self.dialog_of(&msg).is_none() {
                    return reply(&mut self.tally, out, &msg, 481, &Answer::default());
                }
                reply(&mut self.tally, out, &msg, 200, &Answer::default());
                let id = msg.call_id().to_string();
                self.uac.remove(&id);
                self.uas.remove(&id);
                out.push(request_event(method, msg));
            }
            "OPTIONS" => {
                let extra = [("Allow", ALLOW), ("Accept", "application/sdp")];
                let answer = Answer {
                    to_tag: Some("opt"),
                    extra: &extra,
                    ..Answer::default()
                };
                reply(&mut self.tally, out, &msg, 200, &answer);
            }
            _ => {
                let extra = [("Allow", ALLOW)];
                let answer = Answer {
                    to_tag: Some("na"),
                    extra: &extra,
                    ..Answer::default()
                };
                reply(&mut self.tally, out, &msg, 405, &answer);
            }
        }
    }

    fn incoming_invite(&mut self, msg: Message, out: &mut Vec<Event>) {
        if self.calls() >= MAX_CALLS {
            return reply(
                &mut self.tally,
                out,
                &msg,
                486,
                &Answer {
                    to_tag: Some("busy"),
                    ..Answer::default()
                },
            );
        }
        match Call::incoming(msg.clone()) {
            Ok(call) => {
                let id = call.call_id.clone();
                self.uas.insert(id.clone(), call);
                self.latest = Some((super::Role::Uas, id));
                out.push(request_event("INVITE".into(), msg));
            }
            Err(why) => {
                let answer = Answer {
                    to_tag: Some("bad"),
                    ..Answer::default()
                };
                let reason = format!("Bad Request ({why})");
                self.tally.count("INVITE", true, 400);
                out.push(Event::Send(compose::response(&msg, 400, &reason, &answer)));
            }
        }
    }

    /// An ACK: for our 2xx it confirms the call (and is reported: answer → ACK time);
    /// for our non-2xx it only closes the INVITE transaction.
    fn incoming_ack(&mut self, _now: Instant, msg: Message, out: &mut Vec<Event>) {
        let id = msg.call_id().to_string();
        let Some(call) = self.uas.get_mut(&id) else {
            return;
        };
        if call.state == CallState::Answered {
            call.state = CallState::Confirmed;
            call.ack_deadline = None;
            out.push(request_event("ACK".into(), msg));
        }
    }

    /// CANCEL of an INVITE we received (RFC 3261 §9.2): matched by Call-ID and top Via
    /// branch; 200 to the CANCEL, then 487 to the INVITE unless it was answered.
    fn incoming_cancel(&mut self, msg: Message, out: &mut Vec<Event>) {
        let id = msg.call_id().to_string();
        let branch = msg.top_via().ok().flatten().unwrap_or_default();
        let matches = self.uas.get(&id).is_some_and(|c| c.invite_branch == branch);
        if !matches {
            return reply(
                &mut self.tally,
                out,
                &msg,
                481,
                &Answer {
                    to_tag: Some("nx"),
                    ..Answer::default()
                },
            );
        }
        let call = self.uas.get_mut(&id).expect("matched");
        let tag = call.local_tag.clone();
        reply(
            &mut self.tally,
            out,
            &msg,
            200,
            &Answer {
                to_tag: Some(&tag),
                ..Answer::default()
            },
        );
        if call.final_status.is_none() {
            let contact = self.contact.clone();
            if let Ok(text) = call.reply(487, &contact, false) {
                self.tally.count("INVITE", true, 487);
                out.push(Event::Send(text));
            }
            self.uas.remove(&id);
        }
        out.push(request_event("CANCEL".into(), msg));
    }

    /// The call a request inside a dialog belongs to: Call-ID, and our tag in its To.
    fn dialog_of(&self, msg: &Message) -> Option<&Call> {
        let id = msg.call_id();
        let ours = msg.tag("to").ok().flatten()?;
        [self.uac.get(id), self.uas.get(id)]
            .into_iter()
            .flatten()
            .find(|c| c.local_tag == ours)
    }
}

fn reply(tally: &mut Tally, out: &mut Vec<Event>, msg: &Message, status: u16, answer: &Answer<'_>) {
    tally.count(msg.method().unwrap_or_default(), true, status);
    let reason = super::calls::reason(status);
    out.push(Event::Send(compose::response(msg, status, reason, answer)));
}

fn request_event(method: String, message: Message) -> Event {
    Event::Request(RequestEvent {
        method,
        call_id: message.call_id().to_string(),
        message,
    })
}
