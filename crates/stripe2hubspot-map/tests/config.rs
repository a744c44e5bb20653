//! The mapping configuration: defaults, loading from JSON, validation (every error names its
//! field), and the custom properties bootstrap must create.

use serde_json::json;
use stripe2hubspot_map::{
    AmountBasis, ConfigError, ContactKeySource, MappingConfig, PaymentStatus, DEFAULT_EVENT_TYPES,
    LEDGER_CONTACT_PROPERTIES, LEDGER_DEAL_PROPERTIES, SUPPORTED_EVENT_TYPES,
};

fn invalid(config: MappingConfig) -> ConfigError {
    config.validate().unwrap_err()
}

#[test]
fn invalid_configurations_name_the_field() {
    let mut config = MappingConfig::default();
    config
        .contact_metadata
        .insert("company".into(), String::new());
    let err = invalid(config);
    assert_eq!(
        err,
        ConfigError::Empty {
            field: "contact_metadata[\"company\"]".into()
        }
    );
    assert!(err.to_string().contains("contact_metadata[\"company\"]"));

    let mut config = MappingConfig::default();
    config
        .contact_constants
        .insert("Lead Status".into(), "NEW".into());
    assert!(
        matches!(invalid(config), ConfigError::InvalidPropertyName { field, .. } if field == "contact_constants")
    );

    let config = MappingConfig {
        contact_key: ContactKeySource::StripeCustomerId,
        customer_id_property: None,
        ..MappingConfig::default()
    };
    let err = invalid(config);
    assert!(err.to_string().contains("`customer_id_property`"), "{err}");

    let config = MappingConfig {
        email_sources: vec![],
        ..MappingConfig::default()
    };
    assert!(invalid(config).to_string().contains("`email_sources`"));

    let config = MappingConfig {
        event_types: vec!["customer.source.created".into()],
        ..MappingConfig::default()
    };
    assert!(invalid(config).to_string().contains("event_types[0]"));
    let config = MappingConfig {
        event_types: vec![],
        ..MappingConfig::default()
    };
    assert!(invalid(config).to_string().contains("event_types"));

    let config = MappingConfig {
        deal_name_template: "Deal {price}".into(),
        ..MappingConfig::default()
    };
    assert!(invalid(config).to_string().contains("deal_name_template"));

    let config = MappingConfig {
        pipeline: " ".into(),
        ..MappingConfig::default()
    };
    assert_eq!(
        invalid(config),
        ConfigError::Empty {
            field: "pipeline".into()
        }
    );

    let mut config = MappingConfig::default();
    config
        .deal_constants
        .insert("stripe_payment_id".into(), "x".into());
    assert!(matches!(
        invalid(config),
        ConfigError::ReservedProperty { .. }
    ));

    let mut config = MappingConfig::default();
    config
        .contact_metadata
        .insert("org".into(), "company".into());
    assert!(
        matches!(invalid(config), ConfigError::DuplicateTarget { name, .. } if name == "company")
    );

    let mut config = MappingConfig::default();
    config
        .contact_metadata
        .insert("mail".into(), "email".into());
    assert!(matches!(
        invalid(config),
        ConfigError::ReservedProperty { .. }
    ));
}

#[test]
fn config_loads_from_partial_json_and_rejects_unknown_fields() {
    let config = MappingConfig::from_json(
        r#"{"contact_key": "stripe_customer_id", "contact_constants": {"hs_lead_status": "NEW"},
            "name_split": "first_word_is_first_name", "event_types": ["charge.succeeded"]}"#,
    )
    .unwrap();
    assert_eq!(config.contact_key, ContactKeySource::StripeCustomerId);
    assert_eq!(config.pipeline, "default");
    assert!(config.handles("charge.succeeded"));
    assert!(!config.handles("payment_intent.succeeded"));

    let err = MappingConfig::from_json(r#"{"pipline": "x"}"#).unwrap_err();
    assert!(err.to_string().contains("pipline"), "{err}");
    let err = MappingConfig::from_json(r#"{"pipeline": ""}"#).unwrap_err();
    assert_eq!(
        err,
        ConfigError::Empty {
            field: "pipeline".into()
        }
    );

    let seed = MappingConfig::with_closed_won_lead_status();
    let json = serde_json::to_string(&seed).unwrap();
    assert_eq!(MappingConfig::from_json(&json).unwrap(), seed);
}

#[test]
fn custom_properties_describe_what_bootstrap_creates() {
    let (contact, deal) = MappingConfig::with_closed_won_lead_status().custom_properties();
    let names: Vec<&str> = contact.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "last_charge_amount",
            "last_charge_currency",
            "last_charge_date",
            "last_charge_id",
            "last_charge_receipt",
            "stripe_active_subscriptions",
            "stripe_arr",
            "stripe_cancel_at_date",
            "stripe_churn_date",
            "stripe_customer_id",
            "stripe_first_payment_date",
            "stripe_last_payment_date",
            "stripe_lifetime_value",
            "stripe_lifetime_value_currency",
            "stripe_mrr",
            "stripe_mrr_currency",
            "stripe_next_renewal_date",
            "stripe_payment_count",
            "stripe_plan",
            "stripe_subscription_status",
            "stripe_trial_end_date",
        ]
    );
    let find = |name: &str| contact.iter().find(|p| p.name == name).unwrap();
    assert_eq!(find("last_charge_amount").type_, "number");
    assert_eq!(find("last_charge_date").type_, "datetime");
    assert_eq!(find("last_charge_date").field_type, "date");
    assert!(!find("stripe_customer_id").has_unique_value);
    let deal_names: Vec<&str> = deal.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(
        deal_names,
        [
            "stripe_amount_currency",
            "stripe_amount_refunded",
            "stripe_billing_reason",
            "stripe_invoice_id",
            "stripe_payment_id",
            "stripe_payment_status",
            "stripe_subscription_id",
        ]
    );
    let payment_id = deal.iter().find(|p| p.name == "stripe_payment_id").unwrap();
    assert!(payment_id.has_unique_value);
    assert_eq!(deal.iter().filter(|p| p.has_unique_value).count(), 1);
    assert_eq!(
        serde_json::to_value(payment_id).unwrap(),
        json!({
            "name": "stripe_payment_id", "label": "Stripe payment ID", "type": "string",
            "fieldType": "text", "groupName": "dealinformation", "hasUniqueValue": true,
            "description": "The Stripe payment intent (pi_...) or charge (ch_...) this deal records."
        })
    );

    let keyed = MappingConfig {
        contact_key: ContactKeySource::StripeCustomerId,
        customer_id_property: Some("stripe_cus".into()),
        ..MappingConfig::default()
    };
    let (contact, _) = keyed.custom_properties();
    assert!(contact
        .iter()
        .any(|p| p.name == "stripe_cus" && p.has_unique_value));
}

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
    // Each contact's own currency unless one is configured.
    assert_eq!(config.reporting_currency, None);
    assert!(config.subscriptions);
    assert_eq!(config.amount_basis, AmountBasis::Net);
    assert!(config.deal_currency_code);
}

#[test]
fn ledger_fields_load_from_json_and_are_validated() {
    let config = MappingConfig::from_json(
        r#"{"lost_deal_stage": "lost_1", "reporting_currency": "EUR", "amount_basis": "gross",
            "event_types": ["charge.refunded", "invoice_payment.paid"]}"#,
    )
    .unwrap();
    assert_eq!(
        config.reporting_currency.map(|c| c.iso_code()).as_deref(),
        Some("EUR")
    );
    let own = MappingConfig::from_json(r#"{"reporting_currency": null}"#).unwrap();
    assert_eq!(own.reporting_currency, None);
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
