//! Per-account allowances (channels per creator, invitations per inviter, `ext` bytes per
//! account): a count per account that may not pass a limit, and the sum over all accounts
//! for `/metrics`.
//!
//! A leaf lock: nothing else is locked while a quota's shard is held.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

use crate::server::shard::Sharded;

pub(crate) struct Quota {
    /// The most one account may hold.
    limit: u64,
    /// What each account holds now; accounts holding nothing are absent.
    used: Sharded<String, u64>,
    /// The sum of `used`, for `/metrics`.
    total: AtomicU64,
}

impl Quota {
    pub(crate) fn new(limit: u64) -> Quota {
        Quota {
            limit,
            used: Sharded::new(),
            total: AtomicU64::new(0),
        }
    }

    pub(crate) fn limit(&self) -> u64 {
        self.limit
    }

    /// Takes `n` units for `account` if it then holds at most the limit; false (and
    /// nothing taken) otherwise.
    pub(crate) fn try_take(&self, account: &str, n: u64) -> bool {
        if n == 0 {
            return true;
        }
        let mut shard = self.used.lock(account);
        let held = shard.get(account).copied().unwrap_or(0);
        if held.saturating_add(n) > self.limit {
            return false;
        }
        *shard.entry(account.to_string()).or_default() += n;
        self.total.fetch_add(n, Relaxed);
        true
    }

    /// Whether `account` could take `n` more units now.
    pub(crate) fn has_room(&self, account: &str, n: u64) -> bool {
        let held = self.used.lock(account).get(account).copied().unwrap_or(0);
        held.saturating_add(n) <= self.limit
    }

    /// Gives back `n` units that `account` took.
    pub(crate) fn give_back(&self, account: &str, n: u64) {
        if n == 0 {
            return;
        }
        let mut shard = self.used.lock(account);
        if let Some(held) = shard.get_mut(account) {
            let n = n.min(*held);
            *held -= n;
            self.total.fetch_sub(n, Relaxed);
            if *held == 0 {
                shard.remove(account);
            }
        }
    }

    /// Units held over all accounts.
    pub(crate) fn total(&self) -> u64 {
        self.total.load(Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn takes_up_to_the_limit_and_gives_back() {
        let q = Quota::new(3);
        assert!(q.try_take("a", 2));
        assert!(!q.try_take("a", 2));
        assert!(q.try_take("b", 3));
        assert!(q.try_take("a", 1));
        assert!(!q.has_room("a", 1));
        assert_eq!(q.total(), 6);
        q.give_back("a", 3);
        assert!(q.has_room("a", 3));
        q.give_back("a", 5);
        assert_eq!(q.total(), 3);
    }
}
