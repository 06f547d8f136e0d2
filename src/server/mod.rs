//! The reference server (`sigbench serve`): a complete, fast implementation of the
//! protocol, and the harness's embedded default target.
//!
//! Data flow: [`listener`] accepts and routes HTTP / WebSocket → [`connection`] (one task
//! per client, one bounded outbound queue) → [`session`] (login, syncs, markRead) and
//! [`ops`] → [`channels`] / [`invitations`] → [`state`] (sharded channels and accounts,
//! delivery, offline store). [`metrics`] counts for `GET /metrics`. [`wire`] translates
//! other framings (`--wire jsonrpc|protoo`) at the connection boundary.

/// `fault!(shared, Name)`: true when the server was started with that deliberate
/// deviation (cargo feature `faults`); without the feature, the constant `false`.
#[cfg(feature = "faults")]
macro_rules! fault {
    ($shared:expr, $name:ident) => {
        $shared
            .config
            .faults
            .has($crate::server::faults::Fault::$name)
    };
}
#[cfg(not(feature = "faults"))]
macro_rules! fault {
    ($shared:expr, $name:ident) => {
        false
    };
}

mod channels;
mod connection;
#[cfg(feature = "faults")]
pub mod faults;
mod invitations;
mod listener;
mod metrics;
mod ops;
mod session;
mod shard;
mod state;
pub mod wire;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// How logins are authenticated (§P-3.3).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Auth {
    /// Development mode: any non-empty token is accepted.
    Open,
    /// Tokens must be the HMAC-SHA256 of the account under this secret.
    Secret(String),
}

/// Everything `sigbench serve` can be told.
#[derive(Clone, Debug)]
pub struct ServerConfig {
    pub listen: SocketAddr,
    pub auth: Auth,
    /// Lifetime of a channel since its creation or last join/delay (§P-5.7).
    pub channel_ttl: Duration,
    /// Lifetime of a pending invitation (§P-6.1).
    pub invite_ttl: Duration,
    /// Members per channel (§P-5.2, 10419).
    pub max_members: usize,
    /// Stored offline events per account (§P-7.3).
    pub max_offline: usize,
    /// Largest accepted message in bytes (§P-1.3).
    pub max_frame: usize,
    /// Requests per second per connection; `None`: unlimited.
    pub rate_limit: Option<u32>,
    /// How often expired channels and invitations are swept away.
    pub sweep_interval: Duration,
    /// The framing spoken on every connection (`--wire`).
    pub wire: wire::Wire,
    /// How long an ended connection still counts as online (`--presence-lag`, 0 by
    /// default): mimics deployments whose presence is updated eventually, to prove that
    /// a harness does not depend on instant presence.
    pub presence_lag: Duration,
    /// Deliberate protocol deviations, to prove the conformance suite catches them.
    #[cfg(feature = "faults")]
    pub faults: faults::Faults,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            auth: Auth::Open,
            channel_ttl: Duration::from_secs(2 * 3600),
            invite_ttl: Duration::from_secs(90),
            max_members: 100,
            max_offline: 1000,
            max_frame: 64 * 1024,
            rate_limit: None,
            sweep_interval: Duration::from_secs(1),
            wire: wire::Wire::Sigbench,
            presence_lag: Duration::ZERO,
            #[cfg(feature = "faults")]
            faults: faults::Faults::default(),
        }
    }
}

/// A running server. Dropping it does not stop the server; call [`ServerHandle::shutdown`].
#[derive(Debug)]
pub struct ServerHandle {
    addr: SocketAddr,
    shutdown: CancellationToken,
    tracker: TaskTracker,
}

impl ServerHandle {
    /// The address the server listens on (the real port when asked for port 0).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `ws://HOST:PORT/`.
    pub fn url(&self) -> String {
        format!("ws://{}/", self.addr)
    }

    /// Closes every connection (close code 1001) and waits until all tasks have ended.
    pub async fn shutdown(self) {
        self.shutdown.cancel();
        self.tracker.close();
        self.tracker.wait().await;
    }
}

/// Binds and starts the server on the current tokio runtime.
pub async fn spawn(config: ServerConfig) -> std::io::Result<ServerHandle> {
    let listener = TcpListener::bind(config.listen).await?;
    let addr = listener.local_addr()?;
    let sweep_interval = config.sweep_interval.max(Duration::from_millis(10));
    let shared = Arc::new(state::Shared::new(config));
    let shutdown = CancellationToken::new();
    let tracker = TaskTracker::new();
    tracker.spawn(listener::run(
        listener,
        shared.clone(),
        shutdown.clone(),
        tracker.clone(),
    ));
    let sweeper = shutdown.clone();
    tracker.spawn(async move {
        let mut tick = tokio::time::interval(sweep_interval);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = sweeper.cancelled() => return,
                _ = tick.tick() => shared.sweep(),
            }
        }
    });
    tracing::info!(%addr, "server listening");
    Ok(ServerHandle {
        addr,
        shutdown,
        tracker,
    })
}
