//! When and how long to wait before repeating a read.

use std::time::Duration;

use rand::Rng;

/// How the client repeats reads that failed for reasons not their own: 429, 5xx, timeouts and
/// broken connections. Every request is a `GET`, so a repeat can never change anything.
///
/// A `Stripe-Should-Retry` header overrides the status (`false` stops at once, `true` retries
/// even a 409); a `Retry-After` header is honoured up to [`max_retry_after`](Self::max_retry_after).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Retries after the first attempt (0 turns retries off).
    pub max_retries: u32,
    /// Backoff unit: retry `n` (0-based) waits `2^n * base` plus up to `base` of jitter.
    pub base: Duration,
    /// Upper bound of a computed wait.
    pub cap: Duration,
    /// Upper bound of a wait Stripe asked for with `Retry-After`.
    pub max_retry_after: Duration,
}

impl RetryPolicy {
    /// No retries: every failure is returned at once.
    pub const fn none() -> Self {
        RetryPolicy::new(0, Duration::from_millis(500), Duration::from_secs(20))
    }

    /// `max_retries` retries with the given base and cap (and `Retry-After` bounded by 60 s).
    pub const fn new(max_retries: u32, base: Duration, cap: Duration) -> Self {
        RetryPolicy {
            max_retries,
            base,
            cap,
            max_retry_after: Duration::from_secs(60),
        }
    }

    /// The wait before retry number `retry` (0-based): `retry_after` when Stripe gave one
    /// (bounded), else `2^retry * base` plus jitter, capped.
    pub fn backoff(&self, retry: u32, retry_after: Option<Duration>) -> Duration {
        if let Some(wait) = retry_after {
            return wait.min(self.max_retry_after);
        }
        let exp = self.base.saturating_mul(2u32.saturating_pow(retry.min(31)));
        let base_ns = u64::try_from(self.base.as_nanos()).unwrap_or(u64::MAX);
        let jitter = if base_ns == 0 {
            Duration::ZERO
        } else {
            Duration::from_nanos(rand::rng().random_range(0..base_ns))
        };
        exp.saturating_add(jitter).min(self.cap)
    }
}

impl Default for RetryPolicy {
    /// 5 retries, base 500 ms, cap 20 s: about 30 s of patience, enough for Stripe's rate
    /// limiter and a brief outage.
    fn default() -> Self {
        RetryPolicy::new(5, Duration::from_millis(500), Duration::from_secs(20))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_with_jitter_and_is_bounded() {
        let p = RetryPolicy::new(10, Duration::from_millis(100), Duration::from_secs(2));
        for retry in 0..4 {
            let wait = p.backoff(retry, None);
            let floor = Duration::from_millis(100) * 2u32.pow(retry);
            assert!(
                wait >= floor && wait < floor + Duration::from_millis(100),
                "{wait:?}"
            );
        }
        assert_eq!(p.backoff(30, None), Duration::from_secs(2));
        assert_eq!(
            p.backoff(0, Some(Duration::from_secs(7))),
            Duration::from_secs(7)
        );
        assert_eq!(
            p.backoff(0, Some(Duration::from_secs(3600))),
            Duration::from_secs(60)
        );
    }
}
