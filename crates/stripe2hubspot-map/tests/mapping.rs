//! Edge cases of the mapping and of its configuration.

use serde_json::{json, Value};
use stripe2hubspot_map::{
    map_event, ConfigError, ContactKey, ContactKeySource, MapError, MapOutcome, MappingConfig,
    NameSplit, SkipReason, SyncCommand,
};
use stripe_events::Event;

fn charge(overrides: Value) -> Value {
    let mut charge = json!({
        "id": "ch_1", "object": "charge", "amount": 14900, "currency": "usd",
        "status": "succeeded", "created": 1700000000, "paid": true,
        "billing_details": {"email": "ann@example.com", "name": "Ann Lee", "phone": null},
        "metadata": {}
    });
    merge(&mut charge, overrides);
    charge
}

fn merge(target: &mut Value, overrides: Value) {
    if let (Some(target), Value::Object(overrides)) = (target.as_object_mut(), overrides) {
        for (k, v) in overrides {
            target.insert(k, v);
        }
    }
}

fn event(type_: &str, object: Value) -> Event {
    serde_json::from_value(json!({
        "id": "evt_1", "object": "event", "type": type_, "created": 1700000005,
        "livemode": false, "data": {"object": object}
    }))
    .unwrap()
}

fn map_with(event: &Event, config: &MappingConfig) -> SyncCommand {
    match map_event(event, config).unwrap() {
        MapOutcome::Sync(command) => command,
        MapOutcome::Skip(reason) => panic!("unexpected skip: {reason}"),
    }
}

fn map_charge(overrides: Value) -> SyncCommand {
    map_with(
        &event("charge.succeeded", charge(overrides)),
        &MappingConfig::default(),
    )
}

fn skip_reason(event: &Event) -> SkipReason {
    match map_event(event, &MappingConfig::default()).unwrap() {
        MapOutcome::Skip(reason) => reason,
        MapOutcome::Sync(command) => panic!("expected a skip, got {command:?}"),
    }
}

#[test]
fn amounts_use_the_currency_exponent() {
    for (amount, currency, decimal, iso) in [
        (14900, "usd", "149.00", "USD"),
        (5, "USD", "0.05", "USD"),
        (500, "jpy", "500", "JPY"),
        (500, "JPY", "500", "JPY"),
        (1490, "kwd", "1.490", "KWD"),
        (1490, "KwD", "1.490", "KWD"),
    ] {
        let command = map_charge(json!({"amount": amount, "currency": currency}));
        assert_eq!(command.deal.get("amount"), Some(decimal), "{currency}");
        assert_eq!(command.contact.get("last_charge_amount"), Some(decimal));
        assert_eq!(command.contact.get("last_charge_currency"), Some(iso));
    }
}

#[test]
fn captured_amount_wins_over_the_authorized_amount() {
    let command = map_charge(json!({"amount": 1000, "amount_captured": 600}));
    assert_eq!(command.deal.get("amount"), Some("6.00"));
}

#[test]
fn missing_billing_details_fall_back_to_receipt_email() {
    let command = map_charge(json!({"billing_details": null, "receipt_email": "r@example.com"}));
    assert_eq!(
        command.contact_key,
        ContactKey::Email("r@example.com".into())
    );
    assert_eq!(command.contact.get("firstname"), None);
    assert_eq!(command.contact.get("lastname"), None);
    assert_eq!(command.contact.get("phone"), None);
}

#[test]
fn names_are_split_by_the_configured_rule() {
    let cases = [
        ("Cher", NameSplit::LastWordIsLastName, Some("Cher"), None),
        (
            "Mary Jane  Watson",
            NameSplit::LastWordIsLastName,
            Some("Mary Jane"),
            Some("Watson"),
        ),
        (
            "Mary Jane Watson",
            NameSplit::FirstWordIsFirstName,
            Some("Mary"),
            Some("Jane Watson"),
        ),
        (
            "Mary Jane Watson",
            NameSplit::FirstnameOnly,
            Some("Mary Jane Watson"),
            None,
        ),
        (
            "  José\tÑúñez-Gómez ",
            NameSplit::LastWordIsLastName,
            Some("José"),
            Some("Ñúñez-Gómez"),
        ),
        (
            "山田\u{3000}太郎",
            NameSplit::LastWordIsLastName,
            Some("山田"),
            Some("太郎"),
        ),
        ("   ", NameSplit::LastWordIsLastName, None, None),
    ];
    for (name, rule, first, last) in cases {
        let config = MappingConfig {
            name_split: rule,
            ..MappingConfig::default()
        };
        let billing = json!({"billing_details": {"email": "a@b.co", "name": name}});
        let command = map_with(&event("charge.succeeded", charge(billing)), &config);
        assert_eq!(command.contact.get("firstname"), first, "{name:?}");
        assert_eq!(command.contact.get("lastname"), last, "{name:?}");
    }
}

#[test]
fn emails_are_trimmed_lowercased_and_unusable_ones_skipped() {
    let command = map_charge(json!({"billing_details": {"email": "  Tony.Stark@Example.COM\n"}}));
    assert_eq!(command.contact_key.value(), "tony.stark@example.com");
    assert_eq!(command.contact.get("email"), Some("tony.stark@example.com"));

    let command = map_charge(json!({
        "billing_details": {"email": "tony stark@example.com"},
        "receipt_email": "Receipts@Example.com"
    }));
    assert_eq!(command.contact_key.value(), "receipts@example.com");
}

#[test]
fn an_expanded_customer_provides_email_phone_and_id() {
    let command = map_charge(json!({
        "billing_details": {"name": "Ann Lee"},
        "customer": {"id": "cus_9", "object": "customer", "email": "Cust@Example.com",
                     "phone": "+44 20 7946 0000"}
    }));
    assert_eq!(command.contact_key.value(), "cust@example.com");
    assert_eq!(command.contact.get("stripe_customer_id"), Some("cus_9"));
    assert_eq!(command.contact.get("phone"), Some("+44 20 7946 0000"));

    let deleted = json!({
        "billing_details": null,
        "customer": {"id": "cus_9", "object": "customer", "deleted": true, "email": "x@y.z"}
    });
    let skipped = skip_reason(&event("charge.succeeded", charge(deleted)));
    assert_eq!(
        skipped,
        SkipReason::NoContactKey {
            key: ContactKeySource::Email
        }
    );
}

#[test]
fn no_customer_means_no_customer_id_property() {
    let command = map_charge(json!({}));
    assert_eq!(command.contact.get("stripe_customer_id"), None);
    assert_eq!(command.deal_key, "ch_1");
    assert_eq!(command.deal.get("stripe_payment_id"), Some("ch_1"));
}

#[test]
fn contacts_can_be_keyed_by_customer_id() {
    let config = MappingConfig {
        contact_key: ContactKeySource::StripeCustomerId,
        ..MappingConfig::default()
    };
    let with_customer = event(
        "charge.succeeded",
        charge(json!({"billing_details": null, "customer": "cus_7"})),
    );
    let command = map_with(&with_customer, &config);
    assert_eq!(command.contact_key.id_property(), "stripe_customer_id");
    assert_eq!(command.contact_key.value(), "cus_7");
    assert_eq!(command.contact.get("email"), None);

    let without = event("charge.succeeded", charge(json!({})));
    assert_eq!(
        map_event(&without, &config).unwrap(),
        MapOutcome::Skip(SkipReason::NoContactKey {
            key: ContactKeySource::StripeCustomerId
        })
    );
}

#[test]
fn unsuccessful_refunded_and_unhandled_events_are_skipped() {
    let failed = event("charge.succeeded", charge(json!({"status": "failed"})));
    assert_eq!(
        skip_reason(&failed),
        SkipReason::NotSucceeded {
            status: "failed".into()
        }
    );
    let refunded = event(
        "charge.succeeded",
        charge(json!({"refunded": true, "amount_refunded": 14900})),
    );
    assert_eq!(skip_reason(&refunded), SkipReason::Refunded);
    let authorized_only = event(
        "charge.succeeded",
        charge(json!({"captured": false, "amount_captured": 0})),
    );
    assert_eq!(skip_reason(&authorized_only), SkipReason::NotCaptured);
    let other_type = event("charge.refunded", charge(json!({"refunded": true})));
    assert_eq!(
        skip_reason(&other_type),
        SkipReason::UnhandledEventType {
            event_type: "charge.refunded".into()
        }
    );
    let unknown = event(
        "v2.core.brand_new",
        json!({"object": "v2.thing", "id": "x_1"}),
    );
    assert!(matches!(
        skip_reason(&unknown),
        SkipReason::UnhandledEventType { .. }
    ));
    let processing = event(
        "payment_intent.succeeded",
        json!({"id": "pi_1", "object": "payment_intent", "amount": 100, "currency": "usd",
               "status": "processing", "created": 1, "receipt_email": "a@b.co"}),
    );
    assert_eq!(
        skip_reason(&processing),
        SkipReason::NotSucceeded {
            status: "processing".into()
        }
    );
}

#[test]
fn a_handled_type_with_a_malformed_object_is_an_error() {
    let malformed = event(
        "charge.succeeded",
        json!({"object": "charge", "id": "ch_1", "amount": "x"}),
    );
    let err = map_event(&malformed, &MappingConfig::default()).unwrap_err();
    assert!(matches!(err, MapError::UnexpectedObject { .. }), "{err}");
    assert!(err.to_string().contains("evt_1"));
}

#[test]
fn charge_and_payment_intent_of_one_payment_make_the_same_command() {
    let the_charge = charge(json!({
        "payment_intent": "pi_1", "customer": "cus_1",
        "receipt_url": "https://pay.stripe.com/receipts/r1",
        "metadata": {"company": "Acme", "deal_name": "Big order"}
    }));
    let intent = json!({
        "id": "pi_1", "object": "payment_intent", "amount": 14900, "amount_received": 14900,
        "currency": "usd", "status": "succeeded", "created": 1699990000, "customer": "cus_1",
        "latest_charge": the_charge.clone(),
        "metadata": {"company": "Acme", "deal_name": "Big order"}
    });
    let from_charge = map_charge(the_charge.clone());
    let from_intent = map_with(
        &event("payment_intent.succeeded", intent.clone()),
        &MappingConfig::default(),
    );
    assert_eq!(from_charge.deal_key, "pi_1");
    assert_eq!(from_intent.deal_key, "pi_1");
    assert_eq!(from_intent.contact_key, from_charge.contact_key);
    assert_eq!(from_intent.contact.to_map(), from_charge.contact.to_map());
    assert_eq!(from_intent.deal.to_map(), from_charge.deal.to_map());

    // Unexpanded latest_charge: same keys, amount and charge id, just less contact detail.
    let mut bare = intent;
    merge(
        &mut bare,
        json!({"latest_charge": "ch_1", "receipt_email": "ann@example.com"}),
    );
    let bare = map_with(
        &event("payment_intent.succeeded", bare),
        &MappingConfig::default(),
    );
    assert_eq!(bare.deal_key, "pi_1");
    assert_eq!(bare.contact_key, from_charge.contact_key);
    assert_eq!(bare.contact.get("last_charge_id"), Some("ch_1"));
    assert_eq!(bare.deal.get("amount"), Some("149.00"));
    // The success event's time stands in for the unknown charge time.
    assert_eq!(bare.deal.get("closedate"), Some("2023-11-14T22:13:25Z"));
}

#[test]
fn deal_name_comes_from_metadata_then_description_then_template() {
    let named = map_charge(json!({"description": "Order 42", "metadata": {"deal_name": "Big"}}));
    assert_eq!(named.deal.get("dealname"), Some("Big"));
    let described = map_charge(json!({"description": " Order 42 "}));
    assert_eq!(described.deal.get("dealname"), Some("Order 42"));
    let fallback = map_charge(json!({"amount": 500, "currency": "jpy"}));
    assert_eq!(
        fallback.deal.get("dealname"),
        Some("Payment 500 JPY (ch_1)")
    );

    let config = MappingConfig {
        deal_name_template: "{name} <{email}>: {{{amount}}}".into(),
        ..MappingConfig::default()
    };
    let custom = map_with(&event("charge.succeeded", charge(json!({}))), &config);
    assert_eq!(
        custom.deal.get("dealname"),
        Some("Ann Lee <ann@example.com>: {149.00}")
    );
}

#[test]
fn constants_metadata_and_currency_code_follow_the_config() {
    let mut config = MappingConfig::default();
    config
        .contact_constants
        .insert("hs_lead_status".into(), "CONNECTED".into());
    config
        .contact_metadata
        .insert("lead_status".into(), "hs_lead_status".into());
    config
        .deal_metadata
        .insert("order".into(), "order_number".into());
    config.deal_currency_code = true;
    config.pipeline = "123".into();
    config.deal_stage = "456".into();

    let plain = map_with(&event("charge.succeeded", charge(json!({}))), &config);
    assert_eq!(plain.contact.get("hs_lead_status"), Some("CONNECTED"));
    assert_eq!(plain.deal.get("order_number"), None);
    assert_eq!(plain.deal.get("deal_currency_code"), Some("USD"));
    assert_eq!(plain.deal.get("pipeline"), Some("123"));
    assert_eq!(plain.deal.get("dealstage"), Some("456"));

    let overridden = map_with(
        &event(
            "charge.succeeded",
            charge(json!({"metadata": {"lead_status": "NEW", "order": "A-1", "company": " "}})),
        ),
        &config,
    );
    assert_eq!(overridden.contact.get("hs_lead_status"), Some("NEW"));
    assert_eq!(overridden.deal.get("order_number"), Some("A-1"));
    assert_eq!(
        overridden.contact.get("company"),
        None,
        "blank metadata is not sent"
    );
    assert_eq!(
        overridden.deal.custom_names(),
        ["order_number", "stripe_payment_id"]
    );

    let default = map_charge(json!({}));
    assert_eq!(default.deal.get("deal_currency_code"), Some("USD"));
    let without = MappingConfig {
        deal_currency_code: false,
        ..MappingConfig::default()
    };
    let plain = map_with(&event("charge.succeeded", charge(json!({}))), &without);
    assert_eq!(plain.deal.get("deal_currency_code"), None);
    assert_eq!(default.contact.get("hs_lead_status"), None);
}

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
        event_types: vec!["customer.created".into()],
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
fn map_event_refuses_an_invalid_config() {
    let config = MappingConfig {
        deal_stage: String::new(),
        ..MappingConfig::default()
    };
    let err = map_event(&event("charge.succeeded", charge(json!({}))), &config).unwrap_err();
    assert!(matches!(
        err,
        MapError::InvalidConfig(ConfigError::Empty { .. })
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
            "stripe_customer_id",
            "stripe_first_payment_date",
            "stripe_last_payment_date",
            "stripe_lifetime_value",
            "stripe_payment_count",
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
