//! How long the HubSpot side of a backfill takes: the portal's request budget divided among
//! the payments queued. Stripe reads are not the bottleneck (100 objects per request at 25 or
//! 100 requests a second against HubSpot's 10 requests a second on Starter).

use std::time::Duration;

use hubspot_crm::RateLimit;

/// HubSpot requests the engine makes per payment during a backfill, measured by the
/// 1,000-charge backfill test, which prints it
/// (`cargo test -p stripe2hubspot --all-features --test it -- backfill::backfill_of_1000 --nocapture`):
/// 54 requests, start-up included, for 1,090 payments queued (the ledger engine). It batches up to 100
/// contacts and deals per upsert, so a payment costs a small fraction of a request.
pub const MEASURED_REQUESTS_PER_PAYMENT: f64 = 0.0495;

/// The portal's request budget and what one payment costs of it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct HubSpotBudget {
    /// The HubSpot rate limit the engine is configured with (`HUBSPOT_RATE_LIMIT`).
    pub rate: RateLimit,
    /// HubSpot requests per payment synced.
    pub requests_per_payment: f64,
}

impl Default for HubSpotBudget {
    fn default() -> Self {
        HubSpotBudget {
            rate: RateLimit::STARTER,
            requests_per_payment: MEASURED_REQUESTS_PER_PAYMENT,
        }
    }
}

impl HubSpotBudget {
    /// The budget at `rate` with the measured cost per payment.
    pub fn at(rate: RateLimit) -> HubSpotBudget {
        HubSpotBudget {
            rate,
            ..HubSpotBudget::default()
        }
    }

    /// How long syncing `payments` takes at this budget.
    pub fn time_for(&self, payments: u64) -> Duration {
        let per_second =
            f64::from(self.rate.max().max(1)) / self.rate.window().as_secs_f64().max(f64::EPSILON);
        let seconds = payments as f64 * self.requests_per_payment.max(0.0) / per_second;
        Duration::try_from_secs_f64(seconds).unwrap_or(Duration::MAX)
    }

    /// The time left: the payments still waiting in the queue (`ready`) plus those not listed
    /// yet, estimated from how much of the created range the listing has covered. Stripe lists
    /// newest first, so after reaching `oldest_listed` the part `[range_start, oldest_listed)`
    /// remains; `queued_so_far` payments came from `[oldest_listed, range_end]`. `None` when
    /// the range has no start (all history) and nothing says how much remains.
    pub fn eta(
        &self,
        range_start: Option<i64>,
        range_end: i64,
        oldest_listed: Option<i64>,
        queued_so_far: u64,
        ready: u64,
    ) -> Option<Duration> {
        let (start, oldest) = (range_start?, oldest_listed?);
        let covered = range_end.saturating_sub(oldest).max(1) as f64;
        let left = oldest.saturating_sub(start).max(0) as f64;
        let not_listed = (queued_so_far as f64 * left / covered).round() as u64;
        Some(self.time_for(not_listed.saturating_add(ready)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn time_scales_with_payments_and_rate() {
        let budget = HubSpotBudget {
            rate: RateLimit::per_ten_seconds(100),
            requests_per_payment: 0.05,
        };
        // 100,000 payments x 0.05 = 5,000 requests at 10/s = 500 s.
        assert_eq!(budget.time_for(100_000), Duration::from_secs(500));
        let faster = HubSpotBudget {
            rate: RateLimit::per_ten_seconds(200),
            ..budget
        };
        assert_eq!(faster.time_for(100_000), Duration::from_secs(250));
    }

    #[test]
    fn eta_extrapolates_the_uncovered_part_of_the_range() {
        let budget = HubSpotBudget {
            rate: RateLimit::per_ten_seconds(100),
            requests_per_payment: 0.1,
        };
        // Half the range covered with 1,000 queued: 1,000 more to list, 0 waiting.
        let eta = budget.eta(Some(0), 1_000, Some(500), 1_000, 0);
        assert_eq!(eta, Some(Duration::from_secs(10)));
        // Everything listed: only what waits in the queue remains.
        let eta = budget.eta(Some(0), 1_000, Some(0), 1_000, 200);
        assert_eq!(eta, Some(Duration::from_secs(2)));
        assert_eq!(budget.eta(None, 1_000, Some(0), 1_000, 0), None);
    }
}
