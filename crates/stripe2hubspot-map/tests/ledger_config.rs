//! The configuration the ledger adds: event types, lost stage, reporting currency, amount
//! basis, and the properties bootstrap must create.

use serde_json::json;
use stripe2hubspot_map::{
    AmountBasis, ConfigError, MappingConfig, PaymentStatus, DEFAULT_EVENT_TYPES,
    LEDGER_CONTACT_PROPERTIES, LEDGER_DEAL_PROPERTIES, SUPPORTED_EVENT_TYPES,
};

#[test]
fn defaults_handle_the_lifecycle_events_and_the_invoice_link() {
    let config = MappingConfig::default();
    assert_eq!(config.event_types, DEFAULT_EVENT_TYPES);
    for t in DEFAULT_EVENT_TYPES {
        assert!(config.handles(t), "{t}");
        assert!(SUPPORTED_EVENT_TYPES.contains(&t));
    }
    // The only link between an invoice and its PaymentIntent from API version 2025-03-31.
    assert!(config.handles("invoice_payment.paid"));
    assert_eq!(DEFAULT_EVENT_TYPES, SUPPORTED_EVENT_TYPES);
    assert_eq!(config.lost_deal_stage, "closedlost");
    assert_eq!(config.reporting_currency.iso_code(), "USD");
    assert_eq!(config.amount_basis, AmountBasis::Net);
    assert!(config.deal_currency_code);
}

#[test]
fn new_fields_load_from_json_and_are_validated() {
    let config = MappingConfig::from_json(
        r#"{"lost_deal_stage": "lost_1", "reporting_currency": "EUR", "amount_basis": "gross",
            "event_types": ["charge.refunded", "invoice_payment.paid"]}"#,
    )
    .unwrap();
    assert_eq!(config.reporting_currency.as_str(), "eur");
    assert_eq!(config.amount_basis, AmountBasis::Gross);
    assert!(config.handles("invoice_payment.paid"));

    let same = MappingConfig {
        lost_deal_stage: "closedwon".into(),
        ..MappingConfig::default()
    };
    assert!(matches!(
        same.validate(),
        Err(ConfigError::SameStages { .. })
    ));
    let empty = MappingConfig {
        lost_deal_stage: " ".into(),
        ..MappingConfig::default()
    };
    let err = empty.validate().unwrap_err();
    assert!(err.to_string().contains("`lost_deal_stage`"), "{err}");
    let err = MappingConfig::from_json(r#"{"reporting_currency": "dollars"}"#).unwrap_err();
    assert!(err.to_string().contains("currency"), "{err}");

    for name in LEDGER_DEAL_PROPERTIES {
        let mut config = MappingConfig::default();
        config.deal_metadata.insert("x".into(), name.into());
        assert!(
            matches!(config.validate(), Err(ConfigError::ReservedProperty { .. })),
            "{name}"
        );
    }
    for name in LEDGER_CONTACT_PROPERTIES {
        let mut config = MappingConfig::default();
        config.contact_constants.insert(name.into(), "1".into());
        assert!(
            matches!(config.validate(), Err(ConfigError::ReservedProperty { .. })),
            "{name}"
        );
    }
}

#[test]
fn bootstrap_creates_the_ledger_properties_with_status_options() {
    let (contact, deal) = MappingConfig::default().custom_properties();
    for name in LEDGER_CONTACT_PROPERTIES {
        assert!(contact.iter().any(|p| p.name == name), "{name}");
    }
    for name in LEDGER_DEAL_PROPERTIES {
        assert!(deal.iter().any(|p| p.name == name), "{name}");
    }
    let status = deal
        .iter()
        .find(|p| p.name == "stripe_payment_status")
        .unwrap();
    let body = serde_json::to_value(status).unwrap();
    assert_eq!(body["type"], "enumeration");
    assert_eq!(body["fieldType"], "select");
    assert_eq!(
        body["options"][5],
        json!({"label": "Dispute lost", "value": "dispute_lost", "displayOrder": 5, "hidden": false})
    );
    let values: Vec<&str> = status.options.iter().map(|o| o.value.as_str()).collect();
    let expected: Vec<&str> = PaymentStatus::ALL.iter().map(|s| s.as_str()).collect();
    assert_eq!(values, expected);
    let value = contact
        .iter()
        .find(|p| p.name == "stripe_lifetime_value")
        .unwrap();
    assert_eq!(
        (value.type_.as_str(), value.field_type.as_str()),
        ("number", "number")
    );
    let first = contact
        .iter()
        .find(|p| p.name == "stripe_first_payment_date")
        .unwrap();
    assert_eq!(first.type_, "datetime");
    // Properties without options serialize exactly as before.
    let refunded = deal
        .iter()
        .find(|p| p.name == "stripe_amount_refunded")
        .unwrap();
    assert!(serde_json::to_value(refunded)
        .unwrap()
        .get("options")
        .is_none());
}
