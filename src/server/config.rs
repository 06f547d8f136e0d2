//! Everything `sigbench serve` can be told, with safe defaults: protocol settings (TTLs,
//! member limit, message size), resource limits against hostile clients, deadlines and
//! the per-connection read budget.

use std::net::SocketAddr;
use std::time::Duration;

/// How logins are authenticated (§P-3.3).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Auth {
    /// Development mode: any non-empty token is accepted.
    Open,
    /// Tokens must be the HMAC-SHA256 of the account under this secret.
    Secret(String),
}

/// Bounds on what clients may make the server hold. A request over one is answered
/// 429 `LIMIT_EXCEEDED` and changes nothing; a connection over one is refused with
/// HTTP 503.
#[derive(Clone, Debug)]
pub struct Limits {
    /// Open connections (HTTP and WebSocket) in total.
    pub connections: usize,
    /// Open connections from one source IP address.
    pub connections_per_addr: usize,
    /// Upgraded connections that have not logged in yet.
    pub not_logged_in: usize,
    /// Valid channels one account has created.
    pub channels_per_creator: u64,
    /// Invitations one inviter holds (pending, or answered and kept until they expire).
    pub invitations_per_inviter: u64,
    /// Accounts holding stored offline events.
    pub offline_accounts: u64,
    /// Bytes of all stored offline events.
    pub offline_bytes: u64,
    /// `ext` bytes of an account's valid channels plus `attachExt` bytes of the stored
    /// events it sent.
    pub ext_bytes_per_account: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            connections: 50_000,
            connections_per_addr: 10_000,
            not_logged_in: 4_096,
            channels_per_creator: 1_000,
            invitations_per_inviter: 1_000,
            offline_accounts: 100_000,
            offline_bytes: 256 * 1024 * 1024,
            ext_bytes_per_account: 1024 * 1024,
        }
    }
}

impl Limits {
    /// For a server only this process talks to (the harness's embedded target): no
    /// per-address or per-account bounds, which a load test would hit on purpose.
    pub fn for_load_tests() -> Limits {
        Limits {
            connections: usize::MAX,
            connections_per_addr: usize::MAX,
            not_logged_in: usize::MAX,
            channels_per_creator: u64::MAX,
            invitations_per_inviter: u64::MAX,
            offline_accounts: u64::MAX,
            offline_bytes: u64::MAX,
            ext_bytes_per_account: u64::MAX,
        }
    }
}

/// Deadlines on every network wait of a connection.
#[derive(Clone, Debug)]
pub struct Timeouts {
    /// From the upgrade to a successful login; then close 1008.
    pub login: Duration,
    /// Silence from the client after which it is closed (1008); a ping goes out after
    /// half of it, and any frame (the pong too) counts as a sign of life.
    pub idle: Duration,
    /// The longest a write to the client may take; then it is a slow consumer.
    pub write: Duration,
}

impl Default for Timeouts {
    fn default() -> Self {
        Timeouts {
            login: Duration::from_secs(10),
            idle: Duration::from_secs(60),
            write: Duration::from_secs(10),
        }
    }
}

/// What one connection may send, counted on every frame before it is parsed. Past it
/// the server stops reading that connection until the budget refills (TCP pushes back
/// on the client); nothing is answered or dropped.
#[derive(Clone, Debug)]
pub struct ReadBudget {
    /// Frames per second (and burst).
    pub frames_per_sec: u32,
    /// Bytes per second (and burst, at least one message of the largest size).
    pub bytes_per_sec: u64,
}

impl Default for ReadBudget {
    fn default() -> Self {
        ReadBudget {
            frames_per_sec: 20_000,
            bytes_per_sec: 4 * 1024 * 1024,
        }
    }
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
    /// How often due deadlines (channel and invitation expiry) are handled.
    pub sweep_interval: Duration,
    /// The framing spoken on every connection (`--wire`).
    pub wire: super::wire::Wire,
    /// How long an ended connection still counts as online (`--presence-lag`, 0 by
    /// default): mimics deployments whose presence is updated eventually, to prove that
    /// a harness does not depend on instant presence.
    pub presence_lag: Duration,
    /// Resource limits.
    pub limits: Limits,
    /// Connection deadlines.
    pub timeouts: Timeouts,
    /// Per-connection read budget.
    pub read_budget: ReadBudget,
    /// Bytes that may wait in one connection's outbound queue.
    pub max_queue: usize,
    /// Only the creator, members and invitees of a channel may `join`, `query` or
    /// `control` it (others get 10404, as for a channel that does not exist).
    pub members_only: bool,
    /// Where the time of day is read (timestamps, expiry): the system's, or a manual
    /// clock for tests of TTLs.
    pub clock: super::clock::Clock,
    /// Deliberate protocol deviations, to prove the conformance suite catches them.
    #[cfg(feature = "faults")]
    pub faults: super::faults::Faults,
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
            wire: super::wire::Wire::Sigbench,
            presence_lag: Duration::ZERO,
            limits: Limits::default(),
            timeouts: Timeouts::default(),
            read_budget: ReadBudget::default(),
            max_queue: 1024 * 1024,
            members_only: false,
            clock: super::clock::Clock::System,
            #[cfg(feature = "faults")]
            faults: super::faults::Faults::default(),
        }
    }
}
