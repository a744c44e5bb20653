//! Customer and subscription events through the customer ledger: merged under the same write
//! order as payments, then each customer whose state HubSpot has not seen becomes a write of
//! its contact (the group of [`customer_contact_key`], whose state is the customer's row plus
//! the sums over its payments), in the same batch calls as the payments' contacts.
//!
//! Two snapshots of one subscription written in the same second with different contents are
//! settled by reading the subscription from Stripe, when the engine has a client
//! ([`SyncEngineBuilder::stripe`](crate::SyncEngineBuilder::stripe)).
//!
//! `customer.deleted` with [`gdpr_delete`](crate::SyncEngineBuilder::gdpr_delete) deletes the
//! customer's contact with HubSpot's GDPR delete (by its recorded id, else by email), then
//! erases the person from the store ([`SyncState::erase_customer`](stripe2hubspot_queue::SyncState::erase_customer), one
//! transaction) and from
//! this process's memory. Without it the customer is only marked deleted. A `customer.deleted`
//! for a customer the store never saw is recorded (so no older event brings the customer back)
//! and skipped with that reason.

use std::collections::{BTreeSet, HashMap};
use std::time::{SystemTime, UNIX_EPOCH};

use hubspot_crm::ObjectRef;
use serde::Deserialize;
use stripe2hubspot_map::{
    customer_facts_from_object, ContactKey, CustomerFacts, CustomerOutcome, CustomerRow, Stamp,
};
use stripe2hubspot_queue::{customer_contact_key, Attempt, CustomerEntry, Job};

use super::failure::CallFailure;
use super::plan::contact_of_key;
use super::settle::Disposition;
use super::Inner;
use crate::repair::CUSTOMER_REPAIR_EVENT_TYPE;

/// A customer repair job's payload: the customer id only, no personal data.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CustomerRepairPayload {
    customer_id: String,
}

/// The customers a batch touched, after the merge.
#[derive(Debug, Default)]
pub(crate) struct CustomerBatch {
    /// Each customer's entry as the merge left it (or, for a repair, as stored).
    pub entries: HashMap<String, CustomerEntry>,
    /// The jobs of each customer.
    pub jobs: HashMap<String, Vec<usize>>,
    /// Customers to write even when HubSpot confirmed their state (repairs).
    pub forced: BTreeSet<String>,
    /// Customers a `customer.deleted` of the batch names.
    pub deleted: HashMap<String, Deleted>,
    /// Jobs settled while reading (a repair of a customer the store does not know).
    pub done: Vec<(usize, Disposition)>,
}

/// A customer a `customer.deleted` of the batch names. `Debug` shows no email.
pub(crate) struct Deleted {
    /// Whether the store knew the customer before the batch.
    known: bool,
    /// The customer's email before the deletion, to find its contact when no id is recorded.
    email: Option<String>,
}

impl std::fmt::Debug for Deleted {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Deleted")
            .field("known", &self.known)
            .field("email", &self.email.as_ref().map(|_| "<redacted>"))
            .finish()
    }
}

/// A customer whose contact is written in this batch.
#[derive(Debug, Clone)]
pub(crate) struct CustomerWrite {
    pub customer_id: String,
    /// Its contact key ([`customer_contact_key`]).
    pub key: String,
    /// How HubSpot finds its contact when no id is recorded.
    pub contact: ContactKey,
    pub row: CustomerRow,
    /// The version written.
    pub version: i64,
    pub jobs: Vec<usize>,
}

/// A GDPR deletion to make once the batch's writes are done. `Debug` shows no email.
pub(crate) struct Deletion {
    customer_id: String,
    key: String,
    email: Option<String>,
    pub jobs: Vec<usize>,
}

impl std::fmt::Debug for Deletion {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Deletion")
            .field("customer_id", &self.customer_id)
            .field("jobs", &self.jobs)
            .finish_non_exhaustive()
    }
}

/// What the batch does for its customers.
#[derive(Debug, Default)]
pub(crate) struct CustomerPlan {
    pub writes: Vec<CustomerWrite>,
    /// Jobs that are done without a write.
    pub done: Vec<(usize, Disposition)>,
    pub deletions: Vec<Deletion>,
}

/// A retry for a store failure; every step here is idempotent.
fn store_retry(what: &str, error: impl std::fmt::Display) -> Disposition {
    Disposition::Retry {
        delay: None,
        attempt: Attempt::Consume,
        reason: format!("could not {what}: {error}"),
    }
}

pub(crate) fn now_seconds() -> i64 {
    let since = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    i64::try_from(since.as_secs()).unwrap_or(i64::MAX)
}

impl Inner {
    /// For a customer repair job, the customer to write again (or what to do with the job);
    /// `None` for any other job.
    pub(super) fn customer_repair(&self, job: &Job) -> Option<Result<String, Disposition>> {
        if job.event_type != CUSTOMER_REPAIR_EVENT_TYPE {
            return None;
        }
        Some(
            serde_json::from_slice::<CustomerRepairPayload>(&job.payload)
                .map(|payload| payload.customer_id)
                .map_err(|error| {
                    Disposition::DeadLetter(format!(
                        "a customer repair job's payload must be {{\"customer_id\": \"cus_...\"}}: {error}"
                    ))
                }),
        )
    }

    /// Merges the batch's customer facts into the customer ledger (settling tied
    /// subscriptions from Stripe when a client is configured) and reads the customers its
    /// repair jobs name. Call it holding the write order.
    pub(crate) async fn merge_customers(
        &self,
        facts: &[(usize, CustomerFacts)],
        repairs: &[(usize, String)],
    ) -> Result<CustomerBatch, Disposition> {
        let mut batch = CustomerBatch::default();
        if facts.is_empty() && repairs.is_empty() {
            return Ok(batch);
        }
        let state = &self.store.state;
        for (job, fact) in facts {
            batch
                .jobs
                .entry(fact.customer_id.clone())
                .or_default()
                .push(*job);
        }
        let deleted_ids: Vec<String> = facts
            .iter()
            .filter(|(_, f)| f.deleted)
            .map(|(_, f)| f.customer_id.clone())
            .collect();
        if !deleted_ids.is_empty() {
            let before = state
                .customers(&deleted_ids)
                .await
                .map_err(|e| store_retry("read the customers a customer.deleted names", e))?;
            for (_, fact) in facts.iter().filter(|(_, f)| f.deleted) {
                let stored = before.get(&fact.customer_id);
                let from_event = fact
                    .contact
                    .as_ref()
                    .and_then(|c| c.email.as_ref())
                    .map(|email| email.expose().to_owned());
                let email = stored
                    .and_then(|e| e.row.email())
                    .map(str::to_owned)
                    .or(from_event);
                batch.deleted.insert(
                    fact.customer_id.clone(),
                    Deleted {
                        known: stored.is_some(),
                        email,
                    },
                );
            }
        }
        if !facts.is_empty() {
            let all: Vec<CustomerFacts> = facts.iter().map(|(_, f)| f.clone()).collect();
            let merged = state
                .merge_customer_facts(&all, &self.mapping)
                .await
                .map_err(|e| store_retry("merge the events into the customer ledger", e))?;
            batch.entries.extend(
                merged
                    .into_iter()
                    .map(|entry| (entry.customer_id.clone(), entry)),
            );
            self.settle_ties(&mut batch.entries).await?;
        }
        if !repairs.is_empty() {
            let ids: Vec<String> = repairs.iter().map(|(_, id)| id.clone()).collect();
            let stored = state
                .customers(&ids)
                .await
                .map_err(|e| store_retry("read the customers to repair", e))?;
            for (job, id) in repairs {
                if !stored.contains_key(id) && !batch.entries.contains_key(id) {
                    batch.done.push((
                        *job,
                        Disposition::Skipped(format!(
                            "no customer {id} in the customer ledger: nothing to repair"
                        )),
                    ));
                    continue;
                }
                batch.forced.insert(id.clone());
                batch.jobs.entry(id.clone()).or_default().push(*job);
            }
            for (id, entry) in stored {
                batch.entries.entry(id).or_insert(entry);
            }
        }
        Ok(batch)
    }

    /// Re-reads from Stripe every subscription two same-second snapshots of which disagree,
    /// and every live one whose discounts the event named by id only (webhooks on current API
    /// versions do: MRR needs the coupon), and merges it stamped with the read time, which
    /// outranks the events. Without a client (or when a read fails) a tie stays settled by event
    /// id and an unknown discount takes nothing off.
    async fn settle_ties(
        &self,
        entries: &mut HashMap<String, CustomerEntry>,
    ) -> Result<(), Disposition> {
        let Some(stripe) = &self.stripe else {
            return Ok(());
        };
        let tied: BTreeSet<String> = entries
            .values()
            .flat_map(|e| e.row.subscriptions_to_reread())
            .collect();
        if tied.is_empty() {
            return Ok(());
        }
        let now = now_seconds();
        let mut read = Vec::new();
        for subscription in tied {
            let object = match stripe
                .retrieve(&format!("/v1/subscriptions/{subscription}"))
                .await
            {
                Ok(object) => object,
                Err(error) => {
                    tracing::warn!(%subscription, %error, "could not re-read a subscription (two events of the same second disagree, or its discounts came as ids only); keeping what the events say");
                    continue;
                }
            };
            let stamp = Stamp {
                created: now,
                event_id: format!("read_{subscription}_{now}"),
            };
            match customer_facts_from_object(&object, None, stamp, "") {
                Ok(CustomerOutcome::Facts(facts)) => read.push(*facts),
                Ok(CustomerOutcome::Skip(reason)) => {
                    tracing::warn!(%subscription, %reason, "the re-read subscription says nothing to merge")
                }
                Err(error) => {
                    tracing::warn!(%subscription, %error, "the re-read subscription could not be read")
                }
            }
        }
        if read.is_empty() {
            return Ok(());
        }
        tracing::info!(
            subscriptions = read.len(),
            "re-read subscriptions from Stripe (same-second events, or discounts sent as ids only)"
        );
        let merged = self
            .store
            .state
            .merge_customer_facts(&read, &self.mapping)
            .await
            .map_err(|e| store_retry("merge the re-read subscriptions", e))?;
        entries.extend(
            merged
                .into_iter()
                .map(|entry| (entry.customer_id.clone(), entry)),
        );
        Ok(())
    }

    /// What the batch does for each customer it touched.
    pub(crate) fn plan_customers(&self, batch: CustomerBatch) -> CustomerPlan {
        let mut plan = CustomerPlan {
            done: batch.done,
            ..CustomerPlan::default()
        };
        let mut entries: Vec<CustomerEntry> = batch.entries.into_values().collect();
        entries.sort_by(|a, b| a.customer_id.cmp(&b.customer_id));
        for entry in entries {
            let id = entry.customer_id.clone();
            let jobs = batch.jobs.get(&id).cloned().unwrap_or_default();
            let key = customer_contact_key(&id, &self.mapping);
            if let Some(deleted) = batch.deleted.get(&id) {
                if !deleted.known {
                    let reason = format!(
                        "customer.deleted for customer {id}, which the store never saw: recorded as deleted (an older event cannot bring it back); no HubSpot contact of it to delete"
                    );
                    plan.done.extend(
                        jobs.into_iter()
                            .map(|j| (j, Disposition::Skipped(reason.clone()))),
                    );
                    continue;
                }
                if self.settings.gdpr_delete {
                    plan.deletions.push(Deletion {
                        customer_id: id,
                        key,
                        email: deleted.email.clone(),
                        jobs,
                    });
                    continue;
                }
            }
            if !batch.forced.contains(&id) && !entry.is_unwritten() {
                plan.done.extend(jobs.into_iter().map(|j| {
                    (
                        j,
                        Disposition::Skipped(
                            "HubSpot already holds this state of the customer".into(),
                        ),
                    )
                }));
                continue;
            }
            let Some(contact) = contact_of_key(&key, &self.mapping) else {
                let reason = format!("customer {id} has no contact key: nothing to write");
                plan.done.extend(
                    jobs.into_iter()
                        .map(|j| (j, Disposition::Skipped(reason.clone()))),
                );
                continue;
            };
            plan.writes.push(CustomerWrite {
                customer_id: id,
                key,
                contact,
                row: entry.row,
                version: entry.version,
                jobs,
            });
        }
        plan
    }

    /// The dispositions of the customer writes given each contact's outcome, and records the
    /// versions written.
    pub(crate) async fn settle_customers(
        &self,
        writes: &[CustomerWrite],
        outcomes: &HashMap<String, Result<String, Disposition>>,
    ) -> Vec<(usize, Disposition)> {
        let mut out = Vec::new();
        let mut written = Vec::new();
        for write in writes {
            let disposition = match outcomes.get(&write.key) {
                Some(Ok(_)) => Disposition::Synced,
                Some(Err(Disposition::Skipped(reason))) => Disposition::Skipped(reason.clone()),
                Some(Err(disposition)) => {
                    out.extend(write.jobs.iter().map(|&j| (j, disposition.clone())));
                    continue;
                }
                None => Disposition::Skipped(
                    "nothing to write: the customer has no email and no payment yet".into(),
                ),
            };
            written.push((write.customer_id.clone(), write.version));
            out.extend(write.jobs.iter().map(|&j| (j, disposition.clone())));
        }
        if written.is_empty() {
            return out;
        }
        if let Err(error) = self.store.state.mark_customers_written(&written).await {
            let retry = store_retry("record the customer versions written", error);
            for (_, disposition) in &mut out {
                if matches!(disposition, Disposition::Synced | Disposition::Skipped(_)) {
                    *disposition = retry.clone();
                }
            }
        }
        out
    }

    /// Makes the batch's GDPR deletions: each customer's contact deleted in HubSpot, then the
    /// person erased from the store and this process's memory. Held under the write order, so
    /// no worker writes the contact again from rows read before the erasure.
    pub(crate) async fn delete_customers(
        &self,
        deletions: Vec<Deletion>,
    ) -> Vec<(usize, Disposition)> {
        let mut out = Vec::new();
        if deletions.is_empty() {
            return out;
        }
        let _write_order = self.write_order.lock().await;
        let keys: Vec<String> = deletions.iter().map(|d| d.key.clone()).collect();
        let marks = match self.store.state.contact_marks(&keys).await {
            Ok(marks) => marks,
            Err(error) => {
                let retry = store_retry("read the contact ids of the customers to delete", error);
                return deletions
                    .iter()
                    .flat_map(|d| d.jobs.iter().map(|&j| (j, retry.clone())))
                    .collect();
            }
        };
        for deletion in deletions {
            let contact_id = marks
                .get(&deletion.key)
                .map(|mark| mark.contact_id.clone())
                .filter(|id| !id.is_empty());
            let disposition = self.delete_customer(&deletion, contact_id.as_deref()).await;
            out.extend(deletion.jobs.iter().map(|&j| (j, disposition.clone())));
        }
        out
    }

    async fn delete_customer(&self, deletion: &Deletion, contact_id: Option<&str>) -> Disposition {
        let target = match (contact_id, &deletion.email) {
            (Some(id), _) => Some(ObjectRef::id(id)),
            (None, Some(email)) => Some(ObjectRef::email(email)),
            (None, None) => None,
        };
        if let Some(target) = target {
            if let Err(failure) = self.fence() {
                return self.on_failure(&failure).await;
            }
            self.count_request();
            match self.hubspot.contacts().gdpr_delete(&target).await {
                Ok(()) | Err(hubspot_crm::Error::NotFound { .. }) => self.succeeded(),
                Err(error) => return self.on_failure(&CallFailure::classify(&error)).await,
            }
        }
        let erasure = match self
            .store
            .state
            .erase_customer(&deletion.customer_id, &self.mapping)
            .await
        {
            Ok(erasure) => erasure,
            Err(error) => return store_retry("erase the deleted customer from the store", error),
        };
        let mut keys = erasure.contact_keys.clone();
        keys.push(deletion.key.clone());
        keys.sort();
        keys.dedup();
        if let Err(error) = self.store.state.forget_contact_marks(&keys).await {
            return store_retry("forget the deleted customer's contact marks", error);
        }
        self.forget_contact_memory(
            &keys,
            &contact_id
                .iter()
                .map(|id| (*id).to_owned())
                .collect::<Vec<_>>(),
        );
        tracing::info!(
            customer_id = %deletion.customer_id,
            contact_id = contact_id.unwrap_or(""),
            by = if contact_id.is_some() { "id" } else if deletion.email.is_some() { "email" } else { "nothing: no contact known" },
            payments_erased = erasure.payments,
            events_redacted = erasure.events,
            "GDPR deletion: deleted the customer's HubSpot contact and erased the person from the store"
        );
        Disposition::Synced
    }
}
