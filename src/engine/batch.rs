//! The batch path: three HubSpot calls per batch of up to 100 payments.

use std::collections::{BTreeSet, HashMap};
use std::future::Future;
use std::pin::Pin;

use super::failure::CallFailure;
use super::plan::{self, Group, Item};
use super::{Disposition, Inner, Object, DEAL_ID_PROPERTY};
use crate::alert::{Alert, AlertKind};
use crate::queue::Attempt;

/// Rounds of "strip the properties HubSpot rejected and resend" before giving up on a batch.
const MAX_STRIP_ROUNDS: usize = 4;

/// What a batch upsert returned for the inputs it accepted and those it rejected.
#[derive(Debug, Default)]
pub(crate) struct UpsertReply {
    /// id property value -> HubSpot object id.
    pub ids: HashMap<String, String>,
    /// Per-input errors of a 207: the values they name, the message, and whether HubSpot
    /// judged the input itself invalid (so retrying cannot help).
    pub errors: Vec<(Vec<String>, String, bool)>,
}

type Upserted = Vec<(Group, Result<String, Disposition>)>;

impl Inner {
    /// Syncs the batch's mapped items; returns a disposition per job index. `write_order` is
    /// released once the contacts are written: deals and associations need no ordering.
    pub(crate) async fn sync_batch(
        &self,
        items: &[Item],
        write_order: tokio::sync::MutexGuard<'_, ()>,
    ) -> Vec<(usize, Disposition)> {
        let mut out = Vec::with_capacity(items.len());
        let dropped = self.dropped_snapshot(Object::Contacts);
        let contacts = plan::contact_groups(items, 0..items.len(), &dropped);
        let mut contact_of_item: HashMap<usize, String> = HashMap::new();
        for (group, result) in self.upsert(Object::Contacts, contacts).await {
            match result {
                Ok(id) => contact_of_item.extend(group.members.iter().map(|&m| (m, id.clone()))),
                Err(disposition) => settle_members(&mut out, items, &group, disposition),
            }
        }
        drop(write_order);

        let dropped = self.dropped_snapshot(Object::Deals);
        let mut ready: Vec<usize> = contact_of_item.keys().copied().collect();
        ready.sort_unstable();
        let deals = plan::deal_groups(items, ready.into_iter(), DEAL_ID_PROPERTY, &dropped);
        let mut pairs: Vec<(String, String, Group)> = Vec::new();
        for (group, result) in self.upsert(Object::Deals, deals).await {
            match result {
                Ok(deal_id) => {
                    // Members of one deal are one payment, hence one contact; the newest
                    // event's contact is the one the deal belongs to.
                    let newest = group.members.last().copied().unwrap_or_default();
                    let contact_id = contact_of_item.get(&newest).cloned().unwrap_or_default();
                    pairs.push((deal_id, contact_id, group));
                }
                Err(disposition) => settle_members(&mut out, items, &group, disposition),
            }
        }

        if pairs.is_empty() {
            return out;
        }
        let links: Vec<(String, String)> = pairs
            .iter()
            .map(|(deal, contact, _)| (deal.clone(), contact.clone()))
            .collect();
        match self.associate(&links).await {
            Ok(failed) => {
                self.succeeded();
                for (index, (_, _, group)) in pairs.iter().enumerate() {
                    let disposition = match failed.get(&index) {
                        Some(message) => Disposition::Retry {
                            delay: None,
                            attempt: Attempt::Consume,
                            reason: format!("HubSpot did not associate the deal: {message}"),
                        },
                        None => Disposition::Synced,
                    };
                    settle_members(&mut out, items, group, disposition);
                }
            }
            Err(failure) => {
                let disposition = self.on_failure(&failure).await;
                for (_, _, group) in &pairs {
                    settle_members(&mut out, items, group, disposition.clone());
                }
            }
        }
        out
    }

    pub(crate) fn dropped_snapshot(&self, object: Object) -> BTreeSet<String> {
        let dropped = self.dropped.lock().unwrap_or_else(|p| p.into_inner());
        match object {
            Object::Contacts => dropped.contacts.clone(),
            Object::Deals => dropped.deals.clone(),
        }
    }

    /// Records properties HubSpot rejected so they are not sent again, and alerts once.
    /// Returns the names that were newly dropped (core properties are never dropped).
    pub(crate) async fn drop_properties(&self, object: Object, names: &[String]) -> Vec<String> {
        let newly: Vec<String> = {
            let mut dropped = self.dropped.lock().unwrap_or_else(|p| p.into_inner());
            let set = match object {
                Object::Contacts => &mut dropped.contacts,
                Object::Deals => &mut dropped.deals,
            };
            names
                .iter()
                .filter(|name| !self.is_core(object, name))
                .filter(|name| set.insert((*name).clone()))
                .cloned()
                .collect()
        };
        if !newly.is_empty() {
            tracing::warn!(object = object.name(), properties = ?newly, "no longer sending these properties");
            self.alerter
                .alert(Alert::new(
                    AlertKind::PropertiesDropped,
                    format!(
                        "HubSpot rejected the {} properties [{}] (unknown property or invalid option); they are no longer sent and the remaining fields are synced. Create or fix them in HubSpot, then restart to send them again.",
                        object.name(),
                        newly.join(", ")
                    ),
                ))
                .await;
        }
        newly
    }

    fn is_core(&self, object: Object, name: &str) -> bool {
        object == Object::Contacts && matches!(name, "email" | "firstname" | "lastname")
            || object == Object::Deals
                && name == DEAL_ID_PROPERTY
                && !self.per_event.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Upserts `groups`, handling every 400 by stripping properties, dropping the inputs
    /// HubSpot named, or bisecting until the bad input is alone.
    fn upsert<'a>(
        &'a self,
        object: Object,
        groups: Vec<Group>,
    ) -> Pin<Box<dyn Future<Output = Upserted> + Send + 'a>> {
        Box::pin(async move {
            let mut groups = groups;
            let mut out: Upserted = Vec::with_capacity(groups.len());
            for _ in 0..MAX_STRIP_ROUNDS {
                if groups.is_empty() {
                    return out;
                }
                let failure = match self.upsert_call(object, &groups).await {
                    Ok(reply) => {
                        self.succeeded();
                        out.extend(groups.into_iter().map(|group| {
                            let result = reply_for(&reply, &group);
                            (group, result)
                        }));
                        return out;
                    }
                    Err(failure) => failure,
                };
                let CallFailure::Rejected {
                    properties,
                    values,
                    message,
                } = &failure
                else {
                    let disposition = self.on_failure(&failure).await;
                    out.extend(groups.into_iter().map(|g| (g, Err(disposition.clone()))));
                    return out;
                };
                if !properties.is_empty()
                    && !self.drop_properties(object, properties).await.is_empty()
                {
                    for group in &mut groups {
                        group
                            .properties
                            .retain(|name, _| !properties.contains(name));
                    }
                    continue;
                }
                let (bad, good): (Vec<Group>, Vec<Group>) = groups.into_iter().partition(|g| {
                    values
                        .iter()
                        .any(|v| g.id_value == *v || g.properties.values().any(|p| p == v))
                });
                if !bad.is_empty() {
                    out.extend(
                        bad.into_iter()
                            .map(|g| (g, Err(Disposition::DeadLetter(message.clone())))),
                    );
                    groups = good;
                    continue;
                }
                groups = good;
                if groups.len() == 1 {
                    out.extend(
                        groups
                            .into_iter()
                            .map(|g| (g, Err(Disposition::DeadLetter(message.clone())))),
                    );
                    return out;
                }
                let right = groups.split_off(groups.len() / 2);
                out.extend(self.upsert(object, groups).await);
                out.extend(self.upsert(object, right).await);
                return out;
            }
            out.extend(groups.into_iter().map(|g| {
                (
                    g,
                    Err(Disposition::Retry {
                        delay: None,
                        attempt: Attempt::Consume,
                        reason: "HubSpot kept rejecting properties of this batch".into(),
                    }),
                )
            }));
            out
        })
    }
}

fn reply_for(reply: &UpsertReply, group: &Group) -> Result<String, Disposition> {
    if let Some(id) = reply.ids.get(&group.id_value) {
        return Ok(id.clone());
    }
    let named = reply
        .errors
        .iter()
        .find(|(values, _, _)| values.contains(&group.id_value));
    Err(match named {
        Some((_, message, true)) => Disposition::DeadLetter(message.clone()),
        Some((_, message, false)) => Disposition::Retry {
            delay: None,
            attempt: Attempt::Consume,
            reason: message.clone(),
        },
        None => Disposition::Retry {
            delay: None,
            attempt: Attempt::Consume,
            reason: "HubSpot's batch answer did not include this input".into(),
        },
    })
}

fn settle_members(
    out: &mut Vec<(usize, Disposition)>,
    items: &[Item],
    group: &Group,
    disposition: Disposition,
) {
    out.extend(
        group
            .members
            .iter()
            .map(|&member| (items[member].job, disposition.clone())),
    );
}
