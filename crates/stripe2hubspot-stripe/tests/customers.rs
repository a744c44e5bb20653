//! Customers, subscriptions (every status, discounts and products in place within Stripe's
//! expansion depth) and balance transactions, read from the fake Stripe.
#![cfg(feature = "fake")]

use serde_json::{json, Value};
use stripe2hubspot_stripe::fake::{objects, FakeStripe};
use stripe2hubspot_stripe::{CreatedRange, Error, ListKind};
use stripe_events::{Customer, EventObject, Subscription};

const T0: i64 = 1_700_000_000;

/// Two customers; one subscription each to a 49 USD monthly plan, one canceled, one 25% off.
fn billing() -> Vec<Value> {
    let gold = objects::product("prod_gold", "Gold");
    let monthly = objects::price("price_gold", "prod_gold", 4_900, "usd", "month", 1);
    let live = objects::subscription("sub_live", "cus_ann", T0 + 10, "active", &monthly, 2);
    let off = objects::percent_discount("di_25", &live, 25.0);
    let live = objects::with_discount(live, &off);
    let ended = objects::subscription("sub_ended", "cus_bob", T0 + 20, "canceled", &monthly, 1);
    vec![
        objects::customer("cus_ann", T0, Some("ann@example.com"), Some("Ann A")),
        objects::customer("cus_bob", T0 + 1, None, None),
        gold,
        live,
        off,
        ended,
    ]
}

fn object_json(object: &EventObject) -> Value {
    match object {
        EventObject::Unknown(value) => value.clone(),
        typed => serde_json::to_value(typed).unwrap(),
    }
}

#[tokio::test]
async fn customers_list_and_parse_newest_first() {
    let fake = FakeStripe::start().await;
    fake.insert_all(billing()).unwrap();
    let client = fake.client().unwrap();
    let customers = client
        .pager::<Customer>(CreatedRange::all(), None)
        .collect_all()
        .await
        .unwrap();
    let ids: Vec<&str> = customers.iter().map(|c| c.id.as_str()).collect();
    assert_eq!(ids, ["cus_bob", "cus_ann"]);
    assert_eq!(customers[1].email.as_deref(), Some("ann@example.com"));
    let page = client
        .list_objects(ListKind::Customers, CreatedRange::all(), None)
        .await
        .unwrap();
    assert!(page
        .data
        .iter()
        .all(|o| matches!(o, EventObject::Customer(_))));
}

#[tokio::test]
async fn subscriptions_of_every_status_come_with_discounts_and_products_in_place() {
    let fake = FakeStripe::start().await;
    fake.insert_all(billing()).unwrap();
    let client = fake.client().unwrap();
    let page = client
        .list_objects(ListKind::Subscriptions, CreatedRange::all(), None)
        .await
        .unwrap();
    let listed: Vec<Value> = page.data.iter().map(object_json).collect();
    let ids: Vec<&str> = listed.iter().filter_map(|s| s["id"].as_str()).collect();
    assert_eq!(ids, ["sub_ended", "sub_live"], "canceled ones too");
    let live = &listed[1];
    assert_eq!(
        live["items"]["data"][0]["price"]["product"]["name"],
        json!("Gold"),
        "the product is in place: {live}"
    );
    assert_eq!(live["discounts"][0]["coupon"]["percent_off"], json!(25.0));

    let requests = fake.requests();
    let list = requests
        .iter()
        .find(|r| r.path == "/v1/subscriptions")
        .unwrap();
    assert_eq!(list.param("status"), Some("all"));
    assert_eq!(list.params("expand[]"), ["data.discounts"]);
    assert_eq!(list.status, 200);
    let products: Vec<_> = requests
        .iter()
        .filter(|r| r.path == "/v1/products")
        .collect();
    assert_eq!(products.len(), 1, "one read of the page's products");
    assert_eq!(products[0].params("ids[]"), ["prod_gold"]);

    // Retrieved alone (a tied subscription's re-read), it has the listed shape.
    let one = client.retrieve("/v1/subscriptions/sub_live").await.unwrap();
    assert!(matches!(one, EventObject::Subscription(_)));
    assert_eq!(object_json(&one), object_json(&page.data[1]));
    let typed = client
        .retrieve_by_id::<Subscription>("sub_live")
        .await
        .unwrap();
    let item = &typed.items.as_ref().unwrap().data[0];
    let product = item.price.as_ref().unwrap().product.as_ref().unwrap();
    assert_eq!(
        product.as_object().and_then(|p| p.name.as_deref()),
        Some("Gold")
    );
    let retrieve = fake
        .requests()
        .into_iter()
        .rfind(|r| r.path == "/v1/subscriptions/sub_live")
        .unwrap();
    assert_eq!(
        retrieve.params("expand[]"),
        ["discounts", "items.data.price.product"]
    );
    assert_eq!(retrieve.status, 200);
}

#[tokio::test]
async fn the_fake_refuses_what_stripe_refuses_a_list_expansion_five_levels_deep() {
    let fake = FakeStripe::start().await;
    fake.insert_all(billing()).unwrap();
    let http = reqwest::Client::new();
    let get = |query: &'static str| {
        http.get(format!("{}/v1/subscriptions?{query}", fake.base_url()))
            .bearer_auth(fake.key())
            .send()
    };
    let deep = get("expand[]=data.items.data.price.product").await.unwrap();
    assert_eq!(deep.status(), 400);
    let body: Value = deep.json().await.unwrap();
    assert_eq!(body["error"]["code"], json!("property_expansion_max_depth"));
    // Without `status`, Stripe leaves canceled subscriptions out.
    let default: Value = get("limit=10").await.unwrap().json().await.unwrap();
    let ids: Vec<&str> = default["data"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|s| s["id"].as_str())
        .collect();
    assert_eq!(ids, ["sub_live"]);
}

#[tokio::test]
async fn a_charge_settled_in_another_currency_has_its_balance_transaction() {
    let fake = FakeStripe::start().await;
    let yen = objects::charge("ch_yen", T0, 5_000, "jpy");
    let usd = objects::charge("ch_usd", T0, 4_900, "usd");
    let converted = objects::balance_transaction("txn_ch_yen", &yen, 3_365, "usd");
    fake.insert_all([yen, usd, converted]).unwrap();
    let client = fake.client().unwrap();

    let txn = client.balance_transaction("txn_ch_yen").await.unwrap();
    assert_eq!(txn.money().to_decimal_string(), "33.65");
    assert_eq!(txn.money().currency.as_str(), "usd");
    assert_eq!(txn.source.as_deref(), Some("ch_yen"));
    // A charge in the settlement currency settles 1:1 (the fake derives its transaction).
    let same = client.balance_transaction("txn_ch_usd").await.unwrap();
    assert_eq!(
        (same.amount, same.currency.as_str(), same.source.as_deref()),
        (4_900, "usd", Some("ch_usd"))
    );
    assert!(matches!(
        client.balance_transaction("txn_nothing").await,
        Err(Error::NotFound { .. })
    ));
    assert_eq!(fake.request_count("/v1/balance_transactions/"), 3);
}

#[tokio::test]
async fn a_key_that_cannot_read_products_is_told_which_permission_subscriptions_need() {
    let fake = FakeStripe::builder()
        .deny_read(ListKind::Products)
        .start()
        .await;
    fake.insert_all(billing()).unwrap();
    let error = fake
        .client()
        .unwrap()
        .list_objects(ListKind::Subscriptions, CreatedRange::all(), None)
        .await
        .unwrap_err();
    assert!(
        matches!(&error, Error::Forbidden { permission, .. } if permission == "Products: Read"),
        "{error:?}"
    );
    assert!(error.to_string().contains("Products: Read"), "{error}");
}
