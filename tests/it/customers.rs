//! Customers and subscriptions end to end (issue 21): real HTTP against the fake HubSpot, a
//! real SQLite file. The contact carries the customer's subscription properties; identity
//! follows the Stripe customer (an email change updates the known contact, a contact merged
//! or deleted by a user is followed or created again); a new email another contact holds is
//! alerted once (or the contacts merged); `customer.deleted` deletes for GDPR only when asked.

use std::time::Duration;

use serde_json::{json, Value};
use stripe2hubspot::alert::AlertKind;
use stripe2hubspot::hubspot_crm::fake::FakeHubSpot;
use stripe2hubspot::hubspot_crm::ObjectInput;
use stripe2hubspot::map::MappingConfig;
use stripe2hubspot::queue::customer_contact_key;
use stripe2hubspot::testkit::Payment;

use crate::common::Pipeline;

const DRAIN: Duration = Duration::from_secs(60);
const CONTACTS_UPDATE: &str = "/crm/objects/2026-09/contacts/batch/update";
const CONTACTS_UPSERT: &str = "/crm/objects/2026-09/contacts/batch/upsert";
const CONTACTS_MERGE: &str = "/crm/objects/2026-09/contacts/merge";
const CUSTOMER: &str = "cus_Ada000000001";
/// 2025-11-01T12:26:40Z
const T0: i64 = 1_762_000_000;
const MONTH: i64 = 30 * 86_400;

/// A `customer.*` event about customer `id`.
fn customer_event(event_id: &str, type_: &str, created: i64, id: &str, email: &str) -> Value {
    json!({
        "id": event_id, "object": "event", "type": type_, "created": created,
        "api_version": "2025-09-30.clover", "livemode": false,
        "data": {"object": {
            "id": id, "object": "customer", "created": T0 - 86_400, "email": email,
            "name": "Ada Lovelace", "phone": "+44 20 7946 0000", "currency": "usd",
            "livemode": false, "metadata": {}
        }}
    })
}

/// A subscription of [`CUSTOMER`] as a `customer.subscription.*` event shows it.
#[derive(Clone)]
struct Sub {
    id: &'static str,
    customer: &'static str,
    status: &'static str,
    /// (unit amount, quantity, nickname)
    items: Vec<(Option<i64>, i64, &'static str)>,
    currency: &'static str,
    interval: &'static str,
    period_end: i64,
    trial_end: Option<i64>,
    cancel_at_period_end: bool,
    ended_at: Option<i64>,
    tiered: bool,
}

impl Sub {
    fn monthly(id: &'static str, amount: i64) -> Sub {
        Sub {
            id,
            customer: CUSTOMER,
            status: "active",
            items: vec![(Some(amount), 1, "Pro monthly")],
            currency: "usd",
            interval: "month",
            period_end: T0 + MONTH,
            trial_end: None,
            cancel_at_period_end: false,
            ended_at: None,
            tiered: false,
        }
    }

    fn event(&self, event_id: &str, type_: &str, created: i64) -> Value {
        let items: Vec<Value> = self
            .items
            .iter()
            .enumerate()
            .map(|(n, (amount, quantity, nickname))| {
                json!({
                    "id": format!("si_{}_{n}", self.id), "object": "subscription_item",
                    "created": T0, "current_period_start": self.period_end - MONTH,
                    "current_period_end": self.period_end, "quantity": quantity,
                    "discounts": [], "metadata": {},
                    "price": {
                        "id": format!("price_{nickname}").replace(' ', "_"), "object": "price",
                        "active": true, "currency": self.currency, "nickname": nickname,
                        "product": format!("prod_{n}"), "type": "recurring",
                        "billing_scheme": if self.tiered { "tiered" } else { "per_unit" },
                        "tiers_mode": if self.tiered { json!("graduated") } else { Value::Null },
                        "recurring": {"interval": self.interval, "interval_count": 1, "usage_type": "licensed"},
                        "unit_amount": amount,
                        "unit_amount_decimal": amount.map(|a| a.to_string()),
                    }
                })
            })
            .collect();
        json!({
            "id": event_id, "object": "event", "type": type_, "created": created,
            "api_version": "2025-09-30.clover", "livemode": false,
            "data": {"object": {
                "id": self.id, "object": "subscription", "customer": self.customer,
                "status": self.status, "currency": self.currency, "created": T0,
                "start_date": T0, "billing_cycle_anchor": T0,
                "cancel_at": if self.cancel_at_period_end { json!(self.period_end) } else { Value::Null },
                "cancel_at_period_end": self.cancel_at_period_end,
                "canceled_at": self.ended_at, "ended_at": self.ended_at,
                "trial_start": self.trial_end.map(|_| T0), "trial_end": self.trial_end,
                "discounts": [], "metadata": {}, "livemode": false,
                "items": {"object": "list", "data": items, "has_more": false}
            }}
        })
    }
}

/// A payment of [`CUSTOMER`] with `email`.
fn payment(n: u64, email: &str, amount: i64, created: i64) -> Payment {
    let mut payment = Payment::numbered(n, email, amount, "usd", created);
    payment.customer = Some(CUSTOMER.into());
    payment
}

async fn deliver(pipeline: &Pipeline, events: &[Value]) {
    for event in events {
        assert_eq!(pipeline.send(event).await, 200, "{}", event["id"]);
        // The company pass follows the payment writes: wait for it too, so no request of
        // this event is counted with the next one's.
        let stats = pipeline.settled(DRAIN).await;
        assert_eq!(stats.dead, 0, "nothing dead-lettered: {stats:?}");
    }
}

async fn started(
    customize: impl FnOnce(
        stripe2hubspot::engine::SyncEngineBuilder,
    ) -> stripe2hubspot::engine::SyncEngineBuilder,
) -> Pipeline {
    let mut pipeline = Pipeline::new(FakeHubSpot::start().await).await;
    pipeline.start_engine(|b| customize(b.concurrency(1)));
    pipeline
}

/// The HubSpot contact the store records for [`CUSTOMER`].
async fn recorded_contact_id(pipeline: &Pipeline) -> Option<String> {
    let key = customer_contact_key(CUSTOMER, &MappingConfig::default());
    let marks = pipeline
        .store
        .state
        .contact_marks(std::slice::from_ref(&key))
        .await
        .unwrap();
    marks
        .get(&key)
        .map(|m| m.contact_id.clone())
        .filter(|id| !id.is_empty())
}

fn contact(pipeline: &Pipeline, email: &str) -> stripe2hubspot::hubspot_crm::fake::FakeObject {
    pipeline.hubspot.contact_by_email(email).unwrap_or_else(|| {
        panic!(
            "a contact with the email; have {:?}",
            pipeline.hubspot.contacts()
        )
    })
}

fn prop<'a>(object: &'a stripe2hubspot::hubspot_crm::fake::FakeObject, name: &str) -> &'a str {
    object.property(name).unwrap_or("")
}

#[tokio::test]
async fn each_subscription_property_lands_on_the_contact() {
    let mut pipeline = started(|b| b).await;
    let email = "ada@example.com";
    let mut pro = Sub::monthly("sub_pro", 4900);
    deliver(
        &pipeline,
        &[
            customer_event("evt_c1", "customer.created", T0, CUSTOMER, email),
            pro.event("evt_s1", "customer.subscription.created", T0 + 1),
        ],
    )
    .await;
    for property in stripe2hubspot::map::SUBSCRIPTION_CONTACT_PROPERTIES {
        assert!(
            pipeline.hubspot.has_property("contacts", property),
            "the bootstrap created {property}"
        );
    }
    let c = contact(&pipeline, email);
    assert_eq!(prop(&c, "firstname"), "Ada");
    assert_eq!(prop(&c, "stripe_subscription_status"), "active");
    assert_eq!(prop(&c, "stripe_mrr"), "49.00");
    assert_eq!(prop(&c, "stripe_arr"), "588.00");
    assert_eq!(prop(&c, "stripe_mrr_currency"), "USD");
    assert_eq!(prop(&c, "stripe_active_subscriptions"), "1");
    assert_eq!(prop(&c, "stripe_plan"), "Pro monthly");
    assert_eq!(prop(&c, "stripe_next_renewal_date"), "2025-12-01T12:26:40Z");
    assert_eq!(prop(&c, "stripe_trial_end_date"), "");
    assert_eq!(prop(&c, "stripe_cancel_at_date"), "");
    assert_eq!(prop(&c, "stripe_churn_date"), "");

    // An upgrade moves MRR: 3 seats.
    pro.items = vec![(Some(4900), 3, "Pro monthly")];
    deliver(
        &pipeline,
        &[pro.event("evt_s2", "customer.subscription.updated", T0 + 100)],
    )
    .await;
    let c = contact(&pipeline, email);
    assert_eq!(prop(&c, "stripe_mrr"), "147.00");
    assert_eq!(prop(&c, "stripe_arr"), "1764.00");

    // A trial beside it counts 0 and shows its end.
    let mut trial = Sub::monthly("sub_trial", 1000);
    trial.status = "trialing";
    trial.items = vec![(Some(1000), 1, "Add-on")];
    trial.trial_end = Some(T0 + 14 * 86_400);
    deliver(
        &pipeline,
        &[trial.event("evt_t1", "customer.subscription.created", T0 + 200)],
    )
    .await;
    let c = contact(&pipeline, email);
    assert_eq!(
        prop(&c, "stripe_subscription_status"),
        "active",
        "the most alive"
    );
    assert_eq!(prop(&c, "stripe_mrr"), "147.00", "a trial counts 0");
    assert_eq!(prop(&c, "stripe_active_subscriptions"), "2");
    assert_eq!(prop(&c, "stripe_plan"), "Add-on; Pro monthly");
    assert_eq!(prop(&c, "stripe_trial_end_date"), "2025-11-15T12:26:40Z");

    // The trial ends without paying; the plan is canceled at period end.
    trial.status = "canceled";
    trial.ended_at = Some(T0 + 14 * 86_400);
    pro.cancel_at_period_end = true;
    deliver(
        &pipeline,
        &[
            trial.event("evt_t2", "customer.subscription.deleted", T0 + 14 * 86_400),
            pro.event("evt_s3", "customer.subscription.updated", T0 + 15 * 86_400),
        ],
    )
    .await;
    let c = contact(&pipeline, email);
    assert_eq!(prop(&c, "stripe_active_subscriptions"), "1");
    assert_eq!(prop(&c, "stripe_trial_end_date"), "");
    assert_eq!(prop(&c, "stripe_cancel_at_date"), "2025-12-01T12:26:40Z");
    assert_eq!(prop(&c, "stripe_churn_date"), "", "still live");

    // The period ends: churned.
    pro.status = "canceled";
    pro.ended_at = Some(T0 + MONTH);
    deliver(
        &pipeline,
        &[pro.event("evt_s4", "customer.subscription.deleted", T0 + MONTH)],
    )
    .await;
    let c = contact(&pipeline, email);
    assert_eq!(prop(&c, "stripe_subscription_status"), "canceled");
    assert_eq!(prop(&c, "stripe_active_subscriptions"), "0");
    assert_eq!(prop(&c, "stripe_churn_date"), "2025-12-01T12:26:40Z");
    assert_eq!(prop(&c, "stripe_cancel_at_date"), "");
    assert_eq!(
        pipeline.hubspot.contacts().len(),
        1,
        "one customer, one contact"
    );
    pipeline.shutdown().await;
}

#[tokio::test]
async fn an_email_change_keeps_one_contact_and_the_lifetime_value_whole() {
    let mut pipeline = started(|b| b).await;
    deliver(
        &pipeline,
        &[
            customer_event(
                "evt_c1",
                "customer.created",
                T0,
                CUSTOMER,
                "old@example.com",
            ),
            payment(1, "old@example.com", 1000, T0 + 10).charge_succeeded(),
        ],
    )
    .await;
    let before = contact(&pipeline, "old@example.com");
    assert_eq!(
        recorded_contact_id(&pipeline).await.as_deref(),
        Some(before.id.as_str())
    );
    pipeline.hubspot.clear_requests();

    deliver(
        &pipeline,
        &[
            customer_event(
                "evt_c2",
                "customer.updated",
                T0 + 20,
                CUSTOMER,
                "new@example.com",
            ),
            payment(2, "new@example.com", 2500, T0 + 30).charge_succeeded(),
        ],
    )
    .await;
    let hubspot = &pipeline.hubspot;
    assert_eq!(hubspot.contacts().len(), 1, "{:?}", hubspot.contacts());
    let after = contact(&pipeline, "new@example.com");
    assert_eq!(after.id, before.id, "the known contact took the new email");
    assert_eq!(prop(&after, "stripe_payment_count"), "2");
    assert_eq!(prop(&after, "stripe_lifetime_value"), "35.00");
    assert_eq!(
        hubspot.request_count("POST", CONTACTS_UPSERT),
        0,
        "written by id only"
    );
    assert!(hubspot.request_count("POST", CONTACTS_UPDATE) >= 1);
    for deal in hubspot.deals() {
        assert!(hubspot.are_associated("deals", &deal.id, "contacts", &after.id));
    }
    pipeline.shutdown().await;
}

/// A contact `taken@` that is not the customer's, made by hand in HubSpot.
async fn someone_else(pipeline: &Pipeline) -> String {
    let input = ObjectInput::new(Default::default())
        .property("email", "taken@example.com")
        .property("firstname", "Someone");
    pipeline
        .hubspot
        .client()
        .unwrap()
        .contacts()
        .create(&input)
        .await
        .unwrap()
        .id
}

async fn email_conflict(merge: bool) {
    let mut pipeline = started(|b| b.merge_contacts(merge)).await;
    deliver(
        &pipeline,
        &[customer_event(
            "evt_c1",
            "customer.created",
            T0,
            CUSTOMER,
            "ada@example.com",
        )],
    )
    .await;
    let known = contact(&pipeline, "ada@example.com").id;
    let other = someone_else(&pipeline).await;
    pipeline.hubspot.clear_requests();

    let moved = customer_event(
        "evt_c2",
        "customer.updated",
        T0 + 20,
        CUSTOMER,
        "taken@example.com",
    );
    deliver(&pipeline, std::slice::from_ref(&moved)).await;
    let after_first = pipeline.hubspot.request_counts();
    // The same state again (a redelivery with a new id, a later event changing nothing).
    let mut again = moved.clone();
    again["id"] = json!("evt_c3");
    again["created"] = json!(T0 + 30);
    deliver(&pipeline, &[again]).await;
    assert_eq!(
        pipeline.hubspot.request_counts(),
        after_first,
        "nothing written twice"
    );
    let alerts: Vec<_> = pipeline
        .alerts
        .alerts()
        .into_iter()
        .filter(|a| a.kind == AlertKind::EmailTaken)
        .collect();
    let hubspot = &pipeline.hubspot;
    if merge {
        assert!(alerts.is_empty(), "{alerts:?}");
        assert_eq!(hubspot.request_count("POST", CONTACTS_MERGE), 1);
        let contacts = hubspot.contacts();
        assert_eq!(contacts.len(), 1, "merged: {contacts:?}");
        let survivor = &contacts[0];
        assert_eq!(prop(survivor, "email"), "taken@example.com");
        assert_eq!(prop(survivor, "firstname"), "Ada");
        assert_eq!(
            recorded_contact_id(&pipeline).await.as_deref(),
            Some(survivor.id.as_str())
        );
    } else {
        assert_eq!(alerts.len(), 1, "{alerts:?}");
        let message = &alerts[0].message;
        for needle in [
            known.as_str(),
            other.as_str(),
            "STRIPE2HUBSPOT_MERGE_CONTACTS",
            CUSTOMER,
        ] {
            assert!(message.contains(needle), "{needle} in {message}");
        }
        assert!(
            !message.contains("taken@"),
            "no email in an alert: {message}"
        );
        assert_eq!(hubspot.request_count("POST", CONTACTS_MERGE), 0);
        assert_eq!(hubspot.contacts().len(), 2);
        let kept = hubspot.object("contacts", &known).unwrap();
        assert_eq!(prop(&kept, "email"), "ada@example.com", "kept its email");
        assert_eq!(
            prop(&hubspot.object("contacts", &other).unwrap(), "firstname"),
            "Someone"
        );
        // The customer's contact is still written (without the email): a payment lands on it.
        deliver(
            &pipeline,
            &[payment(5, "taken@example.com", 700, T0 + 40).charge_succeeded()],
        )
        .await;
        let kept = pipeline.hubspot.object("contacts", &known).unwrap();
        assert_eq!(prop(&kept, "stripe_payment_count"), "1");
        assert_eq!(prop(&kept, "email"), "ada@example.com");
        let alerts = pipeline.alerts.alerts();
        assert_eq!(
            alerts
                .iter()
                .filter(|a| a.kind == AlertKind::EmailTaken)
                .count(),
            1,
            "alerted once"
        );
    }
    pipeline.shutdown().await;
}

#[tokio::test]
async fn a_conflicting_email_alerts_once_and_writes_nothing_twice() {
    email_conflict(false).await;
}

#[tokio::test]
async fn a_conflicting_email_is_merged_when_asked() {
    email_conflict(true).await;
}

#[tokio::test]
async fn a_contact_deleted_by_a_user_is_created_again_on_the_next_change() {
    let mut pipeline = started(|b| b).await;
    deliver(
        &pipeline,
        &[
            customer_event(
                "evt_c1",
                "customer.created",
                T0,
                CUSTOMER,
                "ada@example.com",
            ),
            payment(1, "ada@example.com", 1000, T0 + 10).charge_succeeded(),
        ],
    )
    .await;
    let first = contact(&pipeline, "ada@example.com").id;
    assert!(pipeline.hubspot.delete_contact(&first));
    deliver(
        &pipeline,
        &[Sub::monthly("sub_1", 4900).event("evt_s1", "customer.subscription.created", T0 + 20)],
    )
    .await;
    let again = contact(&pipeline, "ada@example.com");
    assert_ne!(again.id, first);
    assert_eq!(prop(&again, "stripe_mrr"), "49.00");
    assert_eq!(
        prop(&again, "stripe_payment_count"),
        "1",
        "the rollups come back whole"
    );
    assert_eq!(
        recorded_contact_id(&pipeline).await.as_deref(),
        Some(again.id.as_str())
    );
    pipeline.shutdown().await;
}

#[tokio::test]
async fn a_contact_merged_by_a_user_is_followed() {
    let mut pipeline = started(|b| b).await;
    deliver(
        &pipeline,
        &[customer_event(
            "evt_c1",
            "customer.created",
            T0,
            CUSTOMER,
            "ada@example.com",
        )],
    )
    .await;
    let ours = contact(&pipeline, "ada@example.com").id;
    let other = someone_else(&pipeline).await;
    let survivor = pipeline
        .hubspot
        .merge_contacts(&other, &ours)
        .expect("merged");
    deliver(
        &pipeline,
        &[Sub::monthly("sub_1", 4900).event("evt_s1", "customer.subscription.created", T0 + 20)],
    )
    .await;
    let hubspot = &pipeline.hubspot;
    assert_eq!(hubspot.contacts().len(), 1, "{:?}", hubspot.contacts());
    let merged = hubspot.object("contacts", &survivor).unwrap();
    assert_eq!(
        prop(&merged, "stripe_mrr"),
        "49.00",
        "written to the surviving record"
    );
    assert_eq!(
        recorded_contact_id(&pipeline).await.as_deref(),
        Some(survivor.as_str())
    );
    assert_eq!(
        hubspot.request_count("POST", CONTACTS_UPSERT),
        1,
        "the first write only"
    );
    pipeline.shutdown().await;
}

/// Every text and blob in every table of the SQLite file that contains `needle`.
async fn tables_holding(pipeline: &Pipeline, needle: &str) -> Vec<String> {
    use sqlx::{Connection, Row};
    let url = format!("sqlite://{}", pipeline.db_path().display());
    let mut db = sqlx::SqliteConnection::connect(&url).await.unwrap();
    let tables: Vec<String> = sqlx::query("SELECT name FROM sqlite_master WHERE type = 'table'")
        .fetch_all(&mut db)
        .await
        .unwrap()
        .iter()
        .map(|row| row.get::<String, _>(0))
        .collect();
    assert!(tables.len() > 3, "{tables:?}");
    let mut found = Vec::new();
    for table in tables {
        let rows = sqlx::query(&format!("SELECT * FROM \"{table}\""))
            .fetch_all(&mut db)
            .await
            .unwrap();
        for row in rows {
            for i in 0..row.len() {
                let text = row
                    .try_get::<Option<String>, _>(i)
                    .ok()
                    .flatten()
                    .or_else(|| {
                        row.try_get::<Option<Vec<u8>>, _>(i)
                            .ok()
                            .flatten()
                            .map(|b| String::from_utf8_lossy(&b).into_owned())
                    });
                if text.is_some_and(|t| t.to_lowercase().contains(needle)) {
                    found.push(table.clone());
                }
            }
        }
    }
    found
}

async fn deleted_customer(gdpr: bool) {
    let mut pipeline = started(|b| b.gdpr_delete(gdpr)).await;
    let paid = payment(1, "ada@example.com", 1000, T0 + 10);
    deliver(
        &pipeline,
        &[
            customer_event(
                "evt_c1",
                "customer.created",
                T0,
                CUSTOMER,
                "ada@example.com",
            ),
            paid.charge_succeeded(),
        ],
    )
    .await;
    let id = contact(&pipeline, "ada@example.com").id;
    assert!(
        !tables_holding(&pipeline, "ada@example.com")
            .await
            .is_empty(),
        "the store held it"
    );
    deliver(
        &pipeline,
        &[customer_event(
            "evt_c9",
            "customer.deleted",
            T0 + 50,
            CUSTOMER,
            "ada@example.com",
        )],
    )
    .await;
    let hubspot = &pipeline.hubspot;
    assert_eq!(hubspot.deals().len(), 1, "the deal stays");
    if gdpr {
        let deletions = hubspot.gdpr_deletions();
        assert_eq!(deletions.len(), 1, "{deletions:?}");
        assert_eq!(deletions[0].object_id, id, "by the recorded id");
        assert_eq!(deletions[0].deleted_id.as_deref(), Some(id.as_str()));
        assert!(hubspot.contacts().is_empty());
        assert_eq!(
            tables_holding(&pipeline, "ada@example.com").await,
            Vec::<String>::new()
        );
        assert_eq!(
            tables_holding(&pipeline, "lovelace").await,
            Vec::<String>::new(),
            "nor the name"
        );
        let entry = pipeline
            .store
            .state
            .ledger_entry(paid.payment_intent.as_deref().unwrap())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(entry.row.email(), None);
        assert_eq!(entry.row.captured(), Some(1000), "amounts stay");
        // A later event without the person does not bring them back.
        let mut sub = Sub::monthly("sub_1", 4900);
        sub.status = "canceled";
        sub.ended_at = Some(T0 + 60);
        deliver(
            &pipeline,
            &[sub.event("evt_s9", "customer.subscription.deleted", T0 + 60)],
        )
        .await;
        assert!(pipeline.hubspot.contacts().is_empty());
    } else {
        assert!(hubspot.gdpr_deletions().is_empty());
        assert_eq!(hubspot.contacts().len(), 1, "only marked deleted");
        let customers = pipeline
            .store
            .state
            .customers(&[CUSTOMER.to_owned()])
            .await
            .unwrap();
        assert!(customers[CUSTOMER].row.is_deleted());
    }
    pipeline.shutdown().await;
}

#[tokio::test]
async fn gdpr_delete_erases_the_contact_and_the_person() {
    deleted_customer(true).await;
}

#[tokio::test]
async fn without_the_gdpr_flag_a_deleted_customer_is_only_marked() {
    deleted_customer(false).await;
}

#[tokio::test]
async fn customer_deleted_for_an_unknown_customer_is_skipped() {
    let mut pipeline = started(|b| b.gdpr_delete(true)).await;
    deliver(
        &pipeline,
        &[customer_event(
            "evt_c9",
            "customer.deleted",
            T0,
            "cus_Unknown0001",
            "who@example.com",
        )],
    )
    .await;
    let stats = pipeline.store.admin.stats().await.unwrap();
    assert_eq!((stats.done, stats.dead), (1, 0));
    assert!(pipeline.hubspot.gdpr_deletions().is_empty());
    assert!(pipeline.hubspot.contacts().is_empty());
    assert_eq!(pipeline.engine.as_ref().unwrap().metrics().skipped, 1);
    pipeline.shutdown().await;
}

#[tokio::test]
async fn odd_prices_have_a_clear_outcome_and_lose_nothing() {
    let mut pipeline = started(|b| b).await;
    let mut tiered = Sub::monthly("sub_tiered", 0);
    tiered.items = vec![(None, 5, "Tiered seats")];
    tiered.tiered = true;
    let mut zero = Sub::monthly("sub_zero", 4900);
    zero.items = vec![(Some(4900), 0, "Unused seats")];
    deliver(
        &pipeline,
        &[
            customer_event(
                "evt_c1",
                "customer.created",
                T0,
                CUSTOMER,
                "ada@example.com",
            ),
            tiered.event("evt_s1", "customer.subscription.created", T0 + 1),
            zero.event("evt_s2", "customer.subscription.created", T0 + 2),
        ],
    )
    .await;
    let c = contact(&pipeline, "ada@example.com");
    assert_eq!(prop(&c, "stripe_active_subscriptions"), "2", "both kept");
    assert_eq!(
        prop(&c, "stripe_mrr"),
        "0.00",
        "tiered left out, zero seats count 0"
    );

    // A price in a currency with three decimals: 12.345 KWD a month.
    let gulf = "cus_Kwd000000001";
    let mut kwd = Sub::monthly("sub_kwd", 12_345);
    kwd.customer = gulf;
    kwd.currency = "kwd";
    kwd.items = vec![(Some(12_345), 1, "Gulf plan")];
    deliver(
        &pipeline,
        &[
            customer_event("evt_k1", "customer.created", T0, gulf, "gulf@example.com"),
            kwd.event("evt_s3", "customer.subscription.created", T0 + 3),
        ],
    )
    .await;
    let c = contact(&pipeline, "gulf@example.com");
    assert_eq!(prop(&c, "stripe_mrr_currency"), "KWD");
    assert_eq!(prop(&c, "stripe_mrr"), "12.345");
    assert_eq!(prop(&c, "stripe_arr"), "148.140");
    let stats = pipeline.store.admin.stats().await.unwrap();
    assert_eq!(stats.dead, 0);
    pipeline.shutdown().await;
}

/// Two events of one subscription in the same second disagree: with a Stripe client the
/// engine reads the subscription as it is now and writes that.
#[tokio::test]
async fn a_tie_between_same_second_subscription_events_is_settled_by_reading_stripe() {
    use wiremock::matchers::{method, path};
    use wiremock::{Mock, MockServer, ResponseTemplate};

    let stripe = MockServer::start().await;
    let mut now = Sub::monthly("sub_tied", 4900);
    now.items = vec![(Some(4900), 3, "Pro monthly")];
    let read =
        now.event("evt_unused", "customer.subscription.updated", T0)["data"]["object"].clone();
    Mock::given(method("GET"))
        .and(path("/v1/subscriptions/sub_tied"))
        .respond_with(ResponseTemplate::new(200).set_body_json(read))
        .expect(1..)
        .mount(&stripe)
        .await;
    let one = Sub::monthly("sub_tied", 4900);
    let mut two = one.clone();
    two.items = vec![(Some(4900), 2, "Pro monthly")];
    // Both stored before the engine sees either, so one batch merges the tie.
    let mut pipeline = Pipeline::new(FakeHubSpot::start().await).await;
    for event in [
        customer_event(
            "evt_c1",
            "customer.created",
            T0,
            CUSTOMER,
            "ada@example.com",
        ),
        one.event("evt_tie_a", "customer.subscription.updated", T0 + 5),
        two.event("evt_tie_b", "customer.subscription.updated", T0 + 5),
    ] {
        assert_eq!(pipeline.send(&event).await, 200);
    }
    let client = stripe2hubspot_stripe::StripeClient::builder("sk_test_tie")
        .base_url(stripe.uri())
        .build()
        .unwrap();
    pipeline.start_engine(|b| b.concurrency(1).stripe(client));
    let stats = pipeline.drained(DRAIN).await;
    assert_eq!((stats.done, stats.dead), (3, 0), "{stats:?}");
    let c = contact(&pipeline, "ada@example.com");
    assert_eq!(
        prop(&c, "stripe_mrr"),
        "147.00",
        "Stripe's current 3 seats, not either event"
    );
    pipeline.shutdown().await;
}

/// Webhooks on current API versions name a subscription's discounts by id only: with a Stripe
/// client the engine reads the subscription (discounts expanded) and MRR takes the coupon off.
#[tokio::test]
async fn discounts_sent_as_ids_only_are_read_from_stripe_for_the_mrr() {
    use wiremock::matchers::{method, path};
    use wiremock::{Mock, MockServer, ResponseTemplate};

    let sub = Sub::monthly("sub_disc", 10000);
    let mut webhook = sub.event("evt_disc", "customer.subscription.created", T0 + 5);
    webhook["data"]["object"]["discounts"] = json!(["di_quarter"]);
    let mut read = webhook["data"]["object"].clone();
    read["discounts"] = json!([{"id": "di_quarter", "object": "discount",
        "source": {"type": "coupon", "coupon": {"id": "QUARTER", "object": "coupon", "percent_off": 25.0}}}]);
    let stripe = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/v1/subscriptions/sub_disc"))
        .respond_with(ResponseTemplate::new(200).set_body_json(read))
        .expect(1..)
        .mount(&stripe)
        .await;
    let client = stripe2hubspot_stripe::StripeClient::builder("sk_test_discounts")
        .base_url(stripe.uri())
        .build()
        .unwrap();
    let mut pipeline = started(|b| b.concurrency(1).stripe(client)).await;
    deliver(
        &pipeline,
        &[
            customer_event(
                "evt_c1",
                "customer.created",
                T0,
                CUSTOMER,
                "ada@example.com",
            ),
            webhook.clone(),
        ],
    )
    .await;
    let c = contact(&pipeline, "ada@example.com");
    assert_eq!(
        prop(&c, "stripe_mrr"),
        "75.00",
        "100.00 less the coupon's 25%"
    );
    pipeline.shutdown().await;

    // Without a Stripe client the id says nothing: the discount takes nothing off.
    let mut pipeline = started(|b| b).await;
    deliver(
        &pipeline,
        &[
            customer_event(
                "evt_c1",
                "customer.created",
                T0,
                CUSTOMER,
                "ada@example.com",
            ),
            webhook,
        ],
    )
    .await;
    assert_eq!(
        prop(&contact(&pipeline, "ada@example.com"), "stripe_mrr"),
        "100.00"
    );
    pipeline.shutdown().await;
}

/// A card charge often names no email: a customer's payment then counts on the customer's
/// contact instead of waiting for one.
#[tokio::test]
async fn a_customer_payment_without_an_email_counts_on_the_customers_contact() {
    let mut pipeline = started(|b| b).await;
    let mut charge = payment(1, "unused@example.com", 2500, T0 + 10);
    charge.email = None;
    deliver(
        &pipeline,
        &[
            customer_event(
                "evt_c1",
                "customer.created",
                T0,
                CUSTOMER,
                "ada@example.com",
            ),
            charge.charge_succeeded(),
        ],
    )
    .await;
    assert_eq!(pipeline.store.state.waiting_count().await.unwrap(), 0);
    let c = contact(&pipeline, "ada@example.com");
    assert_eq!(prop(&c, "stripe_payment_count"), "1");
    assert_eq!(prop(&c, "stripe_lifetime_value"), "25.00");
    let deals = pipeline.hubspot.deals();
    assert_eq!(deals.len(), 1);
    assert!(pipeline
        .hubspot
        .are_associated("deals", &deals[0].id, "contacts", &c.id));
    pipeline.shutdown().await;
}

/// Reconcile found the contact drifted (a user edited it): a customer repair job writes it
/// again even though the store's mark says HubSpot holds that state.
#[tokio::test]
async fn a_customer_repair_job_writes_the_contact_again() {
    let mut pipeline = started(|b| b).await;
    deliver(
        &pipeline,
        &[
            customer_event(
                "evt_c1",
                "customer.created",
                T0,
                CUSTOMER,
                "ada@example.com",
            ),
            Sub::monthly("sub_1", 4900).event("evt_s1", "customer.subscription.created", T0 + 1),
        ],
    )
    .await;
    let id = contact(&pipeline, "ada@example.com").id;
    let edit = std::collections::BTreeMap::from([("stripe_mrr".to_owned(), "1.00".to_owned())]);
    pipeline
        .hubspot
        .client()
        .unwrap()
        .contacts()
        .update(
            &stripe2hubspot::hubspot_crm::ObjectRef::id(id.clone()),
            &edit,
        )
        .await
        .unwrap();
    let entry = pipeline
        .store
        .state
        .customers(&[CUSTOMER.to_owned()])
        .await
        .unwrap()[CUSTOMER]
        .clone();
    assert!(pipeline
        .store
        .state
        .reset_customer_written(CUSTOMER, entry.version)
        .await
        .unwrap());
    pipeline
        .store
        .queue
        .enqueue(stripe2hubspot::engine::customer_repair_job(
            CUSTOMER,
            std::time::SystemTime::now(),
        ))
        .await
        .unwrap();
    let stats = pipeline.drained(DRAIN).await;
    assert_eq!(stats.dead, 0);
    let c = pipeline.hubspot.object("contacts", &id).unwrap();
    assert_eq!(prop(&c, "stripe_mrr"), "49.00", "repaired");
    let entry = pipeline
        .store
        .state
        .customers(&[CUSTOMER.to_owned()])
        .await
        .unwrap()[CUSTOMER]
        .clone();
    assert!(!entry.is_unwritten());
    pipeline.shutdown().await;
}

/// The customer ledger and identity by customer on PostgreSQL: an email change keeps one
/// contact, and GDPR deletion leaves the deal. Skipped without
/// `STRIPE2HUBSPOT_TEST_POSTGRES_URL`.
#[cfg(feature = "postgres")]
#[tokio::test]
async fn on_postgres_an_email_change_keeps_one_contact_and_gdpr_deletes_it() {
    use stripe2hubspot::queue::{PostgresOptions, PostgresQueue, Store};

    let Ok(url) = std::env::var("STRIPE2HUBSPOT_TEST_POSTGRES_URL") else {
        assert!(std::env::var_os("STRIPE2HUBSPOT_REQUIRE_POSTGRES").is_none());
        return;
    };
    let options = PostgresOptions {
        schema: Some(format!("s2h_test_{}_customers", std::process::id())),
        ..PostgresOptions::default()
    };
    let store = Store::new(PostgresQueue::connect_with(&url, options).await.unwrap());
    let dir = tempfile::tempdir().unwrap();
    let mut pipeline = Pipeline::on_store(FakeHubSpot::start().await, store, dir).await;
    pipeline.start_engine(|b| b.concurrency(1).gdpr_delete(true));
    deliver(
        &pipeline,
        &[
            customer_event(
                "evt_c1",
                "customer.created",
                T0,
                CUSTOMER,
                "old@example.com",
            ),
            payment(1, "old@example.com", 1000, T0 + 10).charge_succeeded(),
            customer_event(
                "evt_c2",
                "customer.updated",
                T0 + 20,
                CUSTOMER,
                "new@example.com",
            ),
            payment(2, "new@example.com", 2500, T0 + 30).charge_succeeded(),
        ],
    )
    .await;
    let contacts = pipeline.hubspot.contacts();
    assert_eq!(contacts.len(), 1, "{contacts:?}");
    let after = contact(&pipeline, "new@example.com");
    assert_eq!(prop(&after, "stripe_lifetime_value"), "35.00");
    deliver(
        &pipeline,
        &[customer_event(
            "evt_c9",
            "customer.deleted",
            T0 + 50,
            CUSTOMER,
            "new@example.com",
        )],
    )
    .await;
    assert_eq!(pipeline.hubspot.gdpr_deletions().len(), 1);
    assert!(pipeline.hubspot.contacts().is_empty());
    assert_eq!(pipeline.hubspot.deals().len(), 2, "the deals stay");
    pipeline.shutdown().await;
}
