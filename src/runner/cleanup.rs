//! `cleanup: true`: after each session, ok or failed, the runner undoes the per-account
//! state the session left on the target, so that the next session on the same accounts
//! starts clean. What leaves state and how to undo it come from the driver's tables (an
//! op's [`Undo`], a push kind's [`Ack`]); this module only replays what they say, so it
//! knows no protocol. Cleanup requests are not measured; a cleanup request that fails is
//! a failure of the run (step `cleanup`), never of the session that left the state.

use std::sync::Arc;
use std::time::Duration;

use serde_json::{Map, Value};

use super::RunContext;
use super::client::Device;
use super::session::initial_login;
use super::slot::{RoleSlot, hang_up};
use crate::drivers::{Ack, OpSpec, Push, Reply, UndoValue};
use crate::metrics::{FailureKind, FailureSample};
use crate::scenario::Plan;

/// The step name cleanup failures are recorded under.
pub const CLEANUP_STEP: &str = "cleanup";

/// What one session left to undo, in the order it left it.
#[derive(Debug, Default)]
pub(crate) struct Leftovers {
    /// Requests that undo what the session's requests left, oldest first.
    undo: Vec<UndoRequest>,
    /// Values to acknowledge: the role that received them, how, and the values.
    acks: Vec<(usize, &'static Ack, Vec<Value>)>,
}

/// One request that undoes what an earlier one left.
#[derive(Debug)]
struct UndoRequest {
    /// Index of the role whose account made the request.
    role: usize,
    /// The undoing op's name in the driver's vocabulary.
    op: &'static str,
    params: Value,
    /// Codes meaning there was nothing left to undo (e.g. the session closed the
    /// channel itself).
    done_codes: &'static [u32],
}

impl Leftovers {
    /// Notes what a request of `op` with `params`, answered by `reply`, left on the
    /// target for `role`'s account, as the op's [`crate::drivers::Undo`] says. A value
    /// the undo takes from the reply's data makes it apply whatever the code (the reply
    /// says the state exists); otherwise only a success leaves state.
    pub fn request(
        &mut self,
        ok_code: u32,
        role: usize,
        op: &'static OpSpec,
        params: &Value,
        reply: &Reply,
    ) {
        let Some(undo) = &op.undo else { return };
        if let Some(flag) = undo.when_true
            && params.get(flag) != Some(&Value::Bool(true))
        {
            return;
        }
        let mut args = Map::new();
        let mut from_reply = false;
        for (name, from) in undo.params {
            let value = match from {
                UndoValue::Param(p) => params.get(*p).cloned(),
                UndoValue::Data(path) => {
                    from_reply = true;
                    reply.data.as_ref().and_then(|d| lookup(d, path)).cloned()
                }
            };
            let Some(value) = value else { return };
            args.insert((*name).to_owned(), value);
        }
        if !from_reply && reply.code != ok_code {
            return;
        }
        self.undo.push(UndoRequest {
            role,
            op: undo.op,
            params: Value::Object(args),
            done_codes: undo.done_codes,
        });
    }

    /// Notes the stored events a push delivered to `role`'s account, when its kind says
    /// how to acknowledge them.
    pub fn push(&mut self, role: usize, push: &Push) {
        let Some(ack) = &push.kind.ack else { return };
        let values: Vec<Value> = push
            .events
            .iter()
            .filter_map(|(_, at)| at.get(&push.body)?.get(ack.field).cloned())
            .collect();
        if values.is_empty() {
            return;
        }
        match self
            .acks
            .iter_mut()
            .find(|(r, a, _)| *r == role && std::ptr::eq(*a, ack))
        {
            Some((_, _, all)) => all.extend(values),
            None => self.acks.push((role, ack, values)),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.undo.is_empty() && self.acks.is_empty()
    }
}

/// `data.channel.channelId`-style lookup below a reply's data.
fn lookup<'a>(data: &'a Value, path: &str) -> Option<&'a Value> {
    path.split('.')
        .try_fold(data, |v, key| v.get(key))
        .filter(|v| !v.is_null())
}

/// Undoes what a session left: the undo requests newest first, then the
/// acknowledgements, each on an open device of the account that left the state (or on
/// a connection logged in for the purpose, closed again after). The whole cleanup has
/// `budget`; returns its failures (none when everything was undone).
pub(crate) async fn clean_up(
    ctx: &RunContext,
    plan: &Plan,
    roles: &[RoleSlot],
    devices: &[Vec<Option<Arc<Device>>>],
    leftovers: Leftovers,
    number: u64,
    budget: Duration,
) -> Vec<(FailureKind, FailureSample)> {
    let mut cleaner = Cleaner {
        ctx,
        plan,
        roles,
        devices,
        borrowed: vec![None; roles.len()],
        failures: Vec::new(),
        number,
    };
    let work = async {
        for request in leftovers.undo.iter().rev() {
            cleaner
                .send(
                    request.role,
                    request.op,
                    &request.params,
                    request.done_codes,
                )
                .await;
        }
        for (role, ack, values) in &leftovers.acks {
            for chunk in values.chunks(ack.max.max(1)) {
                let mut params = Map::new();
                params.insert(ack.param.to_owned(), Value::Array(chunk.to_vec()));
                cleaner
                    .send(*role, ack.op, &Value::Object(params), &[])
                    .await;
            }
        }
    };
    let timed_out = tokio::time::timeout(budget, work).await.is_err();
    let mut failures = std::mem::take(&mut cleaner.failures);
    if timed_out {
        failures.push((
            FailureKind::new(CLEANUP_STEP, "-", "did not finish"),
            FailureSample::new(
                number,
                format!(
                    "the cleanup did not finish within {}; what it had not undone stays on the target",
                    crate::scenario::format_duration(budget)
                ),
            ),
        ));
    }
    for device in cleaner.borrowed.into_iter().flatten() {
        hang_up(ctx, &device).await;
    }
    failures
}

/// Sends cleanup requests on the session's accounts.
struct Cleaner<'a> {
    ctx: &'a RunContext,
    plan: &'a Plan,
    roles: &'a [RoleSlot],
    /// The session's devices by role, as it left them.
    devices: &'a [Vec<Option<Arc<Device>>>],
    /// Connections logged in for the cleanup, by role (for accounts the session left
    /// offline); closed when it ends.
    borrowed: Vec<Option<Arc<Device>>>,
    failures: Vec<(FailureKind, FailureSample)>,
    /// The session's number, for failure samples.
    number: u64,
}

impl Cleaner<'_> {
    fn fail(&mut self, role: usize, reason: impl Into<String>, detail: impl Into<String>) {
        self.failures.push((
            FailureKind::new(CLEANUP_STEP, self.plan.roles[role].name.clone(), reason),
            FailureSample::new(self.number, detail),
        ));
    }

    /// An open device logged in as the role's account: the session's, else one logged
    /// in now (a device the session only connected, or logged in as another account or
    /// with a refused login, is not used).
    async fn device(&mut self, role: usize) -> Option<Arc<Device>> {
        let open = self
            .devices
            .get(role)
            .and_then(|devices| devices.iter().flatten().find(|d| d.is_logged_in()).cloned());
        if let Some(device) = open.or_else(|| self.borrowed[role].clone()) {
            return Some(device);
        }
        match initial_login(self.ctx, &self.roles[role], 0).await {
            // Not measured, and not in the codes table: the cleanup's own login.
            Ok(logged) => {
                let device = Arc::new(logged.device);
                self.borrowed[role] = Some(device.clone());
                Some(device)
            }
            Err(e) => {
                self.fail(role, "cannot log in", e.to_string());
                None
            }
        }
    }

    /// Sends one cleanup request; a reply other than success or one of `done_codes` is
    /// a failure.
    async fn send(&mut self, role: usize, op: &str, params: &Value, done_codes: &[u32]) {
        let Some(spec) = self.plan.vocabulary.op(op) else {
            self.fail(
                role,
                format!("no op '{op}'"),
                format!(
                    "driver '{}' has no op '{op}' to clean up with",
                    self.plan.vocabulary.name
                ),
            );
            return;
        };
        let Some(device) = self.device(role).await else {
            return;
        };
        match device.request(spec, params.into(), self.ctx.timeout).await {
            Ok(exchange) => {
                let code = exchange.response.frame.code;
                if code != self.plan.vocabulary.ok_code && !done_codes.contains(&code) {
                    self.fail(
                        role,
                        format!("{op} answered {}", self.plan.vocabulary.code_label(code)),
                        format!(
                            "-> {} <- {}",
                            super::client::truncate(&exchange.request),
                            super::client::truncate(&exchange.response.text)
                        ),
                    );
                }
            }
            Err(failed) => self.fail(
                role,
                format!("{op}: no response"),
                format!(
                    "{} (-> {})",
                    failed.error,
                    super::client::truncate(&failed.request)
                ),
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::drivers::EventAt;
    use crate::drivers::native::{event_spec, kind_spec, op_spec};
    use crate::protocol::{EventType, Op, PushKind};
    use serde_json::json;

    fn reply(code: u32, data: Option<Value>) -> Reply {
        Reply {
            id: Some(1),
            code,
            message: String::new(),
            data: data.map(Into::into),
            error: None,
        }
    }

    /// What undoes a request comes from the op table: a created channel is closed (its
    /// id from the reply, whatever the code), a joined one left (only after a success),
    /// an `accept` only with `autoJoin: true`; other ops leave nothing.
    #[test]
    fn requests_leave_what_their_op_table_says() {
        let mut left = Leftovers::default();
        let channel = json!({"channel": {"channelId": "c1"}});
        left.request(
            200,
            0,
            op_spec(Op::Call),
            &json!({}),
            &reply(10201, Some(channel)),
        );
        left.request(
            200,
            1,
            op_spec(Op::Join),
            &json!({"channelId": "c2"}),
            &reply(200, None),
        );
        left.request(
            200,
            1,
            op_spec(Op::Join),
            &json!({"channelId": "c3"}),
            &reply(10407, None),
        );
        let accept = op_spec(Op::Accept);
        left.request(
            200,
            1,
            accept,
            &json!({"channelId": "c4"}),
            &reply(200, None),
        );
        let auto = json!({"channelId": "c5", "autoJoin": true});
        left.request(200, 1, accept, &auto, &reply(200, None));
        left.request(
            200,
            0,
            op_spec(Op::Query),
            &json!({"channelId": "c1"}),
            &reply(200, None),
        );
        left.request(200, 0, op_spec(Op::Create), &json!({}), &reply(10405, None));
        let undone: Vec<(usize, &str, Value)> = left
            .undo
            .iter()
            .map(|u| (u.role, u.op, u.params.clone()))
            .collect();
        assert_eq!(
            undone,
            vec![
                (0, "close", json!({"channelId": "c1"})),
                (1, "leave", json!({"channelId": "c2"})),
                (1, "leave", json!({"channelId": "c5"})),
            ]
        );
        assert_eq!(left.undo[0].done_codes, &[10404, 10406]);
    }

    /// Stored events a push delivered are acknowledged by their `msgid`s, per role;
    /// pushes whose kind needs no acknowledgement leave nothing.
    #[test]
    fn pushes_of_stored_events_are_acknowledged() {
        let mut left = Leftovers::default();
        let invite = event_spec(EventType::ALL[0]);
        let stored = Push {
            kind: kind_spec(PushKind::UnreadSync),
            body: json!({"events": [{"msgid": "m1"}, {"msgid": "m2"}]}).into(),
            events: vec![
                (invite, EventAt::Item("events", 0)),
                (invite, EventAt::Item("events", 1)),
            ],
        };
        let live = Push {
            kind: kind_spec(PushKind::Notify),
            body: json!({"event": {"msgid": "m9"}}).into(),
            events: vec![(invite, EventAt::Field("event"))],
        };
        left.push(1, &stored);
        left.push(1, &live);
        assert!(left.undo.is_empty());
        assert_eq!(left.acks.len(), 1);
        let (role, ack, values) = &left.acks[0];
        assert_eq!((*role, ack.op, ack.param), (1, "markRead", "msgids"));
        assert_eq!(values, &vec![json!("m1"), json!("m2")]);
        assert!(Leftovers::default().is_empty() && !left.is_empty());
    }
}
