//! Writing a batch's contacts: one whose state HubSpot already holds is not written; one whose
//! HubSpot id the store remembers is updated by that id (so a customer's new email changes
//! the known contact instead of making a second one); the rest are upserted by email (or by
//! the Stripe customer id property).
//!
//! An update HubSpot refuses is resolved here, never retried as it was:
//!
//! | HubSpot refuses the update | the engine |
//! |---|---|
//! | the email belongs to another contact | alerts once per pair of contacts (both ids, and the fix) and writes the known contact without the email from then on; with [`merge_contacts`](crate::SyncEngineBuilder::merge_contacts) it first merges the other contact into the known one (logged with both ids) and writes the merged record |
//! | the id no longer exists (a user deleted the contact) | forgets the id and upserts the contact by email: it is created again |
//!
//! A contact a user merged into another is followed: HubSpot applies an update of a
//! merged-away id to the merged record and answers with its id, which is recorded.

use std::collections::{BTreeSet, HashMap};

use hubspot_crm::UpdateRefusal;
use stripe2hubspot_queue::ContactMark;

use super::batch::{How, Upserted};
use super::failure::CallFailure;
use super::marks;
use super::plan::{customer_of_key, Group};
use super::settle::Disposition;
use super::{Inner, Object};
use crate::alert::{Alert, AlertKind};
use stripe2hubspot_queue::Attempt;

/// The HubSpot property an update is keyed by: the object id.
const OBJECT_ID_PROPERTY: &str = "hs_object_id";

/// Rounds of "resolve the refused updates and send them again" per batch: a merge, then the
/// email withheld, then the upsert of a deleted contact.
const MAX_UPDATE_ROUNDS: usize = 3;

/// What writing a batch's contact groups did.
#[derive(Debug, Default)]
pub(crate) struct ContactsWritten {
    /// Each group with the HubSpot contact id it was written to (or that holds it already),
    /// or what to do with its jobs.
    pub results: Upserted,
    /// What HubSpot confirmed, to record as marks.
    pub confirmed: Vec<ContactMark>,
    /// Contact ids taken from a mark rather than a confirmed write, with their contact key.
    pub from_mark: HashMap<String, String>,
}

/// A contact group as an update of the HubSpot contact `id`.
fn as_update(mut group: Group, id: String) -> Group {
    group.id_property = OBJECT_ID_PROPERTY.to_owned();
    group.id_value = id;
    group
}

impl Inner {
    /// Writes `groups` (see the module documentation), with `marks` the recorded state of
    /// their contacts and `forced` the keys written even when the mark says HubSpot holds them.
    pub(crate) async fn write_contacts(
        &self,
        mut groups: Vec<Group>,
        marks: &HashMap<String, ContactMark>,
        forced: &BTreeSet<String>,
    ) -> ContactsWritten {
        self.withhold_refused_emails(&mut groups, marks);
        let mut out = ContactsWritten::default();
        let (unchanged, changed) = marks::unchanged_contacts(groups, marks, forced);
        out.from_mark.extend(
            unchanged
                .iter()
                .map(|(group, id)| (id.clone(), group.key.clone())),
        );
        out.results
            .extend(unchanged.into_iter().map(|(group, id)| (group, Ok(id))));
        // How each group is upserted, should its known id be gone.
        let upsert_keys: HashMap<String, (String, String)> = changed
            .iter()
            .map(|g| (g.key.clone(), (g.id_property.clone(), g.id_value.clone())))
            .collect();
        let mut updates = Vec::new();
        let mut upserts = Vec::new();
        for group in changed {
            match marks.get(&group.key).map(|m| m.contact_id.clone()) {
                Some(id) if !id.is_empty() && !self.settings.upsert_only => {
                    updates.push(as_update(group, id));
                }
                _ => upserts.push(group),
            }
        }
        let mut merged: BTreeSet<String> = BTreeSet::new();
        for round in 0..MAX_UPDATE_ROUNDS {
            if updates.is_empty() {
                break;
            }
            let written = self
                .write_batch(Object::Contacts, How::Update, std::mem::take(&mut updates))
                .await;
            self.unconfirm_contacts(
                written
                    .results
                    .iter()
                    .filter(|(_, result)| result.is_err())
                    .map(|(group, _)| (group.key.clone(), group.id_value.clone()))
                    .collect(),
            )
            .await;
            self.take_results(&mut out, written.results);
            let last = round + 1 == MAX_UPDATE_ROUNDS;
            for (group, refusal) in written.refused {
                match refusal {
                    UpdateRefusal::NotFound => {
                        let Some((property, value)) = upsert_keys.get(&group.key).cloned() else {
                            continue;
                        };
                        tracing::info!(
                            contact_id = %group.id_value,
                            "the recorded HubSpot contact was deleted; creating it again"
                        );
                        let mut group = group;
                        group.id_property = property;
                        group.id_value = value;
                        upserts.push(group);
                    }
                    UpdateRefusal::Taken(conflict) if !last => {
                        let other = conflict
                            .existing_id
                            .filter(|other| *other != group.id_value);
                        match other {
                            Some(other)
                                if self.settings.merge_contacts
                                    && merged.insert(group.key.clone()) =>
                            {
                                match self.merge_into(&group, &other).await {
                                    Ok(survivor) => updates.push(as_update(group, survivor)),
                                    Err(disposition) => out.results.push((group, Err(disposition))),
                                }
                            }
                            _ if group.properties.contains_key("email") => {
                                self.refuse_email(&group, other.as_deref()).await;
                                let mut group = group;
                                group.properties.remove("email");
                                updates.push(group);
                            }
                            _ => out.results.push((group, Err(refused_again()))),
                        }
                    }
                    _ => out.results.push((group, Err(refused_again()))),
                }
            }
        }
        let (unkeyed, upserts): (Vec<Group>, Vec<Group>) =
            upserts.into_iter().partition(|g| g.id_value.is_empty());
        out.results.extend(unkeyed.into_iter().map(|group| {
            (
                group,
                Err(Disposition::Skipped(
                    "the customer has no email and no HubSpot contact yet; its contact is written once it has an email".into(),
                )),
            )
        }));
        let upserted = self.upsert(Object::Contacts, upserts).await;
        // A failed upsert may still have committed: HubSpot may hold neither state.
        self.forget_contacts(
            upserted
                .iter()
                .filter(|(_, result)| result.is_err())
                .map(|(group, _)| group.key.clone()),
        )
        .await;
        self.take_results(&mut out, upserted);
        out
    }

    /// Adds written groups to `out`, with a mark for each HubSpot confirmed.
    fn take_results(&self, out: &mut ContactsWritten, results: Upserted) {
        out.confirmed.extend(marks::confirmed_marks(
            results
                .iter()
                .filter_map(|(group, result)| Some((group, result.as_ref().ok()?.as_str()))),
        ));
        out.results.extend(results);
    }

    /// Merges the contact `other` into the group's known contact (the primary): HubSpot's
    /// merge cannot be undone, so each one is logged with both ids. Returns the merged
    /// record's id (HubSpot gives it a new one).
    async fn merge_into(&self, group: &Group, other: &str) -> Result<String, Disposition> {
        let primary = group.id_value.as_str();
        if let Err(failure) = self.fence() {
            return Err(self.on_failure(&failure).await);
        }
        self.count_request();
        match self.hubspot.contacts().merge(primary, other).await {
            Ok(survivor) => {
                tracing::info!(
                    primary_contact_id = %primary,
                    merged_contact_id = %other,
                    survivor_contact_id = %survivor.id,
                    customer_id = customer_of_key(&group.key, &self.mapping).unwrap_or(""),
                    "merged the HubSpot contact holding the customer's new email into the customer's contact (STRIPE2HUBSPOT_MERGE_CONTACTS)"
                );
                self.succeeded();
                Ok(survivor.id)
            }
            Err(error) => Err(self.on_failure(&CallFailure::classify(&error)).await),
        }
    }

    /// The group's email belongs to the contact `other`: from now on the known contact is
    /// written without it, and one alert names both contacts and the fix.
    async fn refuse_email(&self, group: &Group, other: Option<&str>) {
        let Some(email) = group.properties.get("email") else {
            return;
        };
        self.refused_emails
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(group.key.clone(), email.clone());
        let known = group.id_value.as_str();
        let other = other.unwrap_or("(HubSpot did not say which)");
        let first = self
            .alerted_pairs
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert((known.to_owned(), other.to_owned()));
        tracing::warn!(
            contact_id = %known,
            other_contact_id = %other,
            "the customer's new email belongs to another HubSpot contact; writing the contact without it"
        );
        if !first {
            return;
        }
        // Only a customer key is named: the value of an email key is personal data.
        let whose = match customer_of_key(&group.key, &self.mapping) {
            Some(customer) => format!("Stripe customer {customer}"),
            None => "a Stripe payment's contact".to_owned(),
        };
        self.alerter
            .alert(Alert::new(
                AlertKind::EmailTaken,
                format!(
                    "The new email of {whose} already belongs to HubSpot contact {other}, so HubSpot contact {known}, which the sync writes for it, keeps its old email; everything else is still written to {known}. Fix: merge contact {other} into {known} in HubSpot, or set STRIPE2HUBSPOT_MERGE_CONTACTS=1 to let the sync merge them (HubSpot's merge cannot be undone)."
                ),
            ))
            .await;
    }

    /// Removes from groups written by a known id the email HubSpot refused for them (it
    /// belongs to another contact), so an unchanged contact is not written again.
    fn withhold_refused_emails(&self, groups: &mut [Group], marks: &HashMap<String, ContactMark>) {
        let refused = self
            .refused_emails
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        if refused.is_empty() {
            return;
        }
        for group in groups {
            let known = marks
                .get(&group.key)
                .is_some_and(|mark| !mark.contact_id.is_empty());
            if known && refused.get(&group.key) == group.properties.get("email") {
                group.properties.remove("email");
            }
        }
    }

    /// Forgets what this process remembers about the contacts of `keys` (erased customers).
    pub(crate) fn forget_contact_memory(&self, keys: &[String], contact_ids: &[String]) {
        let mut refused = self
            .refused_emails
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        for key in keys {
            refused.remove(key);
        }
        drop(refused);
        self.alerted_pairs
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .retain(|(known, other)| !contact_ids.contains(known) && !contact_ids.contains(other));
        let mut moves = self
            .unfinished_moves
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        for left in moves.values_mut() {
            left.retain(|key| !keys.contains(key));
        }
        moves.retain(|_, left| !left.is_empty());
    }
}

/// An update HubSpot refused again after the engine resolved its first refusal.
fn refused_again() -> Disposition {
    Disposition::Retry {
        delay: None,
        attempt: Attempt::Consume,
        reason:
            "HubSpot refused the contact update again after the engine resolved its first refusal"
                .into(),
    }
}
