//! Companies end to end (issue 22): real HTTP against the fake HubSpot, the real engine and
//! its store. Two payers at one domain make one company carrying both contacts, both deals
//! and the summed rollups; a company a user made with that domain is adopted, not
//! duplicated; a free-mail payer makes none; a missing company scope pauses companies alone
//! and they resume once it is granted; a refund lowers the company's lifetime value.
//!
//! Each test prints the HubSpot requests of its batches so the README can quote them.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use serde_json::Value;
use stripe2hubspot::alert::AlertKind;
use stripe2hubspot::hubspot_crm::fake::{FakeHubSpot, FakeObject};
use stripe2hubspot::queue::{SqliteQueue, Store};
use stripe2hubspot::testkit::Payment;

use crate::common::Pipeline;

const DRAIN: Duration = Duration::from_secs(60);
/// 2023-11-14T22:13:20Z
const T0: i64 = 1_700_000_000;

/// A pipeline on a SQLite file (the engine not started yet).
async fn pipeline(hubspot: FakeHubSpot) -> Pipeline {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::new(
        SqliteQueue::open(dir.path().join("queue.db"))
            .await
            .unwrap(),
    );
    Pipeline::on_store(hubspot, store, dir).await
}

fn start(pipeline: &mut Pipeline) {
    pipeline.start_engine(|b| b.concurrency(1));
}

/// Waits until the queue is drained and no company is left to write.
async fn settled(pipeline: &Pipeline) {
    let stats = pipeline.drained(DRAIN).await;
    assert_eq!(stats.dead, 0, "nothing dead-lettered: {stats:?}");
    let started = Instant::now();
    loop {
        let dirty = pipeline.store.state.dirty_companies(100).await.unwrap();
        if dirty.is_empty() {
            return;
        }
        assert!(
            started.elapsed() < DRAIN,
            "companies still dirty after {DRAIN:?}: {dirty:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn send_all(pipeline: &Pipeline, events: &[Value]) {
    for event in events {
        assert_eq!(pipeline.send(event).await, 200, "{}", event["id"]);
    }
}

fn payment(n: u64, email: &str, amount: i64, created: i64) -> Payment {
    Payment::numbered(n, email, amount, "usd", created)
}

/// The `charge.refunded` event of `payment`, `refunded` minor units refunded in all.
fn refunded(payment: &Payment, event_id: &str, refunded: i64, created: i64) -> Value {
    let mut event = payment.charge_succeeded();
    event["id"] = event_id.into();
    event["type"] = "charge.refunded".into();
    event["created"] = created.into();
    event["data"]["object"]["amount_refunded"] = refunded.into();
    event["data"]["object"]["refunded"] = (refunded >= payment.amount).into();
    event
}

fn alerts_of(pipeline: &Pipeline, kind: AlertKind) -> Vec<stripe2hubspot::alert::Alert> {
    pipeline
        .alerts
        .alerts()
        .into_iter()
        .filter(|a| a.kind == kind)
        .collect()
}

fn prop<'a>(object: &'a FakeObject, name: &str) -> &'a str {
    object.property(name).unwrap_or("")
}

fn the_company(hubspot: &FakeHubSpot) -> FakeObject {
    let companies = hubspot.companies();
    assert_eq!(companies.len(), 1, "one company: {companies:?}");
    companies.into_iter().next().unwrap()
}

/// The company requests by endpoint, and the total.
fn company_requests(hubspot: &FakeHubSpot) -> (BTreeMap<String, usize>, usize) {
    let counts = hubspot.request_counts();
    let total = counts.values().sum();
    (counts, total)
}

fn print_requests(label: &str, hubspot: &FakeHubSpot) -> BTreeMap<String, usize> {
    let (counts, total) = company_requests(hubspot);
    eprintln!("HubSpot requests, {label}: {total}");
    for (endpoint, n) in &counts {
        eprintln!("  {n:>3}  {endpoint}");
    }
    counts
}

fn count(counts: &BTreeMap<String, usize>, needle: &str) -> usize {
    counts
        .iter()
        .filter(|(endpoint, _)| endpoint.contains(needle))
        .map(|(_, n)| n)
        .sum()
}

#[tokio::test]
async fn two_payers_at_one_company_make_one_company_with_both_contacts_deals_and_summed_rollups() {
    let mut pipeline = pipeline(FakeHubSpot::start().await).await;
    let ann = payment(1, "ann@acme.com", 5_000, T0);
    let bob = payment(2, "Bob@ACME.com", 2_500, T0 + 86_400);
    // Both stored before the engine starts: one batch.
    send_all(&pipeline, &[ann.charge_succeeded(), bob.charge_succeeded()]).await;
    start(&mut pipeline);
    settled(&pipeline).await;
    let hubspot = &pipeline.hubspot;
    let counts = print_requests(
        "one batch of 2 payments at 1 new company (with bootstrap)",
        hubspot,
    );

    let company = the_company(hubspot);
    assert_eq!(prop(&company, "stripe_company_key"), "acme.com");
    assert_eq!(prop(&company, "domain"), "acme.com");
    assert_eq!(prop(&company, "name"), "acme.com");
    assert_eq!(prop(&company, "stripe_payment_count"), "2");
    assert_eq!(prop(&company, "stripe_lifetime_value"), "75.00");
    assert_eq!(prop(&company, "stripe_lifetime_value_currency"), "USD");
    let ann_contact = hubspot.contact_by_email("ann@acme.com").unwrap();
    let bob_contact = hubspot.contact_by_email("bob@acme.com").unwrap();
    assert_eq!(
        prop(&company, "stripe_first_payment_date"),
        prop(&ann_contact, "stripe_first_payment_date")
    );
    assert_eq!(
        prop(&company, "stripe_last_payment_date"),
        prop(&bob_contact, "stripe_last_payment_date")
    );
    assert_ne!(prop(&company, "stripe_first_payment_date"), "");
    for contact in [&ann_contact, &bob_contact] {
        assert!(hubspot.are_associated("contacts", &contact.id, "companies", &company.id));
    }
    let deals = hubspot.deals();
    assert_eq!(deals.len(), 2);
    for deal in &deals {
        assert!(hubspot.are_associated("deals", &deal.id, "companies", &company.id));
    }
    assert_eq!(count(&counts, "companies/batch/upsert"), 1, "{counts:?}");
    assert_eq!(
        count(&counts, "/search"),
        1,
        "one domain lookup: {counts:?}"
    );
    assert_eq!(
        count(&counts, "contacts/companies/batch/associate"),
        1,
        "{counts:?}"
    );
    assert_eq!(
        count(&counts, "deals/companies/batch/associate"),
        1,
        "{counts:?}"
    );

    // A second batch for the same company: no second company, no second lookup.
    hubspot.clear_requests();
    let carol = payment(3, "carol@acme.com", 1_000, T0 + 2 * 86_400);
    send_all(&pipeline, &[carol.charge_succeeded()]).await;
    settled(&pipeline).await;
    let counts = print_requests("a later batch of 1 payment at a known company", hubspot);
    let company = the_company(hubspot);
    assert_eq!(prop(&company, "stripe_payment_count"), "3");
    assert_eq!(prop(&company, "stripe_lifetime_value"), "85.00");
    let carol_contact = hubspot.contact_by_email("carol@acme.com").unwrap();
    assert!(hubspot.are_associated("contacts", &carol_contact.id, "companies", &company.id));
    assert_eq!(count(&counts, "/search"), 0, "{counts:?}");
    assert_eq!(count(&counts, "companies/batch/upsert"), 1, "{counts:?}");
    pipeline.shutdown().await;
}

#[tokio::test]
async fn a_company_that_exists_with_the_domain_is_adopted_not_duplicated() {
    let hubspot = FakeHubSpot::start().await;
    // Made by a user (no request): HubSpot's own company for the domain.
    let made = hubspot.create_company("ACME Corporation", "acme.com");
    let mut pipeline = pipeline(hubspot).await;
    send_all(
        &pipeline,
        &[payment(1, "ann@acme.com", 5_000, T0).charge_succeeded()],
    )
    .await;
    start(&mut pipeline);
    settled(&pipeline).await;
    let hubspot = &pipeline.hubspot;
    let counts = print_requests(
        "one batch adopting an existing company (with bootstrap)",
        hubspot,
    );
    let company = the_company(hubspot);
    assert_eq!(company.id, made, "the existing company was kept");
    assert_eq!(prop(&company, "stripe_company_key"), "acme.com");
    assert_eq!(
        prop(&company, "name"),
        "ACME Corporation",
        "its name untouched"
    );
    assert_eq!(prop(&company, "stripe_payment_count"), "1");
    assert_eq!(prop(&company, "stripe_lifetime_value"), "50.00");
    let contact = hubspot.contact_by_email("ann@acme.com").unwrap();
    assert!(hubspot.are_associated("contacts", &contact.id, "companies", &company.id));
    assert_eq!(count(&counts, "companies/batch/update"), 1, "{counts:?}");
    assert_eq!(count(&counts, "companies/batch/upsert"), 0, "{counts:?}");

    // Later writes keep the name too.
    send_all(
        &pipeline,
        &[payment(2, "bob@acme.com", 1_000, T0 + 60).charge_succeeded()],
    )
    .await;
    settled(&pipeline).await;
    let company = the_company(hubspot);
    assert_eq!(company.id, made);
    assert_eq!(prop(&company, "name"), "ACME Corporation");
    assert_eq!(prop(&company, "stripe_payment_count"), "2");
    pipeline.shutdown().await;
}

#[tokio::test]
async fn a_free_mail_payer_gets_no_company() {
    let mut pipeline = pipeline(FakeHubSpot::start().await).await;
    send_all(
        &pipeline,
        &[payment(1, "ann.smith@gmail.com", 5_000, T0).charge_succeeded()],
    )
    .await;
    start(&mut pipeline);
    settled(&pipeline).await;
    // The pass runs after the batch and while idle: give it a few rounds.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let hubspot = &pipeline.hubspot;
    let counts = print_requests("one batch of 1 free-mail payment (with bootstrap)", hubspot);
    assert!(hubspot.companies().is_empty());
    assert_eq!(hubspot.deals().len(), 1);
    assert!(hubspot.contact_by_email("ann.smith@gmail.com").is_some());
    assert_eq!(count(&counts, "companies/batch"), 0, "{counts:?}");
    assert_eq!(count(&counts, "/search"), 0, "{counts:?}");
    pipeline.shutdown().await;
}

#[tokio::test]
async fn a_missing_company_scope_pauses_companies_alone_until_it_is_granted() {
    let hubspot = FakeHubSpot::builder()
        .missing_scopes(["crm.objects.companies.write"])
        .start()
        .await;
    let mut pipeline = pipeline(hubspot).await;
    send_all(
        &pipeline,
        &[payment(1, "ann@acme.com", 5_000, T0).charge_succeeded()],
    )
    .await;
    start(&mut pipeline);
    let stats = pipeline.drained(DRAIN).await;
    assert_eq!(stats.dead, 0);
    // Deals and contacts go on.
    assert_eq!(pipeline.hubspot.deals().len(), 1);
    assert!(pipeline.hubspot.contact_by_email("ann@acme.com").is_some());
    let started = Instant::now();
    while alerts_of(&pipeline, AlertKind::FeaturePaused).is_empty() {
        assert!(started.elapsed() < DRAIN, "no FeaturePaused alert");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // A few probes later: still one alert, the sync itself not paused, no company.
    tokio::time::sleep(Duration::from_millis(1_200)).await;
    let paused = alerts_of(&pipeline, AlertKind::FeaturePaused);
    assert_eq!(paused.len(), 1, "{paused:?}");
    assert!(
        paused[0].message.contains("crm.objects.companies.write"),
        "{}",
        paused[0].message
    );
    assert!(paused[0].message.contains("payments and contacts go on"));
    assert_eq!(pipeline.engine.as_ref().unwrap().paused(), None);
    assert!(pipeline.hubspot.companies().is_empty());
    // A payment in the meantime is written.
    send_all(
        &pipeline,
        &[payment(2, "bob@acme.com", 2_500, T0 + 60).charge_succeeded()],
    )
    .await;
    pipeline.drained(DRAIN).await;
    assert_eq!(pipeline.hubspot.deals().len(), 2);

    pipeline.hubspot.set_missing_scopes(Vec::<String>::new());
    settled(&pipeline).await;
    let company = the_company(&pipeline.hubspot);
    assert_eq!(prop(&company, "stripe_payment_count"), "2");
    for deal in pipeline.hubspot.deals() {
        assert!(pipeline
            .hubspot
            .are_associated("deals", &deal.id, "companies", &company.id));
    }
    let started = Instant::now();
    while alerts_of(&pipeline, AlertKind::FeatureResumed).is_empty() {
        assert!(started.elapsed() < DRAIN, "no FeatureResumed alert");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(alerts_of(&pipeline, AlertKind::FeaturePaused).len(), 1);
    pipeline.shutdown().await;
}

#[tokio::test]
async fn a_refund_lowers_the_company_lifetime_value() {
    let mut pipeline = pipeline(FakeHubSpot::start().await).await;
    let ann = payment(1, "ann@acme.com", 5_000, T0);
    let bob = payment(2, "bob@acme.com", 2_500, T0 + 60);
    send_all(&pipeline, &[ann.charge_succeeded(), bob.charge_succeeded()]).await;
    start(&mut pipeline);
    settled(&pipeline).await;
    assert_eq!(
        prop(&the_company(&pipeline.hubspot), "stripe_lifetime_value"),
        "75.00"
    );
    pipeline.hubspot.clear_requests();
    send_all(
        &pipeline,
        &[refunded(&ann, "evt_refund_1", 2_000, T0 + 120)],
    )
    .await;
    settled(&pipeline).await;
    print_requests("a batch of 1 refund at a known company", &pipeline.hubspot);
    let company = the_company(&pipeline.hubspot);
    assert_eq!(prop(&company, "stripe_lifetime_value"), "55.00");
    pipeline.shutdown().await;
}

#[tokio::test]
async fn a_company_deleted_in_hubspot_is_made_again_with_every_association() {
    let mut pipeline = pipeline(FakeHubSpot::start().await).await;
    send_all(
        &pipeline,
        &[payment(1, "ann@acme.com", 5_000, T0).charge_succeeded()],
    )
    .await;
    start(&mut pipeline);
    settled(&pipeline).await;
    let first = the_company(&pipeline.hubspot);
    assert!(pipeline.hubspot.delete_object("companies", &first.id));
    send_all(
        &pipeline,
        &[payment(2, "bob@acme.com", 2_500, T0 + 60).charge_succeeded()],
    )
    .await;
    settled(&pipeline).await;
    let hubspot = &pipeline.hubspot;
    let company = the_company(hubspot);
    assert_ne!(company.id, first.id);
    assert_eq!(prop(&company, "stripe_payment_count"), "2");
    for email in ["ann@acme.com", "bob@acme.com"] {
        let contact = hubspot.contact_by_email(email).unwrap();
        assert!(
            hubspot.are_associated("contacts", &contact.id, "companies", &company.id),
            "{email} linked to the new company"
        );
    }
    for deal in hubspot.deals() {
        assert!(hubspot.are_associated("deals", &deal.id, "companies", &company.id));
    }
    pipeline.shutdown().await;
}

/// A `customer.*` event about customer `id` with `email`.
fn customer_event(event_id: &str, type_: &str, created: i64, id: &str, email: &str) -> Value {
    serde_json::json!({
        "id": event_id, "object": "event", "type": type_, "created": created,
        "api_version": "2025-09-30.clover", "livemode": false,
        "data": {"object": {
            "id": id, "object": "customer", "created": T0 - 86_400, "email": email,
            "name": "Ada Lovelace", "currency": "usd", "livemode": false, "metadata": {}
        }}
    })
}

#[tokio::test]
async fn a_customer_whose_email_moves_to_another_domain_moves_to_that_company() {
    let mut pipeline = pipeline(FakeHubSpot::start().await).await;
    start(&mut pipeline);
    let mut ada = payment(1, "ada@acme.com", 5_000, T0);
    ada.customer = Some("cus_Ada000000001".into());
    let bob = payment(2, "bob@acme.com", 2_500, T0 + 10);
    send_all(
        &pipeline,
        &[
            customer_event(
                "evt_c1",
                "customer.created",
                T0 - 10,
                "cus_Ada000000001",
                "ada@acme.com",
            ),
            ada.charge_succeeded(),
            bob.charge_succeeded(),
        ],
    )
    .await;
    settled(&pipeline).await;
    let acme = the_company(&pipeline.hubspot);
    assert_eq!(prop(&acme, "stripe_payment_count"), "2");
    assert_eq!(prop(&acme, "stripe_lifetime_value"), "75.00");

    send_all(
        &pipeline,
        &[customer_event(
            "evt_c2",
            "customer.updated",
            T0 + 100,
            "cus_Ada000000001",
            "ada@globex.com",
        )],
    )
    .await;
    settled(&pipeline).await;
    let hubspot = &pipeline.hubspot;
    let companies = hubspot.companies();
    assert_eq!(companies.len(), 2, "{companies:?}");
    let by_key = |key: &str| {
        companies
            .iter()
            .find(|c| prop(c, "stripe_company_key") == key)
            .cloned()
            .unwrap()
    };
    let acme = by_key("acme.com");
    let globex = by_key("globex.com");
    assert_eq!(prop(&acme, "stripe_payment_count"), "1", "{acme:?}");
    assert_eq!(prop(&acme, "stripe_lifetime_value"), "25.00");
    assert_eq!(prop(&globex, "stripe_payment_count"), "1", "{globex:?}");
    assert_eq!(prop(&globex, "stripe_lifetime_value"), "50.00");
    let ada_contact = hubspot.contact_by_email("ada@globex.com").unwrap();
    assert!(hubspot.are_associated("contacts", &ada_contact.id, "companies", &globex.id));
    pipeline.shutdown().await;
}

/// Two payers at one company, then a second batch, on PostgreSQL. Skipped without
/// `STRIPE2HUBSPOT_TEST_POSTGRES_URL`.
#[cfg(feature = "postgres")]
#[tokio::test]
async fn on_postgres_two_payers_make_one_company_and_a_second_batch_no_other() {
    use stripe2hubspot::queue::{PostgresOptions, PostgresQueue};

    let Ok(url) = std::env::var("STRIPE2HUBSPOT_TEST_POSTGRES_URL") else {
        assert!(std::env::var_os("STRIPE2HUBSPOT_REQUIRE_POSTGRES").is_none());
        return;
    };
    let options = PostgresOptions {
        schema: Some(format!("s2h_test_{}_companies", std::process::id())),
        ..PostgresOptions::default()
    };
    let store = Store::new(PostgresQueue::connect_with(&url, options).await.unwrap());
    let dir = tempfile::tempdir().unwrap();
    let mut pipeline = Pipeline::on_store(FakeHubSpot::start().await, store, dir).await;
    send_all(
        &pipeline,
        &[
            payment(1, "ann@acme.com", 5_000, T0).charge_succeeded(),
            payment(2, "bob@acme.com", 2_500, T0 + 60).charge_succeeded(),
        ],
    )
    .await;
    start(&mut pipeline);
    settled(&pipeline).await;
    let company = the_company(&pipeline.hubspot);
    assert_eq!(prop(&company, "stripe_payment_count"), "2");
    assert_eq!(prop(&company, "stripe_lifetime_value"), "75.00");
    send_all(
        &pipeline,
        &[payment(3, "carol@acme.com", 1_000, T0 + 120).charge_succeeded()],
    )
    .await;
    settled(&pipeline).await;
    let again = the_company(&pipeline.hubspot);
    assert_eq!(again.id, company.id);
    assert_eq!(prop(&again, "stripe_payment_count"), "3");
    for deal in pipeline.hubspot.deals() {
        assert!(pipeline
            .hubspot
            .are_associated("deals", &deal.id, "companies", &company.id));
    }
    pipeline.shutdown().await;
}

#[tokio::test]
async fn without_the_company_schema_scope_companies_wait_and_payments_go_on() {
    let hubspot = FakeHubSpot::builder()
        .missing_scopes(["crm.schemas.companies.write"])
        .start()
        .await;
    let mut pipeline = pipeline(hubspot).await;
    send_all(
        &pipeline,
        &[payment(1, "ann@acme.com", 5_000, T0).charge_succeeded()],
    )
    .await;
    start(&mut pipeline);
    pipeline.drained(DRAIN).await;
    assert_eq!(pipeline.hubspot.deals().len(), 1);
    let started = Instant::now();
    while alerts_of(&pipeline, AlertKind::FeaturePaused).is_empty() {
        assert!(started.elapsed() < DRAIN, "no FeaturePaused alert");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let paused = alerts_of(&pipeline, AlertKind::FeaturePaused);
    assert!(
        paused[0].message.contains("crm.schemas.companies.write"),
        "{}",
        paused[0].message
    );
    assert!(!pipeline
        .hubspot
        .has_property("companies", "stripe_company_key"));
    assert!(pipeline.hubspot.companies().is_empty());
    assert_eq!(pipeline.engine.as_ref().unwrap().paused(), None);

    pipeline.hubspot.set_missing_scopes(Vec::<String>::new());
    settled(&pipeline).await;
    let company = the_company(&pipeline.hubspot);
    assert_eq!(prop(&company, "stripe_company_key"), "acme.com");
    pipeline.shutdown().await;
}

#[tokio::test]
async fn a_batch_of_a_hundred_payments_at_twenty_companies_costs_four_company_requests() {
    let mut pipeline = pipeline(FakeHubSpot::start().await).await;
    let events: Vec<Value> = (0..100u64)
        .map(|n| {
            let email = format!("payer{n}@company{}.com", n % 20);
            payment(n + 1, &email, 1_000, T0 + n as i64).charge_succeeded()
        })
        .collect();
    send_all(&pipeline, &events).await;
    start(&mut pipeline);
    settled(&pipeline).await;
    let hubspot = &pipeline.hubspot;
    let counts = print_requests(
        "one batch of 100 payments at 20 new companies (with bootstrap)",
        hubspot,
    );
    assert_eq!(hubspot.companies().len(), 20);
    for company in hubspot.companies() {
        assert_eq!(prop(&company, "stripe_payment_count"), "5", "{company:?}");
        assert_eq!(prop(&company, "stripe_lifetime_value"), "50.00");
    }
    assert_eq!(count(&counts, "contacts/batch/upsert"), 1, "{counts:?}");
    assert_eq!(count(&counts, "deals/batch/create"), 1, "{counts:?}");
    assert_eq!(count(&counts, "companies/search"), 1, "{counts:?}");
    assert_eq!(count(&counts, "companies/batch/upsert"), 1, "{counts:?}");
    assert_eq!(
        count(&counts, "/companies/batch/associate"),
        2,
        "{counts:?}"
    );

    // An open dispute changes the deal alone (its status; the rollups count disputes only
    // once lost): the company is not written again.
    hubspot.clear_requests();
    let disputed = payment(1, "payer0@company0.com", 1_000, T0);
    let path = format!(
        "{}/crates/stripe-events/tests/fixtures/charge_dispute_created.json",
        env!("CARGO_MANIFEST_DIR")
    );
    let mut again: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    again["created"] = (T0 + 500).into();
    again["data"]["object"]["charge"] = disputed.charge_id.clone().into();
    again["data"]["object"]["payment_intent"] = disputed.payment_intent.clone().into();
    again["data"]["object"]["amount"] = 1_000.into();
    again["data"]["object"]["currency"] = "usd".into();
    send_all(&pipeline, &[again]).await;
    settled(&pipeline).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    let counts = print_requests("a batch of 1 open dispute", hubspot);
    assert!(
        hubspot
            .deals()
            .iter()
            .any(|d| prop(d, "stripe_payment_status") == "disputed"),
        "the deal was written: {counts:?}"
    );
    assert_eq!(count(&counts, "companies"), 0, "{counts:?}");
    pipeline.shutdown().await;
}

#[tokio::test]
async fn company_calls_that_fail_are_retried_and_never_hold_back_payments() {
    use stripe2hubspot::hubspot_crm::fake::Failure;

    let hubspot = FakeHubSpot::start().await;
    // The first upsert's answer is lost after HubSpot committed it, then the deal
    // association fails twice: the pass backs off and retries; nothing is duplicated.
    hubspot.fail_next_on(
        1,
        "POST",
        "/crm/objects/2026-09/companies/batch/upsert",
        Failure::AfterCommit(502),
    );
    hubspot.fail_next_on(
        2,
        "POST",
        "/crm/associations/2026-09/deals/companies",
        Failure::Status(500, None),
    );
    let mut pipeline = pipeline(hubspot).await;
    send_all(
        &pipeline,
        &[
            payment(1, "ann@acme.com", 5_000, T0).charge_succeeded(),
            payment(2, "bob@acme.com", 2_500, T0 + 60).charge_succeeded(),
        ],
    )
    .await;
    start(&mut pipeline);
    let stats = pipeline.drained(DRAIN).await;
    assert_eq!((stats.done, stats.dead), (2, 0), "payments never wait");
    settled(&pipeline).await;
    let hubspot = &pipeline.hubspot;
    let company = the_company(hubspot);
    assert_eq!(prop(&company, "stripe_payment_count"), "2");
    for deal in hubspot.deals() {
        assert!(hubspot.are_associated("deals", &deal.id, "companies", &company.id));
    }
    assert!(
        hubspot.request_count("POST", "/crm/associations/2026-09/deals/companies") >= 3,
        "retried"
    );
    assert_eq!(pipeline.engine.as_ref().unwrap().paused(), None);
    pipeline.shutdown().await;
}
