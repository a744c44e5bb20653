//! The company pass: companies whose rollups or associations are behind the ledger are
//! adopted (found by domain, once) or upserted by `stripe_company_key`, then associated with
//! their contacts and deals. It runs after each batch, apart from the payment writes: a
//! company HubSpot refuses (a missing scope) pauses companies alone.
//!
//! Per page of up to 100 dirty companies: one search `domain IN [...]` for the companies
//! never written that carry a domain (skipped when there are none), one batch update by id
//! adopting the companies found (without `name`, which a user may have typed), one batch
//! upsert by `stripe_company_key` of the rest, and one default-association call per object
//! type (contacts, deals) with links to make. Every value is absolute, so a failed pass
//! leaves its work in the store and the next one writes it again harmlessly.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::Ordering;

use hubspot_crm::{ObjectType, SearchRequest};
use stripe2hubspot_map::{
    CompanyKey, CompanyKeySource, CompanyRollup, PropertySet, COMPANY_KEY_PROPERTY,
};
use stripe2hubspot_queue::{CompanyMember, CompanyWork, CompanyWritten};

use super::batch::{ContactOutcomes, How, WriteOutcomes};
use super::failure::CallFailure;
use super::plan::{self, Group, RowWrite};
use super::{Inner, Object, PauseReason};
use crate::alert::{Alert, AlertKind};

/// Each contact's company as its ledger rows say now (`None`: it has none), by contact key.
pub(crate) type ContactCompanies = HashMap<String, Option<CompanyKey>>;

/// Companies per page: HubSpot's batch maximum.
const PAGE: usize = 100;

/// Pages per pass, so one pass never keeps a worker from the queue for long.
const MAX_PAGES: usize = 10;

/// Rounds of "strip the properties HubSpot rejected and resend" per company call.
const MAX_STRIP_ROUNDS: usize = 4;

/// Search results per page (HubSpot's maximum is 200).
const SEARCH_LIMIT: u32 = 200;

/// Search pages read per lookup: a domain matching more companies than this is a portal
/// problem no page count fixes; the oldest found is adopted.
const MAX_SEARCH_PAGES: usize = 5;

/// The standard company property a company is found by when adopted.
const DOMAIN_PROPERTY: &str = "domain";

/// The standard company name: written when a company is created, never over a company that
/// exists (a user may have typed it).
const NAME_PROPERTY: &str = "name";

/// Each company group written, with the HubSpot id it was written to (`None`: not taken), or
/// the failure of a whole call.
type CompanyWrites = Result<Vec<(Group, Option<String>)>, CallFailure>;

/// What one page of the pass did.
#[derive(Debug, Default)]
struct PageOutcome {
    /// The page was full and every company of it written: more may wait.
    more: bool,
}

/// A store failure, for the pass's backoff (nothing is lost: the work stays in the store).
fn store_failure(what: &str, error: impl std::fmt::Display) -> CallFailure {
    CallFailure::Transient(format!("could not {what}: {error}"))
}

impl Inner {
    /// Whether the mapping makes companies at all.
    pub(crate) fn companies_on(&self) -> bool {
        self.mapping.company_key != CompanyKeySource::Disabled
    }

    /// Records where each contact written in this batch belongs now (`companies`, derived
    /// from the rows its state came from), with the deals written for it. A contact whose
    /// write failed is noted at its retry. A store failure is logged: the company catches up
    /// at the contact's next write.
    pub(crate) async fn note_companies(
        &self,
        writes: &[RowWrite],
        written: &WriteOutcomes,
        contacts: &ContactOutcomes,
        companies: ContactCompanies,
    ) {
        if companies.is_empty() {
            return;
        }
        let mut deals: HashMap<&str, Vec<String>> = HashMap::new();
        for (index, result) in written {
            if let (Some(write), Ok(deal_id)) = (writes.get(*index), result) {
                deals
                    .entry(write.contact_key.as_str())
                    .or_default()
                    .push(deal_id.clone());
            }
        }
        let mut members: Vec<CompanyMember> = companies
            .into_iter()
            .filter_map(|(contact_key, company)| {
                let Ok(contact_id) = contacts.get(&contact_key)? else {
                    return None;
                };
                let mut deal_ids = deals.remove(contact_key.as_str()).unwrap_or_default();
                deal_ids.sort();
                deal_ids.dedup();
                Some(CompanyMember {
                    contact_id: contact_id.clone(),
                    deal_ids,
                    contact_key,
                    company,
                })
            })
            .collect();
        if members.is_empty() {
            return;
        }
        members.sort_by(|a, b| a.contact_key.cmp(&b.contact_key));
        if let Err(error) = self.store.state.note_company_members(&members).await {
            tracing::warn!(%error, contacts = members.len(), "could not record the companies of the contacts written; they are noted again at their next write");
        }
    }

    /// Writes the dirty companies and their associations, a page at a time while pages come
    /// back full. Skipped unless this process leads, the sync is not paused and the pass is
    /// due (no backoff or scope pause pending).
    pub(crate) async fn sync_companies(&self) {
        if !self.companies_on()
            || !self.leading.load(Ordering::Acquire)
            || self.pause.borrow().is_some()
            || !self.companies_pass.due()
        {
            return;
        }
        let Some(_running) = self.companies_pass.try_run() else {
            return;
        };
        for _ in 0..MAX_PAGES {
            match self.companies_page().await {
                Ok(PageOutcome { more: true }) => continue,
                Ok(PageOutcome { more: false }) => break,
                Err(failure) => {
                    self.companies_failed(failure).await;
                    return;
                }
            }
        }
        if let Some(scopes) = self.companies_pass.succeeded() {
            let feature = self.companies_pass.feature;
            tracing::info!(?scopes, feature, "side feature written to HubSpot again");
            self.alerter
                .alert(Alert::new(
                    AlertKind::FeatureResumed,
                    format!(
                        "HubSpot {feature} are written again: the token now has the scopes [{}] they had paused for.",
                        scopes.join(", ")
                    ),
                ))
                .await;
        }
    }

    /// What a failed pass does: a missing scope pauses companies alone (one alert); a 401 or
    /// a 429 is the whole sync's (paused, held back); anything else backs the pass off.
    async fn companies_failed(&self, failure: CallFailure) {
        let base = self.settings.backoff.base;
        match failure {
            CallFailure::Pause(PauseReason::MissingScopes(scopes)) => {
                let scopes = if scopes.is_empty() {
                    hubspot_crm::scopes::COMPANY_SCOPES
                        .iter()
                        .map(|s| (*s).to_owned())
                        .collect()
                } else {
                    scopes
                };
                let named = scopes.join(", ");
                let feature = self.companies_pass.feature;
                if self.companies_pass.pause_for_scopes(scopes) {
                    tracing::warn!(scopes = %named, feature, "side feature paused: the token lacks scopes");
                    self.alerter
                        .alert(Alert::new(
                            AlertKind::FeaturePaused,
                            format!(
                                "HubSpot refused the writes of {feature}: the token lacks the scopes [{named}]. HubSpot {feature} wait (nothing is lost) while payments and contacts go on; grant the scopes to the service key (or private-app token) and {feature} resume by themselves."
                            ),
                        ))
                        .await;
                }
            }
            CallFailure::RateLimited { retry_after } => {
                let delay = match self.on_failure(&failure).await {
                    super::Disposition::Retry { delay, .. } => delay,
                    _ => retry_after,
                };
                self.companies_pass.failed(base, delay);
            }
            CallFailure::Pause(_) => {
                self.on_failure(&failure).await;
                self.companies_pass.failed(base, None);
            }
            CallFailure::Fenced(why) => {
                tracing::debug!(%why, "company pass stopped: not leading");
                self.companies_pass.failed(base, None);
            }
            CallFailure::Transient(message)
            | CallFailure::Permanent(message)
            | CallFailure::Rejected { message, .. }
            | CallFailure::RuleBroken { message, .. } => {
                tracing::warn!(%message, "company pass failed; its work stays in the store and is retried");
                self.companies_pass.failed(base, None);
            }
        }
    }

    /// One page of dirty companies through HubSpot.
    async fn companies_page(&self) -> Result<PageOutcome, CallFailure> {
        let work = self
            .store
            .state
            .dirty_companies(PAGE)
            .await
            .map_err(|e| store_failure("read the companies to write", e))?;
        if work.is_empty() {
            return Ok(PageOutcome::default());
        }
        self.bootstrap_companies().await?;
        let states = self.company_states(&work).await?;
        let found = self.find_by_domain(&work).await?;
        let dropped = self.dropped_snapshot(Object::Companies);
        // Index in `work` -> the HubSpot id it holds now.
        let mut ids: BTreeMap<usize, String> = BTreeMap::new();
        let mut adopt = Vec::new();
        let mut upsert = Vec::new();
        let mut skipped = 0usize;
        for (index, (company, state)) in work.iter().zip(&states).enumerate() {
            // A company every member left before it was ever written: nothing to create.
            if company.members.is_empty() && company.hubspot_id.is_none() {
                skipped += 1;
                continue;
            }
            let mut properties = plan::sendable_properties(state, &dropped);
            properties.insert(
                COMPANY_KEY_PROPERTY.to_owned(),
                company.key.value().to_owned(),
            );
            let adopted = company
                .hubspot_id
                .is_none()
                .then(|| company.key.domain().and_then(|d| found.get(d)))
                .flatten();
            if adopted.is_some() || company.hubspot_id.is_some() {
                properties.remove(NAME_PROPERTY);
            }
            let group = |id_property: &str, id_value: String| Group {
                key: company.key.value().to_owned(),
                id_property: id_property.to_owned(),
                id_value,
                properties: properties.clone(),
                members: vec![index],
                moved_members: Vec::new(),
            };
            if let (None, Some(id)) = (adopted, &company.hubspot_id) {
                // HubSpot confirmed exactly these values for this id in this process (a
                // dispute, a contact unchanged): only its associations may be due.
                let sent = confirmed_fingerprint(id, &properties);
                if self.companies_pass.holds(company.key.value(), &sent) {
                    ids.insert(index, id.clone());
                    continue;
                }
            }
            match adopted {
                Some(id) => adopt.push(group("hs_object_id", id.clone())),
                None => upsert.push(group(COMPANY_KEY_PROPERTY, company.key.value().to_owned())),
            }
        }
        if !adopt.is_empty() {
            tracing::info!(
                companies = adopt.len(),
                "adopting companies HubSpot already holds"
            );
        }
        for (how, groups) in [(How::Update, adopt), (How::Upsert, upsert)] {
            if groups.is_empty() {
                continue;
            }
            for (group, id) in self.write_companies(how, groups).await? {
                if let (Some(&index), Some(id)) = (group.members.first(), id) {
                    let sent = confirmed_fingerprint(&id, &group.properties);
                    self.companies_pass.confirm(&group.key, sent);
                    ids.insert(index, id);
                }
            }
        }
        let written = self.link_companies(&work, &ids).await?;
        // Links HubSpot did not make stay unlinked in the store; the pass backs off for them
        // rather than asking again at every idle poll.
        let unlinked: usize = written
            .iter()
            .filter_map(|w| {
                let company = work.iter().find(|c| c.key.value() == w.key)?;
                let due = company.unlinked_contacts.len() + company.unlinked_deals.len();
                Some(due.saturating_sub(w.linked_contacts.len() + w.linked_deals.len()))
            })
            .sum();
        let complete = written.len() + skipped == work.len() && unlinked == 0;
        if !written.is_empty() {
            self.store
                .state
                .mark_companies_written(&written)
                .await
                .map_err(|e| store_failure("record the companies written", e))?;
        }
        if !complete {
            return Err(CallFailure::Transient(format!(
                "HubSpot did not take {} of {} companies and {unlinked} of their associations; they are retried",
                work.len().saturating_sub(written.len() + skipped),
                work.len()
            )));
        }
        Ok(PageOutcome {
            more: work.len() >= PAGE && skipped < work.len(),
        })
    }

    /// Creates the custom company properties once per process. Without the unique
    /// `stripe_company_key` no company can be upserted: companies pause for the schema
    /// scope. Other properties that stay missing are no longer sent (and alerted).
    async fn bootstrap_companies(&self) -> Result<(), CallFailure> {
        if self.companies_pass.is_bootstrapped() {
            return Ok(());
        }
        let specs = self.mapping.company_custom_properties();
        let missing = self
            .ensure_properties(Object::Companies, &specs, true)
            .await?;
        if missing.iter().any(|name| name == COMPANY_KEY_PROPERTY) {
            // Missing because it exists without unique values (no scope helps), or because
            // the token may not create it.
            self.count_request();
            let exists = self
                .hubspot
                .properties(ObjectType::Companies)
                .get(COMPANY_KEY_PROPERTY)
                .await
                .is_ok();
            if exists {
                return Err(CallFailure::Permanent(format!(
                    "the company property {COMPANY_KEY_PROPERTY} exists in HubSpot without unique values, so no company can be upserted by it; delete it (the sync creates it again, unique) or turn on unique values"
                )));
            }
            return Err(CallFailure::Pause(PauseReason::MissingScopes(vec![
                hubspot_crm::scopes::COMPANY_SCHEMAS_WRITE.to_owned(),
            ])));
        }
        self.drop_properties(Object::Companies, &missing).await;
        self.companies_pass.set_bootstrapped(true);
        Ok(())
    }

    /// Each company's absolute properties, from its members' customer rows and ledger rows,
    /// aligned with `work`. One member's rows at a time: a company of thousands of customers
    /// is summed without holding all their rows.
    async fn company_states(&self, work: &[CompanyWork]) -> Result<Vec<PropertySet>, CallFailure> {
        let mut states = Vec::with_capacity(work.len());
        for company in work {
            let customer_ids: Vec<String> = company
                .members
                .iter()
                .filter_map(|key| plan::customer_of_key(key, &self.mapping))
                .map(str::to_owned)
                .collect();
            let customers = if customer_ids.is_empty() {
                HashMap::new()
            } else {
                self.store
                    .state
                    .customers(&customer_ids)
                    .await
                    .map_err(|e| store_failure("read the customers of the companies", e))?
            };
            let mut rollup = CompanyRollup::default();
            for key in &company.members {
                let rows =
                    self.store.state.contact_rows(key).await.map_err(|e| {
                        store_failure("read the ledger rows of a company's contact", e)
                    })?;
                let customer = plan::customer_of_key(key, &self.mapping)
                    .and_then(|id| customers.get(id))
                    .map(|entry| &entry.row);
                rollup.add(customer, &rows, &self.mapping);
            }
            states.push(rollup.properties(&company.key, &self.mapping));
        }
        Ok(states)
    }

    /// The HubSpot companies holding the domains of the companies of `work` never written
    /// (one search per page of results): by domain, the oldest one's id. A company that
    /// already carries another `stripe_company_key` belongs to another key and is not
    /// adopted. Search lags behind writes by seconds: a company made moments ago may be
    /// missed, and the upsert then makes one.
    async fn find_by_domain(
        &self,
        work: &[CompanyWork],
    ) -> Result<HashMap<String, String>, CallFailure> {
        let domains: BTreeSet<&str> = work
            .iter()
            .filter(|c| c.hubspot_id.is_none() && !c.members.is_empty())
            .filter_map(|c| c.key.domain())
            .collect();
        let mut found: HashMap<String, (u64, String)> = HashMap::new();
        if domains.is_empty() {
            return Ok(HashMap::new());
        }
        for request in domain_searches(&domains)? {
            let mut request = request;
            for _ in 0..MAX_SEARCH_PAGES {
                self.fence()?;
                self.count_request();
                let page = self
                    .hubspot
                    .companies()
                    .search(&request)
                    .await
                    .map_err(|e| CallFailure::classify(&e))?;
                for company in &page.results {
                    let Some(domain) = company.property(DOMAIN_PROPERTY) else {
                        continue;
                    };
                    let domain = domain.trim().trim_end_matches('.').to_lowercase();
                    if !domains.contains(domain.as_str()) {
                        continue;
                    }
                    let owner = company
                        .property(COMPANY_KEY_PROPERTY)
                        .map(str::trim)
                        .filter(|key| !key.is_empty());
                    if owner.is_some_and(|key| key != domain) {
                        continue;
                    }
                    let order = company.id.parse::<u64>().unwrap_or(u64::MAX);
                    let slot = found.entry(domain).or_insert((order, company.id.clone()));
                    if order < slot.0 {
                        *slot = (order, company.id.clone());
                    }
                }
                match page.next_after() {
                    Some(after) => request = request.after(after),
                    None => break,
                }
            }
        }
        Ok(found
            .into_iter()
            .map(|(domain, (_, id))| (domain, id))
            .collect())
    }

    /// Writes company `groups` by `how` (an adoption by id, or an upsert by
    /// `stripe_company_key`): each group with the HubSpot id it was written to, or `None`
    /// when HubSpot did not take it (it stays dirty). Properties HubSpot rejects are dropped
    /// (and alerted) and the rest resent; a 400 naming nothing is bisected so one bad
    /// company cannot hold back the others. A failure of the whole call is the pass's.
    fn write_companies<'a>(
        &'a self,
        how: How,
        groups: Vec<Group>,
    ) -> Pin<Box<dyn Future<Output = CompanyWrites> + Send + 'a>> {
        Box::pin(async move {
            let mut groups = groups;
            let mut out = Vec::with_capacity(groups.len());
            for _ in 0..MAX_STRIP_ROUNDS {
                if groups.is_empty() {
                    return Ok(out);
                }
                let failure = match self.write_call(Object::Companies, how, &groups).await {
                    Ok(reply) => {
                        self.succeeded();
                        let mut refused = 0usize;
                        for group in groups {
                            let id = reply.ids.get(&group.id_value).cloned();
                            refused += usize::from(id.is_none());
                            out.push((group, id));
                        }
                        if refused > 0 {
                            let messages: Vec<&str> =
                                reply.errors.iter().map(|(_, m, _)| m.as_str()).collect();
                            tracing::warn!(
                                companies = refused,
                                ?messages,
                                "HubSpot did not take some companies; retrying them next pass"
                            );
                        }
                        return Ok(out);
                    }
                    Err(failure) => failure,
                };
                match &failure {
                    CallFailure::Rejected { properties, .. }
                        if properties.iter().any(|p| p == COMPANY_KEY_PROPERTY) =>
                    {
                        // The key property was deleted after bootstrap: check it again.
                        self.companies_pass.set_bootstrapped(false);
                        return Err(failure);
                    }
                    CallFailure::Rejected { properties, .. }
                        if !properties.is_empty()
                            && !self
                                .drop_properties(Object::Companies, properties)
                                .await
                                .is_empty() =>
                    {
                        for group in &mut groups {
                            group
                                .properties
                                .retain(|name, _| !properties.contains(name));
                        }
                    }
                    CallFailure::Rejected { .. } | CallFailure::RuleBroken { .. }
                        if groups.len() > 1 =>
                    {
                        let right = groups.split_off(groups.len() / 2);
                        out.extend(self.write_companies(how, groups).await?);
                        out.extend(self.write_companies(how, right).await?);
                        return Ok(out);
                    }
                    CallFailure::Rejected { message, .. }
                    | CallFailure::RuleBroken { message, .. } => {
                        tracing::warn!(%message, "HubSpot refused a company; it is retried next pass");
                        out.extend(groups.into_iter().map(|g| (g, None)));
                        return Ok(out);
                    }
                    _ => return Err(failure),
                }
            }
            out.extend(groups.into_iter().map(|g| (g, None)));
            Ok(out)
        })
    }

    /// Associates each written company (`ids`: index in `work` to HubSpot id) with its
    /// unlinked contacts and deals, and returns what HubSpot now holds of each. A link to a
    /// contact or deal HubSpot no longer has counts as made (a new contact or deal id makes
    /// it unlinked again); a link refused for the company's id makes the store forget the id.
    async fn link_companies(
        &self,
        work: &[CompanyWork],
        ids: &BTreeMap<usize, String>,
    ) -> Result<Vec<CompanyWritten>, CallFailure> {
        let mut contact_links: Vec<(String, String)> = Vec::new();
        let mut deal_links: Vec<(String, String)> = Vec::new();
        for (&index, company_id) in ids {
            let Some(company) = work.get(index) else {
                continue;
            };
            contact_links.extend(
                company
                    .unlinked_contacts
                    .iter()
                    .map(|c| (c.clone(), company_id.clone())),
            );
            deal_links.extend(
                company
                    .unlinked_deals
                    .iter()
                    .map(|d| (d.clone(), company_id.clone())),
            );
        }
        let (contacts_done, bad_contact_companies) =
            self.link(&ObjectType::Contacts, &contact_links).await?;
        let (deals_done, bad_deal_companies) = self.link(&ObjectType::Deals, &deal_links).await?;
        let gone: BTreeSet<String> = bad_contact_companies
            .into_iter()
            .chain(bad_deal_companies)
            .collect();
        let mut written = Vec::with_capacity(ids.len());
        for (&index, company_id) in ids {
            let Some(company) = work.get(index) else {
                continue;
            };
            if gone.contains(company_id) {
                self.companies_pass.forget(company.key.value());
                self.store
                    .state
                    .forget_company(company.key.value())
                    .await
                    .map_err(|e| store_failure("forget a company HubSpot no longer has", e))?;
                continue;
            }
            let linked = |done: &BTreeSet<(String, String)>, of: &[String]| -> Vec<String> {
                of.iter()
                    .filter(|id| done.contains(&((*id).clone(), company_id.clone())))
                    .cloned()
                    .collect()
            };
            written.push(CompanyWritten {
                key: company.key.value().to_owned(),
                generation: company.generation,
                hubspot_id: company_id.clone(),
                linked_contacts: linked(&contacts_done, &company.unlinked_contacts),
                linked_deals: linked(&deals_done, &company.unlinked_deals),
            });
        }
        Ok(written)
    }

    /// Default associations from `from` objects to companies for `links` (object id,
    /// company id), 100 per call. Returns the links made (or moot: the object is gone) and the
    /// company ids HubSpot says it does not have.
    async fn link(
        &self,
        from: &ObjectType,
        links: &[(String, String)],
    ) -> Result<(BTreeSet<(String, String)>, BTreeSet<String>), CallFailure> {
        let mut done = BTreeSet::new();
        let mut gone_companies = BTreeSet::new();
        for chunk in links.chunks(PAGE) {
            let result = self
                .associate_call(from, &ObjectType::Companies, chunk)
                .await?;
            let confirmed: BTreeSet<(&str, &str)> = result
                .results
                .iter()
                .map(|a| (a.from.id.as_str(), a.to.id.as_str()))
                .collect();
            let mut missing: BTreeSet<&str> = BTreeSet::new();
            for error in &result.errors {
                if error.category.as_deref() == Some("OBJECT_NOT_FOUND") {
                    missing.extend(error.ids());
                }
            }
            for (object, company) in chunk {
                if missing.contains(company.as_str()) {
                    gone_companies.insert(company.clone());
                } else if confirmed.contains(&(object.as_str(), company.as_str()))
                    || missing.contains(object.as_str())
                {
                    done.insert((object.clone(), company.clone()));
                }
            }
            if !result.errors.is_empty() {
                tracing::warn!(
                    object = from.as_str(),
                    errors = result.errors.len(),
                    "HubSpot did not make some company associations"
                );
            }
        }
        Ok((done, gone_companies))
    }
}

/// What HubSpot holds of a company: its id and the properties sent to it, `name` aside (sent
/// only when a company is created, so a company made by the last pass is not written again).
fn confirmed_fingerprint(id: &str, properties: &BTreeMap<String, String>) -> String {
    let mut kept = properties.clone();
    kept.remove(NAME_PROPERTY);
    format!("{id}:{}", plan::sent_fingerprint(&kept))
}

/// The searches finding the companies of `domains`: `domain IN [...]`, split only when the
/// list would pass HubSpot's search body limit (3,000 characters).
/// <https://developers.hubspot.com/docs/api-reference/2026-03/crm/search-the-crm> (filters, `IN`
/// with `values`; limits).
fn domain_searches(domains: &BTreeSet<&str>) -> Result<Vec<SearchRequest>, CallFailure> {
    SearchRequest::new()
        .properties([DOMAIN_PROPERTY, COMPANY_KEY_PROPERTY])
        .limit(SEARCH_LIMIT)
        .split_in(DOMAIN_PROPERTY, domains)
        .map_err(|e| CallFailure::Permanent(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn props(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn the_confirmed_fingerprint_ignores_the_name_but_not_the_id_or_a_rollup() {
        let created = props(&[("name", "acme.com"), ("stripe_payment_count", "2")]);
        let later = props(&[("stripe_payment_count", "2")]);
        assert_eq!(
            confirmed_fingerprint("7", &created),
            confirmed_fingerprint("7", &later),
            "a company created with its name is not written again without it"
        );
        assert_ne!(
            confirmed_fingerprint("7", &later),
            confirmed_fingerprint("8", &later)
        );
        let more = props(&[("stripe_payment_count", "3")]);
        assert_ne!(
            confirmed_fingerprint("7", &later),
            confirmed_fingerprint("7", &more)
        );
    }

    #[test]
    fn one_search_finds_the_companies_of_a_hundred_domains() {
        let names: Vec<String> = (0..100).map(|n| format!("company{n}.com")).collect();
        let domains: BTreeSet<&str> = names.iter().map(String::as_str).collect();
        let searches = domain_searches(&domains).unwrap();
        assert_eq!(searches.len(), 1);
        let body = serde_json::to_value(&searches[0]).unwrap();
        let filter = &body["filterGroups"][0]["filters"][0];
        assert_eq!(filter["operator"], "IN");
        assert_eq!(filter["propertyName"], "domain");
        assert_eq!(filter["values"].as_array().map(Vec::len), Some(100));
    }
}
