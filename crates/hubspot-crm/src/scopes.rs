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
/// Read products (batch read, search).
pub const PRODUCTS_READ: &str = "crm.objects.products.read";
/// Create and update products (upsert by `stripe_product_id`).
pub const PRODUCTS_WRITE: &str = "crm.objects.products.write";
/// The older, broad commerce scope. HubSpot's API specifications list it as an
/// alternative to the granular scopes on every products and line-items endpoint (e.g.
/// `POST /crm/objects/2026-03/products/batch/upsert` takes `crm.objects.products.write`
/// *or* `e-commerce`, `.../line_items/batch/upsert` takes `crm.objects.line_items.write`
/// *or* `e-commerce`:
/// <https://github.com/HubSpot/HubSpot-public-api-spec-collection/blob/main/PublicApiSpecs/CRM/Products/Rollouts/424/2026-03/products.json>
/// and `.../Line Items/Rollouts/424/2026-03/lineItems.json`, `security`), so
/// [`AccessTokenInfo::missing`] counts it as granting those four scopes. It is also the only
/// scope that lets an app create line-item and product *properties*: the properties
/// endpoint (`POST /crm/properties/2026-03/{objectType}`) lists a `crm.schemas.*.write`
/// scope for contacts, companies, deals and others, but none for line items or products,
/// and `e-commerce` among its alternatives (same collection, `CRM/Properties/Rollouts/145899/2026-03/properties.json`).
/// The legacy v1 products reference lists `e-commerce` alone
/// (<https://developers.hubspot.com/docs/api-reference/legacy/crm/objects/products/v1/post-crm-objects-v1-objects-products-batch-read.md>).
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
/// deal). [`E_COMMERCE`] grants them too.
pub const LINE_ITEM_SCOPES: [&str; 2] = [LINE_ITEMS_READ, LINE_ITEMS_WRITE];
/// The scopes products need (upsert by `stripe_product_id`): the granular product scopes
/// HubSpot's current API specifications name first (they used to be the one
/// [`E_COMMERCE`], which still grants them; see there).
pub const PRODUCT_SCOPES: [&str; 2] = [PRODUCTS_READ, PRODUCTS_WRITE];
/// The scope that creates the line-item and product properties (`stripe_line_item_id`,
/// `stripe_product_id`): HubSpot has no `crm.schemas.line_items.write` or
/// `crm.schemas.products.write`, only [`E_COMMERCE`] (see there). Needed only while those
/// properties are missing.
pub const LINE_ITEM_PROPERTY_SCOPES: [&str; 1] = [E_COMMERCE];

/// The scopes HubSpot accepts in place of `scope`, as its API specifications list them
/// (alternatives in an endpoint's `security`): [`E_COMMERCE`] for the granular line-item
/// and product scopes; nothing for the others.
pub fn alternatives(scope: &str) -> &'static [&'static str] {
    match scope {
        LINE_ITEMS_READ | LINE_ITEMS_WRITE | PRODUCTS_READ | PRODUCTS_WRITE => &[E_COMMERCE],
        _ => &[],
    }
}

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
    /// The scopes of `wanted` the token was not granted, in `wanted`'s order. A scope
    /// counts as granted when the token holds it or one of its [`alternatives`] (a token
    /// with `e-commerce` may write line items and products).
    pub fn missing<'a>(&self, wanted: &[&'a str]) -> Vec<&'a str> {
        wanted.iter().copied().filter(|w| !self.has(w)).collect()
    }

    /// Whether the token holds `scope` or one of its [`alternatives`].
    pub fn has(&self, scope: &str) -> bool {
        std::iter::once(scope)
            .chain(alternatives(scope).iter().copied())
            .any(|wanted| self.scopes.iter().any(|s| s == wanted))
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

    #[test]
    fn e_commerce_grants_line_items_and_products_but_nothing_else() {
        let token = |scopes: &[&str]| AccessTokenInfo {
            hub_id: None,
            app_id: None,
            scopes: scopes.iter().map(|s| (*s).to_owned()).collect(),
        };
        let legacy = token(&[E_COMMERCE]);
        assert!(legacy.missing(&PRODUCT_SCOPES).is_empty());
        assert!(legacy.missing(&LINE_ITEM_SCOPES).is_empty());
        assert!(legacy.missing(&LINE_ITEM_PROPERTY_SCOPES).is_empty());
        assert_eq!(legacy.missing(&COMPANY_SCOPES), COMPANY_SCOPES);
        // The granular scopes write the objects but cannot create their properties.
        let granular = token(&[
            PRODUCTS_READ,
            PRODUCTS_WRITE,
            LINE_ITEMS_READ,
            LINE_ITEMS_WRITE,
        ]);
        assert!(granular.missing(&PRODUCT_SCOPES).is_empty());
        assert!(granular.missing(&LINE_ITEM_SCOPES).is_empty());
        assert_eq!(granular.missing(&LINE_ITEM_PROPERTY_SCOPES), [E_COMMERCE]);
        assert_eq!(token(&[]).missing(&PRODUCT_SCOPES), PRODUCT_SCOPES);
    }
}
