//! A hash map split into independently locked shards, so that operations on unrelated
//! keys (channels, accounts) do not contend on one lock.
//!
//! The locks are std mutexes: nothing is ever awaited while a shard is held, and the
//! critical sections are a few map operations long.

use std::collections::HashMap;
use std::hash::{BuildHasher, Hash, RandomState};
use std::sync::{Mutex, MutexGuard};

const SHARDS: usize = 64;

pub(crate) struct Sharded<K, V> {
    hasher: RandomState,
    shards: Box<[Mutex<HashMap<K, V>>]>,
}

impl<K: Hash + Eq, V> Sharded<K, V> {
    pub(crate) fn new() -> Self {
        Sharded {
            hasher: RandomState::new(),
            shards: (0..SHARDS).map(|_| Mutex::new(HashMap::new())).collect(),
        }
    }

    /// Locks the shard that holds `key`.
    pub(crate) fn lock<Q>(&self, key: &Q) -> MutexGuard<'_, HashMap<K, V>>
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
