//! The company pass: companies whose rollups or associations are behind the ledger are
//! adopted (found by domain, once) or upserted by `stripe_company_key`, then associated with
//! their contacts and deals. It runs after each batch, apart from the payment writes: a
//! company HubSpot refuses (a missing scope) pauses companies alone.

use super::Inner;

impl Inner {
    /// Writes up to one page of dirty companies and their associations. SKELETON.
    pub(crate) async fn sync_companies(&self) {}
}
