//! `sigbench serve`: runs the reference server until SIGINT or SIGTERM (the first item
//! of the shutdown stream). Exit codes: 0 stopped by a signal, 2 bad flags or an address
//! it cannot listen on.

use std::net::SocketAddr;
use std::time::Duration;

use clap::Args;
use futures_util::{FutureExt, Stream, StreamExt};

use super::error::{CliError, EXIT_PASSED, Outcome};

use super::units::{parse_duration, parse_rate, parse_size, parse_size_rate};
use crate::server::{Auth, Limits, ReadBudget, ServerConfig, Timeouts};

#[derive(Args, Debug)]
pub struct ServeArgs {
    /// Address to listen on; port 0 picks a free port.
    #[arg(long, default_value = "127.0.0.1:7400")]
    pub listen: SocketAddr,
    /// Secret for HMAC-SHA256 login tokens.
    #[arg(
        long,
        env = "SIGBENCH_SECRET",
        hide_env_values = true,
        conflicts_with = "open"
    )]
    pub secret: Option<String>,
    /// Accept any token (development only).
    #[arg(long)]
    pub open: bool,
    /// Channel lifetime after creation, join or delay.
    #[arg(long, default_value = "2h", value_parser = parse_duration)]
    pub channel_ttl: Duration,
    /// Lifetime of a pending invitation.
    #[arg(long, default_value = "90s", value_parser = parse_duration)]
    pub invite_ttl: Duration,
    /// Members per channel.
    #[arg(long, default_value_t = 100)]
    pub max_members: usize,
    /// Stored offline events per account.
    #[arg(long, default_value_t = 1000)]
    pub max_offline: usize,
    /// Largest accepted message.
    #[arg(long, default_value = "64KiB", value_parser = parse_size)]
    pub max_frame: usize,
    /// Requests per second per connection (off unless given), e.g. 100/s.
    #[arg(long, value_parser = parse_rate)]
    pub rate_limit: Option<u32>,
    /// The framing to speak: sigbench (docs/protocol.md), jsonrpc or protoo (see
    /// docs/profiles.md).
    #[arg(long, default_value = "sigbench")]
    pub wire: crate::server::wire::Wire,
    /// Open connections in total (HTTP and WebSocket); more get HTTP 503.
    #[arg(long, default_value_t = Limits::default().connections)]
    pub max_connections: usize,
    /// Open connections from one source IP address; more get HTTP 503.
    #[arg(long, default_value_t = Limits::default().connections_per_addr)]
    pub max_connections_per_addr: usize,
    /// Upgraded connections not yet logged in; more get HTTP 503.
    #[arg(long, default_value_t = Limits::default().not_logged_in)]
    pub max_not_logged_in: usize,
    /// Valid channels one account may have created (429 past it).
    #[arg(long, default_value_t = Limits::default().channels_per_creator)]
    pub max_channels_per_creator: u64,
    /// Invitations one inviter may hold (429 past it).
    #[arg(long, default_value_t = Limits::default().invitations_per_inviter)]
    pub max_invitations_per_inviter: u64,
    /// Accounts that may hold stored offline events.
    #[arg(long, default_value_t = Limits::default().offline_accounts)]
    pub max_offline_accounts: u64,
    /// Bytes of all stored offline events.
    #[arg(long, default_value = "256MiB", value_parser = parse_size)]
    pub max_offline_bytes: usize,
    /// ext and attachExt bytes one account may make the server hold.
    #[arg(long, default_value = "1MiB", value_parser = parse_size)]
    pub max_ext_bytes_per_account: usize,
    /// Bytes that may wait in one connection's outbound queue (slow consumers past it
    /// are closed with 1008).
    #[arg(long, default_value = "1MiB", value_parser = parse_size)]
    pub max_queue: usize,
    /// Time from the WebSocket upgrade to a successful login (then close 1008).
    #[arg(long, default_value = "10s", value_parser = parse_duration)]
    pub login_timeout: Duration,
    /// Client silence before closing (1008); a ping goes out after half of it.
    #[arg(long, default_value = "60s", value_parser = parse_duration)]
    pub idle_timeout: Duration,
    /// The longest one write to a client may take (then it is a slow consumer).
    #[arg(long, default_value = "10s", value_parser = parse_duration)]
    pub write_timeout: Duration,
    /// Frames one connection may send per second, counted before parsing; past it the
    /// connection is not read until the budget refills.
    #[arg(long, default_value = "20000/s", value_parser = parse_rate)]
    pub read_frames: u32,
    /// Bytes one connection may send per second, e.g. 4MiB/s (as --read-frames).
    #[arg(long, default_value = "4MiB/s", value_parser = parse_size_rate)]
    pub read_bytes: usize,
    /// Only a channel's creator, members and invitees may join, query or control it.
    #[arg(long)]
    pub members_only: bool,
    /// Keep an ended connection counting as online this long (default 0): what a
    /// deployment with a separate presence service does. For testing harnesses only.
    #[arg(long, default_value = "0s", value_parser = parse_duration, value_name = "DURATION")]
    pub presence_lag: Duration,
    /// Break one protocol rule on purpose (repeatable), to see the conformance suite
    /// catch it. Test builds only (feature `faults`).
    #[cfg(feature = "faults")]
    #[arg(long = "fault", value_name = "NAME")]
    pub faults: Vec<crate::server::faults::Fault>,
}

impl ServeArgs {
    pub fn config(&self) -> Result<ServerConfig, CliError> {
        let auth = match (&self.secret, self.open) {
            (Some(secret), false) if !secret.is_empty() => Auth::Secret(secret.clone()),
            (_, true) => Auth::Open,
            _ => {
                return Err(CliError::Usage(
                    "no secret: pass --secret S, set SIGBENCH_SECRET, or use --open for development"
                        .into(),
                ));
            }
        };
        Ok(ServerConfig {
            listen: self.listen,
            auth,
            channel_ttl: self.channel_ttl,
            invite_ttl: self.invite_ttl,
            max_members: self.max_members,
            max_offline: self.max_offline,
            max_frame: self.max_frame,
            rate_limit: self.rate_limit,
            wire: self.wire,
            limits: Limits {
                connections: self.max_connections,
                connections_per_addr: self.max_connections_per_addr,
                not_logged_in: self.max_not_logged_in,
                channels_per_creator: self.max_channels_per_creator,
                invitations_per_inviter: self.max_invitations_per_inviter,
                offline_accounts: self.max_offline_accounts,
                offline_bytes: self.max_offline_bytes as u64,
                ext_bytes_per_account: self.max_ext_bytes_per_account as u64,
            },
            timeouts: Timeouts {
                login: self.login_timeout,
                idle: self.idle_timeout,
                write: self.write_timeout,
            },
            read_budget: ReadBudget {
                frames_per_sec: self.read_frames,
                bytes_per_sec: self.read_bytes as u64,
            },
            max_queue: self.max_queue,
            members_only: self.members_only,
            presence_lag: self.presence_lag,
            #[cfg(feature = "faults")]
            faults: crate::server::faults::Faults::new(self.faults.iter().copied()),
            ..ServerConfig::default()
        })
    }
}

/// `sigbench serve`: serves until `shutdown` yields.
pub async fn run(
    args: ServeArgs,
    shutdown: impl Stream<Item = ()> + Send + 'static,
) -> Result<Outcome, CliError> {
    let config = args.config()?;
    let listen = config.listen;
    // Every client is a file descriptor: allow as many as the hard limit does.
    let fd_limit = crate::runner::limits::raise_fd_limit();
    tracing::info!(fd_limit, "file descriptor limit");
    // Listen for signals before saying where the server listens (scripts that read that
    // line may stop it at once).
    let mut shutdown = std::pin::pin!(shutdown);
    if shutdown.next().now_or_never().is_some() {
        return Ok(Outcome::verdict(EXIT_PASSED));
    }
    let handle = crate::server::spawn(config)
        .await
        .map_err(|e| CliError::Usage(format!("cannot listen on {listen}: {e}")))?;
    super::out!("listening on {}", handle.url());
    #[cfg(feature = "faults")]
    for fault in &args.faults {
        eprintln!("warning: deliberate fault {fault}: {}", fault.description());
    }
    shutdown.next().await;
    tracing::info!("shutting down");
    handle.shutdown().await;
    Ok(Outcome::verdict(EXIT_PASSED))
}
