//! Companies, line items and products against `FakeHubSpot` over loopback HTTP: upserts by
//! their unique properties, search by domain, inline associations with HubSpot's type ids,
//! product references and per-object scopes.
#![cfg(feature = "fake")]

use std::collections::BTreeMap;

use hubspot_crm::fake::FakeHubSpot;
use hubspot_crm::{
    scopes, ApiVersion, AssociationType, Client, Error, ObjectInput, ObjectType, PropertyCreate,
    SearchRequest, UpsertInput,
};

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

fn client_at(fake: &FakeHubSpot, version: ApiVersion) -> Client {
    fake.client_builder().api_version(version).build().unwrap()
}

#[tokio::test]
async fn a_company_upserted_twice_by_its_key_is_one_company_found_by_domain() {
    for version in [
        ApiVersion::V2026_09,
        ApiVersion::V2026_03,
        ApiVersion::Legacy,
    ] {
        let fake = FakeHubSpot::start().await;
        let client = client_at(&fake, version);
        bootstrap(&client).await;
        let companies = client.companies();
        let input = |name: &str| {
            UpsertInput::new(
                COMPANY_KEY,
                "acme.com",
                props(&[("domain", "acme.com"), ("name", name)]),
            )
        };
        let first = companies.batch_upsert(&[input("Acme")]).await.unwrap();
        assert!(
            first.results[0].new,
            "{version:?}: the first upsert creates"
        );
        let second = companies.batch_upsert(&[input("Acme Inc")]).await.unwrap();
        assert!(!second.results[0].new, "{version:?}: the second updates");
        assert_eq!(second.results[0].object.id, first.results[0].object.id);
        let all = fake.companies();
        assert_eq!(all.len(), 1, "{version:?}: one key makes one company");
        assert_eq!(all[0].property("name"), Some("Acme Inc"));

        let found = companies
            .search(&SearchRequest::new().filter_eq("domain", "acme.com"))
            .await
            .unwrap();
        assert_eq!(found.total, 1, "{version:?}");
        assert_eq!(found.results[0].id, first.results[0].object.id);
        assert_eq!(found.results[0].property("domain"), Some("acme.com"));

        let read = companies
            .batch_read(
                Some(COMPANY_KEY),
                &["acme.com".to_owned()],
                &["name".to_owned()],
            )
            .await
            .unwrap();
        assert_eq!(read.results[0].property("name"), Some("Acme Inc"));
    }
}

#[tokio::test]
async fn line_items_are_created_on_their_deal_and_updated_in_place() {
    for version in [ApiVersion::V2026_09, ApiVersion::Legacy] {
        let fake = FakeHubSpot::start().await;
        let client = client_at(&fake, version);
        bootstrap(&client).await;
        let deal = client
            .deals()
            .create(&ObjectInput::default().property("dealname", "in_1"))
            .await
            .unwrap();
        let product = |price: &str| {
            UpsertInput::new(
                PRODUCT_KEY,
                "prod_1",
                props(&[("name", "Pro seat"), ("price", price)]),
            )
        };
        let made = client
            .products()
            .batch_upsert(&[product("10")])
            .await
            .unwrap();
        let again = client
            .products()
            .batch_upsert(&[product("12")])
            .await
            .unwrap();
        let product_id = made.results[0].object.id.clone();
        assert_eq!(again.results[0].object.id, product_id);
        assert_eq!(
            fake.products().len(),
            1,
            "{version:?}: one product per prod_ id"
        );

        let line = ObjectInput::default()
            .property(LINE_ITEM_KEY, "il_1")
            .property("name", "Pro seat")
            .property("quantity", "3")
            .property("price", "12")
            .property("hs_product_id", product_id.as_str())
            .associate(deal.id.as_str(), AssociationType::LINE_ITEM_TO_DEAL);
        let created = client.line_items().batch_create(&[line]).await.unwrap();
        let line_id = created.results[0].id.clone();
        assert!(fake.are_associated("line_items", &line_id, "deals", &deal.id));

        // A redelivery updates the same line item by its Stripe id.
        let updated = client
            .line_items()
            .batch_upsert(&[UpsertInput::new(
                LINE_ITEM_KEY,
                "il_1",
                props(&[("quantity", "4"), ("hs_product_id", product_id.as_str())]),
            )])
            .await
            .unwrap();
        assert_eq!(updated.results[0].object.id, line_id);
        let lines = fake.line_items();
        assert_eq!(lines.len(), 1, "{version:?}: never duplicated");
        assert_eq!(lines[0].property("quantity"), Some("4"));
        assert_eq!(
            lines[0].property("hs_product_id"),
            Some(product_id.as_str())
        );
    }
}

#[tokio::test]
async fn a_line_item_naming_no_existing_product_is_refused() {
    let fake = FakeHubSpot::start().await;
    let client = fake.client().unwrap();
    bootstrap(&client).await;
    let err = client
        .line_items()
        .create(
            &ObjectInput::default()
                .property(LINE_ITEM_KEY, "il_1")
                .property("hs_product_id", "987654"),
        )
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Validation { .. }), "{err:?}");
    assert!(fake.line_items().is_empty());
}

#[tokio::test]
async fn contacts_and_deals_associate_with_companies_by_their_type_ids() {
    let fake = FakeHubSpot::start().await;
    let client = fake.client().unwrap();
    bootstrap(&client).await;
    let company = client
        .companies()
        .create(&ObjectInput::default().property(COMPANY_KEY, "acme.com"))
        .await
        .unwrap();
    let contact = client
        .contacts()
        .create(
            &ObjectInput::default()
                .property("email", "ada@acme.com")
                .associate(company.id.as_str(), AssociationType::CONTACT_TO_COMPANY),
        )
        .await
        .unwrap();
    let deal = client
        .deals()
        .create(
            &ObjectInput::default()
                .property("dealname", "pi_1")
                .associate(contact.id.as_str(), AssociationType::DEAL_TO_CONTACT)
                .associate(
                    company.id.as_str(),
                    AssociationType::DEAL_TO_PRIMARY_COMPANY,
                ),
        )
        .await
        .unwrap();
    assert!(fake.are_associated("contacts", &contact.id, "companies", &company.id));
    assert!(fake.are_associated("deals", &deal.id, "companies", &company.id));

    // The batch default association works between every modelled pair.
    client
        .associations()
        .batch_associate_default(
            &ObjectType::Companies,
            &ObjectType::Deals,
            [(company.id.as_str(), deal.id.as_str())],
        )
        .await
        .unwrap();
}

#[tokio::test]
async fn an_association_type_of_another_pair_is_refused() {
    let fake = FakeHubSpot::start().await;
    let client = fake.client().unwrap();
    bootstrap(&client).await;
    let deal = client
        .deals()
        .create(&ObjectInput::default().property("dealname", "in_1"))
        .await
        .unwrap();
    // 19 is deal -> line item: from a line item it names no type.
    let err = client
        .line_items()
        .create(
            &ObjectInput::default()
                .property(LINE_ITEM_KEY, "il_1")
                .associate(deal.id.as_str(), AssociationType::DEAL_TO_LINE_ITEM),
        )
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Validation { .. }), "{err:?}");
    assert!(fake.line_items().is_empty());
    // A line item and a contact have no default association at all.
    let line = client
        .line_items()
        .create(&ObjectInput::default().property(LINE_ITEM_KEY, "il_2"))
        .await
        .unwrap();
    let contact = client
        .contacts()
        .create(&ObjectInput::default().property("email", "ada@acme.com"))
        .await
        .unwrap();
    let err = client
        .associations()
        .associate_default(
            &ObjectType::LineItems,
            &line.id,
            &ObjectType::Contacts,
            &contact.id,
        )
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Validation { .. }), "{err:?}");
}

#[tokio::test]
async fn a_missing_companies_scope_refuses_company_calls_only() {
    let fake = FakeHubSpot::builder()
        .missing_scopes(scopes::COMPANY_SCOPES)
        .start()
        .await;
    let client = fake.client().unwrap();
    let err = client
        .properties(ObjectType::Companies)
        .create(&PropertyCreate::text(COMPANY_KEY, COMPANY_KEY, "stripe").unique(true))
        .await
        .unwrap_err();
    let Error::Forbidden { missing_scopes, .. } = &err else {
        panic!("expected 403, got {err:?}")
    };
    assert_eq!(missing_scopes, &[scopes::COMPANY_SCHEMAS_WRITE]);
    let err = client
        .companies()
        .search(&SearchRequest::new().filter_eq("domain", "acme.com"))
        .await
        .unwrap_err();
    let Error::Forbidden { missing_scopes, .. } = &err else {
        panic!("expected 403, got {err:?}")
    };
    assert_eq!(missing_scopes, &[scopes::COMPANIES_READ]);
    let err = client
        .companies()
        .create(&ObjectInput::default().property("domain", "acme.com"))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Forbidden { .. }), "{err:?}");

    // Contacts, deals, line items and products go on.
    let contact = client
        .contacts()
        .create(&ObjectInput::default().property("email", "ada@acme.com"))
        .await
        .unwrap();
    let deal = client
        .deals()
        .create(
            &ObjectInput::default()
                .property("dealname", "pi_1")
                .associate(contact.id.as_str(), AssociationType::DEAL_TO_CONTACT),
        )
        .await
        .unwrap();
    client
        .products()
        .create(&ObjectInput::default().property("name", "Pro"))
        .await
        .unwrap();
    client
        .line_items()
        .create(
            &ObjectInput::default()
                .property("name", "Pro")
                .associate(deal.id.as_str(), AssociationType::LINE_ITEM_TO_DEAL),
        )
        .await
        .unwrap();

    // The access-token check lists everything but the companies scopes.
    let info = client.access_token_info().await.unwrap();
    assert_eq!(
        info.missing(&scopes::COMPANY_SCOPES),
        scopes::COMPANY_SCOPES
    );
    assert!(info.missing(&scopes::LINE_ITEM_SCOPES).is_empty());
    assert!(info.missing(&scopes::PRODUCT_SCOPES).is_empty());
}
