//! The same client against `FakeHubSpot`, over real loopback HTTP.
#![cfg(feature = "fake")]

use std::collections::BTreeMap;
use std::time::Duration;

use hubspot_crm::fake::{Failure, FakeHubSpot};
use hubspot_crm::{
    AssociationType, Error, ObjectInput, ObjectRef, ObjectType, PropertyCreate, RateLimit,
    RateLimitPolicy, RetryPolicy, SearchRequest, TransportKind, UpsertInput,
};

fn props(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

#[tokio::test]
async fn search_lag_race_resolves_through_the_409() {
    let fake = FakeHubSpot::builder()
        .search_lag(Duration::from_secs(3600))
        .start()
        .await;
    let client = fake.client().unwrap();
    let contacts = client.contacts();
    let first = contacts
        .create(&ObjectInput::default().property("email", "ada@example.com"))
        .await
        .unwrap();

    // A second worker searches before the index caught up, sees nothing, and creates.
    let seen = contacts
        .search(&SearchRequest::new().filter_eq("email", "ADA@example.com"))
        .await
        .unwrap();
    assert_eq!(seen.total, 0, "search lags behind the write");
    let err = contacts
        .create(
            &ObjectInput::default()
                .property("email", " Ada@Example.com")
                .property("firstname", "Ada"),
        )
        .await
        .unwrap_err();
    let Error::Conflict {
        existing_id: Some(existing),
        ..
    } = err
    else {
        panic!("expected a conflict, got {err:?}")
    };
    assert_eq!(existing, first.id);
    // The caller resolves the race by updating the existing contact.
    contacts
        .update(&ObjectRef::id(existing), &props(&[("firstname", "Ada")]))
        .await
        .unwrap();
    let all = fake.contacts();
    assert_eq!(all.len(), 1, "one email makes one contact");
    assert_eq!(all[0].property("firstname"), Some("Ada"));

    // Once the lag has passed search sees the contact.
    fake.set_search_lag(Duration::ZERO);
    let seen = contacts
        .search(&SearchRequest::new().filter_eq("email", "ada@example.com"))
        .await
        .unwrap();
    assert_eq!(seen.total, 1);
    assert_eq!(seen.results[0].id, first.id);
}

#[tokio::test]
async fn batch_upsert_of_100_contacts_is_one_request() {
    let fake = FakeHubSpot::start().await;
    let client = fake.client().unwrap();
    let inputs: Vec<UpsertInput> = (0..100)
        .map(|i| {
            UpsertInput::by_email(
                &format!(" User{i}@Example.com"),
                props(&[("firstname", &format!("U{i}"))]),
            )
        })
        .collect();
    let res = client.contacts().batch_upsert(&inputs).await.unwrap();
    assert_eq!(res.results.len(), 100);
    assert!(res.results.iter().all(|r| r.new));
    assert_eq!(fake.total_requests(), 1);
    assert_eq!(
        fake.request_count("POST", "/crm/objects/2026-09/contacts/batch/upsert"),
        1
    );
    // Upserting again updates: still 100 contacts, none new.
    let again = client.contacts().batch_upsert(&inputs).await.unwrap();
    assert!(again.results.iter().all(|r| !r.new));
    assert_eq!(fake.contacts().len(), 100);
    assert!(fake.contact_by_email("user7@example.com").is_some());
}

#[tokio::test]
async fn too_many_inputs_never_reach_the_server() {
    let fake = FakeHubSpot::start().await;
    let inputs: Vec<UpsertInput> = (0..101)
        .map(|i| UpsertInput::by_email(&format!("u{i}@example.com"), BTreeMap::new()))
        .collect();
    let err = fake
        .client()
        .unwrap()
        .contacts()
        .batch_upsert(&inputs)
        .await
        .unwrap_err();
    assert!(matches!(err, Error::TooManyInputs { max: 100, got: 101 }));
    assert_eq!(fake.total_requests(), 0);
}

#[tokio::test]
async fn unknown_property_then_created_property() {
    let fake = FakeHubSpot::start().await;
    let client = fake.client().unwrap();
    let input = UpsertInput::by_email(
        "ada@example.com",
        props(&[("firstname", "Ada"), ("stripe_customer_id", "cus_1")]),
    );
    let err = client
        .contacts()
        .batch_upsert(std::slice::from_ref(&input))
        .await
        .unwrap_err();
    let Error::Validation {
        unknown_properties,
        details,
        ..
    } = &err
    else {
        panic!("{err:?}")
    };
    assert_eq!(unknown_properties, &["stripe_customer_id"]);
    assert_eq!(details.category.as_deref(), Some("VALIDATION_ERROR"));
    assert!(details.correlation_id.is_some());
    assert!(fake.contacts().is_empty(), "the whole batch is rejected");

    client
        .properties(ObjectType::Contacts)
        .create(
            &PropertyCreate::text(
                "stripe_customer_id",
                "Stripe customer",
                "contactinformation",
            )
            .unique(true),
        )
        .await
        .unwrap();
    let res = client.contacts().batch_upsert(&[input]).await.unwrap();
    assert_eq!(
        res.results[0].object.property("stripe_customer_id"),
        Some("cus_1")
    );
    // Duplicate property creation is a conflict.
    let dup = client
        .properties(ObjectType::Contacts)
        .create(&PropertyCreate::text(
            "stripe_customer_id",
            "x",
            "contactinformation",
        ))
        .await
        .unwrap_err();
    assert!(matches!(dup, Error::Conflict { .. }));

    fake.remove_property("contacts", "stripe_customer_id");
    let err = client
        .contacts()
        .update(
            &ObjectRef::email("ada@example.com"),
            &props(&[("stripe_customer_id", "cus_2")]),
        )
        .await
        .unwrap_err();
    assert!(
        matches!(err, Error::Validation { ref unknown_properties, .. } if unknown_properties == &["stripe_customer_id"])
    );
}

#[tokio::test]
async fn invalid_option_and_invalid_email_reject_the_batch() {
    let fake = FakeHubSpot::start().await;
    let client = fake.client().unwrap();
    let err = client
        .contacts()
        .create(
            &ObjectInput::default()
                .property("email", "a@example.com")
                .property("lifecyclestage", "gold"),
        )
        .await
        .unwrap_err();
    let Error::Validation {
        invalid_options, ..
    } = &err
    else {
        panic!("{err:?}")
    };
    assert_eq!(
        invalid_options[0].property.as_deref(),
        Some("lifecyclestage")
    );
    assert_eq!(invalid_options[0].value.as_deref(), Some("gold"));
    client
        .contacts()
        .create(
            &ObjectInput::default()
                .property("email", "a@example.com")
                .property("lifecyclestage", "customer")
                .property("hs_lead_status", "OPEN_DEAL"),
        )
        .await
        .unwrap();

    let inputs = [
        UpsertInput::by_email("good@example.com", BTreeMap::new()),
        UpsertInput::by_email("not-an-email", BTreeMap::new()),
    ];
    let err = client.contacts().batch_upsert(&inputs).await.unwrap_err();
    let Error::Validation { invalid_values, .. } = &err else {
        panic!("{err:?}")
    };
    assert_eq!(invalid_values[0].code, "INVALID_EMAIL");
    assert_eq!(invalid_values[0].value.as_deref(), Some("not-an-email"));
    assert!(fake.contact_by_email("good@example.com").is_none());
}

#[tokio::test]
async fn deals_unique_property_and_associations() {
    let fake = FakeHubSpot::builder()
        .property(
            "deals",
            PropertyCreate::text("stripe_payment_id", "Stripe payment", "dealinformation")
                .unique(true),
        )
        .start()
        .await;
    let client = fake.client().unwrap();
    let contact = client
        .contacts()
        .create(&ObjectInput::default().property("email", "ada@example.com"))
        .await
        .unwrap();
    let deal_props = props(&[
        ("dealname", "Order 1"),
        ("dealstage", "closedwon"),
        ("pipeline", "default"),
        ("amount", "49.90"),
    ]);
    let first = client
        .deals()
        .batch_upsert(&[UpsertInput::new(
            "stripe_payment_id",
            "pi_1",
            deal_props.clone(),
        )])
        .await
        .unwrap();
    let again = client
        .deals()
        .batch_upsert(&[UpsertInput::new("stripe_payment_id", "pi_1", deal_props)])
        .await
        .unwrap();
    assert!(first.results[0].new && !again.results[0].new);
    assert_eq!(first.results[0].object.id, again.results[0].object.id);
    assert_eq!(fake.deals().len(), 1, "one payment makes one deal");

    let dup = client
        .deals()
        .create(&ObjectInput::default().property("stripe_payment_id", "pi_1"))
        .await
        .unwrap_err();
    assert!(
        matches!(dup, Error::Conflict { existing_id: Some(ref id), .. } if *id == first.results[0].object.id)
    );

    let res = client
        .associations()
        .batch_associate_default(
            &ObjectType::Deals,
            &ObjectType::Contacts,
            [
                (first.results[0].object.id.as_str(), contact.id.as_str()),
                ("999999", contact.id.as_str()),
            ],
        )
        .await
        .unwrap();
    assert_eq!(res.http_status, 207);
    assert_eq!(res.errors[0].ids(), vec!["999999"]);
    assert!(fake.are_associated(
        "deals",
        &first.results[0].object.id,
        "contacts",
        &contact.id
    ));

    // Inline association at creation, then the single default association.
    let inline = client
        .deals()
        .create(
            &ObjectInput::default()
                .property("dealname", "Order 2")
                .property("stripe_payment_id", "pi_2")
                .associate(contact.id.as_str(), AssociationType::DEAL_TO_CONTACT),
        )
        .await
        .unwrap();
    assert!(fake.are_associated("contacts", &contact.id, "deals", &inline.id));
    let one = client
        .associations()
        .associate_default(
            &ObjectType::Contacts,
            &contact.id,
            &ObjectType::Deals,
            &inline.id,
        )
        .await
        .unwrap();
    assert!(one
        .results
        .iter()
        .any(|a| a.association_spec.as_ref().map(|s| s.association_type_id) == Some(3)));
    let bad = client
        .deals()
        .create(&ObjectInput::default().associate("424242", AssociationType::DEAL_TO_CONTACT))
        .await
        .unwrap_err();
    assert!(matches!(bad, Error::Validation { .. }));
}

/// An update that would give a deal a unique value another deal holds answers 409 naming
/// that deal; associations are unlinked by the v4 batch archive, and an archived deal is gone
/// with its associations.
#[tokio::test]
async fn unique_clash_on_update_unlinking_and_archiving_deals() {
    let fake = FakeHubSpot::builder()
        .property(
            "deals",
            PropertyCreate::text("stripe_payment_id", "Stripe payment", "dealinformation")
                .unique(true),
        )
        .start()
        .await;
    let client = fake.client().unwrap();
    let contact = client
        .contacts()
        .create(&ObjectInput::default().property("email", "ada@example.com"))
        .await
        .unwrap();
    let deal = |key: &str| ObjectInput::default().property("stripe_payment_id", key);
    let old = client.deals().create(&deal("in_1")).await.unwrap();
    let kept = client.deals().create(&deal("pi_1")).await.unwrap();
    let clash = client
        .deals()
        .update(
            &ObjectRef::id(old.id.clone()),
            &props(&[("stripe_payment_id", "pi_1")]),
        )
        .await
        .unwrap_err();
    assert!(
        matches!(clash, Error::Conflict { existing_id: Some(ref id), .. } if *id == kept.id),
        "{clash:?}"
    );

    for id in [&old.id, &kept.id] {
        client
            .associations()
            .associate_default(&ObjectType::Deals, id, &ObjectType::Contacts, &contact.id)
            .await
            .unwrap();
    }
    client
        .associations()
        .batch_archive(
            &ObjectType::Deals,
            &ObjectType::Contacts,
            [(kept.id.as_str(), contact.id.as_str())],
        )
        .await
        .unwrap();
    assert!(!fake.are_associated("deals", &kept.id, "contacts", &contact.id));
    assert!(fake.are_associated("deals", &old.id, "contacts", &contact.id));

    client.archive(&ObjectType::Deals, &old.id).await.unwrap();
    let left: Vec<String> = fake.deals().into_iter().map(|d| d.id).collect();
    assert_eq!(left, std::slice::from_ref(&kept.id));
    assert!(fake.associations().is_empty(), "{:?}", fake.associations());
    let again = client.archive(&ObjectType::Deals, &old.id).await;
    assert!(matches!(again, Err(Error::NotFound { .. })), "{again:?}");
    // The store still finds the kept deal by its unique value after the removal.
    let found = client
        .deals()
        .get(&ObjectRef::property("stripe_payment_id", "pi_1"), &[])
        .await
        .unwrap();
    assert_eq!(found.id, kept.id);
}

#[tokio::test]
async fn token_checks_and_missing_scopes() {
    let fake = FakeHubSpot::builder()
        .missing_scopes(["crm.schemas.deals.write"])
        .start()
        .await;
    let client = fake.client().unwrap();
    fake.set_token("pat-rotated");
    let err = client
        .contacts()
        .get(&ObjectRef::email("a@example.com"), &[])
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Unauthorized { .. }));
    assert!(!format!("{err} {err:?}").contains("pat-fake-token"));
    fake.set_token(hubspot_crm::fake::DEFAULT_TOKEN);
    let err = client
        .contacts()
        .get(&ObjectRef::email("a@example.com"), &[])
        .await
        .unwrap_err();
    assert!(matches!(err, Error::NotFound { .. }));

    let err = client
        .properties(ObjectType::Deals)
        .create(&PropertyCreate::text(
            "stripe_payment_id",
            "x",
            "dealinformation",
        ))
        .await
        .unwrap_err();
    let Error::Forbidden { missing_scopes, .. } = &err else {
        panic!("{err:?}")
    };
    assert_eq!(missing_scopes, &["crm.schemas.deals.write"]);
    let list = client
        .properties(ObjectType::Contacts)
        .list()
        .await
        .unwrap();
    let stage = list.iter().find(|p| p.name == "hs_lead_status").unwrap();
    assert!(stage
        .options
        .iter()
        .any(|o| o.value == "ATTEMPTED_TO_CONTACT"));
    assert!(client
        .properties(ObjectType::Deals)
        .get("stripe_payment_id")
        .await
        .is_err());
}

#[tokio::test]
async fn rolling_window_answers_429_ten_secondly() {
    let fake = FakeHubSpot::builder()
        .rate_limit(RateLimit::per_ten_seconds(3))
        .start()
        .await;
    let client = fake.client().unwrap();
    for _ in 0..3 {
        let _ = client.contacts().get(&ObjectRef::id("1"), &[]).await;
    }
    let err = client
        .contacts()
        .get(&ObjectRef::id("1"), &[])
        .await
        .unwrap_err();
    let Error::RateLimited { policy, .. } = &err else {
        panic!("{err:?}")
    };
    assert_eq!(*policy, RateLimitPolicy::TenSecondlyRolling);
    // The last admitted answer said nothing is left: the client now holds back.
    assert!(client.limiter().held_until().is_some());
}

#[tokio::test]
async fn client_pacing_never_trips_the_window() {
    let quota = RateLimit::new(5, Duration::from_secs(1));
    let fake = FakeHubSpot::builder().rate_limit(quota).start().await;
    let client = fake.client_builder().rate_limit(quota).build().unwrap();
    for _ in 0..12 {
        let err = client
            .contacts()
            .get(&ObjectRef::id("1"), &[])
            .await
            .unwrap_err();
        assert!(matches!(err, Error::NotFound { .. }), "{err:?}");
    }
    assert!(fake.requests().iter().all(|r| r.status != 429));
}

#[tokio::test]
async fn injected_failures() {
    let fake = FakeHubSpot::start().await;
    let retrying = fake
        .client_builder()
        .retry_policy(RetryPolicy::new(
            2,
            Duration::from_millis(1),
            Duration::from_millis(5),
        ))
        .build()
        .unwrap();
    fake.fail_next(1, Failure::Status(503, None));
    let res = retrying
        .contacts()
        .batch_upsert(&[UpsertInput::by_email("a@example.com", BTreeMap::new())])
        .await
        .unwrap();
    assert_eq!(res.results.len(), 1);
    assert_eq!(
        fake.request_count("POST", "/crm/objects/2026-09/contacts/batch"),
        2
    );

    let client = fake.client().unwrap();
    fake.fail_next_on(
        1,
        "GET",
        "/crm/objects/2026-09/contacts",
        Failure::DropConnection,
    );
    let err = client
        .contacts()
        .get(&ObjectRef::email("a@example.com"), &[])
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Transport { .. }), "{err:?}");
    // Scoped to GET: a POST is untouched, and the next GET works.
    client
        .contacts()
        .get(&ObjectRef::email("a@example.com"), &[])
        .await
        .unwrap();

    fake.fail_next(1, Failure::Status(429, None));
    let err = client
        .deals()
        .batch_create(&[ObjectInput::default()])
        .await
        .unwrap_err();
    assert!(matches!(
        err,
        Error::RateLimited {
            policy: RateLimitPolicy::TenSecondlyRolling,
            ..
        }
    ));

    let slow = fake
        .client_builder()
        .timeout(Duration::from_millis(100))
        .build()
        .unwrap();
    fake.fail_next(1, Failure::Delay(Duration::from_secs(2)));
    let err = slow
        .contacts()
        .get(&ObjectRef::email("a@example.com"), &[])
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            Error::Transport {
                kind: TransportKind::Timeout,
                ..
            }
        ),
        "{err:?}"
    );
    assert!(fake
        .request_counts()
        .contains_key("GET /crm/objects/2026-09/contacts/a@example.com"));
}

// ---------------------------------------------------------------------------------------
// What a first-run check (`doctor`) reads: token and scopes, properties, pipelines, rules.

mod first_run_checks {
    use hubspot_crm::fake::FakeHubSpot;
    use hubspot_crm::scopes::{DEALS_WRITE, PROPERTY_BOOTSTRAP_SCOPES, SYNC_SCOPES};
    use hubspot_crm::{Error, ObjectType, PropertyCreate, PropertyValidationRule, UpsertInput};

    fn payment_id_property() -> PropertyCreate {
        PropertyCreate::text("stripe_payment_id", "Stripe payment", "dealinformation").unique(true)
    }

    #[tokio::test]
    async fn a_ready_portal_passes_every_check() {
        let fake = FakeHubSpot::builder()
            .property("deals", payment_id_property())
            .start()
            .await;
        let client = fake.client().unwrap();
        let info = client.access_token_info().await.unwrap();
        assert!(info.missing(&SYNC_SCOPES).is_empty());
        assert!(info.missing(&PROPERTY_BOOTSTRAP_SCOPES).is_empty());
        assert!(info.hub_id.is_some());
        let deals = client.properties(ObjectType::Deals).list().await.unwrap();
        let payment = deals
            .iter()
            .find(|p| p.name == "stripe_payment_id")
            .unwrap();
        assert_eq!(
            (payment.type_.as_str(), payment.field_type.as_str()),
            ("string", "text")
        );
        assert!(payment.has_unique_value);
        let pipelines = client.pipelines(ObjectType::Deals).list().await.unwrap();
        let sales = pipelines.iter().find(|p| p.id == "default").unwrap();
        let won = sales.stage("closedwon").unwrap();
        assert_eq!(
            won.metadata.get("isClosed").map(String::as_str),
            Some("true")
        );
        assert!(client
            .properties(ObjectType::Deals)
            .validation_rules()
            .await
            .unwrap()
            .is_empty());
    }

    #[tokio::test]
    async fn a_bad_token_is_unauthorized() {
        let fake = FakeHubSpot::start().await;
        let client = fake.client().unwrap();
        fake.set_token("a-rotated-key");
        let err = client.access_token_info().await.unwrap_err();
        assert!(matches!(err, Error::Unauthorized { .. }), "{err:?}");
        assert!(!format!("{err} {err:?}").contains(hubspot_crm::fake::DEFAULT_TOKEN));
        let err = client
            .pipelines(ObjectType::Deals)
            .list()
            .await
            .unwrap_err();
        assert!(matches!(err, Error::Unauthorized { .. }), "{err:?}");
    }

    #[tokio::test]
    async fn a_missing_scope_is_left_out_and_its_calls_are_forbidden() {
        let fake = FakeHubSpot::builder()
            .property("deals", payment_id_property())
            .missing_scopes([DEALS_WRITE])
            .start()
            .await;
        let client = fake.client().unwrap();
        let info = client.access_token_info().await.unwrap();
        assert_eq!(info.missing(&SYNC_SCOPES), vec![DEALS_WRITE]);
        let input = UpsertInput::new("stripe_payment_id", "pi_1", Default::default());
        let err = client.deals().batch_upsert(&[input]).await.unwrap_err();
        match err {
            Error::Forbidden { missing_scopes, .. } => assert_eq!(missing_scopes, [DEALS_WRITE]),
            other => panic!("expected 403, got {other:?}"),
        }
        // Reads need only the read scope.
        client.deals().search(&Default::default()).await.unwrap();
        fake.set_missing_scopes(Vec::<String>::new());
        assert!(client
            .access_token_info()
            .await
            .unwrap()
            .missing(&SYNC_SCOPES)
            .is_empty());
    }

    #[tokio::test]
    async fn a_missing_pipeline_stage_is_visible() {
        let fake = FakeHubSpot::start().await;
        let client = fake.client().unwrap();
        assert!(fake.remove_pipeline_stage("deals", "default", "closedwon"));
        assert!(!fake.remove_pipeline_stage("deals", "default", "closedwon"));
        assert!(!fake.remove_pipeline_stage("deals", "no-such-pipeline", "closedlost"));
        let pipelines = client.pipelines(ObjectType::Deals).list().await.unwrap();
        let sales = pipelines.iter().find(|p| p.id == "default").unwrap();
        assert!(sales.stage("closedwon").is_none());
        assert!(sales.stage("closedlost").is_some());
    }

    #[tokio::test]
    async fn a_property_of_the_wrong_type_is_visible() {
        let fake = FakeHubSpot::builder()
            .property("deals", payment_id_property())
            .start()
            .await;
        fake.set_property(
            "deals",
            PropertyCreate::number("stripe_payment_id", "Stripe payment", "dealinformation"),
        );
        let client = fake.client().unwrap();
        let deals = client.properties(ObjectType::Deals).list().await.unwrap();
        let payment = deals
            .iter()
            .find(|p| p.name == "stripe_payment_id")
            .unwrap();
        assert_eq!(payment.type_, "number");
        assert_eq!(payment.field_type, "number");
        assert!(!payment.has_unique_value);
    }

    #[tokio::test]
    async fn property_validation_rules_are_listed_by_object_type_id() {
        let fake = FakeHubSpot::start().await;
        let rule = PropertyValidationRule {
            rule_type: "ALPHANUMERIC".into(),
            rule_arguments: vec!["NUMERIC_ONLY".into()],
            should_apply_normalization: false,
        };
        fake.add_property_validation_rule("deals", "amount", rule.clone());
        let client = fake.client().unwrap();
        let rules = client
            .properties(ObjectType::Deals)
            .validation_rules()
            .await
            .unwrap();
        assert_eq!(rules.len(), 1);
        assert_eq!(rules[0].property_name, "amount");
        assert_eq!(rules[0].property_validation_rules, vec![rule]);
        assert!(fake
            .requests()
            .iter()
            .any(|r| r.path == "/crm/property-validations/2026-09/0-3"));
        assert!(client
            .properties(ObjectType::Contacts)
            .validation_rules()
            .await
            .unwrap()
            .is_empty());
    }
}

#[tokio::test]
async fn batch_read_by_unique_property_reports_unknown_ids_and_sees_hand_edits() {
    let fake = FakeHubSpot::builder()
        .property(
            "deals",
            PropertyCreate::text("stripe_payment_id", "Stripe payment", "dealinformation")
                .unique(true),
        )
        .start()
        .await;
    let client = fake.client().unwrap();
    let deals = client.deals();
    let inputs: Vec<UpsertInput> = ["pi_1", "pi_2"]
        .iter()
        .map(|id| {
            UpsertInput::new(
                "stripe_payment_id",
                *id,
                props(&[("dealname", "Order"), ("amount", "10")]),
            )
        })
        .collect();
    deals.batch_upsert(&inputs).await.unwrap();
    let pi_2 = fake
        .deals()
        .into_iter()
        .find(|d| d.property("stripe_payment_id") == Some("pi_2"))
        .unwrap();
    assert!(fake.edit_property("deals", &pi_2.id, "amount", Some("99")));

    let ids: Vec<String> = ["pi_1", "pi_2", "pi_9"].map(str::to_owned).to_vec();
    let wanted = vec!["amount".to_owned(), "stripe_payment_id".to_owned()];
    let read = deals
        .batch_read(Some("stripe_payment_id"), &ids, &wanted)
        .await
        .unwrap();
    assert_eq!(read.http_status, 207);
    let mut amounts: Vec<(String, String)> = read
        .results
        .iter()
        .map(|o| {
            (
                o.property("stripe_payment_id").unwrap().to_owned(),
                o.property("amount").unwrap().to_owned(),
            )
        })
        .collect();
    amounts.sort();
    assert_eq!(
        amounts,
        [("pi_1".into(), "10".into()), ("pi_2".into(), "99".into())]
    );
    let missing: Vec<&str> = read
        .errors
        .iter()
        .flat_map(|e| e.context.get("ids").into_iter().flatten())
        .map(String::as_str)
        .collect();
    assert_eq!(missing, ["pi_9"]);
    assert!(read
        .results
        .iter()
        .all(|o| o.property("dealname").is_none()));

    assert!(fake.delete_object("deals", &pi_2.id));
    assert!(!fake.delete_object("deals", &pi_2.id));
    let listed = deals
        .search(
            &SearchRequest::new()
                .filter_has_property("stripe_payment_id")
                .properties(["stripe_payment_id"]),
        )
        .await
        .unwrap();
    assert_eq!(listed.total, 1);
    assert_eq!(
        listed
            .results
            .first()
            .and_then(|o| o.property("stripe_payment_id")),
        Some("pi_1")
    );
}

async fn fake_with_unique_payment_id() -> FakeHubSpot {
    FakeHubSpot::builder()
        .property(
            "deals",
            PropertyCreate::text("stripe_payment_id", "Stripe payment", "dealinformation")
                .unique(true),
        )
        .start()
        .await
}

fn deal_input(payment: &str, contact_id: &str) -> ObjectInput {
    ObjectInput::default()
        .property("dealname", format!("Order {payment}"))
        .property("stripe_payment_id", payment)
        .associate(contact_id, AssociationType::DEAL_TO_CONTACT)
}

/// HubSpot refuses a batch create as a whole when one input's unique value exists (409
/// CONFLICT naming the first existing object): nothing of the batch is created.
#[tokio::test]
async fn batch_create_with_a_taken_unique_value_creates_nothing() {
    let fake = fake_with_unique_payment_id().await;
    let client = fake.client().unwrap();
    let contact = client
        .contacts()
        .create(&ObjectInput::default().property("email", "ada@example.com"))
        .await
        .unwrap();
    let existing = client
        .deals()
        .create(&deal_input("pi_1", &contact.id))
        .await
        .unwrap();
    let refused = client
        .deals()
        .batch_create(&[
            deal_input("pi_2", &contact.id),
            deal_input("pi_1", &contact.id),
        ])
        .await
        .unwrap_err();
    let conflict = refused.unique_conflict().expect("a unique conflict");
    assert_eq!(conflict.existing_id.as_deref(), Some(existing.id.as_str()));
    assert_eq!(fake.deals().len(), 1, "a refused batch creates nothing");
}

/// Two inputs of one batch carrying the same unique value: the fake used to create the first
/// and then refuse, leaving half a batch behind a 409.
#[tokio::test]
async fn batch_create_with_one_unique_value_twice_creates_nothing() {
    let fake = fake_with_unique_payment_id().await;
    let client = fake.client().unwrap();
    let contact = client
        .contacts()
        .create(&ObjectInput::default().property("email", "ada@example.com"))
        .await
        .unwrap();
    let refused = client
        .deals()
        .batch_create(&[
            deal_input("pi_1", &contact.id),
            deal_input("pi_2", &contact.id),
            deal_input("pi_1", &contact.id),
        ])
        .await
        .unwrap_err();
    assert!(matches!(refused, Error::Validation { .. }), "{refused:?}");
    assert!(fake.deals().is_empty(), "a refused batch creates nothing");
}

/// The create-on-first-write path: new payments are created with their association inline;
/// one whose deal exists (made by hand, or by a create whose answer was lost) is reported by
/// its value with the existing deal's id, and never created twice.
#[tokio::test]
async fn batch_create_unique_reports_taken_values_and_creates_the_rest_with_associations() {
    let fake = fake_with_unique_payment_id().await;
    let client = fake.client().unwrap();
    let contact = client
        .contacts()
        .create(&ObjectInput::default().property("email", "ada@example.com"))
        .await
        .unwrap();
    let by_hand = client
        .deals()
        .create(&ObjectInput::default().property("stripe_payment_id", "pi_2"))
        .await
        .unwrap();
    fake.clear_requests();
    let inputs: Vec<ObjectInput> = ["pi_1", "pi_2", "pi_3"]
        .iter()
        .map(|p| deal_input(p, &contact.id))
        .collect();
    let out = client
        .deals()
        .batch_create_unique("stripe_payment_id", &inputs)
        .await
        .unwrap();
    assert_eq!(
        out.conflicts,
        BTreeMap::from([("pi_2".to_owned(), by_hand.id.clone())])
    );
    assert_eq!(
        out.created.keys().cloned().collect::<Vec<_>>(),
        vec!["pi_1".to_owned(), "pi_3".to_owned()]
    );
    assert!(out.errors.is_empty());
    assert_eq!(fake.deals().len(), 3, "one deal per payment");
    for deal in out.created.values() {
        assert!(fake.are_associated("deals", &deal.id, "contacts", &contact.id));
    }
    // Refused create, read back by value, create of the rest.
    assert_eq!(fake.total_requests(), 3);

    // Everything exists now (a retry after a lost answer): all reported, nothing created.
    let again = client
        .deals()
        .batch_create_unique("stripe_payment_id", &inputs)
        .await
        .unwrap();
    assert!(again.created.is_empty());
    assert_eq!(again.conflicts.len(), 3);
    assert_eq!(fake.deals().len(), 3);
}

/// An update that gives an object another object's unique value is refused with 409.
#[tokio::test]
async fn update_to_another_objects_unique_value_is_a_conflict() {
    let fake = fake_with_unique_payment_id().await;
    let client = fake.client().unwrap();
    let one = client
        .deals()
        .create(&ObjectInput::default().property("stripe_payment_id", "pi_1"))
        .await
        .unwrap();
    let two = client
        .deals()
        .create(&ObjectInput::default().property("stripe_payment_id", "pi_2"))
        .await
        .unwrap();
    let refused = client
        .deals()
        .update(
            &ObjectRef::id(two.id.as_str()),
            &props(&[("stripe_payment_id", "pi_1")]),
        )
        .await
        .unwrap_err();
    assert_eq!(
        refused.unique_conflict().and_then(|c| c.existing_id),
        Some(one.id)
    );
}
