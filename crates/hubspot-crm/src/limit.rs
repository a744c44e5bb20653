//! Client-side pacing: a sliding log of send times, so that no rolling window exceeds the
//! quota while a busy client still uses all but the skew margin of it.

use std::collections::VecDeque;
use std::fmt;
use std::str::FromStr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

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

    /// How much longer than [`window`](RateLimit::window) the limiter spaces a request from
    /// the one `max` requests before it: a twentieth of the window, at most
    /// [`MAX_SKEW_MARGIN`], so requests whose network delays differ by less than that still
    /// land in HubSpot's window at or under the quota.
    pub fn skew_margin(&self) -> Duration {
        (self.window / 20).min(MAX_SKEW_MARGIN)
    }

    /// The shortest time between a request and the one `max` requests later: the window plus
    /// [the skew margin](RateLimit::skew_margin).
    pub fn spacing(&self) -> Duration {
        self.window + self.skew_margin()
    }
}

/// The largest allowance for clock and network skew between our send times and HubSpot's
/// arrival times; 0.5% of a 10 s window.
pub const MAX_SKEW_MARGIN: Duration = Duration::from_millis(50);

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

/// The send times of the last `max` admitted requests: a request is admitted when the one
/// `max` requests before it was sent at least [`RateLimit::spacing`] ago.
///
/// Any rolling window of length `window` then holds at most `max` sends, with or without
/// bursts, while a caller with work waiting gets `max` requests per `window + margin`
/// (99.5% of a 10 s quota). Pure logic over caller-supplied instants, so it is tested and
/// benchmarked on a virtual clock.
#[derive(Debug, Clone)]
pub struct SlidingLog {
    limit: RateLimit,
    sent: VecDeque<Instant>,
}

impl SlidingLog {
    /// An empty log for `limit`.
    pub fn new(limit: RateLimit) -> Self {
        SlidingLog {
            limit,
            // Grows to `max` entries on first use; a huge quota should not allocate up front.
            sent: VecDeque::with_capacity((limit.max() as usize).min(1024)),
        }
    }

    /// Admits a request at `now` and records it, or answers the earliest instant at which one
    /// would be admitted. `now` must not go backwards between calls (a monotonic clock).
    pub fn try_admit(&mut self, now: Instant) -> Result<(), Instant> {
        let spacing = self.limit.spacing();
        while self
            .sent
            .front()
            .is_some_and(|sent| now.saturating_duration_since(*sent) >= spacing)
        {
            self.sent.pop_front();
        }
        if self.sent.len() < self.limit.max() as usize {
            self.sent.push_back(now);
            return Ok(());
        }
        // Full: the oldest of the last `max` sends must age out first.
        Err(self.sent.front().map_or(now, |oldest| *oldest + spacing))
    }

    /// How many recorded sends fall within the `window` that ends at `now`.
    pub fn sent_within_window(&self, now: Instant) -> usize {
        self.sent_within(now, self.limit.window())
    }

    /// How many recorded sends fall within `span` before `now` (the log keeps at most `max`
    /// sends of the last window and skew margin).
    pub fn sent_within(&self, now: Instant, span: Duration) -> usize {
        self.sent
            .iter()
            .filter(|sent| now.saturating_duration_since(**sent) < span)
            .count()
    }
}

/// A pacing gate shared by all clones of a [`Client`](crate::Client).
///
/// Every request waits for (1) any hold set with [`hold_until`](Limiter::hold_until) /
/// [`hold_for`](Limiter::hold_for), e.g. after a 429, and (2) room in a [`SlidingLog`] of
/// send times. Cloning is cheap and clones share state.
#[derive(Clone)]
pub struct Limiter {
    inner: Arc<LimiterInner>,
}

struct LimiterInner {
    limit: RateLimit,
    log: Mutex<SlidingLog>,
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
                log: Mutex::new(SlidingLog::new(limit)),
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

    fn log(&self) -> std::sync::MutexGuard<'_, SlidingLog> {
        // Every update is a push or pop on a deque, so a poisoned lock is still consistent.
        self.inner.log.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Waits until a request may be sent.
    pub async fn acquire(&self) {
        loop {
            if let Some(until) = self.held_until() {
                tokio::time::sleep_until(tokio::time::Instant::from_std(until)).await;
                continue;
            }
            let admitted = self.log().try_admit(Instant::now());
            match admitted {
                Ok(()) => return,
                Err(at) => tokio::time::sleep_until(tokio::time::Instant::from_std(at)).await,
            }
        }
    }

    /// Feeds HubSpot's `X-HubSpot-RateLimit-*` headers back. The log already keeps our own
    /// requests under the quota, so a low `remaining` matters only when other users of the
    /// portal's quota spent part of it, or the portal's quota is below the configured one:
    /// then the remaining budget is spread over the interval so we do not run into a 429.
    pub fn observe(&self, max: Option<u32>, remaining: Option<u32>, interval: Option<Duration>) {
        let (Some(remaining), Some(interval)) = (remaining, interval) else {
            return;
        };
        let max = max.unwrap_or(self.inner.limit.max).max(1);
        let low_water = (max / 10).max(1);
        if remaining >= low_water {
            return;
        }
        // HubSpot counted this answer's window when the request arrived, before `now`: our
        // sends up to a tenth of a window earlier may still be in it. Counting them errs
        // towards our own spend, so a hold means others really spent part of the quota.
        let window = self.inner.limit.window;
        let ours = self.log().sent_within(Instant::now(), window + window / 10);
        let ours = u32::try_from(ours).unwrap_or(u32::MAX);
        let spent_by_others = max.saturating_sub(remaining).saturating_sub(ours);
        // A portal quota below the configured one also leaves our log no longer protective.
        if spent_by_others > 0 || max < self.inner.limit.max {
            // Below 10% left: pause one average slot per missing request, so an empty
            // window costs a tenth of the interval rather than a 429 for every clone.
            self.hold_for(interval * (low_water - remaining) / max);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use governor::clock::{Clock, FakeRelativeClock};
    use governor::middleware::NoOpMiddleware;
    use governor::state::{InMemoryState, NotKeyed};
    use governor::{Quota, RateLimiter};
    use proptest::prelude::*;
    use std::collections::{BinaryHeap, VecDeque};
    use std::num::NonZeroU32;

    type Gcra = RateLimiter<
        NotKeyed,
        InMemoryState,
        FakeRelativeClock,
        NoOpMiddleware<<FakeRelativeClock as Clock>::Instant>,
    >;

    /// The most sends in any closed window of `window` (HubSpot counts a request that arrives
    /// exactly `window` after another in the same window, the stricter reading).
    fn busiest_window(sent: &[Duration], window: Duration) -> usize {
        let mut open: VecDeque<Duration> = VecDeque::new();
        let mut best = 0;
        for t in sent {
            open.push_back(*t);
            while open.front().is_some_and(|front| *t - *front > window) {
                open.pop_front();
            }
            best = best.max(open.len());
        }
        best
    }

    /// Drives a [`SlidingLog`] for `limit` with a greedy caller on a virtual clock ticking by
    /// `step` and returns the most admissions in any closed window and the total.
    fn max_in_any_window(limit: RateLimit, step: Duration, total: Duration) -> (usize, usize) {
        let origin = Instant::now();
        let mut log = SlidingLog::new(limit);
        let mut admitted: Vec<Duration> = Vec::new();
        let mut now = Duration::ZERO;
        while now <= total {
            // Greedy: take every request admitted at this instant.
            while log.try_admit(origin + now).is_ok() {
                admitted.push(now);
            }
            now += step;
        }
        (busiest_window(&admitted, limit.window()), admitted.len())
    }

    /// Callers arriving at `arrivals` (offsets from the start, any order) each retry at the
    /// instant the log names until admitted; returns the admission offsets in order.
    fn admit_all(limit: RateLimit, arrivals: &[Duration]) -> Vec<Duration> {
        let origin = Instant::now();
        let mut log = SlidingLog::new(limit);
        // Min-heap of (next try, caller): every caller is served in time order.
        let mut pending: BinaryHeap<std::cmp::Reverse<(Duration, usize)>> = arrivals
            .iter()
            .enumerate()
            .map(|(caller, at)| std::cmp::Reverse((*at, caller)))
            .collect();
        let mut admitted = Vec::with_capacity(arrivals.len());
        while let Some(std::cmp::Reverse((at, caller))) = pending.pop() {
            match log.try_admit(origin + at) {
                Ok(()) => admitted.push(at),
                Err(retry) => {
                    let retry = retry.duration_since(origin);
                    assert!(retry > at, "the log must name a later instant");
                    pending.push(std::cmp::Reverse((retry, caller)));
                }
            }
        }
        admitted
    }

    #[test]
    fn naive_quota_would_double_the_window() {
        // The trap the design avoids: period 100 ms, burst 100.
        let clock = FakeRelativeClock::default();
        let quota = Quota::with_period(Duration::from_millis(100))
            .unwrap()
            .allow_burst(NonZeroU32::new(100).unwrap());
        let gcra: Gcra = RateLimiter::direct_with_clock(quota, clock.clone());
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
            // Uses at least 97% of the quota over the run (the first window is a free burst).
            let floor = (limit.max() as usize * 5) * 97 / 100;
            assert!(
                admitted >= floor,
                "{limit}: only {admitted} admitted in 5 windows"
            );
        }
    }

    #[test]
    fn a_full_log_names_the_instant_the_oldest_send_ages_out() {
        let limit = RateLimit::new(2, Duration::from_secs(10));
        let origin = Instant::now();
        let mut log = SlidingLog::new(limit);
        assert_eq!(log.try_admit(origin), Ok(()));
        assert_eq!(log.try_admit(origin + Duration::from_secs(1)), Ok(()));
        let third = origin + Duration::from_secs(2);
        assert_eq!(log.try_admit(third), Err(origin + limit.spacing()));
        assert_eq!(log.try_admit(origin + limit.spacing()), Ok(()));
        assert_eq!(log.sent_within_window(origin + limit.spacing()), 2);
    }

    #[test]
    fn the_margin_is_a_hundredth_of_the_window_capped() {
        assert_eq!(RateLimit::STARTER.skew_margin(), MAX_SKEW_MARGIN);
        assert_eq!(RateLimit::SEARCH.skew_margin(), MAX_SKEW_MARGIN);
        assert_eq!(
            RateLimit::STARTER.spacing(),
            Duration::from_secs(10) + MAX_SKEW_MARGIN
        );
    }

    proptest! {
        /// Whatever the arrival pattern (bursts, gaps, trickles), no closed window of the
        /// quota's length ever holds more than `max` admissions, even after a network delay
        /// that varies by less than the skew margin, and every caller is eventually admitted.
        #[test]
        fn no_window_ever_exceeds_the_quota(
            max in 1u32..40,
            window_ms in 50u64..2_000,
            gaps in proptest::collection::vec(0u64..300, 1..400),
            delays in proptest::collection::vec(0u64..1_000, 1..400),
        ) {
            let limit = RateLimit::new(max, Duration::from_millis(window_ms));
            let mut at = Duration::ZERO;
            let arrivals: Vec<Duration> = gaps
                .iter()
                .map(|gap| {
                    at += Duration::from_millis(*gap);
                    at
                })
                .collect();
            let admitted = admit_all(limit, &arrivals);
            prop_assert_eq!(admitted.len(), arrivals.len());
            prop_assert!(busiest_window(&admitted, limit.window()) <= max as usize);
            // Each request reaches the server after its own delay, differing by less than
            // the margin from the others'.
            let margin_us = limit.skew_margin().as_micros() as u64;
            let mut arrived: Vec<Duration> = admitted
                .iter()
                .zip(delays.iter().cycle())
                .map(|(sent, delay)| *sent + Duration::from_micros(delay * margin_us / 1_000))
                .collect();
            arrived.sort();
            prop_assert!(busiest_window(&arrived, limit.window()) <= max as usize);
        }
    }

    #[test]
    fn our_own_full_window_is_no_reason_to_hold() {
        let l = Limiter::new(RateLimit::new(10, Duration::from_secs(10)));
        for _ in 0..10 {
            assert_eq!(l.log().try_admit(Instant::now()), Ok(()));
        }
        l.observe(Some(10), Some(0), Some(Duration::from_secs(10)));
        assert!(l.held_until().is_none());
        // Two requests of someone else's in the window: spread what is left.
        let l = Limiter::new(RateLimit::new(10, Duration::from_secs(10)));
        for _ in 0..8 {
            assert_eq!(l.log().try_admit(Instant::now()), Ok(()));
        }
        l.observe(Some(10), Some(0), Some(Duration::from_secs(10)));
        assert!(l.held_until().is_some());
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
