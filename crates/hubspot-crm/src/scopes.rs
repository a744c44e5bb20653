//! The HubSpot scopes this crate's calls need, and the access-token check that lists the
//! scopes a token was granted.

use reqwest::Method;
use serde::{Deserialize, Deserializer, Serialize};

use crate::client::{Call, Client};
use crate::error::Error;
use crate::paths;

/// Read contacts (get, search).
pub const CONTACTS_READ: &str = "crm.objects.contacts.read";
/// Create and update contacts, associate them.
pub const CONTACTS_WRITE: &str = "crm.objects.contacts.write";
/// Read deals (get, search).
pub const DEALS_READ: &str = "crm.objects.deals.read";
/// Create and update deals, associate them.
pub const DEALS_WRITE: &str = "crm.objects.deals.write";
/// Create contact properties (only to bootstrap missing properties).
pub const CONTACT_SCHEMAS_WRITE: &str = "crm.schemas.contacts.write";
/// Create deal properties (only to bootstrap missing properties).
pub const DEAL_SCHEMAS_WRITE: &str = "crm.schemas.deals.write";
/// Read companies (batch read, search by `domain`).
pub const COMPANIES_READ: &str = "crm.objects.companies.read";
/// Create and update companies, associate them.
pub const COMPANIES_WRITE: &str = "crm.objects.companies.write";
/// Create company properties (only to bootstrap `stripe_company_key` and the rollups).
pub const COMPANY_SCHEMAS_WRITE: &str = "crm.schemas.companies.write";
/// Read line items.
pub const LINE_ITEMS_READ: &str = "crm.objects.line_items.read";
/// Create and update line items, associate them with deals.
pub const LINE_ITEMS_WRITE: &str = "crm.objects.line_items.write";
/// Products: HubSpot's reference lists the single scope `e-commerce` for its products
/// endpoints
/// (<https://developers.hubspot.com/docs/api-reference/legacy/crm/objects/products/v1/post-crm-objects-v1-objects-products-batch-read.md>,
/// "Scope requirements"); it covers reading, writing and the products' properties.
pub const E_COMMERCE: &str = "e-commerce";

/// The scopes a sync of contacts and deals needs.
pub const SYNC_SCOPES: [&str; 4] = [CONTACTS_READ, CONTACTS_WRITE, DEALS_READ, DEALS_WRITE];
/// The scopes [`Objects::merge`](crate::Objects::merge) of contacts needs: HubSpot's reference
/// lists the object type's write scope for the merge endpoint
/// (<https://developers.hubspot.com/docs/api-reference/legacy/crm/objects/contacts/merge-contacts.md>).
/// Already part of [`SYNC_SCOPES`]: merging contacts (`STRIPE2HUBSPOT_MERGE_CONTACTS=1`) asks
/// for no extra grant.
pub const MERGE_CONTACTS_SCOPES: [&str; 1] = [CONTACTS_WRITE];
/// The scopes [`Objects::gdpr_delete`](crate::Objects::gdpr_delete) needs:
/// `crm.objects.contacts.write`
/// (<https://developers.hubspot.com/docs/api-reference/legacy/crm/objects/contacts/gdpr/gdpr-delete-contact.md>;
/// third-party guides name the same single scope,
/// <https://www.skills.sh/jeremylongshore/tons-of-skills-marketplace/hubspot-data-handling>).
/// The sensitive-data scopes (`crm.objects.contacts.sensitive.*`) govern reading and writing
/// properties marked sensitive and are not listed for this endpoint. Already part of
/// [`SYNC_SCOPES`].
pub const GDPR_DELETE_SCOPES: [&str; 1] = [CONTACTS_WRITE];
/// The extra scopes that let the client create missing contact and deal properties.
pub const PROPERTY_BOOTSTRAP_SCOPES: [&str; 2] = [CONTACT_SCHEMAS_WRITE, DEAL_SCHEMAS_WRITE];

/// The scopes the company feature needs: read (adopting a company found by `domain`), write
/// (upsert by `stripe_company_key`, associations) and the schema scope that creates the
/// company properties. Without them only companies pause.
pub const COMPANY_SCOPES: [&str; 3] = [COMPANIES_READ, COMPANIES_WRITE, COMPANY_SCHEMAS_WRITE];
/// The scopes line items need (upsert by `stripe_line_item_id`, the association to the
/// deal).
pub const LINE_ITEM_SCOPES: [&str; 2] = [LINE_ITEMS_READ, LINE_ITEMS_WRITE];
/// The scopes products need (upsert by `stripe_product_id`).
pub const PRODUCT_SCOPES: [&str; 1] = [E_COMMERCE];

/// What HubSpot says about the access token in use.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AccessTokenInfo {
    /// The HubSpot account (portal) id.
    #[serde(default, alias = "hub_id", deserialize_with = "opt_id")]
    pub hub_id: Option<String>,
    /// The app (private app or service key) id.
    #[serde(default, alias = "app_id", deserialize_with = "opt_id")]
    pub app_id: Option<String>,
    /// The scopes granted to the token.
    #[serde(default)]
    pub scopes: Vec<String>,
}

impl AccessTokenInfo {
    /// The scopes of `wanted` the token was not granted, in `wanted`'s order.
    pub fn missing<'a>(&self, wanted: &[&'a str]) -> Vec<&'a str> {
        wanted
            .iter()
            .copied()
            .filter(|w| !self.scopes.iter().any(|s| s == w))
            .collect()
    }
}

fn opt_id<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    Ok(match serde_json::Value::deserialize(d)? {
        serde_json::Value::Null => None,
        serde_json::Value::String(s) => Some(s),
        other => Some(other.to_string()),
    })
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct TokenKey<'a> {
    token_key: &'a str,
}

impl Client {
    /// Checks the access token and lists its scopes
    /// (`POST /oauth/v2/private-apps/get/access-token-info`, which has no dated version).
    ///
    /// A rejected token fails with [`Error::Unauthorized`]. HubSpot documents this call for
    /// private-app tokens; for a service key, a 4xx here does not prove the key bad: check
    /// it with a read such as [`Properties::list`](crate::Properties::list) instead.
    pub async fn access_token_info(&self) -> Result<AccessTokenInfo, Error> {
        let call = Call::new(
            Method::POST,
            "oauth.access_token_info",
            paths::access_token_info(),
        )
        .json(&TokenKey {
            token_key: self.token(),
        })?;
        Ok(self.execute(call).await?.body)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_scopes_keep_the_wanted_order() {
        let info: AccessTokenInfo = serde_json::from_value(serde_json::json!({
            "hubId": 62515, "appId": 7, "userId": 1,
            "scopes": ["oauth", CONTACTS_READ, DEALS_WRITE]
        }))
        .unwrap();
        assert_eq!(info.hub_id.as_deref(), Some("62515"));
        assert_eq!(info.missing(&SYNC_SCOPES), vec![CONTACTS_WRITE, DEALS_READ]);
    }
}
