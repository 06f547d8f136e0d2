//! The reference server (`sigbench serve`): a complete, fast implementation of the
//! protocol, and the harness's embedded default target.
//!
//! Data flow: [`listener`] accepts (within [`admission`]'s connection limits) and routes
//! HTTP / WebSocket → [`connection`] (one task per client: deadlines, the [`budget`]
//! checked before parsing, one outbound queue bounded in bytes) → [`session`] (login,
//! syncs, markRead) and [`ops`] → [`channels`] / [`invitations`] → [`state`] (presence,
//! channels, invitations, offline store, allowances, expiry; each behind its own API).
//! [`config`] holds the settings, [`clock`] the time of day, [`metrics`] counts for `GET /metrics`. [`wire`]
//! translates other framings (`--wire jsonrpc|protoo`) at the connection boundary.

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

mod admission;
mod budget;
mod channels;
mod clock;
mod config;
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

pub use clock::Clock;
pub use config::{Auth, Limits, ReadBudget, ServerConfig, Timeouts};

use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

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
                _ = tick.tick() => shared.expire_due(),
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
