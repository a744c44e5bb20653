//! The sync engine: drains the queue and writes contacts and deals to HubSpot from the
//! payment ledger, never from one event.
//!
//! Per batch of up to 100 reserved events: parse each event, read its payment facts, merge
//! them into the ledger (one store transaction), then for every touched payment that does not
//! wait derive its deal from its ledger row, and for every touched contact derive its state
//! (rollups included) from all its rows. Then, per batch, as few HubSpot calls as the state
//! needs: a contacts batch upsert (by `email`, or by the Stripe customer id property) of
//! the contacts whose properties HubSpot has not confirmed yet (a contact unchanged since its
//! last confirmed write is not written again, and its recorded id is used); a deals batch
//! *create* with the deal-to-contact association inline for payments HubSpot has never seen;
//! a deals batch upsert by the unique `stripe_payment_id` property for deals it holds (a
//! refund, a dispute) and for creates it refused because the payment id is taken (a deal made
//! by hand, a create whose answer was lost), which are then associated. Each deal id is
//! recorded in the ledger before the next worker may merge. A payment whose email moved it
//! to another contact also has the old association removed and the old contact's rollups
//! written again. Finally the ledger versions written are recorded. A burst of new payments
//! costs 2 requests per 100. Every value is absolute and a second deal for one payment is
//! refused by HubSpot itself, so a redelivered event, a retried batch, or any order of a
//! payment's events never make a second contact or deal and always leave
//! HubSpot equal to the ledger.
//!
//! A payment that waits (authorized but not captured, or no email yet) stays in the ledger:
//! its events complete, and [`EngineHandle::waiting`] counts it. A row re-keyed when a later
//! event names its PaymentIntent keeps its deal: the deal's `stripe_payment_id` is moved to
//! the new key before the upsert.
//!
//! Customer and subscription events (`customer.*`) go to the customer ledger instead, under
//! the same write order: each customer whose state HubSpot has not seen becomes a write of
//! its contact, whose state is the customer's row (contact data, subscription status, MRR,
//! ARR, plan, renewal, trial, cancellation and churn dates) plus the sums over the customer's
//! payments. A contact whose HubSpot id the store recorded (from the answer of its first
//! write) is updated by that id, in one batch update for all of them, so a customer's new
//! email changes its contact instead of making a second one; the rest are upserted as
//! before. A renewal of a known customer costs one contacts update and one deals create. See
//! [`SyncEngineBuilder::merge_contacts`] for a new email another contact holds,
//! [`SyncEngineBuilder::gdpr_delete`] for `customer.deleted`, and
//! [`SyncEngineBuilder::stripe`] for two same-second events of one subscription.
//!
//! Besides Stripe events the queue carries repair jobs ([`repair_job`]): `reconcile --repair`
//! marks a drifted ledger row unwritten and queues one, and the engine writes that row like
//! any touched row, from the ledger as it stands then; [`customer_repair_job`] does the same
//! for a customer's contact.
//!
//! Without the unique `stripe_payment_id` deal property (the token may not create it) the
//! engine pauses with one alert saying how to add it, and resumes once it exists.
//!
//! Companies (unless the mapping's `company_key` is `none`): after the writes, each contact
//! written is noted in the store with its company (derived from the same customer and ledger
//! rows as its state) and the deals written for it. A pass after every batch, and while
//! idle, writes the companies whose rollups or associations are behind: one search
//! `domain IN [...]` for companies never written, so one a user or HubSpot already made with
//! that domain is adopted (`stripe_company_key` written onto it, its `name` kept) instead of
//! duplicated; one batch upsert by the unique `stripe_company_key` for the rest; one default
//! association call each for contacts and deals not yet linked. A burst of 100 new payments
//! at new companies costs 4 more requests (3 once the companies exist, fewer when no new
//! contact joins); a company whose values HubSpot already holds is not written again.
//!
//! Line items (opt-in, the mapping's `line_items`): each deal written, or touched again while
//! HubSpot holds it (a redelivery, a backfill), notes its line items in the store with a
//! fingerprint of them: an invoice's lines, or a Checkout Session's (read from Stripe with
//! [`SyncEngineBuilder::stripe`]; without it, none). A pass after every batch, and while
//! idle, writes the deals whose line items changed: one batch upsert of their products by
//! `stripe_product_id`, one of the line items by `stripe_line_item_id` (each pointing at its
//! product by `hs_product_id`), one default line item-to-deal association call; 3 more
//! requests per 100 line items. A refund or a dispute changes the deal, never its line
//! items, and a redelivery writes nothing.
//!
//! How each HubSpot answer is handled:
//!
//! | HubSpot answers | the engine |
//! |---|---|
//! | 401 | pauses (webhooks are still stored), releases its jobs without consuming attempts, alerts once, probes with backoff and resumes by itself |
//! | 403 | pauses and alerts like 401, naming the missing scopes |
//! | 400 unknown property / invalid option | strips the named properties (never email, firstname, lastname, stripe_payment_id), retries at once, alerts which were dropped |
//! | 400 `INVALID_OPTION` for `deal_currency_code` | strips it from deals in that currency only, alerts once naming the currency (`stripe_amount_currency` keeps the amount readable) |
//! | 400 validation rule of the portal (API 2026-09) | dead-letters the payments the rule names (bisects when none is named), syncs the rest, alerts with the rule and the payment ids |
//! | 400 naming a bad value (e.g. `INVALID_EMAIL`) | dead-letters the payments with that value, resends the rest at once |
//! | 400 naming nothing | bisects the batch until the bad payment is alone, dead-letters it |
//! | 207 with per-input errors | completes what succeeded, retries only the failed inputs |
//! | 429 | reschedules at `2^n * 1 s + jitter` (or `Retry-After`, at most [`MAX_HOLD`](hubspot_crm::MAX_HOLD), 10 minutes, whatever the header says) without consuming an attempt, and holds the shared limiter back |
//! | 400 naming `email` or `stripe_payment_id` unknown (a core property was deleted) | pauses with an alert, probes, resumes once it exists again |
//! | 409 on an upsert | a race: retries with backoff |
//! | 409, or 400 "already has that value", or 207 naming a taken `stripe_payment_id` on a deals create | finds the taken payment ids by value (reads them back by `stripe_payment_id`), creates the rest, upserts the taken ones onto the existing deals and associates them; never a second deal |
//! | any other 400 on a deals create (including an inline association to a contact a user deleted) | writes those payments by upsert and association instead, where the 400 rules above apply; a refused association to a contact known only from its recorded mark forgets the mark, and the retry upserts (recreates) the contact |
//! | 409 moving a re-keyed payment's deal (another deal already holds the new `stripe_payment_id`) | keeps that deal, archives the one written under the old key, alerts once ([`AlertKind::DuplicateDealResolved`](alert::AlertKind::DuplicateDealResolved)); no retry |
//! | a contact update refused: the email belongs to another contact | alerts once per pair ([`AlertKind::EmailTaken`](alert::AlertKind::EmailTaken)) and writes the contact without that email; with [`SyncEngineBuilder::merge_contacts`] merges the other contact into it first |
//! | a contact update refused: the id does not exist (deleted by a user) | forgets the id and upserts the contact by email (created again); a merged-away id is followed to the merged record, whose id is recorded |
//! | 403 on a company call (or the company key property cannot be created) | pauses companies alone, alerts once ([`AlertKind::FeaturePaused`](alert::AlertKind::FeaturePaused)) naming the scopes, tries again every probe interval and alerts [`AlertKind::FeatureResumed`](alert::AlertKind::FeatureResumed) once companies are written; payments and contacts go on |
//! | 403 on a line item or product call (or their key property cannot be created) | pauses line items alone, alerts once ([`AlertKind::FeaturePaused`](alert::AlertKind::FeaturePaused)) naming the scopes, tries again every probe interval and alerts [`AlertKind::FeatureResumed`](alert::AlertKind::FeatureResumed) once line items are written; payments, contacts and companies go on |
//! | a line item or product property HubSpot says it does not have | drops it (alerted once) and resends the batch without it |
//! | any other line-item failure | leaves the line-item work in the store and retries the pass with backoff (at most a minute) |
//! | any other company failure | leaves the company work in the store and retries the pass with backoff (at most a minute); a company association refused because HubSpot no longer has the company makes the store forget its id, so the next pass finds or creates it again |
//! | 5xx, 423, 409, timeout | retries with backoff, consuming an attempt, for 72 hours from the event's creation ([`SyncEngineBuilder::retry_for`]); only then dead-letters |
//!
//! With several processes on one PostgreSQL store, each runs [`SyncEngine::run`] but only
//! the elected one syncs (see [`Role`]); the others stand by and take over within 15 s of
//! its death.

#![deny(missing_docs)]
#![warn(unreachable_pub)]
#![cfg_attr(docsrs, feature(doc_cfg))]

pub mod alert;

mod backoff;
mod batch;
mod builder;
mod companies;
mod contact_moves;
mod contacts;
mod create;
mod customers;
mod deal_move;
mod failure;
mod fence;
mod handle;
mod hub;
mod idle;
mod leader;
mod line_items;
mod marks;
mod pause;
mod plan;
mod process;
mod purge;
mod record;
mod repair;
mod settle;
mod settlement;
mod side_pass;
mod worker;

use std::collections::BTreeSet;
use std::future::Future;
use std::sync::atomic::{AtomicBool, AtomicU32};
use std::sync::{Arc, Mutex};

use hubspot_crm::Client;
use stripe2hubspot_map::MappingConfig;
use tokio::sync::{watch, OnceCell};

pub use backoff::Backoff;
pub use builder::{
    EngineError, SyncEngineBuilder, DEFAULT_DEAD_LETTER_RETENTION, DEFAULT_LEASE,
    DEFAULT_RETRY_FOR, DEFAULT_SHUTDOWN_GRACE,
};
pub use failure::PauseReason;
pub use handle::{metric_names, EngineHandle, EngineMetrics};
pub use leader::Role;
pub use repair::{
    customer_repair_job, repair_job, CUSTOMER_REPAIR_EVENT_TYPE, REPAIR_EVENT_PREFIX,
    REPAIR_EVENT_TYPE,
};

use crate::alert::Alerter;
use builder::Settings;
use handle::Counters;
use settle::Disposition;
use stripe2hubspot_queue::Store;

/// The deal property every payment's deal is upserted by, created with `hasUniqueValue` so
/// HubSpot itself refuses a second deal for one payment.
pub use stripe2hubspot_map::PAYMENT_ID_PROPERTY as DEAL_ID_PROPERTY;

/// Properties HubSpot rejected, per object type; never sent again by this process.
#[derive(Debug, Default)]
struct Dropped {
    contacts: BTreeSet<String>,
    deals: BTreeSet<String>,
    companies: BTreeSet<String>,
    /// ISO codes HubSpot refused as `deal_currency_code` (upper case).
    currencies: BTreeSet<String>,
    /// The side objects' (line items, products), by [`Object::name`].
    others: std::collections::BTreeMap<&'static str, BTreeSet<String>>,
}

/// Which object type a batch call writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Object {
    Contacts,
    Deals,
    /// Companies (the company pass).
    Companies,
    /// Line items of deals (the line-item pass).
    LineItems,
    /// Products of the library line items point at (the line-item pass).
    Products,
}

impl Object {
    fn name(self) -> &'static str {
        match self {
            Object::Contacts => "contacts",
            Object::Deals => "deals",
            Object::Companies => "companies",
            Object::LineItems => "line items",
            Object::Products => "products",
        }
    }
}

struct Inner {
    store: Store,
    hubspot: Client,
    /// Reads what the ledger cannot settle alone (a tied subscription), when configured.
    stripe: Option<stripe2hubspot_stripe::StripeClient>,
    mapping: MappingConfig,
    settings: Settings,
    alerter: Arc<dyn Alerter>,
    pause: watch::Sender<Option<PauseReason>>,
    /// The pause last alerted and not yet announced over, so one outage alerts once.
    announced: Mutex<Option<PauseReason>>,
    bootstrapped: OnceCell<()>,
    /// Held from the ledger merge until the deals are written, so a worker holding an older
    /// version of a row can never write it after a newer one.
    write_order: tokio::sync::Mutex<()>,
    /// Per payment key, the contacts its payment left whose HubSpot side is not fixed yet
    /// (the write failed and will be retried): a retried merge changes nothing, so it would
    /// not name them again.
    unfinished_moves: Mutex<std::collections::HashMap<String, BTreeSet<String>>>,
    /// Per contact key, the email HubSpot refused for its known contact because another
    /// contact holds it: withheld from that contact's writes until the email changes.
    refused_emails: Mutex<std::collections::HashMap<String, String>>,
    /// `(known contact id, other contact id)` pairs already alerted as holding one email.
    alerted_pairs: Mutex<BTreeSet<(String, String)>>,
    dropped: Mutex<Dropped>,
    /// Consecutive 429s, the exponent of the rate-limit backoff.
    rate_limit_streak: AtomicU32,
    counters: Counters,
    /// Whether this process runs the sync or stands by, for `/healthz`.
    role: watch::Sender<Role>,
    /// Cleared the moment leadership is lost: every HubSpot write checks it first.
    leading: AtomicBool,
    /// The company pass's schedule and pause.
    companies_pass: side_pass::SidePass,
    /// The line-item pass's schedule and pause.
    line_items_pass: side_pass::SidePass,
    /// The line-item pass's properties bootstrap and run guard.
    line_items: line_items::LineItemsState,
}

/// Drains the queue into HubSpot. Cheap to clone handles come from [`SyncEngine::handle`].
pub struct SyncEngine {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for SyncEngine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SyncEngine")
            .field("settings", &self.inner.settings)
            .finish_non_exhaustive()
    }
}

impl SyncEngine {
    /// A handle to pause, resume and observe the engine while it runs.
    pub fn handle(&self) -> EngineHandle {
        EngineHandle {
            inner: self.inner.clone(),
        }
    }

    /// Syncs until `shutdown` completes. With a shared (PostgreSQL) store this process first
    /// waits to be elected and syncs only while it leads; a standby retries every few seconds.
    ///
    /// On shutdown no new batch is reserved; batches in hand get up to the shutdown grace
    /// (default 20 s) to finish, then whatever is unfinished is released to the queue, the
    /// leadership is given up and this returns.
    pub async fn run(&self, shutdown: impl Future<Output = ()>) {
        let (stop, stopped) = watch::channel(false);
        // Every log line of a portal's engine (its tasks included) names the portal.
        let span = match &self.inner.settings.portal {
            Some(portal) => tracing::info_span!("engine", portal = %portal),
            None => tracing::Span::none(),
        };
        let syncing =
            tracing::Instrument::instrument(self.inner.clone().lead_and_sync(stopped), span);
        tokio::pin!(syncing);
        tokio::select! {
            _ = shutdown => {}
            _ = &mut syncing => return,
        }
        tracing::info!("shutting down: no new batches; finishing or releasing the ones in hand");
        let _ = stop.send(true);
        syncing.await;
    }
}

/// The README's examples compile as doctests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
