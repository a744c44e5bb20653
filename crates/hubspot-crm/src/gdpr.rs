//! Permanently deleting a contact for a privacy request
//! (`POST /crm/objects/{version}/contacts/gdpr-delete`).
//!
//! The body is `{"objectId"}` (a contact id), or `{"objectId": email, "idProperty": "email"}`;
//! HubSpot answers 204 with no body. It deletes the contact and its associations for good
//! (no recycle bin, unlike [`Client::archive`](crate::Client::archive)); "if the email address
//! is not found, the email address will be added to a blocklist and prevent it from being
//! used in the future"
//! (<https://developers.hubspot.com/docs/api-reference/legacy/crm/objects/contacts/gdpr/gdpr-delete-contact.md>,
//! <https://developers.hubspot.com/changelog/changes-to-the-gdpr-deletion-endpoints-for-the-crm-contact-object-api>).
//! The reference does not say what an unknown *id* answers. Scope:
//! `crm.objects.contacts.write` ([`crate::scopes::GDPR_DELETE_SCOPES`]).

use reqwest::Method;
use serde::Serialize;

use crate::client::Call;
use crate::error::Error;
use crate::objects::{check_id, ObjectRef, ObjectType, Objects};

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct GdprDeleteInput<'a> {
    object_id: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    id_property: Option<&'a str>,
}

impl Objects {
    /// Permanently deletes the contact `target` (by id, or by email with
    /// [`ObjectRef::email`]) and its associations, as a GDPR erasure request asks.
    ///
    /// Only contacts have this endpoint: other types are rejected before sending
    /// ([`Error::InvalidInput`]). An email no contact has is blocklisted by HubSpot and the
    /// call still succeeds. Repeating it is harmless, so transient failures are retried; a
    /// repeat by id of a delete that went through may answer [`Error::NotFound`] (the
    /// reference does not say), which means the contact is gone: treat it as done.
    pub async fn gdpr_delete(&self, target: &ObjectRef) -> Result<(), Error> {
        if *self.object_type() != ObjectType::Contacts {
            return Err(Error::InvalidInput(format!(
                "HubSpot's GDPR delete exists for contacts only, not {}",
                self.object_type()
            )));
        }
        let (object_id, id_property) = target.parts();
        check_id(&object_id)?;
        let call = Call::new(
            Method::POST,
            "objects.gdpr_delete",
            self.path(&["gdpr-delete"]),
        )
        .json(&GdprDeleteInput {
            object_id: &object_id,
            id_property,
        })?;
        self.client()
            .execute::<serde::de::IgnoredAny>(call)
            .await
            .map(drop)
    }
}
