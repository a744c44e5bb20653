//! Client-side pacing under Stripe's per-second read limit.

use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

use governor::clock::DefaultClock;
use governor::middleware::NoOpMiddleware;
use governor::state::{InMemoryState, NotKeyed};
use governor::{Quota, RateLimiter};

type Gcra = RateLimiter<NotKeyed, InMemoryState, DefaultClock, NoOpMiddleware>;

/// Spaces requests evenly so that no one-second window holds more than the read rate.
///
/// Requests are spaced by `1.02 s / rate` with no burst: a second then holds at most `rate`
/// requests even when network delays shift arrivals by up to 2% of a second, at the cost of
/// 2% of the allowed throughput. Clones share one schedule.
#[derive(Clone)]
pub(crate) struct ReadPacer {
    limiter: Arc<Gcra>,
    per_second: u32,
}

impl ReadPacer {
    /// A pacer for `per_second` requests per second (0 is treated as 1).
    pub(crate) fn new(per_second: u32) -> ReadPacer {
        let per_second = per_second.max(1);
        let period_ns = 1_020_000_000u64.div_ceil(u64::from(per_second));
        let quota = Quota::with_period(Duration::from_nanos(period_ns))
            .unwrap_or_else(|| Quota::per_second(NonZeroU32::MIN))
            .allow_burst(NonZeroU32::MIN);
        ReadPacer {
            limiter: Arc::new(RateLimiter::direct(quota)),
            per_second,
        }
    }

    /// Waits for the next free slot.
    pub(crate) async fn acquire(&self) {
        self.limiter.until_ready().await;
    }

    /// The configured rate.
    pub(crate) fn per_second(&self) -> u32 {
        self.per_second
    }
}
