//! Connect and log in one device through the run's driver, as the runner does before
//! the first session and again for a `login` step.

use std::net::IpAddr;
use std::time::Duration;

use serde_json::Value;
use tokio::time::Instant;

use super::client::{ClientError, Device, Target};
use crate::drivers::{Driver, Identity, Login};

/// Why a device could not be logged in.
#[derive(Debug, Clone, thiserror::Error)]
pub enum LoginError {
    #[error(transparent)]
    Client(#[from] ClientError),
    #[error("login of '{account}' answered {code} {message}{}", .error.as_ref().map(|e| format!(" ({e})")).unwrap_or_default())]
    Refused {
        account: String,
        code: u32,
        message: String,
        error: Option<String>,
    },
}

/// A login that failed, with the codes counted on its connection before it was dropped
/// (a refused `REGISTER 403`, the `401` challenge before it), so that the report's codes
/// keep them as they keep those of any failed step.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{error}")]
pub struct LoginFailed {
    pub error: LoginError,
    /// `(op, code, count)`, as [`Device::take_codes`] gives them.
    pub codes: Vec<(&'static str, u32, u64)>,
}

impl From<LoginError> for LoginFailed {
    fn from(error: LoginError) -> LoginFailed {
        LoginFailed {
            error,
            codes: Vec::new(),
        }
    }
}

/// A logged-in device and how long connect + login took.
pub struct LoggedIn {
    pub device: Device,
    pub connect_started: Instant,
    pub logged_in: Instant,
    /// The login's code for the report, from a driver that does not count its own (the
    /// login op's success); empty otherwise (the device holds the driver's counts).
    pub codes: Vec<(&'static str, u32, u64)>,
}

/// Connects and runs the driver's login with `params` (the step's own, or empty). The
/// state pushes that follow a login (the driver's `login_sync` kinds, native:
/// `channelsSync`, `unreadSync`) stay buffered for steps that await them, unless
/// `consume_syncs` is set (the runner's own logins before the first session).
pub async fn connect_and_login(
    driver: &dyn Driver,
    target: &Target,
    source: Option<IpAddr>,
    who: Identity<'_>,
    params: Value,
    timeout: Duration,
    consume_syncs: bool,
) -> Result<LoggedIn, LoginFailed> {
    let connect_started = Instant::now();
    let device = Device::connect(target, source, timeout, driver, who)
        .await
        .map_err(LoginError::from)?;
    // The device is dropped on failure: what the driver counted on it goes with the error.
    let failed = |error: LoginError| {
        let mut codes = Vec::new();
        device.take_codes(&mut codes);
        LoginFailed { error, codes }
    };
    let response = driver
        .login(
            &device,
            Login {
                who,
                params,
                timeout,
            },
        )
        .await
        .map_err(|f| failed(f.error.into()))?
        .response;
    let logged_in = response.at;
    if response.frame.code != driver.vocabulary().ok_code {
        let code = response.frame.code;
        let mut failure = failed(LoginError::Refused {
            account: who.account.to_string(),
            code,
            message: response.frame.message,
            error: response.frame.error,
        });
        failure.codes.extend(login_code(driver, code));
        return Err(failure);
    }
    device.mark_logged_in();
    if consume_syncs {
        let deadline = Instant::now() + timeout;
        for kind in driver.login_syncs() {
            device.take_push(deadline, |p| p.kind.id == kind.id).await;
        }
    }
    Ok(LoggedIn {
        device,
        connect_started,
        logged_in,
        codes: login_code(driver, driver.vocabulary().ok_code)
            .into_iter()
            .collect(),
    })
}

impl LoggedIn {
    /// How long connect + login took (the `login` metric).
    pub fn took(&self) -> Duration {
        self.logged_in - self.connect_started
    }
}

/// The login op's `code`, once, for a driver that does not count its own codes.
fn login_code(driver: &dyn Driver, code: u32) -> Option<(&'static str, u32, u64)> {
    if driver.counts_codes() {
        return None;
    }
    let op = driver
        .vocabulary()
        .ops
        .iter()
        .find(|op| op.role == crate::drivers::OpRole::Login)?;
    Some((op.name, code, 1))
}
