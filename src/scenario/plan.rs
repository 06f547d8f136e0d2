//! The validated, typed run plan: what the runner executes. Nothing here refers to YAML;
//! every name is resolved to an index, every template compiled, every duration parsed.

use std::time::Duration;

use super::data::DataPlan;
use super::expect::{ExactlyOne, Expect, RawExpect, Save};
use super::matcher::{Awaited, PushMatcher};
use super::template::{StrTemplate, Template, VarLayout, Vars};
use super::threshold::Threshold;
use super::timing::{LoadModel, Pause, Rate};
use crate::drivers::{OpSpec, Vocabulary};

/// A scenario ready to run.
#[derive(Clone, Debug, PartialEq)]
pub struct Plan {
    /// `name:` (defaults to the file stem).
    pub name: String,
    /// `description:` (empty when absent).
    pub description: String,
    /// The file the plan was loaded from, for failure messages.
    pub source: String,
    /// The names the plan was compiled against: its driver's vocabulary (`driver:`).
    pub vocabulary: &'static Vocabulary,
    /// `profile:`: the wire profile the plan is run through (unless the command line
    /// gives another).
    pub profile: Option<crate::drivers::profile::ProfileRef>,
    /// Roles in declaration order; [`Target::role`] indexes this.
    pub roles: Vec<Role>,
    pub load: LoadModel,
    /// Accounts connected and logged in per second before the first session.
    pub login_rate: Rate,
    /// Hard stop: the run ends after this long whatever the load model says.
    pub max_duration: Option<Duration>,
    /// Sessions cut off by `max_duration` do not fail the run (`load.aborts_expected`).
    pub aborts_expected: bool,
    /// `load.unresponsive_after`: the run ends when the target answers nothing for this
    /// long while requests wait; `None`: [`Plan::unresponsive_limit`]'s default.
    pub unresponsive_after: Option<Duration>,
    /// Fail a session when one of its connections received a push of a kind the driver
    /// marks strict (native: `notify`, `multiClientSync`) that no `await` consumed.
    pub strict: bool,
    /// `accounts: fresh`: every session gets accounts no session used before (logged in
    /// after the previous session of its slot ended), so per-account server state never
    /// carries over.
    pub fresh_accounts: bool,
    /// `cleanup: true`: after each session the runner undoes the per-account state the
    /// session left, as the driver's tables say how (`runner::cleanup`).
    pub cleanup: bool,
    /// Default time limit for responses and awaits (`timeout:`, default 5 s).
    pub timeout: Duration,
    /// What a session does; empty in a mix, whose sessions run one of [`Plan::flows`].
    pub steps: Vec<Step>,
    /// `flows:`: a mix; empty for a single-flow scenario.
    pub flows: Vec<Flow>,
    /// Which flow session `n` runs: `flow_schedule[n % len]` (a weighted interleaving).
    pub flow_schedule: Vec<u16>,
    pub thresholds: Vec<Threshold>,
    /// Thresholds that stop the run as soon as they break (`abort: true`), checked
    /// while it runs.
    pub aborts: Vec<AbortRule>,
    /// `load.max_failures`: stop the run once this many sessions have failed.
    pub max_failures: Option<u64>,
    /// Feeders and generated values: set in every session's variables when it starts.
    pub data: DataPlan,
    /// Every metric the plan produces; steps and thresholds refer to them by index.
    /// Index [`Plan::LOGIN_METRIC`] is `login`, [`Plan::SESSION_METRIC`] is `session`.
    pub metrics: Vec<Metric>,
    /// Number of [`StepId`]s: the size of the per-session send-time table.
    pub timed_steps: usize,
    /// The session variables' layout.
    pub vars: VarLayout,
}

impl Plan {
    /// Metric index of connect + login (initial logins and `login` steps without a name).
    pub const LOGIN_METRIC: usize = 0;
    /// Metric index of whole sessions (start → last step done).
    pub const SESSION_METRIC: usize = 1;
    /// How long the target may answer nothing while requests wait before the run ends:
    /// `load.unresponsive_after`, else the longer of 30 s and three response timeouts.
    pub fn unresponsive_limit(&self) -> Duration {
        self.unresponsive_after
            .unwrap_or_else(|| Duration::from_secs(30).max(self.timeout.saturating_mul(3)))
    }

    /// A fresh variable store for one session. `accounts[i]` is the account name playing
    /// `roles[i]`; missing entries are left `null`.
    pub fn new_vars(&self, run_id: &str, session_id: impl Into<String>, accounts: &[&str]) -> Vars {
        let mut vars = Vars::with_len(self.vars.len());
        for (role, account) in accounts.iter().enumerate().take(self.roles.len()) {
            vars.set(self.vars.role_slot(role), (*account).into());
        }
        vars.set(
            self.vars.session_slot(),
            serde_json::Value::String(session_id.into()),
        );
        vars.set(self.vars.run_slot(), run_id.into());
        vars
    }

    /// The metric names, in index order.
    pub fn metric_names(&self) -> impl Iterator<Item = &str> {
        self.metrics.iter().map(|m| m.name.as_str())
    }

    /// The index of a metric by name.
    pub fn metric_id(&self, name: &str) -> Option<usize> {
        self.metrics.iter().position(|m| m.name == name)
    }

    /// The steps session `number` runs, and its flow in a mix: `flow` when the session
    /// belongs to a flow's own load, else the weighted schedule's.
    pub fn session_steps(&self, number: u64, flow: Option<usize>) -> (&[Step], Option<&Flow>) {
        if let Some(flow) = flow.and_then(|i| self.flows.get(i)) {
            return (&flow.steps, Some(flow));
        }
        if self.flow_schedule.is_empty() {
            return (&self.steps, None);
        }
        let at = (number % self.flow_schedule.len() as u64) as usize;
        match self.flows.get(usize::from(self.flow_schedule[at])) {
            Some(flow) => (&flow.steps, Some(flow)),
            None => (&self.steps, None),
        }
    }

    /// Every step, depth first in document order (group and repeat steps before their
    /// children).
    pub fn all_steps(&self) -> Vec<&Step> {
        fn walk<'a>(steps: &'a [Step], out: &mut Vec<&'a Step>) {
            for step in steps {
                out.push(step);
                match &step.kind {
                    StepKind::Parallel(p) => walk(&p.branches, out),
                    StepKind::Repeat(r) => walk(&r.steps, out),
                    StepKind::Eventually(e) => walk(&e.steps, out),
                    _ => {}
                }
            }
        }
        let mut out = Vec::new();
        walk(&self.steps, &mut out);
        for flow in &self.flows {
            walk(&flow.steps, &mut out);
        }
        out
    }

    /// Multiplies every wait by `factor` (`--timeout-scale`): the default timeout, each
    /// response timeout, each await and quiet window, each `eventually` deadline. Pauses
    /// (think time, or waits measured against the server's TTLs) stay as they are.
    pub fn scale_waits(&mut self, factor: f64) {
        fn scale(d: &mut Duration, factor: f64) {
            *d = Duration::try_from_secs_f64(d.as_secs_f64() * factor).unwrap_or(*d);
        }
        fn walk(steps: &mut [Step], factor: f64) {
            for step in steps {
                match &mut step.kind {
                    StepKind::Op(s) => scale(&mut s.timeout, factor),
                    StepKind::Login(s) => scale(&mut s.timeout, factor),
                    StepKind::Raw(s) => scale(&mut s.timeout, factor),
                    StepKind::Await(s) => scale(&mut s.within, factor),
                    StepKind::Refute(s) => scale(&mut s.within, factor),
                    StepKind::Eventually(s) => {
                        scale(&mut s.within, factor);
                        walk(&mut s.steps, factor);
                    }
                    StepKind::Parallel(p) => walk(&mut p.branches, factor),
                    StepKind::Repeat(r) => walk(&mut r.steps, factor),
                    StepKind::Connect(_) | StepKind::Disconnect(_) | StepKind::Pause(_) => {}
                }
            }
        }
        if factor.is_finite() && factor > 0.0 && factor != 1.0 {
            scale(&mut self.timeout, factor);
            walk(&mut self.steps, factor);
            for flow in &mut self.flows {
                walk(&mut flow.steps, factor);
            }
        }
    }

    /// Every negative check (`refute`) a complete session makes: the step, the role
    /// (with `#device` when the role has several) and how long it listens, with how
    /// many times it runs (`repeat`).
    pub fn negative_checks(&self) -> Vec<(String, String, Duration, u64)> {
        fn walk(
            plan: &Plan,
            steps: &[Step],
            times: u64,
            out: &mut Vec<(String, String, Duration, u64)>,
        ) {
            for step in steps {
                match &step.kind {
                    StepKind::Refute(r) => {
                        let role = &plan.roles[r.target.role];
                        let who = if role.devices > 1 {
                            format!("{}#{}", role.name, r.target.device + 1)
                        } else {
                            role.name.clone()
                        };
                        out.push((step.label(), who, r.within, times));
                    }
                    StepKind::Parallel(p) => walk(plan, &p.branches, times, out),
                    StepKind::Repeat(r) => walk(plan, &r.steps, times.saturating_mul(r.count), out),
                    _ => {}
                }
            }
        }
        let mut out = Vec::new();
        walk(self, &self.steps, 1, &mut out);
        out
    }

    /// The per-account server state the plan's steps create or read, each with whether
    /// `cleanup: true` removes it, as the driver's vocabulary says: params that leave
    /// such state (`pushToken`, `offlineEnabled: true`), pushes that read it
    /// (`unreadSync`, acknowledged after reading) and what the target keeps for offline
    /// accounts (removed when the driver can acknowledge stored events).
    pub fn account_state(&self) -> Vec<(&'static str, bool)> {
        let vars = self.new_vars("", "", &[]);
        let mut reasons: Vec<(&'static str, bool)> = Vec::new();
        let mut add = |what: &'static str, cleaned_up: bool| {
            if !reasons.iter().any(|(w, _)| *w == what) {
                reasons.push((what, cleaned_up));
            }
        };
        let acks = self.vocabulary.kinds.iter().any(|k| k.ack.is_some());
        for step in self.all_steps() {
            let (op, params) = match &step.kind {
                StepKind::Op(s) => (s.op, s.params.render(&vars)),
                StepKind::Login(s) => (s.op, s.params.render(&vars)),
                StepKind::Await(AwaitStep { matcher, .. })
                | StepKind::Refute(RefuteStep { matcher, .. }) => {
                    let kind = match matcher.awaited {
                        Awaited::Push(kind) => kind,
                        Awaited::Event { via, .. } => via,
                    };
                    if let Some(what) = kind.account_state {
                        add(what, kind.ack.is_some());
                    }
                    continue;
                }
                _ => continue,
            };
            for state in op.account_state {
                let given = params.get(state.param);
                let leaves = match state.when_true {
                    true => given == Some(&serde_json::Value::Bool(true)),
                    // A templated value counts: it is given, whatever it renders to.
                    false => given.is_some(),
                };
                if leaves {
                    add(state.what, state.cleaned_up);
                }
            }
        }
        if self.roles.iter().any(|r| !r.online)
            && let Some(what) = self.vocabulary.offline_state
        {
            add(what, acks);
        }
        reasons
    }

    /// The index of a role by name.
    pub fn role_id(&self, name: &str) -> Option<usize> {
        self.roles.iter().position(|r| r.name == name)
    }
}

/// One flow of a mix.
#[derive(Clone, Debug, PartialEq)]
pub struct Flow {
    pub name: String,
    /// Share of the sessions: weight / sum of the weights; 0 when the flow has a load
    /// of its own (part of a [`LoadModel::PerFlow`]).
    pub weight: u32,
    /// Step names are `<flow>/<name>`.
    pub steps: Vec<Step>,
    /// `<flow>/session`: every session of the flow.
    pub session_metric: usize,
    /// `<flow>/failed sessions`: the flow's failed sessions (their durations).
    pub failed_metric: usize,
}

/// `abort: true` on a threshold: the run stops when the threshold breaks while it runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AbortRule {
    /// Index into [`Plan::thresholds`].
    pub threshold: usize,
    /// `abort_after:`: not judged before this much of the load has run (zero: from the
    /// start), so that the first few sessions cannot stop a run on their own.
    pub after: Duration,
}

/// A role: one account per session, on `devices` connections.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Role {
    pub name: String,
    /// Devices (connections) of the account, at least 1. Device `i` logs in with the
    /// device name the runner chooses for index `i`.
    pub devices: usize,
    /// `true` (default): every device is connected and logged in when a session starts.
    /// `false`: no device is; the session's `login` steps bring them online, and the
    /// runner disconnects them again when the session ends.
    pub online: bool,
}

/// What a histogram measures.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MetricKind {
    /// Connect + login.
    Login,
    /// A whole session.
    Session,
    /// Request → response (op and raw steps).
    Op,
    /// Latency origin (`since`) → push received.
    Await,
}

/// A named metric.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Metric {
    pub name: String,
    pub kind: MetricKind,
}

/// Index of a step that sends something (op, login, raw) in the per-session send-time
/// table; awaits measure from one of them (see [`Since`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct StepId(pub usize);

/// Which connection a step acts on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Target {
    /// Index into [`Plan::roles`].
    pub role: usize,
    /// 0-based device index (`as: callee#2` is device 1).
    pub device: usize,
}

/// One step.
#[derive(Clone, Debug, PartialEq)]
pub struct Step {
    /// `name:`, unique in the scenario when given.
    pub name: Option<String>,
    /// Line in the scenario file, for failure messages.
    pub line: u32,
    pub kind: StepKind,
}

impl Step {
    /// `name` or, for unnamed steps, `<what> (line N)`; for failure messages.
    pub fn label(&self) -> String {
        match &self.name {
            Some(n) => n.clone(),
            None => format!("{} (line {})", self.kind.what(), self.line),
        }
    }
}

/// What a step does.
#[derive(Clone, Debug, PartialEq)]
pub enum StepKind {
    /// Send a request and check its response.
    Op(OpStep),
    /// Connect (if not connected) and log in.
    Login(LoginStep),
    /// Send an arbitrary frame.
    Raw(RawStep),
    /// Open the device's WebSocket without logging in.
    Connect(Target),
    /// Close the device's WebSocket.
    Disconnect(Target),
    /// Wait for a push (it may already be buffered).
    Await(AwaitStep),
    /// Fail if a matching push arrives (or is buffered) within the window.
    Refute(RefuteStep),
    Pause(Pause),
    /// Run branches at once; done when all are done.
    Parallel(ParallelStep),
    Repeat(RepeatStep),
    /// Repeat side-effect-free requests until all hold, within a deadline.
    Eventually(EventuallyStep),
}

impl StepKind {
    /// A short description: the op name, `await INVITE`, `pause`, …
    pub fn what(&self) -> String {
        match self {
            StepKind::Op(s) => s.op.name.to_string(),
            StepKind::Login(_) => "login".into(),
            StepKind::Raw(_) => "raw".into(),
            StepKind::Connect(_) => "connect".into(),
            StepKind::Disconnect(_) => "disconnect".into(),
            StepKind::Await(a) => format!("await {}", awaited_name(&a.matcher)),
            StepKind::Refute(r) => format!("refute {}", awaited_name(&r.matcher)),
            StepKind::Pause(_) => "pause".into(),
            StepKind::Parallel(_) => "parallel".into(),
            StepKind::Repeat(_) => "repeat".into(),
            StepKind::Eventually(_) => "eventually".into(),
        }
    }
}

pub(crate) fn awaited_name(m: &PushMatcher) -> String {
    m.awaited.label().to_string()
}

/// A request step: `accept: {...}`.
#[derive(Clone, Debug, PartialEq)]
pub struct OpStep {
    pub target: Target,
    pub op: &'static OpSpec,
    /// Renders to the `params` object.
    pub params: Template,
    pub expect: Expect,
    /// Applied (in order) after `expect` holds; paths start at the response frame.
    pub save: Vec<Save>,
    /// Time limit for the response.
    pub timeout: Duration,
    pub metric: usize,
    pub id: StepId,
}

/// `login: {pushToken: ...}`: the driver's login exchange, with the account's credentials
/// filled in by the driver unless `params` gives them.
#[derive(Clone, Debug, PartialEq)]
pub struct LoginStep {
    pub target: Target,
    /// The vocabulary's login op.
    pub op: &'static OpSpec,
    /// Renders to an object of extra/overriding login params.
    pub params: Template,
    pub expect: Expect,
    pub save: Vec<Save>,
    pub timeout: Duration,
    pub metric: usize,
    pub id: StepId,
}

/// The payload of a `raw` step.
#[derive(Clone, Debug, PartialEq)]
pub enum RawFrame {
    /// A text frame. With `size`, the `${pad}` hole is filled with `x` so that the
    /// rendered frame is exactly `size` bytes. With `fragments` above 1 the message is
    /// sent as that many WebSocket frames (a text frame and continuations, §P-1.3).
    Text {
        text: StrTemplate,
        size: Option<usize>,
        fragments: usize,
    },
    /// A binary frame.
    Binary(Vec<u8>),
    /// A Close frame with this code: starts the closing handshake (RFC 6455 §5.5.1).
    Close(u16),
}

/// A rendered raw frame.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RawPayload {
    Text(String),
    Binary(Vec<u8>),
    Close(u16),
}

impl RawFrame {
    /// How many WebSocket frames the message is split into (1: not fragmented).
    pub fn fragments(&self) -> usize {
        match self {
            RawFrame::Text { fragments, .. } => *fragments,
            RawFrame::Binary(_) | RawFrame::Close(_) => 1,
        }
    }

    /// The frame to send.
    pub fn render(&self, ctx: &Vars) -> RawPayload {
        match self {
            RawFrame::Binary(b) => RawPayload::Binary(b.clone()),
            RawFrame::Close(code) => RawPayload::Close(*code),
            RawFrame::Text { text, size, .. } => {
                let rendered = text.render(ctx);
                let Some(size) = size else {
                    return RawPayload::Text(rendered);
                };
                // The compiler guarantees exactly one `${pad}` marker in sized frames.
                let body_len = rendered.len().saturating_sub(PAD_MARKER.len());
                let pad = "x".repeat(size.saturating_sub(body_len));
                RawPayload::Text(rendered.replacen(PAD_MARKER, &pad, 1))
            }
        }
    }
}

/// What `${pad}` becomes in a raw text before padding (a private-use marker).
pub(crate) const PAD_MARKER: &str = "\u{E000}pad\u{E000}";

/// `raw: {text: ...}` with its expectation.
#[derive(Clone, Debug, PartialEq)]
pub struct RawStep {
    pub target: Target,
    pub frame: RawFrame,
    pub expect: RawExpect,
    pub timeout: Duration,
    pub metric: usize,
    pub id: StepId,
}

/// Where an await's latency is measured from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Since {
    /// The session's start (no op step precedes the await).
    SessionStart,
    /// When this step's request was sent.
    Step(StepId),
}

/// `await: INVITE`.
#[derive(Clone, Debug, PartialEq)]
pub struct AwaitStep {
    pub target: Target,
    pub matcher: PushMatcher,
    pub within: Duration,
    pub since: Since,
    /// Paths start at the matched event (event awaits) or push body (push awaits).
    pub save: Vec<Save>,
    pub metric: usize,
}

/// `refute: CANCEL_INVITE`: no matching push may arrive within `within`.
#[derive(Clone, Debug, PartialEq)]
pub struct RefuteStep {
    pub target: Target,
    pub matcher: PushMatcher,
    pub within: Duration,
}

/// `parallel: [...]`.
#[derive(Clone, Debug, PartialEq)]
pub struct ParallelStep {
    pub branches: Vec<Step>,
    /// Checked over the responses of the op/login/raw steps directly in `branches`.
    pub exactly_one: Option<ExactlyOne>,
}

/// `eventually: [...]`: the requests run in order, again and again (every `every`),
/// until one round passes them all or `within` has passed; then the last round's
/// failure is the step's. Only requests that are safe to repeat belong here (probes).
#[derive(Clone, Debug, PartialEq)]
pub struct EventuallyStep {
    pub steps: Vec<Step>,
    pub within: Duration,
    pub every: Duration,
    /// `index: k`: set to the round number (1, 2, …) before each round.
    pub index: Option<super::template::Slot>,
}

/// `repeat: {count, steps, index}`.
#[derive(Clone, Debug, PartialEq)]
pub struct RepeatStep {
    pub count: u64,
    pub steps: Vec<Step>,
    /// `index: n`: set to the iteration number (1, 2, …) before each iteration.
    pub index: Option<super::template::Slot>,
}
