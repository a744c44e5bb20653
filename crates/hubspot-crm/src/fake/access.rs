//! Who may do what: the scopes each endpoint needs, and the access-token check that
//! lists the scopes a token was granted.

use serde_json::{json, Value};

use super::replies::{missing_scopes_body, unauthorized_body, Reply};
use super::routes::RequestPath;
use super::state::FakeState;
use crate::scopes::{
    alternatives, COMPANY_SCOPES, E_COMMERCE, LINE_ITEM_SCOPES, PRODUCT_SCOPES,
    PROPERTY_BOOTSTRAP_SCOPES, SYNC_SCOPES,
};

/// The scopes a token holds unless [`missing_scopes`](super::FakeHubSpotBuilder::missing_scopes)
/// takes some away.
fn all_scopes() -> Vec<String> {
    let mut all = vec!["oauth".to_owned(), E_COMMERCE.to_owned()];
    all.extend(
        SYNC_SCOPES
            .iter()
            .chain(PROPERTY_BOOTSTRAP_SCOPES.iter())
            .chain(COMPANY_SCOPES.iter())
            .chain(LINE_ITEM_SCOPES.iter())
            .chain(PRODUCT_SCOPES.iter())
            .map(|s| (*s).to_owned()),
    );
    all
}

/// The scope reading or writing records of `object_type` needs; `None` for types the fake
/// lets through. Line items and products also accept `e-commerce` (see
/// [`alternatives`]).
fn object_scope(object_type: &str, access: &str) -> Option<String> {
    match object_type {
        "contacts" | "deals" | "companies" | "line_items" | "products" => {
            Some(format!("crm.objects.{object_type}.{access}"))
        }
        _ => None,
    }
}

/// The scopes a CRM call needs, as HubSpot names them: the object type's read or write
/// scope, and for an association the write scope of both ends (so a token without the
/// companies scopes is refused on company endpoints only).
fn required_scopes(method: &str, path: &RequestPath<'_>) -> Vec<String> {
    let Some(object_type) = path.rest.first().copied() else {
        return Vec::new();
    };
    let access = match (path.api, method) {
        ("objects", "GET") => "read",
        ("objects", _) if path.is_search() || path.is_batch_read() => "read",
        ("objects" | "associations", _) => "write",
        ("properties", "POST") => {
            return match object_type {
                "contacts" | "deals" | "companies" => {
                    vec![format!("crm.schemas.{object_type}.write")]
                }
                // HubSpot has no schema scope of their own for these two.
                "line_items" | "products" => vec![E_COMMERCE.to_owned()],
                _ => Vec::new(),
            };
        }
        _ => return Vec::new(),
    };
    let other_end = match (path.api, path.rest.as_slice()) {
        ("associations", [_, to, ..]) => Some(*to),
        ("objects", [_, _, "associations", "default", to, ..]) => Some(*to),
        _ => None,
    };
    [
        Some(object_scope(object_type, access)),
        other_end.map(|to| object_scope(to, "write")),
    ]
    .into_iter()
    .flatten()
    .flatten()
    .collect()
}

/// `Err` with HubSpot's 403 `MISSING_SCOPES` when the token lacks one of the call's scopes.
pub(super) fn check_scope(
    state: &FakeState,
    method: &str,
    path: &RequestPath<'_>,
) -> Result<(), Reply> {
    let lacks = |scope: &str| state.missing_scopes.iter().any(|m| m == scope);
    // A scope is held when it or one of HubSpot's alternatives to it is.
    let missing: Vec<String> = required_scopes(method, path)
        .into_iter()
        .filter(|scope| lacks(scope) && alternatives(scope).iter().all(|alt| lacks(alt)))
        .collect();
    if missing.is_empty() {
        Ok(())
    } else {
        Err(Reply::json(403, missing_scopes_body(&missing)))
    }
}

/// `POST /oauth/v2/private-apps/get/access-token-info`: the token named in the body, with
/// the scopes it holds.
pub(super) fn access_token_info(state: &FakeState, body: &Value) -> Reply {
    let token = body.get("tokenKey").and_then(Value::as_str).unwrap_or("");
    if token != state.token {
        return Reply::json(401, unauthorized_body());
    }
    let scopes: Vec<String> = all_scopes()
        .into_iter()
        .filter(|s| !state.missing_scopes.contains(s))
        .collect();
    Reply::json(
        200,
        json!({ "userId": 1, "hubId": 62515, "appId": 4242, "scopes": scopes }),
    )
}
