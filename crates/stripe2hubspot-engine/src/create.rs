//! Creating the deals of payments HubSpot has never seen, each with its deal-to-contact
//! association inline: one request for a batch, where an upsert needs a second one to
//! associate.
//!
//! Creation stays idempotent because `stripe_payment_id` is a unique-value property: HubSpot
//! refuses a second deal with the same value. A create whose answer was lost (a timeout, a 5xx
//! after HubSpot committed, a kill before the deal id was recorded) or a deal made by hand is
//! found by that refusal, by value and never by position
//! ([`batch_create_unique`](hubspot_crm::Objects::batch_create_unique)), and written by upsert
//! and associated instead, so no payment ever gets two deals.

use std::collections::HashMap;

use hubspot_crm::{AssociationType, ObjectInput};

use super::failure::CallFailure;
use super::plan::Group;
use super::settle::Disposition;
use super::{Inner, DEAL_ID_PROPERTY};

/// What a batch create did with each deal group.
#[derive(Debug, Default)]
pub(crate) struct Created {
    /// Groups created, with their new deal id; their association was made with them.
    pub created: Vec<(Group, String)>,
    /// Groups to write by upsert and associate instead: a deal already holds their payment
    /// id, or HubSpot refused the create for a reason the upsert path knows how to handle
    /// (a property to strip, a value to dead-letter, a batch to bisect).
    pub fallback: Vec<Group>,
    /// Groups whose create failed for a reason that is not theirs (5xx, 429, timeout,
    /// pause): retried as a whole.
    pub failed: Vec<(Group, Disposition)>,
}

impl Inner {
    /// Creates `groups` (deals by payment id) associated with the contact of their first
    /// member, `contact_of_write[member]`.
    pub(crate) async fn create_deals(
        &self,
        groups: Vec<Group>,
        contact_of_write: &HashMap<usize, String>,
    ) -> Created {
        let mut out = Created::default();
        let mut inputs = Vec::with_capacity(groups.len());
        let mut sent = Vec::with_capacity(groups.len());
        for group in groups {
            let contact = group
                .members
                .first()
                .and_then(|member| contact_of_write.get(member));
            match contact {
                Some(contact) => {
                    inputs.push(
                        ObjectInput::new(group.properties.clone())
                            .associate(contact.clone(), AssociationType::DEAL_TO_CONTACT),
                    );
                    sent.push(group);
                }
                None => out.fallback.push(group),
            }
        }
        if sent.is_empty() {
            return out;
        }
        if let Err(failure) = self.fence() {
            let disposition = self.on_failure(&failure).await;
            out.failed
                .extend(sent.into_iter().map(|g| (g, disposition.clone())));
            return out;
        }
        self.count_request();
        let answer = self
            .hubspot
            .deals()
            .batch_create_unique(DEAL_ID_PROPERTY, &inputs)
            .await;
        match answer {
            Ok(mut result) => {
                self.succeeded();
                if !result.conflicts.is_empty() {
                    let payments: Vec<&String> = result.conflicts.keys().collect();
                    tracing::info!(
                        ?payments,
                        "HubSpot already holds deals for these payments; writing them by upsert"
                    );
                }
                for group in sent {
                    match result.created.remove(&group.id_value) {
                        Some(deal) => out.created.push((group, deal.id)),
                        None => out.fallback.push(group),
                    }
                }
            }
            Err(error) => match CallFailure::classify(&error) {
                CallFailure::Rejected { .. } | CallFailure::RuleBroken { .. } => {
                    out.fallback.extend(sent);
                }
                _ if error.unique_conflict().is_some() => out.fallback.extend(sent),
                failure => {
                    let disposition = self.on_failure(&failure).await;
                    out.failed
                        .extend(sent.into_iter().map(|g| (g, disposition.clone())));
                }
            },
        }
        out
    }
}
