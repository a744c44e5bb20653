//! Every listed kind parses into its stripe-events type, from real payload shapes.
#![cfg(feature = "fake")]

use std::collections::BTreeMap;
use std::path::Path;

use serde_json::{json, Value};
use stripe2hubspot_stripe::fake::{objects, FakeStripe};
use stripe2hubspot_stripe::{CreatedRange, ListKind, StripeClient};
use stripe_events::{Charge, CheckoutSession, Dispute, EventObject, Invoice, PaymentIntent};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

/// The objects inside stripe-events' webhook fixtures (real Stripe payloads), by list kind.
fn fixture_objects() -> BTreeMap<ListKind, Vec<Value>> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../stripe-events/tests/fixtures");
    let mut out: BTreeMap<ListKind, Vec<Value>> = BTreeMap::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let text = std::fs::read_to_string(entry.unwrap().path()).unwrap();
        let event: Value = serde_json::from_str(&text).unwrap();
        let object = &event["data"]["object"];
        if let Some(kind) = object["object"]
            .as_str()
            .and_then(ListKind::from_object_tag)
        {
            out.entry(kind).or_default().push(object.clone());
        }
    }
    out
}

async fn serve_list(server: &MockServer, kind: ListKind, data: &[Value]) {
    Mock::given(method("GET"))
        .and(path(kind.path()))
        .respond_with(
            ResponseTemplate::new(200)
                .insert_header("request-id", "req_fixture")
                .set_body_json(
                    json!({"object": "list", "url": kind.path(), "has_more": false, "data": data}),
                ),
        )
        .mount(server)
        .await;
}

#[tokio::test]
async fn real_payloads_of_every_kind_parse_as_typed_pages_and_objects() {
    let fixtures = fixture_objects();
    for kind in [
        ListKind::Charges,
        ListKind::Disputes,
        ListKind::CheckoutSessions,
        ListKind::Invoices,
        ListKind::PaymentIntents,
        ListKind::Customers,
    ] {
        assert!(
            fixtures.contains_key(&kind),
            "{kind:?} has fixtures: {:?}",
            fixtures.keys()
        );
    }
    let server = MockServer::start().await;
    for (kind, data) in &fixtures {
        serve_list(&server, *kind, data).await;
    }
    // Where a listed subscription's products are read (none known here: they stay ids).
    serve_list(&server, ListKind::Products, &[]).await;
    let client = StripeClient::builder("sk_test_fixtures")
        .base_url(server.uri())
        .build()
        .unwrap();
    let all = CreatedRange::all();
    let n = |k: ListKind| fixtures[&k].len();
    assert_eq!(
        client
            .list_page::<Charge>(all, None)
            .await
            .unwrap()
            .data
            .len(),
        n(ListKind::Charges)
    );
    assert_eq!(
        client
            .list_page::<Dispute>(all, None)
            .await
            .unwrap()
            .data
            .len(),
        n(ListKind::Disputes)
    );
    assert_eq!(
        client
            .list_page::<CheckoutSession>(all, None)
            .await
            .unwrap()
            .data
            .len(),
        n(ListKind::CheckoutSessions)
    );
    let invoices = client.list_page::<Invoice>(all, None).await.unwrap();
    assert_eq!(invoices.data.len(), n(ListKind::Invoices));
    // 2024-06-20 invoices name their PaymentIntent at the top level (the pinned version's shape).
    for (raw, typed) in fixtures[&ListKind::Invoices].iter().zip(&invoices.data) {
        assert_eq!(typed.id, raw["id"].as_str().unwrap());
        if let Some(pi) = raw["payment_intent"].as_str() {
            assert_eq!(typed.payment_intent_id(), Some(pi));
        }
    }
    assert_eq!(
        client
            .list_page::<PaymentIntent>(all, None)
            .await
            .unwrap()
            .data
            .len(),
        n(ListKind::PaymentIntents)
    );
    for kind in fixtures.keys().copied() {
        let page = client.list_objects(kind, all, None).await.unwrap();
        assert_eq!(page.request_id.as_deref(), Some("req_fixture"));
        for object in &page.data {
            assert!(
                !matches!(object, EventObject::Unknown(_)),
                "{kind:?}: {:?}",
                object.id()
            );
        }
    }
}

#[tokio::test]
async fn generated_objects_of_every_kind_round_trip_through_the_fake() {
    let fake = FakeStripe::start().await;
    let ch = objects::via_intent(
        objects::refunded(
            objects::with_payer(
                objects::charge("ch_jpy", 1_700_000_000, 5_000, "jpy"),
                "ada@example.com",
                "Ada L",
                Some("cus_1"),
            ),
            1_000,
        ),
        "pi_jpy",
    );
    let pi = objects::payment_intent("pi_jpy", &ch);
    let dp = objects::dispute(
        "dp_jpy",
        &objects::disputed(ch.clone()),
        1_700_000_100,
        "lost",
    );
    let cs = objects::checkout_session(
        "cs_test_1",
        1_700_000_000,
        "pi_jpy",
        5_000,
        "jpy",
        "ada@example.com",
    );
    let inv = objects::invoice("in_1", 1_700_000_000, &ch, "sub_1", "ada@example.com");
    fake.insert_all([ch, pi, dp, cs, inv]).unwrap();
    let client = fake.client().unwrap();
    let all = CreatedRange::all();

    let charge = &client.list_page::<Charge>(all, None).await.unwrap().data[0];
    assert_eq!((charge.amount_refunded, charge.refunded), (1_000, false));
    assert_eq!(charge.money().to_decimal_string(), "5000");
    let dispute = &client.list_page::<Dispute>(all, None).await.unwrap().data[0];
    assert_eq!(
        (dispute.status.as_str(), dispute.charge.id()),
        ("lost", "ch_jpy")
    );
    let session = &client
        .list_page::<CheckoutSession>(all, None)
        .await
        .unwrap()
        .data[0];
    assert_eq!(
        session.payment_intent.as_ref().map(|p| p.id()),
        Some("pi_jpy")
    );
    let invoice = &client.list_page::<Invoice>(all, None).await.unwrap().data[0];
    assert_eq!(
        (invoice.payment_intent_id(), invoice.subscription_id()),
        (Some("pi_jpy"), Some("sub_1"))
    );
    let intent = &client
        .list_page::<PaymentIntent>(all, None)
        .await
        .unwrap()
        .data[0];
    let latest = intent
        .latest_charge
        .as_ref()
        .and_then(|c| c.as_object())
        .unwrap();
    assert_eq!(
        latest.billing_details.email.as_deref(),
        Some("ada@example.com")
    );
    assert!(fake.remove(ListKind::Invoices, "in_1"));
    assert!(client
        .list_page::<Invoice>(all, None)
        .await
        .unwrap()
        .data
        .is_empty());
}
