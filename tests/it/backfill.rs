//! Backfill end to end: the fake Stripe API -> synthetic events -> SQLite queue -> the real
//! engine -> the fake HubSpot, against the contract of one contact per email and one deal per
//! payment with the ledger's properties.

use crate::common;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use common::Pipeline;
use serde_json::Value;
use stripe2hubspot::history::stripe2hubspot_stripe::fake::{objects, Failure, FakeStripe};
use stripe2hubspot::history::stripe2hubspot_stripe::{CreatedRange, ListKind};
use stripe2hubspot::history::{
    checkpoint_name, same_value, synthetic_event, Backfill, BackfillSummary, ExpectedDeal,
    Progress, CHECKPOINT_DONE,
};
use stripe2hubspot::hubspot_crm::fake::FakeHubSpot;
use stripe2hubspot::map::{
    facts_from_event, ContactKey, FactsOutcome, LedgerRow, MappingConfig, PropertySet,
};
use stripe2hubspot::stripe_events::EventObject;
use stripe2hubspot::testkit::Payment;

const DRAIN: Duration = Duration::from_secs(120);
pub const T0: i64 = 1_700_000_000;

/// A fake Stripe holding `n` generated payments (charges and their disputes).
pub async fn stripe_with_history(n: usize) -> (FakeStripe, objects::History) {
    let stripe = FakeStripe::start().await;
    let history = objects::history(n, T0);
    stripe.insert_all(history.all()).unwrap();
    (stripe, history)
}

/// The deals the ledger expects from these Stripe objects: each object's facts, as its
/// synthetic event gives them, merged per payment.
pub fn ledger_deals(objects: &[Value], config: &MappingConfig) -> Vec<ExpectedDeal> {
    let mut rows: BTreeMap<String, LedgerRow> = BTreeMap::new();
    for value in objects {
        let object = EventObject::from_value(value.clone());
        let Some(event) = synthetic_event(&object, false, T0 + 86_400 * 365) else {
            continue;
        };
        let Ok(FactsOutcome::Facts(facts)) = facts_from_event(&event.event, config) else {
            continue;
        };
        let key = facts.ids.key().unwrap().to_owned();
        rows.entry(key)
            .and_modify(|row| row.apply(&facts))
            .or_insert_with(|| LedgerRow::from_facts(&facts));
    }
    rows.values()
        .filter_map(|row| ExpectedDeal::from_ledger(row, config))
        .collect()
}

/// The deals the contract requires for these objects: the ledger's.
pub fn contract_deals(objects: &[Value], config: &MappingConfig) -> Vec<ExpectedDeal> {
    ledger_deals(objects, config)
}

/// Issue 11's lifecycle, checked against the Stripe charges rather than the mapping: each
/// undisputed charge's deal holds what was captured less refunds in the currency's major unit
/// (JPY has none), the currency code in capitals, and the payment status its refunds give.
pub fn assert_lifecycle(hubspot: &FakeHubSpot, history: &objects::History) {
    let deals = hubspot.deals();
    let mut checked = (0, 0, 0);
    for charge in history.charges.iter().filter(|c| c["disputed"] != true) {
        let payment = charge["payment_intent"]
            .as_str()
            .or(charge["id"].as_str())
            .unwrap();
        let deal = deals
            .iter()
            .find(|d| d.property("stripe_payment_id") == Some(payment))
            .unwrap_or_else(|| panic!("no deal for {payment}"));
        let currency = charge["currency"].as_str().unwrap();
        let minor = if currency == "jpy" { 1.0 } else { 100.0 };
        let captured = charge["amount_captured"].as_i64().unwrap();
        let refunded = charge["amount_refunded"].as_i64().unwrap_or(0);
        let amount: f64 = deal.property("amount").unwrap().parse().unwrap();
        assert_eq!(
            amount,
            (captured - refunded) as f64 / minor,
            "deal of {payment}"
        );
        assert_eq!(
            deal.property("deal_currency_code"),
            Some(currency.to_uppercase().as_str())
        );
        let status = match refunded {
            0 => "succeeded",
            r if r >= captured => "refunded",
            _ => "partially_refunded",
        };
        assert_eq!(
            deal.property("stripe_payment_status"),
            Some(status),
            "{payment}"
        );
        checked.0 += usize::from(refunded > 0);
        checked.1 += usize::from(currency == "jpy");
        checked.2 += 1;
    }
    assert!(
        checked.0 > 0 && checked.1 > 0,
        "refunds and yen covered: {checked:?}"
    );
}

/// Exactly one deal per expected payment (plus `extra` payment ids), each with the expected
/// properties and associated with its contact; exactly one contact per email.
pub fn assert_contract(hubspot: &FakeHubSpot, expected: &[ExpectedDeal], extra: &[&str]) {
    let deals = hubspot.deals();
    let mut by_payment: BTreeMap<&str, Vec<_>> = BTreeMap::new();
    for deal in &deals {
        let id = deal
            .property("stripe_payment_id")
            .expect("every deal has a payment id");
        by_payment.entry(id).or_default().push(deal);
    }
    let doubled: Vec<_> = by_payment.iter().filter(|(_, d)| d.len() > 1).collect();
    assert!(
        doubled.is_empty(),
        "{} payments have several deals",
        doubled.len()
    );
    let want: BTreeSet<&str> = expected
        .iter()
        .map(|e| e.payment_id.as_str())
        .chain(extra.iter().copied())
        .collect();
    let have: BTreeSet<&str> = by_payment.keys().copied().collect();
    assert_eq!(
        have.difference(&want).count() + want.difference(&have).count(),
        0,
        "deals for unexpected payments: {:?}; payments without a deal: {:?}",
        have.difference(&want).take(5).collect::<Vec<_>>(),
        want.difference(&have).take(5).collect::<Vec<_>>()
    );
    let contacts = hubspot.contacts();
    let emails: Vec<&str> = contacts
        .iter()
        .filter_map(|c| c.property("email"))
        .collect();
    let distinct: BTreeSet<&str> = emails.iter().copied().collect();
    assert_eq!(emails.len(), distinct.len(), "one contact per email");
    for e in expected {
        let deal = by_payment[e.payment_id.as_str()][0];
        for (name, value) in e.properties.iter() {
            assert!(
                same_value(&value.value, deal.property(name)),
                "deal {} property {name}: {:?}, expected {:?}",
                e.payment_id,
                deal.property(name),
                value.value
            );
        }
        if let Some(ContactKey::Email(email)) = &e.contact {
            let contact = hubspot
                .contact_by_email(email)
                .expect("the payer's contact");
            assert!(hubspot.are_associated("deals", &deal.id, "contacts", &contact.id));
        }
    }
    assert_issue_11_amounts(&by_payment, expected);
}

/// Issue 11's table, checked against the Stripe objects rather than the mapping: a deal's
/// amount is what was captured less refunds (and a lost dispute, with the ledger engine) in
/// the currency's major unit (JPY has none: 1500 is ¥1,500), and its currency is the
/// payment's.
fn assert_issue_11_amounts(
    by_payment: &BTreeMap<&str, Vec<&stripe2hubspot::hubspot_crm::fake::FakeObject>>,
    expected: &[ExpectedDeal],
) {
    for e in expected {
        let deal = by_payment[e.payment_id.as_str()][0];
        let currency = deal.property("deal_currency_code").map(str::to_lowercase);
        assert!(
            matches!(currency.as_deref(), Some("usd" | "jpy")),
            "deal currency {currency:?}"
        );
        let amount: f64 = deal.property("amount").unwrap().parse().unwrap();
        if currency.as_deref() == Some("jpy") {
            assert_eq!(amount.fract(), 0.0, "yen amounts are whole");
        }
        assert!(amount >= 0.0);
    }
}

fn properties_named(set: &PropertySet) -> BTreeSet<String> {
    set.iter().map(|(k, _)| k.to_owned()).collect()
}

/// Every object a backfill of this history lists.
pub fn listed_objects(history: &objects::History) -> Vec<Value> {
    history
        .charges
        .iter()
        .chain(&history.disputes)
        .cloned()
        .collect()
}

fn backfill(stripe: &FakeStripe, pipeline: &Pipeline) -> stripe2hubspot::history::BackfillBuilder {
    Backfill::builder(
        stripe.client().unwrap(),
        pipeline.store.clone(),
        MappingConfig::default(),
        CreatedRange::all(),
    )
    .queue_poll(Duration::from_millis(20))
}

fn write_requests(hubspot: &FakeHubSpot) -> usize {
    hubspot
        .requests()
        .iter()
        .filter(|r| r.method != "GET" && !r.path.ends_with("/search"))
        .count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backfill_of_1000_charges_gives_the_contract_and_a_second_run_writes_nothing() {
    let (stripe, history) = stripe_with_history(1_000).await;
    let mut pipeline = Pipeline::new(FakeHubSpot::start().await).await;
    pipeline.start_engine(|b| b);
    let mut pages = Vec::new();
    let first = backfill(&stripe, &pipeline)
        .build()
        .unwrap()
        .run(|p: &Progress| pages.push((p.kind, p.listed)))
        .await
        .unwrap();
    let stats = pipeline.settled(DRAIN).await;
    assert_eq!(stats.dead, 0);
    let kinds: BTreeMap<ListKind, _> = first.kinds.iter().cloned().collect();
    assert_eq!(kinds[&ListKind::Charges].pages, 10);
    assert_eq!(kinds[&ListKind::Disputes].pages, 1);
    assert_eq!(kinds[&ListKind::Charges].listed, 1_000);
    assert_eq!(
        kinds[&ListKind::Disputes].listed,
        history.disputes.len() as u64
    );
    assert_eq!(first.listed(), 1_000 + history.disputes.len() as u64);
    assert_eq!(
        first.queued(),
        first.listed(),
        "every listed object is a payment fact"
    );
    assert_eq!(first.duplicates(), 0);
    assert_eq!(
        pages.last().map(|(_, listed)| *listed),
        Some(first.listed())
    );

    let expected = contract_deals(&listed_objects(&history), &MappingConfig::default());
    assert!(
        expected.len() > 500,
        "the history has {} payments",
        expected.len()
    );
    assert_contract(&pipeline.hubspot, &expected, &[]);
    assert_lifecycle(&pipeline.hubspot, &history);
    let requests = pipeline.hubspot.total_requests();
    let per_payment = requests as f64 / first.queued() as f64;
    let hours = 100_000.0 * per_payment / 10.0 / 3_600.0;
    eprintln!(
        "figures: {} payments queued, {requests} HubSpot requests, {per_payment:.4} requests per payment; \
         100,000 payments at 100 requests / 10 s: {:.0} s ({hours:.2} h)",
        first.queued(),
        100_000.0 * per_payment / 10.0
    );
    eprintln!("{first}");

    // Again: every object is unchanged, so every event is a duplicate and HubSpot hears nothing.
    pipeline.hubspot.clear_requests();
    let deals_before = pipeline.hubspot.deals();
    let second = backfill(&stripe, &pipeline)
        .build()
        .unwrap()
        .run(|_| {})
        .await
        .unwrap();
    pipeline.drained(DRAIN).await;
    assert_eq!(second.queued(), 0);
    assert_eq!(second.duplicates(), first.queued());
    assert_eq!(write_requests(&pipeline.hubspot), 0);
    assert_eq!(pipeline.hubspot.deals(), deals_before);
    pipeline.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dry_run_counts_without_queueing() {
    let (stripe, history) = stripe_with_history(250).await;
    let pipeline = Pipeline::new(FakeHubSpot::start().await).await;
    let summary: BackfillSummary = backfill(&stripe, &pipeline)
        .dry_run(true)
        .build()
        .unwrap()
        .run(|_| {})
        .await
        .unwrap();
    assert!(summary.dry_run);
    assert_eq!(summary.queued(), 250 + history.disputes.len() as u64);
    let stats = pipeline.store.admin.stats().await.unwrap();
    assert_eq!(stats.ready + stats.done, 0);
    let name = checkpoint_name(ListKind::Charges, CreatedRange::all());
    assert_eq!(pipeline.store.state.checkpoint(&name).await.unwrap(), None);
    assert!(summary.to_string().contains("would queue"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_half_way_then_run_again_misses_and_doubles_nothing() {
    let (stripe, history) = stripe_with_history(1_000).await;
    let mut pipeline = Pipeline::new(FakeHubSpot::start().await).await;
    pipeline.start_engine(|b| b);
    let run = backfill(&stripe, &pipeline).build().unwrap();
    let (pages_tx, mut pages_rx) = tokio::sync::mpsc::unbounded_channel();
    let interrupted = tokio::select! {
        done = run.run(move |p| { let _ = pages_tx.send(p.pages); }) => Err(done),
        () = async { while pages_rx.recv().await.is_some_and(|n| n < 5) {} } => Ok(()),
    };
    assert!(
        interrupted.is_ok(),
        "the backfill ended before it was stopped"
    );
    let name = checkpoint_name(ListKind::Charges, CreatedRange::all());
    let cursor = pipeline.store.state.checkpoint(&name).await.unwrap();
    assert!(
        cursor.as_deref().is_some_and(|c| c.starts_with("ch_")),
        "a cursor mid-list: {cursor:?}"
    );

    let second = backfill(&stripe, &pipeline)
        .build()
        .unwrap()
        .run(|_| {})
        .await
        .unwrap();
    let charges = &second.kinds[0];
    assert_eq!(charges.0, ListKind::Charges);
    assert_eq!(
        charges.1.resumed_after, cursor,
        "resumed after the checkpoint"
    );
    assert!(
        charges.1.listed < 1_000,
        "the resumed run skipped what was queued"
    );
    assert_eq!(
        pipeline
            .store
            .state
            .checkpoint(&name)
            .await
            .unwrap()
            .as_deref(),
        Some(CHECKPOINT_DONE)
    );
    let stats = pipeline.drained(DRAIN).await;
    // Every distinct object state became exactly one job: none missed, none doubled.
    let listed = listed_objects(&history);
    let distinct: BTreeSet<String> = listed
        .iter()
        .filter_map(|v| synthetic_event(&EventObject::from_value(v.clone()), false, T0))
        .map(|e| e.event.id)
        .collect();
    assert_eq!(stats.done, distinct.len() as u64);
    assert_eq!(stats.dead, 0);
    assert_contract(
        &pipeline.hubspot,
        &contract_deals(&listed, &MappingConfig::default()),
        &[],
    );
    pipeline.shutdown().await;
}

/// Webhooks Stripe delivered for the first payments while the backfill ran.
const LIVE_WEBHOOKS: usize = 30;

/// A charge as its `charge.succeeded` webhook carried it, before any refund or dispute.
fn as_paid(charge: &Value) -> Value {
    let mut paid = charge.clone();
    paid["amount_refunded"] = serde_json::json!(0);
    paid["refunded"] = serde_json::json!(false);
    paid["disputed"] = serde_json::json!(false);
    paid
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webhooks_during_the_backfill_give_one_deal_each_and_a_live_payment_goes_first() {
    let (stripe, history) = stripe_with_history(1_000).await;
    let mut pipeline = Pipeline::new(FakeHubSpot::start().await).await;
    pipeline.start_engine(|b| b);
    let live = Payment::numbered(9_001, "live@example.com", 4_200, "usd", T0 + 999_999);
    let live_deal = live.charge_succeeded()["data"]["object"]["payment_intent"]
        .as_str()
        .unwrap()
        .to_owned();
    let run = backfill(&stripe, &pipeline).max_ready(50).build().unwrap();
    let (pages_tx, mut pages_rx) = tokio::sync::mpsc::unbounded_channel();
    let live_synced_before_last_page = AtomicBool::new(false);
    let sent_at_page = AtomicU64::new(u64::MAX);
    let hubspot = &pipeline.hubspot;
    let (synced_flag, wanted) = (&live_synced_before_last_page, live_deal.as_str());
    // `move`: the sender goes with the run, so the page stream ends when the run does.
    let backfilling = run.run(move |p: &Progress| {
        // Called after the 10th page (the last of the charges), before the disputes page.
        if p.pages == 10 {
            let synced = hubspot
                .deals()
                .iter()
                .any(|d| d.property("stripe_payment_id") == Some(wanted));
            synced_flag.store(synced, Ordering::SeqCst);
        }
        let _ = pages_tx.send(p.pages);
    });
    let webhooks = async {
        while pages_rx.recv().await.is_some_and(|n| n < 2) {}
        // Stripe delivers the same payments as the backfill lists, with its own event ids.
        for (i, charge) in history.charges.iter().take(LIVE_WEBHOOKS).enumerate() {
            let charge = as_paid(charge);
            let event = serde_json::json!({
                "id": format!("evt_live_{i}"), "object": "event", "type": "charge.succeeded",
                "created": T0 + 5_000_000, "livemode": false, "data": {"object": charge},
            });
            assert_eq!(pipeline.send(&event).await, 200);
        }
        assert_eq!(pipeline.send(&live.charge_succeeded()).await, 200);
        let mut at = 2;
        while let Ok(n) = pages_rx.try_recv() {
            at = n;
        }
        sent_at_page.store(at, Ordering::SeqCst);
        while pages_rx.recv().await.is_some() {}
    };
    let (summary, ()) = tokio::join!(backfilling, webhooks);
    let summary = summary.unwrap();
    assert!(
        sent_at_page.load(Ordering::SeqCst) < 10,
        "the live payment was posted during the backfill"
    );
    assert!(
        live_synced_before_last_page.load(Ordering::SeqCst),
        "the live payment reached HubSpot before the backfill's last page was queued"
    );
    assert!(
        summary.waited_for_queue > Duration::ZERO,
        "flow control held pages back"
    );
    pipeline.drained(DRAIN).await;
    let expected = contract_deals(&listed_objects(&history), &MappingConfig::default());
    let extra: Vec<String> = vec![live_deal.clone()];
    let extra: Vec<&str> = extra.iter().map(String::as_str).collect();
    assert_contract(&pipeline.hubspot, &expected, &extra);
    pipeline.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stripe_429s_and_a_500_mid_pagination_and_the_backfill_still_finishes_complete() {
    let (stripe, history) = stripe_with_history(450).await;
    stripe.fail_at(2, Failure::rate_limited().retry_after(0));
    stripe.fail_at(3, Failure::rate_limited());
    stripe.fail_at(5, Failure::server_error());
    let mut pipeline = Pipeline::new(FakeHubSpot::start().await).await;
    pipeline.start_engine(|b| b);
    let summary = backfill(&stripe, &pipeline)
        .build()
        .unwrap()
        .run(|_| {})
        .await
        .unwrap();
    let statuses: Vec<u16> = stripe.requests().iter().map(|r| r.status).collect();
    assert!(
        statuses.contains(&429) && statuses.contains(&500),
        "{statuses:?}"
    );
    assert_eq!(summary.listed(), 450 + history.disputes.len() as u64);
    pipeline.drained(DRAIN).await;
    let expected = contract_deals(&listed_objects(&history), &MappingConfig::default());
    assert_contract(&pipeline.hubspot, &expected, &[]);
    pipeline.shutdown().await;
}

#[test]
fn ledger_deals_carry_the_lifecycle_properties() {
    // The ledger's deals (what reconcile and the engine use) name the refund and the payment status.
    let history = objects::history(100, T0);
    let config = MappingConfig::default();
    let ledger = ledger_deals(&listed_objects(&history), &config);
    let refunded = history
        .charges
        .iter()
        .filter(|c| c["amount_refunded"].as_i64() > Some(0))
        .count();
    assert!(refunded > 0);
    let with_refund = ledger
        .iter()
        .filter(|d| {
            d.properties
                .get(stripe2hubspot::map::AMOUNT_REFUNDED_PROPERTY)
                .and_then(|v| v.parse::<f64>().ok())
                .is_some_and(|v| v > 0.0)
        })
        .count();
    assert_eq!(with_refund, refunded);
    assert_eq!(ledger.len(), 100, "one deal per payment, refunded or not");
    assert!(ledger
        .iter()
        .all(|d| properties_named(&d.properties)
            .contains(stripe2hubspot::map::PAYMENT_STATUS_PROPERTY)));
}

#[tokio::test]
async fn a_thin_event_becomes_the_snapshot_event_of_its_object_now() {
    use stripe2hubspot::history::{fetch_thin_event_object, thin_event_snapshot, ThinEvent};
    let (stripe, history) = stripe_with_history(12).await;
    let refunded = history
        .charges
        .iter()
        .find(|c| c["amount_refunded"].as_i64() > Some(0))
        .unwrap();
    let id = refunded["id"].as_str().unwrap();
    let thin: ThinEvent = serde_json::from_value(serde_json::json!({
        "id": "evt_thin_1", "object": "v2.core.event", "type": "v1.charge.refunded",
        "created": "2026-11-30T00:00:00.000Z", "livemode": false,
        "related_object": {"id": id, "type": "charge", "url": format!("/v1/charges/{id}")}
    }))
    .unwrap();
    let client = stripe.client().unwrap();
    let object = fetch_thin_event_object(&client, &thin).await.unwrap();
    assert_eq!(object.id(), Some(id));
    let snapshot = thin_event_snapshot(&client, &thin, T0 + 10)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(snapshot.event.type_, "charge.refunded");
    // The same object read by a backfill is the same event: the queue keeps one.
    let listed = synthetic_event(&EventObject::from_value(refunded.clone()), false, T0).unwrap();
    assert_eq!(snapshot.event.id, listed.event.id);
    assert_eq!(stripe.request_count(&format!("/v1/charges/{id}")), 2);

    let nothing: ThinEvent = serde_json::from_value(serde_json::json!({
        "id": "evt_thin_2", "type": "v1.account.updated"
    }))
    .unwrap();
    assert!(fetch_thin_event_object(&client, &nothing).await.is_err());
}

/// Stripe billing state: Ann pays 2 × Gold (49 USD a month) with 25% off; Bob's subscription
/// is canceled; Cat has a customer and no subscription.
pub fn billing() -> Vec<Value> {
    let monthly = objects::price("price_gold", "prod_gold", 4_900, "usd", "month", 1);
    let live = objects::subscription("sub_ann", "cus_ann", T0 + 100, "active", &monthly, 2);
    let off = objects::percent_discount("di_ann", &live, 25.0);
    let live = objects::with_discount(live, &off);
    let ended = objects::subscription("sub_bob", "cus_bob", T0 + 200, "canceled", &monthly, 1);
    vec![
        objects::product("prod_gold", "Gold"),
        objects::customer("cus_ann", T0, Some("ann@example.com"), Some("Ann Adams")),
        objects::customer("cus_bob", T0 + 1, Some("bob@example.com"), None),
        objects::customer("cus_cat", T0 + 2, Some("cat@example.com"), None),
        live,
        off,
        ended,
    ]
}

/// Every job ready in the queue (left ready again).
async fn ready_jobs(pipeline: &Pipeline) -> Vec<stripe2hubspot::queue::Job> {
    let jobs = pipeline
        .store
        .queue
        .reserve(1_000, Duration::from_secs(60))
        .await
        .unwrap();
    for job in &jobs {
        pipeline.store.queue.release(job).await.unwrap();
    }
    jobs
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn customers_and_subscriptions_of_any_age_are_queued_as_their_webhooks_once() {
    use stripe2hubspot::map::{
        customer_facts_from_event, subscription_properties, CustomerOutcome, CustomerRow,
    };
    let stripe = FakeStripe::start().await;
    stripe.insert_all(billing()).unwrap();
    let pipeline = Pipeline::new(FakeHubSpot::start().await).await;
    // A range after every object was created: customers and subscriptions are state, listed
    // whatever their age; payments would be limited to it.
    let later = CreatedRange::since(T0 + 86_400);
    let backfill = Backfill::builder(
        stripe.client().unwrap(),
        pipeline.store.clone(),
        MappingConfig::default(),
        later,
    )
    .build()
    .unwrap();
    let run = || backfill.run(|_| {});
    let first = run().await.unwrap();
    let kinds: BTreeMap<ListKind, _> = first.kinds.iter().cloned().collect();
    assert_eq!(kinds[&ListKind::Customers].queued, 3, "{first}");
    assert_eq!(kinds[&ListKind::Subscriptions].queued, 2, "{first}");
    assert_eq!(kinds[&ListKind::Charges].listed, 0);
    assert_eq!(first.customers_queued(), 5);
    assert!(
        first
            .to_string()
            .contains("5 customers and subscriptions queued"),
        "{first}"
    );
    let list = stripe
        .requests()
        .into_iter()
        .find(|r| r.path == "/v1/subscriptions")
        .unwrap();
    assert_eq!(list.param("status"), Some("all"));
    assert_eq!(list.param("created[gte]"), None, "subscriptions of any age");
    assert_eq!(stripe.request_count("/v1/products"), 1);

    let jobs = ready_jobs(&pipeline).await;
    let mut types: Vec<&str> = jobs.iter().map(|j| j.event_type.as_str()).collect();
    types.sort();
    assert_eq!(
        types,
        [
            "customer.subscription.deleted",
            "customer.subscription.updated",
            "customer.updated",
            "customer.updated",
            "customer.updated"
        ]
    );
    // What the engine will read from them: Ann's MRR with her discount, her plan by name, Bob's
    // churn.
    let config = MappingConfig::default();
    let mut rows: BTreeMap<String, CustomerRow> = BTreeMap::new();
    for job in &jobs {
        let event = stripe2hubspot::stripe_events::parse_event(&job.payload).unwrap();
        let CustomerOutcome::Facts(facts) = customer_facts_from_event(&event, &config).unwrap()
        else {
            panic!("{} gives no customer facts", job.event_type)
        };
        rows.entry(facts.customer_id.clone())
            .or_default()
            .apply(&facts);
    }
    let ann = subscription_properties(&rows["cus_ann"], &config);
    assert_eq!(ann.get("stripe_mrr"), Some("73.50"));
    assert_eq!(ann.get("stripe_arr"), Some("882.00"));
    assert_eq!(ann.get("stripe_plan"), Some("Gold"));
    assert_eq!(ann.get("stripe_subscription_status"), Some("active"));
    let bob = subscription_properties(&rows["cus_bob"], &config);
    assert_eq!(bob.get("stripe_subscription_status"), Some("canceled"));
    assert!(bob.get("stripe_churn_date").is_some_and(|d| !d.is_empty()));
    assert_eq!(rows["cus_ann"].email(), Some("ann@example.com"));

    // Again: nothing changed in Stripe, so every event is a duplicate.
    let second = run().await.unwrap();
    assert_eq!(second.queued(), 0, "{second}");
    assert_eq!(second.duplicates(), 5);
    assert_eq!(ready_jobs(&pipeline).await.len(), 5);

    // Bob's customer is updated in Stripe: only it is queued again.
    stripe
        .insert(objects::customer(
            "cus_bob",
            T0 + 1,
            Some("bob@example.org"),
            Some("Bob B"),
        ))
        .unwrap();
    let third = run().await.unwrap();
    assert_eq!((third.queued(), third.duplicates()), (1, 4), "{third}");
}

/// An invoice's lines, `n` of them, as Stripe stores them (older price shape).
fn invoice_lines(invoice: &str, n: usize) -> Value {
    let data: Vec<Value> = (0..n)
        .map(|i| {
            serde_json::json!({
                "id": format!("il_{invoice}_{i:02}"), "object": "line_item", "amount": 100,
                "currency": "usd", "quantity": 1, "description": format!("Item {i}"),
                "price": {"id": format!("price_{i}"), "object": "price", "currency": "usd",
                    "unit_amount": 100, "product": format!("prod_{}", i % 3)}
            })
        })
        .collect();
    serde_json::json!({"object": "list", "data": data, "has_more": false,
        "url": format!("/v1/invoices/{invoice}/lines")})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backfilled_invoice_brings_every_line_into_the_ledger_even_past_the_first_page() {
    let stripe = FakeStripe::start().await;
    let mut invoices = Vec::new();
    for (n, (id, lines)) in [("in_big", 105), ("in_small", 3)].into_iter().enumerate() {
        let charge = objects::with_payer(
            objects::charge(
                &format!("ch_{id}"),
                T0 + n as i64,
                100 * lines as i64,
                "usd",
            ),
            "ann@example.com",
            "Ann",
            None,
        );
        let mut invoice = objects::invoice(id, T0 + n as i64, &charge, "sub_1", "ann@example.com");
        invoice["lines"] = invoice_lines(id, lines);
        invoices.push(invoice);
    }
    stripe.insert_all(invoices).unwrap();
    // The products the lines name (a backfill expands them for their names).
    for n in 0..3 {
        stripe
            .insert(objects::product(
                &format!("prod_{n}"),
                &format!("Product {n}"),
            ))
            .unwrap();
    }
    // Listed, an invoice embeds its first lines only, as Stripe's do.
    let listed = stripe
        .client()
        .unwrap()
        .list_objects(ListKind::Invoices, CreatedRange::all(), None)
        .await
        .unwrap();
    let embedded: Vec<(usize, bool)> = listed
        .data
        .iter()
        .map(|o| match o {
            EventObject::Invoice(i) => (i.line_list().len(), i.lines.as_ref().unwrap().has_more),
            other => panic!("an invoice expected: {other:?}"),
        })
        .collect();
    assert_eq!(embedded, [(3, false), (10, true)], "newest first");
    stripe.clear_requests();
    let mut pipeline = Pipeline::new(FakeHubSpot::start().await).await;
    pipeline.start_engine(|b| b);
    let config = MappingConfig::default();
    Backfill::builder(
        stripe.client().unwrap(),
        pipeline.store.clone(),
        config.clone(),
        CreatedRange::all(),
    )
    .kinds([ListKind::Invoices])
    .build()
    .unwrap()
    .run(|_| {})
    .await
    .unwrap();
    assert_eq!(pipeline.drained(DRAIN).await.dead, 0);
    pipeline.shutdown().await;

    let lines_read: Vec<String> = stripe
        .requests()
        .iter()
        .filter(|r| r.path.ends_with("/lines"))
        .map(|r| r.path.clone())
        .collect();
    assert_eq!(
        lines_read,
        ["/v1/invoices/in_big/lines", "/v1/invoices/in_big/lines"],
        "only the invoice whose list was cut short is read again (105 lines: two pages of 100)"
    );
    for (id, lines) in [("in_big", 105), ("in_small", 3)] {
        let entry = pipeline
            .store
            .state
            .ledger_entry(id)
            .await
            .unwrap()
            .unwrap();
        let ids: Vec<&str> = entry
            .row
            .line_items()
            .iter()
            .map(|l| l.id.as_str())
            .collect();
        let want: Vec<String> = (0..lines).map(|i| format!("il_{id}_{i:02}")).collect();
        assert_eq!(ids, want, "{id}");
    }
}

/// Waits until the queue is drained and no line item is left for the engine's pass.
async fn line_items_settled(pipeline: &Pipeline) {
    assert_eq!(pipeline.drained(DRAIN).await.dead, 0);
    let started = std::time::Instant::now();
    while !pipeline
        .store
        .state
        .pending_line_items(100)
        .await
        .unwrap()
        .is_empty()
    {
        assert!(started.elapsed() < DRAIN, "line items still pending");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Requests whose path names line items or products.
fn line_item_requests(hubspot: &FakeHubSpot) -> Vec<String> {
    hubspot
        .requests()
        .iter()
        .filter(|r| r.path.contains("line_items") || r.path.contains("products"))
        .map(|r| format!("{} {}", r.method, r.path))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backfill_of_an_invoice_already_synced_adds_no_line_item_and_reconcile_restores_a_deleted_one(
) {
    use stripe2hubspot::history::{expected_line_items, Reconcile};
    use stripe2hubspot::hubspot_crm::ApiVersion;
    let mapping = MappingConfig {
        line_items: true,
        ..MappingConfig::default()
    };
    let stripe = FakeStripe::start().await;
    let charge = objects::with_payer(
        objects::charge("ch_lines", T0, 300, "usd"),
        "ann@example.com",
        "Ann",
        None,
    );
    let mut invoice = objects::invoice("in_lines", T0, &charge, "sub_1", "ann@example.com");
    invoice["lines"] = invoice_lines("in_lines", 3);
    stripe.insert(invoice.clone()).unwrap();
    for n in 0..3 {
        stripe
            .insert(objects::product(
                &format!("prod_{n}"),
                &format!("Product {n}"),
            ))
            .unwrap();
    }
    let mut pipeline = Pipeline::new(FakeHubSpot::start().await).await;
    pipeline.start_engine_mapped(ApiVersion::default(), mapping.clone(), |b| b);

    // The webhook first: the deal and its three line items.
    let webhook = serde_json::json!({
        "id": "evt_in_lines_paid", "object": "event", "type": "invoice.paid",
        "created": T0 + 10, "api_version": "2024-06-20", "livemode": false,
        "pending_webhooks": 1, "request": {"id": null, "idempotency_key": null},
        "data": {"object": invoice},
    });
    assert_eq!(pipeline.send(&webhook).await, 200);
    line_items_settled(&pipeline).await;
    let hubspot = &pipeline.hubspot;
    assert_eq!(hubspot.line_items().len(), 3);
    let before = line_item_requests(hubspot);

    // The backfill reads the same invoice: same lines, same fingerprint, nothing to write.
    Backfill::builder(
        stripe.client().unwrap(),
        pipeline.store.clone(),
        mapping.clone(),
        CreatedRange::all(),
    )
    .kinds([ListKind::Invoices])
    .build()
    .unwrap()
    .run(|_| {})
    .await
    .unwrap();
    line_items_settled(&pipeline).await;
    // A pass that was due would have shown by now (the engine's idle poll is short).
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(hubspot.line_items().len(), 3, "no line item added");
    assert_eq!(
        line_item_requests(hubspot),
        before,
        "the backfill of a synced invoice writes no line item"
    );

    // Reconcile: in sync; a line item deleted by hand is reported and written again.
    let reconcile = Reconcile::builder(common::retrying_client(hubspot)).build();
    let expected = expected_line_items(&pipeline.store, &mapping)
        .await
        .unwrap();
    assert_eq!(expected.len(), 1);
    let report = reconcile.check_line_items(&expected, |_| {}).await.unwrap();
    assert!(report.is_in_sync() && report.lines == 3, "{report}");
    let gone = hubspot
        .line_items()
        .into_iter()
        .find(|l| l.property("stripe_line_item_id") == Some("il_in_lines_01"))
        .unwrap();
    assert!(hubspot.delete_object("line_items", &gone.id));
    let report = reconcile.check_line_items(&expected, |_| {}).await.unwrap();
    assert_eq!(report.missing.len(), 1, "{report}");
    assert_eq!(report.missing[0].line_ids, ["il_in_lines_01"]);
    let repaired = reconcile
        .repair_line_items(&pipeline.store, &expected, &report)
        .await
        .unwrap();
    let waiting = reconcile
        .wait_for_line_item_repairs(&pipeline.store, &repaired, Duration::from_millis(20), DRAIN)
        .await
        .unwrap();
    assert!(waiting.is_empty(), "{waiting:?}");
    let after = reconcile.check_line_items(&expected, |_| {}).await.unwrap();
    assert!(after.is_in_sync(), "{after}");
    assert_eq!(
        hubspot.line_items().len(),
        3,
        "the deleted one made again, no duplicate"
    );
    let deal = hubspot.deals().into_iter().next().unwrap();
    let made_again = hubspot
        .line_items()
        .into_iter()
        .find(|l| l.property("stripe_line_item_id") == Some("il_in_lines_01"))
        .unwrap();
    assert!(hubspot.are_associated("line_items", &made_again.id, "deals", &deal.id));
    pipeline.shutdown().await;
}
