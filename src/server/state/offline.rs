//! The offline store (§P-7): events kept for accounts with no online device, until the
//! account marks them read. Bounded three ways: events per account (the oldest is
//! dropped, §P-7.3), accounts holding events and bytes over all accounts (a new event is
//! refused and counted); the `attachExt` bytes of a stored event count against its
//! sender's `ext` allowance until the event leaves the store.
//!
//! An account's mailbox lock ([`MailboxGuard`]) is taken before its presence entry
//! (see [`super::presence`]) and never while a channel lock is wanted.

use std::collections::{HashSet, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, MutexGuard};

use super::channels::Channel;
use super::quota::Quota;
use crate::protocol::Event;
use crate::server::metrics::Metrics;
use crate::server::shard::{ShardMap, Sharded};

/// A stored event; its channel is rendered again when delivered (§P-4.3).
pub(crate) struct StoredEvent {
    /// The event as it was built (shared with the online deliveries of the same event).
    pub event: Arc<Event>,
    /// Its channel, rendered anew at delivery.
    pub channel: Arc<Channel>,
    /// The event's size as sent (its `notify` text), counted against the store's bound.
    bytes: u64,
    /// `attachExt` bytes charged to the event's sender.
    ext_bytes: u64,
}

/// Limits of the store.
#[derive(Clone, Copy, Debug)]
pub(crate) struct StoreLimits {
    /// Events per account (the oldest is dropped past it).
    pub per_account: usize,
    /// Accounts holding events.
    pub accounts: u64,
    /// Bytes over all accounts.
    pub bytes: u64,
}

pub(crate) struct OfflineStore {
    limits: StoreLimits,
    /// Stored events per account, oldest first; accounts without events are absent.
    mailboxes: Sharded<String, VecDeque<StoredEvent>>,
    /// Accounts with at least one stored event.
    accounts: AtomicU64,
    /// Bytes of all stored events.
    bytes: AtomicU64,
}

/// One account's mailbox, locked.
pub(crate) struct MailboxGuard<'a> {
    /// The store, for its bounds and counters.
    store: &'a OfflineStore,
    /// The account whose mailbox this is.
    account: &'a str,
    /// The locked shard holding the mailbox.
    shard: MutexGuard<'a, ShardMap<String, VecDeque<StoredEvent>>>,
}

impl OfflineStore {
    pub(crate) fn new(limits: StoreLimits) -> OfflineStore {
        OfflineStore {
            limits,
            mailboxes: Sharded::new(),
            accounts: AtomicU64::new(0),
            bytes: AtomicU64::new(0),
        }
    }

    pub(crate) fn limits(&self) -> StoreLimits {
        self.limits
    }

    /// Locks `account`'s mailbox.
    pub(crate) fn lock<'a>(&'a self, account: &'a str) -> MailboxGuard<'a> {
        MailboxGuard {
            store: self,
            account,
            shard: self.mailboxes.lock(account),
        }
    }

    /// Accounts holding stored events.
    pub(crate) fn accounts(&self) -> u64 {
        self.accounts.load(Relaxed)
    }

    /// Bytes of all stored events.
    pub(crate) fn bytes(&self) -> u64 {
        self.bytes.load(Relaxed)
    }

    /// Takes room for `bytes` (and one more account when `new_account`); false when a
    /// global bound would be passed.
    fn reserve(&self, bytes: u64, new_account: bool) -> bool {
        if self.bytes.fetch_add(bytes, Relaxed) + bytes > self.limits.bytes {
            self.bytes.fetch_sub(bytes, Relaxed);
            return false;
        }
        if new_account && self.accounts.fetch_add(1, Relaxed) + 1 > self.limits.accounts {
            self.accounts.fetch_sub(1, Relaxed);
            self.bytes.fetch_sub(bytes, Relaxed);
            return false;
        }
        true
    }

    fn release(&self, stored: &StoredEvent, ext: &Quota) {
        self.bytes.fetch_sub(stored.bytes, Relaxed);
        ext.give_back(&stored.event.from, stored.ext_bytes);
    }
}

impl MailboxGuard<'_> {
    pub(crate) fn account(&self) -> &str {
        self.account
    }

    /// Whether an event of `bytes` bytes, `ext_bytes` of them charged to `from`, could be
    /// stored here now.
    pub(crate) fn admits(&self, bytes: u64, from: &str, ext_bytes: u64, ext: &Quota) -> bool {
        let limits = self.store.limits;
        let new_account = !self.shard.contains_key(self.account);
        self.store.bytes() + bytes <= limits.bytes
            && (!new_account || self.store.accounts() < limits.accounts)
            && ext.has_room(from, ext_bytes)
    }

    /// Stores `event` (rendered as `bytes` bytes); false when a bound refused it.
    pub(crate) fn store(
        &mut self,
        event: &Arc<Event>,
        channel: &Arc<Channel>,
        bytes: u64,
        ext: &Quota,
        metrics: &Metrics,
    ) -> bool {
        let ext_bytes = event.attach_ext.as_ref().map_or(0, |e| e.len() as u64);
        let new_account = !self.shard.contains_key(self.account);
        if !ext.try_take(&event.from, ext_bytes) {
            Metrics::add(&metrics.events_refused, 1);
            return false;
        }
        if !self.store.reserve(bytes, new_account) {
            ext.give_back(&event.from, ext_bytes);
            Metrics::add(&metrics.events_refused, 1);
            return false;
        }
        let queue = self.shard.entry(self.account.to_string()).or_default();
        queue.push_back(StoredEvent {
            event: event.clone(),
            channel: channel.clone(),
            bytes,
            ext_bytes,
        });
        Metrics::add(&metrics.events_stored, 1);
        while queue.len() > self.store.limits.per_account {
            if let Some(dropped) = queue.pop_front() {
                self.store.release(&dropped, ext);
                Metrics::add(&metrics.events_dropped, 1);
            }
        }
        if queue.is_empty() {
            self.shard.remove(self.account);
            self.store.accounts.fetch_sub(1, Relaxed);
        }
        true
    }

    /// The stored events, oldest first (cheap: the events are shared, not copied).
    pub(crate) fn unread(&self) -> Vec<(Arc<Event>, Arc<Channel>)> {
        self.shard.get(self.account).map_or_else(Vec::new, |q| {
            q.iter()
                .map(|s| (s.event.clone(), s.channel.clone()))
                .collect()
        })
    }

    /// Removes the stored events whose msgid is in `ids` (§P-7.2); all of them with
    /// `None`.
    pub(crate) fn remove(&mut self, ids: Option<&HashSet<&str>>, ext: &Quota) {
        let Some(queue) = self.shard.get_mut(self.account) else {
            return;
        };
        let store = self.store;
        queue.retain(|stored| {
            let keep = ids.is_some_and(|ids| !ids.contains(stored.event.msgid.as_str()));
            if !keep {
                store.release(stored, ext);
            }
            keep
        });
        if queue.is_empty() {
            self.shard.remove(self.account);
            self.store.accounts.fetch_sub(1, Relaxed);
        }
    }
}
