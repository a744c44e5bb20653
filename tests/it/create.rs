//! New deals are created with their association inline, no write HubSpot already holds is
//! sent, and creation stays idempotent: a deal HubSpot already holds for a payment (made by
//! hand, or by a create whose answer was lost) is found by its `stripe_payment_id`, upserted
//! and associated, never duplicated. Real HTTP against the fake HubSpot, whose requests are
//! counted.

use std::collections::BTreeMap;
use std::time::Duration;

use serde_json::{json, Value};
use stripe2hubspot::engine::Backoff;
use stripe2hubspot::hubspot_crm::fake::{Failure, FakeHubSpot, FakeObject};
use stripe2hubspot::hubspot_crm::ObjectInput;
use stripe2hubspot::testkit::Payment;

use crate::common::Pipeline;

const DRAIN: Duration = Duration::from_secs(60);
const CONTACTS_UPSERT: &str = "/crm/objects/2026-09/contacts/batch/upsert";
const CONTACTS_UPDATE: &str = "/crm/objects/2026-09/contacts/batch/update";
const DEALS_CREATE: &str = "/crm/objects/2026-09/deals/batch/create";
const DEALS_UPSERT: &str = "/crm/objects/2026-09/deals/batch/upsert";
/// Deal-contact association calls (the company pass makes its own, counted apart).
const ASSOCIATIONS: &str = "/crm/associations/2026-09/deals/contacts";
const COMPANIES: &str = "/crm/objects/2026-09/companies/";

/// A fixture event of the stripe-events crate.
fn fixture(name: &str) -> Value {
    let path = format!(
        "{}/crates/stripe-events/tests/fixtures/{name}.json",
        env!("CARGO_MANIFEST_DIR")
    );
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    serde_json::from_str(&text).unwrap()
}

/// Sends each event and waits until the queue is drained, one delivery at a time.
async fn deliver(pipeline: &Pipeline, events: &[Value]) {
    for event in events {
        assert_eq!(pipeline.send(event).await, 200, "{}", event["id"]);
        // The company pass follows the payment writes: wait for it too, so no request of
        // this event is counted with the next one's.
        let stats = pipeline.settled(DRAIN).await;
        assert_eq!(stats.dead, 0, "nothing dead-lettered: {stats:?}");
    }
}

/// The HubSpot writes a sync made: contact writes (upserts of new contacts, updates by id of
/// known ones), deals creates, deals upserts and association calls.
fn writes(hubspot: &FakeHubSpot) -> [usize; 4] {
    [
        hubspot.request_count("POST", CONTACTS_UPSERT)
            + hubspot.request_count("POST", CONTACTS_UPDATE),
        hubspot.request_count("POST", DEALS_CREATE),
        hubspot.request_count("POST", DEALS_UPSERT),
        hubspot.request_count("PUT", ASSOCIATIONS) + hubspot.request_count("POST", ASSOCIATIONS),
    ]
}

/// The deals carrying each `stripe_payment_id`.
fn deals_by_payment(hubspot: &FakeHubSpot) -> BTreeMap<String, Vec<FakeObject>> {
    let mut out: BTreeMap<String, Vec<FakeObject>> = BTreeMap::new();
    for deal in hubspot.deals() {
        let key = deal.property("stripe_payment_id").unwrap_or("").to_owned();
        out.entry(key).or_default().push(deal);
    }
    out
}

/// The one contact of `email` and the one deal of `payment_id`, and whether they are
/// associated.
fn linked(hubspot: &FakeHubSpot, email: &str, payment_id: &str) -> bool {
    let contact = hubspot.contact_by_email(email).expect("the contact");
    let deals = deals_by_payment(hubspot);
    let deals = deals.get(payment_id).expect("a deal for the payment");
    assert_eq!(deals.len(), 1, "one deal for {payment_id}: {deals:?}");
    hubspot.are_associated("deals", &deals[0].id, "contacts", &contact.id)
}

/// Makes a deal in HubSpot as a person would, carrying `payment_id`; returns its id.
async fn deal_by_hand(hubspot: &FakeHubSpot, payment_id: &str) -> String {
    let input = ObjectInput::new(BTreeMap::new())
        .property("dealname", "Entered by hand")
        .property("stripe_payment_id", payment_id);
    hubspot
        .client()
        .unwrap()
        .deals()
        .create(&input)
        .await
        .expect("a deal made by hand")
        .id
}

/// The engine has bootstrapped its properties (the deal key exists): one payment synced.
async fn bootstrapped(pipeline: &Pipeline) {
    let warm = Payment::numbered(999, "warm@example.com", 100, "usd", 1_699_000_000);
    deliver(pipeline, &[warm.charge_succeeded()]).await;
    pipeline.hubspot.clear_requests();
}

#[tokio::test]
async fn a_burst_of_new_payments_costs_two_requests_per_hundred() {
    let mut pipeline = Pipeline::new(FakeHubSpot::start().await).await;
    let payments: Vec<Payment> = (0..200)
        .map(|n| {
            let email = format!("customer{}@example.com", n % 40);
            Payment::numbered(n, &email, 1_000 + n as i64, "usd", 1_700_000_000 + n as i64)
        })
        .collect();
    for payment in &payments {
        assert_eq!(pipeline.send(&payment.charge_succeeded()).await, 200);
    }
    pipeline.start_engine(|b| b.concurrency(1));
    let stats = pipeline.settled(DRAIN).await;
    assert_eq!((stats.done, stats.dead), (200, 0));

    let hubspot = &pipeline.hubspot;
    assert_eq!(
        writes(hubspot),
        [2, 2, 0, 0],
        "two batches of 100: one contact write and one deals create each, nothing else"
    );
    assert_eq!(
        hubspot.request_count("POST", CONTACTS_UPDATE),
        1,
        "the second batch updates the 40 contacts the first created, by their recorded ids"
    );
    let deals = deals_by_payment(hubspot);
    assert_eq!(deals.len(), 200);
    for payment in &payments {
        let email = payment.email.clone().unwrap();
        let key = payment.payment_intent.clone().unwrap();
        assert!(linked(hubspot, &email, &key), "{key} associated inline");
    }
    assert_eq!(hubspot.contacts().len(), 40);
    // The 40 payers share example.com: one company, written once after the backlog drained
    // (one search by domain, one upsert), and its contact and deal associations.
    assert_eq!(hubspot.companies().len(), 1);
    assert_eq!(
        hubspot.request_count("POST", COMPANIES),
        2,
        "{:?}",
        hubspot.request_counts()
    );
    pipeline.shutdown().await;
}

#[tokio::test]
async fn a_deal_made_by_hand_before_the_payment_is_kept_upserted_and_associated() {
    let mut pipeline = Pipeline::new(FakeHubSpot::start().await).await;
    pipeline.start_engine(|b| b.concurrency(1));
    bootstrapped(&pipeline).await;
    let payment = Payment::numbered(1, "ada@example.com", 4_200, "usd", 1_700_000_000);
    let key = payment.payment_intent.clone().unwrap();
    let by_hand = deal_by_hand(&pipeline.hubspot, &key).await;

    deliver(&pipeline, &[payment.charge_succeeded()]).await;
    let hubspot = &pipeline.hubspot;
    let deals = deals_by_payment(hubspot);
    assert_eq!(deals[&key].len(), 1, "no second deal: {deals:?}");
    let deal = &deals[&key][0];
    assert_eq!(deal.id, by_hand, "the deal made by hand is kept");
    assert_eq!(deal.property("amount"), Some("42.00"), "and written");
    assert!(linked(hubspot, "ada@example.com", &key));
    let [_, creates, upserts, associations] = writes(hubspot);
    assert_eq!(
        (creates, upserts, associations),
        (1, 1, 1),
        "tried to create, found the deal by its payment id, upserted and associated it"
    );
    pipeline.shutdown().await;
}

#[tokio::test]
async fn a_create_whose_answer_was_lost_is_found_by_its_conflict_and_makes_one_deal() {
    let mut pipeline = Pipeline::new(FakeHubSpot::start().await).await;
    pipeline.start_engine(|b| b.concurrency(1));
    bootstrapped(&pipeline).await;
    // HubSpot commits the create, then the answer is lost (a 502 from the edge).
    pipeline
        .hubspot
        .fail_next_on(1, "POST", DEALS_CREATE, Failure::AfterCommit(502));
    let payment = Payment::numbered(2, "grace@example.com", 1_500, "usd", 1_700_000_000);
    let key = payment.payment_intent.clone().unwrap();
    deliver(&pipeline, &[payment.charge_succeeded()]).await;

    let hubspot = &pipeline.hubspot;
    let deals = deals_by_payment(hubspot);
    assert_eq!(deals[&key].len(), 1, "one deal: {deals:?}");
    assert!(linked(hubspot, "grace@example.com", &key));
    let [_, creates, upserts, _] = writes(hubspot);
    assert_eq!(
        (creates, upserts),
        (2, 1),
        "the retry's create was refused for the taken payment id and fell back to upsert"
    );
    pipeline.shutdown().await;
}

#[tokio::test]
async fn a_batch_refused_as_a_whole_for_taken_payment_ids_is_matched_by_value() {
    let mut pipeline = Pipeline::new(FakeHubSpot::start().await).await;
    pipeline.start_engine(|b| b.concurrency(1));
    bootstrapped(&pipeline).await;
    let payments: Vec<Payment> = (10..14)
        .map(|n| {
            let email = format!("p{n}@example.com");
            Payment::numbered(n, &email, 2_000 + n as i64, "usd", 1_700_000_000 + n as i64)
        })
        .collect();
    // Two of four already have deals: the fake refuses the whole create (409 naming one).
    let by_hand: BTreeMap<String, String> = {
        let mut out = BTreeMap::new();
        for payment in [&payments[1], &payments[3]] {
            let key = payment.payment_intent.clone().unwrap();
            out.insert(key.clone(), deal_by_hand(&pipeline.hubspot, &key).await);
        }
        out
    };
    pipeline.hubspot.clear_requests();
    for payment in &payments {
        assert_eq!(pipeline.send(&payment.charge_succeeded()).await, 200);
    }
    let stats = pipeline.drained(DRAIN).await;
    assert_eq!(stats.dead, 0);

    let hubspot = &pipeline.hubspot;
    let deals = deals_by_payment(hubspot);
    for payment in &payments {
        let key = payment.payment_intent.clone().unwrap();
        assert_eq!(deals[&key].len(), 1, "one deal for {key}: {deals:?}");
        if let Some(id) = by_hand.get(&key) {
            assert_eq!(&deals[&key][0].id, id, "the existing deal is kept");
        }
        assert!(linked(hubspot, payment.email.as_deref().unwrap(), &key));
    }
    assert!(writes(hubspot)[1] >= 1, "a create was tried");
    pipeline.shutdown().await;
}

#[tokio::test]
async fn a_207_naming_a_taken_payment_id_by_value_falls_back_for_that_input() {
    let mut pipeline = Pipeline::new(FakeHubSpot::start().await).await;
    pipeline.start_engine(|b| b.concurrency(1));
    bootstrapped(&pipeline).await;
    let taken = Payment::numbered(20, "taken@example.com", 3_000, "usd", 1_700_000_000);
    let fresh = Payment::numbered(21, "fresh@example.com", 3_100, "usd", 1_700_000_001);
    let taken_key = taken.payment_intent.clone().unwrap();
    let fresh_key = fresh.payment_intent.clone().unwrap();
    let by_hand = deal_by_hand(&pipeline.hubspot, &taken_key).await;
    // A 207 naming the taken input by its value only, listing no result for the other.
    let answer = json!({
        "status": "COMPLETE",
        "results": [],
        "errors": [{
            "status": "error",
            "category": "OBJECT_ALREADY_EXISTS",
            "message": format!("A deal with stripe_payment_id {taken_key} already exists. Existing ID: {by_hand}"),
            "context": { "ids": [taken_key] },
            "errors": [{ "message": "already exists", "in": "stripe_payment_id" }],
        }],
    });
    pipeline.hubspot.fail_next_on(
        1,
        "POST",
        DEALS_CREATE,
        Failure::Status(207, Some(answer.to_string())),
    );
    pipeline.hubspot.clear_requests();
    for payment in [&taken, &fresh] {
        assert_eq!(pipeline.send(&payment.charge_succeeded()).await, 200);
    }
    let stats = pipeline.drained(DRAIN).await;
    assert_eq!(stats.dead, 0);

    let hubspot = &pipeline.hubspot;
    let deals = deals_by_payment(hubspot);
    assert_eq!(deals[&taken_key].len(), 1, "{deals:?}");
    assert_eq!(deals[&taken_key][0].id, by_hand);
    assert_eq!(deals[&taken_key][0].property("amount"), Some("30.00"));
    assert_eq!(deals[&fresh_key].len(), 1, "{deals:?}");
    assert!(linked(hubspot, "taken@example.com", &taken_key));
    assert!(linked(hubspot, "fresh@example.com", &fresh_key));
    assert!(writes(hubspot)[1] >= 1, "a create was tried");
    pipeline.shutdown().await;
}

#[tokio::test]
async fn a_renewal_of_a_known_customer_costs_one_contact_write_and_one_deal_create() {
    let mut pipeline = Pipeline::new(FakeHubSpot::start().await).await;
    pipeline.start_engine(|b| b.concurrency(1));
    let first = Payment::numbered(30, "renews@example.com", 990, "usd", 1_700_000_000);
    let mut renewal = Payment::numbered(31, "renews@example.com", 990, "usd", 1_702_600_000);
    renewal.name = first.name.clone();
    renewal.customer = first.customer.clone();
    deliver(&pipeline, &[first.charge_succeeded()]).await;
    let contact = pipeline
        .hubspot
        .contact_by_email("renews@example.com")
        .expect("contact");
    pipeline.hubspot.clear_requests();

    deliver(&pipeline, &[renewal.charge_succeeded()]).await;
    let hubspot = &pipeline.hubspot;
    assert_eq!(
        writes(hubspot),
        [1, 1, 0, 0],
        "the rollups changed (one contact write); the deal is created associated"
    );
    assert_eq!(
        hubspot.request_count("POST", CONTACTS_UPDATE),
        1,
        "the known contact is updated by its recorded id"
    );
    assert_eq!(
        hubspot.request_count("GET", "/crm/"),
        0,
        "nothing read back: the contact's id came from the upsert"
    );
    let key = renewal.payment_intent.clone().unwrap();
    assert!(linked(hubspot, "renews@example.com", &key));
    let after = hubspot.contact_by_email("renews@example.com").unwrap();
    assert_eq!(after.id, contact.id);
    assert_eq!(after.property("stripe_payment_count"), Some("2"));
    assert_eq!(hubspot.contacts().len(), 1);
    pipeline.shutdown().await;
}

#[tokio::test]
async fn a_dispute_on_a_synced_payment_writes_only_its_deal() {
    let mut pipeline = Pipeline::new(FakeHubSpot::start().await).await;
    pipeline.start_engine(|b| b.concurrency(1));
    deliver(&pipeline, &[fixture("charge_succeeded_jpy")]).await;
    let contact_before = pipeline.hubspot.contacts();
    pipeline.hubspot.clear_requests();

    deliver(&pipeline, &[fixture("charge_dispute_created")]).await;
    let hubspot = &pipeline.hubspot;
    let deals = hubspot.deals();
    assert_eq!(deals.len(), 1);
    assert_eq!(deals[0].property("stripe_payment_status"), Some("disputed"));
    assert_eq!(
        writes(hubspot),
        [0, 0, 1, 0],
        "the contact is unchanged and the deal holds its association: one deal upsert"
    );
    assert_eq!(hubspot.contacts(), contact_before, "the contact untouched");
    pipeline.shutdown().await;
}

#[tokio::test]
async fn a_contact_deleted_in_hubspot_is_recreated_and_the_deal_associated_with_it() {
    let mut pipeline = Pipeline::new(FakeHubSpot::start().await).await;
    // Retries wait long enough for the test to delete the contact between two attempts.
    pipeline.start_engine(|b| {
        b.concurrency(1).backoff(Backoff {
            base: Duration::from_millis(1_500),
            cap: Duration::from_secs(3),
            jitter: Duration::ZERO,
        })
    });
    bootstrapped(&pipeline).await;
    // The contact is written (and its state recorded), then the deal create fails.
    pipeline
        .hubspot
        .fail_next_on(1, "POST", DEALS_CREATE, Failure::Status(503, None));
    let payment = Payment::numbered(40, "deleted@example.com", 7_700, "usd", 1_700_000_000);
    let key = payment.payment_intent.clone().unwrap();
    assert_eq!(pipeline.send(&payment.charge_succeeded()).await, 200);
    let started = std::time::Instant::now();
    while pipeline.hubspot.request_count("POST", DEALS_CREATE) == 0 {
        assert!(started.elapsed() < DRAIN, "the deal create was never tried");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    // A user deletes the contact before the retry: the recorded contact id is gone.
    let contact = pipeline
        .hubspot
        .contact_by_email("deleted@example.com")
        .expect("the contact was written before the failed create");
    assert!(pipeline.hubspot.delete_object("contacts", &contact.id));

    let stats = pipeline.drained(DRAIN).await;
    assert_eq!(stats.dead, 0);
    let hubspot = &pipeline.hubspot;
    let recreated = hubspot
        .contact_by_email("deleted@example.com")
        .expect("the contact is recreated");
    assert_ne!(recreated.id, contact.id);
    assert_eq!(recreated.property("stripe_payment_count"), Some("1"));
    assert_eq!(deals_by_payment(hubspot)[&key].len(), 1, "one deal");
    assert!(linked(hubspot, "deleted@example.com", &key));
    pipeline.shutdown().await;
}
