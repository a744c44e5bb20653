//! The line-item pass (opt-in): each written deal whose line items are behind gets its
//! products upserted by `stripe_product_id` and its line items upserted by
//! `stripe_line_item_id`, associated with the deal. A refund or a dispute changes the deal,
//! never its line items: they record what was sold.
//!
//! Noting: after the row writes of a batch, each row written whose payment has line items
//! (an invoice's lines, or a Checkout Session whose items are read from Stripe) is noted in
//! the store with a fingerprint of its items; the store raises the deal's generation only when
//! the deal or the fingerprint changed, so a redelivery or a refund notes nothing new.
//!
//! The pass: one page of pending deals; products first (one batch upsert), then the line
//! items pointing at them by `hs_product_id` (one batch upsert), then the default
//! line item-to-deal associations (one batch), then the page is marked written. Every value
//! is keyed by a Stripe id, so a pass repeated after a crash writes the same objects again,
//! never a second one. A page of up to 100 deals costs 3 requests per 100 line items (and
//! one more per 100 products beyond the first 100). An invoice whose event carried only its
//! first ten lines, and a Checkout Session (whose event carries none), are read from Stripe
//! when the engine has a Stripe client; without one a session's deal gets none and an
//! invoice's the lines its event carried (logged once). Properties HubSpot says it lacks
//! are dropped (alerted once) and the batch resent. A 403 pauses line items alone (one
//! [`FeaturePaused`](crate::alert::AlertKind::FeaturePaused) alert naming the scopes; a
//! probe every probe interval; [`FeatureResumed`](crate::alert::AlertKind::FeatureResumed)
//! once written); any other failure leaves the work in the store and backs the pass off.
//!
//! HubSpot's reference: a line item based on a product of the library names it by
//! `hs_product_id`, and belongs to one single parent object (here its deal)
//! (<https://developers.hubspot.com/docs/api-reference/latest/crm/objects/line-items/guide>);
//! products are upserted by a custom unique property like any object
//! (<https://developers.hubspot.com/docs/api-reference/latest/crm/objects/products/guide>);
//! the default line item-to-deal association type is 20
//! (<https://developers.hubspot.com/docs/reference/api/crm/associations/association-details>).

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::atomic::{AtomicBool, Ordering};

use hubspot_crm::{ObjectType, SearchRequest};
use stripe2hubspot_map::{
    line_item_properties, product_properties, LedgerRow, LineItemFacts, PropertySet,
    LINE_ITEM_KEY_PROPERTY, PRODUCT_KEY_PROPERTY,
};
use stripe2hubspot_queue::{LedgerChange, LineItemWork};

use super::batch::WriteOutcomes;
use super::failure::CallFailure;
use super::plan::{Group, RowWrite};
use super::settle::Disposition;
use super::{Inner, Object, PauseReason};
use crate::alert::{Alert, AlertKind};

/// The most deals one pass writes: one page of the store's pending set.
const PAGE: usize = 100;

/// The most inputs HubSpot takes in one batch call.
const BATCH_LIMIT: usize = 100;

/// The line-item pass's own state beside its [`SidePass`](super::side_pass::SidePass)
/// schedule.
#[derive(Debug, Default)]
pub(crate) struct LineItemsState {
    /// Set once the line-item and product properties exist (checked once per process, after
    /// the feature's scopes are known to be granted). Holds the names HubSpot cannot take.
    ready: tokio::sync::OnceCell<Unavailable>,
    /// A Checkout payment without a Stripe client has been logged (once per process).
    no_stripe_logged: AtomicBool,
    /// An invoice cut short without a Stripe client has been logged (once per process).
    cut_short_logged: AtomicBool,
}

/// Custom properties HubSpot does not have and would not let us create: never sent.
#[derive(Debug, Default, Clone)]
struct Unavailable {
    line_items: BTreeSet<String>,
    products: BTreeSet<String>,
}

/// Why one pass stopped short.
enum PassFailure {
    /// HubSpot refused the call (classified like every other call).
    Call(CallFailure),
    /// A key property is missing and may not be created: nothing can be upserted by it.
    MissingKey(String),
    /// The store or Stripe failed; the work stays pending.
    Other(String),
}

impl From<CallFailure> for PassFailure {
    fn from(failure: CallFailure) -> Self {
        PassFailure::Call(failure)
    }
}

/// One deal's line items as read for a pass.
struct DealItems {
    work: LineItemWork,
    items: Vec<LineItemFacts>,
}

impl Inner {
    /// After the row writes of a batch: notes the line items of each row written (when the
    /// feature is on), so the pass writes them. A row whose noting fails is turned into a
    /// retry of its jobs: its row stays unwritten, so the retry writes the deal (by the
    /// recorded deal id) and notes it again; without that its line items would be lost.
    pub(crate) async fn note_written_line_items(
        &self,
        changes: &[LedgerChange],
        writes: &[RowWrite],
        mut written: WriteOutcomes,
    ) -> WriteOutcomes {
        if !self.mapping.line_items {
            return written;
        }
        let rows: HashMap<&str, &LedgerRow> = changes
            .iter()
            .map(|c| (c.entry.key.as_str(), &c.entry.row))
            .collect();
        let mut notes: Vec<(String, String, String)> = Vec::new();
        let mut noted: Vec<usize> = Vec::new();
        for (position, (index, result)) in written.iter().enumerate() {
            let (Ok(deal_id), Some(write)) = (result, writes.get(*index)) else {
                continue;
            };
            let Some(row) = rows.get(write.key.as_str()) else {
                continue;
            };
            let Some(fingerprint) = self.line_items_fingerprint_of(row) else {
                continue;
            };
            notes.push((write.key.clone(), deal_id.clone(), fingerprint));
            noted.push(position);
        }
        if notes.is_empty() {
            return written;
        }
        if let Err(error) = self.store.state.note_line_items(&notes).await {
            tracing::warn!(%error, deals = notes.len(), "could not note the line items of written deals; their payments are written again");
            let retry = Disposition::Retry {
                delay: None,
                attempt: stripe2hubspot_queue::Attempt::Consume,
                reason: format!("could not note the deal's line items: {error}"),
            };
            for position in noted {
                if let Some((_, result)) = written.get_mut(position) {
                    *result = Err(retry.clone());
                }
            }
        }
        written
    }

    /// Before the row writes of a batch: notes the line items of each touched row that is not
    /// written now but whose deal HubSpot holds (a redelivery, or a backfill of a payment
    /// written before line items were turned on). The store raises nothing when the deal
    /// and the fingerprint are those noted already, so this costs one store call per batch
    /// and writes nothing twice. If the store fails, the jobs of those rows are retried
    /// instead of done, so their line items are not lost.
    pub(crate) async fn note_held_line_items(
        &self,
        changes: &[LedgerChange],
        jobs_of: &[Vec<usize>],
        writes: &[RowWrite],
        out: &mut [(usize, Disposition)],
    ) {
        if !self.mapping.line_items {
            return;
        }
        let written_now: BTreeSet<&str> = writes.iter().map(|w| w.key.as_str()).collect();
        let mut notes: Vec<(String, String, String)> = Vec::new();
        let mut jobs: BTreeSet<usize> = BTreeSet::new();
        for (change, change_jobs) in changes.iter().zip(jobs_of) {
            let entry = &change.entry;
            if entry.is_unwritten() || written_now.contains(entry.key.as_str()) {
                continue;
            }
            let Some(deal) = &entry.deal else {
                continue;
            };
            let Some(fingerprint) = self.line_items_fingerprint_of(&entry.row) else {
                continue;
            };
            notes.push((entry.key.clone(), deal.deal_id.clone(), fingerprint));
            jobs.extend(change_jobs.iter().copied());
        }
        if notes.is_empty() {
            return;
        }
        if let Err(error) = self.store.state.note_line_items(&notes).await {
            tracing::warn!(%error, deals = notes.len(), "could not note the line items of deals HubSpot holds; their events are retried");
            let retry = Disposition::Retry {
                delay: None,
                attempt: stripe2hubspot_queue::Attempt::Consume,
                reason: format!("could not note the deal's line items: {error}"),
            };
            for (job, disposition) in out.iter_mut() {
                if jobs.contains(job) {
                    *disposition = retry.clone();
                }
            }
        }
    }

    /// The fingerprint to note for `row`'s line items ([`LedgerRow::line_items_fingerprint`]:
    /// of its own items, an invoice's, else of its Checkout Session), or `None` when the
    /// payment has none to write: no items, or a Checkout Session and no Stripe client to
    /// read its items with (logged once).
    fn line_items_fingerprint_of(&self, row: &LedgerRow) -> Option<String> {
        let fingerprint = row.line_items_fingerprint()?;
        if row.line_items().is_empty() && self.stripe.is_none() {
            if row.line_items_cut_short() {
                // The lines its event carried were none we keep, and the rest cannot be read.
                if !self
                    .line_items
                    .cut_short_logged
                    .swap(true, Ordering::Relaxed)
                {
                    tracing::warn!("an invoice with more lines than its event carried gets only those: the engine has no Stripe client to read the rest (set STRIPE_SECRET_KEY)");
                }
                return None;
            }
            if !self
                .line_items
                .no_stripe_logged
                .swap(true, Ordering::Relaxed)
            {
                tracing::warn!("a Checkout payment's line items are not written: the engine has no Stripe client to read them (set STRIPE_SECRET_KEY)");
            }
            return None;
        }
        Some(fingerprint)
    }

    /// Writes the line items of up to one page of pending deals, when the feature is on,
    /// this process leads, the sync is not paused and the pass is due (no backoff or scope
    /// probe wait pending).
    pub(crate) async fn sync_line_items(&self) {
        if !self.mapping.line_items
            || !self.leading.load(Ordering::Acquire)
            || self.pause.borrow().is_some()
            || !self.line_items_pass.due()
        {
            return;
        }
        // One worker runs the pass at a time: two would write the same page twice.
        let Some(_running) = self.line_items_pass.try_run() else {
            return;
        };
        let pass = &self.line_items_pass;
        match self.line_items_page().await {
            // Nothing was written: a pause stays until a write proves the scopes granted.
            Ok(false) => {}
            Ok(true) => {
                if let Some(scopes) = pass.succeeded() {
                    tracing::info!(feature = pass.feature, "line items are written again");
                    self.alerter
                        .alert(Alert::new(
                            AlertKind::FeatureResumed,
                            format!(
                                "HubSpot line items are written again (the scopes [{}] are granted now).",
                                scopes.join(", ")
                            ),
                        ))
                        .await;
                }
            }
            Err(PassFailure::Call(CallFailure::Pause(PauseReason::MissingScopes(scopes)))) => {
                let scopes = if scopes.is_empty() {
                    hubspot_crm::scopes::LINE_ITEM_SCOPES
                        .iter()
                        .chain(hubspot_crm::scopes::PRODUCT_SCOPES.iter())
                        .map(|s| (*s).to_owned())
                        .collect()
                } else {
                    scopes
                };
                let why = format!("the token lacks the scopes [{}]", scopes.join(", "));
                self.pause_line_items(scopes, why).await;
            }
            Err(PassFailure::MissingKey(property)) => {
                // HubSpot has no schema scope of its own for line items and products: the
                // one that creates their properties is `e-commerce`.
                let scopes: Vec<String> = hubspot_crm::scopes::LINE_ITEM_PROPERTY_SCOPES
                    .iter()
                    .map(|s| (*s).to_owned())
                    .collect();
                let why = format!(
                    "the unique {} property {property} is missing and the token may not create it; grant the scopes [{}], or create it in HubSpot as a single-line text property with unique values",
                    if property == PRODUCT_KEY_PROPERTY { "product" } else { "line item" },
                    scopes.join(", ")
                );
                self.pause_line_items(scopes, why).await;
            }
            Err(PassFailure::Call(CallFailure::Fenced(_))) => {}
            Err(PassFailure::Call(CallFailure::RateLimited { retry_after })) => {
                pass.failed(self.settings.backoff.base, retry_after);
            }
            Err(PassFailure::Call(failure)) => {
                tracing::warn!(?failure, "the line-item pass failed; retrying later");
                pass.failed(self.settings.backoff.base, None);
            }
            Err(PassFailure::Other(reason)) => {
                tracing::warn!(%reason, "the line-item pass failed; retrying later");
                pass.failed(self.settings.backoff.base, None);
            }
        }
    }

    /// Pauses the pass for what HubSpot refused (`missing`, explained by `why`); alerts the
    /// first time only.
    async fn pause_line_items(&self, missing: Vec<String>, why: String) {
        if self.line_items_pass.pause_for_scopes(missing) {
            tracing::warn!(%why, "line items paused; deals and contacts go on");
            self.alerter
                .alert(Alert::new(
                    AlertKind::FeaturePaused,
                    format!(
                        "HubSpot line items are paused: {why}. Deals and contacts are still written; line items resume by themselves once this is fixed."
                    ),
                ))
                .await;
        }
    }

    /// One page: read, bootstrap, write products, line items and associations, mark.
    /// Returns whether there was anything to write.
    async fn line_items_page(&self) -> Result<bool, PassFailure> {
        let work = self
            .store
            .state
            .pending_line_items(PAGE)
            .await
            .map_err(|e| {
                PassFailure::Other(format!("could not read the pending line items: {e}"))
            })?;
        if work.is_empty() {
            return Ok(false);
        }
        let unavailable = self.line_items_ready().await?;
        let (deals, mut incomplete) = self.read_deal_items(work).await?;
        let items: Vec<&LineItemFacts> = deals.iter().flat_map(|d| &d.items).collect();
        // Products, one input per Stripe product.
        let mut products: BTreeMap<String, PropertySet> = BTreeMap::new();
        for item in &items {
            if let Some((id, properties)) = product_properties(item) {
                products.entry(id).or_insert(properties);
            }
        }
        let product_groups: Vec<Group> = products
            .into_iter()
            .map(|(id, properties)| {
                group(
                    PRODUCT_KEY_PROPERTY,
                    id,
                    properties.without(&unavailable.products.iter().collect::<Vec<_>>()),
                )
            })
            .collect();
        let product_ids = self.upsert_all(Object::Products, &product_groups).await?;
        // Line items, each pointing at its product's HubSpot id.
        let mut line_groups = Vec::with_capacity(items.len());
        for item in &items {
            let product = product_properties(item).map(|(id, _)| id);
            let hubspot_product = match &product {
                Some(id) => match product_ids.get(id) {
                    Some(hubspot_id) => Some(hubspot_id.as_str()),
                    // Its product was not written: the line item (and so its deal) waits.
                    None => continue,
                },
                None => None,
            };
            let properties = line_item_properties(item, hubspot_product)
                .without(&unavailable.line_items.iter().collect::<Vec<_>>());
            line_groups.push(group(LINE_ITEM_KEY_PROPERTY, item.id.clone(), properties));
        }
        let line_ids = self.upsert_all(Object::LineItems, &line_groups).await?;
        // Associations of every line item written with its deal (already associated ones
        // are confirmed again: harmless and keeps a retried pass simple).
        let mut links: Vec<(String, String)> = Vec::new();
        let mut done: Vec<(String, i64)> = Vec::new();
        for deal in &deals {
            let ids: Option<Vec<&String>> =
                deal.items.iter().map(|i| line_ids.get(&i.id)).collect();
            match ids {
                Some(ids) => {
                    links.extend(
                        ids.into_iter()
                            .map(|id| (id.clone(), deal.work.deal_id.clone())),
                    );
                    done.push((deal.work.payment_key.clone(), deal.work.generation));
                }
                None => incomplete += 1,
            }
        }
        let (refused, gone) = self.associate_line_items(&links).await?;
        if !gone.is_empty() {
            // A deal a user deleted: nothing to attach its items to. Its work is done; if
            // the payment's deal is written again (a new id), it is noted anew.
            tracing::warn!(deals = ?gone, "HubSpot no longer has these deals; their line items are not attached");
        }
        let refused: Vec<&(String, String)> = refused
            .iter()
            .filter(|(_, deal)| !gone.contains(deal))
            .collect();
        if !refused.is_empty() {
            let deals_refused: BTreeSet<&str> = refused.iter().map(|(_, d)| d.as_str()).collect();
            let before = done.len();
            done.retain(|(key, _)| {
                deals
                    .iter()
                    .find(|d| d.work.payment_key == *key)
                    .is_none_or(|d| !deals_refused.contains(d.work.deal_id.as_str()))
            });
            incomplete += before - done.len();
        }
        self.store
            .state
            .mark_line_items_written(&done)
            .await
            .map_err(|e| {
                PassFailure::Other(format!("could not record the line items written: {e}"))
            })?;
        if incomplete > 0 {
            return Err(PassFailure::Other(format!(
                "{incomplete} deals' line items are not complete yet"
            )));
        }
        Ok(true)
    }

    /// The line items of each pending deal: its row's (an invoice's lines), else its
    /// Checkout Session's read from Stripe. A deal whose row is gone, or that has none,
    /// comes back with no items (it is marked written: there is nothing to write). Returns
    /// also how many deals could not be read now (left pending).
    async fn read_deal_items(
        &self,
        work: Vec<LineItemWork>,
    ) -> Result<(Vec<DealItems>, usize), PassFailure> {
        let mut deals = Vec::with_capacity(work.len());
        let mut unread = 0;
        for work in work {
            let entry = self
                .store
                .state
                .ledger_entry(&work.payment_key)
                .await
                .map_err(|e| PassFailure::Other(format!("could not read a ledger row: {e}")))?;
            let Some(entry) = entry else {
                deals.push(DealItems {
                    work,
                    items: Vec::new(),
                });
                continue;
            };
            let own = entry.row.line_items();
            if !own.is_empty() || entry.row.line_items_cut_short() {
                let items = match self.whole_invoice(&entry.row).await {
                    Ok(Some(all)) => all,
                    Ok(None) => own.to_vec(),
                    Err(error) => {
                        tracing::warn!(%error, payment_id = %work.payment_key, "could not read an invoice's lines from Stripe; retrying later");
                        unread += 1;
                        continue;
                    }
                };
                deals.push(DealItems { work, items });
                continue;
            }
            let session = entry.row.checkout_session_ids().next().map(str::to_owned);
            let items = match (session, &self.stripe) {
                (Some(session), Some(stripe)) => {
                    match stripe.checkout_session_line_items(&session).await {
                        Ok(items) => items
                            .iter()
                            .filter_map(LineItemFacts::from_checkout)
                            .collect(),
                        // Stripe does not know the session (or its id is not one): there is
                        // nothing to read, now or later.
                        Err(
                            error @ (stripe2hubspot_stripe::Error::NotFound { .. }
                            | stripe2hubspot_stripe::Error::InvalidInput(_)),
                        ) => {
                            tracing::warn!(%error, payment_id = %work.payment_key, "Stripe has no line items for this Checkout Session; its deal gets none");
                            Vec::new()
                        }
                        Err(error) => {
                            tracing::warn!(%error, payment_id = %work.payment_key, "could not read a Checkout Session's line items from Stripe; retrying later");
                            unread += 1;
                            continue;
                        }
                    }
                }
                _ => Vec::new(),
            };
            deals.push(DealItems { work, items });
        }
        Ok((deals, unread))
    }

    /// Every line of the invoice of `row` when its event carried only the first ones
    /// (Stripe embeds ten) and a Stripe client can read the rest; `None` when the row's own
    /// lines are the whole list, or cannot be completed (no client: the first lines are
    /// written, and that is logged once). An invoice Stripe does not know keeps the lines the
    /// event carried.
    async fn whole_invoice(
        &self,
        row: &LedgerRow,
    ) -> Result<Option<Vec<LineItemFacts>>, stripe2hubspot_stripe::Error> {
        if !row.line_items_cut_short() {
            return Ok(None);
        }
        let (Some(stripe), Some(invoice)) = (&self.stripe, row.invoice_ids().next()) else {
            if !self
                .line_items
                .cut_short_logged
                .swap(true, Ordering::Relaxed)
            {
                tracing::warn!("an invoice with more lines than its event carried gets only those: the engine has no Stripe client to read the rest (set STRIPE_SECRET_KEY)");
            }
            return Ok(None);
        };
        let Some(currency) = row
            .currency()
            .or_else(|| row.line_items().first().map(|i| i.currency))
        else {
            return Ok(None);
        };
        match stripe.invoice_line_items(invoice).await {
            Ok(lines) => Ok(Some(
                lines
                    .iter()
                    .filter_map(|line| LineItemFacts::from_invoice_line(line, currency))
                    .collect(),
            )),
            Err(
                error @ (stripe2hubspot_stripe::Error::NotFound { .. }
                | stripe2hubspot_stripe::Error::InvalidInput(_)),
            ) => {
                tracing::warn!(%error, "Stripe does not know the invoice; its deal gets the lines its event carried");
                Ok(None)
            }
            Err(error) => Err(error),
        }
    }

    /// Checks, once per process, that the token may use line items and products (a read of
    /// each: a missing scope pauses the pass before any property is created), then creates
    /// the missing custom properties. Returns the properties HubSpot cannot take.
    async fn line_items_ready(&self) -> Result<Unavailable, PassFailure> {
        self.line_items
            .ready
            .get_or_try_init(|| async {
                for object in [Object::LineItems, Object::Products] {
                    self.fence()?;
                    self.count_request();
                    self.hubspot
                        .objects(object.object_type())
                        .search(&SearchRequest::new().limit(1))
                        .await
                        .map_err(|e| CallFailure::classify(&e))?;
                }
                let line_items = self
                    .ensure_properties(
                        Object::LineItems,
                        &self.mapping.line_item_custom_properties(),
                        true,
                    )
                    .await?;
                if line_items.iter().any(|p| p == LINE_ITEM_KEY_PROPERTY) {
                    return Err(PassFailure::MissingKey(LINE_ITEM_KEY_PROPERTY.to_owned()));
                }
                let products = self
                    .ensure_properties(
                        Object::Products,
                        &self.mapping.product_custom_properties(),
                        true,
                    )
                    .await?;
                if products.iter().any(|p| p == PRODUCT_KEY_PROPERTY) {
                    return Err(PassFailure::MissingKey(PRODUCT_KEY_PROPERTY.to_owned()));
                }
                Ok(Unavailable {
                    line_items: line_items.into_iter().collect(),
                    products: products.into_iter().collect(),
                })
            })
            .await
            .cloned()
    }

    /// Upserts `groups` in batches of 100; returns the HubSpot id of each key written. A
    /// per-input error leaves that key out (its deal stays pending); a failed call fails the
    /// pass. Properties HubSpot says it does not have (a portal without one of the standard
    /// line item or product properties) are dropped, alerted once, and the batch is sent
    /// again without them; the key property is never dropped.
    async fn upsert_all(
        &self,
        object: Object,
        groups: &[Group],
    ) -> Result<HashMap<String, String>, PassFailure> {
        let mut ids = HashMap::new();
        for chunk in groups.chunks(BATCH_LIMIT) {
            let mut tries = 0;
            let reply = loop {
                let dropped = self.dropped_snapshot(object);
                let chunk: Vec<Group> = chunk
                    .iter()
                    .cloned()
                    .map(|mut g| {
                        g.properties.retain(|name, _| !dropped.contains(name));
                        g
                    })
                    .collect();
                match self.upsert_call(object, &chunk).await {
                    Ok(reply) => break reply,
                    Err(CallFailure::Rejected { properties, .. })
                        if tries < 2
                            && !properties.is_empty()
                            && !properties.iter().any(|p| {
                                p == LINE_ITEM_KEY_PROPERTY || p == PRODUCT_KEY_PROPERTY
                            }) =>
                    {
                        tries += 1;
                        self.drop_properties(object, &properties).await;
                    }
                    Err(failure) => return Err(failure.into()),
                }
            };
            for (named, message, _) in &reply.errors {
                tracing::warn!(object = object.name(), inputs = ?named, %message, "HubSpot refused some inputs; they are retried later");
            }
            ids.extend(reply.ids);
        }
        Ok(ids)
    }

    /// Default line item-to-deal associations of `(line item id, deal id)` links, 100 per
    /// call. Returns the links HubSpot did not confirm, and the deal ids it said do not
    /// exist (`OBJECT_NOT_FOUND`).
    async fn associate_line_items(
        &self,
        links: &[(String, String)],
    ) -> Result<(Vec<(String, String)>, BTreeSet<String>), PassFailure> {
        let mut refused = Vec::new();
        let mut gone = BTreeSet::new();
        for chunk in links.chunks(BATCH_LIMIT) {
            let result = self
                .associate_call(&ObjectType::LineItems, &ObjectType::Deals, chunk)
                .await?;
            if result.errors.is_empty() {
                continue;
            }
            let deals: BTreeSet<&str> = chunk.iter().map(|(_, deal)| deal.as_str()).collect();
            for error in &result.errors {
                if error.category.as_deref() == Some("OBJECT_NOT_FOUND") {
                    gone.extend(
                        error
                            .ids()
                            .into_iter()
                            .filter(|id| deals.contains(id))
                            .map(str::to_owned),
                    );
                }
            }
            let confirmed: BTreeSet<(&str, &str)> = result
                .results
                .iter()
                .map(|a| (a.from.id.as_str(), a.to.id.as_str()))
                .collect();
            refused.extend(
                chunk
                    .iter()
                    .filter(|(item, deal)| !confirmed.contains(&(item.as_str(), deal.as_str())))
                    .cloned(),
            );
        }
        Ok((refused, gone))
    }
}

/// An upsert input keyed by `property = value`.
fn group(property: &str, value: String, properties: PropertySet) -> Group {
    Group {
        key: value.clone(),
        id_property: property.to_owned(),
        id_value: value,
        properties: properties.to_map(),
        members: Vec::new(),
        moved_members: Vec::new(),
    }
}
