//! Batch update by id (`POST /crm/objects/{version}/{type}/batch/update`).
//!
//! Values are validated as for upserts (one invalid value or broken rule rejects the batch
//! with a 400). Then each input is written or refused on its own, and a refusal makes the
//! answer a 207, as HubSpot documents for batch updates
//! (<https://developers.hubspot.com/changelog/simplifying-batch-update-response-codes-for-crm-v3-apis>):
//! an id no record has is `OBJECT_NOT_FOUND` "resource not found"; a unique value (a
//! contact's email) another record holds is `CONFLICT` "Contact already exists. Existing ID:
//! N", HubSpot's wording for that refusal
//! (<https://github.com/stape-io/hubspot-tag/issues/7>). A merged-away id writes the record
//! it was merged into, whose id the result carries.

use std::collections::BTreeSet;

use serde_json::{json, Value};

use super::objects::{
    after_write, check_properties, conflict_message, known_type, object_json, properties_of,
    unknown_type,
};
use super::replies::{batch_response, error_body, inputs_of, validation_body, Reply};
use super::state::{
    find_object, merge_properties, object_at, unique_clash, unique_properties, FakeState,
};
use super::validation_rules::{broken_rules, rule_violation_body};
use crate::{normalize_email, ApiVersion};

struct Prepared {
    id_property: String,
    id: String,
    properties: std::collections::BTreeMap<String, String>,
    trace_id: Option<String>,
}

pub(super) fn batch_update(
    state: &mut FakeState,
    version: ApiVersion,
    object_type: &str,
    body: &Value,
) -> Reply {
    if !known_type(object_type) {
        return unknown_type(object_type);
    }
    let inputs = match inputs_of(body) {
        Ok(i) => i,
        Err(r) => return r,
    };
    let uniques = unique_properties(state, object_type);
    let mut prepared = Vec::new();
    let mut invalid = Vec::new();
    let mut breaks = Vec::new();
    let mut seen = BTreeSet::new();
    let mut dups = Vec::new();
    for input in &inputs {
        let id_property = input
            .get("idProperty")
            .and_then(Value::as_str)
            .unwrap_or("hs_object_id")
            .to_owned();
        if id_property != "hs_object_id" && !uniques.contains(&id_property) {
            return Reply::json(
                400,
                error_body(
                    &format!(
                        "Unable to perform update/upsert by non-unique {} property {id_property}",
                        object_type
                    ),
                    "VALIDATION_ERROR",
                ),
            );
        }
        let mut id = match input.get("id") {
            Some(Value::String(text)) => text.trim().to_owned(),
            Some(Value::Number(n)) => n.to_string(),
            _ => String::new(),
        };
        if id_property == "email" {
            id = normalize_email(&id);
        }
        let mut properties = match properties_of(input) {
            Ok(p) => p,
            Err(r) => return r,
        };
        invalid.extend(check_properties(state, object_type, &mut properties));
        if let Some(existing) = find_object(state, object_type, &id_property, &id) {
            let after = after_write(state, object_type, Some(existing), &properties);
            breaks.extend(broken_rules(state, version, object_type, &after, Some(&id)));
        }
        if !seen.insert((id_property.clone(), id.clone())) {
            dups.push(id.clone());
        }
        let trace_id = input
            .get("objectWriteTraceId")
            .and_then(Value::as_str)
            .map(str::to_owned);
        prepared.push(Prepared {
            id_property,
            id,
            properties,
            trace_id,
        });
    }
    if !dups.is_empty() {
        return Reply::json(
            400,
            error_body(
                &format!(
                    "Duplicate IDs found in batch input: [{}]. IDs must be unique",
                    dups.join(", ")
                ),
                "VALIDATION_ERROR",
            ),
        );
    }
    if !invalid.is_empty() {
        return Reply::json(400, validation_body(&invalid));
    }
    if !breaks.is_empty() {
        return Reply::json(400, rule_violation_body(&breaks));
    }
    let mut results = Vec::new();
    let mut errors = Vec::new();
    for input in prepared {
        let Some(i) = find_object(state, object_type, &input.id_property, &input.id) else {
            errors.push(json!({
                "status": "error",
                "category": "OBJECT_NOT_FOUND",
                "message": "resource not found",
                "context": { "ids": [input.id] },
                "errors": [],
            }));
            continue;
        };
        let own = object_at(state, object_type, i).map(|o| o.id);
        if let Some(other) = unique_clash(state, object_type, &input.properties, own) {
            errors.push(json!({
                "status": "error",
                "category": "CONFLICT",
                "message": conflict_message(object_type, other),
                "context": { "ids": [input.id] },
                "errors": [],
            }));
            continue;
        }
        merge_properties(state, object_type, i, input.properties);
        if let Some(o) = object_at(state, object_type, i) {
            let mut j = object_json(o, None);
            if let Some(trace_id) = &input.trace_id {
                j["objectWriteTraceId"] = json!(trace_id);
            }
            results.push(j);
        }
    }
    let status = if errors.is_empty() { 200 } else { 207 };
    Reply::json(status, batch_response(results, errors))
}
