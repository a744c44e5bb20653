//! Every call goes to the path of the configured HubSpot API version; validation-rule
//! rejections are classified.

use std::collections::BTreeMap;

#[cfg(feature = "fake")]
use hubspot_crm::fake::{FakeHubSpot, ValidationRule};
use hubspot_crm::{
    ApiVersion, Client, Error, ObjectInput, ObjectRef, ObjectType, PropertyCreate, RetryPolicy,
    SearchRequest, UpdateInput, UpsertInput,
};
use serde_json::{json, Value};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

const TOKEN: &str = "any-service-key-format";

fn contact() -> Value {
    json!({"id": "1", "properties": {"email": "ada@example.com"}, "archived": false})
}

fn batch() -> Value {
    json!({"status": "COMPLETE", "results": []})
}

/// Mounts one mock per endpoint the client calls, each expecting exactly one request,
/// at the paths `prefix(api)` gives.
async fn mount_every_endpoint(server: &MockServer, prefix: impl Fn(&str) -> String) {
    let objects = prefix("objects");
    let legacy_association_objects = prefix("association-objects");
    let mocks: Vec<(&str, String, Value)> = vec![
        ("POST", format!("{objects}/contacts"), contact()),
        (
            "GET",
            format!("{objects}/contacts/ada@example.com"),
            contact(),
        ),
        ("PATCH", format!("{objects}/deals/77"), contact()),
        (
            "POST",
            format!("{objects}/contacts/search"),
            json!({"total": 0, "results": []}),
        ),
        ("POST", format!("{objects}/contacts/batch/upsert"), batch()),
        ("POST", format!("{objects}/deals/batch/create"), batch()),
        ("POST", format!("{objects}/contacts/batch/update"), batch()),
        ("POST", format!("{objects}/contacts/merge"), contact()),
        (
            "POST",
            format!("{objects}/contacts/gdpr-delete"),
            json!(null),
        ),
        (
            "PUT",
            format!("{legacy_association_objects}/deals/1/associations/default/contacts/2"),
            batch(),
        ),
        (
            "POST",
            format!(
                "{}/deals/contacts/batch/associate/default",
                prefix("associations")
            ),
            batch(),
        ),
        (
            "GET",
            format!("{}/deals", prefix("properties")),
            json!({"results": []}),
        ),
        (
            "GET",
            format!("{}/deals/stripe_payment_id", prefix("properties")),
            json!({"name": "stripe_payment_id"}),
        ),
        (
            "POST",
            format!("{}/deals", prefix("properties")),
            json!({"name": "stripe_payment_id"}),
        ),
        (
            "GET",
            format!("{}/deals", prefix("pipelines")),
            json!({"results": []}),
        ),
        (
            "GET",
            format!("{}/0-3", prefix("property-validations")),
            json!({"results": []}),
        ),
    ];
    for (verb, at, answer) in mocks {
        Mock::given(method(verb))
            .and(path(at))
            .respond_with(ResponseTemplate::new(200).set_body_json(answer))
            .expect(1)
            .mount(server)
            .await;
    }
}

async fn call_every_endpoint(c: &Client) {
    c.contacts()
        .create(&ObjectInput::default().property("email", "ada@example.com"))
        .await
        .unwrap();
    c.contacts()
        .get(&ObjectRef::email("ada@example.com"), &[])
        .await
        .unwrap();
    c.deals()
        .update(&ObjectRef::id("77"), &BTreeMap::new())
        .await
        .unwrap();
    c.contacts()
        .search(&SearchRequest::new().filter_eq("email", "ada@example.com"))
        .await
        .unwrap();
    c.contacts()
        .batch_upsert(&[UpsertInput::by_email("ada@example.com", BTreeMap::new())])
        .await
        .unwrap();
    c.deals()
        .batch_create(&[ObjectInput::default().property("dealname", "x")])
        .await
        .unwrap();
    c.contacts()
        .batch_update(&[UpdateInput::new("1", BTreeMap::new())])
        .await
        .unwrap();
    c.contacts().merge("1", "2").await.unwrap();
    c.contacts().gdpr_delete(&ObjectRef::id("1")).await.unwrap();
    c.associations()
        .associate_default(&ObjectType::Deals, "1", &ObjectType::Contacts, "2")
        .await
        .unwrap();
    c.associations()
        .batch_associate_default(&ObjectType::Deals, &ObjectType::Contacts, [("1", "2")])
        .await
        .unwrap();
    let properties = c.properties(ObjectType::Deals);
    properties.list().await.unwrap();
    properties.get("stripe_payment_id").await.unwrap();
    properties
        .create(&PropertyCreate::text(
            "stripe_payment_id",
            "Payment",
            "dealinformation",
        ))
        .await
        .unwrap();
    properties.validation_rules().await.unwrap();
    c.pipelines(ObjectType::Deals).list().await.unwrap();
}

fn client(server: &MockServer, version: Option<ApiVersion>) -> Client {
    let mut builder = Client::builder(TOKEN)
        .base_url(server.uri())
        .retry_policy(RetryPolicy::none());
    if let Some(version) = version {
        builder = builder.api_version(version);
    }
    builder.build().unwrap()
}

#[tokio::test]
async fn the_default_is_2026_09_and_every_call_uses_its_dated_path() {
    let server = MockServer::start().await;
    mount_every_endpoint(&server, |api| {
        let api = api.replace("association-objects", "objects");
        format!("/crm/{api}/2026-09")
    })
    .await;
    let c = client(&server, None);
    assert_eq!(c.api_version(), ApiVersion::V2026_09);
    call_every_endpoint(&c).await;
    server.verify().await;
}

#[tokio::test]
async fn a_pinned_version_goes_to_its_own_dated_paths() {
    let server = MockServer::start().await;
    mount_every_endpoint(&server, |api| {
        let api = api.replace("association-objects", "objects");
        format!("/crm/{api}/2026-03")
    })
    .await;
    call_every_endpoint(&client(&server, Some(ApiVersion::V2026_03))).await;
    server.verify().await;
}

#[tokio::test]
async fn the_legacy_opt_in_goes_to_v3_and_v4_paths() {
    let server = MockServer::start().await;
    mount_every_endpoint(&server, |api| match api {
        "associations" => "/crm/v4/associations".to_owned(),
        "association-objects" => "/crm/v4/objects".to_owned(),
        other => format!("/crm/v3/{other}"),
    })
    .await;
    call_every_endpoint(&client(&server, Some(ApiVersion::Legacy))).await;
    server.verify().await;
}

#[test]
fn an_unknown_version_string_is_an_error_naming_what_is_accepted() {
    let e = "2025-09".parse::<ApiVersion>().unwrap_err();
    let text = e.to_string();
    assert!(text.contains("\"2025-09\""), "{text}");
    for accepted in ["2026-09", "2026-03", "legacy"] {
        assert!(text.contains(accepted), "{text}");
    }
}

#[tokio::test]
async fn a_validation_rule_rejection_is_classified_and_not_retried() {
    let server = MockServer::start().await;
    let body = json!({
        "status": "error",
        "category": "VALIDATION_ERROR",
        "message": "Property values were not valid",
        "correlationId": "abc",
        "errors": [{
            "message": "Close date is required when the deal is closed won",
            "code": "CONDITIONALLY_REQUIRED_PROPERTY",
            "context": {"propertyName": ["closedate"], "ids": ["pi_2"]}
        }]
    });
    Mock::given(method("POST"))
        .and(path("/crm/objects/2026-09/deals/batch/upsert"))
        .respond_with(ResponseTemplate::new(400).set_body_json(body))
        .expect(1)
        .mount(&server)
        .await;
    let c = Client::builder(TOKEN)
        .base_url(server.uri())
        .retry_policy(RetryPolicy::new(
            3,
            std::time::Duration::from_millis(1),
            std::time::Duration::from_millis(2),
        ))
        .build()
        .unwrap();
    let inputs = [
        UpsertInput::new("stripe_payment_id", "pi_1", BTreeMap::new()),
        UpsertInput::new("stripe_payment_id", "pi_2", BTreeMap::new()),
    ];
    let err = c.deals().batch_upsert(&inputs).await.unwrap_err();
    assert!(!err.is_retryable());
    let text = err.to_string();
    assert!(text.contains("Close date is required"), "{text}");
    match err {
        Error::RuleViolation { rules, .. } => {
            assert_eq!(rules.len(), 1);
            assert_eq!(rules[0].properties, vec!["closedate".to_owned()]);
            assert_eq!(rules[0].ids, vec!["pi_2".to_owned()]);
        }
        other => panic!("expected a rule violation, got {other:?}"),
    }
    server.verify().await;
}

#[cfg(feature = "fake")]
fn closed_won_rule() -> ValidationRule {
    ValidationRule::required_when(
        "deals",
        "closedate",
        "dealstage",
        "closedwon",
        "Close date is required when the deal is closed won",
    )
}

#[cfg(feature = "fake")]
fn deal(name: &str, stage: &str) -> BTreeMap<String, String> {
    [("dealname", name), ("dealstage", stage)]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect()
}

#[cfg(feature = "fake")]
#[tokio::test]
async fn the_fake_enforces_rules_from_2026_09_only_and_names_the_input() {
    let fake = FakeHubSpot::builder()
        .property(
            "deals",
            PropertyCreate::text("stripe_payment_id", "Payment", "dealinformation").unique(true),
        )
        .validation_rule(closed_won_rule())
        .start()
        .await;
    let inputs = [
        UpsertInput::new(
            "stripe_payment_id",
            "pi_ok",
            deal("ok", "appointmentscheduled"),
        ),
        UpsertInput::new("stripe_payment_id", "pi_won", deal("won", "closedwon")),
    ];
    let current = fake.client().unwrap();
    match current.deals().batch_upsert(&inputs).await {
        Err(Error::RuleViolation { rules, .. }) => {
            assert_eq!(rules.len(), 1);
            assert_eq!(rules[0].ids, vec!["pi_won".to_owned()]);
            assert_eq!(rules[0].properties, vec!["closedate".to_owned()]);
        }
        other => panic!("expected a rule violation, got {other:?}"),
    }
    assert!(fake.deals().is_empty(), "a rejected batch writes nothing");
    // The same write with a close date passes.
    let mut won = deal("won", "closedwon");
    won.insert("closedate".into(), "2026-11-30T00:00:00Z".into());
    current
        .deals()
        .batch_upsert(&[UpsertInput::new("stripe_payment_id", "pi_won", won)])
        .await
        .unwrap();
    // Versions before 2026-09 do not enforce the rule.
    for older in [ApiVersion::V2026_03, ApiVersion::Legacy] {
        let c = fake.client_builder().api_version(older).build().unwrap();
        c.deals().batch_upsert(&inputs).await.unwrap();
    }
    assert_eq!(fake.deals().len(), 2);
    // An update that moves a deal to closed won without a close date breaks the rule too.
    let ok = fake
        .deals()
        .into_iter()
        .find(|d| d.property("stripe_payment_id") == Some("pi_ok"))
        .unwrap();
    let stage: BTreeMap<String, String> = [("dealstage".to_owned(), "closedwon".to_owned())].into();
    let err = current
        .deals()
        .update(&ObjectRef::id(ok.id), &stage)
        .await
        .unwrap_err();
    assert!(matches!(err, Error::RuleViolation { .. }), "{err:?}");
}

#[cfg(feature = "fake")]
#[tokio::test]
async fn the_fake_serves_dated_and_legacy_paths_from_one_state_and_records_the_version() {
    let fake = FakeHubSpot::start().await;
    let dated = fake.client().unwrap();
    let legacy = fake
        .client_builder()
        .api_version(ApiVersion::Legacy)
        .build()
        .unwrap();
    let made = dated
        .contacts()
        .create(&ObjectInput::default().property("email", "ada@example.com"))
        .await
        .unwrap();
    let read = legacy
        .contacts()
        .get(&ObjectRef::email("ada@example.com"), &["email"])
        .await
        .unwrap();
    assert_eq!(made.id, read.id);
    let deal = legacy
        .deals()
        .create(&ObjectInput::default().property("dealname", "d"))
        .await
        .unwrap();
    legacy
        .associations()
        .associate_default(
            &ObjectType::Deals,
            &deal.id,
            &ObjectType::Contacts,
            &made.id,
        )
        .await
        .unwrap();
    assert!(fake.are_associated("deals", &deal.id, "contacts", &made.id));
    let versions: Vec<(String, Option<ApiVersion>)> = fake
        .requests()
        .into_iter()
        .map(|r| (r.path, r.api_version))
        .collect();
    assert_eq!(
        versions,
        vec![
            (
                "/crm/objects/2026-09/contacts".to_owned(),
                Some(ApiVersion::V2026_09)
            ),
            (
                "/crm/v3/objects/contacts/ada@example.com".to_owned(),
                Some(ApiVersion::Legacy)
            ),
            ("/crm/v3/objects/deals".to_owned(), Some(ApiVersion::Legacy)),
            (
                format!(
                    "/crm/v4/objects/deals/{}/associations/default/contacts/{}",
                    deal.id, made.id
                ),
                Some(ApiVersion::Legacy)
            ),
        ]
    );
}

#[cfg(feature = "fake")]
#[tokio::test]
async fn upsert_results_carry_the_trace_id_of_their_input() {
    let fake = FakeHubSpot::start().await;
    let client = fake.client().unwrap();
    let inputs = [
        UpsertInput::by_email("a@example.com", BTreeMap::new()).trace_id("evt_a"),
        UpsertInput::by_email("b@example.com", BTreeMap::new()).trace_id("evt_b"),
        UpsertInput::by_email("c@example.com", BTreeMap::new()),
    ];
    let batch = client.contacts().batch_upsert(&inputs).await.unwrap();
    let traced: BTreeMap<Option<String>, Option<String>> = batch
        .results
        .iter()
        .map(|r| {
            (
                r.object_write_trace_id.clone(),
                r.object.property("email").map(str::to_owned),
            )
        })
        .collect();
    assert_eq!(
        traced.get(&Some("evt_b".to_owned())),
        Some(&Some("b@example.com".to_owned()))
    );
    assert_eq!(traced.get(&None), Some(&Some("c@example.com".to_owned())));
}
