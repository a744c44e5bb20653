//! The company of one contact (from its customer row and payment rows) and a company's
//! properties over its members, as the engine computes them.

use serde_json::json;
use stripe2hubspot_map::{
    company_of_contact, company_properties_of, customer_facts_from_event, facts_from_event,
    CompanyKey, CompanyKeySource, CustomerOutcome, CustomerRow, FactsOutcome, LedgerRow,
    MappingConfig,
};
use stripe_events::Event;

fn event(id: &str, type_: &str, created: i64, object: serde_json::Value) -> Event {
    serde_json::from_value(json!({"id": id, "object": "event", "type": type_,
        "created": created, "data": {"object": object}}))
    .unwrap()
}

/// A settled payment `pi_{n}` of `amount` cents by `email`, told at `created`.
fn payment(
    n: u32,
    email: &str,
    amount: i64,
    created: i64,
    metadata: serde_json::Value,
) -> LedgerRow {
    let charge = json!({"id": format!("ch_{n}"), "object": "charge", "amount": amount,
        "amount_captured": amount, "amount_refunded": 0, "currency": "usd",
        "status": "succeeded", "captured": true, "created": created,
        "payment_intent": format!("pi_{n}"), "customer": "cus_1",
        "billing_details": {"email": email}, "metadata": metadata});
    let event = event(&format!("evt_{n}"), "charge.succeeded", created, charge);
    match facts_from_event(&event, &MappingConfig::default()).unwrap() {
        FactsOutcome::Facts(facts) => LedgerRow::from_facts(&facts),
        FactsOutcome::Skip(reason) => panic!("{reason}"),
    }
}

fn customer(email: &str) -> CustomerRow {
    let object = json!({"id": "cus_1", "object": "customer", "email": email, "created": 1});
    let event = event("evt_cus", "customer.updated", 1_700_000_000, object);
    match customer_facts_from_event(&event, &MappingConfig::default()).unwrap() {
        CustomerOutcome::Facts(facts) => CustomerRow::from_facts(&facts),
        other => panic!("{other:?}"),
    }
}

fn domain(value: &str) -> Option<CompanyKey> {
    Some(CompanyKey::Domain(value.into()))
}

#[test]
fn the_customers_email_names_the_company_before_any_payment() {
    let config = MappingConfig::default();
    let rows = [payment(1, "ann@old-employer.com", 100, 10, json!({}))];
    let customer = customer("Ann+Billing@ACME.com");
    assert_eq!(
        company_of_contact(Some(&customer), &rows, &config),
        domain("acme.com")
    );
    assert_eq!(
        company_of_contact(None, &rows, &config),
        domain("old-employer.com")
    );
}

#[test]
fn without_a_customer_the_newest_payments_email_counts_in_any_order() {
    let config = MappingConfig::default();
    let old = payment(1, "ann@old.com", 100, 10, json!({}));
    let new = payment(2, "ann@new.com", 100, 20, json!({}));
    for rows in [[old.clone(), new.clone()], [new, old]] {
        assert_eq!(company_of_contact(None, &rows, &config), domain("new.com"));
    }
}

#[test]
fn free_mail_no_email_and_companies_off_give_no_company() {
    let config = MappingConfig::default();
    let gmail = [payment(1, "ann@gmail.com", 100, 10, json!({}))];
    assert_eq!(company_of_contact(None, &gmail, &config), None);
    assert_eq!(
        company_of_contact(Some(&customer("bob@gmx.de")), &[], &config),
        None
    );
    assert_eq!(company_of_contact(None, &[], &config), None);
    let off = MappingConfig {
        company_key: CompanyKeySource::Disabled,
        ..MappingConfig::default()
    };
    let acme = [payment(1, "ann@acme.com", 100, 10, json!({}))];
    assert_eq!(company_of_contact(None, &acme, &off), None);
}

#[test]
fn a_metadata_key_takes_the_newest_value_any_payment_gave() {
    let config = MappingConfig {
        company_key: CompanyKeySource::Metadata("company_id".into()),
        ..MappingConfig::default()
    };
    let first = payment(1, "ann@gmail.com", 100, 10, json!({"company_id": "ACME-1"}));
    let moved = payment(
        2,
        "ann@gmail.com",
        100,
        20,
        json!({"company_id": " ACME-2 "}),
    );
    let without = payment(3, "ann@gmail.com", 100, 30, json!({}));
    let rows = [without.clone(), moved, first];
    assert_eq!(
        company_of_contact(Some(&customer("ann@gmail.com")), &rows, &config),
        Some(CompanyKey::Metadata("ACME-2".into()))
    );
    assert_eq!(company_of_contact(None, &[without], &config), None);
}

#[test]
fn company_properties_sum_the_members_and_take_the_newest_metadata_company_as_name() {
    let config = MappingConfig::default();
    let key = CompanyKey::Domain("acme.com".into());
    let ann = [
        payment(
            1,
            "ann@acme.com",
            10_000,
            10,
            json!({"company": "Acme Old Name"}),
        ),
        payment(2, "ann@acme.com", 5_000, 30, json!({})),
    ];
    let bob = [payment(
        3,
        "bob@acme.com",
        2_500,
        20,
        json!({"company": "Acme Inc."}),
    )];
    let ann_customer = customer("ann@acme.com");
    let company =
        company_properties_of(&key, &[(Some(&ann_customer), &ann), (None, &bob)], &config);
    assert_eq!(company.get("stripe_company_key"), Some("acme.com"));
    assert_eq!(company.get("domain"), Some("acme.com"));
    assert_eq!(company.get("name"), Some("Acme Inc."));
    assert_eq!(company.get("stripe_payment_count"), Some("3"));
    assert_eq!(company.get("stripe_lifetime_value"), Some("175.00"));
    assert_eq!(company.get("stripe_lifetime_value_currency"), Some("USD"));
    // The same row under two members counts once.
    let twice = company_properties_of(&key, &[(None, &bob), (None, &bob)], &config);
    assert_eq!(twice.get("stripe_payment_count"), Some("1"));
    assert_eq!(twice.get("stripe_lifetime_value"), Some("25.00"));
}

#[test]
fn a_company_without_a_name_hint_is_named_by_its_domain_or_not_at_all() {
    let config = MappingConfig::default();
    let rows = [payment(
        1,
        "ann@acme.com",
        100,
        10,
        json!({"company": "   "}),
    )];
    let by_domain = company_properties_of(
        &CompanyKey::Domain("acme.com".into()),
        &[(None, &rows)],
        &config,
    );
    assert_eq!(by_domain.get("name"), Some("acme.com"));
    let by_metadata = company_properties_of(
        &CompanyKey::Metadata("ACME-1".into()),
        &[(None, &rows)],
        &config,
    );
    assert_eq!(
        by_metadata.get("name"),
        None,
        "a name typed in HubSpot stays"
    );
    assert_eq!(by_metadata.get("domain"), None);
}

/// A customer row of `cus_{n}` told by a `customer.updated` at `created`, with Stripe's
/// `business_name` when given.
fn business(n: u32, email: &str, business_name: Option<&str>, created: i64) -> CustomerRow {
    let object = json!({"id": format!("cus_{n}"), "object": "customer", "email": email,
        "name": "Ann Lee", "business_name": business_name, "created": 1});
    let event = event(&format!("evt_cus_{n}"), "customer.updated", created, object);
    match customer_facts_from_event(&event, &MappingConfig::default()).unwrap() {
        CustomerOutcome::Facts(facts) => CustomerRow::from_facts(&facts),
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_business_customer_names_its_company_after_metadata_and_an_individual_never_does() {
    let config = MappingConfig::default();
    let key = CompanyKey::Domain("acme.com".into());
    let rows = [payment(1, "ann@acme.com", 100, 10, json!({}))];
    let individual = business(1, "ann@acme.com", None, 1_700_000_000);
    let named = company_properties_of(&key, &[(Some(&individual), &rows)], &config);
    assert_eq!(
        named.get("name"),
        Some("acme.com"),
        "a person's name never names a company"
    );

    let older = business(2, "bob@acme.com", Some("Acme Old Ltd"), 1_700_000_000);
    let newer = business(3, "cy@acme.com", Some("Acme Ltd"), 1_700_000_100);
    for members in [
        [(Some(&older), &rows[..]), (Some(&newer), &[][..])],
        [(Some(&newer), &[][..]), (Some(&older), &rows[..])],
    ] {
        let company = company_properties_of(&key, &members, &config);
        assert_eq!(
            company.get("name"),
            Some("Acme Ltd"),
            "the newest, in any order"
        );
    }

    let tagged = [payment(
        4,
        "ann@acme.com",
        100,
        20,
        json!({"company": "ACME Corp."}),
    )];
    let company = company_properties_of(&key, &[(Some(&newer), &tagged)], &config);
    assert_eq!(
        company.get("name"),
        Some("ACME Corp."),
        "metadata.company, set by the account itself, comes first"
    );
}
