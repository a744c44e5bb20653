//! The batch path: per batch of up to 100 payments, a contacts batch upsert (only the
//! contacts whose state HubSpot does not hold yet), a deals batch create with the
//! associations inline (payments HubSpot has never seen), and, where needed, a deals batch
//! upsert (deals HubSpot holds) and an association call (fallbacks and moves).

use std::collections::{BTreeSet, HashMap};
use std::future::Future;
use std::pin::Pin;

use hubspot_crm::UpdateRefusal;
use stripe2hubspot_map::{ContactKey, PropertySet};

use super::failure::{CallFailure, CURRENCY_PROPERTY};
use super::plan::{self, Group, RowWrite};
use super::{Disposition, Inner, Object, DEAL_ID_PROPERTY};
use crate::alert::{Alert, AlertKind};
use stripe2hubspot_map::AMOUNT_CURRENCY_PROPERTY;
use stripe2hubspot_queue::{Attempt, ContactMark};

/// Rounds of "strip the properties HubSpot rejected and resend" before giving up on a batch.
const MAX_STRIP_ROUNDS: usize = 4;

/// What a batch upsert or update returned for the inputs it accepted and those it rejected.
#[derive(Debug, Default)]
pub(crate) struct UpsertReply {
    /// id property value (for an update, the id sent) -> HubSpot object id (for an update of
    /// a merged-away id, the merged record's).
    pub ids: HashMap<String, String>,
    /// Per-input errors of a 207: the values they name, the message, and whether HubSpot
    /// judged the input itself invalid (so retrying cannot help).
    pub errors: Vec<(Vec<String>, String, bool)>,
    /// Updates HubSpot refused for a reason the caller resolves, by the id sent.
    pub refused: HashMap<String, UpdateRefusal>,
}

pub(crate) type Upserted = Vec<(Group, Result<String, Disposition>)>;

/// How a batch call writes its groups.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum How {
    /// Batch upsert by each group's id property and value.
    Upsert,
    /// Batch update by HubSpot id: each group's `id_value` is the object id.
    Update,
}

/// What [`Inner::write_batch`] did with each group.
#[derive(Debug, Default)]
pub(crate) struct Written {
    /// Groups written (with the HubSpot id) or failed (with what to do with their jobs).
    pub results: Upserted,
    /// Updates HubSpot refused because a unique value is taken or the id is gone.
    pub refused: Vec<(Group, UpdateRefusal)>,
}

impl Written {
    fn extend(&mut self, other: Written) {
        self.results.extend(other.results);
        self.refused.extend(other.refused);
    }
}

/// What happened to each row write of a batch: the deal id it was written to, or what to do
/// with its jobs.
pub(crate) type WriteOutcomes = Vec<(usize, Result<String, Disposition>)>;

/// What happened to each contact of a batch, by contact key: the HubSpot contact id it was
/// written to (or that already held its state), or what to do with its jobs.
pub(crate) type ContactOutcomes = HashMap<String, Result<String, Disposition>>;

impl Inner {
    /// Writes the rows: contacts (their absolute state from `contacts`, including the contacts
    /// a payment moved away from and those of `customers` whose own state changed), then moves
    /// deals that were written under an older key, then deals, and records each deal's id in
    /// the ledger before `write_order` is released, so a worker that re-keys one of these rows
    /// next finds its deal and moves it. Associations (the new ones made, those of contacts a
    /// payment left removed) need no ordering and run after the release. Besides each row
    /// write's outcome, returns each contact key's: the HubSpot contact id, or what to do.
    pub(crate) async fn sync_writes(
        &self,
        writes: &[RowWrite],
        customers: &[(String, ContactKey)],
        contacts: &HashMap<String, PropertySet>,
        marks: &HashMap<String, ContactMark>,
        forced: &BTreeSet<String>,
        write_order: tokio::sync::MutexGuard<'_, ()>,
    ) -> (WriteOutcomes, ContactOutcomes) {
        let mut out: WriteOutcomes = Vec::with_capacity(writes.len());
        let dropped = self.dropped_snapshot(Object::Contacts);
        let groups = plan::contact_groups(
            writes,
            0..writes.len(),
            0..writes.len(),
            customers,
            contacts,
            &dropped,
        );
        let grouped: BTreeSet<usize> = groups.iter().flat_map(|g| g.members.clone()).collect();
        let mut failed: BTreeSet<usize> = BTreeSet::new();
        for index in (0..writes.len()).filter(|i| !grouped.contains(i)) {
            failed.insert(index);
            out.push((
                index,
                Err(Disposition::Retry {
                    delay: None,
                    attempt: Attempt::Consume,
                    reason: "the contact's state could not be derived from the ledger".into(),
                }),
            ));
        }
        let mut contact_of_write: HashMap<usize, String> = HashMap::new();
        // Per write, the HubSpot ids of the contacts its payment moved away from.
        let mut left_contacts: HashMap<usize, Vec<String>> = HashMap::new();
        let written = self.write_contacts(groups, marks, forced).await;
        // Recorded while the deals are written (below), before the write order is released.
        let confirmed = written.confirmed;
        // Contact ids taken from a mark rather than a confirmed write, by id: their key.
        let from_mark = written.from_mark;
        let mut by_key: ContactOutcomes = HashMap::new();
        for (group, result) in written.results {
            by_key.insert(group.key.clone(), result.clone());
            match result {
                Ok(id) => {
                    contact_of_write.extend(group.members.iter().map(|&m| (m, id.clone())));
                    for &m in &group.moved_members {
                        left_contacts.entry(m).or_default().push(id.clone());
                    }
                }
                Err(disposition) => {
                    for &m in group.members.iter().chain(&group.moved_members) {
                        if failed.insert(m) {
                            out.push((m, Err(disposition.clone())));
                        }
                    }
                }
            }
        }
        let out = self
            .sync_deals(
                writes,
                out,
                failed,
                contact_of_write,
                left_contacts,
                confirmed,
                from_mark,
                write_order,
            )
            .await;
        (out, by_key)
    }

    /// The deals half of [`sync_writes`](Self::sync_writes), once the contacts are written.
    #[allow(clippy::too_many_arguments)]
    async fn sync_deals(
        &self,
        writes: &[RowWrite],
        mut out: WriteOutcomes,
        failed: BTreeSet<usize>,
        contact_of_write: HashMap<usize, String>,
        left_contacts: HashMap<usize, Vec<String>>,
        confirmed: Vec<ContactMark>,
        from_mark: HashMap<String, String>,
        write_order: tokio::sync::MutexGuard<'_, ()>,
    ) -> WriteOutcomes {
        let mut ready: Vec<usize> = contact_of_write
            .keys()
            .copied()
            .filter(|index| !failed.contains(index))
            .collect();
        ready.sort_unstable();
        let mut movable = Vec::with_capacity(ready.len());
        for index in ready {
            match self.move_deal(writes.get(index)).await {
                Ok(()) => movable.push(index),
                Err(disposition) => out.push((index, Err(disposition))),
            }
        }
        // Payments HubSpot has never seen are created with their association; the rest (and
        // creates HubSpot refused) are upserted.
        let (new, known): (Vec<usize>, Vec<usize>) = movable.into_iter().partition(|&index| {
            !self.settings.upsert_only && writes.get(index).is_some_and(RowWrite::is_new)
        });
        let dropped = self.dropped_snapshot(Object::Deals);
        let creates = plan::deal_groups(writes, new.into_iter(), DEAL_ID_PROPERTY, &dropped);
        let creates = self.strip_refused_currencies(creates);
        let (created, ()) = tokio::join!(
            self.create_deals(creates, &contact_of_write),
            self.remember_contacts(confirmed)
        );
        // (deal id, contact id, group, whether the association must still be made)
        let mut pairs: Vec<(String, String, Group, bool)> = Vec::new();
        let contact_of = |group: &Group| {
            let write = group.members.first().copied().unwrap_or_default();
            contact_of_write.get(&write).cloned().unwrap_or_default()
        };
        for (group, deal_id) in created.created {
            let contact_id = contact_of(&group);
            pairs.push((deal_id, contact_id, group, false));
        }
        for (group, disposition) in created.failed {
            settle_members(&mut out, &group, disposition);
        }
        let fallbacks: BTreeSet<String> = created
            .fallback
            .iter()
            .map(|g| g.id_value.clone())
            .collect();
        let mut upserts = plan::deal_groups(writes, known.into_iter(), DEAL_ID_PROPERTY, &dropped);
        upserts = self.strip_refused_currencies(upserts);
        upserts.extend(created.fallback);
        for (group, result) in self.upsert(Object::Deals, upserts).await {
            match result {
                Ok(deal_id) => {
                    let link = self.settings.upsert_only
                        || fallbacks.contains(&group.id_value)
                        || group
                            .members
                            .iter()
                            .filter_map(|&m| writes.get(m))
                            .any(RowWrite::needs_association);
                    let contact_id = contact_of(&group);
                    pairs.push((deal_id, contact_id, group, link));
                }
                Err(disposition) => settle_members(&mut out, &group, disposition),
            }
        }
        let recorded: Vec<(String, String)> = pairs
            .iter()
            .filter_map(|(deal_id, _, group, _)| {
                let write = writes.get(*group.members.first()?)?;
                Some((write.key.clone(), deal_id.clone()))
            })
            .collect();
        if let Err(disposition) = self.record_deals(&recorded).await {
            drop(write_order);
            for (_, _, group, _) in &pairs {
                settle_members(&mut out, group, disposition.clone());
            }
            return out;
        }
        drop(write_order);

        if pairs.is_empty() {
            return out;
        }
        let unlinks: Vec<(String, String)> = pairs
            .iter()
            .flat_map(|(deal, contact, group, _)| {
                group
                    .members
                    .iter()
                    .filter_map(|m| left_contacts.get(m))
                    .flatten()
                    .filter(move |old| *old != contact)
                    .map(move |old| (deal.clone(), old.clone()))
            })
            .collect();
        if !unlinks.is_empty() {
            if let Err(failure) = self.unassociate(&unlinks).await {
                let disposition = self.on_failure(&failure).await;
                for (_, _, group, _) in &pairs {
                    settle_members(&mut out, group, disposition.clone());
                }
                return out;
            }
        }
        let (linked, done): (Vec<_>, Vec<_>) = pairs.into_iter().partition(|(_, _, _, link)| *link);
        for (deal_id, _, group, _) in &done {
            out.extend(group.members.iter().map(|&m| (m, Ok(deal_id.clone()))));
        }
        if linked.is_empty() {
            return out;
        }
        let links: Vec<(String, String)> = linked
            .iter()
            .map(|(deal, contact, _, _)| (deal.clone(), contact.clone()))
            .collect();
        match self.associate(&links).await {
            Ok(failed) => {
                self.succeeded();
                // A link HubSpot refused to a contact id known only from a mark: the contact
                // may have been deleted or merged by a user; the retry upserts it.
                self.forget_contacts(
                    failed
                        .keys()
                        .filter_map(|&i| links.get(i))
                        .filter_map(|(_, contact)| from_mark.get(contact).cloned()),
                )
                .await;
                for (index, (deal_id, _, group, _)) in linked.iter().enumerate() {
                    let result = match failed.get(&index) {
                        Some(message) => Err(Disposition::Retry {
                            delay: None,
                            attempt: Attempt::Consume,
                            reason: format!("HubSpot did not associate the deal: {message}"),
                        }),
                        None => Ok(deal_id.clone()),
                    };
                    out.extend(group.members.iter().map(|&m| (m, result.clone())));
                }
            }
            Err(failure) => {
                if matches!(
                    failure,
                    CallFailure::Rejected { .. } | CallFailure::Permanent(_)
                ) {
                    self.forget_contacts(
                        links
                            .iter()
                            .filter_map(|(_, contact)| from_mark.get(contact).cloned()),
                    )
                    .await;
                }
                let disposition = self.on_failure(&failure).await;
                for (_, _, group, _) in &linked {
                    settle_members(&mut out, group, disposition.clone());
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
            Object::Companies => dropped.companies.clone(),
            other => dropped
                .others
                .get(other.name())
                .cloned()
                .unwrap_or_default(),
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
                Object::Companies => &mut dropped.companies,
                other => dropped.others.entry(other.name()).or_default(),
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

    /// Removes `deal_currency_code` from deals in a currency the portal refused; the amount
    /// stays readable in `stripe_amount_currency`.
    pub(crate) fn strip_refused_currencies(&self, mut groups: Vec<Group>) -> Vec<Group> {
        let dropped = self.dropped.lock().unwrap_or_else(|p| p.into_inner());
        if dropped.currencies.is_empty() {
            return groups;
        }
        for group in &mut groups {
            let refused = group
                .properties
                .get(CURRENCY_PROPERTY)
                .is_some_and(|code| dropped.currencies.contains(&code.to_ascii_uppercase()));
            if refused {
                group.properties.remove(CURRENCY_PROPERTY);
            }
        }
        groups
    }

    /// Records currencies HubSpot refused and alerts once for each.
    async fn refuse_currencies(&self, currencies: &[String]) {
        let newly: Vec<String> = {
            let mut dropped = self.dropped.lock().unwrap_or_else(|p| p.into_inner());
            currencies
                .iter()
                .filter(|c| dropped.currencies.insert((*c).clone()))
                .cloned()
                .collect()
        };
        for currency in newly {
            tracing::warn!(%currency, "currency not enabled in the HubSpot portal");
            self.alerter
                .alert(Alert::new(
                    AlertKind::CurrencyNotEnabled,
                    format!(
                        "HubSpot refused the currency {currency} for {CURRENCY_PROPERTY}: it is not enabled in this portal. Deals in {currency} are written without a currency code, so HubSpot shows their amount in the portal's company currency; the real amount is kept in {AMOUNT_CURRENCY_PROPERTY} (e.g. \"5000 {currency}\"). Add {currency} under Settings > Account defaults > Currencies, then replay or wait for the next event of those payments."
                    ),
                ))
                .await;
        }
    }

    /// Alerts that a write broke a validation rule of the portal.
    async fn alert_rule(&self, object: Object, rules: &[String], ids: &[String]) {
        // Contact ids are emails: log only how many; payment ids are not personal.
        if object == Object::Deals {
            tracing::error!(object = object.name(), ?rules, payments = ?ids, "HubSpot validation rule broken");
        } else {
            tracing::error!(
                object = object.name(),
                ?rules,
                contacts = ids.len(),
                "HubSpot validation rule broken"
            );
        }
        self.alerter
            .alert(Alert::new(
                AlertKind::RuleViolated,
                format!(
                    "HubSpot refused {} writes that break a validation rule of the portal ({}); the {} [{}] were dead-lettered and the rest synced. Change the rule or the mapping so these writes pass, then replay them.",
                    object.name(),
                    rules.join("; "),
                    if object == Object::Deals { "payments" } else { "contacts" },
                    // Contact ids are emails: never put them in an alert.
                    if object == Object::Deals { ids.join(", ") } else { format!("{} contacts", ids.len()) },
                ),
            ))
            .await;
    }

    fn is_core(&self, object: Object, name: &str) -> bool {
        object == Object::Contacts && matches!(name, "email" | "firstname" | "lastname")
            || object == Object::Deals && name == DEAL_ID_PROPERTY
            || object == Object::Companies && name == stripe2hubspot_map::COMPANY_KEY_PROPERTY
    }

    /// Upserts `groups`, handling every 400 by stripping properties, dropping the inputs
    /// HubSpot named, or bisecting until the bad input is alone.
    pub(crate) async fn upsert(&self, object: Object, groups: Vec<Group>) -> Upserted {
        self.write_batch(object, How::Upsert, groups).await.results
    }

    /// Writes `groups` by `how`, handling every 400 by stripping properties, dropping the
    /// inputs HubSpot named, or bisecting until the bad input is alone. Inputs HubSpot refused
    /// as an update ([`Written::refused`]) are handed back for the caller to resolve.
    pub(crate) fn write_batch<'a>(
        &'a self,
        object: Object,
        how: How,
        groups: Vec<Group>,
    ) -> Pin<Box<dyn Future<Output = Written> + Send + 'a>> {
        Box::pin(async move {
            let mut groups = groups;
            let mut out = Written::default();
            for _ in 0..MAX_STRIP_ROUNDS {
                if groups.is_empty() {
                    return out;
                }
                let failure = match self.write_call(object, how, &groups).await {
                    Ok(mut reply) => {
                        self.succeeded();
                        for group in groups {
                            match reply.refused.remove(&group.id_value) {
                                Some(refusal) => out.refused.push((group, refusal)),
                                None => {
                                    let result = reply_for(&reply, &group);
                                    out.results.push((group, result));
                                }
                            }
                        }
                        return out;
                    }
                    Err(failure) => failure,
                };
                if let CallFailure::RuleBroken {
                    rules,
                    ids,
                    message,
                } = &failure
                {
                    let (bad, good): (Vec<Group>, Vec<Group>) =
                        groups.into_iter().partition(|g| ids.contains(&g.id_value));
                    if bad.is_empty() && good.len() > 1 {
                        // Nothing named: bisect until the input breaking the rule is alone.
                        let mut left = good;
                        let right = left.split_off(left.len() / 2);
                        out.extend(self.write_batch(object, how, left).await);
                        out.extend(self.write_batch(object, how, right).await);
                        return out;
                    }
                    let (bad, good) = if bad.is_empty() {
                        (good, Vec::new())
                    } else {
                        (bad, good)
                    };
                    let named: Vec<String> = bad.iter().map(|g| g.id_value.clone()).collect();
                    self.alert_rule(object, rules, &named).await;
                    out.results.extend(
                        bad.into_iter()
                            .map(|g| (g, Err(Disposition::DeadLetter(message.clone())))),
                    );
                    groups = good;
                    continue;
                }
                let CallFailure::Rejected {
                    properties,
                    values,
                    currencies,
                    message,
                } = &failure
                else {
                    let disposition = self.on_failure(&failure).await;
                    out.results
                        .extend(groups.into_iter().map(|g| (g, Err(disposition.clone()))));
                    return out;
                };
                let mut properties = properties.clone();
                if object == Object::Deals && !currencies.is_empty() {
                    self.refuse_currencies(currencies).await;
                    groups = self.strip_refused_currencies(groups);
                    properties.retain(|p| p != CURRENCY_PROPERTY);
                    if properties.is_empty() {
                        continue;
                    }
                }
                let properties = &properties;
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
                    out.results.extend(
                        bad.into_iter()
                            .map(|g| (g, Err(Disposition::DeadLetter(message.clone())))),
                    );
                    groups = good;
                    continue;
                }
                groups = good;
                if groups.len() == 1 {
                    out.results.extend(
                        groups
                            .into_iter()
                            .map(|g| (g, Err(Disposition::DeadLetter(message.clone())))),
                    );
                    return out;
                }
                let right = groups.split_off(groups.len() / 2);
                out.extend(self.write_batch(object, how, groups).await);
                out.extend(self.write_batch(object, how, right).await);
                return out;
            }
            out.results.extend(groups.into_iter().map(|g| {
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

fn settle_members(out: &mut WriteOutcomes, group: &Group, disposition: Disposition) {
    out.extend(
        group
            .members
            .iter()
            .map(|&member| (member, Err(disposition.clone()))),
    );
}
