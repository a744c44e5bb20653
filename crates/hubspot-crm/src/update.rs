//! Writing objects HubSpot already holds, by their id: batch update, and recognising the
//! refusals a caller must handle (a unique value taken by another object, an id that no
//! longer exists).

use std::collections::{BTreeMap, BTreeSet};

use reqwest::Method;
use serde::Serialize;

use crate::client::Call;
use crate::error::{BatchError, Error};
use crate::objects::{check_batch, check_id, normalize_email_property, Objects, RawBatch};
use crate::objects::{BatchResult, SimplePublicObject};
use crate::unique::UniqueConflict;

/// One input of a batch update: the object `id` gets these property values (an empty
/// string clears a value).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct UpdateInput {
    /// The HubSpot object id.
    pub id: String,
    /// Property values to write.
    pub properties: BTreeMap<String, String>,
    /// A caller-chosen tag HubSpot echoes on this input's result
    /// ([`SimplePublicObject::object_write_trace_id`]), since results come back in any order
    /// and a merged-away id answers with the merged record's id.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub object_write_trace_id: Option<String>,
}

impl UpdateInput {
    /// Updates the object `id` with `properties`.
    ///
    /// ```
    /// use hubspot_crm::UpdateInput;
    /// let input = UpdateInput::new("512", Default::default())
    ///     .property("stripe_mrr", "49.00")
    ///     .trace_id("cus_123");
    /// assert_eq!(input.properties["stripe_mrr"], "49.00");
    /// ```
    pub fn new(id: impl Into<String>, properties: BTreeMap<String, String>) -> Self {
        UpdateInput {
            id: id.into(),
            properties,
            object_write_trace_id: None,
        }
    }

    /// Sets one property.
    pub fn property(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.properties.insert(name.into(), value.into());
        self
    }

    /// Tags the input so its result can be matched to it.
    pub fn trace_id(mut self, trace_id: impl Into<String>) -> Self {
        self.object_write_trace_id = Some(trace_id.into());
        self
    }
}

/// Why HubSpot refused to write an object, for the refusals a caller handles rather than
/// retries: the same write fails again until the caller changes what it sends.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum UpdateRefusal {
    /// A unique value in the write (a contact's `email`, a unique custom property) already
    /// belongs to another object, named by [`UniqueConflict::existing_id`] when HubSpot says.
    /// Send the input without that value, or merge the two objects. In a 207 answer
    /// [`UniqueConflict::value`] is what HubSpot echoes in `context.ids`: the input's object
    /// id, not the taken value.
    Taken(UniqueConflict),
    /// No object has the id: it was deleted (a merged-away id is followed by HubSpot, see
    /// [`Objects::batch_update`]). Create the object again.
    NotFound,
}

/// Whether an answer says an object does not exist, in the wordings HubSpot uses: category
/// `OBJECT_NOT_FOUND`, or "resource not found" / "could not find" / "not exist" in the message.
fn says_not_found(category: Option<&str>, message: &str) -> bool {
    if category == Some("OBJECT_NOT_FOUND") {
        return true;
    }
    let m = message.to_ascii_lowercase();
    m.contains("resource not found") || m.contains("could not find") || m.contains("not exist")
}

impl BatchError {
    /// The refusal this per-input failure (of a 207 answer) reports, if it is one; the inputs
    /// it concerns are [`BatchError::ids`].
    pub fn update_refusal(&self) -> Option<UpdateRefusal> {
        if let Some(conflict) = self.unique_conflict() {
            return Some(UpdateRefusal::Taken(conflict));
        }
        says_not_found(self.category.as_deref(), &self.message).then_some(UpdateRefusal::NotFound)
    }
}

impl Error {
    /// The refusal this whole-request error reports, if it is one: a unique value taken
    /// (409 `CONFLICT`, or a 400 saying the value exists) or an object that does not exist
    /// (404). A batch refused this way wrote nothing.
    pub fn update_refusal(&self) -> Option<UpdateRefusal> {
        if let Some(conflict) = self.unique_conflict() {
            return Some(UpdateRefusal::Taken(conflict));
        }
        match self {
            Error::NotFound { .. } => Some(UpdateRefusal::NotFound),
            _ => None,
        }
    }
}

#[derive(Serialize)]
struct Inputs<'a> {
    inputs: &'a [UpdateInput],
}

impl Objects {
    /// Updates up to 100 objects by id in one request
    /// (`POST /crm/objects/{version}/{type}/batch/update`).
    ///
    /// `POST /crm/objects/{version}/{type}/batch/update` takes
    /// `{"inputs": [{"id", "properties", "idProperty"?, "objectWriteTraceId"?}]}` and answers the
    /// batch envelope (`status`, `results[]` of objects, `errors[]`)
    /// (<https://developers.hubspot.com/docs/api-reference/legacy/crm/objects/contacts/batch/update-contacts>,
    /// <https://developers.hubspot.com/docs/api-reference/2026-03/crm/objects/contacts/batch/update-contacts.md>):
    /// 200 when every input succeeded, **207 when one or more failed**
    /// (<https://developers.hubspot.com/changelog/simplifying-batch-update-response-codes-for-crm-v3-apis>).
    /// Invalid values reject the whole batch with a 400, as for every write.
    ///
    /// What the reference does not say, and how this crate reads it:
    /// - **A unique value taken by another object.** HubSpot answers a contact update whose email
    ///   another contact holds with 409 `CONFLICT`, "Contact already exists. Existing ID: N"
    ///   (<https://github.com/stape-io/hubspot-tag/issues/7>); newer answers say "A contact with
    ///   email ... already exists. Existing ID: N" (see [`UniqueConflict`]). Whether a batch
    ///   update reports it per input (207) or refuses the whole batch (409) is not documented:
    ///   [`UpdateRefusal`] recognises both, from [`BatchError::update_refusal`] and
    ///   [`Error::update_refusal`].
    /// - **An id that does not exist** (deleted): a per-input `OBJECT_NOT_FOUND` error (as
    ///   `batch/read` answers), or a whole-request 404 "resource not found"; both are
    ///   [`UpdateRefusal::NotFound`].
    /// - **A merged-away id.** Since HubSpot's merge change, merging contacts or companies makes
    ///   a record with a **new id**, and "both of the previous IDs will point to the resulting
    ///   merged record, so fetching any records using the original IDs will return the new merged
    ///   record with the new ID"
    ///   (<https://developers.hubspot.com/changelog/updated-merge-functionality-for-contacts-and-companies>).
    ///   That is said of reads; for updates by an old id the reference says nothing. The fake
    ///   applies them to the merged record, whose result carries the new id: match results to
    ///   inputs by [`UpdateInput::trace_id`] (echoed as
    ///   [`SimplePublicObject::object_write_trace_id`]) or by
    ///   [`SimplePublicObject::answers_id`], never by the id sent.
    ///
    /// A 207 answer is `Ok` with [`BatchResult::errors`]; [`BatchError::update_refusal`] tells
    /// which inputs write a value another object holds and which name no object. A 400
    /// (HubSpot rejects the whole batch for one bad value) is [`Error::Validation`]; a whole
    /// batch refused for a taken value or a missing object is recognised by
    /// [`Error::update_refusal`]. Two inputs with one id are rejected before sending
    /// ([`Error::InvalidInput`]).
    pub async fn batch_update(
        &self,
        inputs: &[UpdateInput],
    ) -> Result<BatchResult<SimplePublicObject>, Error> {
        check_batch(inputs.len())?;
        let mut inputs = inputs.to_vec();
        let mut seen = BTreeSet::new();
        for input in &mut inputs {
            input.id = input.id.trim().to_owned();
            check_id(&input.id)?;
            normalize_email_property(self.object_type(), &mut input.properties);
            if !seen.insert(input.id.clone()) {
                return Err(Error::InvalidInput(format!(
                    "the batch updates the object {} twice; HubSpot rejects duplicate ids, merge the inputs",
                    input.id
                )));
            }
        }
        let call = Call::new(
            Method::POST,
            "objects.batch_update",
            self.path(&["batch", "update"]),
        )
        .json(&Inputs { inputs: &inputs })?;
        let answer = self
            .client()
            .execute::<RawBatch<SimplePublicObject>>(call)
            .await?;
        Ok(answer.body.into_result(answer.status))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn batch_error(json: serde_json::Value) -> BatchError {
        serde_json::from_value(json).unwrap_or_default()
    }

    #[test]
    fn per_input_refusals_are_typed() {
        let taken = batch_error(serde_json::json!({
            "status": "error", "category": "CONFLICT",
            "message": "Contact already exists. Existing ID: 4021",
            "context": {"ids": ["512"]}
        }));
        match taken.update_refusal() {
            Some(UpdateRefusal::Taken(c)) => assert_eq!(c.existing_id.as_deref(), Some("4021")),
            other => panic!("unexpected {other:?}"),
        }
        for gone in [
            serde_json::json!({"status": "error", "category": "OBJECT_NOT_FOUND", "message": "x"}),
            serde_json::json!({"status": "error", "message": "resource not found"}),
            serde_json::json!({"status": "error", "message": "Could not find object with id 9"}),
        ] {
            assert_eq!(
                batch_error(gone).update_refusal(),
                Some(UpdateRefusal::NotFound)
            );
        }
        let other = batch_error(serde_json::json!({
            "status": "error", "category": "VALIDATION_ERROR", "message": "Property values were not valid"
        }));
        assert_eq!(other.update_refusal(), None);
    }

    #[test]
    fn whole_request_refusals_are_typed() {
        let body = br#"{"status":"error","message":"Contact already exists. Existing ID: 77","category":"CONFLICT"}"#;
        match Error::from_response(409, None, None, body).update_refusal() {
            Some(UpdateRefusal::Taken(c)) => assert_eq!(c.existing_id.as_deref(), Some("77")),
            other => panic!("unexpected {other:?}"),
        }
        let body =
            br#"{"status":"error","message":"resource not found","category":"OBJECT_NOT_FOUND"}"#;
        assert_eq!(
            Error::from_response(404, None, None, body).update_refusal(),
            Some(UpdateRefusal::NotFound)
        );
        let body = br#"{"status":"error","message":"boom"}"#;
        assert_eq!(
            Error::from_response(500, None, None, body).update_refusal(),
            None
        );
    }
}
