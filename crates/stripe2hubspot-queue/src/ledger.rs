//! The payment ledger as the store keeps it: one row per payment, found by any of its ids,
//! versioned so the engine knows which rows HubSpot has not seen yet.
//!
//! The merge itself is pure ([`merge_step`]); every backend loads the rows a fact names, runs
//! it, and writes back what it returns, in one transaction per call.

use std::collections::BTreeMap;

use stripe2hubspot_map::{Facts, LedgerRow, MappingConfig};

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
    /// Raised each time a merge changes the row (or its key).
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

/// The contact key the store indexes a row under for
/// [`contact_rows`](crate::SyncState::contact_rows): `"{id property}={value}"`, e.g.
/// `email=ann@example.com`. `None` while the row has no contact.
pub fn contact_key_of(row: &LedgerRow, config: &MappingConfig) -> Option<String> {
    row.contact_key(config)
        .map(|key| format!("{}={}", key.id_property(), key.value()))
}

/// What one fact does to the rows it names.
#[derive(Debug, Clone)]
pub(crate) struct Merged {
    pub(crate) entry: LedgerEntry,
    /// Whether the row (or its key) changed, so it must be written back.
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
    let changed = match existing {
        [only] => only.key != key || only.row != row,
        _ => true,
    };
    let version = existing.iter().map(|e| e.version).max().unwrap_or(0) + i64::from(changed);
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
}

impl Changes {
    pub(crate) fn record(&mut self, merged: &Merged) {
        let mut absorbed = Vec::new();
        let mut orphaned = merged.orphaned_deals.clone();
        for old in merged.removed_keys.iter().chain([&merged.entry.key]) {
            if let Some(previous) = self.by_key.remove(old) {
                absorbed.extend(previous.absorbed_keys);
                orphaned.extend(previous.orphaned_deals);
            }
        }
        absorbed.extend(merged.removed_keys.iter().cloned());
        absorbed.sort();
        absorbed.dedup();
        self.by_key.insert(
            merged.entry.key.clone(),
            LedgerChange {
                entry: merged.entry.clone(),
                absorbed_keys: absorbed,
                orphaned_deals: orphaned,
            },
        );
    }

    pub(crate) fn into_vec(self) -> Vec<LedgerChange> {
        self.by_key.into_values().collect()
    }
}
