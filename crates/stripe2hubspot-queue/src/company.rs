//! The company and line-item work the engine keeps beside the ledgers: which contact belongs
//! to which company, what HubSpot id each company has, which associations are still to make,
//! and which deals' line items HubSpot has not seen yet.
//!
//! Both are "dirty sets": noting work bumps a generation, and only the generation that was
//! written is cleared, so work noted while a write was in flight is never lost.

use stripe2hubspot_map::CompanyKey;

/// A contact as the engine just wrote it, with the company it belongs to now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CompanyMember {
    /// The contact's ledger key (`contact_key_of`/`customer_contact_key` spelling).
    pub contact_key: String,
    /// Its company, or `None` when it has none (free mail, no metadata, companies off): the
    /// contact then leaves the company it was in.
    pub company: Option<CompanyKey>,
    /// The HubSpot contact id it was written to.
    pub contact_id: String,
    /// HubSpot deal ids of the contact's payments written in the same batch.
    pub deal_ids: Vec<String>,
}

/// A company whose HubSpot state is behind the ledger: its rollups changed, or an association
/// to it is still to be made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CompanyWork {
    /// The company's identity.
    pub key: CompanyKey,
    /// The HubSpot company id, once adopted or written.
    pub hubspot_id: Option<String>,
    /// The generation to pass back to
    /// [`mark_companies_written`](crate::SyncState::mark_companies_written).
    pub generation: i64,
    /// The contact keys of every member (to sum the rollups over), in key order.
    pub members: Vec<String>,
    /// HubSpot contact ids of members not yet associated with `hubspot_id`.
    pub unlinked_contacts: Vec<String>,
    /// HubSpot deal ids of members' payments not yet associated with `hubspot_id`.
    pub unlinked_deals: Vec<String>,
}

/// What HubSpot now holds of one company.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CompanyWritten {
    /// The company's identity value ([`CompanyKey::value`]).
    pub key: String,
    /// The generation its properties were computed at ([`CompanyWork::generation`]).
    pub generation: i64,
    /// The HubSpot company id written (adopted or upserted).
    pub hubspot_id: String,
    /// Contact ids now associated with `hubspot_id`.
    pub linked_contacts: Vec<String>,
    /// Deal ids now associated with `hubspot_id`.
    pub linked_deals: Vec<String>,
}

/// A deal whose line items HubSpot may not hold yet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LineItemWork {
    /// The payment's ledger key (its row: [`ledger_entry`](crate::SyncState::ledger_entry)).
    pub payment_key: String,
    /// The HubSpot deal the line items belong to.
    pub deal_id: String,
    /// The generation to pass back to
    /// [`mark_line_items_written`](crate::SyncState::mark_line_items_written).
    pub generation: i64,
}
