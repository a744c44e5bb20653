//! Merging two records (`POST /crm/objects/{version}/{type}/merge`), by the API or by a user.
//!
//! HubSpot's rules, as its changelog states them
//! (<https://developers.hubspot.com/changelog/updated-merge-functionality-for-contacts-and-companies>):
//! the merged record gets a **new id** (or, in the older behaviour, keeps the primary's:
//! [`merge_keeps_primary_id`](super::FakeHubSpotBuilder::merge_keeps_primary_id)); both
//! previous ids keep pointing to it, so reads and writes by either reach it; its values are
//! the primary's, filled from the other's; it holds the associations of both. The contact's
//! email is the primary's and the other's becomes an additional email
//! (<https://knowledge.hubspot.com/records/merge-records>); `hs_merged_object_ids` lists the
//! ids it replaced. Not modelled: property history, the primary-label priority of
//! associations, and an unknown id's exact answer (404 `OBJECT_NOT_FOUND` here).

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;

use super::objects::{known_type, object_json, unknown_type};
use super::replies::{error_body, Reply};
use super::routes::not_found;
use super::state::{find_object, insert_object, object_at, reindex, take_object, FakeState};
use crate::objects::MERGED_OBJECT_IDS;

/// Where a contact's other addresses are kept, as HubSpot names the property.
const ADDITIONAL_EMAILS: &str = "hs_additional_emails";

/// HubSpot's separator of multi-valued properties.
const SEPARATOR: char = ';';

/// `POST /crm/objects/{version}/{type}/merge` with `{"primaryObjectId", "objectIdToMerge"}`:
/// 200 with the merged record.
pub(super) fn merge(state: &mut FakeState, object_type: &str, body: &Value) -> Reply {
    if !known_type(object_type) {
        return unknown_type(object_type);
    }
    let field = |name: &str| match body.get(name) {
        Some(Value::String(text)) => text.trim().to_owned(),
        Some(Value::Number(n)) => n.to_string(),
        _ => String::new(),
    };
    let (primary, other) = (field("primaryObjectId"), field("objectIdToMerge"));
    if primary.is_empty() || other.is_empty() {
        return Reply::json(
            400,
            error_body(
                "Invalid input JSON: primaryObjectId and objectIdToMerge are required",
                "VALIDATION_ERROR",
            ),
        );
    }
    let merged = match merge_objects(state, object_type, &primary, &other) {
        Ok(i) => i,
        Err(reply) => return reply,
    };
    match object_at(state, object_type, merged) {
        Some(o) => Reply::json(200, object_json(o, None)),
        None => not_found(),
    }
}

/// Merges the record `other` into `primary` and returns the merged record's position.
pub(super) fn merge_objects(
    state: &mut FakeState,
    object_type: &str,
    primary: &str,
    other: &str,
) -> Result<usize, Reply> {
    let (Some(pi), Some(oi)) = (
        find_object(state, object_type, "hs_object_id", primary),
        find_object(state, object_type, "hs_object_id", other),
    ) else {
        return Err(not_found());
    };
    if pi == oi {
        return Err(Reply::json(
            400,
            error_body(
                "Cannot merge an object with itself: both ids name the same record",
                "VALIDATION_ERROR",
            ),
        ));
    }
    let (Some(p), Some(o)) = (
        object_at(state, object_type, pi).cloned(),
        object_at(state, object_type, oi).cloned(),
    ) else {
        return Err(not_found());
    };
    let mut properties = merged_properties(object_type, &p.properties, &o.properties);
    let replaced: Vec<u64> = if state.merge_keeps_primary_id {
        vec![o.id]
    } else {
        vec![p.id, o.id]
    };
    let mut merged_ids = listed(&p.properties, MERGED_OBJECT_IDS);
    merged_ids.extend(listed(&o.properties, MERGED_OBJECT_IDS));
    merged_ids.extend(replaced.iter().map(u64::to_string));
    properties.insert(MERGED_OBJECT_IDS.to_owned(), joined(merged_ids));

    // Take the replaced records out (the later position first, so the other stays put).
    for i in [pi.max(oi), pi.min(oi)] {
        let id = object_at(state, object_type, i).map(|x| x.id);
        if id.is_some_and(|id| replaced.contains(&id)) {
            take_object(state, object_type, i);
        }
    }
    let survivor = if state.merge_keeps_primary_id {
        let i = find_object(state, object_type, "hs_object_id", &p.id.to_string())
            .ok_or_else(not_found)?;
        if let Some(kept) = state
            .objects
            .get_mut(object_type)
            .and_then(|list| list.get_mut(i))
        {
            kept.properties = properties;
            kept.updated = time::OffsetDateTime::now_utc();
            kept.written_at = std::time::Instant::now();
        }
        reindex(state, object_type);
        p.id
    } else {
        let i = insert_object(state, object_type, properties);
        object_at(state, object_type, i)
            .map(|x| x.id)
            .ok_or_else(not_found)?
    };
    follow(state, object_type, &replaced, survivor);
    find_object(state, object_type, "hs_object_id", &survivor.to_string()).ok_or_else(not_found)
}

/// The merged record's values: the primary's, filled from the other's; for contacts the
/// other's emails become additional emails.
fn merged_properties(
    object_type: &str,
    primary: &BTreeMap<String, String>,
    other: &BTreeMap<String, String>,
) -> BTreeMap<String, String> {
    let mut merged = other.clone();
    for (name, value) in primary {
        if !value.is_empty() || !merged.contains_key(name) {
            merged.insert(name.clone(), value.clone());
        }
    }
    if object_type == "contacts" {
        let email = merged.get("email").cloned().unwrap_or_default();
        let mut additional = listed(primary, ADDITIONAL_EMAILS);
        additional.extend(listed(other, ADDITIONAL_EMAILS));
        additional.extend(other.get("email").filter(|e| !e.is_empty()).cloned());
        additional.remove(&email);
        if additional.is_empty() {
            merged.remove(ADDITIONAL_EMAILS);
        } else {
            merged.insert(ADDITIONAL_EMAILS.to_owned(), joined(additional));
        }
    }
    merged
}

/// Moves the replaced records' associations and aliases to the survivor, and makes each
/// replaced id an alias of it.
fn follow(state: &mut FakeState, object_type: &str, replaced: &[u64], survivor: u64) {
    let replaced_text: Vec<String> = replaced.iter().map(u64::to_string).collect();
    let survivor_text = survivor.to_string();
    let moved: BTreeSet<_> = std::mem::take(&mut state.associations)
        .into_iter()
        .map(|mut a| {
            if a.from_type == object_type && replaced_text.contains(&a.from_id) {
                a.from_id = survivor_text.clone();
            }
            if a.to_type == object_type && replaced_text.contains(&a.to_id) {
                a.to_id = survivor_text.clone();
            }
            a
        })
        .collect();
    state.associations = moved;
    let aliases = state.merged_into.entry(object_type.to_owned()).or_default();
    for target in aliases.values_mut() {
        if replaced.contains(target) {
            *target = survivor;
        }
    }
    for id in replaced {
        if *id != survivor {
            aliases.insert(*id, survivor);
        }
    }
}

fn listed(properties: &BTreeMap<String, String>, name: &str) -> BTreeSet<String> {
    properties
        .get(name)
        .map(|v| {
            v.split(SEPARATOR)
                .map(str::trim)
                .filter(|x| !x.is_empty())
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default()
}

fn joined(values: BTreeSet<String>) -> String {
    values
        .into_iter()
        .collect::<Vec<_>>()
        .join(&SEPARATOR.to_string())
}
