//! Client-side pacing: a GCRA limiter shaped so that no rolling window exceeds the quota.

use std::fmt;
use std::num::NonZeroU32;
use std::str::FromStr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use governor::clock::{Clock, DefaultClock};
use governor::middleware::NoOpMiddleware;
use governor::state::{InMemoryState, NotKeyed};
use governor::{Quota, RateLimiter};

/// A request quota: at most `max` requests in any rolling `window`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimit {
    max: u32,
    window: Duration,
}

impl RateLimit {
    /// HubSpot Free/Starter private apps: 100 requests per 10 seconds.
    pub const STARTER: RateLimit = RateLimit::per_ten_seconds(100);
    /// HubSpot Professional private apps: 190 requests per 10 seconds.
    pub const PROFESSIONAL: RateLimit = RateLimit::per_ten_seconds(190);
    /// HubSpot Enterprise private apps: 250 requests per 10 seconds.
    pub const ENTERPRISE: RateLimit = RateLimit::per_ten_seconds(250);
    /// HubSpot's search endpoints: 5 requests per second per account.
    pub const SEARCH: RateLimit = RateLimit {
        max: 5,
        window: Duration::from_secs(1),
    };

    /// `max` requests per rolling 10 seconds (0 is treated as 1).
    pub const fn per_ten_seconds(max: u32) -> Self {
        Self::new(max, Duration::from_secs(10))
    }

    /// `max` requests per rolling `window` (0 is treated as 1, a zero window as 1 ms).
    pub const fn new(max: u32, window: Duration) -> Self {
        let max = if max == 0 { 1 } else { max };
        let window = if window.is_zero() {
            Duration::from_millis(1)
        } else {
            window
        };
        RateLimit { max, window }
    }

    /// The most requests in any window.
    pub fn max(&self) -> u32 {
        self.max
    }

    /// The window length.
    pub fn window(&self) -> Duration {
        self.window
    }

    /// The GCRA quota that keeps every closed window of length `window` at or under `max`.
    ///
    /// GCRA with burst `b` and period `t` admits up to `b + floor(w / t)` cells in a window
    /// of length `w`, so the naive `period = w / max, burst = max` admits almost twice the
    /// quota. We keep a small burst (a tenth of the quota) and stretch the period so that
    /// `b + w / t <= max`, with a 1% margin on `w`; the sustained rate is then about 89% of
    /// the quota, which is the price of never tripping the window.
    pub(crate) fn quota(&self) -> Quota {
        let burst = (self.max / 10).max(1);
        let steady = self.max - burst;
        // A 1% margin absorbs network jitter between our clock and HubSpot's.
        let window_ns = self.window.as_nanos() + self.window.as_nanos() / 100;
        // Round the period up so rounding can never let one extra cell into a window; with
        // no steady cells (quota 1) the period must outlast the window.
        let period_ns = if steady == 0 {
            window_ns + 1
        } else {
            window_ns.div_ceil(u128::from(steady))
        };
        let period = Duration::from_nanos(u64::try_from(period_ns).unwrap_or(u64::MAX));
        let quota =
            Quota::with_period(period).unwrap_or_else(|| Quota::per_second(NonZeroU32::MIN));
        quota.allow_burst(NonZeroU32::new(burst).unwrap_or(NonZeroU32::MIN))
    }
}

impl Default for RateLimit {
    fn default() -> Self {
        RateLimit::STARTER
    }
}

impl fmt::Display for RateLimit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.window.subsec_nanos() == 0 {
            write!(f, "{}/{}s", self.max, self.window.as_secs())
        } else {
            write!(f, "{}/{}ms", self.max, self.window.as_millis())
        }
    }
}

/// Why a rate limit string such as `"100/10s"` could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid rate limit {input:?}: {reason}; expected `<requests>/<seconds>s`, e.g. `100/10s`")]
pub struct RateLimitParseError {
    input: String,
    reason: &'static str,
}

impl FromStr for RateLimit {
    type Err = RateLimitParseError;

    /// Parses `"<n>/<secs>s"` or `"<n>/<millis>ms"`, e.g. `"100/10s"`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let err = |reason| RateLimitParseError {
            input: s.to_owned(),
            reason,
        };
        let (n, w) = s.trim().split_once('/').ok_or_else(|| err("missing '/'"))?;
        let max: u32 = n
            .trim()
            .parse()
            .map_err(|_| err("the request count is not a whole number"))?;
        if max == 0 {
            return Err(err("the request count must be at least 1"));
        }
        let w = w.trim();
        let window = if let Some(ms) = w.strip_suffix("ms") {
            Duration::from_millis(
                ms.trim()
                    .parse()
                    .map_err(|_| err("the window is not a whole number"))?,
            )
        } else if let Some(secs) = w.strip_suffix('s') {
            Duration::from_secs(
                secs.trim()
                    .parse()
                    .map_err(|_| err("the window is not a whole number"))?,
            )
        } else {
            return Err(err("the window needs a unit, `s` or `ms`"));
        };
        if window.is_zero() {
            return Err(err("the window must be longer than zero"));
        }
        Ok(RateLimit::new(max, window))
    }
}

type Gcra<C> = RateLimiter<NotKeyed, InMemoryState, C, NoOpMiddleware<<C as Clock>::Instant>>;

/// A pacing gate shared by all clones of a [`Client`](crate::Client).
///
/// Every request waits for (1) any hold set with [`hold_until`](Limiter::hold_until) /
/// [`hold_for`](Limiter::hold_for), e.g. after a 429, and (2) a GCRA cell. Cloning is cheap
/// and clones share state.
#[derive(Clone)]
pub struct Limiter {
    inner: Arc<LimiterInner>,
}

struct LimiterInner {
    limit: RateLimit,
    gcra: Gcra<DefaultClock>,
    hold: Mutex<Option<Instant>>,
}

impl fmt::Debug for Limiter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Limiter")
            .field("limit", &self.inner.limit)
            .field("held_until", &self.held_until())
            .finish()
    }
}

impl Limiter {
    /// A limiter enforcing `limit`.
    pub fn new(limit: RateLimit) -> Self {
        Limiter {
            inner: Arc::new(LimiterInner {
                limit,
                gcra: RateLimiter::direct_with_clock(limit.quota(), DefaultClock::default()),
                hold: Mutex::new(None),
            }),
        }
    }

    /// The quota this limiter enforces.
    pub fn rate_limit(&self) -> RateLimit {
        self.inner.limit
    }

    /// Holds every request back until `until` (never shortens an existing hold).
    pub fn hold_until(&self, until: Instant) {
        let mut hold = self.inner.hold.lock().unwrap_or_else(|p| p.into_inner());
        match *hold {
            Some(h) if h >= until => {}
            _ => *hold = Some(until),
        }
    }

    /// Holds every request back for `d` from now (never shortens an existing hold).
    /// `d` is clamped to [`MAX_HOLD`](crate::MAX_HOLD), so no header value can overflow the clock.
    pub fn hold_for(&self, d: Duration) {
        self.hold_until(Instant::now() + d.min(crate::retry::MAX_HOLD));
    }

    /// The instant requests are held until, if a hold is in the future.
    pub fn held_until(&self) -> Option<Instant> {
        let hold = *self.inner.hold.lock().unwrap_or_else(|p| p.into_inner());
        hold.filter(|h| *h > Instant::now())
    }

    /// Waits until a request may be sent.
    pub async fn acquire(&self) {
        loop {
            if let Some(until) = self.held_until() {
                tokio::time::sleep_until(tokio::time::Instant::from_std(until)).await;
                continue;
            }
            match self.inner.gcra.check() {
                Ok(()) => return,
                Err(not_until) => {
                    let wait = not_until.wait_time_from(self.inner.gcra.clock().now());
                    tokio::time::sleep(wait.max(Duration::from_millis(1))).await;
                }
            }
        }
    }

    /// Feeds HubSpot's `X-HubSpot-RateLimit-*` headers back: when `remaining` runs low the
    /// remaining budget is spread over the interval so other users of the portal's quota
    /// do not push us into a 429.
    pub fn observe(&self, max: Option<u32>, remaining: Option<u32>, interval: Option<Duration>) {
        let (Some(remaining), Some(interval)) = (remaining, interval) else {
            return;
        };
        let max = max.unwrap_or(self.inner.limit.max).max(1);
        let low_water = (max / 10).max(1);
        if remaining < low_water {
            // Below 10% left: pause one average slot per missing request, so an empty
            // window costs a tenth of the interval rather than a 429 for every clone.
            self.hold_for(interval * (low_water - remaining) / max);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use governor::clock::FakeRelativeClock;
    use std::collections::VecDeque;

    /// Drives a GCRA built from `limit` with a greedy caller on a fake clock and returns the
    /// most admissions seen in any closed window of `limit.window()`.
    fn max_in_any_window(limit: RateLimit, step: Duration, total: Duration) -> (usize, usize) {
        let clock = FakeRelativeClock::default();
        let gcra: Gcra<FakeRelativeClock> =
            RateLimiter::direct_with_clock(limit.quota(), clock.clone());
        let mut admitted: Vec<Duration> = Vec::new();
        let mut now = Duration::ZERO;
        while now <= total {
            // Greedy: take every cell available at this instant.
            while gcra.check().is_ok() {
                admitted.push(now);
            }
            clock.advance(step);
            now += step;
        }
        let mut window: VecDeque<Duration> = VecDeque::new();
        let mut best = 0;
        for t in &admitted {
            window.push_back(*t);
            while let Some(front) = window.front() {
                if *t - *front > limit.window() {
                    window.pop_front();
                } else {
                    break;
                }
            }
            best = best.max(window.len());
        }
        (best, admitted.len())
    }

    #[test]
    fn naive_quota_would_double_the_window() {
        // The trap the design avoids: period 100 ms, burst 100.
        let clock = FakeRelativeClock::default();
        let quota = Quota::with_period(Duration::from_millis(100))
            .unwrap()
            .allow_burst(NonZeroU32::new(100).unwrap());
        let gcra: Gcra<FakeRelativeClock> = RateLimiter::direct_with_clock(quota, clock.clone());
        let mut n = 0;
        for _ in 0..=10_000 {
            while gcra.check().is_ok() {
                n += 1;
            }
            clock.advance(Duration::from_millis(1));
        }
        assert!(n > 190, "naive quota admitted {n} in ~10 s");
    }

    #[test]
    fn no_sliding_window_exceeds_the_quota() {
        for limit in [
            RateLimit::STARTER,
            RateLimit::PROFESSIONAL,
            RateLimit::ENTERPRISE,
            RateLimit::SEARCH,
            RateLimit::per_ten_seconds(1),
            RateLimit::per_ten_seconds(7),
        ] {
            let total = limit.window() * 5;
            let (best, admitted) = max_in_any_window(limit, Duration::from_millis(1), total);
            assert!(
                best <= limit.max() as usize,
                "{limit}: {best} requests in one window"
            );
            // Still uses most of the quota: at least 80% over the run.
            let floor = (limit.max() as usize * 5) * 8 / 10;
            assert!(
                admitted >= floor,
                "{limit}: only {admitted} admitted in 5 windows"
            );
        }
    }

    #[test]
    fn parse_rate_limits() {
        assert_eq!("100/10s".parse::<RateLimit>().unwrap(), RateLimit::STARTER);
        assert_eq!(" 5/1s ".parse::<RateLimit>().unwrap(), RateLimit::SEARCH);
        assert_eq!(
            "10/500ms".parse::<RateLimit>().unwrap(),
            RateLimit::new(10, Duration::from_millis(500))
        );
        for bad in ["", "100", "x/10s", "100/10", "0/10s", "100/0s", "100/xs"] {
            let err = bad.parse::<RateLimit>().unwrap_err();
            assert!(err.to_string().contains("100/10s"), "{err}");
        }
        assert_eq!(RateLimit::PROFESSIONAL.to_string(), "190/10s");
    }

    #[test]
    fn holds_only_extend() {
        let l = Limiter::new(RateLimit::STARTER);
        assert!(l.held_until().is_none());
        l.hold_for(Duration::from_secs(60));
        let first = l.held_until().unwrap();
        l.hold_for(Duration::from_secs(1));
        assert_eq!(l.held_until(), Some(first));
        let clone = l.clone();
        assert_eq!(clone.held_until(), Some(first));
    }

    #[test]
    fn low_remaining_header_holds_requests() {
        let l = Limiter::new(RateLimit::STARTER);
        l.observe(Some(100), Some(50), Some(Duration::from_secs(10)));
        assert!(l.held_until().is_none());
        l.observe(Some(100), Some(0), Some(Duration::from_secs(10)));
        let held = l.held_until().unwrap();
        assert!(held > Instant::now() + Duration::from_millis(500));
    }
}
