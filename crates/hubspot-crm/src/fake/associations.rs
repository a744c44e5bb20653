//! Associations: default association types, single and batch.

use serde_json::{json, Value};

use super::replies::{batch_response, correlation_id, error_body, inputs_of, Reply};
use super::state::{find_object, FakeState};
use super::FakeAssociation;

/// The CRM object types the fake associates with each other.
const ASSOCIABLE: [&str; 4] = ["contacts", "companies", "deals", "line_items"];

/// The unlabeled HubSpot-defined type from `from` to `to` (what a default association
/// uses); `None` for a pair HubSpot does not associate by default (a line item with a
/// contact, for one). The ids are [`AssociationType`](crate::AssociationType)'s constants.
pub(super) fn default_type_id(from: &str, to: &str) -> Option<u32> {
    use crate::AssociationType as T;
    let ty = match (from, to) {
        ("deals", "contacts") => T::DEAL_TO_CONTACT,
        ("contacts", "deals") => T::CONTACT_TO_DEAL,
        ("contacts", "companies") => T::CONTACT_TO_COMPANY,
        ("companies", "contacts") => T::COMPANY_TO_CONTACT,
        ("deals", "companies") => T::DEAL_TO_COMPANY,
        ("companies", "deals") => T::COMPANY_TO_DEAL,
        ("line_items", "deals") => T::LINE_ITEM_TO_DEAL,
        ("deals", "line_items") => T::DEAL_TO_LINE_ITEM,
        _ => return None,
    };
    Some(ty.association_type_id)
}

/// The primary-company type from `from` to companies, which HubSpot accepts beside the
/// unlabeled one.
fn primary_type_id(from: &str, to: &str) -> Option<u32> {
    use crate::AssociationType as T;
    let ty = match (from, to) {
        ("contacts", "companies") => T::CONTACT_TO_PRIMARY_COMPANY,
        ("deals", "companies") => T::DEAL_TO_PRIMARY_COMPANY,
        _ => return None,
    };
    Some(ty.association_type_id)
}

/// The object type a HubSpot-defined `type_id` from `from` leads to; `None` when no type
/// from `from` has that id (HubSpot refuses such an inline association with a 400).
pub(super) fn target_type(from: &str, type_id: u64) -> Option<&'static str> {
    ASSOCIABLE.into_iter().find(|to| {
        [default_type_id(from, to), primary_type_id(from, to)]
            .into_iter()
            .flatten()
            .any(|id| u64::from(id) == type_id)
    })
}

pub(super) fn association_json(from_id: &str, to_id: &str, type_id: u32) -> Value {
    json!({
        "from": { "id": from_id },
        "to": { "id": to_id },
        "associationSpec": { "associationCategory": "HUBSPOT_DEFINED", "associationTypeId": type_id }
    })
}

pub(super) fn associate_pair(
    state: &mut FakeState,
    from: &str,
    from_id: &str,
    to: &str,
    to_id: &str,
) -> Result<Vec<Value>, Value> {
    let Some(type_id) = default_type_id(from, to) else {
        return Err(error_body(
            &format!("No default association type from {from} to {to}"),
            "VALIDATION_ERROR",
        ));
    };
    for (ty, id) in [(from, from_id), (to, to_id)] {
        if find_object(state, ty, "hs_object_id", id).is_none() {
            return Err(json!({
                "status": "error",
                "category": "OBJECT_NOT_FOUND",
                "message": format!("No {ty} with id {id} exists"),
                "context": { "ids": [id], "objectType": [ty] },
                "errors": [],
            }));
        }
    }
    state.associations.insert(FakeAssociation {
        from_type: from.to_owned(),
        from_id: from_id.to_owned(),
        to_type: to.to_owned(),
        to_id: to_id.to_owned(),
        type_id,
    });
    let back = default_type_id(to, from).unwrap_or(type_id);
    Ok(vec![
        association_json(from_id, to_id, type_id),
        association_json(to_id, from_id, back),
    ])
}

pub(super) fn associate_one(
    state: &mut FakeState,
    from: &str,
    from_id: &str,
    to: &str,
    to_id: &str,
) -> Reply {
    match associate_pair(state, from, from_id, to, to_id) {
        Ok(results) => Reply::json(200, batch_response(results, Vec::new())),
        Err(mut e) => {
            let status = if e["category"] == "OBJECT_NOT_FOUND" {
                404
            } else {
                400
            };
            e["correlationId"] = json!(correlation_id());
            Reply::json(status, e)
        }
    }
}

pub(super) fn associate_batch(state: &mut FakeState, from: &str, to: &str, body: &Value) -> Reply {
    let inputs = match inputs_of(body) {
        Ok(i) => i,
        Err(r) => return r,
    };
    if default_type_id(from, to).is_none() {
        return Reply::json(
            400,
            error_body(
                &format!("No default association type from {from} to {to}"),
                "VALIDATION_ERROR",
            ),
        );
    }
    let mut results = Vec::new();
    let mut errors = Vec::new();
    let id = |v: Option<&Value>| match v {
        Some(Value::String(text)) => text.clone(),
        Some(Value::Number(n)) => n.to_string(),
        _ => String::new(),
    };
    for input in &inputs {
        let from_id = id(input.pointer("/from/id"));
        let to_id = id(input.pointer("/to/id"));
        match associate_pair(state, from, &from_id, to, &to_id) {
            Ok(r) => results.extend(r),
            Err(e) => errors.push(e),
        }
    }
    let status = if errors.is_empty() { 200 } else { 207 };
    Reply::json(status, batch_response(results, errors))
}

/// `POST /crm/associations/{version}/{from}/{to}/batch/archive`: unlinks every
/// `inputs[].from.id` from each of its `inputs[].to[].id`, in both directions; 204, whether
/// or not they were linked.
pub(super) fn archive_batch(state: &mut FakeState, from: &str, to: &str, body: &Value) -> Reply {
    let inputs = match inputs_of(body) {
        Ok(i) => i,
        Err(r) => return r,
    };
    let id = |v: Option<&Value>| match v {
        Some(Value::String(text)) => text.clone(),
        Some(Value::Number(n)) => n.to_string(),
        _ => String::new(),
    };
    for input in &inputs {
        let from_id = id(input.pointer("/from/id"));
        let targets: Vec<String> = input
            .get("to")
            .and_then(Value::as_array)
            .map(|to| to.iter().map(|t| id(t.get("id"))).collect())
            .unwrap_or_default();
        state.associations.retain(|a| {
            let forward = a.from_type == from
                && a.from_id == from_id
                && a.to_type == to
                && targets.contains(&a.to_id);
            let backward = a.from_type == to
                && targets.contains(&a.from_id)
                && a.to_type == from
                && a.to_id == from_id;
            !(forward || backward)
        });
    }
    Reply::json(204, Value::Null)
}
