//! Retry timing: `2^attempt * base + jitter`, capped.

use std::time::Duration;

use rand::Rng;

/// Exponential backoff with random jitter: attempt `n` waits `min(2^n * base, cap) + U(0, jitter)`.
///
/// The default is `2^attempt * 1000 ms + jitter`, with up to 1 s of jitter
/// and a cap of 5 minutes. Waiting jobs are rescheduled, not held under a lease, so the cap
/// only bounds how long a payment waits after HubSpot recovers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    /// Delay of attempt 0, doubled per attempt.
    pub base: Duration,
    /// Upper bound of the exponential part.
    pub cap: Duration,
    /// Upper bound of the random jitter added on top, so workers do not retry in lockstep.
    pub jitter: Duration,
}

impl Default for Backoff {
    fn default() -> Self {
        Backoff {
            base: Duration::from_secs(1),
            cap: Duration::from_secs(300),
            jitter: Duration::from_secs(1),
        }
    }
}

impl Backoff {
    /// The delay before retry number `attempt` (0-based).
    pub fn delay(&self, attempt: u32) -> Duration {
        let factor = 2u32.saturating_pow(attempt.min(31));
        let exponential = self.base.saturating_mul(factor).min(self.cap);
        let jitter_ms = u64::try_from(self.jitter.as_millis()).unwrap_or(u64::MAX);
        let jitter = if jitter_ms == 0 {
            0
        } else {
            rand::rng().random_range(0..=jitter_ms)
        };
        exponential + Duration::from_millis(jitter)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn doubles_per_attempt_and_respects_the_cap() {
        let backoff = Backoff {
            base: Duration::from_secs(1),
            cap: Duration::from_secs(60),
            jitter: Duration::ZERO,
        };
        let delays: Vec<_> = (0..8).map(|a| backoff.delay(a).as_secs()).collect();
        assert_eq!(delays, [1, 2, 4, 8, 16, 32, 60, 60]);
        assert_eq!(backoff.delay(u32::MAX), Duration::from_secs(60));
    }

    #[test]
    fn jitter_stays_within_its_bound() {
        let backoff = Backoff {
            base: Duration::from_millis(100),
            cap: Duration::from_secs(1),
            jitter: Duration::from_millis(50),
        };
        for _ in 0..200 {
            let d = backoff.delay(1);
            assert!(
                d >= Duration::from_millis(200) && d <= Duration::from_millis(250),
                "{d:?}"
            );
        }
    }
}
