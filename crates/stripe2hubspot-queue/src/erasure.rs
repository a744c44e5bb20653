//! GDPR erasure: what [`erase_customer`](crate::SyncState::erase_customer) removes from the
//! stored rows and event payloads, as pure functions every backend applies in its one
//! transaction.

use std::fmt;

use serde_json::Value;
use stripe2hubspot_map::LedgerRow;

use crate::QueueError;

/// What [`erase_customer`](crate::SyncState::erase_customer) did. All zero and empty for a
/// customer the store does not know. Its `Debug` hides contact keys that hold an email.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Erasure {
    /// Payment rows whose email, name and phone were erased (their amounts and deals stay).
    pub payments: u64,
    /// Stored events (jobs not yet done: pending, retried, leased or dead) whose payloads were
    /// redacted.
    pub events: u64,
    /// The contact keys (as [`contact_key_of`](crate::contact_key_of) spells them) of the
    /// person's contact groups: the customer's own key, under which the erased payments are
    /// indexed now. Contact marks keyed by the person's emails are removed by the erasure.
    pub contact_keys: Vec<String>,
}

impl fmt::Debug for Erasure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let keys: Vec<&str> = self
            .contact_keys
            .iter()
            .map(|key| {
                if key.contains('@') {
                    "<redacted>"
                } else {
                    key.as_str()
                }
            })
            .collect();
        f.debug_struct("Erasure")
            .field("payments", &self.payments)
            .field("events", &self.events)
            .field("contact_keys", &keys)
            .finish()
    }
}

/// Fields of a Stripe object that hold personal data (removed wherever they appear): the
/// person's email, name, phone and addresses, and free text that often names them.
const PERSONAL_FIELDS: [&str; 12] = [
    "email",
    "name",
    "phone",
    "address",
    "billing_details",
    "customer_details",
    "customer_email",
    "customer_name",
    "customer_phone",
    "receipt_email",
    "shipping",
    "description",
];

/// Stripe objects whose `name` and `description` describe what was sold, not who bought it
/// (a subscription's plan names stay readable).
const CATALOGUE_OBJECTS: [&str; 5] = ["product", "price", "plan", "coupon", "promotion_code"];

/// The payload of a stored Stripe event with the person's data removed: every
/// personal field (email, name, phone, address, billing_details, customer_details,
/// customer_email, customer_name, customer_phone, receipt_email, shipping, description) at any
/// depth, except the name and description of catalogue objects (products, prices, plans,
/// coupons). Ids, amounts, currencies, statuses and times stay, so the payment still syncs. A
/// payload that is not JSON cannot be redacted field by field and becomes `{}`.
///
/// ```
/// let payload = br#"{"id":"evt_1","data":{"object":{"id":"ch_1","amount":500,
///     "billing_details":{"email":"ann@example.com"},"receipt_email":"ann@example.com"}}}"#;
/// let redacted = stripe2hubspot_queue::redact_personal(payload);
/// let text = String::from_utf8(redacted).unwrap();
/// assert!(!text.contains("ann@example.com"));
/// assert!(text.contains(r#""amount":500"#));
/// ```
pub fn redact_personal(payload: &[u8]) -> Vec<u8> {
    redact_payload(payload, &[])
}

/// [`redact_personal`], and every remaining string that contains one of `needles` (lowercase
/// emails, found case-insensitively) blanked, wherever it is (metadata, free text).
pub(crate) fn redact_payload(payload: &[u8], needles: &[String]) -> Vec<u8> {
    let Ok(mut value) = serde_json::from_slice::<Value>(payload) else {
        return b"{}".to_vec();
    };
    remove_personal(&mut value);
    scrub(&mut value, needles);
    serde_json::to_vec(&value).unwrap_or_else(|_| b"{}".to_vec())
}

fn remove_personal(value: &mut Value) {
    match value {
        Value::Object(map) => {
            let catalogue = map
                .get("object")
                .and_then(Value::as_str)
                .is_some_and(|object| CATALOGUE_OBJECTS.contains(&object));
            map.retain(|key, _| {
                let describes_goods = catalogue && (key == "name" || key == "description");
                describes_goods || !PERSONAL_FIELDS.contains(&key.as_str())
            });
            map.values_mut().for_each(remove_personal);
        }
        Value::Array(items) => items.iter_mut().for_each(remove_personal),
        _ => {}
    }
}

/// Blanks every string containing one of `needles` (case-insensitively).
fn scrub(value: &mut Value, needles: &[String]) {
    match value {
        Value::String(text) if mentions(text.as_bytes(), needles) => text.clear(),
        Value::Object(map) => map.values_mut().for_each(|v| scrub(v, needles)),
        Value::Array(items) => items.iter_mut().for_each(|v| scrub(v, needles)),
        _ => {}
    }
}

/// Whether `haystack` contains one of `needles` (lowercase), ignoring ASCII case.
pub(crate) fn mentions(haystack: &[u8], needles: &[String]) -> bool {
    let lower = haystack.to_ascii_lowercase();
    needles.iter().any(|needle| {
        let needle = needle.as_bytes();
        !needle.is_empty() && lower.windows(needle.len()).any(|window| window == needle)
    })
}

/// Every email address a stored row (customer or payment, as JSON) holds under a field named
/// like an email, lowercased: what an erasure must remove from every table. Read from the JSON
/// so that contact data a deletion hides (but the row keeps, to order later events) counts too.
pub(crate) fn emails_in(json: &Value) -> Vec<String> {
    fn strings(value: &Value, out: &mut Vec<String>) {
        match value {
            Value::String(text) if text.contains('@') => out.push(text.trim().to_lowercase()),
            Value::Object(map) => map.values().for_each(|v| strings(v, out)),
            Value::Array(items) => items.iter().for_each(|v| strings(v, out)),
            _ => {}
        }
    }
    fn walk(value: &Value, out: &mut Vec<String>) {
        match value {
            Value::Object(map) => {
                for (key, value) in map {
                    if key.contains("email") {
                        strings(value, out);
                    } else {
                        walk(value, out);
                    }
                }
            }
            Value::Array(items) => items.iter().for_each(|v| walk(v, out)),
            _ => {}
        }
    }
    let mut out = Vec::new();
    walk(json, &mut out);
    out.sort();
    out.dedup();
    out
}

/// A stored row (payment or customer) as JSON, for [`emails_in`].
pub(crate) fn row_json<T: serde::Serialize>(row: &T) -> Result<Value, QueueError> {
    serde_json::to_value(row).map_err(|e| QueueError::Corrupt {
        message: format!("a stored row could not be serialized: {e}"),
    })
}

/// Whether a stored event payload names the customer `customer_id` (as a JSON string, so
/// `cus_1` does not match `cus_12`) or mentions one of the person's `emails`.
pub(crate) fn names_person(payload: &[u8], customer_id: &str, emails: &[String]) -> bool {
    let quoted = format!("\"{customer_id}\"");
    let quoted = quoted.as_bytes();
    payload.windows(quoted.len()).any(|window| window == quoted) || mentions(payload, emails)
}

/// The payment row without the person: email, name and phone gone, and any other text that
/// mentions one of `needles` (the person's emails) blanked. Ids, amounts and stamps stay.
pub(crate) fn erase_payment(row: &LedgerRow, needles: &[String]) -> Result<LedgerRow, QueueError> {
    let mut json = row_json(row)?;
    if let Value::Object(map) = &mut json {
        for field in ["email", "name", "phone"] {
            map.insert(field.to_owned(), Value::Null);
        }
    }
    scrub(&mut json, needles);
    serde_json::from_value(json).map_err(|e| QueueError::Corrupt {
        message: format!("an erased ledger row could not be read back: {e}"),
    })
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn redacted(value: Value) -> Value {
        let bytes = redact_personal(&serde_json::to_vec(&value).expect("json"));
        serde_json::from_slice(&bytes).expect("redacted json")
    }

    #[test]
    fn personal_fields_go_at_any_depth_and_ids_amounts_statuses_stay() {
        let event = json!({
            "id": "evt_1", "type": "charge.succeeded", "created": 1_700_000_000,
            "data": {"object": {
                "id": "ch_1", "object": "charge", "amount": 4900, "currency": "usd",
                "status": "succeeded", "customer": "cus_1", "description": "Order for Ann",
                "receipt_email": "ann@example.com",
                "billing_details": {"email": "ann@example.com", "name": "Ann Lee",
                    "phone": "+1 555", "address": {"city": "Paris"}},
                "shipping": {"name": "Ann Lee"},
                "refunds": {"data": [{"id": "re_1", "amount": 100,
                    "customer_details": {"email": "ann@example.com"}}]},
                "customer_email": "ann@example.com", "customer_name": "Ann Lee",
                "customer_phone": "+1 555",
            }}
        });
        let out = redacted(event);
        let text = out.to_string();
        for gone in [
            "ann@example.com",
            "Ann Lee",
            "+1 555",
            "Paris",
            "Order for Ann",
        ] {
            assert!(!text.contains(gone), "{gone} still in {text}");
        }
        let charge = &out["data"]["object"];
        assert_eq!(charge["id"], "ch_1");
        assert_eq!(charge["amount"], 4900);
        assert_eq!(charge["currency"], "usd");
        assert_eq!(charge["status"], "succeeded");
        assert_eq!(charge["customer"], "cus_1");
        assert_eq!(charge["refunds"]["data"][0]["amount"], 100);
        assert_eq!(out["created"], 1_700_000_000);
    }

    #[test]
    fn catalogue_names_stay_and_a_customer_name_goes() {
        let out = redacted(json!({"data": {"object": {
            "object": "subscription", "customer": {"object": "customer", "name": "Ann"},
            "items": {"data": [{"price": {"object": "price", "nickname": "Pro",
                "product": {"object": "product", "name": "Pro plan", "description": "All"}}}]}
        }}}));
        let product = &out["data"]["object"]["items"]["data"][0]["price"]["product"];
        assert_eq!(product["name"], "Pro plan");
        assert_eq!(product["description"], "All");
        assert!(out["data"]["object"]["customer"].get("name").is_none());
    }

    #[test]
    fn a_payload_that_is_not_json_keeps_nothing() {
        assert_eq!(redact_personal(b"ann@example.com \xff"), b"{}");
    }

    #[test]
    fn other_mentions_of_the_email_are_blanked_whatever_their_case() {
        let payload = json!({"metadata": {"contact": "Write to ANN@example.com"}, "id": "x"});
        let bytes = redact_payload(
            &serde_json::to_vec(&payload).expect("json"),
            &["ann@example.com".to_owned()],
        );
        let out: Value = serde_json::from_slice(&bytes).expect("json");
        assert_eq!(out["metadata"]["contact"], "");
        assert_eq!(out["id"], "x");
    }

    #[test]
    fn emails_are_found_under_email_fields_only() {
        let json = json!({"contact": {"value": {"email": "ann@example.com", "name": "a@b"}},
            "payment_contact": {"stamp": {"event_id": "evt_1"}, "value": {"email": "Old@Example.com"}},
            "note": "x@y.z"});
        assert_eq!(emails_in(&json), ["ann@example.com", "old@example.com"]);
    }

    #[test]
    fn the_erasure_report_hides_email_keys() {
        let erasure = Erasure {
            payments: 1,
            events: 2,
            contact_keys: vec!["customer=cus_1".into(), "email=ann@example.com".into()],
        };
        let text = format!("{erasure:?}");
        assert!(text.contains("customer=cus_1") && !text.contains("ann@"));
    }
}
