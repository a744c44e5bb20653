//! HubSpot's answer shapes: error bodies, batch envelopes, timestamps.

use serde_json::{json, Value};
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

pub(super) struct Reply {
    pub(super) status: u16,
    pub(super) body: Value,
    pub(super) headers: Vec<(&'static str, String)>,
}

impl Reply {
    pub(super) fn json(status: u16, body: Value) -> Self {
        Reply {
            status,
            body,
            headers: Vec::new(),
        }
    }
}

pub(super) fn correlation_id() -> String {
    let n: u128 = rand::random();
    let h = format!("{n:032x}");
    format!(
        "{}-{}-{}-{}-{}",
        &h[0..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    )
}

pub(super) fn error_body(message: &str, category: &str) -> Value {
    json!({
        "status": "error",
        "message": message,
        "correlationId": correlation_id(),
        "category": category,
    })
}

pub(super) fn unauthorized_body() -> Value {
    error_body(
        "Authentication credentials not found. This API supports OAuth 2.0 authentication and you can find more details at https://developers.hubspot.com/docs/methods/auth/oauth-overview",
        "INVALID_AUTHENTICATION",
    )
}

pub(super) fn missing_scopes_body(scopes: &[String]) -> Value {
    json!({
        "status": "error",
        "message": "This app hasn't been granted all required scopes to make this call. Read more about required scopes here: https://developers.hubspot.com/scopes.",
        "correlationId": correlation_id(),
        "errors": [{
            "message": "One or more of the following scopes are required.",
            "context": { "requiredGranularScopes": scopes }
        }],
        "links": { "scopes": "https://developers.hubspot.com/scopes" },
        "category": "MISSING_SCOPES"
    })
}

/// One invalid property value, rendered both in HubSpot's embedded-message form and as
/// `errors[]` with `context.propertyName`.
pub(super) struct Invalid {
    pub(super) code: &'static str,
    pub(super) name: String,
    pub(super) message: String,
}

pub(super) fn validation_body(invalid: &[Invalid]) -> Value {
    let embedded: Vec<Value> = invalid
        .iter()
        .map(|i| {
            json!({
                "isValid": false,
                "message": i.message,
                "error": i.code,
                "name": i.name,
                "localizedErrorMessage": i.message,
            })
        })
        .collect();
    let errors: Vec<Value> = invalid
        .iter()
        .map(|i| {
            json!({
                "message": i.message,
                "code": i.code,
                "context": { "propertyName": [i.name] }
            })
        })
        .collect();
    json!({
        "status": "error",
        "message": format!("Property values were not valid: {}", Value::Array(embedded)),
        "correlationId": correlation_id(),
        "category": "VALIDATION_ERROR",
        "errors": errors,
    })
}

pub(super) fn inputs_of(body: &Value) -> Result<Vec<Value>, Reply> {
    let inputs = body
        .get("inputs")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    if inputs.len() > 100 {
        return Err(Reply::json(
            400,
            error_body(
                &format!(
                    "Batch input size {} exceeds the maximum of 100",
                    inputs.len()
                ),
                "VALIDATION_ERROR",
            ),
        ));
    }
    Ok(inputs)
}

pub(super) fn batch_response(results: Vec<Value>, errors: Vec<Value>) -> Value {
    let now = format_time(OffsetDateTime::now_utc());
    let mut v = json!({
        "status": "COMPLETE",
        "results": results,
        "requestedAt": now,
        "startedAt": now,
        "completedAt": now,
    });
    if !errors.is_empty() {
        v["numErrors"] = json!(errors.len());
        v["errors"] = Value::Array(errors);
    }
    v
}

pub(super) fn format_time(time: OffsetDateTime) -> String {
    time.format(&Rfc3339).unwrap_or_default()
}
