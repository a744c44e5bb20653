//! Issue 22 against `FakeHubSpot` over loopback HTTP: finding companies by many domains in
//! one `IN` search (and HubSpot's lowercase and body-size rules for it), adopting a company a
//! user made by hand, upserts by the unique Stripe keys once (and only once) those
//! properties are unique, batch updates by id, default associations seen from both ends,
//! per-type scopes with `e-commerce` as HubSpot's alternative, and the rate window.
#![cfg(feature = "fake")]

use std::collections::BTreeMap;
use std::time::Duration;

use hubspot_crm::fake::FakeHubSpot;
use hubspot_crm::{
    scopes, Client, Error, ObjectType, PropertyCreate, RateLimit, SearchRequest, UpdateInput,
    UpsertInput, MAX_SEARCH_BODY_CHARS,
};
use serde_json::{json, Value};

const COMPANY_KEY: &str = "stripe_company_key";
const LINE_ITEM_KEY: &str = "stripe_line_item_id";
const PRODUCT_KEY: &str = "stripe_product_id";

fn props(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

/// Creates the unique id properties the way a property bootstrap does.
async fn bootstrap(client: &Client) {
    for (object_type, name) in [
        (ObjectType::Companies, COMPANY_KEY),
        (ObjectType::LineItems, LINE_ITEM_KEY),
        (ObjectType::Products, PRODUCT_KEY),
    ] {
        client
            .properties(object_type)
            .create(&PropertyCreate::text(name, name, "stripe").unique(true))
            .await
            .unwrap();
    }
}

/// POSTs a raw JSON body to the fake, bypassing the client's own checks, to see what the
/// fake (standing in for HubSpot) answers.
async fn raw_post(fake: &FakeHubSpot, path: &str, body: &Value) -> (u16, Value) {
    let response = reqwest::Client::new()
        .post(format!("{}{path}", fake.base_url()))
        .bearer_auth(fake.token())
        .json(body)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

fn ids(result: &hubspot_crm::SearchResult) -> Vec<String> {
    let mut ids: Vec<String> = result.results.iter().map(|o| o.id.clone()).collect();
    ids.sort();
    ids
}

#[tokio::test]
async fn one_in_search_finds_the_companies_of_many_domains() {
    let fake = FakeHubSpot::start().await;
    let client = fake.client().unwrap();
    let mut wanted = Vec::new();
    for i in 0..60 {
        wanted.push(fake.create_company(&format!("Co {i}"), &format!("co{i}.example")));
    }
    // Companies whose domains are not asked for stay out.
    fake.create_company("Other", "other.example");
    let domains: Vec<String> = (0..60).map(|i| format!("co{i}.example")).collect();
    fake.clear_requests();

    let found = client
        .companies()
        .search(
            &SearchRequest::new()
                .filter_in("domain", &domains)
                .properties(["domain", "name"])
                .limit(100),
        )
        .await
        .unwrap();

    assert_eq!(found.total, 60);
    wanted.sort();
    assert_eq!(ids(&found), wanted);
    assert_eq!(
        fake.request_count("POST", "/crm/objects/2026-09/companies/search"),
        1,
        "one request for every domain"
    );
}

#[tokio::test]
async fn in_values_are_lowercased_because_hubspot_matches_in_exactly() {
    let fake = FakeHubSpot::start().await;
    let client = fake.client().unwrap();
    // A user typed the domain with capitals; HubSpot's index holds it lowercased.
    let id = fake.create_company("Acme", "Acme.COM");

    // HubSpot's rule, as the fake enforces it: an uppercase IN value matches nothing ...
    let path = "/crm/objects/2026-09/companies/search";
    let filter = |values: Value| {
        json!({"filterGroups": [{"filters": [
            {"propertyName": "domain", "operator": "IN", "values": values}
        ]}]})
    };
    let (status, upper) = raw_post(&fake, path, &filter(json!(["ACME.COM"]))).await;
    assert_eq!(status, 200);
    assert_eq!(upper["total"], 0);
    let (_, lower) = raw_post(&fake, path, &filter(json!(["acme.com"]))).await;
    assert_eq!(lower["total"], 1);

    // ... so the client lowercases what it is given, and finds the company.
    let found = client
        .companies()
        .search(&SearchRequest::new().filter_in("domain", ["ACME.com", "acme.COM"]))
        .await
        .unwrap();
    assert_eq!(ids(&found), vec![id]);
}

#[tokio::test]
async fn a_search_body_over_hubspots_limit_is_refused_and_split_in_keeps_under_it() {
    let fake = FakeHubSpot::builder().search_rate_limit(None).start().await;
    let client = fake.client().unwrap();
    // 100 long domains do not fit one 3,000-character body.
    let domains: Vec<String> = (0..100)
        .map(|i| format!("{}-{i:03}.example.com", "subsidiary-of-a-long-name"))
        .collect();
    let mut made: Vec<String> = domains
        .iter()
        .map(|d| fake.create_company("Long", d))
        .collect();
    made.sort();
    fake.clear_requests();

    let whole = SearchRequest::new()
        .filter_in("domain", &domains)
        .limit(100);
    assert!(whole.body_chars() > MAX_SEARCH_BODY_CHARS);
    let err = client.companies().search(&whole).await.unwrap_err();
    assert!(matches!(err, Error::InvalidInput(_)), "{err:?}");
    assert_eq!(fake.total_requests(), 0, "refused before sending");

    // The fake answers such a body as HubSpot does: 400.
    let body = serde_json::to_value(&whole).unwrap();
    let (status, answer) = raw_post(&fake, "/crm/objects/2026-09/companies/search", &body).await;
    assert_eq!(status, 400, "{answer}");

    let pages = SearchRequest::new()
        .properties(["domain"])
        .limit(100)
        .split_in("domain", &domains)
        .unwrap();
    assert!(pages.len() >= 2, "{} searches", pages.len());
    let mut found = Vec::new();
    for page in &pages {
        assert!(page.body_chars() <= MAX_SEARCH_BODY_CHARS);
        found.extend(ids(&client.companies().search(page).await.unwrap()));
    }
    found.sort();
    assert_eq!(found, made, "the searches together find every company once");
}

#[tokio::test]
async fn an_in_filter_without_values_is_refused() {
    let fake = FakeHubSpot::start().await;
    let client = fake.client().unwrap();
    let empty: [&str; 0] = [];
    let err = client
        .companies()
        .search(&SearchRequest::new().filter_in("domain", empty))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::InvalidInput(_)), "{err:?}");
    assert_eq!(fake.total_requests(), 0);
    let (status, _) = raw_post(
        &fake,
        "/crm/objects/2026-09/companies/search",
        &json!({"filterGroups": [{"filters": [
            {"propertyName": "domain", "operator": "IN", "values": []}
        ]}]}),
    )
    .await;
    assert_eq!(status, 400);
    assert!(SearchRequest::new()
        .split_in("domain", empty)
        .unwrap()
        .is_empty());
}

#[tokio::test]
async fn a_users_company_is_adopted_by_id_then_upserted_by_its_key() {
    let fake = FakeHubSpot::start().await;
    let client = fake.client().unwrap();
    bootstrap(&client).await;
    let id = fake.create_company("Acme Corporation", "acme.com");
    assert_eq!(fake.companies()[0].property(COMPANY_KEY), None);

    let found = client
        .companies()
        .search(&SearchRequest::new().filter_in("domain", ["acme.com"]))
        .await
        .unwrap();
    assert_eq!(ids(&found), vec![id.clone()]);

    // Adopt: write the key and the rollups by id, leaving the name the user typed.
    let adopted = client
        .companies()
        .batch_update(&[UpdateInput::new(
            id.clone(),
            props(&[(COMPANY_KEY, "acme.com")]),
        )])
        .await
        .unwrap();
    assert_eq!(adopted.results[0].id, id);

    // From now on the key finds it: an upsert updates, never duplicates.
    let upserted = client
        .companies()
        .batch_upsert(&[UpsertInput::new(
            COMPANY_KEY,
            "acme.com",
            props(&[("domain", "acme.com")]),
        )])
        .await
        .unwrap();
    assert!(!upserted.results[0].new);
    assert_eq!(upserted.results[0].object.id, id);
    let all = fake.companies();
    assert_eq!(all.len(), 1);
    assert_eq!(all[0].property("name"), Some("Acme Corporation"));
    assert_eq!(all[0].property(COMPANY_KEY), Some("acme.com"));
}

#[tokio::test]
async fn stripe_keys_upsert_only_once_the_properties_are_created_unique() {
    for (object_type, key, path) in [
        (ObjectType::Companies, COMPANY_KEY, "companies"),
        (ObjectType::LineItems, LINE_ITEM_KEY, "line_items"),
        (ObjectType::Products, PRODUCT_KEY, "products"),
    ] {
        let fake = FakeHubSpot::start().await;
        let client = fake.client().unwrap();
        let objects = client.objects(object_type.clone());
        let input = || UpsertInput::new(key, "k_1", props(&[("name", "one")]));

        // Before the bootstrap the property does not exist: not usable as idProperty.
        let err = objects.batch_upsert(&[input()]).await.unwrap_err();
        assert!(matches!(err, Error::Validation { .. }), "{path}: {err:?}");

        // A plain (non-unique) property is no idProperty either.
        client
            .properties(object_type.clone())
            .create(&PropertyCreate::text(key, key, "stripe"))
            .await
            .unwrap();
        let err = objects.batch_upsert(&[input()]).await.unwrap_err();
        assert!(matches!(err, Error::Validation { .. }), "{path}: {err:?}");
        assert!(fake.objects(path).is_empty(), "{path}: nothing written");

        // Made unique (as the bootstrap creates it), upserts find their object by it.
        fake.set_property(path, PropertyCreate::text(key, key, "stripe").unique(true));
        let first = objects.batch_upsert(&[input()]).await.unwrap();
        let second = objects.batch_upsert(&[input()]).await.unwrap();
        assert!(first.results[0].new && !second.results[0].new, "{path}");
        assert_eq!(first.results[0].object.id, second.results[0].object.id);
        assert_eq!(fake.objects(path).len(), 1, "{path}: one object per key");

        // The unique value cannot be given to a second object.
        let err = objects
            .create(&hubspot_crm::ObjectInput::default().property(key, "k_1"))
            .await
            .unwrap_err();
        assert!(matches!(err, Error::Conflict { .. }), "{path}: {err:?}");
    }
}

#[tokio::test]
async fn batch_updates_by_id_write_known_objects_and_name_unknown_ones() {
    let fake = FakeHubSpot::start().await;
    let client = fake.client().unwrap();
    bootstrap(&client).await;
    for (object_type, path) in [
        (ObjectType::Companies, "companies"),
        (ObjectType::LineItems, "line_items"),
        (ObjectType::Products, "products"),
    ] {
        let id = fake.create_object(path, &[("name", "before")]);
        let answer = client
            .objects(object_type)
            .batch_update(&[
                UpdateInput::new(id.clone(), props(&[("name", "after")])),
                UpdateInput::new("999999", props(&[("name", "ghost")])),
            ])
            .await
            .unwrap();
        assert_eq!(answer.http_status, 207, "{path}");
        assert_eq!(answer.results.len(), 1, "{path}");
        assert_eq!(answer.errors.len(), 1, "{path}");
        assert_eq!(
            answer.errors[0].category.as_deref(),
            Some("OBJECT_NOT_FOUND"),
            "{path}"
        );
        assert_eq!(
            fake.object(path, &id).unwrap().property("name"),
            Some("after"),
            "{path}"
        );
    }
}

#[tokio::test]
async fn a_line_item_must_name_an_existing_product_in_upserts_and_updates() {
    let fake = FakeHubSpot::start().await;
    let client = fake.client().unwrap();
    bootstrap(&client).await;
    let product = client
        .products()
        .batch_upsert(&[UpsertInput::new(
            PRODUCT_KEY,
            "prod_1",
            props(&[("name", "Seat")]),
        )])
        .await
        .unwrap()
        .results[0]
        .object
        .id
        .clone();
    let line = |id: &str, product: &str| {
        UpsertInput::new(LINE_ITEM_KEY, id, props(&[("hs_product_id", product)]))
    };
    // One unknown product rejects the whole batch, as one bad value does.
    let err = client
        .line_items()
        .batch_upsert(&[line("il_1", &product), line("il_2", "424242")])
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Validation { .. }), "{err:?}");
    assert!(fake.line_items().is_empty());

    let made = client
        .line_items()
        .batch_upsert(&[line("il_1", &product)])
        .await
        .unwrap();
    let line_id = made.results[0].object.id.clone();
    let err = client
        .line_items()
        .batch_update(&[UpdateInput::new(
            line_id.clone(),
            props(&[("hs_product_id", "424242")]),
        )])
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Validation { .. }), "{err:?}");
    assert_eq!(
        fake.object("line_items", &line_id)
            .unwrap()
            .property("hs_product_id"),
        Some(product.as_str())
    );
}

#[tokio::test]
async fn default_associations_link_companies_and_line_items_seen_from_both_ends() {
    let fake = FakeHubSpot::start().await;
    let client = fake.client().unwrap();
    let company = fake.create_company("Acme", "acme.com");
    let contacts = [
        fake.create_object("contacts", &[("email", "a@acme.com")]),
        fake.create_object("contacts", &[("email", "b@acme.com")]),
    ];
    let deal = fake.create_object("deals", &[("dealname", "pi_1")]);
    let lines = [
        fake.create_object("line_items", &[("name", "Seat")]),
        fake.create_object("line_items", &[("name", "Setup")]),
    ];
    let associations = client.associations();
    let linked = associations
        .batch_associate_default(
            &ObjectType::Contacts,
            &ObjectType::Companies,
            contacts.iter().map(|c| (c.as_str(), company.as_str())),
        )
        .await
        .unwrap();
    assert!(!linked.is_partial());
    associations
        .batch_associate_default(
            &ObjectType::Deals,
            &ObjectType::Companies,
            [(deal.as_str(), company.as_str())],
        )
        .await
        .unwrap();
    let made = associations
        .batch_associate_default(
            &ObjectType::LineItems,
            &ObjectType::Deals,
            lines.iter().map(|l| (l.as_str(), deal.as_str())),
        )
        .await
        .unwrap();
    // Each pair reports the type from both ends: line item -> deal 20, deal -> line item 19.
    let types: Vec<i64> = made
        .results
        .iter()
        .filter_map(|a| a.association_spec.as_ref())
        .map(|s| s.association_type_id)
        .collect();
    assert!(types.contains(&20) && types.contains(&19), "{types:?}");

    assert_eq!(
        fake.associated("companies", &company, "contacts"),
        contacts.to_vec()
    );
    assert_eq!(
        fake.associated("contacts", &contacts[1], "companies"),
        vec![company.clone()]
    );
    assert_eq!(
        fake.associated("companies", &company, "deals"),
        vec![deal.clone()]
    );
    assert_eq!(
        fake.associated("deals", &deal, "companies"),
        vec![company.clone()]
    );
    assert_eq!(
        fake.associated("deals", &deal, "line_items"),
        lines.to_vec()
    );
    assert_eq!(
        fake.associated("line_items", &lines[0], "deals"),
        vec![deal.clone()]
    );
    assert!(fake.associated("deals", &deal, "contacts").is_empty());

    // Associating twice changes nothing; an unknown id is named in a 207.
    let again = associations
        .batch_associate_default(
            &ObjectType::Deals,
            &ObjectType::Companies,
            [(deal.as_str(), company.as_str()), (deal.as_str(), "999999")],
        )
        .await
        .unwrap();
    assert_eq!(again.http_status, 207);
    assert_eq!(again.errors.len(), 1);
    assert_eq!(
        again.errors[0].category.as_deref(),
        Some("OBJECT_NOT_FOUND")
    );
    assert_eq!(
        fake.associated("deals", &deal, "companies"),
        vec![company.clone()]
    );
}

#[tokio::test]
async fn line_item_and_product_scopes_accept_e_commerce_in_place_of_the_granular_ones() {
    let granular = [
        scopes::LINE_ITEMS_READ,
        scopes::LINE_ITEMS_WRITE,
        scopes::PRODUCTS_READ,
        scopes::PRODUCTS_WRITE,
    ];
    // A token with e-commerce but none of the granular scopes writes both types ...
    let fake = FakeHubSpot::builder()
        .missing_scopes(granular)
        .start()
        .await;
    let client = fake.client().unwrap();
    bootstrap(&client).await;
    client
        .products()
        .batch_upsert(&[UpsertInput::new(PRODUCT_KEY, "prod_1", props(&[]))])
        .await
        .unwrap();
    client
        .line_items()
        .batch_upsert(&[UpsertInput::new(LINE_ITEM_KEY, "il_1", props(&[]))])
        .await
        .unwrap();
    let info = client.access_token_info().await.unwrap();
    assert!(info.missing(&scopes::PRODUCT_SCOPES).is_empty());
    assert!(info.missing(&scopes::LINE_ITEM_SCOPES).is_empty());

    // ... and one with the granular scopes but no e-commerce writes the objects but cannot
    // create their properties.
    let fake = FakeHubSpot::builder()
        .missing_scopes([scopes::E_COMMERCE])
        .start()
        .await;
    let client = fake.client().unwrap();
    for object_type in [ObjectType::LineItems, ObjectType::Products] {
        let err = client
            .properties(object_type)
            .create(&PropertyCreate::text("k", "k", "stripe").unique(true))
            .await
            .unwrap_err();
        let Error::Forbidden { missing_scopes, .. } = &err else {
            panic!("expected 403, got {err:?}")
        };
        assert_eq!(missing_scopes, &[scopes::E_COMMERCE]);
    }
    client
        .products()
        .create(&hubspot_crm::ObjectInput::default().property("name", "Seat"))
        .await
        .unwrap();
    let info = client.access_token_info().await.unwrap();
    assert_eq!(
        info.missing(&scopes::LINE_ITEM_PROPERTY_SCOPES),
        [scopes::E_COMMERCE]
    );

    // Without either, each type is refused on its own, naming its granular scope.
    let fake = FakeHubSpot::builder()
        .missing_scopes([
            scopes::E_COMMERCE,
            scopes::PRODUCTS_READ,
            scopes::PRODUCTS_WRITE,
        ])
        .start()
        .await;
    let client = fake.client().unwrap();
    let err = client
        .products()
        .create(&hubspot_crm::ObjectInput::default().property("name", "Seat"))
        .await
        .unwrap_err();
    let Error::Forbidden { missing_scopes, .. } = &err else {
        panic!("expected 403, got {err:?}")
    };
    assert_eq!(missing_scopes, &[scopes::PRODUCTS_WRITE]);
    client
        .line_items()
        .create(&hubspot_crm::ObjectInput::default().property("name", "Seat"))
        .await
        .unwrap();
    client
        .companies()
        .create(&hubspot_crm::ObjectInput::default().property("domain", "acme.com"))
        .await
        .unwrap();
}

#[tokio::test]
async fn a_missing_line_items_scope_refuses_the_line_item_association_only() {
    let fake = FakeHubSpot::builder()
        .missing_scopes([scopes::E_COMMERCE, scopes::LINE_ITEMS_WRITE])
        .start()
        .await;
    let client = fake.client().unwrap();
    let deal = fake.create_object("deals", &[("dealname", "pi_1")]);
    let line = fake.create_object("line_items", &[("name", "Seat")]);
    let company = fake.create_company("Acme", "acme.com");
    let err = client
        .associations()
        .batch_associate_default(
            &ObjectType::LineItems,
            &ObjectType::Deals,
            [(line.as_str(), deal.as_str())],
        )
        .await
        .unwrap_err();
    let Error::Forbidden { missing_scopes, .. } = &err else {
        panic!("expected 403, got {err:?}")
    };
    assert_eq!(missing_scopes, &[scopes::LINE_ITEMS_WRITE]);
    assert!(fake.associated("deals", &deal, "line_items").is_empty());
    client
        .associations()
        .batch_associate_default(
            &ObjectType::Deals,
            &ObjectType::Companies,
            [(deal.as_str(), company.as_str())],
        )
        .await
        .unwrap();
}

#[tokio::test]
async fn company_line_item_and_association_calls_count_in_the_rate_window() {
    let fake = FakeHubSpot::builder()
        .rate_limit(RateLimit::new(4, Duration::from_secs(10)))
        .search_rate_limit(None)
        .start()
        .await;
    // The client's own pacing is looser than the fake's window, so the fake decides.
    let client = fake
        .client_builder()
        .rate_limit(RateLimit::per_ten_seconds(100))
        .build()
        .unwrap();
    let company = fake.create_company("Acme", "acme.com");
    let deal = fake.create_object("deals", &[("dealname", "pi_1")]);
    client
        .companies()
        .search(&SearchRequest::new().filter_in("domain", ["acme.com"]))
        .await
        .unwrap();
    client
        .companies()
        .batch_update(&[UpdateInput::new(company.clone(), props(&[("name", "A")]))])
        .await
        .unwrap();
    client
        .products()
        .create(&hubspot_crm::ObjectInput::default().property("name", "Seat"))
        .await
        .unwrap();
    client
        .associations()
        .batch_associate_default(
            &ObjectType::Deals,
            &ObjectType::Companies,
            [(deal.as_str(), company.as_str())],
        )
        .await
        .unwrap();
    let err = client
        .line_items()
        .create(&hubspot_crm::ObjectInput::default().property("name", "Seat"))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::RateLimited { .. }), "{err:?}");
    assert!(fake.line_items().is_empty());
}
