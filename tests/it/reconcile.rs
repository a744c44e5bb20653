//! Reconcile end to end: a backfilled portal, then hand edits and deletions in the fake
//! HubSpot; reconcile reports each, repairs them, and reports in sync after.

use crate::backfill::{ledger_deals, listed_objects, stripe_with_history};
use crate::common;

use std::collections::BTreeMap;
use std::time::Duration;

use common::Pipeline;
use stripe2hubspot::history::stripe2hubspot_stripe::CreatedRange;
use stripe2hubspot::history::{Backfill, Reconcile, ReconcileProgress};
use stripe2hubspot::hubspot_crm::fake::FakeHubSpot;
use stripe2hubspot::hubspot_crm::UpsertInput;
use stripe2hubspot::map::{ContactKey, MappingConfig};

const DRAIN: Duration = Duration::from_secs(120);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reconcile_reports_hand_edits_deletions_and_strangers_then_repairs_them() {
    let (stripe, history) = stripe_with_history(230).await;
    let config = MappingConfig::default();
    let mut pipeline = Pipeline::new(FakeHubSpot::start().await).await;
    pipeline.start_engine(|b| b);
    Backfill::builder(
        stripe.client().unwrap(),
        pipeline.store.clone(),
        config.clone(),
        CreatedRange::all(),
    )
    .build()
    .unwrap()
    .run(|_| {})
    .await
    .unwrap();
    pipeline.drained(DRAIN).await;
    pipeline.shutdown().await;

    let expected = ledger_deals(&listed_objects(&history), &config);
    let reconcile = Reconcile::builder(pipeline.hubspot.client().unwrap()).build();
    let mut seen = Vec::new();
    let first = reconcile
        .check(&expected, |p: &ReconcileProgress| seen.push(*p))
        .await
        .unwrap();
    assert_eq!(seen.len(), 3, "230 payments in batches of 100");
    assert_eq!(seen.last().map(|p| (p.checked, p.total)), Some((230, 230)));
    assert!(
        first.is_in_sync(),
        "the ledger engine wrote what the ledger holds: {first}"
    );

    // Hand edits: an amount, a stage; a deletion; a deal nobody's ledger knows.
    let hubspot = &pipeline.hubspot;
    let deal_of = |payment: &str| {
        hubspot
            .deals()
            .into_iter()
            .find(|d| d.property("stripe_payment_id") == Some(payment))
            .unwrap()
    };
    let (edited_amount, edited_stage, deleted) = (
        expected[3].payment_id.clone(),
        expected[40].payment_id.clone(),
        expected[150].payment_id.clone(),
    );
    assert!(hubspot.edit_property("deals", &deal_of(&edited_amount).id, "amount", Some("1.23")));
    assert!(hubspot.edit_property(
        "deals",
        &deal_of(&edited_stage).id,
        "dealstage",
        Some("appointmentscheduled")
    ));
    let deleted_deal = deal_of(&deleted);
    assert!(hubspot.delete_object("deals", &deleted_deal.id));
    hubspot
        .client()
        .unwrap()
        .deals()
        .batch_upsert(&[UpsertInput::new(
            "stripe_payment_id",
            "pi_made_by_hand",
            BTreeMap::from([("dealname".to_owned(), "typed in by a person".to_owned())]),
        )])
        .await
        .unwrap();

    let drift = reconcile.check(&expected, |_| {}).await.unwrap();
    assert_eq!(drift.exit_code(), 1);
    assert_eq!(drift.in_sync, 227);
    let drifted: Vec<(&str, Vec<&str>)> = drift
        .drifted
        .iter()
        .map(|d| {
            (
                d.payment_id.as_str(),
                d.differences.iter().map(|x| x.property.as_str()).collect(),
            )
        })
        .collect();
    let mut want = vec![
        (edited_amount.as_str(), vec!["amount"]),
        (edited_stage.as_str(), vec!["dealstage"]),
    ];
    want.sort();
    assert_eq!(drifted, want);
    assert_eq!(drift.missing, std::slice::from_ref(&deleted));
    assert_eq!(drift.unknown, ["pi_made_by_hand"]);
    let shown = drift.to_string();
    assert!(
        shown.contains("2 drifted, 1 missing in HubSpot, 1 unknown to the ledger"),
        "{shown}"
    );
    assert!(shown.contains("amount: HubSpot has \"1.23\""), "{shown}");

    let repaired = reconcile.repair(&expected, &drift).await.unwrap();
    assert_eq!(
        (repaired.updated, repaired.created, repaired.associated),
        (2, 1, 1)
    );
    assert!(repaired.failed.is_empty(), "{repaired}");
    let after = reconcile.check(&expected, |_| {}).await.unwrap();
    assert!(after.is_in_sync(), "{after}");
    assert_eq!(after.exit_code(), 0);
    assert_eq!(after.in_sync, 230);
    assert_eq!(
        after.unknown,
        ["pi_made_by_hand"],
        "strangers are reported, never deleted"
    );
    // The re-created deal belongs to its payer again.
    let recreated = deal_of(&deleted);
    let payer = expected[150].contact.clone();
    let Some(ContactKey::Email(email)) = payer else {
        panic!("the generated payments have an email")
    };
    let contact = hubspot.contact_by_email(&email).unwrap();
    assert!(hubspot.are_associated("deals", &recreated.id, "contacts", &contact.id));
}
