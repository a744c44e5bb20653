//! Permanent deletion for a privacy request (`POST /crm/objects/{version}/contacts/gdpr-delete`).
//!
//! HubSpot deletes the contact and its associations for good and answers 204; an email no
//! contact has is blocklisted, and the call still succeeds
//! (<https://developers.hubspot.com/docs/api-reference/legacy/crm/objects/contacts/gdpr/gdpr-delete-contact.md>).
//! The reference does not say what an unknown id answers: 404 `OBJECT_NOT_FOUND` here. The
//! blocklist is logged ([`GdprDeletion::deleted_id`] `None`), not enforced on later writes,
//! since HubSpot documents no error for them.

use std::fmt;

use serde_json::Value;

use super::replies::{error_body, Reply};
use super::routes::not_found;
use super::state::{find_object, object_at, remove_object, unique_properties, FakeState};
use crate::redact;

/// One GDPR delete the fake received.
#[derive(Clone, PartialEq, Eq)]
pub struct GdprDeletion {
    /// The `objectId` sent: a contact id, or an email when `id_property` is `email`.
    pub object_id: String,
    /// The `idProperty` sent, if any.
    pub id_property: Option<String>,
    /// The id of the contact deleted; `None` when no contact matched (an email is then
    /// blocklisted).
    pub deleted_id: Option<String>,
}

impl fmt::Debug for GdprDeletion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GdprDeletion")
            .field("object_id", &redact(&self.object_id))
            .field("id_property", &self.id_property)
            .field("deleted_id", &self.deleted_id)
            .finish()
    }
}

/// `POST /crm/objects/{version}/contacts/gdpr-delete` with `{"objectId", "idProperty"?}`.
pub(super) fn gdpr_delete(state: &mut FakeState, body: &Value) -> Reply {
    let object_id = match body.get("objectId") {
        Some(Value::String(text)) => text.trim().to_owned(),
        Some(Value::Number(n)) => n.to_string(),
        _ => String::new(),
    };
    if object_id.is_empty() {
        return Reply::json(
            400,
            error_body(
                "Invalid input JSON: objectId is required",
                "VALIDATION_ERROR",
            ),
        );
    }
    let id_property = body
        .get("idProperty")
        .and_then(Value::as_str)
        .filter(|p| !p.is_empty() && *p != "hs_object_id")
        .map(str::to_owned);
    if let Some(p) = &id_property {
        if !unique_properties(state, "contacts").contains(p) {
            return Reply::json(
                400,
                error_body(
                    &format!("{p} is not a unique property and cannot be used as idProperty"),
                    "VALIDATION_ERROR",
                ),
            );
        }
    }
    let property = id_property.as_deref().unwrap_or("hs_object_id");
    let found = find_object(state, "contacts", property, &object_id)
        .and_then(|i| object_at(state, "contacts", i))
        .map(|o| o.id.to_string());
    if found.is_none() && property != "email" {
        return not_found();
    }
    if let Some(id) = &found {
        remove_object(state, "contacts", id);
    }
    state.gdpr_deletions.push(GdprDeletion {
        object_id,
        id_property,
        deleted_id: found,
    });
    Reply::json(204, Value::Null)
}
