//! Capped exponential backoff with jitter, for reconnects.

use std::hash::{BuildHasher, RandomState};
use std::time::Duration;

/// Delay before the next attempt: doubles from `initial` up to `max`, then a random point in
/// the upper half of that ("equal jitter"), so many relays that lost the same receiver do not
/// reconnect in lock-step, yet none retries much sooner than planned.
#[derive(Debug, Clone)]
pub struct Backoff {
    initial: Duration,
    max: Duration,
    attempt: u32,
    random: u64,
}

impl Backoff {
    pub fn new(initial: Duration, max: Duration) -> Self {
        let random = RandomState::new().hash_one(0x5eed_u64) | 1;
        Backoff { initial, max: max.max(initial), attempt: 0, random }
    }

    /// The delay to wait before the next attempt.
    pub fn next_delay(&mut self) -> Duration {
        let exponential = self.initial.saturating_mul(1u32 << self.attempt.min(20));
        self.attempt = self.attempt.saturating_add(1);
        let ceiling = exponential.min(self.max);
        let half = ceiling / 2;
        half + half.mul_f64(self.next_unit())
    }

    /// Starts over after a success.
    pub fn reset(&mut self) {
        self.attempt = 0;
    }

    /// xorshift64*: a uniform value in [0, 1).
    fn next_unit(&mut self) -> f64 {
        self.random ^= self.random >> 12;
        self.random ^= self.random << 25;
        self.random ^= self.random >> 27;
        let value = self.random.wrapping_mul(0x2545_F491_4F6C_DD1D);
        (value >> 11) as f64 / (1u64 << 53) as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grows_exponentially_within_jitter_bounds_and_caps() {
        let mut backoff = Backoff::new(Duration::from_millis(100), Duration::from_millis(1000));
        let bounds = [(50, 100), (100, 200), (200, 400), (400, 800), (500, 1000), (500, 1000)];
        for (low, high) in bounds {
            let delay = backoff.next_delay();
            assert!(delay >= Duration::from_millis(low) && delay <= Duration::from_millis(high), "{delay:?}");
        }
        backoff.reset();
        assert!(backoff.next_delay() <= Duration::from_millis(100));
    }
}
