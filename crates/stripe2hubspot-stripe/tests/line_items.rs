//! Checkout Session line items and invoice lines: paginated, products expanded, refusals
//! reported, served by the fake Stripe as Stripe serves them.
#![cfg(feature = "fake")]

use std::time::Duration;

use serde_json::Value;
use stripe2hubspot_stripe::fake::{objects, Failure, FakeStripe};
use stripe2hubspot_stripe::{Error, ListKind, RetryPolicy};

const T0: i64 = 1_700_000_000;

/// A paid session `cs_1` with `n` line items `li_0..`, each 2 × a 15.00 EUR monthly price
/// of the product "Seat".
fn session_with_items(fake: &FakeStripe, n: usize) {
    fake.insert(objects::checkout_session(
        "cs_1",
        T0,
        "pi_1",
        3_000,
        "eur",
        "ann@acme.com",
    ))
    .unwrap();
    fake.insert(objects::product("prod_seat", "Seat")).unwrap();
    let price = objects::price("price_seat", "prod_seat", 1_500, "eur", "month", 1);
    let items = (0..n)
        .map(|i| objects::checkout_line_item(&format!("li_{i:03}"), &price, 2, "Seat"))
        .collect();
    fake.set_checkout_line_items("cs_1", items);
}

#[tokio::test]
async fn every_page_is_read_with_the_product_expanded() {
    let fake = FakeStripe::start().await;
    session_with_items(&fake, 230);
    let client = fake.client().unwrap();
    let items = client.checkout_session_line_items("cs_1").await.unwrap();
    let ids: Vec<String> = items.iter().map(|i| i.id.clone()).collect();
    let want: Vec<String> = (0..230).map(|i| format!("li_{i:03}")).collect();
    assert_eq!(ids, want);
    let first = &items[0];
    assert_eq!(first.quantity, Some(2));
    assert_eq!(first.amount_subtotal, 3_000);
    assert_eq!(first.product_id(), Some("prod_seat"));
    assert_eq!(
        first.product().and_then(|p| p.name.as_deref()),
        Some("Seat")
    );
    let requests = fake.requests();
    assert_eq!(requests.len(), 3, "100 + 100 + 30");
    for request in &requests {
        assert_eq!(request.path, "/v1/checkout/sessions/cs_1/line_items");
        assert_eq!(request.param("limit"), Some("100"));
        assert_eq!(request.params("expand[]"), ["data.price.product"]);
    }
    assert_eq!(requests[0].param("starting_after"), None);
    assert_eq!(requests[1].param("starting_after"), Some("li_099"));
    assert_eq!(requests[2].param("starting_after"), Some("li_199"));
}

#[tokio::test]
async fn a_session_without_items_lists_none_and_an_unknown_one_is_not_found() {
    let fake = FakeStripe::start().await;
    session_with_items(&fake, 0);
    let client = fake.client().unwrap();
    assert!(client
        .checkout_session_line_items("cs_1")
        .await
        .unwrap()
        .is_empty());
    let err = client
        .checkout_session_line_items("cs_missing")
        .await
        .unwrap_err();
    assert!(matches!(err, Error::NotFound { .. }), "{err:?}");
}

#[tokio::test]
async fn a_key_without_checkout_read_is_forbidden() {
    let fake = FakeStripe::builder()
        .deny_read(ListKind::CheckoutSessions)
        .start()
        .await;
    session_with_items(&fake, 1);
    let err = fake
        .client()
        .unwrap()
        .checkout_session_line_items("cs_1")
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Forbidden { .. }), "{err:?}");
}

#[tokio::test]
async fn a_server_error_is_retried_within_the_budget() {
    let fake = FakeStripe::start().await;
    session_with_items(&fake, 3);
    fake.fail_next(1, Failure::server_error());
    let client = fake
        .client_builder()
        .retry_policy(RetryPolicy::new(
            2,
            Duration::from_millis(1),
            Duration::from_millis(5),
        ))
        .build()
        .unwrap();
    let items = client.checkout_session_line_items("cs_1").await.unwrap();
    assert_eq!(items.len(), 3);
    assert_eq!(
        fake.request_count("/v1/checkout/sessions/cs_1/line_items"),
        2
    );
}

#[tokio::test]
async fn an_id_that_is_not_a_stripe_id_sends_nothing() {
    let fake = FakeStripe::start().await;
    let client = fake.client().unwrap();
    for bad in ["", "cs_1/../../charges", "cs 1", "cs_1?x=1"] {
        let err = client.checkout_session_line_items(bad).await.unwrap_err();
        assert!(matches!(err, Error::InvalidInput(_)), "{bad}: {err:?}");
    }
    assert_eq!(fake.total_requests(), 0);
}

#[tokio::test]
async fn an_item_in_an_unreadable_shape_is_a_decode_error() {
    let fake = FakeStripe::start().await;
    session_with_items(&fake, 0);
    let odd: Value =
        serde_json::json!({"id": "li_1", "object": "item", "price": null, "quantity": "many"});
    fake.set_checkout_line_items("cs_1", vec![odd]);
    let err = fake
        .client()
        .unwrap()
        .checkout_session_line_items("cs_1")
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Decode { .. }), "{err:?}");
}

/// A paid invoice `in_big` with `n` lines `il_0..` of 1 × a 5.00 EUR one-time price.
fn invoice_with_lines(fake: &FakeStripe, n: usize) {
    let charge = objects::charge("ch_big", T0, 500 * n as i64, "eur");
    let price = objects::price("price_once", "prod_once", 500, "eur", "month", 1);
    let mut price = price;
    price["recurring"] = Value::Null;
    let lines = (0..n)
        .map(|i| objects::invoice_line(&format!("il_{i:03}"), "in_big", &price, 1, "Once"))
        .collect();
    let invoice = objects::invoice("in_big", T0, &charge, "sub_1", "ann@acme.com");
    fake.insert(objects::with_lines(invoice, lines)).unwrap();
    fake.insert(objects::product("prod_once", "Once")).unwrap();
}

#[tokio::test]
async fn an_invoice_embeds_ten_lines_and_lists_all_of_them() {
    let fake = FakeStripe::start().await;
    invoice_with_lines(&fake, 130);
    let client = fake.client().unwrap();
    let embedded = client
        .retrieve_by_id::<stripe_events::Invoice>("in_big")
        .await
        .unwrap();
    let lines = embedded.lines.as_ref().unwrap();
    assert_eq!((lines.data.len(), lines.has_more), (10, true));
    let all = client.invoice_line_items("in_big").await.unwrap();
    assert_eq!(all.len(), 130);
    assert_eq!(all[129].id, "il_129");
    assert_eq!(
        all[0].product().and_then(|p| p.name.as_deref()),
        Some("Once")
    );
    let pages: Vec<_> = fake
        .requests()
        .into_iter()
        .filter(|r| r.path == "/v1/invoices/in_big/lines")
        .collect();
    assert_eq!(pages.len(), 2, "100 + 30");
    assert_eq!(pages[1].param("starting_after"), Some("il_099"));
    assert_eq!(pages[0].params("expand[]"), ["data.price.product"]);
}

#[tokio::test]
async fn invoice_lines_at_basil_ask_for_no_expansion_and_an_unknown_invoice_is_not_found() {
    let fake = FakeStripe::start().await;
    invoice_with_lines(&fake, 2);
    let client = fake
        .client_builder()
        .stripe_version("2025-03-31.basil")
        .build()
        .unwrap();
    let all = client.invoice_line_items("in_big").await.unwrap();
    assert_eq!(all.len(), 2);
    let request = fake.requests().pop().unwrap();
    assert!(request.params("expand[]").is_empty());
    let err = client.invoice_line_items("in_nope").await.unwrap_err();
    assert!(matches!(err, Error::NotFound { .. }), "{err:?}");
    let err = client.invoice_line_items("in_1/../x").await.unwrap_err();
    assert!(matches!(err, Error::InvalidInput(_)), "{err:?}");
}
