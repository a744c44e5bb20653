//! The request shapes of company, line item and product calls against wiremock, on the
//! dated paths and the legacy ones.

use std::collections::BTreeMap;

use hubspot_crm::{
    ApiVersion, AssociationType, Client, ObjectInput, ObjectType, RetryPolicy, SearchRequest,
    UpsertInput,
};
use serde_json::json;
use wiremock::matchers::{body_json, body_partial_json, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

fn client(server: &MockServer, version: ApiVersion) -> Client {
    Client::builder("pat-na1-11111111-2222-3333-4444-555555555555")
        .base_url(server.uri())
        .retry_policy(RetryPolicy::none())
        .api_version(version)
        .build()
        .unwrap()
}

/// The objects API path of `object_type` at `version`.
fn objects_path(version: ApiVersion, object_type: &str, rest: &str) -> String {
    match version {
        ApiVersion::Legacy => format!("/crm/v3/objects/{object_type}{rest}"),
        dated => format!("/crm/objects/{dated}/{object_type}{rest}"),
    }
}

#[test]
fn line_items_and_products_have_their_names_and_type_ids() {
    assert_eq!(ObjectType::from("line_items"), ObjectType::LineItems);
    assert_eq!(ObjectType::from("0-8"), ObjectType::LineItems);
    assert_eq!(ObjectType::from("products"), ObjectType::Products);
    assert_eq!(ObjectType::from("0-7"), ObjectType::Products);
    assert_eq!(ObjectType::LineItems.as_str(), "line_items");
    assert_eq!(ObjectType::LineItems.type_id(), "0-8");
    assert_eq!(ObjectType::Products.type_id(), "0-7");
    assert_eq!(ObjectType::Companies.type_id(), "0-2");
}

#[tokio::test]
async fn line_item_batch_create_carries_its_deal_association_type_20() {
    for version in [
        ApiVersion::V2026_09,
        ApiVersion::V2026_03,
        ApiVersion::Legacy,
    ] {
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .and(path(objects_path(version, "line_items", "/batch/create")))
            .and(body_json(json!({"inputs": [{
                "properties": {"stripe_line_item_id": "il_1", "hs_product_id": "77"},
                "associations": [{
                    "to": {"id": "9001"},
                    "types": [{"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": 20}]
                }]
            }]})))
            .respond_with(ResponseTemplate::new(201).set_body_json(json!({
                "status": "COMPLETE",
                "results": [{"id": "5", "properties": {"stripe_line_item_id": "il_1"}}]
            })))
            .expect(1)
            .mount(&server)
            .await;
        let created = client(&server, version)
            .line_items()
            .batch_create(&[ObjectInput::default()
                .property("stripe_line_item_id", "il_1")
                .property("hs_product_id", "77")
                .associate("9001", AssociationType::LINE_ITEM_TO_DEAL)])
            .await
            .unwrap();
        assert_eq!(created.results[0].id, "5", "{version:?}");
    }
}

#[tokio::test]
async fn companies_and_products_upsert_by_their_unique_property_and_search_by_domain() {
    for version in [ApiVersion::V2026_09, ApiVersion::Legacy] {
        let server = MockServer::start().await;
        for (object_type, id_property, id) in [
            ("companies", "stripe_company_key", "acme.com"),
            ("products", "stripe_product_id", "prod_1"),
        ] {
            Mock::given(method("POST"))
                .and(path(objects_path(version, object_type, "/batch/upsert")))
                .and(body_json(json!({"inputs": [
                    {"id": id, "idProperty": id_property, "properties": {"name": "N"}}
                ]})))
                .respond_with(ResponseTemplate::new(200).set_body_json(json!({
                    "status": "COMPLETE",
                    "results": [{"id": "1", "properties": {"name": "N"}, "new": true}]
                })))
                .expect(1)
                .mount(&server)
                .await;
        }
        Mock::given(method("POST"))
            .and(path(objects_path(version, "companies", "/search")))
            .and(body_partial_json(json!({"filterGroups": [{"filters": [
                {"propertyName": "domain", "operator": "EQ", "value": "acme.com"}
            ]}]})))
            .respond_with(ResponseTemplate::new(200).set_body_json(json!({
                "total": 1, "results": [{"id": "1", "properties": {"domain": "acme.com"}}]
            })))
            .expect(1)
            .mount(&server)
            .await;
        let c = client(&server, version);
        let name: BTreeMap<String, String> = [("name".to_owned(), "N".to_owned())].into();
        for (objects, id_property, id) in [
            (c.companies(), "stripe_company_key", "acme.com"),
            (c.products(), "stripe_product_id", "prod_1"),
        ] {
            let res = objects
                .batch_upsert(&[UpsertInput::new(id_property, id, name.clone())])
                .await
                .unwrap();
            assert!(res.results[0].new, "{version:?}");
        }
        let found = c
            .companies()
            .search(&SearchRequest::new().filter_eq("domain", "acme.com"))
            .await
            .unwrap();
        assert_eq!(found.total, 1, "{version:?}");
    }
}

#[test]
fn company_and_line_item_association_types_serialize_as_hubspot_defined() {
    let cases = [
        (AssociationType::CONTACT_TO_PRIMARY_COMPANY, 1),
        (AssociationType::DEAL_TO_PRIMARY_COMPANY, 5),
        (AssociationType::DEAL_TO_LINE_ITEM, 19),
        (AssociationType::LINE_ITEM_TO_DEAL, 20),
        (AssociationType::CONTACT_TO_COMPANY, 279),
        (AssociationType::COMPANY_TO_CONTACT, 280),
        (AssociationType::DEAL_TO_COMPANY, 341),
        (AssociationType::COMPANY_TO_DEAL, 342),
    ];
    for (ty, id) in cases {
        assert_eq!(
            serde_json::to_value(ty).unwrap(),
            json!({"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": id})
        );
    }
}
