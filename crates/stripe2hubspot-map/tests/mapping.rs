//! Edge cases of the mapping, one event at a time: what `facts_from_event` reads and what
//! `deal_properties` and `contact_properties` derive from the row of those facts.

use serde_json::{json, Value};
use stripe2hubspot_map::{
    contact_properties, deal_properties, facts_from_event, facts_from_object, ConfigError,
    ContactKey, ContactKeySource, Facts, FactsOutcome, LedgerRow, MapError, MappingConfig,
    NameSplit, PaymentState, PaymentStatus, PropertySet, SkipReason, Stamp,
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

fn facts_with(event: &Event, config: &MappingConfig) -> Facts {
    match facts_from_event(event, config).unwrap() {
        FactsOutcome::Facts(facts) => *facts,
        FactsOutcome::Skip(reason) => panic!("unexpected skip: {reason}"),
    }
}

fn row_with(event: &Event, config: &MappingConfig) -> LedgerRow {
    LedgerRow::from_facts(&facts_with(event, config))
}

/// A settled payment's row and the properties derived from it alone.
struct Derived {
    row: LedgerRow,
    contact: PropertySet,
    deal: PropertySet,
}

fn derive_with(event: &Event, config: &MappingConfig) -> Derived {
    let row = row_with(event, config);
    let deal = deal_properties(&row, config)
        .unwrap_or_else(|| panic!("not settled: {:?}", row.state(config)));
    let contact = contact_properties(std::slice::from_ref(&row), config).unwrap();
    Derived { row, contact, deal }
}

fn derive_charge(overrides: Value) -> Derived {
    derive_with(
        &event("charge.succeeded", charge(overrides)),
        &MappingConfig::default(),
    )
}

fn skip_reason(event: &Event, config: &MappingConfig) -> SkipReason {
    match facts_from_event(event, config).unwrap() {
        FactsOutcome::Skip(reason) => reason,
        FactsOutcome::Facts(facts) => panic!("expected a skip, got {facts:?}"),
    }
}

/// A payment that gives facts but waits, so nothing is written for it.
fn assert_waits(row: &LedgerRow, config: &MappingConfig, state: PaymentState) {
    assert_eq!(row.state(config), state);
    assert_eq!(deal_properties(row, config), None);
    assert_eq!(contact_properties(std::slice::from_ref(row), config), None);
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
        let d = derive_charge(json!({"amount": amount, "currency": currency}));
        assert_eq!(d.deal.get("amount"), Some(decimal), "{currency}");
        assert_eq!(d.deal.get("deal_currency_code"), Some(iso));
        let with_code = format!("{decimal} {iso}");
        assert_eq!(
            d.deal.get("stripe_amount_currency"),
            Some(with_code.as_str())
        );
        assert_eq!(d.contact.get("last_charge_amount"), Some(decimal));
        assert_eq!(d.contact.get("last_charge_currency"), Some(iso));
        // Summed in the contact's own currency (no reporting currency by default), and
        // that currency is named, so 5000 JPY is never read as 0.00 USD.
        assert_eq!(d.contact.get("stripe_lifetime_value"), Some(decimal));
        assert_eq!(d.contact.get("stripe_lifetime_value_currency"), Some(iso));
        assert_eq!(d.contact.get("stripe_payment_count"), Some("1"));
    }
}

#[test]
fn captured_amount_wins_over_the_authorized_amount() {
    let d = derive_charge(json!({"amount": 1000, "amount_captured": 600}));
    assert_eq!(d.deal.get("amount"), Some("6.00"));
    assert_eq!(d.contact.get("last_charge_amount"), Some("6.00"));
    // Stripe counts the released remainder in amount_refunded; it is not a refund.
    let d = derive_charge(json!({"amount": 1000, "amount_captured": 600, "amount_refunded": 400}));
    assert_eq!(d.deal.get("amount"), Some("6.00"));
    assert_eq!(d.deal.get("stripe_amount_refunded"), Some("0.00"));
    assert_eq!(d.deal.get("stripe_payment_status"), Some("succeeded"));
}

#[test]
fn missing_billing_details_fall_back_to_receipt_email() {
    let d = derive_charge(json!({"billing_details": null, "receipt_email": "r@example.com"}));
    assert_eq!(
        d.row.contact_key(&MappingConfig::default()),
        Some(ContactKey::Email("r@example.com".into()))
    );
    assert_eq!(d.contact.get("email"), Some("r@example.com"));
    assert_eq!(d.contact.get("firstname"), None);
    assert_eq!(d.contact.get("lastname"), None);
    assert_eq!(d.contact.get("phone"), None);
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
        let d = derive_with(&event("charge.succeeded", charge(billing)), &config);
        assert_eq!(d.contact.get("firstname"), first, "{name:?}");
        assert_eq!(d.contact.get("lastname"), last, "{name:?}");
    }
}

#[test]
fn emails_are_trimmed_lowercased_and_unusable_ones_skipped() {
    let config = MappingConfig::default();
    let d = derive_charge(json!({"billing_details": {"email": "  Tony.Stark@Example.COM\n"}}));
    let key = d.row.contact_key(&config).unwrap();
    assert_eq!(key.value(), "tony.stark@example.com");
    assert_eq!(d.contact.get("email"), Some("tony.stark@example.com"));

    let d = derive_charge(json!({
        "billing_details": {"email": "tony stark@example.com"},
        "receipt_email": "Receipts@Example.com"
    }));
    assert_eq!(
        d.row.contact_key(&config).unwrap().value(),
        "receipts@example.com"
    );
    assert_eq!(d.contact.get("email"), Some("receipts@example.com"));

    // No usable email anywhere: the payment waits for a contact.
    let none = event(
        "charge.succeeded",
        charge(json!({"billing_details": {"email": "@example.com"}, "receipt_email": "nobody"})),
    );
    let row = row_with(&none, &config);
    assert_eq!(row.email(), None);
    assert_waits(&row, &config, PaymentState::AwaitingContact);
}

#[test]
fn an_expanded_customer_provides_email_phone_and_id() {
    let config = MappingConfig::default();
    let d = derive_charge(json!({
        "billing_details": {"name": "Ann Lee"},
        "customer": {"id": "cus_9", "object": "customer", "email": "Cust@Example.com",
                     "phone": "+44 20 7946 0000"}
    }));
    assert_eq!(
        d.row.contact_key(&config).unwrap().value(),
        "cust@example.com"
    );
    assert_eq!(d.contact.get("stripe_customer_id"), Some("cus_9"));
    assert_eq!(d.contact.get("phone"), Some("+44 20 7946 0000"));

    // A deleted customer's email is not used.
    let deleted = json!({
        "billing_details": null,
        "customer": {"id": "cus_9", "object": "customer", "deleted": true, "email": "x@y.z"}
    });
    let row = row_with(&event("charge.succeeded", charge(deleted)), &config);
    assert_eq!(row.email(), None);
    assert_waits(&row, &config, PaymentState::AwaitingContact);
}

#[test]
fn no_customer_means_no_customer_id_property() {
    let d = derive_charge(json!({}));
    assert_eq!(d.contact.get("stripe_customer_id"), None);
    assert_eq!(d.row.key(), Some("ch_1"));
    assert_eq!(d.deal.get("stripe_payment_id"), Some("ch_1"));
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
    let d = derive_with(&with_customer, &config);
    let key = d.row.contact_key(&config).unwrap();
    assert_eq!(
        key,
        ContactKey::StripeCustomerId {
            property: "stripe_customer_id".into(),
            id: "cus_7".into()
        }
    );
    assert_eq!(key.id_property(), "stripe_customer_id");
    assert_eq!(key.value(), "cus_7");
    assert_eq!(d.contact.get("email"), None);
    assert_eq!(d.contact.get("stripe_customer_id"), Some("cus_7"));

    // An email is no contact key here: without a customer the payment waits.
    let without = row_with(&event("charge.succeeded", charge(json!({}))), &config);
    assert_eq!(without.email(), Some("ann@example.com"));
    assert_waits(&without, &config, PaymentState::AwaitingContact);
}

#[test]
fn unsuccessful_payments_and_unhandled_types_are_skipped() {
    let config = MappingConfig::default();
    let failed = event("charge.succeeded", charge(json!({"status": "failed"})));
    assert_eq!(
        skip_reason(&failed, &config),
        SkipReason::NotSucceeded {
            status: "failed".into()
        }
    );
    let processing = event(
        "payment_intent.succeeded",
        json!({"id": "pi_1", "object": "payment_intent", "amount": 100, "currency": "usd",
               "status": "processing", "created": 1, "receipt_email": "a@b.co"}),
    );
    assert_eq!(
        skip_reason(&processing, &config),
        SkipReason::NotSucceeded {
            status: "processing".into()
        }
    );
    let unknown = event(
        "v2.core.brand_new",
        json!({"object": "v2.thing", "id": "x_1"}),
    );
    assert_eq!(
        skip_reason(&unknown, &config),
        SkipReason::UnhandledEventType {
            event_type: "v2.core.brand_new".into()
        }
    );
    // A supported type the configuration leaves out is skipped before its object is read.
    let only_success = MappingConfig {
        event_types: vec!["charge.succeeded".into()],
        ..MappingConfig::default()
    };
    let refunded = event("charge.refunded", charge(json!({"refunded": true})));
    assert_eq!(
        skip_reason(&refunded, &only_success),
        SkipReason::UnhandledEventType {
            event_type: "charge.refunded".into()
        }
    );
    let reason = skip_reason(&failed, &config).to_string();
    assert!(reason.contains("failed"), "{reason}");
}

#[test]
fn a_refunded_charge_is_a_lost_deal_and_an_authorisation_waits_for_its_capture() {
    let config = MappingConfig::default();
    let refunded = derive_charge(json!({"refunded": true, "amount_refunded": 14900}));
    assert_eq!(
        refunded.row.state(&config),
        PaymentState::Settled(PaymentStatus::Refunded)
    );
    assert_eq!(refunded.deal.get("amount"), Some("0.00"));
    assert_eq!(refunded.deal.get("stripe_amount_refunded"), Some("149.00"));
    assert_eq!(refunded.deal.get("dealstage"), Some("closedlost"));
    assert_eq!(refunded.contact.get("stripe_payment_count"), Some("0"));

    let authorized_only = event(
        "charge.succeeded",
        charge(json!({"captured": false, "amount_captured": 0})),
    );
    let row = row_with(&authorized_only, &config);
    assert_eq!(row.captured(), None);
    assert_waits(&row, &config, PaymentState::AwaitingCapture);
}

#[test]
fn a_handled_type_with_a_malformed_object_is_an_error() {
    let config = MappingConfig::default();
    let malformed = event(
        "charge.succeeded",
        json!({"object": "charge", "id": "ch_1", "amount": "x"}),
    );
    let err = facts_from_event(&malformed, &config).unwrap_err();
    assert!(
        matches!(&err, MapError::UnexpectedObject { event_type, .. } if event_type == "charge.succeeded"),
        "{err}"
    );
    assert!(err.to_string().contains("evt_1"));
    let stamp = Stamp {
        created: 1700000005,
        event_id: "backfill:1".into(),
    };
    let err = facts_from_object(&malformed.data.object, None, stamp, &config).unwrap_err();
    assert!(
        matches!(&err, MapError::UnexpectedObject { event_type, .. } if event_type == "(backfill)"),
        "{err}"
    );

    let customer = event(
        "charge.succeeded",
        json!({"object": "customer", "id": "cus_1", "email": "a@b.co"}),
    );
    assert!(matches!(
        facts_from_event(&customer, &config),
        Err(MapError::UnexpectedObject {
            found: "a customer",
            ..
        })
    ));
}

#[test]
fn a_payment_without_an_id_or_with_an_impossible_date_is_an_error() {
    let config = MappingConfig::default();
    let blank = event("charge.succeeded", charge(json!({"id": "  "})));
    let err = facts_from_event(&blank, &config).unwrap_err();
    assert_eq!(
        err,
        MapError::MissingPaymentId {
            event_id: "evt_1".into()
        }
    );
    // The payment intent alone keys the payment.
    let keyed = event(
        "charge.succeeded",
        charge(json!({"id": "  ", "payment_intent": "pi_1"})),
    );
    assert_eq!(row_with(&keyed, &config).key(), Some("pi_1"));

    let late = 253_402_300_800; // 10000-01-01T00:00:00Z
    let err = facts_from_event(
        &event("charge.succeeded", charge(json!({"created": late}))),
        &config,
    )
    .unwrap_err();
    assert_eq!(
        err,
        MapError::InvalidTimestamp {
            event_id: "evt_1".into(),
            value: late
        }
    );
    assert!(err.to_string().contains("evt_1"), "{err}");
}

#[test]
fn charge_and_payment_intent_of_one_payment_give_the_same_properties() {
    let config = MappingConfig::default();
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
    let from_charge = derive_charge(the_charge.clone());
    let from_intent = derive_with(&event("payment_intent.succeeded", intent.clone()), &config);
    assert_eq!(from_charge.row.key(), Some("pi_1"));
    assert_eq!(from_intent.row.key(), Some("pi_1"));
    assert_eq!(
        from_intent.row.contact_key(&config),
        from_charge.row.contact_key(&config)
    );
    assert_eq!(from_intent.contact.to_map(), from_charge.contact.to_map());
    assert_eq!(from_intent.deal.to_map(), from_charge.deal.to_map());
    assert_eq!(from_intent.contact.get("company"), Some("Acme"));
    assert_eq!(from_intent.deal.get("dealname"), Some("Big order"));

    // Unexpanded latest_charge: same keys, amount and charge id, just less contact detail.
    let mut bare = intent;
    merge(
        &mut bare,
        json!({"latest_charge": "ch_1", "receipt_email": "ann@example.com"}),
    );
    let bare = derive_with(&event("payment_intent.succeeded", bare), &config);
    assert_eq!(bare.row.key(), Some("pi_1"));
    assert_eq!(
        bare.row.contact_key(&config),
        from_charge.row.contact_key(&config)
    );
    assert_eq!(bare.contact.get("last_charge_id"), Some("ch_1"));
    assert_eq!(bare.contact.get("firstname"), None);
    assert_eq!(bare.deal.get("amount"), Some("149.00"));
    // The success event's time stands in for the unknown charge time.
    assert_eq!(bare.deal.get("closedate"), Some("2023-11-14T22:13:25Z"));
    assert_eq!(
        bare.contact.get("last_charge_date"),
        Some("2023-11-14T22:13:25Z")
    );
}

#[test]
fn deal_name_comes_from_metadata_then_constant_then_description_then_template() {
    let named = derive_charge(json!({"description": "Order 42", "metadata": {"deal_name": "Big"}}));
    assert_eq!(named.deal.get("dealname"), Some("Big"));
    let described = derive_charge(json!({"description": " Order 42 "}));
    assert_eq!(described.deal.get("dealname"), Some("Order 42"));
    let fallback = derive_charge(json!({"amount": 500, "currency": "jpy"}));
    assert_eq!(
        fallback.deal.get("dealname"),
        Some("Payment 500 JPY (ch_1)")
    );
    let keyed = derive_charge(json!({"payment_intent": "pi_9"}));
    assert_eq!(
        keyed.deal.get("dealname"),
        Some("Payment 149.00 USD (pi_9)")
    );

    let config = MappingConfig {
        deal_name_template: "{name} <{email}>: {{{amount}}}".into(),
        ..MappingConfig::default()
    };
    let custom = derive_with(&event("charge.succeeded", charge(json!({}))), &config);
    assert_eq!(
        custom.deal.get("dealname"),
        Some("Ann Lee <ann@example.com>: {149.00}")
    );

    let mut constant = MappingConfig::default();
    constant
        .deal_constants
        .insert("dealname".into(), " Fixed ".into());
    let plain = event(
        "charge.succeeded",
        charge(json!({"description": "Order 42"})),
    );
    let d = derive_with(&plain, &constant);
    assert_eq!(d.deal.get("dealname"), Some("Fixed"));
    let from_metadata = event(
        "charge.succeeded",
        charge(json!({"metadata": {"deal_name": "Big"}})),
    );
    let d = derive_with(&from_metadata, &constant);
    assert_eq!(d.deal.get("dealname"), Some("Big"));
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

    let plain = derive_with(&event("charge.succeeded", charge(json!({}))), &config);
    assert_eq!(plain.contact.get("hs_lead_status"), Some("CONNECTED"));
    assert_eq!(plain.deal.get("order_number"), None);
    assert_eq!(plain.deal.get("deal_currency_code"), Some("USD"));
    assert_eq!(plain.deal.get("pipeline"), Some("123"));
    assert_eq!(plain.deal.get("dealstage"), Some("456"));

    let overridden = derive_with(
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
        [
            "order_number",
            "stripe_amount_currency",
            "stripe_amount_refunded",
            "stripe_payment_id",
            "stripe_payment_status",
        ]
    );

    let default = derive_charge(json!({}));
    assert_eq!(default.deal.get("deal_currency_code"), Some("USD"));
    assert_eq!(default.contact.get("hs_lead_status"), None);
    let without = MappingConfig {
        deal_currency_code: false,
        ..MappingConfig::default()
    };
    let plain = derive_with(&event("charge.succeeded", charge(json!({}))), &without);
    assert_eq!(plain.deal.get("deal_currency_code"), None);
    // The amount keeps its currency all the same.
    assert_eq!(plain.deal.get("stripe_amount_currency"), Some("149.00 USD"));
}

#[test]
fn facts_refuse_an_invalid_config() {
    let config = MappingConfig {
        deal_stage: String::new(),
        ..MappingConfig::default()
    };
    let event = event("charge.succeeded", charge(json!({})));
    let expected = MapError::InvalidConfig(ConfigError::Empty {
        field: "deal_stage".into(),
    });
    assert_eq!(facts_from_event(&event, &config).unwrap_err(), expected);
    let stamp = Stamp::of(&event);
    assert_eq!(
        facts_from_object(&event.data.object, None, stamp, &config).unwrap_err(),
        expected
    );
}
