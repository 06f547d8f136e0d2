//! Where the server reads the time of day (§P-1.4 timestamps; channel and invitation
//! expiry): the system clock, or, for tests of TTLs, a clock that moves only when told,
//! so that "past its TTL" and "still within it" do not depend on how fast the machine
//! runs. Every expiry decision reads the clock at the time of the request (the sweeper
//! only frees what is already expired), so moving a manual clock takes effect at once.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// The server's clock.
#[derive(Clone, Debug, Default)]
pub enum Clock {
    /// The system's time of day.
    #[default]
    System,
    /// Milliseconds since the Unix epoch, moved only by [`Clock::advance`].
    Manual(Arc<AtomicU64>),
}

impl Clock {
    /// A manual clock that starts at the system's time now.
    pub fn manual() -> Clock {
        Clock::Manual(Arc::new(AtomicU64::new(system_ms())))
    }

    /// Milliseconds since the Unix epoch.
    pub fn now_ms(&self) -> u64 {
        match self {
            Clock::System => system_ms(),
            Clock::Manual(ms) => ms.load(Relaxed),
        }
    }

    /// Moves a manual clock forward by `by` (whole milliseconds). The system clock
    /// cannot be moved: a no-op there.
    pub fn advance(&self, by: Duration) {
        if let Clock::Manual(ms) = self {
            ms.fetch_add(u64::try_from(by.as_millis()).unwrap_or(u64::MAX), Relaxed);
        }
    }
}

fn system_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_manual_clock_moves_only_when_told_and_the_system_clock_cannot_be_moved() {
        let clock = Clock::manual();
        let start = clock.now_ms();
        let shared = clock.clone();
        assert_eq!(clock.now_ms(), start);
        shared.advance(Duration::from_millis(1500));
        assert_eq!(clock.now_ms(), start + 1500, "clones share the time");
        let system = Clock::System;
        let before = system.now_ms();
        system.advance(Duration::from_secs(3600));
        assert!(system.now_ms() < before + 3_600_000);
    }
}
