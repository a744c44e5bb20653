//! Recording which deal a payment went to, the moment HubSpot names it.
//!
//! Called right after a deals create or upsert answers, while the worker still holds the
//! write order: the next worker to merge one of these payments (a later event re-keying it to
//! its PaymentIntent, say) then finds the deal and moves it instead of making a second one.
//! The versions written are recorded later, once the rest of the row's writes succeeded.

use super::settle::Disposition;
use super::Inner;
use stripe2hubspot_queue::{Attempt, WriteMark, WrittenDeal};

impl Inner {
    /// Records each `(payment key, deal id)` as the row's deal, claiming no version. A store
    /// failure retries the payments: their deals are found again by `stripe_payment_id`.
    pub(crate) async fn record_deals(&self, deals: &[(String, String)]) -> Result<(), Disposition> {
        if deals.is_empty() {
            return Ok(());
        }
        let marks: Vec<WriteMark> = deals
            .iter()
            .map(|(key, deal_id)| {
                WriteMark::deal_only(
                    key.clone(),
                    WrittenDeal {
                        stripe_payment_id: key.clone(),
                        deal_id: deal_id.clone(),
                    },
                )
            })
            .collect();
        self.store
            .state
            .mark_written(&marks)
            .await
            .map_err(|error| Disposition::Retry {
                delay: None,
                attempt: Attempt::Consume,
                reason: format!("could not record the deals written in the ledger: {error}"),
            })
    }
}
