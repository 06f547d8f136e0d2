//! A profile on one connection: makes request ids, writes requests from the compiled
//! templates, and reads every inbound frame with the compiled rules — auto replies
//! first, then acks, replies (correlated by id, codes mapped), pushes (kind mapped,
//! payload reshaped into the event shape the checks use). A frame no rule reads is
//! reported with the rules it failed, quoted.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use serde_json::{Map, Value};

use super::frame::{Fill, json};
use super::{IdForm, IdSource, KeepaliveWhat, Profile};
use crate::drivers::native::{VOCABULARY, classify};
use crate::drivers::{Expecting, Inbound, OpParams, OpSpec, Outgoing, Reply, Wire};
use crate::protocol::PushKind;

/// Keepalive requests whose answers are still expected (and dropped).
const KEEPALIVES_TRACKED: usize = 16;

pub(super) struct ProfileWire {
    profile: Arc<Profile>,
    /// The next counter id.
    next: u64,
    /// Keys of keepalive requests: their answers are nobody's.
    keepalives: VecDeque<u64>,
}

impl ProfileWire {
    pub(super) fn new(profile: Arc<Profile>) -> ProfileWire {
        ProfileWire {
            profile,
            next: 1,
            keepalives: VecDeque::new(),
        }
    }

    /// A fresh correlation key and the id's JSON text.
    fn new_id(&mut self) -> (u64, String) {
        let ids = &self.profile.ids;
        let key = match ids.source {
            IdSource::Counter => {
                let k = self.next;
                self.next += 1;
                k
            }
            // Below 2^53, so JavaScript servers read it exactly.
            IdSource::Random => rand::random::<u64>() % ((1 << 53) - 1) + 1,
        };
        let text = match (ids.form, ids.source) {
            (IdForm::Integer, _) => key.to_string(),
            (IdForm::String, IdSource::Counter) => {
                json(&Value::from(format!("{}{key}", ids.prefix)))
            }
            (IdForm::String, IdSource::Random) => {
                json(&Value::from(format!("{}{key:016x}", ids.prefix)))
            }
        };
        (key, text)
    }

    /// The key of a frame's id, if it is one this wire could have made.
    fn key_of(&self, frame: &Value) -> Option<u64> {
        let ids = &self.profile.ids;
        let v = ids.path.get(frame)?;
        match ids.form {
            IdForm::Integer => v.as_u64(),
            IdForm::String => {
                let rest = v.as_str()?.strip_prefix(ids.prefix.as_str())?;
                match ids.source {
                    IdSource::Counter => rest.parse().ok(),
                    IdSource::Random => u64::from_str_radix(rest, 16).ok(),
                }
            }
        }
    }

    fn reply(&self, frame: &Value, key: Option<u64>) -> Result<Reply, String> {
        let r = &self.profile.result;
        if r.success.holds(frame) {
            let ok = VOCABULARY
                .codes
                .iter()
                .find(|c| c.number == VOCABULARY.ok_code)
                .map_or("OK", |c| c.name);
            return Ok(Reply {
                id: key,
                code: VOCABULARY.ok_code,
                message: ok.to_string(),
                data: r
                    .data
                    .as_ref()
                    .and_then(|p| p.get(frame))
                    .filter(|d| !d.is_null())
                    .cloned()
                    .map(Into::into),
                error: None,
            });
        }
        let Some(code) = r.code.get(frame) else {
            return Err(format!(
                "reply is not a success (result.success at {}) and has no code at '{}' (result.code)",
                r.success.at, r.code
            ));
        };
        let text = match code {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        };
        let Some(spec) = r.codes.get(&text) else {
            return Err(format!(
                "code {code} at '{}' is not in result.codes (at {})",
                r.code, r.codes_at
            ));
        };
        // Only text explains; only an object is a result (JSON-RPC's `error.data` is
        // either).
        let error = r
            .error
            .as_ref()
            .and_then(|p| p.get(frame))
            .and_then(Value::as_str)
            .map(str::to_string);
        let data = r
            .failure_data
            .as_ref()
            .and_then(|p| p.get(frame))
            .filter(|d| d.is_object())
            .cloned();
        Ok(Reply {
            id: key,
            code: spec.number,
            message: spec.name.to_string(),
            data: data.map(Into::into),
            error,
        })
    }

    fn push(&self, mut frame: Value) -> Result<crate::drivers::Push, String> {
        let rules = &self.profile.pushes;
        let name = match rules.kind.get(&frame) {
            Some(Value::String(s)) => s.clone(),
            Some(other) => other.to_string(),
            None => {
                return Err(format!(
                    "push has no kind at '{}' (pushes.kind)",
                    rules.kind
                ));
            }
        };
        let kind = if rules.kinds.is_empty() {
            name.parse::<PushKind>().ok()
        } else {
            rules.kinds.get(&name).copied()
        };
        let Some(kind) = kind else {
            return Err(format!(
                "push kind '{name}' at '{}' is not one sigbench knows (pushes.kinds at {})",
                rules.kind, rules.kinds_at
            ));
        };
        let mut body = match &rules.body {
            Some(path) => path.take(&mut frame).unwrap_or(Value::Null),
            None => frame,
        };
        if body.is_null() {
            body = Value::Object(Map::new());
        }
        let Value::Object(_) = body else {
            return Err(format!("push payload is not an object: {}", json(&body)));
        };
        for (target, source) in &rules.fields {
            if let Some(v) = source.get(&body).cloned() {
                target.set(&mut body, v);
            }
        }
        if let Value::Object(map) = &mut body {
            map.entry("push")
                .or_insert_with(|| Value::from(kind.as_str()));
        }
        Ok(classify(kind, body))
    }

    fn encode(&mut self, frame: usize, method: &str, params: OpParams<'_>) -> (u64, String) {
        let (key, id) = self.new_id();
        let template = if frame == usize::MAX {
            &self.profile.requests.default
        } else {
            &self.profile.requests.frames[frame]
        };
        let text = template.render(&Fill {
            id: &id,
            method,
            params,
            request: None,
        });
        (key, text)
    }
}

impl Wire for ProfileWire {
    fn request(&mut self, op: &'static OpSpec, params: OpParams<'_>) -> Result<Outgoing, String> {
        let profile = self.profile.clone();
        let method = &profile.requests.methods[usize::from(op.id)];
        let (key, text) = self.encode(usize::from(op.id), method, params);
        Ok(Outgoing {
            expecting: Expecting::Reply(key),
            text,
        })
    }

    fn request_named(&mut self, name: &str, params: &Value) -> Result<Outgoing, String> {
        let (key, text) = self.encode(usize::MAX, &json(&Value::from(name)), params.into());
        Ok(Outgoing {
            expecting: Expecting::Reply(key),
            text,
        })
    }

    fn receive(&mut self, text: &str, out: &mut Vec<Inbound>) {
        let frame: Value = match serde_json::from_str(text) {
            Ok(v) => v,
            Err(e) => {
                out.push(Inbound::Unreadable {
                    key: None,
                    why: format!("malformed server frame: not JSON: {e}"),
                });
                return;
            }
        };
        let profile = self.profile.clone();
        for (when, reply) in &profile.auto_replies {
            if when.holds(&frame) {
                out.push(Inbound::Send(reply.render(&Fill {
                    id: "null",
                    method: "null",
                    params: (&Value::Null).into(),
                    request: Some(&frame),
                })));
                break;
            }
        }
        let key = self.key_of(&frame);
        if profile
            .responses
            .ack
            .as_ref()
            .is_some_and(|a| a.holds(&frame))
        {
            return;
        }
        if profile.responses.when.holds(&frame) {
            if let Some(k) = key
                && let Some(i) = self.keepalives.iter().position(|x| *x == k)
            {
                self.keepalives.remove(i);
                return;
            }
            out.push(match self.reply(&frame, key) {
                Ok(reply) => Inbound::Reply { key, reply },
                Err(why) => Inbound::Unreadable { key, why },
            });
            return;
        }
        if profile.pushes.when.holds(&frame) {
            out.push(match self.push(frame) {
                Ok(push) => Inbound::Push(push),
                Err(why) => Inbound::Unreadable { key: None, why },
            });
            return;
        }
        out.push(Inbound::Unreadable {
            key,
            why: format!(
                "frame matches no profile rule: not a reply (responses.when at {}) nor a push (pushes.when at {})",
                profile.responses.when.at, profile.pushes.when.at
            ),
        });
    }

    fn tick_every(&self) -> Option<Duration> {
        self.profile.keepalive.as_ref().map(|k| k.every)
    }

    fn tick(&mut self, out: &mut Vec<Inbound>) {
        let profile = self.profile.clone();
        let Some(keepalive) = &profile.keepalive else {
            return;
        };
        match &keepalive.what {
            KeepaliveWhat::Frame(text) => out.push(Inbound::Send(text.clone())),
            KeepaliveWhat::Method(method, params) => {
                let (key, text) = self.encode(usize::MAX, method, params.into());
                if self.keepalives.len() >= KEEPALIVES_TRACKED {
                    self.keepalives.pop_front();
                }
                self.keepalives.push_back(key);
                out.push(Inbound::Send(text));
            }
        }
    }
}
