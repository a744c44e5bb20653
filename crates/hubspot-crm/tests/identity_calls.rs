//! Batch update by id, merge and GDPR delete against wiremock: the request HubSpot's
//! reference describes, and the refusals a caller handles recognised with their ids.

use std::collections::BTreeMap;
use std::time::Duration;

use hubspot_crm::{Client, Error, ObjectRef, RetryPolicy, UpdateInput, UpdateRefusal};
use serde_json::json;
use wiremock::matchers::{body_json, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

const TOKEN: &str = "pat-na1-11111111-2222-3333-4444-555555555555";

fn retrying(server: &MockServer) -> Client {
    Client::builder(TOKEN)
        .base_url(server.uri())
        .retry_policy(RetryPolicy::new(
            3,
            Duration::from_millis(1),
            Duration::from_millis(5),
        ))
        .build()
        .unwrap()
}

async fn requests(server: &MockServer) -> usize {
    server.received_requests().await.unwrap_or_default().len()
}

#[tokio::test]
async fn batch_update_sends_ids_properties_and_trace_ids() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/crm/objects/2026-09/contacts/batch/update"))
        .and(body_json(json!({"inputs": [
            {"id": "512", "properties": {"email": "new@example.com", "stripe_mrr": "49.00"},
             "objectWriteTraceId": "cus_1"},
            {"id": "733", "properties": {"stripe_mrr": ""}}
        ]})))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "status": "COMPLETE",
            "results": [
                {"id": "733", "properties": {"stripe_mrr": ""}, "archived": false},
                {"id": "9001", "properties": {"stripe_mrr": "49.00", "hs_merged_object_ids": "512;600"},
                 "objectWriteTraceId": "cus_1", "archived": false}
            ],
            "startedAt": "2026-12-07T08:00:00Z", "completedAt": "2026-12-07T08:00:01Z"
        })))
        .expect(1)
        .mount(&server)
        .await;
    let answer = retrying(&server)
        .contacts()
        .batch_update(&[
            UpdateInput::new("512", BTreeMap::new())
                .property("email", " New@Example.com")
                .property("stripe_mrr", "49.00")
                .trace_id("cus_1"),
            UpdateInput::new("733", BTreeMap::new()).property("stripe_mrr", ""),
        ])
        .await
        .unwrap();
    assert_eq!(answer.http_status, 200);
    assert!(!answer.is_partial());
    // The input for 512 is answered by the record it was merged into.
    let merged = answer
        .results
        .iter()
        .find(|o| o.object_write_trace_id.as_deref() == Some("cus_1"))
        .unwrap();
    assert_eq!(merged.id, "9001");
    assert!(merged.answers_id("512") && !merged.answers_id("733"));
}

#[tokio::test]
async fn batch_update_207_names_the_taken_email_and_the_missing_id() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/crm/objects/2026-09/contacts/batch/update"))
        .respond_with(ResponseTemplate::new(207).set_body_json(json!({
            "status": "COMPLETE",
            "results": [],
            "numErrors": 2,
            "errors": [
                {"status": "error", "category": "CONFLICT",
                 "message": "Contact already exists. Existing ID: 4021",
                 "context": {"ids": ["512"]}, "errors": []},
                {"status": "error", "category": "OBJECT_NOT_FOUND",
                 "message": "resource not found", "context": {"ids": ["733"]}, "errors": []}
            ]
        })))
        .mount(&server)
        .await;
    let answer = retrying(&server)
        .contacts()
        .batch_update(&[
            UpdateInput::new("512", BTreeMap::new()).property("email", "taken@example.com"),
            UpdateInput::new("733", BTreeMap::new()).property("firstname", "Ada"),
        ])
        .await
        .unwrap();
    assert_eq!(answer.http_status, 207);
    let refusals: Vec<(Vec<&str>, Option<UpdateRefusal>)> = answer
        .errors
        .iter()
        .map(|e| (e.ids(), e.update_refusal()))
        .collect();
    let Some(UpdateRefusal::Taken(conflict)) = &refusals[0].1 else {
        panic!("{refusals:?}")
    };
    assert_eq!(refusals[0].0, vec!["512"]);
    assert_eq!(conflict.existing_id.as_deref(), Some("4021"));
    assert_eq!(refusals[1], (vec!["733"], Some(UpdateRefusal::NotFound)));
}

#[tokio::test]
async fn whole_batch_409_and_404_are_refusals_and_never_retried() {
    for (status, body, want_taken) in [
        (
            409,
            json!({"status": "error", "category": "CONFLICT",
                   "message": "Contact already exists. Existing ID: 88",
                   "errors": [{"message": "A contact with email jo@example.com already exists. Existing ID: 88", "in": "email"}]}),
            true,
        ),
        (
            404,
            json!({"status": "error", "category": "OBJECT_NOT_FOUND", "message": "resource not found"}),
            false,
        ),
    ] {
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .and(path("/crm/objects/2026-09/contacts/batch/update"))
            .respond_with(ResponseTemplate::new(status).set_body_json(body))
            .mount(&server)
            .await;
        let err = retrying(&server)
            .contacts()
            .batch_update(&[
                UpdateInput::new("512", BTreeMap::new()).property("email", "jo@example.com")
            ])
            .await
            .unwrap_err();
        assert_eq!(requests(&server).await, 1, "{status} is not retried");
        match (err.update_refusal(), want_taken) {
            (Some(UpdateRefusal::Taken(c)), true) => {
                assert_eq!(c.existing_id.as_deref(), Some("88"));
                assert_eq!(c.property.as_deref(), Some("email"));
            }
            (Some(UpdateRefusal::NotFound), false) => {}
            (other, _) => panic!("{status}: {other:?}"),
        }
        assert!(!format!("{err} {err:?}").contains("jo@example.com"));
    }
}

#[tokio::test]
async fn batch_update_rejects_duplicate_ids_and_empty_batches_before_sending() {
    let server = MockServer::start().await;
    let contacts = retrying(&server).contacts();
    let twice = [
        UpdateInput::new("512", BTreeMap::new()),
        UpdateInput::new(" 512 ", BTreeMap::new()),
    ];
    assert!(matches!(
        contacts.batch_update(&twice).await,
        Err(Error::InvalidInput(_))
    ));
    assert!(matches!(
        contacts.batch_update(&[]).await,
        Err(Error::InvalidInput(_))
    ));
    let blank = [UpdateInput::new("  ", BTreeMap::new())];
    assert!(matches!(
        contacts.batch_update(&blank).await,
        Err(Error::InvalidInput(_))
    ));
    let many: Vec<UpdateInput> = (0..101)
        .map(|i| UpdateInput::new(i.to_string(), BTreeMap::new()))
        .collect();
    assert!(matches!(
        contacts.batch_update(&many).await,
        Err(Error::TooManyInputs { max: 100, got: 101 })
    ));
    assert_eq!(requests(&server).await, 0);
}

#[tokio::test]
async fn merge_posts_both_ids_and_returns_the_merged_record_without_retrying_a_5xx() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/crm/objects/2026-09/contacts/merge"))
        .and(body_json(
            json!({"primaryObjectId": "512", "objectIdToMerge": "733"}),
        ))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "id": "9001",
            "properties": {"email": "ada@example.com", "hs_merged_object_ids": "512;733"},
            "createdAt": "2026-12-07T08:00:00Z", "updatedAt": "2026-12-07T08:00:00Z",
            "archived": false
        })))
        .expect(1)
        .mount(&server)
        .await;
    let merged = retrying(&server)
        .contacts()
        .merge("512", "733")
        .await
        .unwrap();
    assert_eq!(merged.id, "9001");
    assert_eq!(merged.merged_ids(), vec!["512", "733"]);

    let failing = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/crm/objects/2026-09/contacts/merge"))
        .respond_with(ResponseTemplate::new(502).set_body_string("bad gateway"))
        .mount(&failing)
        .await;
    let err = retrying(&failing)
        .contacts()
        .merge("512", "733")
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Server { .. }));
    assert_eq!(
        requests(&failing).await,
        1,
        "a merge may have happened: never repeated"
    );
    assert!(matches!(
        retrying(&failing).contacts().merge("512", " 512").await,
        Err(Error::InvalidInput(_))
    ));
    assert_eq!(requests(&failing).await, 1);
}

#[tokio::test]
async fn gdpr_delete_by_id_and_by_email_send_hubspots_bodies() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/crm/objects/2026-09/contacts/gdpr-delete"))
        .and(body_json(json!({"objectId": "512"})))
        .respond_with(ResponseTemplate::new(204))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/crm/objects/2026-09/contacts/gdpr-delete"))
        .and(body_json(
            json!({"objectId": "ada@example.com", "idProperty": "email"}),
        ))
        .respond_with(ResponseTemplate::new(204))
        .expect(1)
        .mount(&server)
        .await;
    let contacts = retrying(&server).contacts();
    contacts.gdpr_delete(&ObjectRef::id("512")).await.unwrap();
    contacts
        .gdpr_delete(&ObjectRef::email(" Ada@Example.COM"))
        .await
        .unwrap();
    assert!(matches!(
        retrying(&server)
            .deals()
            .gdpr_delete(&ObjectRef::id("1"))
            .await,
        Err(Error::InvalidInput(_))
    ));
    assert_eq!(requests(&server).await, 2);
}

#[tokio::test]
async fn per_input_messages_lose_their_emails_but_keep_the_existing_id() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/crm/objects/2026-09/contacts/batch/update"))
        .respond_with(ResponseTemplate::new(207).set_body_json(json!({
            "status": "COMPLETE", "results": [],
            "errors": [{"status": "error", "category": "OBJECT_ALREADY_EXISTS",
                "message": "A contact with email jo.doe@example.com already exists. Existing ID: 5",
                "context": {"ids": ["512"]},
                "errors": [{"message": "jo.doe@example.com is taken. Existing ID: 5", "in": "email"}]}]
        })))
        .mount(&server)
        .await;
    let answer = retrying(&server)
        .contacts()
        .batch_update(&[
            UpdateInput::new("512", BTreeMap::new()).property("email", "jo.doe@example.com")
        ])
        .await
        .unwrap();
    let error = &answer.errors[0];
    assert!(!format!("{error:?}").contains("jo.doe@example.com"));
    match error.update_refusal() {
        Some(UpdateRefusal::Taken(c)) => {
            assert_eq!(c.existing_id.as_deref(), Some("5"));
            assert_eq!(c.property.as_deref(), Some("email"));
        }
        other => panic!("{other:?}"),
    }
}
