//! Creates refused because a unique-value property (`hasUniqueValue`) already holds the value:
//! recognising HubSpot's answers, and a batch create that reports those inputs by value.
//!
//! HubSpot's answers, as recorded in public reports (no reference page documents them):
//!
//! - A create whose unique value exists is refused with **409, category `CONFLICT`**, naming
//!   the existing object's id in the message: `"Contact already exists. Existing ID: 37765128953"`
//!   (<https://github.com/HubSpot/hubspot-api-nodejs/issues/545>). Newer answers add
//!   `errors: [{"message": "A contact with email ... already exists. Existing ID: 2926551",
//!   "in": "email"}]` and category `OBJECT_ALREADY_EXISTS`
//!   (<https://community.hubspot.com/t5/APIs-Integrations/Updated-409-Conflict-responses/m-p/951534>).
//! - A **batch create** holding several such inputs is refused **as a whole**, and the answer
//!   names only the first conflicting object it met, not the others and not the value
//!   (<https://github.com/HubSpot/hubspot-api-python/issues/51>: "the error message only tells
//!   you the first one it encounters").
//! - For custom unique properties integrators report a **400** whose message reads
//!   `"propertyValue: already has that value <property>"` (a third-party client's test of its
//!   duplicate handling).
//!
//! Since an answer may name neither the value nor every conflicting input, and never their
//! position, [`Objects::batch_create_unique`] does not trust it to: on a refusal it reads the
//! batch's values back by the unique property (`batch/read` with `idProperty`), so every
//! conflicting input is found by the value it carries.

use std::collections::{BTreeMap, BTreeSet};

use crate::error::{existing_id as existing_id_in, BatchError, Error};
use crate::objects::{ObjectInput, Objects, SimplePublicObject};

/// A write refused because a unique-value property already holds the value on another object.
/// Each part is `None` when HubSpot's answer did not name it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UniqueConflict {
    /// The unique property, when named (`in`, `propertyName`, or the message).
    pub property: Option<String>,
    /// The conflicting value, when named (`context.ids`, `id`, or the message).
    pub value: Option<String>,
    /// The object that holds the value ("Existing ID: N").
    pub existing_id: Option<String>,
}

/// Whether a message says a unique value is taken, in any wording HubSpot is known to use.
fn says_taken(message: &str) -> bool {
    let m = message.to_ascii_lowercase();
    m.contains("already has that value") || m.contains("already exists")
}

/// "propertyValue: already has that value stripe_payment_id" -> "stripe_payment_id".
fn property_after_taken(message: &str) -> Option<String> {
    let (_, rest) = message.split_once("already has that value")?;
    let name: String = rest
        .trim_start_matches([' ', ':'])
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
        .collect();
    (!name.is_empty()).then_some(name)
}

impl Error {
    /// The unique-value conflict this error reports, if it is one: a 409 (`CONFLICT`,
    /// `OBJECT_ALREADY_EXISTS`), or a 400 saying a value "already has that value" or
    /// "already exists". A whole batch refused this way created nothing.
    pub fn unique_conflict(&self) -> Option<UniqueConflict> {
        let details = match self {
            Error::Conflict {
                existing_id,
                details,
            } => {
                let named = details.errors.iter().find(|e| says_taken(&e.message));
                return Some(UniqueConflict {
                    property: named.and_then(|e| e.in_.clone()),
                    value: None,
                    existing_id: existing_id
                        .clone()
                        .or_else(|| named.and_then(|e| existing_id_in(&e.message))),
                });
            }
            Error::Validation { details, .. } => details,
            _ => return None,
        };
        let texts = std::iter::once(details.message.as_str())
            .chain(details.errors.iter().map(|e| e.message.as_str()));
        let mut found = None;
        for text in texts {
            if says_taken(text) {
                found = Some(UniqueConflict {
                    property: property_after_taken(text),
                    value: None,
                    existing_id: existing_id_in(text),
                });
                break;
            }
        }
        let mut conflict = found?;
        if conflict.property.is_none() {
            conflict.property = details.errors.iter().find_map(|e| {
                e.context
                    .get("propertyName")
                    .and_then(|v| v.first())
                    .cloned()
            });
        }
        Some(conflict)
    }
}

impl BatchError {
    /// The unique-value conflict this per-input failure (of a 207 answer) reports, if it is
    /// one, with the value it names (`context.ids`, else `id`).
    pub fn unique_conflict(&self) -> Option<UniqueConflict> {
        let category = self.category.as_deref().unwrap_or_default();
        let is_conflict = matches!(category, "CONFLICT" | "OBJECT_ALREADY_EXISTS")
            || says_taken(&self.message)
            || self.errors.iter().any(|e| says_taken(&e.message));
        if !is_conflict {
            return None;
        }
        let texts = std::iter::once(self.message.as_str())
            .chain(self.errors.iter().map(|e| e.message.as_str()));
        let mut property = self.errors.iter().find_map(|e| e.in_.clone());
        let mut existing_id = None;
        for text in texts {
            property = property.or_else(|| property_after_taken(text));
            existing_id = existing_id.or_else(|| existing_id_in(text));
        }
        Some(UniqueConflict {
            property,
            value: self.ids().first().map(|v| (*v).to_owned()),
            existing_id,
        })
    }
}

/// The answer to [`Objects::batch_create_unique`], keyed by each input's value of the unique
/// property, never by position.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UniqueCreateResult {
    /// The objects this call created, by their unique value.
    pub created: BTreeMap<String, SimplePublicObject>,
    /// The inputs refused because an object already holds their value: value -> that object's
    /// id. Write these by upsert (and associate them) instead; never create them again.
    pub conflicts: BTreeMap<String, String>,
    /// Inputs that failed for another reason (a 207's other errors), as HubSpot named them.
    pub errors: Vec<BatchError>,
}

/// How many refused rounds one call sends at most: each round removes at least one
/// conflicting input, and a value taken between rounds (a concurrent writer) costs one more.
const MAX_ROUNDS: usize = 4;

impl Objects {
    /// Creates up to 100 objects that each carry a value of the unique property
    /// `id_property` (e.g. `stripe_payment_id`), reporting by that value which were created
    /// and which already exist, whether HubSpot refuses the whole batch (409, or 400 "already
    /// has that value") or answers 207 with per-input errors.
    ///
    /// On a refusal the batch's values are read back by `id_property` (`batch/read`): those
    /// found are [`UniqueCreateResult::conflicts`], with the id of the object holding them, and
    /// the rest are sent again, so one refused input does not hold the batch back. Inline
    /// associations of a conflicting input are not made: the caller associates it.
    ///
    /// An input without the property, or two inputs with one value, are rejected before
    /// anything is sent ([`Error::InvalidInput`]).
    pub async fn batch_create_unique(
        &self,
        id_property: &str,
        inputs: &[ObjectInput],
    ) -> Result<UniqueCreateResult, Error> {
        crate::objects::check_batch(inputs.len())?;
        let mut pending: BTreeMap<String, ObjectInput> = BTreeMap::new();
        for input in inputs {
            let value = input
                .properties
                .get(id_property)
                .map(|v| v.trim())
                .filter(|v| !v.is_empty())
                .ok_or_else(|| {
                    Error::InvalidInput(format!(
                        "an input has no value for the unique property {id_property}; give every input one"
                    ))
                })?;
            if pending.insert(value.to_owned(), input.clone()).is_some() {
                return Err(Error::InvalidInput(format!(
                    "two inputs carry the same {id_property}; HubSpot would refuse the second, merge them"
                )));
            }
        }
        let mut out = UniqueCreateResult::default();
        let mut refusal = None;
        for _ in 0..MAX_ROUNDS {
            if pending.is_empty() {
                break;
            }
            let batch: Vec<ObjectInput> = pending.values().cloned().collect();
            match self.batch_create(&batch).await {
                Ok(answer) => {
                    for object in answer.results {
                        if let Some(value) = object.property(id_property).map(str::to_owned) {
                            pending.remove(&value);
                            out.created.insert(value, object);
                        }
                    }
                    let mut unnamed_conflict = false;
                    for error in answer.errors {
                        match error.unique_conflict() {
                            Some(UniqueConflict {
                                value: Some(value),
                                existing_id: Some(id),
                                ..
                            }) if pending.remove(&value).is_some() => {
                                out.conflicts.insert(value, id);
                            }
                            Some(_) => unnamed_conflict = true,
                            None => {
                                for id in error.ids() {
                                    pending.remove(id);
                                }
                                out.errors.push(error);
                            }
                        }
                    }
                    if unnamed_conflict && !pending.is_empty() {
                        let values: Vec<String> = pending.keys().cloned().collect();
                        for (value, id) in self.holders(id_property, &values).await? {
                            pending.remove(&value);
                            out.conflicts.insert(value, id);
                        }
                    }
                    // What is still pending neither succeeded nor was named: report it rather
                    // than guess, so the caller retries it.
                    if !pending.is_empty() {
                        out.errors.push(BatchError {
                            status: "error".into(),
                            message: format!(
                                "HubSpot's answer named neither a result nor an error for {} input(s)",
                                pending.len()
                            ),
                            context: BTreeMap::from([(
                                "ids".to_owned(),
                                pending.keys().cloned().collect(),
                            )]),
                            ..BatchError::default()
                        });
                        pending.clear();
                    }
                    return Ok(out);
                }
                Err(error) => {
                    if error.unique_conflict().is_none() {
                        return Err(error);
                    }
                    let values: Vec<String> = pending.keys().cloned().collect();
                    let holders = self.holders(id_property, &values).await?;
                    if holders.is_empty() {
                        // Refused for a value no object holds by this property: reading
                        // again teaches nothing, so the refusal is the answer.
                        return Err(error);
                    }
                    for (value, id) in holders {
                        pending.remove(&value);
                        out.conflicts.insert(value, id);
                    }
                    refusal = Some(error);
                }
            }
        }
        match refusal {
            // Refused round after round (values taken by a concurrent writer each time).
            Some(error) if !pending.is_empty() => Err(error),
            _ => Ok(out),
        }
    }

    /// The objects holding any of `values` of the unique property: value -> object id.
    async fn holders(
        &self,
        id_property: &str,
        values: &[String],
    ) -> Result<BTreeMap<String, String>, Error> {
        let answer = self
            .batch_read(Some(id_property), values, &[id_property.to_owned()])
            .await?;
        let wanted: BTreeSet<&str> = values.iter().map(String::as_str).collect();
        Ok(answer
            .results
            .into_iter()
            .filter_map(|o| {
                let value = o.property(id_property)?.to_owned();
                wanted.contains(value.as_str()).then_some((value, o.id))
            })
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hubspot_wordings_are_recognised() {
        let body = br#"{"status":"error","message":"Deal already exists. Existing ID: 981","category":"CONFLICT"}"#;
        let c = Error::from_response(409, None, None, body).unique_conflict();
        assert_eq!(c.and_then(|c| c.existing_id).as_deref(), Some("981"));

        let body = br#"{"status":"error","message":"propertyValue: already has that value stripe_payment_id","category":"VALIDATION_ERROR"}"#;
        let c = Error::from_response(400, None, None, body)
            .unique_conflict()
            .unwrap_or_default();
        assert_eq!(c.property.as_deref(), Some("stripe_payment_id"));

        let body = br#"{"status":"error","message":"Property \"x\" does not exist","category":"VALIDATION_ERROR"}"#;
        assert_eq!(
            Error::from_response(400, None, None, body).unique_conflict(),
            None
        );
    }
}
