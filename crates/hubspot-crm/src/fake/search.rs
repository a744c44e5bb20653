//! Search: filters, paging, the search index lag.

use std::time::Instant;

use serde_json::{json, Value};

use super::objects::{known_type, object_json, unknown_type};
use super::replies::{error_body, Reply};
use super::state::{FakeState, StoredObject};

/// HubSpot's limit on a search body ("If the body of your request exceeds 3,000
/// characters, a 400 error will be returned").
const MAX_BODY_CHARS: usize = crate::MAX_SEARCH_BODY_CHARS;

pub(super) fn search(state: &mut FakeState, object_type: &str, body: &Value) -> Reply {
    if !known_type(object_type) {
        return unknown_type(object_type);
    }
    // Measured on the parsed body re-serialized compactly, as the client sends it.
    let chars = body.to_string().chars().count();
    if chars > MAX_BODY_CHARS {
        return Reply::json(
            400,
            error_body(
                &format!(
                    "Search request body of {chars} characters exceeds the maximum of {MAX_BODY_CHARS}"
                ),
                "VALIDATION_ERROR",
            ),
        );
    }
    let limit = body.get("limit").and_then(Value::as_u64).unwrap_or(10);
    if limit > 200 {
        return Reply::json(
            400,
            error_body("limit must be at most 200", "VALIDATION_ERROR"),
        );
    }
    let after: usize = match body.get("after") {
        Some(Value::String(a)) => a.parse().unwrap_or(0),
        Some(Value::Number(n)) => n
            .as_u64()
            .and_then(|n| usize::try_from(n).ok())
            .unwrap_or(0),
        _ => 0,
    };
    let groups = body
        .get("filterGroups")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let list_without_values = groups
        .iter()
        .filter_map(|g| g.get("filters").and_then(Value::as_array))
        .flatten()
        .find(|f| {
            matches!(
                f.get("operator").and_then(Value::as_str),
                Some("IN" | "NOT_IN")
            ) && f
                .get("values")
                .and_then(Value::as_array)
                .is_none_or(Vec::is_empty)
        });
    if let Some(f) = list_without_values {
        let name = f.get("propertyName").and_then(Value::as_str).unwrap_or("");
        return Reply::json(
            400,
            error_body(
                &format!("The IN filter on {name} needs a non-empty values array"),
                "VALIDATION_ERROR",
            ),
        );
    }
    let only: Option<Vec<String>> = body.get("properties").and_then(Value::as_array).map(|a| {
        a.iter()
            .filter_map(Value::as_str)
            .map(str::to_owned)
            .collect()
    });
    let lag = state.search_lag;
    let now = Instant::now();
    let matches: Vec<&StoredObject> = state
        .objects
        .get(object_type)
        .map(|v| v.as_slice())
        .unwrap_or_default()
        .iter()
        // Search is an index that catches up with writes after `lag`.
        .filter(|o| now.duration_since(o.written_at) >= lag)
        .filter(|o| {
            groups.is_empty()
                || groups.iter().any(|g| {
                    g.get("filters")
                        .and_then(Value::as_array)
                        .is_none_or(|fs| fs.iter().all(|f| filter_matches(o, f)))
                })
        })
        .collect();
    let total = matches.len();
    let page: Vec<Value> = matches
        .iter()
        .skip(after)
        .take(usize::try_from(limit).unwrap_or(10))
        .map(|o| {
            object_json(
                o,
                Some(
                    only.as_deref()
                        .unwrap_or(&default_search_properties(object_type)),
                ),
            )
        })
        .collect();
    let next = after + page.len();
    let mut v = json!({ "total": total, "results": page });
    if next < total {
        v["paging"] =
            json!({ "next": { "after": next.to_string(), "link": format!("?after={next}") } });
    }
    Reply::json(200, v)
}

pub(super) fn default_search_properties(object_type: &str) -> Vec<String> {
    let names: &[&str] = match object_type {
        "contacts" => &["email", "firstname", "lastname"],
        "deals" => &["dealname", "amount", "dealstage", "pipeline", "closedate"],
        "companies" => &["name", "domain"],
        "line_items" => &["name", "quantity", "price", "amount", "hs_product_id"],
        "products" => &["name", "price"],
        _ => &[],
    };
    names.iter().map(|name| (*name).to_owned()).collect()
}

pub(super) fn filter_matches(o: &StoredObject, f: &Value) -> bool {
    let name = f.get("propertyName").and_then(Value::as_str).unwrap_or("");
    let op = f.get("operator").and_then(Value::as_str).unwrap_or("EQ");
    let want = match f.get("value") {
        Some(Value::String(text)) => text.clone(),
        Some(Value::Null) | None => String::new(),
        Some(other) => other.to_string(),
    };
    let have = if name == "hs_object_id" {
        Some(o.id.to_string())
    } else {
        o.properties.get(name).cloned()
    };
    let eq = have
        .as_deref()
        .is_some_and(|h| h.eq_ignore_ascii_case(&want));
    // `IN` matches exactly against the lowercased stored value: HubSpot documents that its
    // values "must be lowercase", so an uppercase value in the list matches nothing.
    let listed = || {
        let wanted: Vec<&str> = f
            .get("values")
            .and_then(Value::as_array)
            .map(|vs| vs.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        have.as_deref()
            .map(str::to_lowercase)
            .is_some_and(|h| wanted.contains(&h.as_str()))
    };
    match op {
        "EQ" => eq,
        "NEQ" => !eq,
        "IN" => listed(),
        "NOT_IN" => !listed(),
        "HAS_PROPERTY" => have.is_some_and(|h| !h.is_empty()),
        "NOT_HAS_PROPERTY" => have.is_none_or(|h| h.is_empty()),
        _ => false,
    }
}
