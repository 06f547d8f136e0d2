//! A session from start to end: its steps, the cleanup (`cleanup: true`) and the slot
//! put back in its starting state, its measurements handed to the worker's recorder;
//! and the runner's own logins.

use super::*;

/// A session's cleanup (`cleanup: true`) may take this many response timeouts in all.
const CLEANUP_TIMEOUTS: u32 = 3;

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
    let mut vars = plan.new_vars(&ctx.run_id, session_id(&ctx.run_id, number), &accounts);
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
            // Most steps record one latency: room for them up front.
            records: Vec::with_capacity(plan.timed_steps),
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

/// `RUN-NUMBER`, the session's `${session}` (written without the formatting machinery:
/// one per session).
fn session_id(run_id: &str, number: u64) -> String {
    let mut digits = itoa::Buffer::new();
    let digits = digits.format(number);
    let mut id = String::with_capacity(run_id.len() + 1 + digits.len());
    id.push_str(run_id);
    id.push('-');
    id.push_str(digits);
    id
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
) -> Result<LoggedIn, crate::runner::login::LoginFailed> {
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

#[cfg(test)]
mod tests {
    use super::session_id;

    #[test]
    fn a_session_id_is_the_run_id_a_dash_and_the_number() {
        for (run, number) in [("r", 0), ("run-2026", 42), ("", u64::MAX), ("é", 7)] {
            let id = session_id(run, number);
            assert_eq!(id, format!("{run}-{number}"));
            assert_eq!(id.len(), id.capacity());
        }
    }
}
