//! The per-connection read budget (frames and bytes per second), charged for every frame
//! before it is parsed. A connection in debt is not read until the budget has refilled,
//! so a flood costs the server the reads it allows and nothing more, and TCP flow
//! control slows the sender down.

use std::time::Duration;

use tokio::time::Instant;

use super::config::ReadBudget;

pub(crate) struct Budget {
    /// Frames credited per second.
    frames_rate: f64,
    /// Bytes credited per second.
    bytes_rate: f64,
    /// The most frames the balance may hold (one second's worth).
    frames_burst: f64,
    /// The most bytes the balance may hold (one second's worth, at least one message).
    bytes_burst: f64,
    /// Frames left; negative while in debt.
    frames: f64,
    /// Bytes left; negative while in debt.
    bytes: f64,
    /// When the balances were last refilled.
    last: Instant,
}

impl Budget {
    /// A full budget; the byte burst holds at least one message of `max_frame` bytes.
    pub(crate) fn new(config: &ReadBudget, max_frame: usize, now: Instant) -> Budget {
        let frames_rate = f64::from(config.frames_per_sec.max(1));
        let bytes_rate = (config.bytes_per_sec.max(1)) as f64;
        let bytes_burst = bytes_rate.max(max_frame as f64);
        Budget {
            frames_rate,
            bytes_rate,
            frames_burst: frames_rate,
            bytes_burst,
            frames: frames_rate,
            bytes: bytes_burst,
            last: now,
        }
    }

    fn refill(&mut self, now: Instant) {
        let elapsed = now.duration_since(self.last).as_secs_f64();
        self.last = now;
        self.frames = (self.frames + elapsed * self.frames_rate).min(self.frames_burst);
        self.bytes = (self.bytes + elapsed * self.bytes_rate).min(self.bytes_burst);
    }

    /// Charges one frame of `bytes` bytes, read at `now`.
    pub(crate) fn charge(&mut self, bytes: usize, now: Instant) {
        self.refill(now);
        self.frames -= 1.0;
        self.bytes -= bytes as f64;
    }

    /// `None` when the next frame may be read at `now`; else how long to wait.
    pub(crate) fn wait(&mut self, now: Instant) -> Option<Duration> {
        self.refill(now);
        let frames = if self.frames < 0.0 {
            -self.frames / self.frames_rate
        } else {
            0.0
        };
        let bytes = if self.bytes < 0.0 {
            -self.bytes / self.bytes_rate
        } else {
            0.0
        };
        let secs = frames.max(bytes);
        (secs > 0.0).then(|| Duration::from_secs_f64(secs))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debt_waits_for_the_refill() {
        let t0 = Instant::now();
        let config = ReadBudget {
            frames_per_sec: 10,
            bytes_per_sec: 1000,
        };
        let mut b = Budget::new(&config, 500, t0);
        for _ in 0..10 {
            b.charge(10, t0);
        }
        assert_eq!(b.wait(t0), None);
        b.charge(10, t0);
        let w = b.wait(t0).expect("in debt after the burst");
        assert!((w.as_secs_f64() - 0.1).abs() < 1e-6, "{w:?}");
        let t1 = t0 + Duration::from_millis(100);
        assert_eq!(b.wait(t1), None);
        b.charge(2000, t1);
        let w = b.wait(t1).expect("in byte debt");
        assert!(w >= Duration::from_millis(1000), "{w:?}");
    }
}
