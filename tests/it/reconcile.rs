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
    // The company pass (companies are on by default) follows the queue: let it finish too.
    companies_settled(&pipeline).await;
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

/// Waits until no company is left for the engine's company pass.
async fn companies_settled(pipeline: &Pipeline) {
    assert_eq!(pipeline.drained(DRAIN).await.dead, 0);
    let started = std::time::Instant::now();
    while !pipeline
        .store
        .state
        .dirty_companies(100)
        .await
        .unwrap()
        .is_empty()
    {
        assert!(started.elapsed() < DRAIN, "companies still dirty");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_company_edited_by_hand_is_repaired_and_a_deleted_one_made_again() {
    company_drift_is_reported_and_repaired(Pipeline::new(FakeHubSpot::start().await).await).await;
}

/// [`a_company_edited_by_hand_is_repaired_and_a_deleted_one_made_again`] on PostgreSQL.
/// Skipped without `STRIPE2HUBSPOT_TEST_POSTGRES_URL`.
#[cfg(feature = "postgres")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_postgres_a_company_edited_by_hand_is_repaired_and_a_deleted_one_made_again() {
    use stripe2hubspot::queue::{PostgresOptions, PostgresQueue, Store};
    let Ok(url) = std::env::var("STRIPE2HUBSPOT_TEST_POSTGRES_URL") else {
        assert!(std::env::var_os("STRIPE2HUBSPOT_REQUIRE_POSTGRES").is_none());
        return;
    };
    let options = PostgresOptions {
        schema: Some(format!(
            "s2h_test_{}_reconcile_companies",
            std::process::id()
        )),
        ..PostgresOptions::default()
    };
    let store = Store::new(PostgresQueue::connect_with(&url, options).await.unwrap());
    let dir = tempfile::tempdir().unwrap();
    let pipeline = Pipeline::on_store(FakeHubSpot::start().await, store, dir).await;
    company_drift_is_reported_and_repaired(pipeline).await;
}

/// Three payers at two companies; a person edits one company's rollup and deletes the other:
/// reconcile reports both, repair hands them to the engine, which writes them again.
async fn company_drift_is_reported_and_repaired(mut pipeline: Pipeline) {
    use stripe2hubspot::history::expected_companies;
    use stripe2hubspot::testkit::Payment;
    const T0: i64 = 1_700_000_000;
    let config = MappingConfig::default();
    pipeline.start_engine(|b| b.concurrency(1));
    for (n, email, amount) in [
        (1, "ann@acme.com", 1_000),
        (2, "bob@acme.com", 2_000),
        (3, "cat@globex.com", 500),
    ] {
        let event = Payment::numbered(n, email, amount, "usd", T0 + n as i64).charge_succeeded();
        assert_eq!(pipeline.send(&event).await, 200);
    }
    companies_settled(&pipeline).await;
    let hubspot = &pipeline.hubspot;
    let company_of = |key: &str| {
        hubspot
            .companies()
            .into_iter()
            .find(|c| c.property("stripe_company_key") == Some(key))
    };
    let acme = company_of("acme.com").expect("the engine wrote acme.com");
    assert_eq!(acme.property("stripe_lifetime_value"), Some("30.00"));

    let expected = expected_companies(&pipeline.store, &config).await.unwrap();
    let shape: Vec<(&str, usize)> = expected
        .iter()
        .map(|c| (c.key.value(), c.members.len()))
        .collect();
    assert_eq!(shape, [("acme.com", 2), ("globex.com", 1)]);
    let reconcile = Reconcile::builder(common::retrying_client(hubspot)).build();
    let report = reconcile.check_companies(&expected, |_| {}).await.unwrap();
    assert!(report.is_in_sync() && report.in_sync == 2, "{report}");
    assert_eq!(report.requests, 1, "one batch read for both");

    // A person lowers acme's lifetime value, and deletes globex.
    assert!(hubspot.edit_property("companies", &acme.id, "stripe_lifetime_value", Some("1.00")));
    let globex = company_of("globex.com").unwrap();
    assert!(hubspot.delete_object("companies", &globex.id));

    let mut report = reconcile.check(&[], |_| {}).await.unwrap();
    report.companies = reconcile.check_companies(&expected, |_| {}).await.unwrap();
    assert_eq!(report.exit_code(), 1);
    let companies = &report.companies;
    assert_eq!(companies.drifted.len(), 1, "{report}");
    assert_eq!(
        (
            companies.drifted[0].key.as_str(),
            companies.drifted[0].company_id.as_str()
        ),
        ("acme.com", acme.id.as_str())
    );
    assert_eq!(
        companies.drifted[0]
            .differences
            .iter()
            .map(|d| d.property.as_str())
            .collect::<Vec<_>>(),
        ["stripe_lifetime_value"]
    );
    assert_eq!(companies.missing, ["globex.com"]);
    let shown = report.to_string();
    assert!(
        shown.contains("2 companies checked: 0 in sync, 1 drifted, 1 missing in HubSpot")
            && shown.contains("stripe_lifetime_value: HubSpot has \"1.00\", expected \"30.00\"")
            && shown.contains("missing company globex.com"),
        "{shown}"
    );

    // Repair hands both to the engine's company pass, which writes them from the ledger.
    let repaired = reconcile
        .repair_companies(&pipeline.store, &expected, companies)
        .await
        .unwrap();
    assert_eq!(repaired.queued, ["acme.com", "globex.com"], "{repaired}");
    assert_eq!(repaired.recreated, ["globex.com"]);
    let waiting = reconcile
        .wait_for_company_repairs(&pipeline.store, &repaired, Duration::from_millis(20), DRAIN)
        .await
        .unwrap();
    assert!(waiting.is_empty(), "{waiting:?}");
    let after = reconcile.check_companies(&expected, |_| {}).await.unwrap();
    assert!(after.is_in_sync() && after.in_sync == 2, "{after}");
    assert_eq!(
        company_of("acme.com")
            .unwrap()
            .property("stripe_lifetime_value"),
        Some("30.00"),
        "the repair rewrote the rollup"
    );
    let made_again = company_of("globex.com").expect("globex made again");
    assert_ne!(made_again.id, globex.id);
    let cat = hubspot.contact_by_email("cat@globex.com").unwrap();
    assert!(
        hubspot.are_associated("contacts", &cat.id, "companies", &made_again.id),
        "the member is linked to the company made again"
    );
    assert_eq!(
        hubspot.companies().len(),
        2,
        "no duplicate of acme.com: {:?}",
        hubspot.companies()
    );
    pipeline.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn line_items_missing_in_hubspot_are_reported_and_noted_for_a_rewrite() {
    use stripe2hubspot::history::expected_line_items;
    use stripe2hubspot::hubspot_crm::PropertyCreate;
    let mut pipeline = Pipeline::new(FakeHubSpot::start().await).await;
    pipeline.start_engine(|b| b.concurrency(1));
    let mut invoice = fixture("invoice_paid");
    // An email, so the payment does not wait for its customer.
    invoice["data"]["object"]["customer_email"] = "ann@example.com".into();
    invoice["data"]["object"]["lines"] = serde_json::json!({
    "object": "list", "has_more": false, "url": "/v1/invoices/in_1/lines",
    "data": [
        {"id": "il_pro", "object": "line_item", "amount": 3000, "currency": "usd",
         "quantity": 3, "description": "3 x Pro",
         "price": {"id": "price_pro", "object": "price", "currency": "usd",
            "unit_amount": 1000, "product": "prod_pro"}},
        {"id": "il_setup", "object": "line_item", "amount": 500, "currency": "usd",
         "quantity": 1, "description": "Setup",
         "price": {"id": "price_setup", "object": "price", "currency": "usd",
            "unit_amount": 500, "product": "prod_setup"}}
    ]});
    deliver(&pipeline, &invoice).await;
    pipeline.shutdown().await;
    let store = &pipeline.store;

    let off = MappingConfig::default();
    assert!(
        expected_line_items(store, &off).await.unwrap().is_empty(),
        "line items off: nothing to check"
    );
    let on = MappingConfig {
        line_items: true,
        ..MappingConfig::default()
    };
    let expected = expected_line_items(store, &on).await.unwrap();
    assert_eq!(expected.len(), 1);
    assert_eq!(expected[0].line_ids, ["il_pro", "il_setup"]);
    let deal = pipeline.hubspot.deals().into_iter().next().unwrap();
    assert_eq!(expected[0].deal_id, deal.id);

    // Before the line-item pass ever ran, HubSpot has no stripe_line_item_id: the line
    // items are reported unchecked, and that is no drift.
    let hubspot = &pipeline.hubspot;
    let reconcile = Reconcile::builder(common::retrying_client(hubspot)).build();
    let mut report = reconcile.check(&[], |_| {}).await.unwrap();
    report.line_items = reconcile.check_line_items(&expected, |_| {}).await.unwrap();
    assert!(report.line_items.not_checked.is_some(), "{report}");
    assert_eq!(report.exit_code(), 0, "{report}");
    assert!(
        report.to_string().contains("line items not checked"),
        "{report}"
    );

    // HubSpot holds one of the two (as bootstrap and the line-item pass would make it).
    hubspot.set_property(
        "line_items",
        PropertyCreate::text(
            "stripe_line_item_id",
            "Stripe line item ID",
            "lineiteminformation",
        )
        .unique(true),
    );
    hubspot.create_object(
        "line_items",
        &[("stripe_line_item_id", "il_pro"), ("name", "Pro")],
    );
    let mut report = reconcile.check(&[], |_| {}).await.unwrap();
    report.line_items = reconcile.check_line_items(&expected, |_| {}).await.unwrap();
    assert_eq!(report.exit_code(), 1);
    assert_eq!(report.line_items.missing.len(), 1, "{report}");
    assert_eq!(report.line_items.missing[0].line_ids, ["il_setup"]);
    assert_eq!(report.line_items.missing[0].deal_id, deal.id);
    let shown = report.to_string();
    assert!(
        shown.contains("2 line items of 1 payments checked: 0 payments in sync, 1 line items of 1 payments missing")
            && shown.contains("il_setup"),
        "{shown}"
    );

    // Repair: the payment's line items become pending, at a generation above anything
    // noted before, and the stored fingerprint is the row's own again.
    let before = store.state.pending_line_items(100).await.unwrap();
    let repaired = reconcile
        .repair_line_items(store, &expected, &report.line_items)
        .await
        .unwrap();
    assert_eq!(repaired.queued, [expected[0].payment_id.clone()]);
    let pending = store.state.pending_line_items(100).await.unwrap();
    assert_eq!(pending.len(), 1, "{pending:?}");
    assert_eq!(pending[0].payment_key, expected[0].payment_id);
    assert_eq!(pending[0].deal_id, deal.id);
    let raised = pending[0].generation;
    assert!(
        before.iter().all(|w| w.generation < raised),
        "{before:?} -> {pending:?}"
    );
    store
        .state
        .mark_line_items_written(&[(expected[0].payment_id.clone(), raised)])
        .await
        .unwrap();
    // The engine noting the row's lines again (a redelivery) finds nothing new.
    store
        .state
        .note_line_items(&[(
            expected[0].payment_id.clone(),
            deal.id.clone(),
            expected[0].fingerprint.clone(),
        )])
        .await
        .unwrap();
    assert!(store
        .state
        .pending_line_items(100)
        .await
        .unwrap()
        .is_empty());
}
