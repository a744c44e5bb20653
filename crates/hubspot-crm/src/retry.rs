//! Retry policy: exponential backoff with jitter, honouring `Retry-After`.

use std::time::Duration;

use rand::Rng;

/// The longest a `Retry-After` or rate-limit header may hold requests back. A larger (or
/// absurd, e.g. `18446744073709551615`) value is clamped to this: a broken or hostile header
/// must not stall the sync for days, nor overflow a clock.
pub const MAX_HOLD: Duration = Duration::from_secs(600);

/// Reads a `Retry-After` header value given in seconds, as HubSpot sent it (saturating: a
/// number too large to parse reads as `u64::MAX` seconds). `None` for anything else (an HTTP
/// date, a negative or empty value): the caller's own backoff applies. Whoever holds requests
/// back for it clamps the wait to [`MAX_HOLD`], as [`RetryPolicy::backoff`] and
/// [`Limiter::hold_for`](crate::Limiter::hold_for) do.
///
/// ```
/// use std::time::Duration;
/// use hubspot_crm::{parse_retry_after, RetryPolicy, MAX_HOLD};
/// assert_eq!(parse_retry_after(" 7 "), Some(Duration::from_secs(7)));
/// let absurd = parse_retry_after("18446744073709551615");
/// assert_eq!(absurd, Some(Duration::from_secs(u64::MAX)));
/// assert_eq!(parse_retry_after("999999999999999999999999"), absurd);
/// assert_eq!(RetryPolicy::default().backoff(0, absurd), MAX_HOLD);
/// assert_eq!(parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT"), None);
/// ```
pub fn parse_retry_after(value: &str) -> Option<Duration> {
    let value = value.trim();
    if value.is_empty() || !value.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    // All digits: too many to parse means too long to wait.
    Some(Duration::from_secs(
        value.parse::<u64>().unwrap_or(u64::MAX),
    ))
}

/// How the client retries transient failures (transport errors, 5xx, 423, 429 other than
/// DAILY). Never retried: 400, 401, 403, 404, 409 and the daily limit.
///
/// Calls that create objects (`create`, `batch_create`) are retried only when HubSpot
/// cannot have processed them (connect failure, 423, 429), so a retry never makes a
/// second object.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Retries after the first attempt (0 turns retries off).
    pub max_retries: u32,
    /// Backoff unit: attempt `n` waits `2^n * base` plus up to `base` of jitter.
    pub base: Duration,
    /// Upper bound of any computed wait (a longer `Retry-After` is still honoured, up to
    /// [`MAX_HOLD`]).
    pub cap: Duration,
}

impl RetryPolicy {
    /// No retries: every failure is returned at once (for callers that own retries).
    pub const fn none() -> Self {
        RetryPolicy {
            max_retries: 0,
            base: Duration::from_secs(1),
            cap: Duration::from_secs(30),
        }
    }

    /// `max_retries` retries with the given base and cap.
    pub const fn new(max_retries: u32, base: Duration, cap: Duration) -> Self {
        RetryPolicy {
            max_retries,
            base,
            cap,
        }
    }

    /// The wait before retry number `attempt` (0-based): `2^attempt * base + jitter`,
    /// capped, or `retry_after` when HubSpot gave one.
    pub fn backoff(&self, attempt: u32, retry_after: Option<Duration>) -> Duration {
        if let Some(ra) = retry_after {
            return ra.min(MAX_HOLD);
        }
        let exp = self
            .base
            .saturating_mul(2u32.saturating_pow(attempt.min(31)));
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
    /// 3 retries, base 1 s, cap 30 s.
    fn default() -> Self {
        RetryPolicy::new(3, Duration::from_secs(1), Duration::from_secs(30))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_and_is_capped() {
        let p = RetryPolicy::new(10, Duration::from_millis(100), Duration::from_secs(2));
        for attempt in 0..4 {
            let d = p.backoff(attempt, None);
            let floor = Duration::from_millis(100) * 2u32.pow(attempt);
            assert!(
                d >= floor && d < floor + Duration::from_millis(100),
                "{d:?}"
            );
        }
        assert_eq!(p.backoff(20, None), Duration::from_secs(2));
        assert_eq!(
            p.backoff(0, Some(Duration::from_secs(7))),
            Duration::from_secs(7)
        );
    }
}
