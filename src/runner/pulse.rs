//! Whether the target still answers: the time since a request was sent with nothing at
//! all received from the target afterwards, over every connection of a run. The runner's
//! watchdog ends a run whose target stays silent past `load.unresponsive_after`, instead
//! of letting every remaining session time out one by one.
//!
//! Cheap on the hot path: a frame received costs one relaxed load (plus a store only when
//! a wait was pending), a request sent likewise.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::{Duration, Instant};

/// See the module docs. Shared by every connection to one target.
#[derive(Debug)]
pub struct Pulse {
    /// What `waiting_since` counts from.
    origin: Instant,
    /// Milliseconds since `origin` + 1 of the oldest request sent since the target last
    /// said anything; 0 when nothing waits.
    waiting_since: AtomicU64,
}

impl Default for Pulse {
    fn default() -> Self {
        Pulse {
            origin: Instant::now(),
            waiting_since: AtomicU64::new(0),
        }
    }
}

impl Pulse {
    fn now(&self) -> u64 {
        u64::try_from(self.origin.elapsed().as_millis())
            .unwrap_or(u64::MAX - 1)
            .saturating_add(1)
    }

    /// A request was sent: if nothing was waiting, the silence clock starts now.
    pub fn asked(&self) {
        if self.waiting_since.load(Relaxed) == 0 {
            let _ = self
                .waiting_since
                .compare_exchange(0, self.now(), Relaxed, Relaxed);
        }
    }

    /// Something arrived from the target: it is not silent.
    pub fn heard(&self) {
        if self.waiting_since.load(Relaxed) != 0 {
            self.waiting_since.store(0, Relaxed);
        }
    }

    /// How long requests have waited with nothing received; `None` when nothing waits.
    pub fn silent_for(&self) -> Option<Duration> {
        let since = self.waiting_since.load(Relaxed);
        (since != 0).then(|| Duration::from_millis(self.now().saturating_sub(since)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn silence_counts_from_the_oldest_unanswered_request() {
        let pulse = Pulse::default();
        assert_eq!(pulse.silent_for(), None);
        pulse.asked();
        let first = pulse.waiting_since.load(Relaxed);
        pulse.asked();
        assert_eq!(pulse.waiting_since.load(Relaxed), first);
        assert!(pulse.silent_for().is_some());
        pulse.heard();
        assert_eq!(pulse.silent_for(), None);
    }
}
