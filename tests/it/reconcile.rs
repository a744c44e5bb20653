//! Reconcile end to end: a backfilled portal, then hand edits and deletions in the fake
//! HubSpot; reconcile reports each, repairs them, and reports in sync after.

use crate::backfill::{ledger_deals, listed_objects, stripe_with_history};
use crate::common;

use std::collections::BTreeMap;
use std::time::Duration;

use common::Pipeline;
use stripe2hubspot::history::stripe2hubspot_stripe::CreatedRange;
use stripe2hubspot::history::{Backfill, ExpectedDeal, Reconcile, ReconcileProgress};
use stripe2hubspot::hubspot_crm::fake::FakeHubSpot;
use stripe2hubspot::hubspot_crm::UpsertInput;
use stripe2hubspot::map::{facts_from_event, ContactKey, FactsOutcome, MappingConfig};
use stripe2hubspot::SyncEngine;

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
    let reconcile = Reconcile::builder(common::retrying_client(&pipeline.hubspot)).build();
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

    // Repair hands the rows to the syncer; the engine writes them.
    let repaired = reconcile
        .repair(&pipeline.store, &expected, &drift)
        .await
        .unwrap();
    assert_eq!(
        (repaired.queued.len(), repaired.recreated.len()),
        (3, 1),
        "{repaired}"
    );
    assert!(repaired.moved_on.is_empty() && repaired.not_in_ledger.is_empty());
    let unwritten = with_engine(
        &pipeline,
        reconcile.wait_for_repairs(&pipeline.store, &repaired, Duration::from_millis(20)),
    )
    .await
    .unwrap();
    assert!(unwritten.is_empty(), "{unwritten:?}");
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

/// Runs an engine on the pipeline's store while `work` runs.
async fn with_engine<T>(pipeline: &Pipeline, work: impl std::future::Future<Output = T>) -> T {
    let engine = common::fast(SyncEngine::builder(
        pipeline.store.clone(),
        pipeline.hubspot.client().unwrap(),
        MappingConfig::default(),
    ))
    .build()
    .unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let running = tokio::spawn(async move {
        engine
            .run(async {
                let _ = stopped.await;
            })
            .await
    });
    let out = work.await;
    let _ = stop.send(());
    running.await.unwrap();
    out
}

/// A fixture event of the stripe-events crate.
fn fixture(name: &str) -> serde_json::Value {
    let path = format!(
        "{}/crates/stripe-events/tests/fixtures/{name}.json",
        env!("CARGO_MANIFEST_DIR")
    );
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

async fn deliver(pipeline: &Pipeline, event: &serde_json::Value) {
    assert_eq!(pipeline.send(event).await, 200);
    assert_eq!(pipeline.drained(DRAIN).await.dead, 0);
}

/// The deals the ledger in `store` expects now.
async fn expected_now(pipeline: &Pipeline) -> Vec<ExpectedDeal> {
    let rows = pipeline.store.state.ledger_rows(None, 1000).await.unwrap();
    rows.iter()
        .filter_map(|e| ExpectedDeal::from_entry(e, &MappingConfig::default()))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refund_synced_between_check_and_repair_stays_in_hubspot() {
    let mut pipeline = Pipeline::new(FakeHubSpot::start().await).await;
    pipeline.start_engine(|b| b.concurrency(1));
    deliver(&pipeline, &fixture("charge_succeeded")).await;
    let deal = pipeline.hubspot.deals().into_iter().next().unwrap();
    assert!(pipeline
        .hubspot
        .edit_property("deals", &deal.id, "dealname", Some("typed by hand")));

    let expected = expected_now(&pipeline).await;
    let reconcile = Reconcile::builder(common::retrying_client(&pipeline.hubspot)).build();
    let report = reconcile.check(&expected, |_| {}).await.unwrap();
    assert_eq!(report.drifted.len(), 1, "{report}");

    // The refund arrives and is synced while reconcile is between its check and its repair.
    deliver(&pipeline, &fixture("charge_refunded_partial")).await;
    let refunded = pipeline.hubspot.deals().into_iter().next().unwrap();
    assert_eq!(refunded.property("amount"), Some("100.00"));

    let repaired = reconcile
        .repair(&pipeline.store, &expected, &report)
        .await
        .unwrap();
    assert_eq!(repaired.moved_on.len(), 1, "the row moved on: {repaired}");
    assert!(repaired.queued.is_empty(), "{repaired}");
    pipeline.drained(DRAIN).await;
    let deals = pipeline.hubspot.deals();
    assert_eq!(deals.len(), 1);
    assert_eq!(
        deals[0].property("amount"),
        Some("100.00"),
        "the refund was undone"
    );
    assert_eq!(deals[0].property("stripe_amount_refunded"), Some("49.00"));
    pipeline.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_payment_whose_deal_move_is_pending_is_not_missing_and_gets_no_second_deal() {
    let mut pipeline = Pipeline::new(FakeHubSpot::start().await).await;
    pipeline.start_engine(|b| b.concurrency(1));
    // The charge alone first: its deal is keyed by the charge id.
    let mut alone = fixture("charge_succeeded");
    alone["data"]["object"]["payment_intent"] = serde_json::Value::Null;
    deliver(&pipeline, &alone).await;
    let deal = pipeline.hubspot.deals().into_iter().next().unwrap();
    assert!(deal
        .property("stripe_payment_id")
        .unwrap()
        .starts_with("ch_"));
    pipeline.shutdown().await;

    // The link to its PaymentIntent reaches the ledger; the syncer has not moved the deal yet.
    let linked = fixture("charge_succeeded");
    let event = stripe2hubspot::stripe_events::parse_event(linked.to_string().as_bytes()).unwrap();
    let FactsOutcome::Facts(facts) = facts_from_event(&event, &MappingConfig::default()).unwrap()
    else {
        panic!("facts expected")
    };
    pipeline
        .store
        .state
        .merge_facts(&[*facts], &MappingConfig::default())
        .await
        .unwrap();

    let expected = expected_now(&pipeline).await;
    assert!(expected[0].payment_id.starts_with("pi_"));
    let reconcile = Reconcile::builder(common::retrying_client(&pipeline.hubspot)).build();
    let report = reconcile.check(&expected, |_| {}).await.unwrap();

    assert_eq!(report.drifted.len(), 1, "{report}");
    let repaired = reconcile
        .repair(&pipeline.store, &expected, &report)
        .await
        .unwrap();
    assert_eq!(repaired.queued.len(), 1, "{repaired}");
    assert!(
        repaired.recreated.is_empty(),
        "the recorded deal is kept: {repaired}"
    );
    pipeline.start_engine(|b| b.concurrency(1));
    pipeline.drained(DRAIN).await;
    let deals = pipeline.hubspot.deals();
    assert_eq!(deals.len(), 1, "one deal for one payment: {deals:?}");
    assert!(
        report.missing.is_empty(),
        "a pending move is not missing: {report}"
    );
    assert_eq!(deals[0].id, deal.id);
    assert_eq!(
        deals[0].property("stripe_payment_id"),
        Some(expected[0].payment_id.as_str())
    );
    pipeline.shutdown().await;
}

/// The customer facts a backfill of `objects` gives (as its synthetic events read them).
fn customer_facts(objects: &[serde_json::Value]) -> Vec<stripe2hubspot::map::CustomerFacts> {
    use stripe2hubspot::history::synthetic_event;
    use stripe2hubspot::map::{customer_facts_from_event, CustomerOutcome};
    use stripe2hubspot::stripe_events::EventObject;
    objects
        .iter()
        .filter_map(|value| {
            let object = EventObject::from_value(value.clone());
            let event = synthetic_event(&object, false, crate::backfill::T0 + 1_000)?;
            match customer_facts_from_event(&event.event, &MappingConfig::default()).ok()? {
                CustomerOutcome::Facts(facts) => Some(*facts),
                CustomerOutcome::Skip(_) => None,
            }
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_drifted_stripe_mrr_is_reported_and_handed_to_the_syncer() {
    use stripe2hubspot::history::expected_contacts;
    use stripe2hubspot::queue::{customer_contact_key, ContactMark};
    let config = MappingConfig::default();
    let pipeline = Pipeline::new(FakeHubSpot::start().await).await;
    let store = &pipeline.store;
    store
        .state
        .merge_customer_facts(&customer_facts(&crate::backfill::billing()), &config)
        .await
        .unwrap();
    // Ann's contact, as the engine wrote it, then edited by hand: MRR 1.00.
    let hubspot = &pipeline.hubspot;
    let created = hubspot
        .client()
        .unwrap()
        .contacts()
        .batch_upsert(&[UpsertInput::new(
            "email",
            "ann@example.com",
            BTreeMap::new(),
        )])
        .await
        .unwrap();
    let contact_id = created.results[0].object.id.clone();
    let ann = store
        .state
        .customers(&["cus_ann".to_owned()])
        .await
        .unwrap()["cus_ann"]
        .clone();
    let written = stripe2hubspot::map::subscription_properties(&ann.row, &config);
    for (name, value) in written.iter() {
        assert!(hubspot.edit_property("contacts", &contact_id, name, Some(&value.value)));
    }
    store
        .state
        .mark_customers_written(&[("cus_ann".to_owned(), ann.version)])
        .await
        .unwrap();
    store
        .state
        .record_contact_marks(&[ContactMark {
            contact_key: customer_contact_key("cus_ann", &config),
            contact_id: contact_id.clone(),
            properties_hash: written.fingerprint(),
        }])
        .await
        .unwrap();

    let expected = expected_contacts(store, &config).await.unwrap();
    assert_eq!(
        expected
            .iter()
            .map(|e| e.customer_id.as_str())
            .collect::<Vec<_>>(),
        ["cus_ann"],
        "only customers whose contact HubSpot confirmed"
    );
    let reconcile = Reconcile::builder(common::retrying_client(hubspot)).build();
    let in_sync = reconcile.check_customers(&expected, |_| {}).await.unwrap();
    assert!(in_sync.is_in_sync() && in_sync.in_sync == 1, "{in_sync}");

    assert!(hubspot.edit_property("contacts", &contact_id, "stripe_mrr", Some("1.00")));
    let mut report = reconcile.check(&[], |_| {}).await.unwrap();
    report.customers = reconcile.check_customers(&expected, |_| {}).await.unwrap();
    assert_eq!(report.exit_code(), 1);
    let drift = &report.customers.drifted;
    assert_eq!(drift.len(), 1, "{report}");
    assert_eq!(
        (drift[0].customer_id.as_str(), drift[0].contact_id.as_str()),
        ("cus_ann", contact_id.as_str())
    );
    assert_eq!(
        drift[0]
            .differences
            .iter()
            .map(|d| d.property.as_str())
            .collect::<Vec<_>>(),
        ["stripe_mrr"]
    );
    let shown = report.to_string();
    assert!(
        shown.contains("1 customers checked: 0 in sync, 1 drifted")
            && shown.contains("stripe_mrr: HubSpot has \"1.00\", expected \"73.50\""),
        "{shown}"
    );

    let repaired = reconcile
        .repair_customers(store, &expected, &report.customers)
        .await
        .unwrap();
    assert_eq!(repaired.queued, ["cus_ann"], "{repaired}");
    let again = store
        .state
        .customers(&["cus_ann".to_owned()])
        .await
        .unwrap();
    assert!(
        again["cus_ann"].is_unwritten(),
        "the syncer writes it again"
    );
    let job = store
        .queue
        .reserve(10, Duration::from_secs(60))
        .await
        .unwrap()
        .pop()
        .unwrap();
    assert_eq!(job.event_type, "stripe2hubspot.customer_repair");
    let payload: serde_json::Value = serde_json::from_slice(&job.payload).unwrap();
    assert_eq!(payload["customer_id"], "cus_ann");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backfilled_subscriptions_reach_the_contacts_and_a_drifted_mrr_is_repaired_end_to_end() {
    use stripe2hubspot::history::expected_contacts;
    use stripe2hubspot::history::stripe2hubspot_stripe::fake::FakeStripe;
    let config = MappingConfig::default();
    let stripe = FakeStripe::start().await;
    stripe.insert_all(crate::backfill::billing()).unwrap();
    let mut pipeline = Pipeline::new(FakeHubSpot::start().await).await;
    pipeline.start_engine(|b| b);
    let backfill = Backfill::builder(
        stripe.client().unwrap(),
        pipeline.store.clone(),
        config.clone(),
        CreatedRange::all(),
    )
    .build()
    .unwrap();
    backfill.run(|_| {}).await.unwrap();
    assert_eq!(pipeline.drained(DRAIN).await.dead, 0);
    // Again: every customer and subscription is unchanged, so HubSpot hears nothing.
    pipeline.hubspot.clear_requests();
    let again = backfill.run(|_| {}).await.unwrap();
    assert_eq!((again.queued(), again.duplicates()), (0, 5), "{again}");
    pipeline.drained(DRAIN).await;
    assert!(
        pipeline
            .hubspot
            .requests()
            .iter()
            .all(|r| r.method == "GET"),
        "a second backfill writes nothing"
    );
    pipeline.shutdown().await;

    let hubspot = &pipeline.hubspot;
    let ann = hubspot.contact_by_email("ann@example.com").unwrap();
    assert_eq!(ann.property("stripe_mrr"), Some("73.50"));
    assert_eq!(ann.property("stripe_plan"), Some("Gold"));
    assert_eq!(ann.property("stripe_subscription_status"), Some("active"));
    let bob = hubspot.contact_by_email("bob@example.com").unwrap();
    assert_eq!(bob.property("stripe_subscription_status"), Some("canceled"));

    let reconcile = Reconcile::builder(common::retrying_client(hubspot)).build();
    let expected = expected_contacts(&pipeline.store, &config).await.unwrap();
    assert_eq!(expected.len(), 3, "Ann, Bob and Cat have contacts");
    let report = reconcile.check_customers(&expected, |_| {}).await.unwrap();
    assert!(report.is_in_sync(), "{report}");

    assert!(hubspot.edit_property("contacts", &ann.id, "stripe_mrr", Some("1.00")));
    let drift = reconcile.check_customers(&expected, |_| {}).await.unwrap();
    assert_eq!(
        drift
            .drifted
            .iter()
            .map(|d| d.customer_id.as_str())
            .collect::<Vec<_>>(),
        ["cus_ann"],
        "{drift}"
    );
    let repaired = reconcile
        .repair_customers(&pipeline.store, &expected, &drift)
        .await
        .unwrap();
    assert_eq!(repaired.queued, ["cus_ann"]);
    let unwritten = with_engine(
        &pipeline,
        reconcile.wait_for_customer_repairs(&pipeline.store, &repaired, Duration::from_millis(20)),
    )
    .await
    .unwrap();
    assert!(unwritten.is_empty(), "{unwritten:?}");
    assert_eq!(
        hubspot
            .contact_by_email("ann@example.com")
            .unwrap()
            .property("stripe_mrr"),
        Some("73.50"),
        "the repair rewrote the MRR"
    );
    let after = reconcile.check_customers(&expected, |_| {}).await.unwrap();
    assert!(after.is_in_sync() && after.in_sync == 3, "{after}");
}
