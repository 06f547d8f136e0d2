//! One session: the plan's steps executed against one worker's accounts, with every
//! latency, code and failure buffered in the session and handed to the worker's
//! recorder when it ends.

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use futures_util::future::join_all;
use serde_json::Value;
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::protocol::frame::Frame;
use tokio_tungstenite::tungstenite::protocol::frame::coding::{Data, OpCode};

use super::RunContext;
use super::cleanup::{Leftovers, clean_up};
use super::client::{ClientError, Device, PushRecord, Received, truncate};
use super::inbox::{Bounds, Counters};
use super::login::{LoggedIn, connect_and_login};
use super::slot::{RoleSlot, WorkerSlot};
use super::trace::{DeviceLabel, SessionTrace};
use crate::drivers::{Login, Reply as ResponseFrame};
use crate::metrics::{FailureKind, FailureSample, Recorder};
use crate::scenario::{
    AwaitStep, EventuallyStep, Expect, LoginStep, Mismatch, OpStep, Plan, PushMatcher, RawExpect,
    RawPayload, RawStep, RefuteStep, Save, Since, Step, StepKind, Target, Vars,
};

/// A session's cleanup (`cleanup: true`) may take this many response timeouts in all.
const CLEANUP_TIMEOUTS: u32 = 3;
/// Buffered pushes searched for the closest candidate when an await times out.
const CLOSEST_AMONG: usize = 256;
/// Characters of a buffered frame shown around the field that differs (the terminal
/// summary shows 160 per line).
const EXCERPT_CHARS: usize = 120;

/// A step failed; the rest of the session is skipped.
#[derive(Debug)]
struct Abort;

type StepResult = Result<Option<ResponseFrame>, Abort>;

/// What a session leaves behind in the session's buffer.
struct SessionState {
    vars: Vars,
    /// Send instants by `StepId`, for awaits' latency origins.
    sent: Vec<Option<Instant>>,
    /// `[role][device]`; `None`: not connected.
    devices: Vec<Vec<Option<Arc<Device>>>>,
    records: Vec<(usize, Duration, Instant)>,
    /// `(op name, code, count)` of every reply, for the report's code counts (or, for
    /// drivers that count their own, what their wires counted: see `take_codes`).
    codes: Vec<(&'static str, u32, u64)>,
    /// Metric indexes of requests that timed out (no latency to record).
    timeouts: Vec<usize>,
    failures: Vec<(FailureKind, FailureSample)>,
    /// Connections that recorded into this session's trace (to detach at its end).
    traced: Vec<Arc<Device>>,
    /// What the session left on the target for `cleanup: true` to undo.
    leftovers: Leftovers,
    /// Connections that got a push after which the target closes them (`kicked`): the
    /// session waits for the close before the slot decides what to reconnect.
    closing: Vec<Arc<Device>>,
}

pub(crate) struct Session<'a> {
    plan: &'a Plan,
    ctx: &'a RunContext,
    roles: &'a [RoleSlot],
    number: u64,
    started: Instant,
    state: Mutex<SessionState>,
    /// This session's frame trace, when it is one of the traced sessions.
    trace: Option<Arc<SessionTrace>>,
}

impl<'a> Session<'a> {
    fn lock(&self) -> MutexGuard<'_, SessionState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn role_name(&self, target: Target) -> &str {
        &self.plan.roles[target.role].name
    }

    fn fail(&self, step: &Step, target: Option<Target>, reason: String, sample: FailureSample) {
        let role = target.map_or("-", |t| self.role_name(t)).to_string();
        let kind = FailureKind::new(step.label(), role, reason);
        self.lock().failures.push((kind, sample));
    }

    fn sample(&self, detail: impl Into<String>) -> FailureSample {
        FailureSample::new(self.number, detail)
    }

    /// The device's connection, open or already closed by the server (whose buffered
    /// pushes can still be awaited: a `kicked` push arrives right before the close).
    fn slot_device(&self, target: Target) -> Option<Arc<Device>> {
        self.lock()
            .devices
            .get(target.role)?
            .get(target.device)?
            .clone()
    }

    /// The device's open connection.
    fn device(&self, target: Target) -> Option<Arc<Device>> {
        self.slot_device(target).filter(|d| !d.is_closed())
    }

    /// Starts tracing `device` as `target`'s connection, if this session is traced.
    fn trace_device(&self, target: Target, device: &Arc<Device>) {
        if let Some(trace) = &self.trace {
            let who = DeviceLabel {
                role: self.role_name(target).to_owned(),
                device: target.device + 1,
            };
            device.set_trace(Some((trace.clone(), who)));
            self.lock().traced.push(device.clone());
        }
    }

    /// Names `step` as the sender of what `device` sends next, if this session is traced.
    fn sending(&self, step: &Step, device: &Device) {
        if self.trace.is_some() {
            device.trace_step(&step.label());
        }
    }

    /// Puts `device` in the target's slot; the codes the driver counted on the
    /// connection it replaces are kept for the report.
    fn set_device(&self, target: Target, device: Option<Arc<Device>>) {
        if let Some(device) = &device {
            self.trace_device(target, device);
        }
        let mut state = self.lock();
        let state = &mut *state;
        if let Some(slot) = state
            .devices
            .get_mut(target.role)
            .and_then(|r| r.get_mut(target.device))
            && let Some(old) = std::mem::replace(slot, device)
        {
            old.take_codes(&mut state.codes);
        }
    }

    fn record(&self, metric: usize, latency: Duration, at: Instant) {
        self.lock().records.push((metric, latency, at));
    }

    fn vars(&self) -> Vars {
        self.lock().vars.clone()
    }

    /// The device a step acts on, or a failure saying it is not connected.
    fn need_device(&self, step: &Step, target: Target) -> Result<Arc<Device>, Abort> {
        self.need(step, target, self.device(target))
    }

    fn need(
        &self,
        step: &Step,
        target: Target,
        device: Option<Arc<Device>>,
    ) -> Result<Arc<Device>, Abort> {
        device.ok_or_else(|| {
            self.fail(
                step,
                Some(target),
                "device not connected".into(),
                self.sample(format!(
                    "{} device {} has no open connection (disconnected, kicked or closed by the server)",
                    self.role_name(target),
                    target.device + 1
                )),
            );
            Abort
        })
    }

    fn steps<'s>(
        &'s self,
        steps: &'s [Step],
    ) -> futures_util::future::BoxFuture<'s, Result<(), Abort>> {
        Box::pin(async move {
            for step in steps {
                self.step(step).await?;
            }
            Ok(())
        })
    }

    async fn step(&self, step: &Step) -> StepResult {
        match &step.kind {
            StepKind::Op(op) => self.op(step, op).await,
            StepKind::Login(login) => self.login(step, login).await,
            StepKind::Raw(raw) => self.raw(step, raw).await,
            StepKind::Connect(target) => self.connect(step, *target).await.map(|_| None),
            StepKind::Disconnect(target) => {
                if let Some(device) = self.device(*target) {
                    self.sending(step, &device);
                    super::slot::hang_up(self.ctx, &device).await;
                }
                self.set_device(*target, None);
                Ok(None)
            }
            StepKind::Await(a) => self.await_push(step, a).await.map(|_| None),
            StepKind::Refute(r) => self.refute(step, r).await.map(|_| None),
            StepKind::Pause(pause) => {
                let d = pause.sample(&mut rand::rng());
                tokio::time::sleep(d).await;
                Ok(None)
            }
            StepKind::Parallel(par) => {
                let results = join_all(par.branches.iter().map(|b| self.step(b))).await;
                if results.iter().any(Result::is_err) {
                    return Err(Abort);
                }
                if let Some(one) = &par.exactly_one {
                    let responses: Vec<ResponseFrame> = results
                        .into_iter()
                        .filter_map(|r| r.ok().flatten())
                        .collect();
                    if let Err(m) = one.check(responses.iter(), self.plan.vocabulary) {
                        self.fail(step, None, m.to_string(), self.sample(m.to_string()));
                        return Err(Abort);
                    }
                }
                Ok(None)
            }
            StepKind::Repeat(rep) => {
                for n in 1..=rep.count {
                    if let Some(slot) = rep.index {
                        self.lock().vars.set(slot, n.into());
                    }
                    self.steps(&rep.steps).await?;
                }
                Ok(None)
            }
            StepKind::Eventually(ev) => self.eventually(ev).await.map(|_| None),
        }
    }

    /// Runs the probes again and again until one round passes them all. Failures of
    /// rounds that are tried again are forgotten; when the deadline passes, the last
    /// round's failure stands, saying how long and how often it was tried.
    async fn eventually(&self, ev: &EventuallyStep) -> Result<(), Abort> {
        let started = Instant::now();
        let deadline = started + ev.within;
        let mut attempts = 0u32;
        loop {
            attempts += 1;
            let mark = {
                let mut state = self.lock();
                if let Some(slot) = ev.index {
                    state.vars.set(slot, attempts.into());
                }
                state.failures.len()
            };
            if self.steps(&ev.steps).await.is_ok() {
                return Ok(());
            }
            if Instant::now() + ev.every < deadline {
                self.lock().failures.truncate(mark);
                tokio::time::sleep(ev.every).await;
                continue;
            }
            let mut state = self.lock();
            for (kind, sample) in state.failures.iter_mut().skip(mark) {
                kind.reason = format!("{} (eventually: still after {:?})", kind.reason, ev.within);
                sample.detail = format!(
                    "{} [tried {attempts} times over {:?}]",
                    sample.detail,
                    started.elapsed()
                );
            }
            return Err(Abort);
        }
    }

    fn client_failure(&self, step: &Step, target: Target, e: &ClientError, request: &str) -> Abort {
        let reason = match e {
            ClientError::Timeout(..) => "no response".to_string(),
            ClientError::Closed(_) => "connection closed".to_string(),
            ClientError::Connect { .. } => "cannot connect".to_string(),
            ClientError::Silent { .. } => "no handshake".to_string(),
            ClientError::Protocol(_) => "unreadable reply".to_string(),
        };
        self.fail(
            step,
            Some(target),
            reason,
            self.sample(e.to_string())
                .with_frame(format!("-> {}", truncate(request))),
        );
        Abort
    }

    /// A request that got no response: a failure, and a timeout of its metric.
    fn request_failure(
        &self,
        step: &Step,
        target: Target,
        metric: usize,
        e: &ClientError,
        request: &str,
    ) -> Abort {
        if matches!(e, ClientError::Timeout(..)) {
            self.lock().timeouts.push(metric);
        }
        self.client_failure(step, target, e, request)
    }

    /// Checks a response against an expectation and applies its saves.
    fn check_response(
        &self,
        step: &Step,
        target: Target,
        request: &str,
        response: &Received<ResponseFrame>,
        expect: &Expect,
        saves: &[Save],
    ) -> Result<(), Abort> {
        let mut state = self.lock();
        let result = expect
            .check(&response.frame, &state.vars, self.plan.vocabulary)
            .and_then(|()| {
                saves
                    .iter()
                    .try_for_each(|s| s.apply_response(&response.frame, &mut state.vars))
            });
        drop(state);
        result.map_err(|m: Mismatch| {
            self.fail(
                step,
                Some(target),
                m.to_string(),
                self.sample(m.to_string())
                    .with_frame(format!("-> {}", truncate(request)))
                    .with_frame(format!("<- {}", truncate(&response.text))),
            );
            Abort
        })
    }

    async fn op(&self, step: &Step, op: &OpStep) -> StepResult {
        let device = self.need_device(step, op.target)?;
        self.sending(step, &device);
        let params = op.params.render(&self.lock().vars);
        let exchange = device
            .request(op.op, &params, op.timeout)
            .await
            .map_err(|f| self.request_failure(step, op.target, op.metric, &f.error, &f.request))?;
        let response = &exchange.response;
        {
            let mut state = self.lock();
            state.sent[op.id.0] = Some(exchange.sent);
            if !self.ctx.driver.counts_codes() {
                state.codes.push((op.op.name, response.frame.code, 1));
            }
        }
        self.record(op.metric, response.at - exchange.sent, response.at);
        if self.plan.cleanup {
            // Whatever the step expected: what the server did is what needs undoing.
            self.lock().leftovers.request(
                self.plan.vocabulary.ok_code,
                op.target.role,
                op.op,
                &params,
                &response.frame,
            );
        }
        self.check_response(
            step,
            op.target,
            &exchange.request,
            response,
            &op.expect,
            &op.save,
        )?;
        Ok(Some(exchange.response.frame))
    }

    async fn connect(&self, step: &Step, target: Target) -> Result<Arc<Device>, Abort> {
        if let Some(device) = self.device(target) {
            return Ok(device);
        }
        let role = &self.roles[target.role];
        let device_name = role.device_name(target.device);
        match Device::connect(
            &self.ctx.target,
            role.source,
            self.ctx.timeout,
            &*self.ctx.driver,
            role.identity(&device_name),
        )
        .await
        {
            Ok(device) => {
                let device = Arc::new(device);
                self.set_device(target, Some(device.clone()));
                Ok(device)
            }
            Err(e) => Err(self.client_failure(step, target, &e, "(connect)")),
        }
    }

    /// A `login` step connects when the device has no open connection, then runs the
    /// driver's login (native, on an open, logged-in connection that is a second login:
    /// 414, §P-3.1).
    async fn login(&self, step: &Step, login: &LoginStep) -> StepResult {
        let connect_started = Instant::now();
        let device = self.connect(step, login.target).await?;
        self.sending(step, &device);
        let role = &self.roles[login.target.role];
        let device_name = role.device_name(login.target.device);
        let params = login.params.render(&self.lock().vars);
        // A step that names another account (`login: {account: "${crowd}-${n}"}`) logs
        // in with that account's token, where the runner can derive it.
        let named = params
            .get("account")
            .and_then(serde_json::Value::as_str)
            .filter(|a| *a != role.creds.account)
            .and_then(|a| Some((a.to_string(), self.ctx.tokens.token(a)?)));
        let who = match &named {
            Some((account, token)) => crate::drivers::Identity {
                account,
                token,
                device: &device_name,
            },
            None => role.identity(&device_name),
        };
        let exchange = self
            .ctx
            .driver
            .login(
                &device,
                Login {
                    who,
                    params,
                    timeout: login.timeout,
                },
            )
            .await
            .map_err(|f| {
                self.request_failure(step, login.target, login.metric, &f.error, &f.request)
            })?;
        let response = &exchange.response;
        if named.is_none() && response.frame.code == self.ctx.driver.vocabulary().ok_code {
            device.mark_logged_in();
        }
        {
            let mut state = self.lock();
            state.sent[login.id.0] = Some(exchange.sent);
            if !self.ctx.driver.counts_codes() {
                state.codes.push((login.op.name, response.frame.code, 1));
            }
        }
        self.record(login.metric, response.at - connect_started, response.at);
        self.check_response(
            step,
            login.target,
            &exchange.request,
            response,
            &login.expect,
            &login.save,
        )?;
        Ok(Some(exchange.response.frame))
    }

    async fn raw(&self, step: &Step, raw: &RawStep) -> StepResult {
        let device = self.connect(step, raw.target).await?;
        self.sending(step, &device);
        let payload = raw.frame.render(&self.lock().vars);
        let (messages, shown) = match payload {
            RawPayload::Text(text) => {
                let shown = truncate(&text);
                (fragment(text, raw.frame.fragments()), shown)
            }
            RawPayload::Binary(bytes) => {
                let shown = format!("(binary, {} bytes)", bytes.len());
                (vec![Message::binary(bytes)], shown)
            }
            RawPayload::Close(code) => {
                let frame = CloseFrame {
                    code: code.into(),
                    reason: "".into(),
                };
                (vec![Message::Close(Some(frame))], format!("(Close {code})"))
            }
        };
        let sent = device
            .send_raw(messages)
            .await
            .map_err(|e| self.client_failure(step, raw.target, &e, &shown))?;
        self.lock().sent[raw.id.0] = Some(sent);
        let deadline = sent + raw.timeout;
        match &raw.expect {
            RawExpect::Response(expect) => {
                let response = device
                    .next_unclaimed(sent, raw.timeout)
                    .await
                    .map_err(|e| {
                        if matches!(e, ClientError::Timeout(..)) {
                            // Its reply may still come: it must not answer a later step.
                            device.expire_unclaimed();
                        }
                        self.request_failure(step, raw.target, raw.metric, &e, &shown)
                    })?;
                self.record(raw.metric, response.at - sent, response.at);
                self.check_response(step, raw.target, &shown, &response, expect, &[])?;
                Ok(Some(response.frame))
            }
            RawExpect::Close(want) => match device.closed(deadline).await {
                Some(code) if code == Some(*want) => {
                    let now = Instant::now();
                    self.record(raw.metric, now - sent, now);
                    self.set_device(raw.target, None);
                    Ok(None)
                }
                got => {
                    let got = match got {
                        None => format!("connection still open after {:?}", raw.timeout),
                        Some(None) => match device.close_note() {
                            Some(note) => format!("no Close frame ({note})"),
                            None => "a Close frame without a close code".into(),
                        },
                        Some(Some(code)) => format!("close code {code}"),
                    };
                    let m = Mismatch::new(format!("close code {want}"), got);
                    self.fail(
                        step,
                        Some(raw.target),
                        m.to_string(),
                        self.sample(m.to_string()).with_frame(format!("-> {shown}")),
                    );
                    Err(Abort)
                }
            },
        }
    }

    fn origin(&self, since: Since) -> Instant {
        match since {
            Since::SessionStart => self.started,
            Since::Step(id) => self
                .lock()
                .sent
                .get(id.0)
                .copied()
                .flatten()
                .unwrap_or(self.started),
        }
    }

    async fn await_push(&self, step: &Step, a: &AwaitStep) -> Result<(), Abort> {
        let device = self.need(step, a.target, self.slot_device(a.target))?;
        let vars = self.vars();
        let deadline = Instant::now() + a.within;
        let found = device
            .take_push(deadline, |push| a.matcher.matches(push, &vars))
            .await;
        let Some(push) = found else {
            self.lock().timeouts.push(a.metric);
            let wanted = a.matcher.describe(&vars);
            let mut sample = self.sample(format!("waited {:?} for {wanted}", a.within));
            let buffered = device.buffered(CLOSEST_AMONG);
            let closest = a.matcher.closest(buffered.iter().map(|r| &r.push), &vars);
            match closest {
                Some(c) => {
                    let text = &buffered[c.index].text;
                    let what = if c.differing.is_empty() {
                        "matches, but arrived too late or after a `before` push".to_owned()
                    } else {
                        c.differing
                            .iter()
                            .map(|d| d.describe())
                            .collect::<Vec<_>>()
                            .join("; ")
                    };
                    sample = sample.with_frame(format!(
                        "closest buffered {}: {what}",
                        awaited_label(&a.matcher)
                    ));
                    // The part of the frame where it differs, not the first KiB of it.
                    let excerpt = match c.differing.first() {
                        Some(d) => d.excerpt(text, EXCERPT_CHARS),
                        None => truncate(text),
                    };
                    sample = sample.with_frame(format!("<- {excerpt}"));
                }
                None => {
                    for other in buffered.iter().take(3) {
                        sample = sample.with_frame(format!("buffered: {}", truncate(&other.text)));
                    }
                }
            }
            let reason = if device.is_closed() {
                format!(
                    "connection closed while awaiting {}",
                    awaited_label(&a.matcher)
                )
            } else {
                format!("no {} within {:?}", awaited_label(&a.matcher), a.within)
            };
            self.fail(step, Some(a.target), reason, sample);
            return Err(Abort);
        };
        if push.push.kind.ends_connection {
            self.lock().closing.push(device.clone());
        }
        if self.plan.cleanup {
            self.lock().leftovers.push(a.target.role, &push.push);
        }
        let origin = self.origin(a.since);
        self.record(a.metric, push.at.saturating_duration_since(origin), push.at);
        if !a.save.is_empty() {
            let mut state = self.lock();
            let root = a
                .matcher
                .find(&push.push, &state.vars)
                .cloned()
                .unwrap_or(Value::Null);
            let result = a
                .save
                .iter()
                .try_for_each(|s| s.apply(&root, &mut state.vars));
            drop(state);
            if let Err(m) = result {
                self.fail(
                    step,
                    Some(a.target),
                    m.to_string(),
                    self.sample(m.to_string())
                        .with_frame(format!("<- {}", truncate(&push.text))),
                );
                return Err(Abort);
            }
        }
        Ok(())
    }

    async fn refute(&self, step: &Step, r: &RefuteStep) -> Result<(), Abort> {
        let Some(device) = self.device(r.target) else {
            // Nothing can arrive on a connection that does not exist.
            tokio::time::sleep(r.within).await;
            return Ok(());
        };
        let vars = self.vars();
        let deadline = Instant::now() + r.within;
        let found: Option<PushRecord> = device
            .take_push(deadline, |push| r.matcher.matches(push, &vars))
            .await;
        if let Some(push) = found {
            let reason = format!("unexpected {}", awaited_label(&r.matcher));
            self.fail(
                step,
                Some(r.target),
                reason,
                self.sample(format!(
                    "{} arrived within {:?}",
                    r.matcher.describe(&vars),
                    r.within
                ))
                .with_frame(format!("<- {}", truncate(&push.text))),
            );
            return Err(Abort);
        }
        if device.is_closed() {
            // The wait ended early because the connection closed: still wait out the window.
            tokio::time::sleep_until(deadline).await;
        }
        Ok(())
    }
}

/// A text message as one frame, or split into `parts` frames (a text frame, then
/// continuations) at character boundaries.
fn fragment(text: String, parts: usize) -> Vec<Message> {
    if parts <= 1 {
        return vec![Message::text(text)];
    }
    let step = text.len().div_ceil(parts).max(1);
    let mut pieces = Vec::with_capacity(parts);
    let mut start = 0;
    while start < text.len() {
        let mut end = (start + step).min(text.len());
        while !text.is_char_boundary(end) {
            end += 1;
        }
        pieces.push(&text[start..end]);
        start = end;
    }
    let last = pieces.len().saturating_sub(1);
    pieces
        .iter()
        .enumerate()
        .map(|(i, piece)| {
            let opcode = if i == 0 {
                OpCode::Data(Data::Text)
            } else {
                OpCode::Data(Data::Continue)
            };
            Message::Frame(Frame::message(piece.to_string(), opcode, i == last))
        })
        .collect()
}

/// `INVITE` or `kicked`: what a matcher waits for, for failure kinds (without the
/// per-session match values, so failures group).
fn awaited_label(m: &PushMatcher) -> &'static str {
    m.awaited.label()
}

/// Runs one session on a worker's accounts and hands its measurements to `recorder`.
pub(crate) async fn run_session(
    plan: &Plan,
    ctx: &RunContext,
    slot: &mut WorkerSlot,
    recorder: &mut Recorder,
    number: u64,
    flow: Option<usize>,
    intended_start: Instant,
) {
    let accounts: Vec<&str> = slot
        .roles
        .iter()
        .map(|r| r.creds.account.as_str())
        .collect();
    let session_id = format!("{}-{number}", ctx.run_id);
    let mut vars = plan.new_vars(&ctx.run_id, &session_id, &accounts);
    if let Err(dry) = plan.data.fill(&mut vars, number) {
        // Not a failure of the server: the run has no data left for this session.
        ctx.stop_early(dry.to_string());
        return;
    }
    let mut between = Vec::new();
    for (role_index, role) in slot.roles.iter().enumerate() {
        for device in role.devices.iter().flatten() {
            // Pushes and replies left over from an earlier session must not satisfy this
            // one's steps; what was dropped meanwhile is still reported.
            between.push((role_index, device.reset()));
        }
    }
    let session = Session {
        plan,
        ctx,
        roles: &slot.roles,
        number,
        started: intended_start,
        state: Mutex::new(SessionState {
            vars,
            sent: vec![None; plan.timed_steps],
            devices: slot.roles.iter().map(|r| r.devices.clone()).collect(),
            records: Vec::new(),
            codes: Vec::new(),
            timeouts: Vec::new(),
            failures: Vec::new(),
            traced: Vec::new(),
            leftovers: Leftovers::default(),
            closing: Vec::new(),
        }),
        trace: ctx
            .tracer
            .as_ref()
            .filter(|t| t.wants(number))
            .map(|_| Arc::new(SessionTrace::new(number, intended_start))),
    };
    if session.trace.is_some() {
        for (r, role) in slot.roles.iter().enumerate() {
            for (d, device) in role.devices.iter().enumerate() {
                if let Some(device) = device {
                    session.trace_device(Target { role: r, device: d }, device);
                }
            }
        }
    }
    let (steps, flow) = plan.session_steps(number, flow);
    let mut ok = session.steps(steps).await.is_ok();
    let ended = Instant::now();
    let trace = session.trace;
    let state = session
        .state
        .into_inner()
        .unwrap_or_else(|p| p.into_inner());
    if let (Some(trace), Some(tracer)) = (trace, &ctx.tracer) {
        for device in &state.traced {
            device.set_trace(None);
        }
        tracer.add(&trace);
    }
    let mut failures = state.failures;
    let mut codes = state.codes;
    let mut leftovers = state.leftovers;
    let mut closing = state.closing;
    // Late replies are the echo of a timeout already counted: reported, not a failure.
    let mut late = 0;
    for (role_index, counters) in between {
        late += counters.late_replies;
        inbox_failures(
            &plan.roles[role_index].name,
            number,
            counters,
            &mut failures,
        );
    }

    // What the session's connections saw besides what the steps consumed.
    for (role_index, devices) in state.devices.iter().enumerate() {
        let role = &plan.roles[role_index].name;
        for device in devices.iter().flatten() {
            device.take_codes(&mut codes);
            let counters = device.take_counters();
            late += counters.late_replies;
            inbox_failures(role, number, counters, &mut failures);
            let unconsumed = device.drain_pushes();
            if unconsumed.iter().any(|p| p.push.kind.ends_connection) {
                closing.push(device.clone());
            }
            if plan.cleanup {
                for push in &unconsumed {
                    leftovers.push(role_index, &push.push);
                }
            }
            if plan.strict {
                for push in unconsumed.iter().filter(|p| p.push.kind.strict) {
                    let what = push.push.events.first().map_or("?", |(e, _)| e.name);
                    failures.push((
                        FailureKind::new(
                            "session",
                            role.clone(),
                            format!("unconsumed {} {what} (strict)", push.push.kind.name),
                        ),
                        FailureSample::new(number, "a push arrived that no step consumed")
                            .with_frame(format!("<- {}", truncate(&push.text))),
                    ));
                }
            }
        }
    }
    ok &= failures.is_empty();
    if plan.cleanup && !leftovers.is_empty() {
        // Not the session's failures: it is judged already. They fail the run.
        let budget = ctx.timeout.saturating_mul(CLEANUP_TIMEOUTS);
        // Boxed, as `restore` below: rare or after the steps, and large, they would
        // otherwise make every session's future (held while a session idles in a
        // pause) their size.
        for (kind, sample) in Box::pin(clean_up(
            ctx,
            plan,
            &slot.roles,
            &state.devices,
            leftovers,
            number,
            budget,
        ))
        .await
        {
            recorder.failure(kind, sample);
        }
    }
    if late > 0 {
        // Does not fail this session: the timeout it answers already failed an earlier one.
        recorder.failure(
            FailureKind::new("session", "-", "late response (dropped)"),
            FailureSample::new(
                number,
                format!(
                    "{late} responses arrived after their request had timed out; no step took them"
                ),
            ),
        );
    }

    for (metric, latency, at) in state.records {
        recorder.record_at(ctx.metric_ids[metric], latency, at.into_std());
    }
    for metric in state.timeouts {
        recorder.timeout(ctx.metric_ids[metric]);
    }
    for (op, code, n) in codes {
        recorder.count_codes(op, code, n);
    }
    for (mut kind, sample) in failures {
        // Session-level failures name the flow in a mix.
        if let Some(flow) = flow
            && kind.step == "session"
        {
            kind.step = format!("{}/session", flow.name);
        }
        recorder.failure(kind, sample);
    }
    let took = ended.saturating_duration_since(intended_start);
    recorder.record_at(ctx.metric_ids[Plan::SESSION_METRIC], took, ended.into_std());
    if let Some(flow) = flow {
        recorder.record_at(ctx.metric_ids[flow.session_metric], took, ended.into_std());
        if !ok {
            recorder.record_at(ctx.metric_ids[flow.failed_metric], took, ended.into_std());
        }
    }
    recorder.session_done(ok);
    if !ok
        && let Some(max) = plan.max_failures
        && recorder.failed_sessions() >= max
    {
        ctx.stop_early(format!("max_failures: {max} sessions failed"));
    }

    // A connection the target said it closes is closed before the slot looks at it:
    // its close frame may still be in flight, and a reused connection on its way out
    // fails the next session's first await on it (bounded: a target that never
    // closes it leaves it open).
    let deadline = Instant::now() + ctx.timeout;
    for device in closing {
        device.closed(deadline).await;
    }
    // Give the devices back to the slot, then restore each role's starting state.
    for (role, devices) in slot.roles.iter_mut().zip(state.devices) {
        role.devices = devices;
    }
    Box::pin(slot.restore(plan, ctx, recorder)).await;
}

/// Failures for what a connection's inbox had to drop or could not read: a target that
/// floods the harness or sends broken frames fails the session.
fn inbox_failures(
    role: &str,
    number: u64,
    counters: Counters,
    failures: &mut Vec<(FailureKind, FailureSample)>,
) {
    let kind = |reason: &str| FailureKind::new("session", role.to_string(), reason);
    for bad in &counters.malformed_samples {
        failures.push((
            kind("malformed server frame"),
            FailureSample::new(number, "a frame that breaks §P-2").with_frame(bad.clone()),
        ));
    }
    let unsampled = counters.malformed - counters.malformed_samples.len() as u64;
    if unsampled > 0 {
        failures.push((
            kind("malformed server frame"),
            FailureSample::new(number, format!("{unsampled} more malformed frames")),
        ));
    }
    if counters.pushes_dropped > 0 {
        failures.push((
            kind("push buffer overflow"),
            FailureSample::new(
                number,
                format!(
                    "{} pushes dropped: the target sent more than the {} KiB of unconsumed pushes the harness keeps per connection",
                    counters.pushes_dropped,
                    Bounds::default().push_bytes / 1024
                ),
            ),
        ));
    }
    if counters.unclaimed_dropped > 0 {
        failures.push((
            kind("unsolicited responses"),
            FailureSample::new(
                number,
                format!(
                    "{} responses dropped that answered no request of this connection (more than the {} KiB the harness keeps)",
                    counters.unclaimed_dropped,
                    Bounds::default().unclaimed_bytes / 1024
                ),
            ),
        ));
    }
}

/// Logs a device in as the runner does before sessions: connect + login + syncs.
pub(crate) async fn initial_login(
    ctx: &RunContext,
    role: &RoleSlot,
    device: usize,
) -> Result<LoggedIn, super::login::LoginFailed> {
    let device_name = role.device_name(device);
    connect_and_login(
        &*ctx.driver,
        &ctx.target,
        role.source,
        role.identity(&device_name),
        Value::Null,
        ctx.timeout,
        true,
    )
    .await
}
