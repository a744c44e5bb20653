//! The payment ledger as the store keeps it: one row per payment, found by any of its ids,
//! versioned so the engine knows which rows HubSpot has not seen yet.
//!
//! The merge itself is pure ([`merge_step`]); every backend loads the rows a fact names, runs
//! it, and writes back what it returns, in one transaction per call.

use std::collections::BTreeMap;

use stripe2hubspot_map::{ContactKey, ContactKeySource, Facts, LedgerRow, MappingConfig};

use crate::customer_contact_key;

/// The deal a ledger row was written to: the `stripe_payment_id` it was upserted by and the
/// HubSpot id HubSpot answered with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WrittenDeal {
    /// The `stripe_payment_id` the deal carries in HubSpot.
    pub stripe_payment_id: String,
    /// The HubSpot deal id.
    pub deal_id: String,
}

/// One payment's row in the store.
#[derive(Debug, Clone, PartialEq)]
pub struct LedgerEntry {
    /// The payment identity ([`LedgerRow::key`]) the row is stored under.
    pub key: String,
    /// Everything known about the payment.
    pub row: LedgerRow,
    /// Raised each time a merge changes what the row holds (or its key); a merge that only
    /// moves the stamps ordering its facts keeps it.
    pub version: i64,
    /// The highest version whose HubSpot state was written (0: never).
    pub written_version: i64,
    /// The deal the row was last written to, if any.
    pub deal: Option<WrittenDeal>,
}

impl LedgerEntry {
    /// Whether HubSpot has not seen this version of the row yet.
    pub fn is_unwritten(&self) -> bool {
        self.version > self.written_version
    }
}

/// A row a [`merge_facts`](crate::SyncState::merge_facts) call touched, as it stands after
/// the call (changed or not: a redelivered event touches its row without changing it).
#[derive(Debug, Clone, PartialEq)]
pub struct LedgerChange {
    /// The row after the merge.
    pub entry: LedgerEntry,
    /// Keys of rows merged into this one by the call (a fact linked them), whose rows are gone.
    /// When one of them was the key the deal was written under, the deal must be moved to
    /// [`LedgerEntry::key`]: see [`LedgerEntry::deal`].
    pub absorbed_keys: Vec<String>,
    /// Deals written for rows merged into this one, other than the one kept in
    /// [`LedgerEntry::deal`]: HubSpot holds two deals for one payment, and a person must
    /// merge or delete these.
    pub orphaned_deals: Vec<WrittenDeal>,
    /// Contact keys (as [`contact_key_of`] spells them) the row, or a row merged into it, was
    /// indexed under before the call, other than the one it has now: a newer email moved the
    /// payment away from these contacts, whose rollups and deal association must follow.
    pub previous_contact_keys: Vec<String>,
    /// The contact key the store indexes the row under after the call (what
    /// [`contact_rows`](crate::SyncState::contact_rows) finds it by): [`contact_key_of`] of
    /// the row, except a guest row joined to the customer whose current email it carries.
    /// `None` while the row has no contact.
    pub contact_key: Option<String>,
}

/// What [`mark_written`](crate::SyncState::mark_written) records for one row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WriteMark {
    /// The row's key.
    pub key: String,
    /// The version that was written.
    pub version: i64,
    /// The deal it was written to (`None` for a row with no deal, e.g. a released
    /// authorization).
    pub deal: Option<WrittenDeal>,
}

impl WriteMark {
    /// Records only which deal the row `key` went to, claiming no version: written right
    /// after HubSpot answers the deal's create or upsert, before the rest of the row's writes,
    /// so a merge that re-keys the row meanwhile finds the deal and moves it instead of
    /// making a second one.
    pub fn deal_only(key: impl Into<String>, deal: WrittenDeal) -> Self {
        WriteMark {
            key: key.into(),
            version: 0,
            deal: Some(deal),
        }
    }
}

/// The contact key of a payment row, by the row alone: `"{id property}={value}"`. Under
/// [`ContactKeySource::Email`] a row with a Stripe customer id is keyed by its customer,
/// `customer=cus_X` (as [`customer_contact_key`] spells it), so an email change never splits
/// the customer's rollups; a guest row (no customer id) by its email, `email=ann@example.com`.
/// Under [`ContactKeySource::StripeCustomerId`] it is `{customer_id_property}=cus_X`. `None`
/// while the row has no contact.
///
/// The store indexes a row under this key for [`contact_rows`](crate::SyncState::contact_rows),
/// except that a guest row is indexed under the key of the customer whose current email is the
/// row's email, when there is one (see [`SyncState`](crate::SyncState)).
pub fn contact_key_of(row: &LedgerRow, config: &MappingConfig) -> Option<String> {
    if let (ContactKeySource::Email, Some(customer_id)) = (config.contact_key, row.customer_id()) {
        return Some(customer_contact_key(customer_id, config));
    }
    row.contact_key(config).as_ref().map(spell_contact_key)
}

/// A HubSpot contact key as the store spells it: `"{id property}={value}"`.
pub(crate) fn spell_contact_key(key: &ContactKey) -> String {
    format!("{}={}", key.id_property(), key.value())
}

/// What one fact does to the rows it names.
#[derive(Debug, Clone)]
pub(crate) struct Merged {
    pub(crate) entry: LedgerEntry,
    /// Whether the row (or its key) changed, so it must be written back. Stamps count: they
    /// decide later merges, even when the version stays.
    pub(crate) changed: bool,
    /// Keys of the loaded rows other than the new key: delete them, redirect their aliases.
    pub(crate) removed_keys: Vec<String>,
    pub(crate) orphaned_deals: Vec<WrittenDeal>,
    /// Every id of the row: the alias index entries to write.
    pub(crate) aliases: Vec<String>,
    pub(crate) contact_key: Option<String>,
    pub(crate) waiting: bool,
}

/// Merges `facts` into the rows `existing` (every row sharing an id with the facts). `None`
/// when the facts name no id at all (nothing to key a row by).
pub(crate) fn merge_step(
    existing: &[LedgerEntry],
    facts: &Facts,
    config: &MappingConfig,
) -> Option<Merged> {
    let row = existing
        .iter()
        .fold(LedgerRow::from_facts(facts), |row, e| row.merge(&e.row));
    let key = row.key()?.to_owned();
    let (changed, moved) = match existing {
        // Facts the row already holds, stamped otherwise (a backfill's read of a payment the
        // webhooks told): store the new stamps, but HubSpot has nothing new to see.
        [only] if only.key == key => (only.row != row, !only.row.same_values_as(&row)),
        _ => (true, true),
    };
    let version = existing.iter().map(|e| e.version).max().unwrap_or(0) + i64::from(moved);
    let written_version = existing
        .iter()
        .map(|e| e.written_version)
        .max()
        .unwrap_or(0);
    // Keep the deal written under the new key if there is one, else move another to it.
    let mut deals: Vec<WrittenDeal> = existing.iter().filter_map(|e| e.deal.clone()).collect();
    deals.sort_by_key(|d| d.stripe_payment_id != key);
    let mut deals = deals.into_iter();
    let deal = deals.next();
    let orphaned_deals = deals.collect();
    let removed_keys = existing
        .iter()
        .filter(|e| e.key != key)
        .map(|e| e.key.clone())
        .collect();
    Some(Merged {
        aliases: row.aliases().map(str::to_owned).collect(),
        contact_key: contact_key_of(&row, config),
        waiting: row.state(config).is_waiting(),
        entry: LedgerEntry {
            key,
            row,
            version,
            written_version,
            deal,
        },
        changed,
        removed_keys,
        orphaned_deals,
    })
}

/// The changes of one call, collected fact by fact: a later fact may absorb a row an earlier
/// one touched.
#[derive(Debug, Default)]
pub(crate) struct Changes {
    by_key: BTreeMap<String, LedgerChange>,
    /// Per row key of this call, the contact keys its rows had before the call began.
    contacts_before: BTreeMap<String, Vec<String>>,
}

impl Changes {
    /// Records what merging one fact did; `existing` are the rows the merge loaded, each
    /// with the contact key the store indexed it under.
    pub(crate) fn record(&mut self, existing: &[(LedgerEntry, Option<String>)], merged: &Merged) {
        let mut before: Vec<String> = Vec::new();
        for (loaded, contact_key) in existing {
            // A row this call already touched had its pre-call contacts noted then; a row
            // first loaded now is as the store held it before the call.
            match self.contacts_before.get(&loaded.key) {
                Some(keys) => before.extend(keys.iter().cloned()),
                None => before.extend(contact_key.iter().cloned()),
            }
        }
        let mut absorbed = Vec::new();
        let mut orphaned = merged.orphaned_deals.clone();
        for old in merged.removed_keys.iter().chain([&merged.entry.key]) {
            if let Some(previous) = self.by_key.remove(old) {
                absorbed.extend(previous.absorbed_keys);
                orphaned.extend(previous.orphaned_deals);
            }
            self.contacts_before.remove(old);
        }
        absorbed.extend(merged.removed_keys.iter().cloned());
        absorbed.sort();
        absorbed.dedup();
        before.sort();
        before.dedup();
        let previous_contact_keys = before
            .iter()
            .filter(|key| merged.contact_key.as_ref() != Some(*key))
            .cloned()
            .collect();
        self.contacts_before
            .insert(merged.entry.key.clone(), before);
        self.by_key.insert(
            merged.entry.key.clone(),
            LedgerChange {
                entry: merged.entry.clone(),
                absorbed_keys: absorbed,
                orphaned_deals: orphaned,
                previous_contact_keys,
                contact_key: merged.contact_key.clone(),
            },
        );
    }

    pub(crate) fn into_vec(self) -> Vec<LedgerChange> {
        self.by_key.into_values().collect()
    }
}

#[cfg(test)]
mod tests {
    use serde_json::{json, Value};
    use stripe2hubspot_map::{facts_from_event, FactsOutcome};

    use super::*;

    fn charge(refunded: i64) -> Value {
        json!({
            "id": "ch_1", "object": "charge", "amount": 1000, "amount_captured": 1000,
            "amount_refunded": refunded, "currency": "usd", "status": "succeeded",
            "captured": true, "created": 1_700_000_000, "payment_intent": "pi_1",
            "refunded": refunded == 1000, "customer": "cus_1", "description": "Order 7",
            "billing_details": {"email": "ann@example.com", "name": "Ann Lee"},
            "receipt_url": "https://pay.stripe.com/receipts/1", "metadata": {"order": "7"}
        })
    }

    fn facts(id: &str, type_: &str, created: i64, object: Value) -> Facts {
        let event = json!({
            "id": id, "object": "event", "type": type_, "created": created,
            "data": {"object": object}
        });
        let event = serde_json::from_value(event).expect("a valid event");
        match facts_from_event(&event, &MappingConfig::default()).expect("facts") {
            FactsOutcome::Facts(facts) => *facts,
            FactsOutcome::Skip(reason) => panic!("{id} skipped: {reason}"),
        }
    }

    /// Merges `facts` into `stored` (the row they name, if any), as a backend does.
    fn step(stored: Option<&LedgerEntry>, facts: &Facts) -> Merged {
        let existing: Vec<LedgerEntry> = stored.into_iter().cloned().collect();
        merge_step(&existing, facts, &MappingConfig::default()).expect("a keyed row")
    }

    #[test]
    fn a_backfill_of_a_synced_payment_keeps_the_version_and_a_refund_raises_it() {
        let webhook = facts("evt_1", "charge.succeeded", 1_700_000_000, charge(0));
        let first = step(None, &webhook);
        assert!(first.changed);
        assert_eq!(first.entry.version, 1);
        let mut synced = first.entry.clone();
        synced.written_version = synced.version;

        // What backfill enqueues for the same charge, read later: a synthetic
        // `charge.captured` stamped with the time it was read (see stripe2hubspot-history's
        // synthetic_event).
        let backfill = facts(
            "evt_backfill_0123456789abcdef0123456789abcdef",
            "charge.captured",
            1_800_000_000,
            charge(0),
        );
        assert_ne!(backfill.stamp, webhook.stamp);
        let read = step(Some(&synced), &backfill);
        assert!(read.changed, "the newer stamps are stored");
        assert_ne!(read.entry.row.latest(), synced.row.latest());
        assert_eq!(read.entry.version, 1, "nothing new for HubSpot");
        assert!(!read.entry.is_unwritten());

        // A redelivery of the webhook after the backfill changes nothing at all.
        let again = step(Some(&read.entry), &webhook);
        assert!(!again.changed);
        assert_eq!(again.entry.version, 1);

        // A real change still raises the version.
        let refund = facts("evt_2", "charge.refunded", 1_700_000_100, charge(300));
        let refunded = step(Some(&read.entry), &refund);
        assert!(refunded.changed);
        assert_eq!(refunded.entry.version, 2);
        assert!(refunded.entry.is_unwritten());
        assert_eq!(refunded.entry.row.refunded(), 300);
    }
}
