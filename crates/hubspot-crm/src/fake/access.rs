//! Who may do what: the scopes each endpoint needs, and the access-token check that
//! lists the scopes a token was granted.

use serde_json::{json, Value};

use super::replies::{missing_scopes_body, unauthorized_body, Reply};
use super::routes::RequestPath;
use super::state::FakeState;
use crate::scopes::{PROPERTY_BOOTSTRAP_SCOPES, SYNC_SCOPES};

/// The scopes a token holds unless [`missing_scopes`](super::FakeHubSpotBuilder::missing_scopes)
/// takes some away.
fn all_scopes() -> Vec<String> {
    let mut all = vec!["oauth".to_owned()];
    all.extend(
        SYNC_SCOPES
            .iter()
            .chain(PROPERTY_BOOTSTRAP_SCOPES.iter())
            .map(|s| (*s).to_owned()),
    );
    all.extend(
        ["crm.objects.companies.read", "crm.objects.companies.write"]
            .iter()
            .map(|s| (*s).to_owned()),
    );
    all
}

/// The scope a CRM call needs, as HubSpot names it; `None` for calls the fake lets through.
fn required_scope(method: &str, path: &RequestPath<'_>) -> Option<String> {
    let object_type = path.rest.first()?;
    if !matches!(*object_type, "contacts" | "deals" | "companies") {
        return None;
    }
    let access = match (path.api, method) {
        ("objects", "GET") => "read",
        ("objects", _) if path.is_search() || path.is_batch_read() => "read",
        ("objects" | "associations", _) => "write",
        ("properties", "POST") => return Some(format!("crm.schemas.{object_type}.write")),
        _ => return None,
    };
    Some(format!("crm.objects.{object_type}.{access}"))
}

/// `Err` with HubSpot's 403 `MISSING_SCOPES` when the token lacks the call's scope.
pub(super) fn check_scope(
    state: &FakeState,
    method: &str,
    path: &RequestPath<'_>,
) -> Result<(), Reply> {
    match required_scope(method, path) {
        Some(scope) if state.missing_scopes.contains(&scope) => {
            Err(Reply::json(403, missing_scopes_body(&[scope])))
        }
        _ => Ok(()),
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
