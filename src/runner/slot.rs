//! A worker's accounts: one account per role, each with its devices' connections.
//! Accounts stay connected across the worker's sessions; after each session the slot is
//! put back in its starting state (online roles logged in, offline roles disconnected).

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use super::RunContext;
use super::accounts::Credentials;
use super::client::{ClientError, Device};
use super::login::LoginError;
use super::session::initial_login;
use crate::metrics::{FailureKind, FailureSample, Recorder};
use crate::scenario::Plan;

/// One role's account in a worker slot.
pub(crate) struct RoleSlot {
    pub creds: Credentials,
    /// Source address for this account's connections (`--source-addrs`).
    pub source: Option<IpAddr>,
    /// `None`: not connected.
    pub devices: Vec<Option<Arc<Device>>>,
}

impl RoleSlot {
    /// Who device `device_name` of this account is, for the driver.
    pub fn identity<'a>(&'a self, device_name: &'a str) -> crate::drivers::Identity<'a> {
        crate::drivers::Identity {
            account: &self.creds.account,
            token: &self.creds.token,
            device: device_name,
        }
    }

    /// The device name used at login for device `index` (0-based).
    pub fn device_name(&self, index: usize) -> String {
        match (&self.creds.device, index) {
            (Some(name), 0) => name.clone(),
            (Some(name), i) => format!("{name}{}", i + 1),
            (None, i) => format!("d{}", i + 1),
        }
    }
}

/// The accounts of one worker.
pub(crate) struct WorkerSlot {
    pub roles: Vec<RoleSlot>,
}

impl WorkerSlot {
    /// Brings every online role's devices back online and takes offline roles'
    /// devices down. Failures to reconnect are recorded as `login` failures. With
    /// `accounts: fresh`, every role first gets a new account (its devices log out and
    /// the new account's log in).
    pub async fn restore(&mut self, plan: &Plan, ctx: &RunContext, recorder: &mut Recorder) {
        if plan.fresh_accounts && !self.take_fresh_accounts(plan, ctx, recorder).await {
            return;
        }
        for (index, role) in self.roles.iter_mut().enumerate() {
            let spec = &plan.roles[index];
            for device in 0..role.devices.len() {
                let open = role.devices[device]
                    .as_ref()
                    .is_some_and(|d| !d.is_closed());
                if spec.online && !open {
                    // What the closed connection counted since its session ended.
                    if let Some(old) = role.devices[device].take() {
                        count_codes(&old, recorder);
                    }
                    match initial_login(ctx, role, device).await {
                        Ok(logged) => {
                            recorder.record(ctx.metric_ids[Plan::LOGIN_METRIC], logged.took());
                            for (label, code, n) in &logged.codes {
                                recorder.count_codes(label, *code, *n);
                            }
                            role.devices[device] = Some(Arc::new(logged.device));
                        }
                        Err(failed) => {
                            role.devices[device] = None;
                            // A refused re-login's codes (`REGISTER 403`) are the report's.
                            for (label, code, n) in &failed.codes {
                                recorder.count_codes(label, *code, *n);
                            }
                            let e = failed.error;
                            if matches!(e, LoginError::Client(ClientError::Connect { .. })) {
                                // The target is gone: end the run instead of failing
                                // session after session until the planned end.
                                ctx.target_lost
                                    .store(true, std::sync::atomic::Ordering::Relaxed);
                                ctx.stopping(crate::metrics::AbortReason::TargetLost);
                                ctx.no_new.cancel();
                            }
                            recorder.failure(
                                FailureKind::new("login", spec.name.clone(), "reconnect failed"),
                                FailureSample::outside(e.to_string()),
                            );
                        }
                    }
                } else if !spec.online
                    && let Some(d) = role.devices[device].take()
                {
                    hang_up(ctx, &d).await;
                    count_codes(&d, recorder);
                }
            }
        }
    }

    /// Replaces every role's account with one no session used, logging the old
    /// devices out. False when the accounts ran out (an accounts file): the run stops.
    async fn take_fresh_accounts(
        &mut self,
        plan: &Plan,
        ctx: &RunContext,
        recorder: &mut Recorder,
    ) -> bool {
        let k = ctx
            .fresh_next
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let count = self.roles.len();
        for (r, role) in self.roles.iter_mut().enumerate() {
            for device in role.devices.iter_mut() {
                if let Some(d) = device.take() {
                    hang_up(ctx, &d).await;
                    count_codes(&d, recorder);
                }
            }
            let index = k.saturating_mul(count).saturating_add(r);
            match ctx.accounts.credentials(&plan.roles[r].name, k, index) {
                Some(creds) => role.creds = creds,
                None => {
                    ctx.stop_early(format!(
                        "accounts: fresh: the accounts file has no account left for a new session ({} used)",
                        index
                    ));
                    return false;
                }
            }
        }
        true
    }

    /// Logs every open device out through the driver (e.g. SIP un-REGISTER) at the end
    /// of the run, counting what the driver counted on the way; the connections close
    /// when the slot is dropped.
    pub async fn log_out(&self, ctx: &RunContext, recorder: &mut Recorder) {
        for device in self.roles.iter().flat_map(|r| r.devices.iter().flatten()) {
            if !device.is_closed() {
                ctx.driver.logout(device, ctx.timeout).await;
            }
            count_codes(device, recorder);
        }
    }

    /// True when every online role has all its devices connected.
    pub fn is_ready(&self, plan: &Plan) -> bool {
        self.roles.iter().zip(&plan.roles).all(|(slot, spec)| {
            !spec.online
                || slot
                    .devices
                    .iter()
                    .all(|d| d.as_ref().is_some_and(|d| !d.is_closed()))
        })
    }
}

/// Hands the codes the driver counted on `device` to the recorder.
fn count_codes(device: &Device, recorder: &mut Recorder) {
    let mut codes = Vec::new();
    device.take_codes(&mut codes);
    for (label, code, n) in codes {
        recorder.count_codes(label, code, n);
    }
}

/// Logs a device out through the driver, closes it and waits (bounded) for the server to
/// end the connection, so the next step sees the account offline.
pub(crate) async fn hang_up(ctx: &RunContext, device: &Device) {
    if !device.is_closed() {
        ctx.driver.logout(device, ctx.timeout).await;
    }
    device.disconnect().await;
    device
        .closed(tokio::time::Instant::now() + Duration::from_secs(2))
        .await;
}
