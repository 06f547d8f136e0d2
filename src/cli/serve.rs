//! `sigbench serve`: runs the reference server until SIGINT or SIGTERM.

use std::net::SocketAddr;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use clap::Args;

use super::units::{parse_duration, parse_rate, parse_size};
use crate::server::{Auth, ServerConfig};

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
    pub fn config(&self) -> anyhow::Result<ServerConfig> {
        let auth = match (&self.secret, self.open) {
            (Some(secret), false) if !secret.is_empty() => Auth::Secret(secret.clone()),
            (_, true) => Auth::Open,
            _ => anyhow::bail!(
                "no secret: pass --secret S, set SIGBENCH_SECRET, or use --open for development"
            ),
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
            presence_lag: self.presence_lag,
            #[cfg(feature = "faults")]
            faults: crate::server::faults::Faults::new(self.faults.iter().copied()),
            ..ServerConfig::default()
        })
    }
}

pub async fn run(args: ServeArgs) -> anyhow::Result<ExitCode> {
    let config = args.config()?;
    let listen = config.listen;
    // Every client is a file descriptor: allow as many as the hard limit does.
    let fd_limit = crate::runner::limits::raise_fd_limit();
    tracing::info!(fd_limit, "file descriptor limit");
    let handle = crate::server::spawn(config)
        .await
        .with_context(|| format!("cannot listen on {listen}"))?;
    println!("listening on {}", handle.url());
    #[cfg(feature = "faults")]
    for fault in &args.faults {
        eprintln!("warning: deliberate fault {fault}: {}", fault.description());
    }
    super::shutdown_signal().await;
    tracing::info!("shutting down");
    handle.shutdown().await;
    Ok(ExitCode::SUCCESS)
}
