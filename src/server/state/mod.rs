//! The server's shared state, split by concern, each part owning its data behind a small
//! API: [`presence`] (online devices, push tokens), [`channels`] (channels and their
//! members, found by id, name and member), [`invitations`] (per channel, under its lock),
//! [`offline`] (the offline store), [`quota`] (per-account allowances) and [`expiry`]
//! (deadlines, without scanning). [`Shared`] composes them and holds the glue: building
//! events and delivering them.
//!
//! Lock order, made by construction (each module's doc says its part): a channel's lock
//! first; then an account's mailbox ([`offline::MailboxGuard`]), which presence methods
//! demand as a witness; every other lock is a leaf. Events are serialized before any
//! account lock is taken, and login serializes its stored events after letting go of
//! the mailbox.

pub(crate) mod channels;
pub(crate) mod expiry;
pub(crate) mod invitations;
pub(crate) mod offline;
pub(crate) mod presence;
pub(crate) mod quota;

use std::cell::OnceCell;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::Duration;

use rand::RngExt;
use tokio_tungstenite::tungstenite::Utf8Bytes;

use self::channels::{Channel, ChannelInner, Channels};
use self::expiry::{Due, Expiry};
use self::offline::{OfflineStore, StoreLimits};
use self::presence::{Delivery, Presence};
use self::quota::Quota;
use super::ServerConfig;
use super::admission::Admission;
use super::metrics::Metrics;
use super::shard::lock;
use crate::protocol::frame::Push;
use crate::protocol::{Code, Event, EventType, MemberInfo};

pub(crate) fn ms(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// 128 random bits from the thread's cryptographically secure generator, as 32 hex
/// digits: channel ids and generated names cannot be guessed or enumerated.
pub(crate) fn unguessable() -> String {
    format!("{:032x}", rand::rng().random::<u128>())
}

/// The fields of an event that vary by op; the rest is filled in by [`Shared::event`].
#[derive(Default)]
pub(crate) struct EventParts {
    pub to: Option<String>,
    pub request_id: Option<String>,
    pub attach_ext: Option<String>,
    pub member: Option<MemberInfo>,
    pub push_info: Option<crate::protocol::PushInfo>,
}

impl EventParts {
    /// The parts of an invitation event (§P-4.3): `to` and `requestId`, `attachExt` when
    /// the op gave one.
    pub(crate) fn invitation(to: &str, request_id: String, attach_ext: Option<String>) -> Self {
        EventParts {
            to: Some(to.to_string()),
            request_id: Some(request_id),
            attach_ext,
            ..Default::default()
        }
    }
}

/// An event on its way out: serialized at most once, however many devices get it, and
/// before any account lock is taken.
pub(crate) struct Outgoing {
    pub event: Arc<Event>,
    pub channel: Arc<Channel>,
    notify: OnceCell<Utf8Bytes>,
}

impl Outgoing {
    pub(crate) fn notify_text(&self) -> Utf8Bytes {
        self.notify
            .get_or_init(|| Push::Notify { event: &self.event }.to_text().into())
            .clone()
    }
}

/// The per-account allowances.
pub(crate) struct Quotas {
    /// Valid channels per creator.
    pub channels: Quota,
    /// Invitations held per inviter.
    pub invitations: Quota,
    /// `ext` bytes of an account's channels and `attachExt` bytes of its stored events.
    pub ext_bytes: Quota,
}

pub(crate) struct Shared {
    pub config: ServerConfig,
    pub metrics: Metrics,
    pub presence: Presence,
    pub channels: Channels,
    pub offline: OfflineStore,
    pub quotas: Quotas,
    pub expiry: Expiry,
    /// Connection limits; shared with the permits the connections hold.
    pub admission: Arc<Admission>,
    /// Source of msgids and connection numbers (not secret: they grant nothing).
    next_id: AtomicU64,
}

impl Shared {
    pub(crate) fn new(config: ServerConfig) -> Shared {
        let limits = &config.limits;
        Shared {
            metrics: Metrics::default(),
            presence: Presence::new(),
            channels: Channels::new(),
            offline: OfflineStore::new(StoreLimits {
                per_account: config.max_offline,
                accounts: limits.offline_accounts,
                bytes: limits.offline_bytes,
            }),
            quotas: Quotas {
                channels: Quota::new(limits.channels_per_creator),
                invitations: Quota::new(limits.invitations_per_inviter),
                ext_bytes: Quota::new(limits.ext_bytes_per_account),
            },
            expiry: Expiry::new(),
            admission: Arc::new(Admission::new(limits)),
            next_id: AtomicU64::new(1),
            config,
        }
    }

    /// Milliseconds since the Unix epoch (§P-1.4), from the configured clock.
    pub(crate) fn now_ms(&self) -> u64 {
        self.config.clock.now_ms()
    }

    /// A server-unique number for msgids and connections.
    pub(crate) fn next_id(&self) -> u64 {
        self.next_id.fetch_add(1, Relaxed)
    }

    /// Builds an event with a fresh msgid and the channel rendered now.
    pub(crate) fn event(
        &self,
        event_type: EventType,
        channel: &Arc<Channel>,
        from: &str,
        parts: EventParts,
    ) -> Outgoing {
        let now = self.now_ms();
        Outgoing {
            event: Arc::new(Event {
                event_type,
                msgid: format!("m-{}", self.next_id()),
                channel: channel.info(now),
                from: from.to_string(),
                to: parts.to,
                request_id: parts.request_id,
                attach_ext: parts.attach_ext,
                member: parts.member,
                push_info: parts.push_info,
                time: now,
            }),
            channel: channel.clone(),
            notify: OnceCell::new(),
        }
    }

    /// Sends `notify` to every online device of `account`, or stores the event when the
    /// account has none and `store` is set (§P-7.1); a store over its bounds refuses it
    /// (counted).
    pub(crate) fn deliver(&self, account: &str, out: &Outgoing, store: bool) -> Delivery {
        let text = out.notify_text();
        let mut mailbox = self.offline.lock(account);
        let delivery = self.presence.send(&mailbox, &text, None, &self.metrics);
        if !delivery.online && store && !fault!(self, OfflineDrop) {
            mailbox.store(
                &out.event,
                &out.channel,
                text.len() as u64,
                &self.quotas.ext_bytes,
                &self.metrics,
            );
        }
        delivery
    }

    /// Whether an event for `account` could be stored now if it had to be: false when
    /// the account is offline, `store` is set and the store's bounds or the sender's
    /// `ext` allowance would refuse it. Checked before a targeted op changes anything;
    /// `approx_bytes` is a generous estimate of the event without its `attachExt`.
    pub(crate) fn could_deliver(
        &self,
        account: &str,
        store: bool,
        from: &str,
        approx_bytes: usize,
        attach_ext: Option<&str>,
    ) -> bool {
        if !store || self.presence.is_online(account) {
            return true;
        }
        let ext = attach_ext.map_or(0, str::len) as u64;
        self.offline.lock(account).admits(
            approx_bytes as u64 + ext,
            from,
            ext,
            &self.quotas.ext_bytes,
        )
    }

    /// Sends the event as `multiClientSync` to the acting account's other online
    /// devices (§P-8.2); never stored.
    pub(crate) fn sync_other_devices(&self, account: &str, acting_conn: u64, out: &Outgoing) {
        if fault!(self, NoMultiClientSync) {
            return;
        }
        let text: Utf8Bytes = Push::MultiClientSync { event: &out.event }.to_text().into();
        let mailbox = self.offline.lock(account);
        self.presence
            .send(&mailbox, &text, Some(acting_conn), &self.metrics);
    }

    /// Runs `f` on a valid channel under its lock, or answers 10404. Validity is checked
    /// again under the lock: a concurrent close may have won the race.
    pub(crate) fn locked_channel<R>(
        &self,
        channel_id: &str,
        f: impl FnOnce(&Arc<Channel>, &mut ChannelInner) -> R,
    ) -> Result<R, Code> {
        let now = self.now_ms();
        let channel = self
            .channels
            .valid(channel_id, now)
            .ok_or(Code::RoomNotExists)?;
        let mut inner = lock(&channel.inner);
        if !channel.is_valid(now) {
            return Err(Code::RoomNotExists);
        }
        Ok(f(&channel, &mut inner))
    }

    /// Lets go of a closed or expired channel: its id and name, its members'
    /// memberships, its invitations and what its creator's allowances held for it.
    /// Must not be called under the channel's lock. Idempotent.
    pub(crate) fn forget_channel(&self, channel: &Arc<Channel>) {
        if !self.channels.remove(channel) {
            return;
        }
        let (members, inviters): (Vec<String>, Vec<String>) = {
            let mut inner = lock(&channel.inner);
            let members = inner.members.iter().map(|m| m.account.clone()).collect();
            (members, inner.invitations.drain_inviters().collect())
        };
        for account in members {
            self.channels.set_membership(&account, channel, false);
        }
        for inviter in inviters {
            self.quotas.invitations.give_back(&inviter, 1);
        }
        self.quotas.channels.give_back(&channel.creator, 1);
        self.quotas
            .ext_bytes
            .give_back(&channel.creator, channel.ext.len() as u64);
    }

    /// One tick of the sweeper: handles every deadline that has come (channels that
    /// expired, invitations past their time); nothing else is looked at.
    pub(crate) fn expire_due(&self) {
        let now = self.now_ms();
        loop {
            let due = self.expiry.pop_due(now);
            if due.is_empty() {
                return;
            }
            for due in due {
                match due {
                    Due::Channel(channel) => {
                        let Some(channel) = channel.upgrade() else {
                            continue;
                        };
                        let expire_time = channel.expire_time.load(Relaxed);
                        if channel.is_valid(now) {
                            // Extended by a join or delay since this entry was made.
                            self.expiry.channel(expire_time + 1, &channel);
                        } else {
                            self.forget_channel(&channel);
                        }
                    }
                    Due::Invitation(channel, key) => {
                        let Some(channel) = channel.upgrade() else {
                            continue;
                        };
                        let expired = lock(&channel.inner).invitations.expire(&key, now);
                        if expired {
                            self.quotas.invitations.give_back(&key.0, 1);
                        }
                    }
                }
            }
        }
    }
}

impl Shared {
    /// `GET /metrics`: the counters, then the sizes of the state and every limit.
    pub(crate) fn render_metrics(&self) -> String {
        let limits = &self.config.limits;
        let cap = |n: usize| u64::try_from(n).unwrap_or(u64::MAX);
        let store = self.offline.limits();
        self.metrics.render(&[
            (
                "sigbench_connections_open",
                "Open TCP connections (HTTP and WebSocket).",
                cap(self.admission.open()),
            ),
            (
                "sigbench_connections_not_logged_in",
                "Upgraded connections that have not logged in yet.",
                cap(self.admission.not_logged_in()),
            ),
            (
                "sigbench_channels",
                "Channels held (valid, or expired and not yet forgotten).",
                self.channels.count(),
            ),
            (
                "sigbench_invitations",
                "Invitations held, over all inviters.",
                self.quotas.invitations.total(),
            ),
            (
                "sigbench_offline_accounts",
                "Accounts holding stored offline events.",
                self.offline.accounts(),
            ),
            (
                "sigbench_offline_bytes",
                "Bytes of all stored offline events.",
                self.offline.bytes(),
            ),
            (
                "sigbench_ext_bytes",
                "ext bytes of channels and attachExt bytes of stored events, over all accounts.",
                self.quotas.ext_bytes.total(),
            ),
            (
                "sigbench_expiry_entries",
                "Deadlines waiting in the expiry heap.",
                cap(self.expiry.len()),
            ),
            (
                "sigbench_limit_connections",
                "Limit: open connections in total.",
                cap(limits.connections),
            ),
            (
                "sigbench_limit_connections_per_addr",
                "Limit: open connections per source address.",
                cap(limits.connections_per_addr),
            ),
            (
                "sigbench_limit_not_logged_in",
                "Limit: upgraded connections not yet logged in.",
                cap(limits.not_logged_in),
            ),
            (
                "sigbench_limit_channels_per_creator",
                "Limit: valid channels per creator.",
                self.quotas.channels.limit(),
            ),
            (
                "sigbench_limit_invitations_per_inviter",
                "Limit: invitations held per inviter.",
                self.quotas.invitations.limit(),
            ),
            (
                "sigbench_limit_offline_accounts",
                "Limit: accounts holding stored events.",
                store.accounts,
            ),
            (
                "sigbench_limit_offline_bytes",
                "Limit: bytes of all stored events.",
                store.bytes,
            ),
            (
                "sigbench_limit_offline_per_account",
                "Limit: stored events per account.",
                cap(store.per_account),
            ),
            (
                "sigbench_limit_ext_bytes_per_account",
                "Limit: ext and attachExt bytes held per account.",
                self.quotas.ext_bytes.limit(),
            ),
            (
                "sigbench_limit_queue_bytes",
                "Limit: bytes waiting in one connection's outbound queue.",
                cap(self.config.max_queue),
            ),
            (
                "sigbench_limit_read_frames_per_second",
                "Limit: frames read per connection per second.",
                u64::from(self.config.read_budget.frames_per_sec),
            ),
            (
                "sigbench_limit_read_bytes_per_second",
                "Limit: bytes read per connection per second.",
                self.config.read_budget.bytes_per_sec,
            ),
            (
                "sigbench_limit_login_timeout_seconds",
                "Deadline: seconds from upgrade to login.",
                self.config.timeouts.login.as_secs(),
            ),
            (
                "sigbench_limit_idle_timeout_seconds",
                "Deadline: seconds of client silence before closing.",
                self.config.timeouts.idle.as_secs(),
            ),
            (
                "sigbench_limit_write_timeout_seconds",
                "Deadline: seconds one write to a client may take.",
                self.config.timeouts.write.as_secs(),
            ),
        ])
    }
}
