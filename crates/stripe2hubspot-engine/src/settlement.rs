//! Lifetime values in the account's settlement currency: with a Stripe client, what each
//! charge about to be written settled as is read from its balance transaction and merged
//! into its ledger row before the batch's contact states are derived.
//!
//! A charge's balance transaction is Stripe's record of what the charge added to the balance,
//! in the settlement currency after any conversion (`amount`, before fees:
//! <https://docs.stripe.com/api/balance_transactions/object>). It never changes once the
//! charge is captured, so each charge is read once: the ledger keeps it, and a redelivered or
//! later event of the payment finds it there. The read costs one request
//! (`GET /v1/balance_transactions/{id}`) when the row knows the charge's balance transaction
//! (a charge event names it), two otherwise (`GET /v1/charges/{id}` first), paced by the
//! client's read rate.
//!
//! A read that fails (a key without "Balance: Read", Stripe down, a charge not captured yet)
//! never holds the sync back: the batch goes on, the contact's lifetime value follows the
//! payments' own currency (see
//! [`contact_properties_of`](stripe2hubspot_map::contact_properties_of)), and the charge is
//! read again on its row's next write.

use std::collections::BTreeMap;

use stripe2hubspot_map::{Facts, PaymentIds, Stamp};
use stripe2hubspot_queue::LedgerChange;
use stripe2hubspot_stripe::{BalanceTransaction, StripeClient};
use stripe_events::{Charge, Expandable};

use super::customers::now_seconds;
use super::Inner;

/// What a charge's settlement read found.
enum Read {
    Settled(Box<BalanceTransaction>),
    /// The charge has no balance transaction (not captured yet).
    NotYet,
}

/// Reads what `charge` settled as: its balance transaction `txn` when known, else the
/// charge first, to learn it.
async fn read_settlement(
    stripe: &StripeClient,
    charge: &str,
    txn: Option<&str>,
) -> Result<Read, stripe2hubspot_stripe::Error> {
    let txn = match txn {
        Some(txn) => txn.to_owned(),
        None => match stripe
            .retrieve_by_id::<Charge>(charge)
            .await?
            .balance_transaction
        {
            Some(Expandable::Object(txn)) => return Ok(Read::Settled(txn)),
            Some(Expandable::Id(txn)) => txn,
            None => return Ok(Read::NotYet),
        },
    };
    Ok(Read::Settled(Box::new(
        stripe.balance_transaction(&txn).await?,
    )))
}

impl Inner {
    /// With a Stripe client: reads the settlement of every charge of `changes` that has none
    /// yet and whose row is about to be written (settled, not written at this version), merges
    /// them as facts stamped with the read time (they add only the settlement), and returns
    /// `changes` with those rows as the merge left them. Without a client, or when nothing is
    /// to read, `changes` as given. Call it holding the write order, right after the merge of
    /// the batch's facts.
    pub(super) async fn settle_charges(&self, mut changes: Vec<LedgerChange>) -> Vec<LedgerChange> {
        let Some(stripe) = &self.stripe else {
            return changes;
        };
        // By charge id, so a charge two changes share is read once; with its payment's ids,
        // which place the read in the payment's row.
        let unsettled: BTreeMap<String, (Option<String>, PaymentIds)> = changes
            .iter()
            .map(|change| &change.entry)
            .filter(|entry| entry.is_unwritten() && !entry.row.state(&self.mapping).is_waiting())
            .flat_map(|entry| {
                let row = &entry.row;
                row.unsettled_charges().map(move |(charge, txn)| {
                    let ids = PaymentIds {
                        payment_intent: row.payment_intent_ids().next().map(str::to_owned),
                        charge: Some(charge.to_owned()),
                        invoice: row.invoice_ids().next().map(str::to_owned),
                        checkout_session: row.checkout_session_ids().next().map(str::to_owned),
                    };
                    (charge.to_owned(), (txn.map(str::to_owned), ids))
                })
            })
            .collect();
        if unsettled.is_empty() {
            return changes;
        }
        let now = now_seconds();
        let mut facts = Vec::new();
        for (charge, (txn, ids)) in unsettled {
            match read_settlement(stripe, &charge, txn.as_deref()).await {
                Ok(Read::Settled(txn)) => {
                    let stamp = Stamp {
                        created: now,
                        event_id: format!("read_{}_{now}", txn.id),
                    };
                    facts.push(Facts::settled(stamp, ids, &txn));
                }
                Ok(Read::NotYet) => {
                    tracing::debug!(%charge, "the charge has no balance transaction yet; its settlement is read on its next write");
                }
                Err(error) => {
                    tracing::warn!(%charge, %error, "could not read what the charge settled as; the contact's lifetime value stays in the payments' own currency until the charge's next write");
                }
            }
        }
        if facts.is_empty() {
            return changes;
        }
        let merged = match self.store.state.merge_facts(&facts, &self.mapping).await {
            Ok(merged) => merged,
            Err(error) => {
                tracing::warn!(%error, "could not record the charges' settlements; the contacts' lifetime values stay in the payments' own currency until their next write");
                return changes;
            }
        };
        tracing::info!(
            charges = facts.len(),
            "read the settlement of charges from their balance transactions"
        );
        for settled in merged {
            let same_row = changes.iter_mut().find(|change| {
                change.entry.key == settled.entry.key
                    || change
                        .entry
                        .row
                        .aliases()
                        .any(|alias| settled.entry.row.aliases().any(|a| a == alias))
            });
            if let Some(change) = same_row {
                change.entry = settled.entry;
            }
        }
        changes
    }
}
