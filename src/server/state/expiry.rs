//! Expiry without scanning: one min-heap of deadlines (channel TTLs, invitation expiry
//! times). The sweeper pops only what is due, so an idle server with a million channels
//! does the same work per tick as one with none.
//!
//! A channel has one entry at a time: when it is popped and the channel was extended
//! meanwhile, it is pushed again at its new expiry time. An invitation gets an entry each
//! time it is (re)issued; a popped entry whose invitation was renewed finds it not yet
//! expired and is dropped. The heap holds `Weak` references: a closed channel's memory is
//! not kept alive by its pending entries. The heap's lock is a leaf.

use std::cmp::Ordering;
use std::collections::BinaryHeap;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex, Weak};

use super::channels::Channel;
use super::invitations::InviteKey;
use crate::server::shard::lock;

/// What comes due.
pub(crate) enum Due {
    Channel(Weak<Channel>),
    Invitation(Weak<Channel>, InviteKey),
}

struct Entry {
    /// When it is due, ms since the epoch.
    at: u64,
    /// Breaks ties so that the order is total.
    seq: u64,
    /// What to look at then.
    due: Due,
}

impl PartialEq for Entry {
    fn eq(&self, other: &Self) -> bool {
        (self.at, self.seq) == (other.at, other.seq)
    }
}
impl Eq for Entry {}
impl PartialOrd for Entry {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Entry {
    /// Reversed: `BinaryHeap` is a max-heap and the earliest deadline must come first.
    fn cmp(&self, other: &Self) -> Ordering {
        (other.at, other.seq).cmp(&(self.at, self.seq))
    }
}

pub(crate) struct Expiry {
    /// Deadlines, earliest first.
    heap: Mutex<BinaryHeap<Entry>>,
    /// Next tie-breaker.
    seq: AtomicU64,
}

/// Entries handled per pop, so that one tick never holds the heap for long.
const BATCH: usize = 4096;

impl Expiry {
    pub(crate) fn new() -> Expiry {
        Expiry {
            heap: Mutex::new(BinaryHeap::new()),
            seq: AtomicU64::new(0),
        }
    }

    pub(crate) fn channel(&self, at: u64, channel: &Arc<Channel>) {
        self.push(at, Due::Channel(Arc::downgrade(channel)));
    }

    pub(crate) fn invitation(&self, at: u64, channel: &Arc<Channel>, key: InviteKey) {
        self.push(at, Due::Invitation(Arc::downgrade(channel), key));
    }

    fn push(&self, at: u64, due: Due) {
        let seq = self.seq.fetch_add(1, Relaxed);
        lock(&self.heap).push(Entry { at, seq, due });
    }

    /// Up to [`BATCH`] entries due at `now` or earlier, earliest first.
    pub(crate) fn pop_due(&self, now: u64) -> Vec<Due> {
        let mut heap = lock(&self.heap);
        let mut out = Vec::new();
        while out.len() < BATCH && heap.peek().is_some_and(|e| e.at <= now) {
            if let Some(entry) = heap.pop() {
                out.push(entry.due);
            }
        }
        out
    }

    /// Entries waiting, for `/metrics`.
    pub(crate) fn len(&self) -> usize {
        lock(&self.heap).len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pops_only_what_is_due_in_deadline_order() {
        let e = Expiry::new();
        let key = |n: &str| (n.to_string(), String::new(), String::new());
        let c = Weak::new();
        e.push(30, Due::Invitation(c.clone(), key("c")));
        e.push(10, Due::Invitation(c.clone(), key("a")));
        e.push(20, Due::Invitation(c, key("b")));
        assert!(e.pop_due(5).is_empty());
        let names: Vec<String> = e
            .pop_due(20)
            .into_iter()
            .map(|d| match d {
                Due::Invitation(_, k) => k.0,
                Due::Channel(_) => unreachable!(),
            })
            .collect();
        assert_eq!(names, ["a", "b"]);
        assert_eq!(e.len(), 1);
    }
}
