//! Line items and products end to end (issue 22): real HTTP against the fake HubSpot, a real
//! SQLite file, the real engine. With `STRIPE2HUBSPOT_LINE_ITEMS=1` (the mapping's
//! `line_items`) an invoice's lines become line items on its deal, each pointing at its
//! product; a redelivery, a second event of the invoice or a refund adds none; off by default;
//! a Checkout Session's items are read from Stripe; a missing line-item scope pauses line
//! items alone.

use std::time::{Duration, Instant};

use serde_json::{json, Value};
use stripe2hubspot::alert::AlertKind;
use stripe2hubspot::hubspot_crm::fake::{FakeHubSpot, FakeObject};
use stripe2hubspot::hubspot_crm::{scopes, ApiVersion, PropertyCreate};
use stripe2hubspot::map::{CompanyKeySource, MappingConfig};

use crate::common::Pipeline;

const DRAIN: Duration = Duration::from_secs(60);
/// 2025-02-01T00:00:00Z
const T0: i64 = 1_738_368_000;

/// One invoice line: (line id, product id, price id, unit amount, quantity, recurring).
type Line = (&'static str, &'static str, &'static str, i64, i64, bool);

/// "3 seats of Pro plus onboarding": three lines, two of them of one product.
const THREE_LINES: [Line; 3] = [
    (
        "il_1ProSeats00000001",
        "prod_Pro00000001",
        "price_ProMonth001",
        1_000,
        3,
        true,
    ),
    (
        "il_1Onboarding000001",
        "prod_Onboard00001",
        "price_Onboard0001",
        5_000,
        1,
        false,
    ),
    (
        "il_1ProProrate000001",
        "prod_Pro00000001",
        "price_ProProrate1",
        500,
        1,
        false,
    ),
];

/// An `invoice.paid` event (API 2024-06-20, lines with their prices) of invoice number `n`.
fn invoice_paid(n: u32, event_id: &str, created: i64, lines: &[Line]) -> Value {
    let total: i64 = lines.iter().map(|l| l.3 * l.4).sum();
    let data: Vec<Value> = lines
        .iter()
        .map(|&(id, product, price, unit, quantity, recurring)| {
            json!({
                "id": line_id(id, n), "object": "line_item", "amount": unit * quantity,
                "currency": "eur", "description": format!("{quantity} × {product}"),
                "quantity": quantity, "type": if recurring { "subscription" } else { "invoiceitem" },
                "period": {"start": T0, "end": T0 + 30 * 86_400},
                "metadata": {},
                "price": {
                    "id": price, "object": "price", "product": product, "currency": "eur",
                    "unit_amount": unit, "active": true, "livemode": false, "metadata": {},
                    "type": if recurring { "recurring" } else { "one_time" },
                    "recurring": if recurring { json!({"interval": "month", "interval_count": 1}) } else { Value::Null }
                }
            })
        })
        .collect();
    json!({
        "id": event_id, "object": "event", "type": "invoice.paid", "created": created,
        "api_version": "2024-06-20", "livemode": false, "pending_webhooks": 1,
        "request": {"id": null, "idempotency_key": null},
        "data": {"object": {
            "id": format!("in_LineItems{n:08}"), "object": "invoice",
            "amount_due": total, "amount_paid": total, "amount_remaining": 0,
            "currency": "eur", "customer": format!("cus_LineItems{n:06}"),
            "customer_email": format!("buyer{n}@acme-line-items.example"),
            "customer_name": "Ada Buyer", "customer_phone": null,
            "billing_reason": "subscription_create", "status": "paid",
            "payment_intent": format!("pi_LineItems{n:08}"), "charge": format!("ch_LineItems{n:08}"),
            "subscription": null, "created": created - 60, "livemode": false, "metadata": {},
            "number": format!("LI-{n:04}"), "description": null, "hosted_invoice_url": null,
            "status_transitions": {"paid_at": created - 1},
            "lines": {"object": "list", "data": data, "has_more": false,
                      "total_count": lines.len(),
                      "url": format!("/v1/invoices/in_LineItems{n:08}/lines")}
        }}
    })
}

/// Line ids differ per invoice (Stripe's `il_...` are unique).
fn line_id(id: &str, n: u32) -> String {
    format!("{id}{n:04}")
}

/// A partial refund of invoice `n`'s charge.
fn refunded(n: u32, event_id: &str, created: i64, amount: i64, refunded: i64) -> Value {
    json!({
        "id": event_id, "object": "event", "type": "charge.refunded", "created": created,
        "api_version": "2024-06-20", "livemode": false,
        "data": {"object": {
            "id": format!("ch_LineItems{n:08}"), "object": "charge", "amount": amount,
            "amount_captured": amount, "amount_refunded": refunded, "captured": true,
            "paid": true, "refunded": false, "status": "succeeded", "currency": "eur",
            "created": created - 3600, "customer": format!("cus_LineItems{n:06}"),
            "payment_intent": format!("pi_LineItems{n:08}"),
            "billing_details": {"email": format!("buyer{n}@acme-line-items.example"),
                                "name": "Ada Buyer", "phone": null, "address": null},
            "invoice": format!("in_LineItems{n:08}"), "livemode": false, "metadata": {},
            "disputed": false
        }}
    })
}

fn unique_text(name: &str) -> PropertyCreate {
    PropertyCreate::text(name, name, "lineiteminformation").unique(true)
}

fn line_items_on() -> MappingConfig {
    MappingConfig {
        line_items: true,
        ..MappingConfig::default()
    }
}

async fn started(hubspot: FakeHubSpot, mapping: MappingConfig) -> Pipeline {
    let mut pipeline = Pipeline::new(hubspot).await;
    pipeline.start_engine_mapped(ApiVersion::default(), mapping, |b| b.concurrency(1));
    pipeline
}

async fn deliver(pipeline: &Pipeline, event: &Value) {
    assert_eq!(pipeline.send(event).await, 200, "{}", event["id"]);
    let stats = pipeline.drained(DRAIN).await;
    assert_eq!(stats.dead, 0, "nothing dead-lettered: {stats:?}");
}

/// Waits until `done` holds; panics after `limit` with `what`.
async fn eventually(what: &str, limit: Duration, mut done: impl FnMut() -> bool) {
    let started = Instant::now();
    while !done() {
        assert!(started.elapsed() < limit, "{what} within {limit:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Requests whose path names line items or products (writes, associations, properties).
fn line_item_requests(hubspot: &FakeHubSpot) -> usize {
    hubspot
        .requests()
        .iter()
        .filter(|r| r.path.contains("line_items") || r.path.contains("products"))
        .count()
}

fn prop<'a>(object: &'a FakeObject, name: &str) -> &'a str {
    object
        .property(name)
        .unwrap_or_else(|| panic!("{name} missing on {:?}", object.properties))
}

fn only_deal(hubspot: &FakeHubSpot) -> FakeObject {
    let deals = hubspot.deals();
    assert_eq!(deals.len(), 1, "one deal: {deals:?}");
    deals.into_iter().next().unwrap()
}

/// Waits until the line-item pass has gone quiet: `n` line items exist and no line-item
/// request was made for a while (so a late duplicate would have shown).
async fn settled_line_items(hubspot: &FakeHubSpot, n: usize) {
    let started = Instant::now();
    while hubspot.line_items().len() < n {
        assert!(
            started.elapsed() < DRAIN,
            "{n} line items within {DRAIN:?}; requests: {:#?}",
            hubspot
                .requests()
                .iter()
                .map(|r| format!("{} {} {}", r.method, r.path, r.status))
                .collect::<Vec<_>>()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let mut seen = line_item_requests(hubspot);
    loop {
        tokio::time::sleep(Duration::from_millis(300)).await;
        let now = line_item_requests(hubspot);
        if now == seen {
            return;
        }
        seen = now;
    }
}

#[tokio::test]
async fn an_invoice_with_three_lines_gives_three_line_items_on_its_deal_pointing_at_their_products()
{
    let pipeline = started(FakeHubSpot::start().await, line_items_on()).await;
    let hubspot = &pipeline.hubspot;
    deliver(
        &pipeline,
        &invoice_paid(1, "evt_LineItems0001", T0, &THREE_LINES),
    )
    .await;
    settled_line_items(hubspot, 3).await;

    let deal = only_deal(hubspot);
    assert_eq!(prop(&deal, "amount").parse::<f64>().unwrap(), 85.0);
    let items = hubspot.line_items();
    assert_eq!(items.len(), 3, "one line item per invoice line: {items:?}");
    let products = hubspot.products();
    assert_eq!(
        products.len(),
        2,
        "one product per Stripe product: {products:?}"
    );
    for &(id, product, _, unit, quantity, _) in &THREE_LINES {
        let item = items
            .iter()
            .find(|i| i.property("stripe_line_item_id") == Some(line_id(id, 1).as_str()))
            .unwrap_or_else(|| panic!("line item {id}: {items:?}"));
        assert_eq!(prop(item, "quantity"), quantity.to_string());
        assert_eq!(
            prop(item, "price").parse::<f64>().unwrap(),
            unit as f64 / 100.0,
            "unit price in major units"
        );
        let hs_product = prop(item, "hs_product_id");
        let product_object = products
            .iter()
            .find(|p| p.id == hs_product)
            .unwrap_or_else(|| panic!("product {hs_product}: {products:?}"));
        assert_eq!(prop(product_object, "stripe_product_id"), product);
        assert!(
            hubspot.are_associated("line_items", &item.id, "deals", &deal.id),
            "line item {id} is associated with the deal"
        );
    }
}

#[tokio::test]
async fn a_redelivery_a_second_event_of_the_invoice_and_a_refund_add_no_line_item() {
    let pipeline = started(FakeHubSpot::start().await, line_items_on()).await;
    let hubspot = &pipeline.hubspot;
    let paid = invoice_paid(2, "evt_LineItems0002", T0, &THREE_LINES);
    deliver(&pipeline, &paid).await;
    settled_line_items(hubspot, 3).await;
    let before = hubspot.line_items();
    let requests = line_item_requests(hubspot);

    // The same event again, then another event of the same invoice (same lines).
    deliver(&pipeline, &paid).await;
    let mut again = invoice_paid(2, "evt_LineItems0002b", T0 + 5, &THREE_LINES);
    again["type"] = json!("invoice.payment_succeeded");
    deliver(&pipeline, &again).await;
    // A refund changes the deal, never what was sold.
    deliver(
        &pipeline,
        &refunded(2, "evt_LineItems0002r", T0 + 3600, 8_500, 1_500),
    )
    .await;
    tokio::time::sleep(Duration::from_millis(500)).await;

    let deal = only_deal(hubspot);
    assert_eq!(
        prop(&deal, "stripe_amount_refunded")
            .parse::<f64>()
            .unwrap(),
        15.0,
        "the refund reached the deal: {:?}",
        deal.properties
    );
    assert_eq!(hubspot.line_items(), before, "the line items are untouched");
    assert_eq!(hubspot.products().len(), 2);
    assert_eq!(
        line_item_requests(hubspot),
        requests,
        "no line-item or product request after the first write"
    );
}

/// Three lines, a redelivery and a refund on PostgreSQL (the work set in its tables).
/// Skipped without `STRIPE2HUBSPOT_TEST_POSTGRES_URL`.
#[cfg(feature = "postgres")]
#[tokio::test]
async fn on_postgres_three_lines_make_three_line_items_once() {
    use stripe2hubspot::queue::{PostgresOptions, PostgresQueue, Store};

    let Ok(url) = std::env::var("STRIPE2HUBSPOT_TEST_POSTGRES_URL") else {
        assert!(std::env::var_os("STRIPE2HUBSPOT_REQUIRE_POSTGRES").is_none());
        return;
    };
    let options = PostgresOptions {
        schema: Some(format!("s2h_test_{}_line_items", std::process::id())),
        ..PostgresOptions::default()
    };
    let store = Store::new(PostgresQueue::connect_with(&url, options).await.unwrap());
    let dir = tempfile::tempdir().unwrap();
    let mut pipeline = Pipeline::on_store(FakeHubSpot::start().await, store, dir).await;
    pipeline.start_engine_mapped(ApiVersion::default(), line_items_on(), |b| b.concurrency(2));
    let hubspot = &pipeline.hubspot;
    let paid = invoice_paid(6, "evt_LineItemsPg0006", T0, &THREE_LINES);
    deliver(&pipeline, &paid).await;
    settled_line_items(hubspot, 3).await;
    let requests = line_item_requests(hubspot);
    deliver(&pipeline, &paid).await;
    deliver(
        &pipeline,
        &refunded(6, "evt_LineItemsPg0006r", T0 + 3600, 8_500, 500),
    )
    .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(hubspot.line_items().len(), 3);
    assert_eq!(hubspot.products().len(), 2);
    assert_eq!(line_item_requests(hubspot), requests);
    let deal = only_deal(hubspot);
    for item in hubspot.line_items() {
        assert!(hubspot.are_associated("line_items", &item.id, "deals", &deal.id));
    }
    pipeline.shutdown().await;
}

/// A deal written while line items were off gets them once they are on and its invoice
/// comes again (a backfill enqueues it as a new event; the row does not change).
#[tokio::test]
async fn a_deal_written_before_line_items_were_on_gets_them_from_a_backfill() {
    let mut pipeline = started(FakeHubSpot::start().await, MappingConfig::default()).await;
    deliver(
        &pipeline,
        &invoice_paid(7, "evt_LineItems0007", T0, &THREE_LINES),
    )
    .await;
    let deal = only_deal(&pipeline.hubspot);
    assert!(pipeline.hubspot.line_items().is_empty());
    pipeline.shutdown().await;

    pipeline.start_engine_mapped(ApiVersion::default(), line_items_on(), |b| b.concurrency(1));
    deliver(
        &pipeline,
        &invoice_paid(7, "evt_LineItemsBackfill0007", T0, &THREE_LINES),
    )
    .await;
    settled_line_items(&pipeline.hubspot, 3).await;
    assert_eq!(only_deal(&pipeline.hubspot).id, deal.id, "the same deal");
    for item in pipeline.hubspot.line_items() {
        assert!(pipeline
            .hubspot
            .are_associated("line_items", &item.id, "deals", &deal.id));
    }
}

/// A deal a user deleted before its line items were attached: HubSpot says it does not
/// exist, the pass gives that deal up instead of asking again and again.
#[tokio::test]
async fn a_deal_deleted_before_its_line_items_are_attached_is_not_retried_for_ever() {
    let hubspot = FakeHubSpot::builder()
        .missing_scopes([scopes::LINE_ITEMS_WRITE, scopes::E_COMMERCE])
        .property("line_items", unique_text("stripe_line_item_id"))
        .property("products", unique_text("stripe_product_id"))
        .start()
        .await;
    let pipeline = started(hubspot, line_items_on()).await;
    let hubspot = &pipeline.hubspot;
    deliver(
        &pipeline,
        &invoice_paid(8, "evt_LineItems0008", T0, &THREE_LINES),
    )
    .await;
    let alerts = &pipeline.alerts;
    eventually("line items paused", DRAIN, || {
        alerts
            .alerts()
            .iter()
            .any(|a| a.kind == AlertKind::FeaturePaused)
    })
    .await;
    let deal = only_deal(hubspot);
    assert!(hubspot.delete_object("deals", &deal.id));
    hubspot.set_missing_scopes(Vec::<String>::new());
    let associations = || {
        hubspot
            .requests()
            .iter()
            .filter(|r| r.path.contains("/associations/") && r.path.contains("line_items"))
            .count()
    };
    eventually("an association attempt", DRAIN, || associations() >= 1).await;
    // Failed passes would be retried within milliseconds here (test backoff).
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    assert_eq!(associations(), 1, "the deleted deal is not asked for again");
}

#[tokio::test]
async fn line_items_are_off_by_default() {
    let pipeline = started(FakeHubSpot::start().await, MappingConfig::default()).await;
    let hubspot = &pipeline.hubspot;
    deliver(
        &pipeline,
        &invoice_paid(3, "evt_LineItems0003", T0, &THREE_LINES),
    )
    .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    only_deal(hubspot);
    assert!(hubspot.line_items().is_empty());
    assert!(hubspot.products().is_empty());
    assert_eq!(
        line_item_requests(hubspot),
        0,
        "no line-item or product request of any kind: {:?}",
        hubspot.request_counts()
    );
}

#[tokio::test]
async fn a_missing_line_item_scope_pauses_line_items_alone_until_granted() {
    // A token with the product scopes but neither the line-item write scope nor
    // `e-commerce` (which grants both), in a portal that has the key properties already.
    let hubspot = FakeHubSpot::builder()
        .missing_scopes([scopes::LINE_ITEMS_WRITE, scopes::E_COMMERCE])
        .property("line_items", unique_text("stripe_line_item_id"))
        .property("products", unique_text("stripe_product_id"))
        .start()
        .await;
    let pipeline = started(hubspot, line_items_on()).await;
    let hubspot = &pipeline.hubspot;
    deliver(
        &pipeline,
        &invoice_paid(4, "evt_LineItems0004", T0, &THREE_LINES),
    )
    .await;
    let alerts = &pipeline.alerts;
    eventually("a feature-paused alert", DRAIN, || {
        alerts
            .alerts()
            .iter()
            .any(|a| a.kind == AlertKind::FeaturePaused)
    })
    .await;
    // Deals go on: a second payment is written while line items wait.
    deliver(
        &pipeline,
        &invoice_paid(5, "evt_LineItems0005", T0 + 60, &THREE_LINES),
    )
    .await;
    assert_eq!(hubspot.deals().len(), 2, "deals are written");
    assert!(
        hubspot.line_items().is_empty(),
        "no line item without the scope"
    );
    let paused: Vec<_> = alerts
        .alerts()
        .into_iter()
        .filter(|a| a.kind == AlertKind::FeaturePaused)
        .collect();
    assert_eq!(paused.len(), 1, "one alert per pause: {paused:?}");
    assert!(
        paused[0].message.contains("crm.objects.line_items.write"),
        "the alert names the scope: {}",
        paused[0].message
    );
    assert!(
        pipeline.engine.as_ref().unwrap().paused().is_none(),
        "the engine itself is not paused"
    );

    // Granted: the next probe writes the waiting line items of both deals, and says so once.
    hubspot.set_missing_scopes(Vec::<String>::new());
    settled_line_items(hubspot, 6).await;
    assert_eq!(hubspot.line_items().len(), 6);
    let resumed = alerts
        .alerts()
        .into_iter()
        .filter(|a| a.kind == AlertKind::FeatureResumed)
        .count();
    assert_eq!(resumed, 1, "one resumption alert");
}

/// Prints the HubSpot requests a batch of invoice payments costs with and without line
/// items, for the README's "requests per payment".
#[tokio::test]
async fn requests_per_payment_with_and_without_line_items() {
    const N: u32 = 20;
    let mut counts = Vec::new();
    for (companies, on) in [(false, false), (false, true), (true, false), (true, true)] {
        let mut mapping = if on {
            line_items_on()
        } else {
            MappingConfig::default()
        };
        if !companies {
            mapping.company_key = CompanyKeySource::Disabled;
        }
        let mut pipeline = Pipeline::new(FakeHubSpot::start().await).await;
        // All payments are queued first, so the engine writes them as one batch.
        for n in 0..N {
            let event = invoice_paid(
                100 + n,
                &format!("evt_LineItemsN{n:04}"),
                T0 + i64::from(n),
                &THREE_LINES,
            );
            assert_eq!(pipeline.send(&event).await, 200);
        }
        pipeline.start_engine_mapped(ApiVersion::default(), mapping, |b| b.concurrency(1));
        pipeline.settled(DRAIN).await;
        if on {
            settled_line_items(&pipeline.hubspot, 3 * N as usize).await;
        }
        let hubspot = &pipeline.hubspot;
        assert_eq!(hubspot.deals().len(), N as usize);
        let requests = hubspot.requests();
        let total = requests.len();
        let is_setup = |path: &str| {
            path.contains("/properties/")
                // The line-item pass's one-time scope checks (a company search by domain
                // is part of the batch's cost).
                || path.ends_with("/search")
                    && (path.contains("line_items") || path.contains("products"))
                || path.contains("pipelines")
                || path.contains("access-token")
        };
        let setup = requests.iter().filter(|r| is_setup(&r.path)).count();
        // A refused request would be a one-time cost too (a property HubSpot lacks is dropped
        // after the first refusal).
        let refused = requests
            .iter()
            .filter(|r| !is_setup(&r.path) && !(200..300).contains(&r.status))
            .count();
        let writes = total - setup - refused;
        eprintln!(
            "companies {}, line items {}: {N} invoice payments (3 lines each, 2 products) in one batch cost {writes} HubSpot requests ({total} in all: {setup} one-time setup of properties, pipelines and line-item scope checks, {refused} refused once); by path: {:#?}",
            if companies { "on" } else { "off" },
            if on { "on" } else { "off" },
            hubspot.request_counts()
        );
        counts.push(writes);
        pipeline.shutdown().await;
    }
    // Line items add one products upsert, one line-items upsert and one association batch
    // (per 100 of each), companies on or off.
    assert_eq!(counts[1], counts[0] + 3, "{counts:?}");
    assert_eq!(counts[3], counts[2] + 3, "{counts:?}");
}

#[cfg(feature = "backfill")]
mod with_stripe {
    //! Line items Stripe's API has to be asked for: a Checkout Session's (its event carries
    //! none) and the lines of an invoice beyond the first ten its event carried.

    use std::time::Duration;

    use serde_json::{json, Value};
    use stripe2hubspot::history::stripe2hubspot_stripe::fake::{objects, FakeStripe};
    use stripe2hubspot::hubspot_crm::fake::FakeHubSpot;
    use stripe2hubspot::hubspot_crm::ApiVersion;

    use super::{deliver, line_items_on, only_deal, prop, settled_line_items, T0};
    use crate::common::Pipeline;

    fn event(id: &str, type_: &str, created: i64, object: Value) -> Value {
        json!({
            "id": id, "object": "event", "type": type_, "created": created,
            "api_version": "2024-06-20", "livemode": false, "pending_webhooks": 1,
            "request": {"id": null, "idempotency_key": null},
            "data": {"object": object}
        })
    }

    /// A one-time price of `product`.
    fn one_time(id: &str, product: &str, unit_amount: i64) -> Value {
        let mut price = objects::price(id, product, unit_amount, "usd", "month", 1);
        price["recurring"] = Value::Null;
        price["type"] = json!("one_time");
        price
    }

    async fn with_stripe(stripe: &FakeStripe) -> Pipeline {
        let mut pipeline = Pipeline::new(FakeHubSpot::start().await).await;
        let client = stripe.client().unwrap();
        pipeline.start_engine_mapped(ApiVersion::default(), line_items_on(), |b| {
            b.concurrency(1).stripe(client)
        });
        pipeline
    }

    #[tokio::test]
    async fn a_checkout_sessions_items_are_read_from_stripe_and_written() {
        let stripe = FakeStripe::start().await;
        let session_id = "cs_test_LineItems0001";
        let kit = one_time("price_Kit0001", "prod_Kit0001", 2_500);
        let support = one_time("price_Support0001", "prod_Support0001", 1_000);
        stripe
            .insert(objects::product("prod_Kit0001", "Starter kit"))
            .unwrap();
        stripe
            .insert(objects::product("prod_Support0001", "Support"))
            .unwrap();
        let session = objects::checkout_session(
            session_id,
            T0,
            "pi_LineItemsCheckout1",
            6_000,
            "usd",
            "buyer@checkout-line-items.example",
        );
        stripe.insert(session.clone()).unwrap();
        stripe.set_checkout_line_items(
            session_id,
            vec![
                objects::checkout_line_item("li_LineItemsKit01", &kit, 2, "Starter kit"),
                objects::checkout_line_item("li_LineItemsSup01", &support, 1, "Support"),
            ],
        );
        let pipeline = with_stripe(&stripe).await;
        let hubspot = &pipeline.hubspot;
        let completed = event(
            "evt_LineItemsCheckout1",
            "checkout.session.completed",
            T0 + 2,
            session,
        );
        deliver(&pipeline, &completed).await;
        settled_line_items(hubspot, 2).await;

        let deal = only_deal(hubspot);
        let items = hubspot.line_items();
        assert_eq!(items.len(), 2, "{items:?}");
        for (id, product, name, quantity) in [
            ("li_LineItemsKit01", "prod_Kit0001", "Starter kit", "2"),
            ("li_LineItemsSup01", "prod_Support0001", "Support", "1"),
        ] {
            let item = items
                .iter()
                .find(|i| i.property("stripe_line_item_id") == Some(id))
                .unwrap_or_else(|| panic!("{id}: {items:?}"));
            assert_eq!(prop(item, "quantity"), quantity);
            let hs_product = hubspot
                .products()
                .into_iter()
                .find(|p| p.id == prop(item, "hs_product_id"))
                .unwrap_or_else(|| panic!("the product of {id}"));
            assert_eq!(prop(&hs_product, "stripe_product_id"), product);
            assert_eq!(
                prop(&hs_product, "name"),
                name,
                "the product's name from the expanded product"
            );
            assert!(hubspot.are_associated("line_items", &item.id, "deals", &deal.id));
        }
        let path = format!("/v1/checkout/sessions/{session_id}/line_items");
        assert_eq!(stripe.request_count(&path), 1, "the items are read once");

        // A redelivery reads nothing again and writes nothing new.
        deliver(&pipeline, &completed).await;
        tokio::time::sleep(Duration::from_millis(500)).await;
        assert_eq!(stripe.request_count(&path), 1);
        assert_eq!(hubspot.line_items().len(), 2);
    }

    #[tokio::test]
    async fn an_invoice_with_more_lines_than_its_event_carried_gets_them_all() {
        let stripe = FakeStripe::start().await;
        let invoice_id = "in_LineItemsMany0001";
        let mut charge = objects::charge("ch_LineItemsMany0001", T0, 12 * 700, "usd");
        charge["payment_intent"] = json!("pi_LineItemsMany0001");
        let lines: Vec<Value> = (0..12)
            .map(|n| {
                let price = one_time(&format!("price_Many{n:04}"), "prod_Many0001", 700);
                objects::invoice_line(
                    &format!("il_LineItemsMany{n:04}"),
                    invoice_id,
                    &price,
                    1,
                    "Seat",
                )
            })
            .collect();
        let invoice = objects::with_lines(
            objects::invoice(
                invoice_id,
                T0,
                &charge,
                "sub_LineItemsMany1",
                "many@lines-line-items.example",
            ),
            lines.clone(),
        );
        stripe.insert(invoice.clone()).unwrap();
        stripe
            .insert(objects::product("prod_Many0001", "Seat"))
            .unwrap();
        // The event carries the first ten, as Stripe's do.
        let mut carried = invoice;
        carried["lines"]["data"] = Value::Array(lines[..10].to_vec());
        carried["lines"]["has_more"] = json!(true);
        let pipeline = with_stripe(&stripe).await;
        deliver(
            &pipeline,
            &event("evt_LineItemsMany0001", "invoice.paid", T0 + 10, carried),
        )
        .await;
        settled_line_items(&pipeline.hubspot, 12).await;
        let items = pipeline.hubspot.line_items();
        assert_eq!(items.len(), 12, "all twelve lines: {items:?}");
        assert!(
            stripe.request_count(&format!("/v1/invoices/{invoice_id}/lines")) >= 1,
            "the lines were read from Stripe"
        );
    }
}
