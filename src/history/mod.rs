//! Payment history from Stripe's API (feature `backfill`): backfill it into HubSpot through the
//! queue, reconcile HubSpot against the expected deals, and resolve thin events.
//!
//! * [`Backfill`] lists charges, disputes, Checkout Sessions and invoices and enqueues each as
//!   the webhook its state corresponds to ([`synthetic_event`]), so the engine syncs it exactly
//!   as it would the webhook: no engine change, no duplicates, live webhooks first.
//! * [`Reconcile`] batch-reads the deals HubSpot holds for the expected payments, reports
//!   drift, and [`repairs`](Reconcile::repair) it.
//! * [`fetch_thin_event_object`] retrieves the object of a thin event.

mod backfill;
mod budget;
mod compare;
mod reconcile;
mod synthetic;
mod thin;

pub use backfill::{
    checkpoint_name, Backfill, BackfillBuilder, BackfillError, BackfillSummary, KindSummary,
    Progress, CHECKPOINT_DONE, DEFAULT_MAX_READY, DEFAULT_QUEUE_POLL,
};
pub use budget::{HubSpotBudget, MEASURED_REQUESTS_PER_PAYMENT};
pub use compare::same_value;
pub use reconcile::{
    Difference, Drift, ExpectedDeal, Reconcile, ReconcileBuilder, ReconcileError,
    ReconcileProgress, ReconcileReport, RepairSummary, DEFAULT_SHOWN_DIFFERENCES,
};
pub use stripe_api;
pub use synthetic::{
    is_synthetic, synthetic_event, webhook_type_for, SyntheticEvent, SYNTHETIC_EVENT_PREFIX,
};
pub use thin::{
    fetch_thin_event_object, thin_event_snapshot, RelatedObject, ThinEvent, ThinEventError,
};
