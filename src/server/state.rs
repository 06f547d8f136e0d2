//! The server's shared state: channels (by id and by name) and accounts (online
//! devices, push registration, offline store), each in a sharded map.
//!
//! Lock order, to rule out deadlocks: a channel's `inner` lock may be held while an
//! account shard is locked (delivery under the channel lock keeps event order per
//! channel), never the other way round. Map shards are only held for lookups and
//! inserts, never while another lock is taken — except the name index, which reads a
//! channel's atomics (no lock) while held.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::Utf8Bytes;
use tokio_util::sync::CancellationToken;

use super::ServerConfig;
use super::metrics::Metrics;
use super::shard::{Sharded, lock};
use crate::protocol::frame::Push;
use crate::protocol::{ChannelInfo, ChannelWithMembers, Code, Event, EventType, MemberInfo};

/// Milliseconds since the Unix epoch (§P-1.4).
pub(crate) fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

pub(crate) fn ms(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// What a connection task is asked to write or do, in order.
#[derive(Debug)]
pub(crate) enum Outbound {
    Text(Utf8Bytes),
    /// Send the `kicked` push, then close with 4001 (§P-3.5).
    Kicked,
}

/// How other tasks reach one connection.
#[derive(Clone, Debug)]
pub(crate) struct ConnHandle {
    pub id: u64,
    pub tx: mpsc::Sender<Outbound>,
    /// Cancelled when the connection must go away at once: a slow consumer, or (as a
    /// child of the server's shutdown token) a server shutdown.
    pub kill: CancellationToken,
    /// Cancelled by the connection task when it has finished closing.
    pub done: CancellationToken,
}

impl ConnHandle {
    /// Queues a frame without waiting. A full queue means the client stopped reading:
    /// it is disconnected rather than allowed to grow server memory.
    pub(crate) fn send(&self, out: Outbound, metrics: &Metrics) -> bool {
        match self.tx.try_send(out) {
            Ok(()) => true,
            Err(mpsc::error::TrySendError::Full(_)) => {
                if !self.kill.is_cancelled() {
                    self.kill.cancel();
                    Metrics::add(&metrics.slow_consumers, 1);
                }
                false
            }
            Err(mpsc::error::TrySendError::Closed(_)) => false,
        }
    }
}

/// One online device of an account.
pub(crate) struct Device {
    pub name: String,
    pub conn: ConnHandle,
}

/// A stored offline event; its channel is rendered again when delivered (§P-4.3).
pub(crate) struct StoredEvent {
    pub event: Event,
    pub channel: Arc<Channel>,
}

#[derive(Default)]
pub(crate) struct AccountState {
    /// Online devices, in login order.
    pub devices: Vec<Device>,
    /// A pushToken was registered (§P-3.4); it outlives connections.
    pub push_token: bool,
    /// Stored events, oldest first (§P-7).
    pub offline: VecDeque<StoredEvent>,
    /// Channels this account is a member of, for `channelsSync`.
    pub channels: HashMap<String, Arc<Channel>>,
}

impl AccountState {
    fn is_empty(&self) -> bool {
        self.devices.is_empty()
            && !self.push_token
            && self.offline.is_empty()
            && self.channels.is_empty()
    }
}

/// A channel member (membership belongs to the account, §P-5.8).
pub(crate) struct Member {
    pub account: String,
    pub device: String,
    pub uid: i64,
    pub join_time: u64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum InviteState {
    Pending,
    Accepted,
    Rejected,
    Cancelled,
}

pub(crate) struct Invitation {
    pub state: InviteState,
    /// Expiry of a pending invitation, ms since the epoch.
    pub expires_at: u64,
}

/// (inviter, invitee, requestId); the channel is implied by where it is stored.
pub(crate) type InviteKey = (String, String, String);

#[derive(Default)]
pub(crate) struct ChannelInner {
    pub members: Vec<Member>,
    pub invitations: HashMap<InviteKey, Invitation>,
}

impl ChannelInner {
    pub(crate) fn is_member(&self, account: &str) -> bool {
        self.members.iter().any(|m| m.account == account)
    }
}

pub(crate) struct Channel {
    pub id: String,
    pub name: String,
    pub kind: u8,
    pub ext: String,
    pub creator: String,
    pub create_time: u64,
    /// Atomics so that rendering a channel (for stored events, name checks) needs no lock.
    pub expire_time: AtomicU64,
    pub closed: AtomicBool,
    /// Members and invitations; every state transition happens under this lock.
    pub inner: Mutex<ChannelInner>,
}

impl Channel {
    pub(crate) fn is_valid(&self, now: u64) -> bool {
        !self.closed.load(Relaxed) && now <= self.expire_time.load(Relaxed)
    }

    pub(crate) fn info(&self, now: u64) -> ChannelInfo {
        ChannelInfo {
            channel_id: self.id.clone(),
            channel_name: self.name.clone(),
            kind: self.kind,
            ext: self.ext.clone(),
            creator: self.creator.clone(),
            create_time: self.create_time,
            expire_time: self.expire_time.load(Relaxed),
            invalid: !self.is_valid(now),
        }
    }

    pub(crate) fn member_info(&self, member: &Member) -> MemberInfo {
        MemberInfo {
            account: member.account.clone(),
            uid: member.uid,
            join_time: member.join_time,
            expire_time: self.expire_time.load(Relaxed),
        }
    }

    /// The creator and every member may close, delay and invite (§P-5.4, §P-5.6, §P-6.1).
    pub(crate) fn may_manage(&self, inner: &ChannelInner, account: &str) -> bool {
        self.creator == account || inner.is_member(account)
    }

    pub(crate) fn with_members(&self, inner: &ChannelInner, now: u64) -> ChannelWithMembers {
        ChannelWithMembers {
            channel: self.info(now),
            members: inner.members.iter().map(|m| self.member_info(m)).collect(),
        }
    }
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

/// An event on its way out: serialized at most once, however many devices get it.
pub(crate) struct Outgoing {
    pub event: Event,
    pub channel: Arc<Channel>,
    notify: std::cell::OnceCell<Utf8Bytes>,
}

impl Outgoing {
    fn notify_text(&self) -> Utf8Bytes {
        self.notify
            .get_or_init(|| Push::Notify { event: &self.event }.to_text().into())
            .clone()
    }
}

/// Where an event went.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Delivery {
    pub online: bool,
    pub push_token: bool,
}

pub(crate) struct Shared {
    pub config: ServerConfig,
    pub accounts: Sharded<String, AccountState>,
    pub channels: Sharded<String, Arc<Channel>>,
    /// Channel name → the channel that last took it; valid only while that channel is.
    pub names: Sharded<String, Arc<Channel>>,
    pub metrics: Metrics,
    next_msgid: AtomicU64,
    next_id: AtomicU64,
}

impl Shared {
    pub(crate) fn new(config: ServerConfig) -> Shared {
        Shared {
            config,
            accounts: Sharded::new(),
            channels: Sharded::new(),
            names: Sharded::new(),
            metrics: Metrics::default(),
            next_msgid: AtomicU64::new(1),
            next_id: AtomicU64::new(1),
        }
    }

    /// A server-unique number for channel ids, generated names and connections.
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
        let now = now_ms();
        Outgoing {
            event: Event {
                event_type,
                msgid: format!("m-{}", self.next_msgid.fetch_add(1, Relaxed)),
                channel: channel.info(now),
                from: from.to_string(),
                to: parts.to,
                request_id: parts.request_id,
                attach_ext: parts.attach_ext,
                member: parts.member,
                push_info: parts.push_info,
                time: now,
            },
            channel: channel.clone(),
            notify: std::cell::OnceCell::new(),
        }
    }

    /// Sends `notify` to every online device of `account`, or stores the event when the
    /// account has none and `store` is set (§P-7.1).
    pub(crate) fn deliver(&self, account: &str, out: &Outgoing, store: bool) -> Delivery {
        let mut shard = self.accounts.lock(account);
        let Some(state) = shard.get_mut(account) else {
            if store {
                let mut state = AccountState::default();
                self.store(&mut state, out);
                shard.insert(account.to_string(), state);
            }
            return Delivery {
                online: false,
                push_token: false,
            };
        };
        if state.devices.is_empty() {
            if store {
                self.store(state, out);
            }
        } else {
            let text = out.notify_text();
            for device in &state.devices {
                if device
                    .conn
                    .send(Outbound::Text(text.clone()), &self.metrics)
                {
                    Metrics::add(&self.metrics.events_delivered, 1);
                }
            }
        }
        Delivery {
            online: !state.devices.is_empty(),
            push_token: state.push_token,
        }
    }

    fn store(&self, state: &mut AccountState, out: &Outgoing) {
        if fault!(self, OfflineDrop) {
            return;
        }
        state.offline.push_back(StoredEvent {
            event: out.event.clone(),
            channel: out.channel.clone(),
        });
        Metrics::add(&self.metrics.events_stored, 1);
        while state.offline.len() > self.config.max_offline {
            state.offline.pop_front();
            Metrics::add(&self.metrics.events_dropped, 1);
        }
    }

    /// Sends the event as `multiClientSync` to the acting account's other online
    /// devices (§P-8.2); never stored.
    pub(crate) fn sync_other_devices(&self, account: &str, acting_conn: u64, out: &Outgoing) {
        if fault!(self, NoMultiClientSync) {
            return;
        }
        let shard = self.accounts.lock(account);
        let Some(state) = shard.get(account) else {
            return;
        };
        let mut text: Option<Utf8Bytes> = None;
        for device in state.devices.iter().filter(|d| d.conn.id != acting_conn) {
            let text = text
                .get_or_insert_with(|| Push::MultiClientSync { event: &out.event }.to_text().into())
                .clone();
            if device.conn.send(Outbound::Text(text), &self.metrics) {
                Metrics::add(&self.metrics.events_delivered, 1);
            }
        }
    }

    /// Records that `account` is (or is no longer) a member of `channel`.
    pub(crate) fn set_membership(&self, account: &str, channel: &Arc<Channel>, member: bool) {
        let mut shard = self.accounts.lock(account);
        if member {
            shard
                .entry(account.to_string())
                .or_default()
                .channels
                .insert(channel.id.clone(), channel.clone());
        } else if let Some(state) = shard.get_mut(account) {
            state.channels.remove(&channel.id);
            if state.is_empty() {
                shard.remove(account);
            }
        }
    }

    /// Removes a device registration when its connection ends (only if it is still the
    /// registered one: a kick may have replaced it already).
    pub(crate) fn unregister(&self, account: &str, conn_id: u64) {
        let mut shard = self.accounts.lock(account);
        if let Some(state) = shard.get_mut(account) {
            state.devices.retain(|d| d.conn.id != conn_id);
            if state.is_empty() {
                shard.remove(account);
            }
        }
    }

    /// Looks a channel up by id; `None` when missing, closed or expired.
    pub(crate) fn valid_channel(&self, id: &str, now: u64) -> Option<Arc<Channel>> {
        let channel = self.channels.lock(id).get(id).cloned()?;
        channel.is_valid(now).then_some(channel)
    }

    /// Runs `f` on a valid channel under its lock, or answers 10404. Validity is checked
    /// again under the lock: a concurrent close may have won the race.
    pub(crate) fn locked_channel<R>(
        &self,
        channel_id: &str,
        f: impl FnOnce(&Arc<Channel>, &mut ChannelInner) -> R,
    ) -> Result<R, Code> {
        let now = now_ms();
        let channel = self
            .valid_channel(channel_id, now)
            .ok_or(Code::RoomNotExists)?;
        let mut inner = lock(&channel.inner);
        if !channel.is_valid(now) {
            return Err(Code::RoomNotExists);
        }
        Ok(f(&channel, &mut inner))
    }

    /// Frees a closed or expired channel's id and name.
    pub(crate) fn forget_channel(&self, channel: &Arc<Channel>) {
        {
            let mut names = self.names.lock(&channel.name);
            if names
                .get(&channel.name)
                .is_some_and(|c| Arc::ptr_eq(c, channel))
            {
                names.remove(&channel.name);
            }
        }
        self.channels.lock(&channel.id).remove(&channel.id);
    }

    /// The periodic sweep: forgets invalid channels and expired pending invitations, so
    /// that expiry needs no timer per object (validity is also checked on every access).
    pub(crate) fn sweep(&self) {
        let now = now_ms();
        let mut expired = Vec::new();
        let mut live = Vec::new();
        for shard in self.channels.shards() {
            for channel in shard.values() {
                if channel.is_valid(now) {
                    live.push(channel.clone());
                } else {
                    expired.push(channel.clone());
                }
            }
        }
        for channel in live {
            lock(&channel.inner)
                .invitations
                .retain(|_, inv| inv.state != InviteState::Pending || inv.expires_at >= now);
        }
        for channel in expired {
            let members: Vec<String> = lock(&channel.inner)
                .members
                .iter()
                .map(|m| m.account.clone())
                .collect();
            for account in members {
                self.set_membership(&account, &channel, false);
            }
            self.forget_channel(&channel);
        }
    }
}
