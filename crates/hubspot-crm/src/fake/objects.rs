//! Object writes and reads: create, get, update, batch upsert and batch create.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{json, Value};

use super::associations::target_type;
use super::faults::default_failure_body;
use super::replies::{
    batch_response, error_body, format_time, inputs_of, validation_body, Invalid, Reply,
};
use super::state::{
    find_object, insert_object, locate, merge_properties, object_at, unique_clash,
    unique_properties, FakeState, StoredObject,
};
use super::validation_rules::{broken_rules, rule_violation_body};
use super::FakeAssociation;
use crate::{normalize_email, ApiVersion};

// ---------------------------------------------------------------------------------------
// Objects

pub(super) fn known_type(object_type: &str) -> bool {
    matches!(
        object_type,
        "contacts" | "deals" | "companies" | "line_items" | "products"
    )
}

pub(super) fn unknown_type(object_type: &str) -> Reply {
    Reply::json(
        400,
        error_body(
            &format!("Unable to infer object type from: {object_type}"),
            "VALIDATION_ERROR",
        ),
    )
}

pub(super) fn properties_of(v: &Value) -> Result<BTreeMap<String, String>, Reply> {
    match v.get("properties") {
        None | Some(Value::Null) => Ok(BTreeMap::new()),
        Some(Value::Object(m)) => Ok(m
            .iter()
            .map(|(k, v)| {
                let v = match v {
                    Value::String(text) => text.clone(),
                    Value::Null => String::new(),
                    other => other.to_string(),
                };
                (k.clone(), v)
            })
            .collect()),
        Some(_) => Err(Reply::json(
            400,
            error_body(
                "Invalid input JSON: properties must be an object",
                "VALIDATION_ERROR",
            ),
        )),
    }
}

pub(super) fn email_is_valid(e: &str) -> bool {
    let Some((local, domain)) = e.split_once('@') else {
        return false;
    };
    !local.is_empty()
        && !domain.is_empty()
        && !domain.contains('@')
        && domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && !domain.contains("..")
        && !e.chars().any(char::is_whitespace)
}

/// Validates (and normalizes) property values against the registry.
pub(super) fn check_properties(
    state: &FakeState,
    object_type: &str,
    props: &mut BTreeMap<String, String>,
) -> Vec<Invalid> {
    let mut out = Vec::new();
    let registry = state.registry.get(object_type);
    for (name, value) in props.iter_mut() {
        let Some(def) = registry.and_then(|r| r.get(name)) else {
            out.push(Invalid {
                code: "PROPERTY_DOESNT_EXIST",
                name: name.clone(),
                message: format!("Property \"{name}\" does not exist"),
            });
            continue;
        };
        if object_type == "contacts" && name == "email" {
            *value = normalize_email(value);
            if !value.is_empty() && !email_is_valid(value) {
                out.push(Invalid {
                    code: "INVALID_EMAIL",
                    name: name.clone(),
                    message: format!("Email address {value} is invalid"),
                });
            }
            continue;
        }
        if object_type == "line_items"
            && name == "hs_product_id"
            && !value.is_empty()
            && find_object(state, "products", "hs_object_id", value).is_none()
        {
            // A line item names a product of the library by its record id
            // (<https://developers.hubspot.com/docs/methods/line-items/line-items-overview>);
            // HubSpot refuses a line item whose product does not exist.
            out.push(Invalid {
                code: "INVALID_PRODUCT_ID",
                name: name.clone(),
                message: format!("Product with id {value} does not exist"),
            });
            continue;
        }
        let c = &def.create;
        if c.type_ == "enumeration"
            && !value.is_empty()
            && !c.options.iter().any(|o| o.value == *value)
        {
            let allowed: Vec<&str> = c.options.iter().map(|o| o.value.as_str()).collect();
            out.push(Invalid {
                code: "INVALID_OPTION",
                name: name.clone(),
                message: format!(
                    "{value} was not one of the allowed options: [{}]",
                    allowed.join(", ")
                ),
            });
        }
    }
    out
}

/// HubSpot's words for a unique value another record holds: "Contact already exists.
/// Existing ID: N".
pub(super) fn conflict_message(object_type: &str, id: u64) -> String {
    let what = match object_type {
        "contacts" => "Contact",
        "deals" => "Deal",
        "companies" => "Company",
        "line_items" => "Line item",
        "products" => "Product",
        _ => "Object",
    };
    format!("{what} already exists. Existing ID: {id}")
}

pub(super) fn conflict(object_type: &str, id: u64) -> Reply {
    Reply::json(
        409,
        error_body(&conflict_message(object_type, id), "CONFLICT"),
    )
}

pub(super) fn object_json(o: &StoredObject, only: Option<&[String]>) -> Value {
    let mut props = serde_json::Map::new();
    match only {
        Some(names) => {
            for n in names {
                props.insert(
                    n.clone(),
                    o.properties.get(n).map_or(Value::Null, |v| json!(v)),
                );
            }
        }
        None => {
            for (k, v) in &o.properties {
                props.insert(k.clone(), json!(v));
            }
        }
    }
    props.insert("hs_object_id".into(), json!(o.id.to_string()));
    props.insert("createdate".into(), json!(format_time(o.created)));
    props.insert("lastmodifieddate".into(), json!(format_time(o.updated)));
    json!({
        "id": o.id.to_string(),
        "properties": props,
        "createdAt": format_time(o.created),
        "updatedAt": format_time(o.updated),
        "archived": false,
    })
}

/// Parses inline associations; `Err` when a target is missing or the type is unknown.
pub(super) fn inline_associations(
    state: &FakeState,
    object_type: &str,
    v: &Value,
) -> Result<Vec<(&'static str, String, u32)>, Reply> {
    let mut out = Vec::new();
    let Some(list) = v.get("associations").and_then(Value::as_array) else {
        return Ok(out);
    };
    for a in list {
        let to_id = a
            .pointer("/to/id")
            .map(|v| match v {
                Value::String(text) => text.clone(),
                other => other.to_string(),
            })
            .unwrap_or_default();
        let types = a
            .get("types")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        for ty in types {
            let type_id = ty
                .get("associationTypeId")
                .and_then(Value::as_u64)
                .unwrap_or(0);
            let Some(to_type) = target_type(object_type, type_id) else {
                return Err(Reply::json(
                    400,
                    error_body(
                        &format!("Invalid association type {type_id} from {object_type}"),
                        "VALIDATION_ERROR",
                    ),
                ));
            };
            if find_object(state, to_type, "hs_object_id", &to_id).is_none() {
                return Err(Reply::json(
                    400,
                    error_body(
                        &format!("One or more associations are invalid: {to_type} {to_id} does not exist"),
                        "VALIDATION_ERROR",
                    ),
                ));
            }
            out.push((to_type, to_id.clone(), u32::try_from(type_id).unwrap_or(0)));
        }
    }
    Ok(out)
}

pub(super) fn create(
    state: &mut FakeState,
    version: ApiVersion,
    object_type: &str,
    body: &Value,
) -> Reply {
    if !known_type(object_type) {
        return unknown_type(object_type);
    }
    let mut props = match properties_of(body) {
        Ok(p) => p,
        Err(r) => return r,
    };
    let invalid = check_properties(state, object_type, &mut props);
    if !invalid.is_empty() {
        return Reply::json(400, validation_body(&invalid));
    }
    let breaks = broken_rules(state, version, object_type, &props, None);
    if !breaks.is_empty() {
        return Reply::json(400, rule_violation_body(&breaks));
    }
    if let Some(id) = unique_clash(state, object_type, &props, None) {
        return conflict(object_type, id);
    }
    let assocs = match inline_associations(state, object_type, body) {
        Ok(a) => a,
        Err(r) => return r,
    };
    let i = insert_object(state, object_type, props);
    let Some(o) = object_at(state, object_type, i) else {
        return Reply::json(500, default_failure_body(500));
    };
    let (id, json) = (o.id.to_string(), object_json(o, None));
    for (to_type, to_id, type_id) in assocs {
        state.associations.insert(FakeAssociation {
            from_type: object_type.to_owned(),
            from_id: id.clone(),
            to_type: to_type.to_owned(),
            to_id,
            type_id,
        });
    }
    Reply::json(201, json)
}

pub(super) fn get(
    state: &mut FakeState,
    object_type: &str,
    id: &str,
    q: &BTreeMap<String, String>,
) -> Reply {
    if !known_type(object_type) {
        return unknown_type(object_type);
    }
    let Some(o) = locate(state, object_type, id, q).and_then(|i| object_at(state, object_type, i))
    else {
        return Reply::json(404, error_body("resource not found", "OBJECT_NOT_FOUND"));
    };
    let only: Option<Vec<String>> = q.get("properties").map(|p| {
        p.split(',')
            .filter(|x| !x.is_empty())
            .map(str::to_owned)
            .collect()
    });
    Reply::json(200, object_json(o, only.as_deref()))
}

pub(super) fn update(
    state: &mut FakeState,
    version: ApiVersion,
    object_type: &str,
    id: &str,
    q: &BTreeMap<String, String>,
    body: &Value,
) -> Reply {
    if !known_type(object_type) {
        return unknown_type(object_type);
    }
    let Some(i) = locate(state, object_type, id, q) else {
        return Reply::json(404, error_body("resource not found", "OBJECT_NOT_FOUND"));
    };
    let mut props = match properties_of(body) {
        Ok(p) => p,
        Err(r) => return r,
    };
    let invalid = check_properties(state, object_type, &mut props);
    if !invalid.is_empty() {
        return Reply::json(400, validation_body(&invalid));
    }
    let breaks = broken_rules(
        state,
        version,
        object_type,
        &after_write(state, object_type, Some(i), &props),
        None,
    );
    if !breaks.is_empty() {
        return Reply::json(400, rule_violation_body(&breaks));
    }
    let own = object_at(state, object_type, i).map(|o| o.id);
    if let Some(other) = unique_clash(state, object_type, &props, own) {
        return conflict(object_type, other);
    }
    merge_properties(state, object_type, i, props);
    match object_at(state, object_type, i) {
        Some(o) => Reply::json(200, object_json(o, None)),
        None => Reply::json(500, default_failure_body(500)),
    }
}

pub(super) fn batch_upsert(
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
        let id_prop = input
            .get("idProperty")
            .and_then(Value::as_str)
            .unwrap_or("hs_object_id")
            .to_owned();
        if id_prop != "hs_object_id" && !uniques.contains(&id_prop) {
            return Reply::json(
                400,
                error_body(
                    &format!("{id_prop} is not a unique property and cannot be used as idProperty"),
                    "VALIDATION_ERROR",
                ),
            );
        }
        let mut id = match input.get("id") {
            Some(Value::String(text)) => text.clone(),
            Some(Value::Number(n)) => n.to_string(),
            _ => String::new(),
        };
        if id_prop == "email" {
            id = normalize_email(&id);
        }
        let mut props = match properties_of(input) {
            Ok(p) => p,
            Err(r) => return r,
        };
        if id_prop != "hs_object_id" {
            props.insert(id_prop.clone(), id.clone());
        }
        invalid.extend(check_properties(state, object_type, &mut props));
        let existing = find_object(state, object_type, &id_prop, &id);
        let after = after_write(state, object_type, existing, &props);
        breaks.extend(broken_rules(state, version, object_type, &after, Some(&id)));
        if !seen.insert((id_prop.clone(), id.clone())) {
            dups.push(id.clone());
        }
        let trace_id = input
            .get("objectWriteTraceId")
            .and_then(Value::as_str)
            .map(str::to_owned);
        prepared.push((id_prop, id, props, trace_id));
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
    // Like an invalid value, one broken rule rejects the whole batch.
    if !breaks.is_empty() {
        return Reply::json(400, rule_violation_body(&breaks));
    }
    let mut results = Vec::new();
    let mut errors = Vec::new();
    for (id_prop, id, props, trace_id) in prepared {
        match find_object(state, object_type, &id_prop, &id) {
            Some(i) => {
                merge_properties(state, object_type, i, props);
                if let Some(o) = object_at(state, object_type, i) {
                    let mut j = object_json(o, None);
                    j["new"] = json!(false);
                    if let Some(trace_id) = &trace_id {
                        j["objectWriteTraceId"] = json!(trace_id);
                    }
                    results.push(j);
                }
            }
            None if id_prop == "hs_object_id" => errors.push(json!({
                "status": "error",
                "category": "OBJECT_NOT_FOUND",
                "message": format!("Could not find object with id {id}"),
                "context": { "ids": [id] },
                "errors": [],
            })),
            None => {
                if let Some(other) = unique_clash(state, object_type, &props, None) {
                    errors.push(json!({
                        "status": "error",
                        "category": "CONFLICT",
                        "message": format!("Object already exists. Existing ID: {other}"),
                        "context": { "ids": [id] },
                        "errors": [],
                    }));
                    continue;
                }
                let i = insert_object(state, object_type, props);
                if let Some(o) = object_at(state, object_type, i) {
                    let mut j = object_json(o, None);
                    j["new"] = json!(true);
                    if let Some(trace_id) = &trace_id {
                        j["objectWriteTraceId"] = json!(trace_id);
                    }
                    results.push(j);
                }
            }
        }
    }
    let status = if errors.is_empty() { 200 } else { 207 };
    Reply::json(status, batch_response(results, errors))
}

pub(super) fn batch_read(state: &mut FakeState, object_type: &str, body: &Value) -> Reply {
    if !known_type(object_type) {
        return unknown_type(object_type);
    }
    let inputs = match inputs_of(body) {
        Ok(i) => i,
        Err(r) => return r,
    };
    let id_prop = body
        .get("idProperty")
        .and_then(Value::as_str)
        .unwrap_or("hs_object_id")
        .to_owned();
    if id_prop != "hs_object_id" && !unique_properties(state, object_type).contains(&id_prop) {
        return Reply::json(
            400,
            error_body(
                &format!("{id_prop} is not a unique property and cannot be used as idProperty"),
                "VALIDATION_ERROR",
            ),
        );
    }
    let only: Vec<String> = body
        .get("properties")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default();
    let mut results = Vec::new();
    let mut missing = Vec::new();
    for input in &inputs {
        let id = match input.get("id") {
            Some(Value::String(text)) => text.clone(),
            Some(Value::Number(n)) => n.to_string(),
            _ => String::new(),
        };
        match find_object(state, object_type, &id_prop, &id)
            .and_then(|i| object_at(state, object_type, i))
        {
            Some(o) => results.push(object_json(o, Some(&only))),
            None => missing.push(id),
        }
    }
    // HubSpot answers unknown ids with one OBJECT_NOT_FOUND error listing them all.
    let errors = if missing.is_empty() {
        Vec::new()
    } else {
        vec![json!({
            "status": "error",
            "category": "OBJECT_NOT_FOUND",
            "message": "Could not get some objects, they may be deleted or not exist.",
            "context": { "ids": missing },
            "errors": [],
        })]
    };
    let status = if errors.is_empty() { 200 } else { 207 };
    Reply::json(status, batch_response(results, errors))
}

pub(super) fn batch_create(
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
    let mut prepared = Vec::new();
    let mut invalid = Vec::new();
    let mut breaks = Vec::new();
    for input in &inputs {
        let mut props = match properties_of(input) {
            Ok(p) => p,
            Err(r) => return r,
        };
        invalid.extend(check_properties(state, object_type, &mut props));
        breaks.extend(broken_rules(state, version, object_type, &props, None));
        let assocs = match inline_associations(state, object_type, input) {
            Ok(a) => a,
            Err(r) => return r,
        };
        prepared.push((props, assocs));
    }
    if !invalid.is_empty() {
        return Reply::json(400, validation_body(&invalid));
    }
    if !breaks.is_empty() {
        return Reply::json(400, rule_violation_body(&breaks));
    }
    // Two inputs with one unique value would clash with each other once the first is
    // stored: refuse the batch before anything is created, as for any invalid input.
    let uniques = unique_properties(state, object_type);
    let mut seen = BTreeSet::new();
    let mut dups = Vec::new();
    for (props, _) in &prepared {
        for p in &uniques {
            if let Some(v) = props.get(p).filter(|v| !v.is_empty()) {
                if !seen.insert((p.as_str(), v.as_str())) {
                    dups.push(p.clone());
                }
            }
        }
    }
    if !dups.is_empty() {
        return Reply::json(
            400,
            error_body(
                &format!(
                    "Duplicate values of unique properties found in batch input: [{}]. Values must be unique",
                    dups.join(", ")
                ),
                "VALIDATION_ERROR",
            ),
        );
    }
    // HubSpot rejects the whole batch when one input clashes with an existing object.
    for (props, _) in &prepared {
        if let Some(id) = unique_clash(state, object_type, props, None) {
            return conflict(object_type, id);
        }
    }
    let mut results = Vec::new();
    for (props, assocs) in prepared {
        if let Some(id) = unique_clash(state, object_type, &props, None) {
            return conflict(object_type, id);
        }
        let i = insert_object(state, object_type, props);
        let Some(o) = object_at(state, object_type, i) else {
            continue;
        };
        let id = o.id.to_string();
        results.push(object_json(o, None));
        for (to_type, to_id, type_id) in assocs {
            state.associations.insert(FakeAssociation {
                from_type: object_type.to_owned(),
                from_id: id.clone(),
                to_type: to_type.to_owned(),
                to_id,
                type_id,
            });
        }
    }
    Reply::json(201, batch_response(results, Vec::new()))
}

/// The properties an object has once `written` is merged into it (`None`: a new object).
pub(super) fn after_write(
    state: &FakeState,
    object_type: &str,
    existing: Option<usize>,
    written: &BTreeMap<String, String>,
) -> BTreeMap<String, String> {
    let mut after = existing
        .and_then(|i| object_at(state, object_type, i))
        .map(|o| o.properties.clone())
        .unwrap_or_default();
    after.extend(written.iter().map(|(k, v)| (k.clone(), v.clone())));
    after
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails_are_checked() {
        for ok in ["a@b.co", "first.last+tag@example.co.uk"] {
            assert!(email_is_valid(ok), "{ok}");
        }
        for bad in [
            "", "ab", "a@", "@b.co", "a@b", "a@@b.co", "a@.b.co", "a@b..co", "a b@c.de",
        ] {
            assert!(!email_is_valid(bad), "{bad}");
        }
    }
}
