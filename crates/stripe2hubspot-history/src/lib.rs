//! Payment history from Stripe's API: backfill it into HubSpot through the
//! queue, reconcile HubSpot against the expected deals, and resolve thin events.
//!
//! * [`Backfill`] lists charges, disputes, Checkout Sessions, invoices, customers and
//!   subscriptions and enqueues each as the webhook its state corresponds to
//!   ([`synthetic_event`]), so the engine syncs it exactly as it would the webhook: no engine
//!   change, no duplicates, live webhooks first.
//! * [`Reconcile`] batch-reads the deals HubSpot holds for the expected payments, reports
//!   drift, and [`repairs`](Reconcile::repair) it through the syncer: drifted rows are marked
//!   unwritten and queued, and the sync engine writes them from the ledger as it stands then.
//!   [`check_customers`](Reconcile::check_customers) and
//!   [`repair_customers`](Reconcile::repair_customers) do the same for the subscription
//!   properties of each customer's contact ([`expected_contacts`]);
//!   [`check_companies`](Reconcile::check_companies) and
//!   [`repair_companies`](Reconcile::repair_companies) the rollups of each company
//!   ([`expected_companies`]), and [`check_line_items`](Reconcile::check_line_items) and
//!   [`repair_line_items`](Reconcile::repair_line_items) the line items of each written deal
//!   ([`expected_line_items`]); their repairs go to the engine's side passes.
//! * [`fetch_thin_event_object`] retrieves the object of a thin event.
//!
//! ```no_run
//! # async fn demo(store: stripe2hubspot_queue::Store, hubspot: hubspot_crm::Client,
//! #     expected: Vec<stripe2hubspot_history::ExpectedDeal>)
//! #     -> Result<(), Box<dyn std::error::Error>> {
//! use stripe2hubspot_history::stripe2hubspot_stripe::{CreatedRange, StripeClient};
//! use stripe2hubspot_history::{Backfill, Reconcile};
//! use stripe2hubspot_map::MappingConfig;
//!
//! let stripe = StripeClient::builder(std::env::var("STRIPE_SECRET_KEY")?).build()?;
//! let summary = Backfill::builder(stripe, store.clone(), MappingConfig::default(), CreatedRange::since(1_700_000_000))
//!     .build()?
//!     .run(|progress| eprintln!("{} listed, {} queued", progress.listed, progress.queued))
//!     .await?;
//! println!("{summary}");
//!
//! let reconcile = Reconcile::builder(hubspot).build();
//! let report = reconcile.check(&expected, |_| {}).await?;
//! if !report.is_in_sync() {
//!     // A sync engine on the same store (a server's, or one you run) writes the repairs.
//!     let repair = reconcile.repair(&store, &expected, &report).await?;
//!     println!("{repair}");
//!     let failed = reconcile
//!         .wait_for_repairs(&store, &repair, std::time::Duration::from_millis(200))
//!         .await?;
//!     println!("{} repairs not written", failed.len());
//! }
//! # Ok(()) }
//! ```

#![deny(missing_docs)]
#![warn(unreachable_pub)]

mod backfill;
mod budget;
mod companies;
mod compare;
mod customers;
mod line_items;
mod reconcile;
mod repair;
mod synthetic;
mod thin;

pub use backfill::{
    account_checkpoint_name, checkpoint_name, listed_range, Backfill, BackfillBuilder,
    BackfillError, BackfillSummary, KindSummary, Progress, CHECKPOINT_DONE, DEFAULT_MAX_READY,
    DEFAULT_QUEUE_POLL,
};
pub use budget::{HubSpotBudget, MEASURED_REQUESTS_PER_PAYMENT};
pub use companies::{
    compared_company_properties, expected_companies, CompanyDrift, CompanyRepairSummary,
    CompanyReport, ExpectedCompany, ExpectedMember,
};
pub use compare::same_value;
pub use customers::{
    expected_contacts, CustomerDrift, CustomerRepairSummary, CustomerReport, ExpectedContact,
};
pub use line_items::{
    expected_line_items, ExpectedLineItems, LineItemRepairSummary, LineItemReport, MissingLineItems,
};
pub use reconcile::{
    Difference, Drift, ExpectedDeal, Reconcile, ReconcileBuilder, ReconcileError,
    ReconcileProgress, ReconcileReport, DEFAULT_SHOWN_DIFFERENCES,
};
pub use repair::RepairSummary;
pub use stripe2hubspot_stripe;
pub use synthetic::{
    is_synthetic, synthetic_event, webhook_type_for, SyntheticEvent, SYNTHETIC_EVENT_PREFIX,
};
pub use thin::{
    fetch_thin_event_object, thin_event_snapshot, RelatedObject, ThinEvent, ThinEventError,
};

/// The README's examples compile as doctests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
