//! Refusals name the request id and the fix, and never the key.
#![cfg(feature = "fake")]

use stripe2hubspot_stripe::fake::{objects, FakeStripe};
use stripe2hubspot_stripe::{CreatedRange, Error, ListKind, StripeClient};
use stripe_events::{Charge, Dispute, EventObject};

const T0: i64 = 1_700_000_000;
const WRONG_KEY: &str = "sk_test_51WrongKeyAbcdefghijklmnop9876";
const RESTRICTED_KEY: &str = "rk_test_51RestrictedKeyQrstuvwxyz5432";

fn assert_no_key(text: &str, key: &str) {
    let tail = &key[key.len() - 4..];
    let body = &key[8..20];
    assert!(!text.contains(key), "{text}");
    assert!(!text.contains(tail), "key tail leaked: {text}");
    assert!(!text.contains(body), "key body leaked: {text}");
}

#[tokio::test]
async fn a_bad_key_names_the_request_id_and_stripe_secret_key_never_the_key() {
    let fake = FakeStripe::start().await;
    let client = fake.client_builder().build().unwrap();
    let wrong = StripeClient::builder(WRONG_KEY)
        .base_url(fake.base_url())
        .build()
        .unwrap();
    let err = wrong
        .list_page::<Charge>(CreatedRange::all(), None)
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Unauthorized { .. }), "{err:?}");
    let request_id = fake.requests()[0].request_id.clone();
    let msg = err.to_string();
    assert!(
        msg.contains(&request_id) && msg.contains("STRIPE_SECRET_KEY"),
        "{msg}"
    );
    assert_eq!(err.request_id(), Some(request_id.as_str()));
    assert!(!err.is_transient());
    assert_eq!(fake.total_requests(), 1, "a 401 is not retried");
    for shown in [msg, format!("{err:?}"), format!("{wrong:?}")] {
        assert_no_key(&shown, WRONG_KEY);
    }
    // The right key works.
    assert!(client
        .list_page::<Charge>(CreatedRange::all(), None)
        .await
        .is_ok());
    // And the fake did say the key's tail, as Stripe does: the client scrubbed it.
    assert!(fake.requests()[0].status == 401);
}

#[tokio::test]
async fn a_restricted_key_without_a_permission_is_told_which_one() {
    let fake = FakeStripe::builder()
        .key(RESTRICTED_KEY)
        .deny_read(ListKind::Disputes)
        .start()
        .await;
    let client = fake.client().unwrap();
    assert!(client
        .list_page::<Charge>(CreatedRange::all(), None)
        .await
        .is_ok());
    let err = client
        .list_page::<Dispute>(CreatedRange::all(), None)
        .await
        .unwrap_err();
    let Error::Forbidden { permission, .. } = &err else {
        panic!("expected a 403, got {err:?}");
    };
    assert_eq!(permission, "Disputes: Read");
    let msg = err.to_string();
    assert!(
        msg.contains("\"Disputes: Read\"") && msg.contains("rak_dispute_read"),
        "{msg}"
    );
    assert!(msg.contains(&fake.requests()[1].request_id), "{msg}");
    assert_no_key(&msg, RESTRICTED_KEY);
    assert_no_key(&format!("{err:?}"), RESTRICTED_KEY);
    // Stripe quotes the start of the key in its 403 message; none of it comes through.
    assert!(
        !msg.contains(&RESTRICTED_KEY[..14]) && !format!("{err:?}").contains(&RESTRICTED_KEY[..14])
    );
}

#[tokio::test]
async fn retrieve_follows_a_thin_events_related_object_url() {
    let fake = FakeStripe::start().await;
    let h = objects::history(3, T0);
    fake.insert_all(h.all()).unwrap();
    let client = fake.client().unwrap();

    let object = client.retrieve("/v1/charges/ch_000001").await.unwrap();
    let EventObject::Charge(charge) = object else {
        panic!("expected a charge, got {object:?}");
    };
    assert_eq!(charge.id, "ch_000001");

    let intent = client
        .retrieve("/v1/payment_intents/pi_000002")
        .await
        .unwrap();
    let EventObject::PaymentIntent(pi) = intent else {
        panic!("expected a PaymentIntent");
    };
    assert!(
        pi.latest_charge
            .as_ref()
            .and_then(|c| c.as_object())
            .is_some(),
        "latest_charge expanded"
    );

    let typed: Charge = client.retrieve_by_id("ch_000000").await.unwrap();
    assert_eq!(typed.id, "ch_000000");

    let err = client.retrieve("/v1/charges/ch_gone").await.unwrap_err();
    assert!(matches!(err, Error::NotFound { .. }), "{err:?}");
    assert!(err.to_string().contains("ch_gone") && err.request_id().is_some());

    let before = fake.total_requests();
    for bad in [
        "https://evil.example/v1/charges/ch_1",
        "/v1/charges/../../x",
        "/v2/core/events/evt_1",
    ] {
        assert!(
            matches!(client.retrieve(bad).await, Err(Error::InvalidInput(_))),
            "{bad}"
        );
    }
    assert_eq!(fake.total_requests(), before, "refused paths send nothing");
}

#[tokio::test]
async fn every_request_carries_the_pinned_version_and_bearer_key() {
    let server = wiremock::MockServer::start().await;
    wiremock::Mock::given(wiremock::matchers::method("GET"))
        .and(wiremock::matchers::path("/v1/invoices"))
        .and(wiremock::matchers::header(
            "stripe-version",
            stripe2hubspot_stripe::STRIPE_VERSION,
        ))
        .and(wiremock::matchers::header(
            "authorization",
            "Bearer sk_test_header_check",
        ))
        .and(wiremock::matchers::query_param("limit", "100"))
        .and(wiremock::matchers::query_param("created[gte]", "5"))
        .respond_with(
            wiremock::ResponseTemplate::new(200).set_body_json(serde_json::json!({
                "object": "list", "url": "/v1/invoices", "has_more": false, "data": []
            })),
        )
        .expect(1)
        .mount(&server)
        .await;
    let client = StripeClient::builder("sk_test_header_check")
        .base_url(server.uri())
        .build()
        .unwrap();
    let page = client
        .list_objects(ListKind::Invoices, CreatedRange::since(5), None)
        .await
        .unwrap();
    assert!(page.data.is_empty() && !page.has_more);
}

#[tokio::test]
async fn a_non_list_answer_is_a_decode_error_not_an_empty_page() {
    let server = wiremock::MockServer::start().await;
    wiremock::Mock::given(wiremock::matchers::any())
        .respond_with(
            wiremock::ResponseTemplate::new(200)
                .insert_header("request-id", "req_html")
                .set_body_string("<html>proxy login</html>"),
        )
        .mount(&server)
        .await;
    let client = StripeClient::builder("sk_test_x")
        .base_url(server.uri())
        .build()
        .unwrap();
    let err = client
        .list_page::<Charge>(CreatedRange::all(), None)
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Decode { .. }), "{err:?}");
    assert!(err.to_string().contains("req_html") && err.to_string().contains("STRIPE_API_BASE"));
}

#[tokio::test]
async fn a_thin_events_context_is_sent_as_stripe_context() {
    let server = wiremock::MockServer::start().await;
    wiremock::Mock::given(wiremock::matchers::method("GET"))
        .and(wiremock::matchers::path("/v1/charges/ch_ctx"))
        .and(wiremock::matchers::header(
            "stripe-context",
            "acct_1Connected",
        ))
        .respond_with(
            wiremock::ResponseTemplate::new(200)
                .set_body_json(objects::charge("ch_ctx", T0, 700, "eur")),
        )
        .expect(1)
        .mount(&server)
        .await;
    let client = StripeClient::builder("sk_test_ctx")
        .base_url(server.uri())
        .build()
        .unwrap();
    let object = client
        .retrieve_in_context("/v1/charges/ch_ctx", Some("acct_1Connected"))
        .await
        .unwrap();
    assert!(matches!(object, EventObject::Charge(_)));
    let refused = client
        .retrieve_in_context("/v1/charges/ch_ctx", Some("acct_1\r\nX-Evil: 1"))
        .await;
    assert!(matches!(refused, Err(Error::InvalidInput(_))));
}
