//! Sessions and presence: which devices of an account are online, each reached through
//! its connection's [`ConnHandle`], and whether the account registered a push token.
//!
//! Lock order, by construction: every method that changes or reaches an account's
//! devices takes the account's [`MailboxGuard`] as a witness, so the offline store's lock
//! is always taken before this module's and an event is either sent to a device or stored,
//! never lost between the two (§P-7.1). This module's shard lock is a leaf.

use std::sync::Arc;
use std::sync::atomic::{AtomicU8, AtomicUsize, Ordering::Relaxed};

use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::Utf8Bytes;
use tokio_util::sync::CancellationToken;

use super::offline::MailboxGuard;
use crate::server::metrics::Metrics;
use crate::server::shard::Sharded;

/// Why a connection's `kill` token fired (its task picks the close code from this).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum StopReason {
    /// Server shutdown (the token is a child of the server's): 1001.
    Shutdown = 0,
    /// The client did not read its frames in time or let its queue grow past its byte
    /// bound: 1008.
    SlowConsumer = 1,
    /// A newer login of the same account and device: `kicked` push, then 4001.
    Kicked = 2,
}

/// How other tasks reach one connection.
#[derive(Clone, Debug)]
pub(crate) struct ConnHandle {
    pub id: u64,
    /// The frames waiting to be written, in order.
    tx: mpsc::Sender<Utf8Bytes>,
    /// Bytes in `tx` not yet taken by the writer: the queue is bounded in bytes.
    queued: Arc<AtomicUsize>,
    /// The most bytes `queued` may reach before the client counts as a slow consumer.
    max_queued: usize,
    /// Why `kill` fired, a [`StopReason`] as a number (set before cancelling).
    reason: Arc<AtomicU8>,
    /// Cancelled when the connection must go away at once: slow consumer, kick, or (as
    /// a child of the server's shutdown token) shutdown.
    pub kill: CancellationToken,
    /// Cancelled by the connection task when it has finished closing.
    pub done: CancellationToken,
}

impl ConnHandle {
    /// A handle and the receiving end of its queue.
    pub(crate) fn new(
        id: u64,
        max_queued: usize,
        shutdown: &CancellationToken,
    ) -> (ConnHandle, mpsc::Receiver<Utf8Bytes>) {
        // The byte bound is the real limit; the frame count only keeps a flood of tiny
        // frames from growing the channel's blocks without end.
        let (tx, rx) = mpsc::channel(8192);
        let handle = ConnHandle {
            id,
            tx,
            queued: Arc::new(AtomicUsize::new(0)),
            max_queued,
            reason: Arc::new(AtomicU8::new(StopReason::Shutdown as u8)),
            kill: shutdown.child_token(),
            done: CancellationToken::new(),
        };
        (handle, rx)
    }

    /// Queues a frame without waiting. A queue past its byte bound means the client
    /// stopped reading: it is disconnected rather than allowed to grow server memory.
    pub(crate) fn send(&self, text: Utf8Bytes, metrics: &Metrics) -> bool {
        if self.kill.is_cancelled() {
            return false;
        }
        let len = text.len();
        if self.queued.fetch_add(len, Relaxed) + len > self.max_queued {
            self.queued.fetch_sub(len, Relaxed);
            self.stop(StopReason::SlowConsumer, metrics);
            return false;
        }
        match self.tx.try_send(text) {
            Ok(()) => true,
            Err(e) => {
                self.queued.fetch_sub(len, Relaxed);
                if matches!(e, mpsc::error::TrySendError::Full(_)) {
                    self.stop(StopReason::SlowConsumer, metrics);
                }
                false
            }
        }
    }

    /// Whether `len` more bytes, besides what is queued, stay within the bound.
    pub(crate) fn fits(&self, len: usize) -> bool {
        self.queued.load(Relaxed) + len <= self.max_queued
    }

    /// Called by the writer for the bytes it takes from the queue.
    pub(crate) fn taken(&self, len: usize) {
        self.queued.fetch_sub(len, Relaxed);
    }

    /// Stops the connection at once for `reason` (the first reason wins).
    pub(crate) fn stop(&self, reason: StopReason, metrics: &Metrics) {
        if self.kill.is_cancelled() {
            return;
        }
        self.reason.store(reason as u8, Relaxed);
        self.kill.cancel();
        match reason {
            StopReason::SlowConsumer => Metrics::add(&metrics.slow_consumers, 1),
            StopReason::Kicked => Metrics::add(&metrics.kicks, 1),
            StopReason::Shutdown => {}
        }
    }

    /// Why the connection was stopped (meaningful once `kill` fired).
    pub(crate) fn stop_reason(&self) -> StopReason {
        match self.reason.load(Relaxed) {
            1 => StopReason::SlowConsumer,
            2 => StopReason::Kicked,
            _ => StopReason::Shutdown,
        }
    }
}

/// One online device of an account.
struct Device {
    /// The device name given at login (a second login with it kicks this one).
    name: String,
    /// How to reach its connection.
    conn: ConnHandle,
}

#[derive(Default)]
struct Account {
    /// Online devices, in login order.
    devices: Vec<Device>,
    /// A pushToken was registered (§P-3.4); it outlives connections.
    push_token: bool,
}

/// Where an event went.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Delivery {
    pub online: bool,
    pub push_token: bool,
}

pub(crate) struct Presence {
    /// Accounts with an online device or a push token.
    accounts: Sharded<String, Account>,
}

impl Presence {
    pub(crate) fn new() -> Presence {
        Presence {
            accounts: Sharded::new(),
        }
    }

    /// Registers `conn` as `device` of the mailbox's account; returns the connection it
    /// replaces (to be kicked), if any. With `kick` false (fault `no-kick`) both stay.
    pub(crate) fn register(
        &self,
        mailbox: &MailboxGuard<'_>,
        device: &str,
        conn: &ConnHandle,
        push_token: bool,
        kick: bool,
    ) -> Option<ConnHandle> {
        let account = mailbox.account();
        let mut shard = self.accounts.lock(account);
        let state = shard.entry(account.to_string()).or_default();
        state.push_token |= push_token;
        let replaced = match state.devices.iter().position(|d| d.name == device) {
            Some(pos) if kick => Some(state.devices.remove(pos).conn),
            _ => None,
        };
        state.devices.push(Device {
            name: device.to_string(),
            conn: conn.clone(),
        });
        replaced
    }

    /// Removes a device registration when its connection ends (only if it is still the
    /// registered one: a kick may have replaced it already).
    pub(crate) fn unregister(&self, mailbox: &MailboxGuard<'_>, conn_id: u64) {
        let account = mailbox.account();
        let mut shard = self.accounts.lock(account);
        if let Some(state) = shard.get_mut(account) {
            state.devices.retain(|d| d.conn.id != conn_id);
            if state.devices.is_empty() && !state.push_token {
                shard.remove(account);
            }
        }
    }

    /// Queues `text` to every online device of the mailbox's account except
    /// `except_conn`; says whether the account is online and has a push token.
    pub(crate) fn send(
        &self,
        mailbox: &MailboxGuard<'_>,
        text: &Utf8Bytes,
        except_conn: Option<u64>,
        metrics: &Metrics,
    ) -> Delivery {
        let account = mailbox.account();
        let shard = self.accounts.lock(account);
        let Some(state) = shard.get(account) else {
            return Delivery {
                online: false,
                push_token: false,
            };
        };
        for device in &state.devices {
            if Some(device.conn.id) != except_conn && device.conn.send(text.clone(), metrics) {
                Metrics::add(&metrics.events_delivered, 1);
            }
        }
        Delivery {
            online: !state.devices.is_empty(),
            push_token: state.push_token,
        }
    }

    /// Whether `account` has an online device now (a hint: it may change at once).
    pub(crate) fn is_online(&self, account: &str) -> bool {
        self.accounts
            .lock(account)
            .get(account)
            .is_some_and(|s| !s.devices.is_empty())
    }
}
