//! Connect and log in one device (§P-3), as the runner does before the first session
//! and again for a `login` step.

use std::net::IpAddr;
use std::time::Duration;

use serde_json::Value;
use tokio::time::Instant;

use super::accounts::Credentials;
use super::client::{ClientError, Device, Target};
use crate::protocol::frame::PushKind;
use crate::protocol::{Code, Op};

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

/// A logged-in device and how long connect + login took.
pub struct LoggedIn {
    pub device: Device,
    pub connect_started: Instant,
    pub logged_in: Instant,
}

/// The login params the runner sends for `creds` on `device_name`.
pub fn login_params(creds: &Credentials, device_name: &str) -> Value {
    serde_json::json!({
        "account": creds.account,
        "token": creds.token,
        "device": device_name,
    })
}

/// Connects, sends `login` and waits for its response. The `channelsSync` and
/// `unreadSync` pushes that follow stay buffered for steps that await them, unless
/// `consume_syncs` is set (the runner's own logins before the first session).
pub async fn connect_and_login(
    target: &Target,
    source: Option<IpAddr>,
    params: &Value,
    timeout: Duration,
    consume_syncs: bool,
) -> Result<LoggedIn, LoginError> {
    let connect_started = Instant::now();
    let device = Device::connect(target, source, timeout).await?;
    let response = device
        .request(Op::Login, params, timeout)
        .await
        .map_err(|f| f.error)?
        .response;
    let logged_in = response.at;
    if response.frame.code != Code::Ok.number() {
        return Err(LoginError::Refused {
            account: params["account"].as_str().unwrap_or_default().to_string(),
            code: response.frame.code,
            message: response.frame.message,
            error: response.frame.error,
        });
    }
    if consume_syncs {
        let deadline = Instant::now() + timeout;
        for kind in [PushKind::ChannelsSync, PushKind::UnreadSync] {
            device.take_push(deadline, |k, _| k == kind).await;
        }
    }
    Ok(LoggedIn {
        device,
        connect_started,
        logged_in,
    })
}
