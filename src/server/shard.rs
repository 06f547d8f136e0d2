//! A hash map split into independently locked shards, so that operations on unrelated
//! keys (channels, accounts) do not contend on one lock.
//!
//! The locks are std mutexes: nothing is ever awaited while a shard is held, and the
//! critical sections are a few map operations long.
//!
//! Keys come from clients (channel ids, accounts), so they are hashed with a keyed hash:
//! foldhash's quality variant, seeded at random per map, several times cheaper than
//! std's SipHash on short keys (a lookup hashes its key twice: shard, then map), with
//! the same defence against keys chosen to collide: the seed is not known outside.

use std::collections::HashMap;
use std::hash::{BuildHasher, Hash};
use std::sync::{Mutex, MutexGuard};

use foldhash::quality::RandomState;

const SHARDS: usize = 64;

/// One shard's map; every map draws a seed of its own, so the keys of one shard (which
/// share their shard hash's low bits) spread over the map's buckets.
pub(crate) type ShardMap<K, V> = HashMap<K, V, RandomState>;

pub(crate) struct Sharded<K, V> {
    /// Picks the shard of a key.
    hasher: RandomState,
    /// The maps, each behind its own lock.
    shards: Box<[Mutex<ShardMap<K, V>>]>,
}

impl<K: Hash + Eq, V> Sharded<K, V> {
    pub(crate) fn new() -> Self {
        Sharded {
            hasher: RandomState::default(),
            shards: (0..SHARDS)
                .map(|_| Mutex::new(ShardMap::default()))
                .collect(),
        }
    }

    /// Locks the shard that holds `key`.
    pub(crate) fn lock<Q>(&self, key: &Q) -> MutexGuard<'_, ShardMap<K, V>>
    where
        K: std::borrow::Borrow<Q>,
        Q: Hash + ?Sized,
    {
        let index = (self.hasher.hash_one(key) as usize) % SHARDS;
        lock(&self.shards[index])
    }
}

/// Locks a mutex, ignoring poisoning: every critical section leaves the data consistent
/// before anything that could panic, so a poisoned lock still holds valid state.
pub(crate) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}
