//! How much of HubSpot's quota each pacing design lets a busy client use, and whether any
//! rolling window ever exceeds it: the GCRA this crate used before (burst a tenth of the quota,
//! period stretched so that burst plus steady cells fit a window with a 1% margin) against the
//! [`SlidingLog`] that replaced it, side by side on one virtual clock.
//!
//! A greedy caller asks for a request every millisecond of virtual time for `WINDOWS` windows.
//! "Sustained quota use" is the admission rate once the first burst is spent, as a share of
//! `max / window`. `cargo bench -p hubspot-crm --bench limiter_quota` prints the table.

use std::collections::VecDeque;
use std::num::NonZeroU32;
use std::time::{Duration, Instant};

use governor::clock::{Clock, FakeRelativeClock};
use governor::middleware::NoOpMiddleware;
use governor::state::{InMemoryState, NotKeyed};
use governor::{Quota, RateLimiter};
use hubspot_crm::{RateLimit, SlidingLog};

/// Windows simulated per design and quota.
const WINDOWS: u32 = 30;
/// Virtual clock resolution: how often the greedy caller asks.
const STEP: Duration = Duration::from_millis(1);

type Gcra = RateLimiter<
    NotKeyed,
    InMemoryState,
    FakeRelativeClock,
    NoOpMiddleware<<FakeRelativeClock as Clock>::Instant>,
>;

/// The quota the previous limiter built (kept here verbatim as the baseline).
fn previous_gcra_quota(limit: RateLimit) -> Quota {
    let burst = (limit.max() / 10).max(1);
    let steady = limit.max() - burst;
    let window_ns = limit.window().as_nanos() + limit.window().as_nanos() / 100;
    let period_ns = if steady == 0 {
        window_ns + 1
    } else {
        window_ns.div_ceil(u128::from(steady))
    };
    let period = Duration::from_nanos(u64::try_from(period_ns).unwrap_or(u64::MAX));
    Quota::with_period(period)
        .unwrap_or_else(|| Quota::per_second(NonZeroU32::MIN))
        .allow_burst(NonZeroU32::new(burst).unwrap_or(NonZeroU32::MIN))
}

/// Admission offsets of a greedy caller over `WINDOWS` windows.
fn greedy(limit: RateLimit, mut admit: impl FnMut(Duration) -> bool) -> Vec<Duration> {
    let total = limit.window() * WINDOWS;
    let mut admitted = Vec::new();
    let mut now = Duration::ZERO;
    while now < total {
        while admit(now) {
            admitted.push(now);
        }
        now += STEP;
    }
    admitted
}

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

/// Sustained rate as a share of the quota: requests per second between the `max`-th admission
/// (the first burst is over) and the last whole multiple of `max`, over `max / window`.
/// Counting whole multiples keeps a design that sends in bursts from being credited a partial
/// burst.
fn sustained_share(limit: RateLimit, admitted: &[Duration]) -> Option<f64> {
    let first = limit.max() as usize;
    let last = (admitted.len().checked_sub(1)? / first) * first;
    let span = admitted.get(last)?.checked_sub(*admitted.get(first)?)?;
    let rate = (last - first) as f64 / span.as_secs_f64();
    Some(rate / (f64::from(limit.max()) / limit.window().as_secs_f64()))
}

fn row(design: &str, limit: RateLimit, admitted: &[Duration]) {
    let share = sustained_share(limit, admitted)
        .map_or_else(|| "n/a".to_owned(), |s| format!("{:.1}%", 100.0 * s));
    println!(
        "| {design} | {limit} | {} | {share} | {} |",
        admitted.len(),
        busiest_window(admitted, limit.window()),
    );
}

fn main() {
    println!(
        "greedy caller, one request asked every {STEP:?} of virtual time, {WINDOWS} windows per run"
    );
    println!();
    println!("| design | quota | admitted | sustained quota use | most in any closed window |");
    println!("|---|---|---|---|---|");
    for limit in [
        RateLimit::STARTER,
        RateLimit::PROFESSIONAL,
        RateLimit::ENTERPRISE,
        RateLimit::SEARCH,
    ] {
        let clock = FakeRelativeClock::default();
        let gcra: Gcra = RateLimiter::direct_with_clock(previous_gcra_quota(limit), clock.clone());
        let mut last = Duration::ZERO;
        let admitted = greedy(limit, |now| {
            clock.advance(now - last);
            last = now;
            gcra.check().is_ok()
        });
        row("GCRA (previous)", limit, &admitted);

        let origin = Instant::now();
        let mut log = SlidingLog::new(limit);
        let admitted = greedy(limit, |now| log.try_admit(origin + now).is_ok());
        row("sliding log (now)", limit, &admitted);
    }
    println!();
    println!("`cargo bench -p hubspot-crm --bench limiter_quota`");
}
