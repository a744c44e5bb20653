//! `FakeHubSpot`: an in-process, stateful HubSpot for tests and demos (feature `fake`).
//!
//! It speaks the subset of the CRM API this crate calls, on the dated paths (2026-03,
//! 2026-09) and the legacy v3/v4 ones alike, over one state, with HubSpot's answers:
//! contacts unique by lowercase e-mail (409 with "Existing ID"), unique custom properties,
//! batch upsert, deals with inline associations, default associations, a property registry
//! (unknown property -> 400 `PROPERTY_DOESNT_EXIST`, bad option -> 400 `INVALID_OPTION`, bad
//! e-mail -> 400 `INVALID_EMAIL`), validation rules enforced from 2026-09 on, token and
//! scope checks (401, 403 `MISSING_SCOPES`, the access-token check), pipelines and their
//! stages, property validation rules, a rolling 10 s window (429 `TEN_SECONDLY_ROLLING`),
//! 5/s search (429 `SECONDLY`), search that lags behind writes, and injected failures;
//! batch update by id (207 per refused input: `OBJECT_NOT_FOUND`, or `CONFLICT` naming the
//! contact that holds the email), merges (a new record id; merged-away ids keep answering
//! for it), GDPR deletes (logged in [`FakeHubSpot::gdpr_deletions`]), and a HubSpot user
//! merging or deleting contacts ([`FakeHubSpot::merge_contacts`],
//! [`FakeHubSpot::delete_contact`]).
//! Companies, line items and products are objects too (`companies()`, `line_items()`,
//! `products()`), unique by the custom properties a bootstrap creates on them; they
//! associate among contacts, companies, deals and line items with HubSpot's default type
//! ids (an id that names no type from that object is a 400), a line item's
//! `hs_product_id` must name an existing product, and each type has its own scopes (a
//! token without the companies scopes gets 403 `MISSING_SCOPES` on company calls only;
//! `e-commerce` stands in for the line-item and product scopes and is the one scope that
//! creates their properties). Search takes `IN`/`NOT_IN` lists (matched exactly against
//! lowercased values, as HubSpot's are) and refuses a body over 3,000 characters with a 400.
//! Tests inspect the links with [`FakeHubSpot::associated`] and make a user's company by
//! hand with [`FakeHubSpot::create_company`].
//! [`RequestRecord::api_version`] tells which version each request asked for.
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), hubspot_crm::Error> {
//! use hubspot_crm::{fake::FakeHubSpot, ObjectInput};
//! let fake = FakeHubSpot::start().await;
//! let client = fake.client()?;
//! client.contacts().create(&ObjectInput::default().property("email", "Ada@Example.com")).await?;
//! assert!(fake.contact_by_email("ada@example.com").is_some());
//! assert_eq!(fake.request_count("POST", "/crm/objects/2026-09/contacts"), 1);
//! # Ok(())
//! # }
//! ```

mod access;
mod archive;
mod associations;
mod faults;
mod gdpr;
mod merge;
mod objects;
mod pipelines;
mod properties;
mod rate_limits;
mod replies;
mod routes;
mod search;
mod server;
mod state;
mod update;
mod validation_rules;

pub use faults::Failure;
pub use gdpr::GdprDeletion;
pub use server::{FakeHubSpot, FakeHubSpotBuilder};
pub use validation_rules::ValidationRule;

use std::collections::BTreeMap;

use crate::ApiVersion;

/// The token a fake accepts unless told otherwise.
pub const DEFAULT_TOKEN: &str = "pat-fake-token";

/// One logged request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestRecord {
    /// HTTP method.
    pub method: String,
    /// Path, without query.
    pub path: String,
    /// Status answered (0 when the connection was dropped).
    pub status: u16,
    /// The API version the path asked for (`None` for paths outside the CRM APIs).
    pub api_version: Option<ApiVersion>,
    /// When the fake handled it (after any injected delay), to check rolling windows.
    pub at: std::time::Instant,
}

impl RequestRecord {
    fn new(method: &str, path: &str, status: u16) -> Self {
        RequestRecord {
            method: method.to_owned(),
            path: path.to_owned(),
            status,
            api_version: routes::version_of(path),
            at: std::time::Instant::now(),
        }
    }
}

/// A snapshot of a stored object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FakeObject {
    /// Object id.
    pub id: String,
    /// Property values.
    pub properties: BTreeMap<String, String>,
}

impl FakeObject {
    /// A property value.
    pub fn property(&self, name: &str) -> Option<&str> {
        self.properties.get(name).map(String::as_str)
    }
}

/// A stored association (one per link, in the direction it was made).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct FakeAssociation {
    /// Source object type (`deals`, `contacts`, ...).
    pub from_type: String,
    /// Source id.
    pub from_id: String,
    /// Target object type.
    pub to_type: String,
    /// Target id.
    pub to_id: String,
    /// Association type id (deal -> contact is 3).
    pub type_id: u32,
}
