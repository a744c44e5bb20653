//! The property registry: HubSpot's default properties, list, get and create.

use std::collections::BTreeMap;

use serde_json::{json, Value};

use super::replies::{error_body, Reply};
use super::state::{FakeState, PropertyDefinition};
use crate::PropertyCreate;

pub(super) fn default_registry() -> BTreeMap<String, BTreeMap<String, PropertyDefinition>> {
    let opts = |pairs: &[(&str, &str)]| -> Vec<crate::PropertyOption> {
        pairs
            .iter()
            .enumerate()
            .map(|(i, (label, value))| {
                let mut o = crate::PropertyOption::new(*label, *value);
                o.display_order = i32::try_from(i).ok();
                o
            })
            .collect()
    };
    let ci = "contactinformation";
    let mut phone = PropertyCreate::text("phone", "Phone Number", ci);
    phone.field_type = "phonenumber".into();
    let mut lifecycle = PropertyCreate::enumeration(
        "lifecyclestage",
        "Lifecycle Stage",
        ci,
        opts(&[
            ("Subscriber", "subscriber"),
            ("Lead", "lead"),
            ("Marketing Qualified Lead", "marketingqualifiedlead"),
            ("Sales Qualified Lead", "salesqualifiedlead"),
            ("Opportunity", "opportunity"),
            ("Customer", "customer"),
            ("Evangelist", "evangelist"),
            ("Other", "other"),
        ]),
    );
    lifecycle.field_type = "radio".into();
    let mut lead_status = PropertyCreate::enumeration(
        "hs_lead_status",
        "Lead Status",
        ci,
        opts(&[
            ("New", "NEW"),
            ("Open", "OPEN"),
            ("In Progress", "IN_PROGRESS"),
            ("Open Deal", "OPEN_DEAL"),
            ("Unqualified", "UNQUALIFIED"),
            ("Attempted to Contact", "ATTEMPTED_TO_CONTACT"),
            ("Connected", "CONNECTED"),
            ("Bad Timing", "BAD_TIMING"),
        ]),
    );
    lead_status.field_type = "radio".into();
    let contacts = vec![
        PropertyCreate::text("email", "Email", ci),
        PropertyCreate::text("firstname", "First Name", ci),
        PropertyCreate::text("lastname", "Last Name", ci),
        phone,
        PropertyCreate::text("company", "Company Name", ci),
        lifecycle,
        lead_status,
    ];
    let di = "dealinformation";
    let deals = vec![
        PropertyCreate::text("dealname", "Deal Name", di),
        PropertyCreate::enumeration(
            "dealstage",
            "Deal Stage",
            di,
            opts(&[
                ("Appointment Scheduled", "appointmentscheduled"),
                ("Qualified To Buy", "qualifiedtobuy"),
                ("Presentation Scheduled", "presentationscheduled"),
                ("Decision Maker Bought-In", "decisionmakerboughtin"),
                ("Contract Sent", "contractsent"),
                ("Closed Won", "closedwon"),
                ("Closed Lost", "closedlost"),
            ]),
        ),
        PropertyCreate::enumeration(
            "pipeline",
            "Pipeline",
            di,
            opts(&[("Sales Pipeline", "default")]),
        ),
        PropertyCreate::number("amount", "Amount", di),
        PropertyCreate::datetime("closedate", "Close Date", di),
        PropertyCreate::text("deal_currency_code", "Currency", di),
    ];
    let company_information = "companyinformation";
    let companies = vec![
        PropertyCreate::text("name", "Company name", company_information),
        PropertyCreate::text("domain", "Company Domain Name", company_information),
    ];
    let line_item_information = "lineiteminformation";
    let line_items = vec![
        PropertyCreate::text("name", "Name", line_item_information),
        PropertyCreate::number("quantity", "Quantity", line_item_information),
        PropertyCreate::number("price", "Unit price", line_item_information),
        PropertyCreate::number("amount", "Net price", line_item_information),
        PropertyCreate::text("hs_product_id", "Product ID", line_item_information),
        PropertyCreate::text(
            "hs_line_item_currency_code",
            "Currency",
            line_item_information,
        ),
        PropertyCreate::text("hs_recurring_billing_period", "Term", line_item_information),
        PropertyCreate::text(
            "recurringbillingfrequency",
            "Billing frequency",
            line_item_information,
        ),
    ];
    let product_information = "productinformation";
    let products = vec![
        PropertyCreate::text("name", "Name", product_information),
        PropertyCreate::number("price", "Unit price", product_information),
        PropertyCreate::text("description", "Description", product_information),
        // HubSpot's products guide creates a product with `hs_recurring_billing_period`
        // (https://developers.hubspot.com/docs/guides/api/crm/commerce/products).
        PropertyCreate::text("hs_recurring_billing_period", "Term", product_information),
        PropertyCreate::text(
            "recurringbillingfrequency",
            "Billing frequency",
            product_information,
        ),
    ];
    let mut out = BTreeMap::new();
    for (object_type, list) in [
        ("contacts", contacts),
        ("deals", deals),
        ("companies", companies),
        ("line_items", line_items),
        ("products", products),
    ] {
        let m: BTreeMap<String, PropertyDefinition> = list
            .into_iter()
            .map(|p| (p.name.clone(), PropertyDefinition { create: p }))
            .collect();
        out.insert(object_type.to_owned(), m);
    }
    out
}

pub(super) fn property_json(p: &PropertyCreate) -> Value {
    json!({
        "name": p.name,
        "label": p.label,
        "type": p.type_,
        "fieldType": p.field_type,
        "groupName": p.group_name,
        "description": p.description,
        "hasUniqueValue": p.has_unique_value,
        "options": p.options,
        "hubspotDefined": false,
        "formField": true,
        "archived": false,
    })
}

pub(super) fn list_properties(state: &FakeState, object_type: &str) -> Reply {
    let results: Vec<Value> = state
        .registry
        .get(object_type)
        .map(|r| r.values().map(|d| property_json(&d.create)).collect())
        .unwrap_or_default();
    Reply::json(200, json!({ "results": results }))
}

pub(super) fn get_property(state: &FakeState, object_type: &str, name: &str) -> Reply {
    match state.registry.get(object_type).and_then(|r| r.get(name)) {
        Some(d) => Reply::json(200, property_json(&d.create)),
        None => Reply::json(
            404,
            error_body(
                &format!("Unable to find property with name {name} on {object_type}"),
                "OBJECT_NOT_FOUND",
            ),
        ),
    }
}

pub(super) fn create_property(state: &mut FakeState, object_type: &str, body: &Value) -> Reply {
    let str_field = |k: &str| body.get(k).and_then(Value::as_str).unwrap_or("").to_owned();
    let (name, label, type_, field_type, group) = (
        str_field("name"),
        str_field("label"),
        str_field("type"),
        str_field("fieldType"),
        str_field("groupName"),
    );
    for (k, v) in [
        ("name", &name),
        ("label", &label),
        ("type", &type_),
        ("fieldType", &field_type),
        ("groupName", &group),
    ] {
        if v.is_empty() {
            return Reply::json(
                400,
                error_body(&format!("{k} can not be null or empty"), "VALIDATION_ERROR"),
            );
        }
    }
    if state
        .registry
        .get(object_type)
        .is_some_and(|r| r.contains_key(&name))
    {
        return Reply::json(
            409,
            error_body(
                &format!("Property named '{name}' already exists."),
                "OBJECT_ALREADY_EXISTS",
            ),
        );
    }
    let options: Vec<crate::PropertyOption> = body
        .get("options")
        .and_then(|o| serde_json::from_value(o.clone()).ok())
        .unwrap_or_default();
    let p = PropertyCreate {
        name: name.clone(),
        label,
        type_,
        field_type,
        group_name: group,
        description: str_field("description"),
        has_unique_value: body
            .get("hasUniqueValue")
            .and_then(Value::as_bool)
            .unwrap_or(false),
        options,
    };
    let json = property_json(&p);
    state
        .registry
        .entry(object_type.to_owned())
        .or_default()
        .insert(name, PropertyDefinition { create: p });
    Reply::json(201, json)
}

/// `GET /crm/property-validations/{version}/{objectTypeId}`: the properties with rules.
pub(super) fn list_property_validations(state: &FakeState, object_type_id: &str) -> Reply {
    let object_type = match object_type_id {
        "0-1" => "contacts",
        "0-2" => "companies",
        "0-3" => "deals",
        "0-7" => "products",
        "0-8" => "line_items",
        other => other,
    };
    let results: Vec<Value> = state
        .property_validations
        .get(object_type)
        .map(|by_property| {
            by_property
                .iter()
                .map(|(name, rules)| {
                    json!({ "propertyName": name, "propertyValidationRules": rules })
                })
                .collect()
        })
        .unwrap_or_default();
    Reply::json(200, json!({ "results": results }))
}
