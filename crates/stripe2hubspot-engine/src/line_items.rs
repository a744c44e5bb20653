//! The line-item pass (opt-in): each written deal whose line items are behind gets its
//! products upserted by `stripe_product_id` and its line items upserted by
//! `stripe_line_item_id`, associated with the deal. A refund or a dispute changes the deal,
//! never its line items: they record what was sold.

use super::Inner;

impl Inner {
    /// Writes the line items of up to one page of pending deals. SKELETON.
    pub(crate) async fn sync_line_items(&self) {}
}
