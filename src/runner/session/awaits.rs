//! The steps that wait for what the target pushes: `await` (a matching push within a
//! time, its latency from the step it names) and `refute` (no matching push meanwhile).

use super::*;

/// Buffered pushes searched for the closest candidate when an await times out.
const CLOSEST_AMONG: usize = 256;
/// Characters of a buffered frame shown around the field that differs (the terminal
/// summary shows 160 per line).
const EXCERPT_CHARS: usize = 120;

impl Session<'_> {
    pub(super) fn origin(&self, since: Since) -> Instant {
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

    pub(super) async fn await_push(&self, step: &Step, a: &AwaitStep) -> Result<(), Abort> {
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

    pub(super) async fn refute(&self, step: &Step, r: &RefuteStep) -> Result<(), Abort> {
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

/// `INVITE` or `kicked`: what a matcher waits for, for failure kinds (without the
/// per-session match values, so failures group).
fn awaited_label(m: &PushMatcher) -> &'static str {
    m.awaited.label()
}
