//! Merging two objects of one type (`POST /crm/objects/{version}/{type}/merge`).
//!
//! The body is `{"primaryObjectId", "objectIdToMerge"}` and the answer the merged object
//! (<https://developers.hubspot.com/docs/api-reference/legacy/crm/objects/contacts/merge-contacts.md>,
//! <https://developers.hubspot.com/docs/api-reference/crm-custom-objects-v3/basic/post-crm-v3-objects-objectType-merge>).
//! A merge cannot be undone. For contacts and companies HubSpot makes the merged record with a
//! **new id**; both previous ids keep pointing to it (reads by either return it), its values
//! are the primary's, filled from the other's, and it holds the associations of both
//! (<https://developers.hubspot.com/changelog/updated-merge-functionality-for-contacts-and-companies>).
//! The contact's email is the primary's; the other's is kept as an additional email
//! (<https://knowledge.hubspot.com/records/merge-records>). Scope: `crm.objects.{type}.write`
//! ([`crate::scopes::MERGE_CONTACTS_SCOPES`]).

use reqwest::Method;
use serde::Serialize;

use crate::client::Call;
use crate::error::Error;
use crate::objects::{check_id, Objects, SimplePublicObject};

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct MergeInput<'a> {
    primary_object_id: &'a str,
    object_id_to_merge: &'a str,
}

impl Objects {
    /// Merges the object `id_to_merge` into `primary_id` and returns the merged object.
    ///
    /// Record [`SimplePublicObject::id`] of the answer: for contacts and companies it is a
    /// new id, not `primary_id` (the old ids still answer reads). Merging an object with
    /// itself is rejected before sending ([`Error::InvalidInput`]); an unknown id fails with
    /// HubSpot's error ([`Error::NotFound`] or [`Error::Validation`]). Never retried after a
    /// 5xx or a timeout, since HubSpot may have merged: read the primary id to see.
    pub async fn merge(
        &self,
        primary_id: &str,
        id_to_merge: &str,
    ) -> Result<SimplePublicObject, Error> {
        let (primary_id, id_to_merge) = (primary_id.trim(), id_to_merge.trim());
        check_id(primary_id)?;
        check_id(id_to_merge)?;
        if primary_id == id_to_merge {
            return Err(Error::InvalidInput(format!(
                "cannot merge the object {primary_id} with itself; name two different objects"
            )));
        }
        let mut call =
            Call::new(Method::POST, "objects.merge", self.path(&["merge"])).json(&MergeInput {
                primary_object_id: primary_id,
                object_id_to_merge: id_to_merge,
            })?;
        // A merge creates the merged record: a repeat after an unknown outcome is not safe.
        call.creates = true;
        Ok(self.client().execute(call).await?.body)
    }
}
