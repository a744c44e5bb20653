//! Every call and every error class against wiremock, with HubSpot's response bodies.

use std::collections::BTreeMap;
use std::time::Duration;

use hubspot_crm::{
    AssociationType, Client, Error, ObjectInput, ObjectRef, ObjectType, PropertyCreate,
    PropertyOption, RateLimitPolicy, RetryPolicy, SearchRequest, TransportKind, UpsertInput,
};
use serde_json::{json, Value};
use wiremock::matchers::{body_json, body_partial_json, header, method, path, query_param};
use wiremock::{Mock, MockServer, ResponseTemplate};

const TOKEN: &str = "pat-na1-11111111-2222-3333-4444-555555555555";

fn client(server: &MockServer) -> Client {
    Client::builder(TOKEN)
        .base_url(server.uri())
        .retry_policy(RetryPolicy::none())
        .build()
        .unwrap()
}

fn retrying(server: &MockServer, retries: u32) -> Client {
    Client::builder(TOKEN)
        .base_url(server.uri())
        .retry_policy(RetryPolicy::new(
            retries,
            Duration::from_millis(1),
            Duration::from_millis(5),
        ))
        .build()
        .unwrap()
}

fn contact(id: &str, email: &str) -> Value {
    json!({
        "id": id,
        "properties": {
            "createdate": "2024-09-17T15:19:55.379Z",
            "email": email,
            "firstname": "Ada",
            "hs_object_id": id,
            "lastmodifieddate": "2024-09-17T15:19:55.379Z",
            "lastname": null
        },
        "createdAt": "2024-09-17T15:19:55.379Z",
        "updatedAt": "2024-09-17T15:19:55.379Z",
        "archived": false
    })
}

fn props(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

async fn requests(server: &MockServer) -> usize {
    server.received_requests().await.unwrap_or_default().len()
}

// ---------------------------------------------------------------------------------------
// Calls

#[tokio::test]
async fn create_contact_sends_token_and_normalized_email() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/crm/objects/2026-09/contacts"))
        .and(header("authorization", format!("Bearer {TOKEN}").as_str()))
        .and(body_json(
            json!({"properties": {"email": "ada@example.com", "firstname": "Ada"}}),
        ))
        .respond_with(ResponseTemplate::new(201).set_body_json(contact("512", "ada@example.com")))
        .expect(1)
        .mount(&server)
        .await;
    let created = client(&server)
        .contacts()
        .create(
            &ObjectInput::default()
                .property("email", "  Ada@Example.COM ")
                .property("firstname", "Ada"),
        )
        .await
        .unwrap();
    assert_eq!(created.id, "512");
    assert_eq!(created.property("email"), Some("ada@example.com"));
    assert_eq!(created.properties.get("lastname"), Some(&None));
    assert!(created.created_at.is_some());
    assert!(!created.archived);
}

#[tokio::test]
async fn get_and_update_by_email_use_id_property() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/crm/objects/2026-09/contacts/ada@example.com"))
        .and(query_param("idProperty", "email"))
        .and(query_param("properties", "email,firstname"))
        .respond_with(ResponseTemplate::new(200).set_body_json(contact("512", "ada@example.com")))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("PATCH"))
        .and(path("/crm/objects/2026-09/contacts/ada@example.com"))
        .and(query_param("idProperty", "email"))
        .and(body_json(json!({"properties": {"firstname": "Augusta"}})))
        .respond_with(ResponseTemplate::new(200).set_body_json(contact("512", "ada@example.com")))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("PATCH"))
        .and(path("/crm/objects/2026-09/deals/77"))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(json!({"id": "77", "properties": {}})),
        )
        .expect(1)
        .mount(&server)
        .await;
    let c = client(&server);
    let got = c
        .contacts()
        .get(
            &ObjectRef::email(" ADA@example.com"),
            &["email", "firstname"],
        )
        .await
        .unwrap();
    assert_eq!(got.id, "512");
    c.contacts()
        .update(
            &ObjectRef::property("email", "Ada@Example.com"),
            &props(&[("firstname", "Augusta")]),
        )
        .await
        .unwrap();
    let deal = c
        .deals()
        .update(&ObjectRef::id("77"), &props(&[("amount", "10")]))
        .await
        .unwrap();
    assert_eq!(deal.id, "77");
}

#[tokio::test]
async fn search_sends_filter_groups_and_pages() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/crm/objects/2026-09/contacts/search"))
        .and(body_json(json!({
            "filterGroups": [{"filters": [
                {"propertyName": "email", "operator": "EQ", "value": "ada@example.com"}
            ]}],
            "properties": ["email"],
            "limit": 1,
            "after": "0"
        })))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "total": 2,
            "results": [contact("512", "ada@example.com")],
            "paging": {"next": {"after": "1", "link": "?after=1"}}
        })))
        .expect(1)
        .mount(&server)
        .await;
    let page = client(&server)
        .contacts()
        .search(
            &SearchRequest::new()
                .filter_eq("email", "Ada@example.com ")
                .properties(["email"])
                .limit(1)
                .after("0"),
        )
        .await
        .unwrap();
    assert_eq!(page.total, 2);
    assert_eq!(page.results[0].id, "512");
    assert_eq!(page.next_after(), Some("1"));
    let err = client(&server)
        .contacts()
        .search(&SearchRequest::new().limit(201))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::InvalidInput(_)));
}

#[tokio::test]
async fn batch_upsert_reports_new_flags_and_partial_errors() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/crm/objects/2026-09/contacts/batch/upsert"))
        .and(body_json(json!({"inputs": [
            {"id": "ada@example.com", "idProperty": "email", "properties": {"firstname": "Ada"}},
            {"id": "bob@example.com", "idProperty": "email", "properties": {}}
        ]})))
        .respond_with(ResponseTemplate::new(207).set_body_json(json!({
            "status": "COMPLETE",
            "results": [{
                "id": "512", "properties": {"email": "ada@example.com"},
                "createdAt": "2024-09-17T15:19:55.379Z", "updatedAt": "2024-09-17T15:19:55.379Z",
                "archived": false, "new": true
            }],
            "numErrors": 1,
            "errors": [{
                "status": "error",
                "category": "VALIDATION_ERROR",
                "message": "Property values were not valid",
                "context": {"ids": ["bob@example.com"]},
                "errors": [{"message": "bad", "code": "INVALID_EMAIL", "context": {"propertyName": ["email"]}}]
            }],
            "requestedAt": "2024-09-17T15:19:55.379Z",
            "startedAt": "2024-09-17T15:19:55.379Z",
            "completedAt": "2024-09-17T15:19:55.379Z"
        })))
        .expect(1)
        .mount(&server)
        .await;
    let res = client(&server)
        .contacts()
        .batch_upsert(&[
            UpsertInput::by_email("Ada@Example.com", props(&[("firstname", "Ada")])),
            UpsertInput::new("email", " BOB@example.com", BTreeMap::new()),
        ])
        .await
        .unwrap();
    assert_eq!(res.http_status, 207);
    assert!(res.is_partial());
    assert_eq!(res.results.len(), 1);
    assert!(res.results[0].new);
    assert_eq!(res.errors[0].ids(), vec!["bob@example.com"]);
    assert_eq!(
        res.errors[0].errors[0].code.as_deref(),
        Some("INVALID_EMAIL")
    );
}

#[tokio::test]
async fn batches_over_100_or_with_duplicates_are_never_sent() {
    let server = MockServer::start().await;
    let c = client(&server);
    let inputs: Vec<UpsertInput> = (0..101)
        .map(|i| UpsertInput::by_email(&format!("u{i}@example.com"), BTreeMap::new()))
        .collect();
    let err = c.contacts().batch_upsert(&inputs).await.unwrap_err();
    assert!(matches!(err, Error::TooManyInputs { max: 100, got: 101 }));
    assert!(err.to_string().contains("split"));
    let creates = vec![ObjectInput::default(); 101];
    assert!(matches!(
        c.deals().batch_create(&creates).await,
        Err(Error::TooManyInputs { got: 101, .. })
    ));
    let pairs: Vec<(String, String)> = (0..101).map(|i| (i.to_string(), i.to_string())).collect();
    assert!(matches!(
        c.associations()
            .batch_associate_default(&ObjectType::Deals, &ObjectType::Contacts, pairs)
            .await,
        Err(Error::TooManyInputs { got: 101, .. })
    ));
    let dup = [
        UpsertInput::by_email("a@example.com", BTreeMap::new()),
        UpsertInput::by_email("A@example.com ", BTreeMap::new()),
    ];
    assert!(matches!(
        c.contacts().batch_upsert(&dup).await,
        Err(Error::InvalidInput(_))
    ));
    assert_eq!(requests(&server).await, 0);
}

#[tokio::test]
async fn deal_create_with_inline_association_and_batch_create() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/crm/objects/2026-09/deals"))
        .and(body_json(json!({
            "properties": {"dealname": "Order 1", "dealstage": "closedwon"},
            "associations": [{
                "to": {"id": "512"},
                "types": [{"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": 3}]
            }]
        })))
        .respond_with(ResponseTemplate::new(201).set_body_json(json!({
            "id": "9001", "properties": {"dealname": "Order 1"}, "archived": false
        })))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/crm/objects/2026-09/deals/batch/create"))
        .and(body_partial_json(
            json!({"inputs": [{"properties": {"dealname": "A"}}]}),
        ))
        .respond_with(ResponseTemplate::new(201).set_body_json(json!({
            "status": "COMPLETE",
            "results": [{"id": "9002", "properties": {"dealname": "A"}}]
        })))
        .expect(1)
        .mount(&server)
        .await;
    let c = client(&server);
    let deal = c
        .deals()
        .create(
            &ObjectInput::default()
                .property("dealname", "Order 1")
                .property("dealstage", "closedwon")
                .associate("512", AssociationType::DEAL_TO_CONTACT),
        )
        .await
        .unwrap();
    assert_eq!(deal.id, "9001");
    let batch = c
        .deals()
        .batch_create(&[ObjectInput::default().property("dealname", "A")])
        .await
        .unwrap();
    assert_eq!(batch.http_status, 201);
    assert_eq!(batch.results[0].id, "9002");
}

#[tokio::test]
async fn upsert_deals_by_unique_property() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/crm/objects/2026-09/deals/batch/upsert"))
        .and(body_json(json!({"inputs": [
            {"id": "pi_123", "idProperty": "stripe_payment_id", "properties": {"amount": "10.00"}}
        ]})))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "status": "COMPLETE",
            "results": [{"id": "9001", "properties": {"amount": "10.00"}, "new": false}]
        })))
        .expect(1)
        .mount(&server)
        .await;
    let res = client(&server)
        .deals()
        .batch_upsert(&[UpsertInput::new(
            "stripe_payment_id",
            "pi_123",
            props(&[("amount", "10.00")]),
        )])
        .await
        .unwrap();
    assert_eq!(res.http_status, 200);
    assert!(!res.results[0].new);
}

#[tokio::test]
async fn associations_v4_default_single_and_batch() {
    let server = MockServer::start().await;
    let answer = json!({
        "status": "COMPLETE",
        "results": [{
            "from": {"id": "9001"}, "to": {"id": "512"},
            "associationSpec": {"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": 3}
        }],
        "startedAt": "2024-09-17T15:19:55.379Z",
        "completedAt": "2024-09-17T15:19:55.379Z"
    });
    Mock::given(method("PUT"))
        .and(path(
            "/crm/objects/2026-09/deals/9001/associations/default/contacts/512",
        ))
        .respond_with(ResponseTemplate::new(200).set_body_json(answer.clone()))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path(
            "/crm/associations/2026-09/deals/contacts/batch/associate/default",
        ))
        .and(body_json(json!({"inputs": [
            {"from": {"id": "9001"}, "to": {"id": "512"}},
            {"from": {"id": "9002"}, "to": {"id": "513"}}
        ]})))
        .respond_with(ResponseTemplate::new(200).set_body_json(answer))
        .expect(1)
        .mount(&server)
        .await;
    let c = client(&server);
    let one = c
        .associations()
        .associate_default(&ObjectType::Deals, "9001", &ObjectType::Contacts, "512")
        .await
        .unwrap();
    let spec = one.results[0].association_spec.as_ref().unwrap();
    assert_eq!(spec.association_type_id, 3);
    let batch = c
        .associations()
        .batch_associate_default(
            &ObjectType::Deals,
            &ObjectType::Contacts,
            [("9001", "512"), ("9002", "513")],
        )
        .await
        .unwrap();
    assert_eq!(batch.results[0].to.id, "512");
}

/// The v4 batch archive groups targets per source and reads HubSpot's empty 204; a deal is
/// archived with `DELETE`, and an unknown id is `NotFound`.
#[tokio::test]
async fn associations_batch_archive_and_object_archive() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path(
            "/crm/associations/2026-09/deals/contacts/batch/archive",
        ))
        .and(body_json(json!({"inputs": [
            {"from": {"id": "9001"}, "to": [{"id": "512"}, {"id": "513"}]},
            {"from": {"id": "9002"}, "to": [{"id": "514"}]}
        ]})))
        .respond_with(ResponseTemplate::new(204))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("DELETE"))
        .and(path("/crm/objects/2026-09/deals/9001"))
        .respond_with(ResponseTemplate::new(204))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("DELETE"))
        .and(path("/crm/objects/2026-09/deals/404"))
        .respond_with(ResponseTemplate::new(404).set_body_json(json!({
            "status": "error", "message": "resource not found",
            "category": "OBJECT_NOT_FOUND", "correlationId": "c-1"
        })))
        .mount(&server)
        .await;
    let c = client(&server);
    c.associations()
        .batch_archive(
            &ObjectType::Deals,
            &ObjectType::Contacts,
            [("9001", "512"), ("9001", "513"), ("9002", "514")],
        )
        .await
        .unwrap();
    let nothing: [(&str, &str); 0] = [];
    c.associations()
        .batch_archive(&ObjectType::Deals, &ObjectType::Contacts, nothing)
        .await
        .unwrap();
    c.archive(&ObjectType::Deals, "9001").await.unwrap();
    let missing = c.archive(&ObjectType::Deals, "404").await;
    assert!(
        matches!(missing, Err(Error::NotFound { .. })),
        "{missing:?}"
    );
}

#[tokio::test]
async fn properties_list_get_create() {
    let server = MockServer::start().await;
    let prop = json!({
        "name": "stripe_payment_id", "label": "Stripe payment id", "type": "string",
        "fieldType": "text", "groupName": "dealinformation", "hasUniqueValue": true,
        "options": [], "hubspotDefined": false, "someNewField": {"x": 1}
    });
    Mock::given(method("GET"))
        .and(path("/crm/properties/2026-09/deals"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"results": [prop.clone()]})))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/crm/properties/2026-09/deals/stripe_payment_id"))
        .respond_with(ResponseTemplate::new(200).set_body_json(prop.clone()))
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/crm/properties/2026-09/contacts"))
        .and(body_json(json!({
            "name": "plan", "label": "Plan", "type": "enumeration", "fieldType": "select",
            "groupName": "contactinformation", "hasUniqueValue": false,
            "options": [{"label": "Gold", "value": "gold", "hidden": false}]
        })))
        .respond_with(ResponseTemplate::new(201).set_body_json(json!({
            "name": "plan", "type": "enumeration", "options": [{"label": "Gold", "value": "gold"}]
        })))
        .expect(1)
        .mount(&server)
        .await;
    let c = client(&server);
    let list = c.properties(ObjectType::Deals).list().await.unwrap();
    assert!(list[0].has_unique_value);
    let one = c
        .properties(ObjectType::Deals)
        .get("stripe_payment_id")
        .await
        .unwrap();
    assert_eq!(one.field_type, "text");
    let created = c
        .properties(ObjectType::Contacts)
        .create(&PropertyCreate::enumeration(
            "plan",
            "Plan",
            "contactinformation",
            vec![PropertyOption::new("Gold", "gold")],
        ))
        .await
        .unwrap();
    assert_eq!(created.options[0].value, "gold");
    let bad = c
        .properties(ObjectType::Contacts)
        .create(&PropertyCreate::text("Bad Name", "x", "contactinformation"))
        .await
        .unwrap_err();
    assert!(matches!(bad, Error::InvalidInput(_)));
}

// ---------------------------------------------------------------------------------------
// Error classes

async fn answer(status: u16, body: Value) -> (MockServer, Error) {
    answer_with(ResponseTemplate::new(status).set_body_json(body)).await
}

async fn answer_with(template: ResponseTemplate) -> (MockServer, Error) {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/crm/objects/2026-09/contacts/batch/upsert"))
        .respond_with(template)
        .mount(&server)
        .await;
    let err = retrying(&server, 2)
        .contacts()
        .batch_upsert(&[UpsertInput::by_email("a@example.com", BTreeMap::new())])
        .await
        .unwrap_err();
    (server, err)
}

#[tokio::test]
async fn unauthorized_is_not_retried_and_hides_the_token() {
    let (server, err) = answer(
        401,
        json!({
            "status": "error",
            "message": "Authentication credentials not found. This API supports OAuth 2.0 authentication and you can find more details at https://developers.hubspot.com/docs/methods/auth/oauth-overview",
            "correlationId": "2dea5219-07f2-40ce-82ec-9c2e302317a4",
            "category": "INVALID_AUTHENTICATION"
        }),
    )
    .await;
    assert!(matches!(err, Error::Unauthorized { .. }));
    assert_eq!(
        err.correlation_id(),
        Some("2dea5219-07f2-40ce-82ec-9c2e302317a4")
    );
    assert!(!err.is_retryable());
    assert_eq!(requests(&server).await, 1);
    for shown in [err.to_string(), format!("{err:?}")] {
        assert!(!shown.contains(TOKEN), "token leaked: {shown}");
    }
}

#[tokio::test]
async fn missing_scopes_are_named() {
    let (server, err) = answer(
        403,
        json!({
            "status": "error",
            "message": "This app hasn't been granted all required scopes to make this call. Read more about required scopes here: https://developers.hubspot.com/scopes.",
            "correlationId": "4f2071b3-bf52-4e77-8dbe-6f80ad4f3a5f",
            "errors": [{
                "message": "One or more of the following scopes are required.",
                "context": {"requiredGranularScopes": ["crm.objects.contacts.write", "crm.schemas.contacts.write"]}
            }],
            "links": {"scopes": "https://developers.hubspot.com/scopes"},
            "category": "MISSING_SCOPES"
        }),
    )
    .await;
    let Error::Forbidden {
        missing_scopes,
        details,
    } = &err
    else {
        panic!("{err:?}")
    };
    assert_eq!(
        missing_scopes,
        &["crm.objects.contacts.write", "crm.schemas.contacts.write"]
    );
    assert_eq!(details.category.as_deref(), Some("MISSING_SCOPES"));
    assert!(err.to_string().contains("crm.schemas.contacts.write"));
    assert_eq!(requests(&server).await, 1);
}

#[tokio::test]
async fn unknown_properties_are_named_from_either_body_shape() {
    // The shape v3 object endpoints answer: the legacy list embedded in `message`.
    let (_s, err) = answer(400, json!({
        "status": "error",
        "message": "Property values were not valid: [{\"isValid\":false,\"message\":\"Property \\\"stripe_customer_id\\\" does not exist\",\"error\":\"PROPERTY_DOESNT_EXIST\",\"name\":\"stripe_customer_id\",\"localizedErrorMessage\":\"Property \\\"stripe_customer_id\\\" does not exist\",\"portalId\":123}]",
        "correlationId": "b8ef1f5b-36f6-4c2a-a0c0-1f6e1e1a8a51",
        "category": "VALIDATION_ERROR"
    }))
    .await;
    let Error::Validation {
        unknown_properties, ..
    } = &err
    else {
        panic!("{err:?}")
    };
    assert_eq!(unknown_properties, &["stripe_customer_id"]);
    // The structured shape: errors[].context.propertyName.
    let (server, err) = answer(400, json!({
        "status": "error",
        "message": "Property values were not valid",
        "correlationId": "c1",
        "category": "VALIDATION_ERROR",
        "errors": [
            {"message": "Property \"plan\" does not exist", "code": "PROPERTY_DOESNT_EXIST", "context": {"propertyName": ["plan"]}},
            {"message": "Property \"seats\" does not exist", "code": "PROPERTY_DOESNT_EXIST", "context": {"propertyName": ["seats"]}}
        ]
    }))
    .await;
    let Error::Validation {
        unknown_properties, ..
    } = &err
    else {
        panic!("{err:?}")
    };
    assert_eq!(unknown_properties, &["plan", "seats"]);
    assert!(err.to_string().contains("create these properties"));
    assert_eq!(requests(&server).await, 1, "400 must not be retried");
}

#[tokio::test]
async fn invalid_option_and_invalid_email_name_the_value() {
    let (_s, err) = answer(400, json!({
        "status": "error",
        "message": "Property values were not valid: [{\"isValid\":false,\"message\":\"gold was not one of the allowed options: [label: \\\"Lead\\\"\\nvalue: \\\"lead\\\"\\n]\",\"error\":\"INVALID_OPTION\",\"name\":\"lifecyclestage\"},{\"isValid\":false,\"message\":\"Email address not-an-email is invalid\",\"error\":\"INVALID_EMAIL\",\"name\":\"email\"}]",
        "correlationId": "c2",
        "category": "VALIDATION_ERROR"
    }))
    .await;
    let Error::Validation {
        invalid_options,
        invalid_values,
        unknown_properties,
        ..
    } = &err
    else {
        panic!("{err:?}")
    };
    assert!(unknown_properties.is_empty());
    assert_eq!(
        invalid_options[0].property.as_deref(),
        Some("lifecyclestage")
    );
    assert_eq!(invalid_options[0].value.as_deref(), Some("gold"));
    assert_eq!(invalid_values[0].code, "INVALID_EMAIL");
    assert_eq!(invalid_values[0].value.as_deref(), Some("not-an-email"));
}

#[tokio::test]
async fn conflict_carries_the_existing_id() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/crm/objects/2026-09/contacts"))
        .respond_with(ResponseTemplate::new(409).set_body_json(json!({
            "status": "error",
            "message": "Contact already exists. Existing ID: 37765128953",
            "correlationId": "2dea5219-07f2-40ce-82ec-9c2e302317a4",
            "category": "CONFLICT"
        })))
        .mount(&server)
        .await;
    let err = retrying(&server, 3)
        .contacts()
        .create(&ObjectInput::default().property("email", "a@example.com"))
        .await
        .unwrap_err();
    let Error::Conflict { existing_id, .. } = &err else {
        panic!("{err:?}")
    };
    assert_eq!(existing_id.as_deref(), Some("37765128953"));
    assert_eq!(err.status(), Some(409));
    assert_eq!(requests(&server).await, 1);
}

#[tokio::test]
async fn not_found_and_locked() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/crm/objects/2026-09/contacts/404"))
        .respond_with(ResponseTemplate::new(404).set_body_json(json!({
            "status": "error", "message": "resource not found", "correlationId": "c3", "category": "OBJECT_NOT_FOUND"
        })))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/crm/objects/2026-09/contacts/423"))
        .respond_with(ResponseTemplate::new(423).set_body_json(json!({
            "status": "error", "message": "locked", "correlationId": "c4"
        })))
        .mount(&server)
        .await;
    let c = client(&server);
    let err = c
        .contacts()
        .get(&ObjectRef::id("404"), &[])
        .await
        .unwrap_err();
    assert!(matches!(err, Error::NotFound { .. }));
    assert!(!err.is_retryable());
    let err = c
        .contacts()
        .get(&ObjectRef::id("423"), &[])
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Locked { .. }));
    assert!(err.is_retryable());
}

fn rate_limited(policy: &str) -> ResponseTemplate {
    ResponseTemplate::new(429).set_body_json(json!({
        "status": "error",
        "message": format!("You have reached your {} limit.", policy.to_lowercase()),
        "errorType": "RATE_LIMIT",
        "correlationId": "c033cdaa-2c40-4a64-ae48-b4cec88dad24",
        "policyName": policy,
        "groupName": "publicapi:private-app:123"
    }))
}

#[tokio::test]
async fn rate_limit_policies_are_classified() {
    for (name, policy, retryable) in [
        (
            "TEN_SECONDLY_ROLLING",
            RateLimitPolicy::TenSecondlyRolling,
            true,
        ),
        ("SECONDLY", RateLimitPolicy::Secondly, true),
        ("DAILY", RateLimitPolicy::Daily, false),
    ] {
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .respond_with(rate_limited(name))
            .mount(&server)
            .await;
        let err = client(&server)
            .contacts()
            .search(&SearchRequest::new())
            .await
            .unwrap_err();
        let Error::RateLimited {
            policy: got,
            retry_after,
            ..
        } = &err
        else {
            panic!("{err:?}")
        };
        assert_eq!(got, &policy);
        assert_eq!(*retry_after, None);
        assert_eq!(err.is_retryable(), retryable, "{name}");
        assert_eq!(requests(&server).await, 1, "RetryPolicy::none sends once");
    }
}

#[tokio::test]
async fn retry_after_is_read_and_daily_is_never_retried() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(rate_limited("DAILY").insert_header("Retry-After", "3600"))
        .mount(&server)
        .await;
    let err = retrying(&server, 3)
        .contacts()
        .get(&ObjectRef::id("1"), &[])
        .await
        .unwrap_err();
    assert_eq!(err.retry_after(), Some(Duration::from_secs(3600)));
    assert_eq!(requests(&server).await, 1);
}

#[tokio::test]
async fn server_errors_with_html_bodies_are_typed() {
    let (server, err) = answer_with(
        ResponseTemplate::new(502)
            .set_body_raw(
                "<html><body><h1>502 Bad Gateway</h1></body></html>",
                "text/html",
            )
            .insert_header("X-HubSpot-Correlation-Id", "hdr-cid"),
    )
    .await;
    assert!(matches!(err, Error::Server { .. }));
    assert_eq!(err.status(), Some(502));
    assert_eq!(err.correlation_id(), Some("hdr-cid"));
    assert_eq!(requests(&server).await, 3, "1 attempt + 2 retries");
}

#[tokio::test]
async fn malformed_success_bodies_are_decode_errors() {
    for (body, what) in [
        ("{not json", "malformed"),
        ("", "empty"),
        (r#"{"properties":{"email":"a@b.co"}}"#, "missing id"),
        (r#"{"id":"1","createdAt":"yesterday"}"#, "bad timestamp"),
        (r#"{"id":{"x":1}}"#, "odd id"),
    ] {
        let server = MockServer::start().await;
        Mock::given(method("GET"))
            .respond_with(ResponseTemplate::new(200).set_body_raw(body, "application/json"))
            .mount(&server)
            .await;
        let err = retrying(&server, 3)
            .contacts()
            .get(&ObjectRef::id("1"), &[])
            .await
            .unwrap_err();
        assert!(
            matches!(err, Error::Decode { status: 200, .. }),
            "{what}: {err:?}"
        );
        assert!(!err.is_retryable());
    }
}

#[tokio::test]
async fn lenient_to_fields_and_values_hubspot_adds() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "id": 42,
            "properties": {"amount": 10.5, "email": null},
            "propertiesWithHistory": {},
            "archived": false,
            "somethingNew": "UNKNOWN_ENUM_VALUE"
        })))
        .mount(&server)
        .await;
    let got = client(&server)
        .deals()
        .get(&ObjectRef::id("42"), &[])
        .await
        .unwrap();
    assert_eq!(got.id, "42");
    assert_eq!(got.property("amount"), Some("10.5"));
    assert_eq!(got.property("email"), None);
}

// ---------------------------------------------------------------------------------------
// Retries

#[tokio::test]
async fn transient_failures_are_retried_until_success() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(503))
        .up_to_n_times(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .respond_with(rate_limited("TEN_SECONDLY_ROLLING"))
        .up_to_n_times(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(json!({"status": "COMPLETE", "results": []})),
        )
        .mount(&server)
        .await;
    let res = retrying(&server, 3)
        .contacts()
        .batch_upsert(&[UpsertInput::by_email("a@example.com", BTreeMap::new())])
        .await
        .unwrap();
    assert_eq!(res.http_status, 200);
    assert_eq!(requests(&server).await, 3);
}

#[tokio::test]
async fn retries_stop_after_max_and_can_be_turned_off() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(500))
        .mount(&server)
        .await;
    let err = retrying(&server, 2)
        .contacts()
        .get(&ObjectRef::id("1"), &[])
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Server { .. }));
    assert_eq!(requests(&server).await, 3);
    server.reset().await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(500))
        .mount(&server)
        .await;
    client(&server)
        .contacts()
        .get(&ObjectRef::id("1"), &[])
        .await
        .unwrap_err();
    assert_eq!(requests(&server).await, 1);
}

#[tokio::test]
async fn creates_are_not_repeated_after_a_5xx() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(500))
        .mount(&server)
        .await;
    let err = retrying(&server, 3)
        .deals()
        .create(&ObjectInput::default().property("dealname", "x"))
        .await
        .unwrap_err();
    assert!(err.is_retryable(), "the caller may still decide to retry");
    assert_eq!(requests(&server).await, 1, "HubSpot may have created it");
}

#[tokio::test]
async fn transport_errors_are_classified() {
    // A port nothing listens on: connect error.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    let c = Client::builder(TOKEN)
        .base_url(format!("http://{addr}"))
        .retry_policy(RetryPolicy::none())
        .build()
        .unwrap();
    let err = c
        .contacts()
        .get(&ObjectRef::email("a@example.com"), &[])
        .await
        .unwrap_err();
    let Error::Transport { kind, .. } = &err else {
        panic!("{err:?}")
    };
    assert_eq!(*kind, TransportKind::Connect);
    assert!(err.is_retryable());
    assert!(
        !err.to_string().contains("a@example.com"),
        "URL stripped: {err}"
    );

    // A server slower than the timeout.
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(200).set_delay(Duration::from_secs(5)))
        .mount(&server)
        .await;
    let c = Client::builder(TOKEN)
        .base_url(server.uri())
        .timeout(Duration::from_millis(100))
        .retry_policy(RetryPolicy::none())
        .build()
        .unwrap();
    let err = c
        .contacts()
        .get(&ObjectRef::id("1"), &[])
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
}

#[tokio::test]
async fn low_remaining_header_holds_every_clone() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(contact("1", "a@example.com"))
                .insert_header("X-HubSpot-RateLimit-Max", "100")
                .insert_header("X-HubSpot-RateLimit-Remaining", "0")
                .insert_header("X-HubSpot-RateLimit-Interval-Milliseconds", "10000"),
        )
        .mount(&server)
        .await;
    let c = client(&server);
    let clone = c.clone();
    assert!(clone.limiter().held_until().is_none());
    c.contacts().get(&ObjectRef::id("1"), &[]).await.unwrap();
    assert!(clone.limiter().held_until().is_some());
}

#[tokio::test]
async fn access_token_info_sends_the_token_in_the_body_and_lists_scopes() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/oauth/v2/private-apps/get/access-token-info"))
        .and(body_json(json!({"tokenKey": TOKEN})))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "userId": 123, "hubId": 62515, "appId": 456,
            "scopes": ["oauth", "crm.objects.contacts.read", "crm.objects.contacts.write"]
        })))
        .expect(1)
        .mount(&server)
        .await;
    let info = client(&server).access_token_info().await.unwrap();
    assert_eq!(info.hub_id.as_deref(), Some("62515"));
    assert_eq!(
        info.missing(&hubspot_crm::scopes::SYNC_SCOPES),
        vec!["crm.objects.deals.read", "crm.objects.deals.write"]
    );
    let bad = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(401).set_body_json(json!({
            "status": "error", "message": "The access token is invalid",
            "category": "INVALID_AUTHENTICATION"
        })))
        .mount(&bad)
        .await;
    let err = client(&bad).access_token_info().await.unwrap_err();
    assert!(matches!(err, Error::Unauthorized { .. }), "{err:?}");
    assert!(!format!("{err} {err:?}").contains(TOKEN));
}

#[tokio::test]
async fn pipelines_are_read_with_their_stages() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/crm/pipelines/2026-09/deals"))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(json!({"results": [{
                "id": "default", "label": "Sales Pipeline", "displayOrder": 0, "archived": false,
                "createdAt": "2024-09-17T15:19:55.379Z",
                "stages": [{
                    "id": "closedwon", "label": "Closed Won", "displayOrder": 5,
                    "metadata": {"isClosed": "true", "probability": 1.0},
                    "archived": false, "writePermissions": "CRM_PERMISSIONS_ENFORCEMENT"
                }]
            }]})),
        )
        .expect(1)
        .mount(&server)
        .await;
    let pipelines = client(&server)
        .pipelines(ObjectType::Deals)
        .list()
        .await
        .unwrap();
    let won = pipelines[0].stage("closedwon").unwrap();
    assert_eq!(
        won.metadata.get("probability").map(String::as_str),
        Some("1.0")
    );
    assert!(pipelines[0].stage("closedlost").is_none());
}

/// No header value can panic the client or stall it for longer than [`MAX_HOLD`]: an absurd
/// `Retry-After` is read saturating and every hold built from it is clamped; an absurd
/// rate-limit interval on a success is clamped before the limiter multiplies it.
#[tokio::test]
async fn absurd_rate_limit_headers_neither_panic_nor_hold_past_the_bound() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(
            rate_limited("TEN_SECONDLY_ROLLING")
                .insert_header("Retry-After", "18446744073709551615"),
        )
        .mount(&server)
        .await;
    let hubspot = client(&server);
    let err = hubspot
        .contacts()
        .get(&ObjectRef::id("1"), &[])
        .await
        .unwrap_err();
    let asked = err.retry_after().unwrap();
    assert_eq!(asked, Duration::from_secs(u64::MAX));
    assert_eq!(
        RetryPolicy::default().backoff(0, Some(asked)),
        hubspot_crm::MAX_HOLD
    );
    hubspot.limiter().hold_for(asked);
    let held = hubspot.limiter().held_until().unwrap();
    assert!(held <= std::time::Instant::now() + hubspot_crm::MAX_HOLD);

    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(contact("1", "a@example.com"))
                .insert_header("X-HubSpot-RateLimit-Max", "100")
                .insert_header("X-HubSpot-RateLimit-Remaining", "0")
                .insert_header(
                    "X-HubSpot-RateLimit-Interval-Milliseconds",
                    "18446744073709551615",
                ),
        )
        .mount(&server)
        .await;
    let hubspot = client(&server);
    hubspot
        .contacts()
        .get(&ObjectRef::id("1"), &[])
        .await
        .unwrap();
    let held = hubspot.limiter().held_until().unwrap();
    assert!(held <= std::time::Instant::now() + hubspot_crm::MAX_HOLD);
}

/// HubSpot quotes the rejected email in its message; the error never repeats it.
#[tokio::test]
async fn error_messages_never_quote_an_email() {
    let (_server, err) = answer(
        409,
        json!({"status":"error","message":"Contact already exists. Existing ID: 551, email jo.doe@example.com","category":"CONFLICT"}),
    )
    .await;
    let text = err.to_string();
    assert!(!text.contains("jo.doe@example.com"), "{text}");
    assert!(text.contains("[email]"), "{text}");
    let Error::Conflict { existing_id, .. } = &err else {
        panic!("{err:?}")
    };
    assert_eq!(existing_id.as_deref(), Some("551"));
}

// ---------------------------------------------------------------------------------------
// Creates refused for a unique value

fn deal(id: &str, payment: &str) -> Value {
    json!({"id": id, "properties": {"stripe_payment_id": payment, "hs_object_id": id}})
}

fn payment_inputs(payments: &[&str]) -> Vec<ObjectInput> {
    payments
        .iter()
        .map(|p| {
            ObjectInput::default()
                .property("stripe_payment_id", *p)
                .associate("512", AssociationType::DEAL_TO_CONTACT)
        })
        .collect()
}

/// The whole batch refused (409 naming only the first existing object, not the value): the
/// values are read back by the unique property, the holders reported by value, and the rest
/// created in a second request that no longer carries them.
#[tokio::test]
async fn whole_batch_409_is_resolved_by_value_and_the_rest_is_created() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/crm/objects/2026-09/deals/batch/create"))
        .respond_with(ResponseTemplate::new(409).set_body_json(json!({
            "status": "error",
            "message": "Deal already exists. Existing ID: 70",
            "correlationId": "c-1",
            "category": "CONFLICT"
        })))
        .up_to_n_times(1)
        .expect(1)
        .with_priority(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/crm/objects/2026-09/deals/batch/read"))
        .and(body_partial_json(json!({
            "idProperty": "stripe_payment_id",
            "inputs": [{"id": "pi_a"}, {"id": "pi_b"}, {"id": "pi_c"}]
        })))
        .respond_with(ResponseTemplate::new(207).set_body_json(json!({
            "status": "COMPLETE",
            "results": [deal("70", "pi_c"), deal("71", "pi_a")],
            "errors": [{"status": "error", "category": "OBJECT_NOT_FOUND",
                        "message": "Could not get some objects", "context": {"ids": ["pi_b"]}}]
        })))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/crm/objects/2026-09/deals/batch/create"))
        .and(body_json(json!({"inputs": [{
            "properties": {"stripe_payment_id": "pi_b"},
            "associations": [{"to": {"id": "512"},
                "types": [{"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": 3}]}]
        }]})))
        .respond_with(ResponseTemplate::new(201).set_body_json(json!({
            "status": "COMPLETE", "results": [deal("72", "pi_b")]
        })))
        .expect(1)
        .with_priority(2)
        .mount(&server)
        .await;
    let out = client(&server)
        .deals()
        .batch_create_unique(
            "stripe_payment_id",
            &payment_inputs(&["pi_c", "pi_a", "pi_b"]),
        )
        .await
        .unwrap();
    assert_eq!(
        out.conflicts,
        BTreeMap::from([
            ("pi_a".to_owned(), "71".to_owned()),
            ("pi_c".to_owned(), "70".to_owned())
        ])
    );
    assert_eq!(out.created.keys().collect::<Vec<_>>(), vec!["pi_b"]);
    assert_eq!(out.created["pi_b"].id, "72");
    assert!(out.errors.is_empty());
}

/// The 400 wording reported for custom unique properties is a conflict too, and names the
/// property.
#[tokio::test]
async fn already_has_that_value_400_is_a_unique_conflict() {
    let (_server, error) = answer(
        400,
        json!({"status": "error", "category": "VALIDATION_ERROR",
               "message": "propertyValue: already has that value stripe_payment_id"}),
    )
    .await;
    let conflict = error.unique_conflict().expect("a unique conflict");
    assert_eq!(conflict.property.as_deref(), Some("stripe_payment_id"));
    let other = answer(
        400,
        json!({"status": "error", "category": "VALIDATION_ERROR",
               "message": "Property values were not valid"}),
    )
    .await
    .1;
    assert_eq!(other.unique_conflict(), None);
}

/// A 207 whose errors name the conflicting values (and the holders) is matched by value, with
/// no read; an error naming no value makes it read the unmatched values back.
#[tokio::test]
async fn partial_207_conflicts_are_matched_by_the_value_they_name() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/crm/objects/2026-09/deals/batch/create"))
        .respond_with(ResponseTemplate::new(207).set_body_json(json!({
            "status": "COMPLETE",
            "results": [deal("80", "pi_b")],
            "errors": [
                {"status": "error", "category": "CONFLICT",
                 "message": "Deal already exists. Existing ID: 81", "context": {"ids": ["pi_a"]}},
                {"status": "error", "category": "OBJECT_ALREADY_EXISTS",
                 "message": "A deal with this stripe_payment_id already exists"},
                {"status": "error", "category": "VALIDATION_ERROR",
                 "message": "Property values were not valid", "context": {"ids": ["pi_d"]}}
            ]
        })))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/crm/objects/2026-09/deals/batch/read"))
        .and(body_partial_json(json!({
            "idProperty": "stripe_payment_id", "inputs": [{"id": "pi_c"}]
        })))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "status": "COMPLETE", "results": [deal("82", "pi_c")]
        })))
        .expect(1)
        .mount(&server)
        .await;
    let out = client(&server)
        .deals()
        .batch_create_unique(
            "stripe_payment_id",
            &payment_inputs(&["pi_a", "pi_b", "pi_c", "pi_d"]),
        )
        .await
        .unwrap();
    assert_eq!(out.created.keys().collect::<Vec<_>>(), vec!["pi_b"]);
    assert_eq!(
        out.conflicts,
        BTreeMap::from([
            ("pi_a".to_owned(), "81".to_owned()),
            ("pi_c".to_owned(), "82".to_owned())
        ])
    );
    assert_eq!(out.errors.len(), 1);
    assert_eq!(out.errors[0].ids(), vec!["pi_d"]);
}

/// Inputs without the unique value, or with one value twice, are never sent.
#[tokio::test]
async fn unique_creates_without_or_with_repeated_values_are_never_sent() {
    let server = MockServer::start().await;
    let c = client(&server);
    let twice = c
        .deals()
        .batch_create_unique("stripe_payment_id", &payment_inputs(&["pi_a", "pi_a"]))
        .await;
    assert!(matches!(twice, Err(Error::InvalidInput(_))));
    let missing = c
        .deals()
        .batch_create_unique("stripe_payment_id", &[ObjectInput::default()])
        .await;
    assert!(matches!(missing, Err(Error::InvalidInput(_))));
    assert_eq!(requests(&server).await, 0);
}
