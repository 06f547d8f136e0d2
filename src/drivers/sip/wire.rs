//! The SIP driver's per-connection state: the UA core behind the [`Wire`] interface.
//! Ops become UA actions; UA events become replies (final responses to REGISTER, CANCEL
//! and BYE), pushes of kind `sip` (requests from peers, responses to our INVITEs) and
//! frames to send (the answers a UA owes, ACKs, challenge answers, refreshes).

use serde_json::{Map, Value, json};
use tokio::time::Instant;

use super::compose::Transport;
use super::message::Message;
use super::ua::{Config, Event, Origin, ResponseEvent, Ua};
use super::vocabulary::{self, op};
use crate::drivers::{EventAt, Expecting, Inbound, OpParams, OpSpec, Outgoing, Push, Reply, Wire};

/// The expiry a REGISTER asks for when the step names none (seconds).
pub const DEFAULT_EXPIRES: u32 = 600;
/// How often the UA's timers are looked at (refresh, Timer B/F, missing ACK).
const TICK: std::time::Duration = std::time::Duration::from_millis(500);

/// One connection's SIP state.
#[derive(Debug)]
pub struct SipWire {
    /// The SIP domain when a register step names none (the target's host).
    domain: String,
    /// `WS` or `WSS` in our Via (the target's scheme).
    transport: Transport,
    /// The UA, made by the first register (the identity comes with it).
    ua: Option<Ua>,
    /// Reused for every frame: what the UA made of it.
    events: Vec<Event>,
}

impl SipWire {
    pub fn new(domain: String, transport: Transport) -> SipWire {
        SipWire {
            domain,
            transport,
            ua: None,
            events: Vec::new(),
        }
    }

    fn ua(&mut self, op: &str) -> Result<&mut Ua, String> {
        self.ua.as_mut().ok_or_else(|| {
            format!("{op} before register: the SIP identity comes from the register step")
        })
    }
}

fn text_param<'a>(params: &'a Value, name: &str) -> Result<Option<&'a str>, String> {
    match params.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(other) => Err(format!("param '{name}' must be a string, got {other}")),
    }
}

fn status_param(params: &Value, default: u16) -> Result<u16, String> {
    match params.get("status") {
        None | Some(Value::Null) => Ok(default),
        Some(v) => v
            .as_u64()
            .or_else(|| v.as_str().and_then(|s| s.parse().ok()))
            .and_then(|n| u16::try_from(n).ok())
            .ok_or_else(|| format!("param 'status' must be a status number, got {v}")),
    }
}

/// What a one-way op's step is checked against: it was sent.
fn sent(what: String, call_id: &str) -> Expecting {
    Expecting::Nothing(Reply {
        id: None,
        code: 200,
        message: what,
        data: Some(json!({ "callId": call_id }).into()),
        error: None,
    })
}

/// A response the UA just built (`text`), complete once queued: its reply names the
/// response and the dialog's Call-ID.
fn response_sent(what: String, text: String) -> Outgoing {
    let call_id = Message::parse(&text)
        .map(|m| m.call_id().to_string())
        .unwrap_or_default();
    Outgoing {
        expecting: sent(what, &call_id),
        text,
    }
}

impl Wire for SipWire {
    fn request(&mut self, spec: &'static OpSpec, params: OpParams<'_>) -> Result<Outgoing, String> {
        let params = &*params.value();
        let now = Instant::now();
        let call_id = text_param(params, "callId")?;
        match spec.id {
            op::REGISTER => {
                let expires = match params.get("expires") {
                    None | Some(Value::Null) => DEFAULT_EXPIRES,
                    Some(v) => v
                        .as_u64()
                        .and_then(|n| u32::try_from(n).ok())
                        .ok_or_else(|| {
                            format!("param 'expires' must be a number of seconds, got {v}")
                        })?,
                };
                if self.ua.is_none() {
                    let user = text_param(params, "user")?
                        .ok_or("register needs a user (the account)")?
                        .to_string();
                    let domain = text_param(params, "domain")?
                        .unwrap_or(&self.domain)
                        .to_string();
                    let auth_user = text_param(params, "authUser")?.unwrap_or(&user).to_string();
                    let password = text_param(params, "password")?.map(str::to_string);
                    self.ua = Some(Ua::new(Config {
                        user,
                        domain,
                        auth_user,
                        password,
                        transport: self.transport,
                    }));
                }
                let (key, text) = self.ua("register")?.register(now, expires)?;
                Ok(Outgoing {
                    expecting: Expecting::Reply(key),
                    text,
                })
            }
            op::UNREGISTER => {
                let (key, text) = self.ua("unregister")?.register(now, 0)?;
                Ok(Outgoing {
                    expecting: Expecting::Reply(key),
                    text,
                })
            }
            op::INVITE => {
                let to =
                    text_param(params, "to")?.ok_or("invite needs 'to' (a user or a sip: URI)")?;
                let mut extra = Vec::new();
                match params.get("headers") {
                    None | Some(Value::Null) => {}
                    Some(Value::Object(map)) => {
                        for (name, value) in map {
                            let value = match value {
                                Value::String(s) => s.clone(),
                                other => other.to_string(),
                            };
                            if name.contains([':', '\r', '\n']) || value.contains(['\r', '\n']) {
                                return Err(format!(
                                    "header '{name}' has a line break or a colon in its name"
                                ));
                            }
                            extra.push((name.clone(), value));
                        }
                    }
                    Some(other) => {
                        return Err(format!("param 'headers' must be an object, got {other}"));
                    }
                }
                let body = match text_param(params, "body")? {
                    Some(body) => Some((
                        text_param(params, "contentType")?
                            .unwrap_or("application/sdp")
                            .to_string(),
                        body.to_string(),
                    )),
                    None => None,
                };
                let auto_ack = match text_param(params, "ack")? {
                    None | Some("auto") => true,
                    Some("manual") => false,
                    Some(other) => {
                        return Err(format!("param 'ack' must be auto or manual, got '{other}'"));
                    }
                };
                let (_, call_id, text) =
                    self.ua("invite")?.invite(now, to, extra, body, auto_ack)?;
                Ok(Outgoing {
                    expecting: sent("INVITE sent".into(), &call_id),
                    text,
                })
            }
            op::RING => {
                let status = status_param(params, 180)?;
                let text = self.ua("ring")?.ring(call_id, status)?;
                Ok(response_sent(format!("{status} sent"), text))
            }
            op::ANSWER => {
                let text = self.ua("answer")?.answer(now, call_id)?;
                Ok(response_sent("200 sent".into(), text))
            }
            op::REJECT => {
                let status = status_param(params, 486)?;
                let text = self.ua("reject")?.reject(call_id, status)?;
                Ok(response_sent(format!("{status} sent"), text))
            }
            op::CANCEL => {
                let (key, text) = self.ua("cancel")?.cancel(now, call_id)?;
                Ok(Outgoing {
                    expecting: Expecting::Reply(key),
                    text,
                })
            }
            op::ACK => {
                let text = self.ua("ack")?.ack(call_id)?;
                let id = Message::parse(&text)
                    .map(|m| m.call_id().to_string())
                    .unwrap_or_default();
                Ok(Outgoing {
                    expecting: sent("ACK sent".into(), &id),
                    text,
                })
            }
            op::BYE => {
                let (key, text) = self.ua("bye")?.bye(now, call_id)?;
                Ok(Outgoing {
                    expecting: Expecting::Reply(key),
                    text,
                })
            }
            _ => Err(format!("op '{}' is not a SIP op", spec.name)),
        }
    }

    fn receive(&mut self, text: &str, out: &mut Vec<Inbound>) {
        let Some(ua) = self.ua.as_mut() else {
            out.push(Inbound::Unreadable {
                key: None,
                why: "a SIP message before this connection registered".into(),
            });
            return;
        };
        ua.receive(Instant::now(), text, &mut self.events);
        translate(&mut self.events, out);
    }

    fn tick_every(&self) -> Option<std::time::Duration> {
        Some(TICK)
    }

    fn take_codes(&mut self, out: &mut Vec<(&'static str, u32, u64)>) {
        if let Some(ua) = self.ua.as_mut() {
            ua.take_codes(out);
        }
    }

    fn tick(&mut self, out: &mut Vec<Inbound>) {
        if let Some(ua) = self.ua.as_mut() {
            let now = Instant::now();
            if ua.next_deadline().is_some_and(|d| d <= now) {
                ua.tick(now, &mut self.events);
                translate(&mut self.events, out);
            }
        }
    }
}

fn translate(events: &mut Vec<Event>, out: &mut Vec<Inbound>) {
    for event in events.drain(..) {
        match event {
            Event::Send(text) => out.push(Inbound::Send(text)),
            Event::Unreadable { key, why } => out.push(Inbound::Unreadable { key, why }),
            Event::NoAck { call_id } => out.push(Inbound::Unreadable {
                key: None,
                why: format!(
                    "no ACK within 32 s for our 200 to the INVITE of call '{call_id}' (sent BYE)"
                ),
            }),
            Event::Request(r) => {
                let Some(event) = vocabulary::request_event(&r.method) else {
                    continue;
                };
                let mut body = message_json(&r.message);
                body.insert("method".into(), Value::String(r.method));
                out.push(Inbound::Push(Push {
                    kind: vocabulary::kind(),
                    body: Value::Object(body).into(),
                    events: vec![(event, EventAt::Root)],
                }));
            }
            Event::Response(r) => response(r, out),
        }
    }
}

fn response(r: ResponseEvent, out: &mut Vec<Inbound>) {
    if r.origin == Origin::Refresh {
        if !(200..300).contains(&r.status) {
            out.push(Inbound::Unreadable {
                key: None,
                why: format!(
                    "the registration refresh was answered {} {}{}",
                    r.status,
                    r.reason,
                    r.note.map(|n| format!(" ({n})")).unwrap_or_default()
                ),
            });
        }
        return;
    }
    if r.method == "INVITE" {
        // 100 Trying is hop by hop: nothing a scenario waits for.
        if r.status == 100 {
            return;
        }
        let mut body = r.message.as_ref().map(message_json).unwrap_or_default();
        body.insert("status".into(), json!(r.status));
        body.insert("reason".into(), Value::String(r.reason.clone()));
        body.insert("callId".into(), Value::String(r.call_id.clone()));
        if let Some(note) = &r.note {
            body.insert("note".into(), Value::String(note.clone()));
        }
        out.push(Inbound::Push(Push {
            kind: vocabulary::kind(),
            body: Value::Object(body).into(),
            events: vocabulary::response_events(r.status)
                .map(|e| (e, EventAt::Root))
                .collect(),
        }));
        return;
    }
    if !r.is_final {
        return;
    }
    let data = r
        .message
        .as_ref()
        .map(|m| Value::Object(message_json(m)).into());
    out.push(Inbound::Reply {
        key: Some(r.key),
        reply: Reply {
            id: Some(r.key),
            code: u32::from(r.status),
            message: r.reason,
            data,
            error: r.note,
        },
    });
}

/// A message as the checks see it: `callId`, `from`, `to`, `cseq`, `headers` (lowercase
/// names; repeated headers joined with ", "), `body`, and `uri` for requests.
pub fn message_json(m: &Message) -> Map<String, Value> {
    let mut headers = Map::new();
    for (name, value) in &m.headers {
        match headers.get_mut(name) {
            Some(Value::String(existing)) => {
                existing.push_str(", ");
                existing.push_str(value);
            }
            _ => {
                headers.insert(name.clone(), Value::String(value.clone()));
            }
        }
    }
    let mut out = Map::new();
    out.insert("callId".into(), Value::String(m.call_id().to_string()));
    for (key, name) in [("from", "from"), ("to", "to"), ("cseq", "cseq")] {
        out.insert(
            key.into(),
            Value::String(m.header(name).unwrap_or_default().to_string()),
        );
    }
    if let super::message::StartLine::Request { uri, .. } = &m.start {
        out.insert("uri".into(), Value::String(uri.clone()));
    }
    out.insert("headers".into(), Value::Object(headers));
    out.insert("body".into(), Value::String(m.body.clone()));
    out
}
