//! Personal data (emails, names, phones, and free text that may hold them) never reaches a
//! `Debug` output of the mapping's types, while the stored JSON and the HubSpot values keep it.

use serde_json::json;
use stripe2hubspot_map::{
    contact_properties, deal_properties, facts_from_event, ContactKey, Facts, FactsOutcome,
    LedgerRow, MappingConfig, PropertyKind, PropertySet, PropertyValue,
};

const EMAIL: &str = "tony@starkindustries.com";
const NAME: &str = "Tony Stark";
const PHONE: &str = "+1 555 0100";
/// Free text that names the payer: metadata, a description, a receipt page.
const SECRETS: [&str; 6] = [
    EMAIL,
    NAME,
    PHONE,
    "tony@",
    "Stark",
    "pay.stripe.com/receipts",
];

fn config() -> MappingConfig {
    let mut config = MappingConfig::default();
    config
        .deal_metadata
        .insert("buyer".into(), "buyer_email".into());
    config
        .contact_metadata
        .insert("buyer".into(), "buyer".into());
    config
}

fn facts() -> Facts {
    let event = serde_json::from_value(json!({
        "id": "evt_1", "object": "event", "type": "charge.succeeded", "created": 1_700_000_000,
        "data": {"object": {
            "id": "ch_1", "object": "charge", "amount": 1000, "amount_captured": 1000,
            "currency": "usd", "status": "succeeded", "captured": true,
            "created": 1_700_000_000, "payment_intent": "pi_1", "customer": "cus_1",
            "description": format!("Suit repair for {NAME} <{EMAIL}>"),
            "receipt_url": "https://pay.stripe.com/receipts/acct_1/ch_1/rcpt_1",
            "billing_details": {"email": EMAIL, "name": NAME, "phone": PHONE},
            "metadata": {"buyer": EMAIL, "note": format!("call {PHONE}")}
        }}
    }))
    .unwrap();
    match facts_from_event(&event, &config()).unwrap() {
        FactsOutcome::Facts(facts) => *facts,
        FactsOutcome::Skip(reason) => panic!("skipped: {reason}"),
    }
}

/// The types (with what they show) whose `Debug` shows personal data.
fn leaks<'a>(outputs: &[(&'a str, String)]) -> Vec<(&'a str, &'static str)> {
    outputs
        .iter()
        .flat_map(|(what, debug)| {
            SECRETS
                .into_iter()
                .filter(|secret| debug.contains(secret))
                .map(move |secret| (*what, secret))
        })
        .collect()
}

#[test]
fn no_type_shows_personal_data_in_debug() {
    let config = config();
    let facts = facts();
    let row = LedgerRow::from_facts(&facts);
    let deal = deal_properties(&row, &config).expect("a settled payment");
    let contact = contact_properties(std::slice::from_ref(&row), &config).expect("a contact");
    let key = row.contact_key(&config).expect("an email");
    let value = PropertyValue {
        value: EMAIL.into(),
        kind: PropertyKind::Core,
        last_charge: false,
    };

    let mut outputs = vec![
        ("Facts", format!("{facts:?} {facts:#?}")),
        ("LedgerRow", format!("{row:?} {row:#?}")),
        ("deal PropertySet", format!("{deal:?}")),
        ("contact PropertySet", format!("{contact:?}")),
        ("ContactKey", format!("{key:?}")),
        ("PropertyValue", format!("{value:?}")),
    ];
    for (name, value) in &contact {
        outputs.push((name.as_str(), format!("{value:?}")));
    }
    let leaks = leaks(&outputs);
    assert!(leaks.is_empty(), "Debug shows personal data: {leaks:?}");

    // What is not personal stays readable, so the output still helps.
    let deal_debug = format!("{deal:?}");
    assert!(deal_debug.contains("\"10.00\""), "{deal_debug}");
    assert!(deal_debug.contains("stripe_payment_id"), "{deal_debug}");
    assert!(
        deal_debug.contains("buyer_email"),
        "names are shown: {deal_debug}"
    );
    let row_debug = format!("{row:?}");
    assert!(
        row_debug.contains("pi_1") && row_debug.contains("\"buyer\""),
        "{row_debug}"
    );
    let by_customer = ContactKey::StripeCustomerId {
        property: "stripe_customer_id".into(),
        id: "cus_1".into(),
    };
    assert!(format!("{by_customer:?}").contains("cus_1"));
}

#[test]
fn the_store_and_hubspot_still_get_the_values() {
    let config = config();
    let row = LedgerRow::from_facts(&facts());
    let json = serde_json::to_string(&row).unwrap();
    assert!(json.contains(EMAIL) && json.contains(NAME) && json.contains(PHONE));
    let deal = deal_properties(&row, &config).unwrap();
    assert_eq!(deal.get("buyer_email"), Some(EMAIL));
    let contact: PropertySet = contact_properties(&[row], &config).unwrap();
    assert_eq!(contact.get("email"), Some(EMAIL));
    assert_eq!(contact.get("firstname"), Some("Tony"));
    assert_eq!(contact.get("phone"), Some(PHONE));
}
