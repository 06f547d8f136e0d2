//! One session: the plan's steps executed against one worker's accounts, with every
//! latency, code and failure buffered in the session and handed to the worker's
//! recorder when it ends.
//!
//! This file holds the session's state and the steps that send requests (`op`,
//! `connect`, `login`); [`awaits`] the steps that wait for pushes (`await`, `refute`),
//! [`raw`] the `raw` step, and [`run`] a session from start to end (cleanup and slot
//! restore included) and the runner's own logins.

mod awaits;
mod raw;
mod run;

pub(crate) use run::{initial_login, run_session};

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
use crate::drivers::{Login, OpParams, Reply as ResponseFrame};
use crate::metrics::{FailureKind, FailureSample, Recorder};
use crate::scenario::{
    AwaitStep, EventuallyStep, Expect, LoginStep, Mismatch, OpStep, Plan, PushMatcher, RawExpect,
    RawPayload, RawStep, RefuteStep, Save, Since, Step, StepKind, Target, Vars,
};

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
        // The params go straight into the request text; cleanup, which reads them, gets
        // them rendered from the same variables.
        let (request, params) = {
            let vars = self.vars();
            let request =
                device.request(op.op, OpParams::Template(op.params.with(&vars)), op.timeout);
            (request, self.plan.cleanup.then(|| op.params.render(&vars)))
        };
        let exchange = request
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
        if let Some(params) = &params {
            // Whatever the step expected: what the server did is what needs undoing.
            self.lock().leftovers.request(
                self.plan.vocabulary.ok_code,
                op.target.role,
                op.op,
                params,
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
}
