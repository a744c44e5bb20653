//! Repair jobs: a queued request that the syncer write one ledger row again.
//!
//! `reconcile --repair` does not write HubSpot itself: it marks a drifted row unwritten
//! (only at the version it compared) and queues a repair job for it. The syncer reads the job
//! as facts that name the row and say nothing else, so the merge changes nothing and hands
//! the row, as it stands at write time, to the normal batch path: under the write order,
//! fenced by leadership, a pending deal move made first, within the portal's one budget.

use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};
use stripe2hubspot_map::{Facts, LedgerRow, PaymentIds, Stamp};
use stripe2hubspot_queue::{Attempt, Job, NewJob};

use super::settle::Disposition;
use super::Inner;

/// The `event_type` of a repair job.
pub const REPAIR_EVENT_TYPE: &str = "stripe2hubspot.repair";

/// The `event_type` of a customer repair job: write the customer's contact again.
pub const CUSTOMER_REPAIR_EVENT_TYPE: &str = "stripe2hubspot.customer_repair";

/// How a repair job's `event_id` starts (never a Stripe id, which starts with `evt_`).
pub const REPAIR_EVENT_PREFIX: &str = "repair_";

/// A repair job's payload: the payment key only, no personal data.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct RepairPayload {
    payment_id: String,
}

/// The job asking the syncer to write the ledger row of `payment_key` again if it is
/// unwritten (see [`SyncState::reset_written`](stripe2hubspot_queue::SyncState::reset_written)).
/// Its id carries `requested_at` (milliseconds), so a later repair of the same payment is a
/// new job rather than a duplicate of one already done.
pub fn repair_job(payment_key: &str, requested_at: SystemTime) -> NewJob {
    let payload = serde_json::json!({ "payment_id": payment_key });
    repair_job_of(REPAIR_EVENT_TYPE, payment_key, &payload, requested_at)
}

/// The job asking the syncer to write the contact of customer `customer_id` (`cus_...`)
/// again, from the customer ledger as it stands then, even if HubSpot confirmed that state
/// before (reconcile found it drifted). Pair it with
/// [`SyncState::reset_customer_written`](stripe2hubspot_queue::SyncState::reset_customer_written).
/// Like [`repair_job`], its id carries `requested_at`.
pub fn customer_repair_job(customer_id: &str, requested_at: SystemTime) -> NewJob {
    let payload = serde_json::json!({ "customer_id": customer_id });
    repair_job_of(
        CUSTOMER_REPAIR_EVENT_TYPE,
        customer_id,
        &payload,
        requested_at,
    )
}

/// A repair job of `event_type` for the object `id` (a payment key or a customer id: their
/// prefixes never collide), carrying `payload` (ids only, no personal data).
fn repair_job_of(
    event_type: &str,
    id: &str,
    payload: &serde_json::Value,
    requested_at: SystemTime,
) -> NewJob {
    let since_epoch = requested_at.duration_since(UNIX_EPOCH).unwrap_or_default();
    NewJob {
        event_id: format!("{REPAIR_EVENT_PREFIX}{}_{id}", since_epoch.as_millis()),
        event_type: event_type.to_owned(),
        event_created: i64::try_from(since_epoch.as_secs()).unwrap_or(i64::MAX),
        payload: payload.to_string().into_bytes(),
    }
}

/// Facts naming the row by `key` and saying nothing else, stamped before any real event, so
/// merging them leaves `row` as it is. The key goes in the id field the row holds it in,
/// found by trying each (another field would add an id and change the row).
fn touch_facts(row: &LedgerRow, key: &str) -> Option<Facts> {
    let slots: [fn(&mut PaymentIds) -> &mut Option<String>; 4] = [
        |ids| &mut ids.payment_intent,
        |ids| &mut ids.charge,
        |ids| &mut ids.invoice,
        |ids| &mut ids.checkout_session,
    ];
    slots.into_iter().find_map(|slot| {
        let mut ids = PaymentIds::default();
        *slot(&mut ids) = Some(key.to_owned());
        let mut facts = Facts::new(Stamp {
            created: i64::MIN,
            event_id: String::new(),
        });
        facts.ids = ids;
        (LedgerRow::from_facts(&facts).merge(row) == *row).then_some(facts)
    })
}

impl Inner {
    /// For a repair job, the facts that hand its row to the write path (or what to do with
    /// the job); `None` for any other job.
    pub(super) async fn repair_facts(&self, job: &Job) -> Option<Result<Facts, Disposition>> {
        if job.event_type != REPAIR_EVENT_TYPE {
            return None;
        }
        Some(self.repair_facts_of(job).await)
    }

    async fn repair_facts_of(&self, job: &Job) -> Result<Facts, Disposition> {
        let payload: RepairPayload = serde_json::from_slice(&job.payload).map_err(|error| {
            Disposition::DeadLetter(format!(
                "a repair job's payload must be {{\"payment_id\": \"...\"}}: {error}"
            ))
        })?;
        let entry = self
            .store
            .state
            .ledger_entry(&payload.payment_id)
            .await
            .map_err(|error| Disposition::Retry {
                delay: None,
                attempt: Attempt::Consume,
                reason: format!("could not read the ledger row to repair: {error}"),
            })?
            .ok_or_else(|| {
                Disposition::Skipped("no ledger row has this payment id: nothing to repair".into())
            })?;
        touch_facts(&entry.row, &entry.key).ok_or_else(|| {
            Disposition::Skipped(
                "the ledger row does not hold its own key: nothing to repair".into(),
            )
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(json: serde_json::Value) -> LedgerRow {
        let facts: Facts = serde_json::from_value(json).unwrap();
        LedgerRow::from_facts(&facts)
    }

    #[test]
    fn touch_facts_change_no_row_and_name_it_by_its_key() {
        let paid = row(serde_json::json!({
            "stamp": {"created": 100, "event_id": "evt_1"},
            "ids": {"payment_intent": "pi_1", "charge": "ch_1"},
            "contact": {"email": "ann@example.com"},
            "currency": "usd", "authorized": 500, "captured": 500, "succeeded": true,
            "refunded": 200, "fully_refunded": false, "disputed": false,
            "paid_at": 100, "metadata": {"order": "7"},
        }));
        for key in ["pi_1", "ch_1"] {
            let facts = touch_facts(&paid, key).unwrap();
            assert_eq!(facts.ids.key(), Some(key));
            assert_eq!(LedgerRow::from_facts(&facts).merge(&paid), paid);
        }
        assert!(touch_facts(&paid, "in_unknown").is_none());
    }

    #[test]
    fn a_repair_job_names_only_the_payment_and_is_new_each_time() {
        let at = UNIX_EPOCH + std::time::Duration::from_millis(1_700_000_000_123);
        let job = repair_job("pi_1", at);
        assert_eq!(job.event_type, REPAIR_EVENT_TYPE);
        assert_eq!(job.event_id, "repair_1700000000123_pi_1");
        assert_eq!(job.event_created, 1_700_000_000);
        assert_eq!(job.payload, br#"{"payment_id":"pi_1"}"#);
        let later = repair_job("pi_1", at + std::time::Duration::from_millis(1));
        assert_ne!(later.event_id, job.event_id);
    }

    #[test]
    fn a_customer_repair_job_names_only_the_customer() {
        let at = UNIX_EPOCH + std::time::Duration::from_millis(1_700_000_000_123);
        let job = customer_repair_job("cus_1", at);
        assert_eq!(job.event_type, CUSTOMER_REPAIR_EVENT_TYPE);
        assert_eq!(job.event_id, "repair_1700000000123_cus_1");
        assert_eq!(job.event_created, 1_700_000_000);
        assert_eq!(job.payload, br#"{"customer_id":"cus_1"}"#);
    }
}
