//! The whole pipeline on your machine, no accounts needed: an embedded SQLite queue, the fake
//! HubSpot, the axum webhook server and the sync engine. Stripe is played by signed test
//! events, exactly as Stripe's "Send test webhook" would deliver them. After the payments
//! sync, a partial refund arrives: the deal's amount and status and the contact's lifetime
//! value follow it. Then Tony subscribes monthly, upgrades and cancels at the period end: the
//! contact's subscription status, MRR, cancellation and churn dates follow his subscription.
//!
//! ```sh
//! cargo run --example demo
//! ```

use std::error::Error;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use stripe2hubspot::queue::Store;

use stripe2hubspot::hubspot_crm::fake::{FakeHubSpot, FakeObject};
use stripe2hubspot::hubspot_crm::RateLimit;
use stripe2hubspot::ingest::{SIGNATURE_HEADER, WEBHOOK_PATH};
use stripe2hubspot::testkit::{sign_now, Payment};
use stripe2hubspot::{Config, Service};

const DEMO_SECRET: &str = "whsec_demo_secret_for_local_runs";

#[tokio::main]
async fn main() -> Result<(), Box<dyn Error>> {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "warn".into()),
        )
        .init();

    let dir = tempfile::tempdir()?;
    let hubspot = FakeHubSpot::start().await;
    let config = Config {
        webhook_secrets: vec![DEMO_SECRET.to_owned()],
        hubspot_token: hubspot.token(),
        hubspot_base_url: hubspot.base_url(),
        hubspot_api_version: Default::default(),
        queue_url: format!(
            "sqlite://{}",
            dir.path().join("stripe2hubspot.db").display()
        ),
        bind_addr: SocketAddr::from(([127, 0, 0, 1], 0)),
        rate_limit: RateLimit::default(),
        slack_webhook_url: None,
        dead_letter_retention: stripe2hubspot::engine::DEFAULT_DEAD_LETTER_RETENTION,
        merge_contacts: false,
        gdpr_delete: false,
    };
    let Service {
        ingest,
        engine,
        store,
    } = Service::start(&config).await?;
    let router = stripe2hubspot::ingest::axum::router(ingest.clone());
    let listener = tokio::net::TcpListener::bind(config.bind_addr).await?;
    let url = format!("http://{}{WEBHOOK_PATH}", listener.local_addr()?);
    tokio::spawn(async move { axum::serve(listener, router).await });
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let handle = engine.handle();
    let worker = tokio::spawn(async move {
        engine
            .run(async {
                let _ = stopped.await;
            })
            .await
    });

    println!(
        "stripe2hubspot demo: webhook endpoint {url}, fake HubSpot at {}\n",
        hubspot.base_url()
    );
    let tony = Payment::sample();
    let mut kenji = Payment::numbered(
        2,
        "  Kenji.Sato@Example.JP ",
        5000,
        "jpy",
        tony.created + 60,
    );
    kenji.name = Some("Kenji Sato".into());
    let deliveries = [
        (
            "charge.succeeded (Tony Stark's sample payment)",
            tony.charge_succeeded(),
        ),
        (
            "the same event again (Stripe redelivers)",
            tony.charge_succeeded(),
        ),
        (
            "payment_intent.succeeded of Tony's payment",
            tony.payment_intent_succeeded("evt_demo_pi_tony"),
        ),
        ("charge.succeeded of 5000 JPY", kenji.charge_succeeded()),
    ];
    let http = reqwest::Client::new();
    for (what, event) in deliveries {
        deliver(&http, &url, what, &event).await?;
    }
    drained(&store).await?;
    println!("\nHubSpot now holds:");
    for contact in hubspot.contacts() {
        print_object("contact", &contact);
        for deal in hubspot.deals() {
            if hubspot.are_associated("deals", &deal.id, "contacts", &contact.id) {
                print_object("  deal", &deal);
            }
        }
    }
    // Each payer's email domain names a company (free-mail domains name none).
    for company in hubspot.companies() {
        print_object("company", &company);
        let members = hubspot.associated("companies", &company.id, "contacts");
        let deals = hubspot.associated("companies", &company.id, "deals");
        println!(
            "  associated with {} contact(s) and {} deal(s)",
            members.len(),
            deals.len()
        );
    }
    // Stripe refunds 49.00 of Tony's 149.00: the deal and the contact follow the ledger.
    let deal_before = tony_deal(&hubspot, &tony);
    let contact_before = hubspot.contact_by_email("tony@starkindustries.com");
    let company_before = stark_industries(&hubspot);
    println!();
    deliver(
        &http,
        &url,
        "charge.refunded (49.00 of Tony's 149.00)",
        &refunded(&tony, 4900),
    )
    .await?;
    drained(&store).await?;
    let deal_after = tony_deal(&hubspot, &tony);
    let contact_after = hubspot.contact_by_email("tony@starkindustries.com");
    let company_after = stark_industries(&hubspot);
    println!("\nAfter the refund:");
    for name in [
        "amount",
        "stripe_amount_refunded",
        "stripe_payment_status",
        "dealstage",
    ] {
        print_change("deal", name, deal_before.as_ref(), deal_after.as_ref());
    }
    for name in ["stripe_lifetime_value", "stripe_payment_count"] {
        print_change(
            "contact",
            name,
            contact_before.as_ref(),
            contact_after.as_ref(),
        );
    }
    print_change(
        "company",
        "stripe_lifetime_value",
        company_before.as_ref(),
        company_after.as_ref(),
    );
    println!(
        "  payments waiting in the ledger: {}",
        store.state.waiting_count().await?
    );

    // Tony subscribes to Pro monthly, upgrades to Pro Plus, then cancels at the period end.
    let customer = tony.customer.clone().unwrap_or_default();
    let start = tony.created + 7_200;
    let steps = [
        (
            "customer.subscription.created (Pro, 49.00 USD a month)",
            subscription(
                &customer,
                "created",
                start,
                (start, "Pro", 4900),
                false,
                None,
            ),
        ),
        (
            "customer.subscription.updated (upgrade to Pro Plus, 99.00)",
            subscription(
                &customer,
                "updated",
                start + 600,
                (start, "Pro Plus", 9900),
                false,
                None,
            ),
        ),
        (
            "customer.subscription.updated (cancel at period end)",
            subscription(
                &customer,
                "updated",
                start + 1_200,
                (start, "Pro Plus", 9900),
                true,
                None,
            ),
        ),
        (
            "customer.subscription.deleted (the period ended)",
            subscription(
                &customer,
                "deleted",
                start + MONTH,
                (start, "Pro Plus", 9900),
                true,
                Some(start + MONTH),
            ),
        ),
    ];
    println!("\nTony's subscription:");
    let mut before = hubspot.contact_by_email("tony@starkindustries.com");
    for (what, event) in steps {
        deliver(&http, &url, what, &event).await?;
        drained(&store).await?;
        let after = hubspot.contact_by_email("tony@starkindustries.com");
        for name in SUBSCRIPTION_PROPERTIES {
            let value =
                |o: Option<&FakeObject>| o.and_then(|o| o.property(name)).map(str::to_owned);
            if value(before.as_ref()) != value(after.as_ref()) {
                print_change("contact", name, before.as_ref(), after.as_ref());
            }
        }
        before = after;
    }
    let _ = stop.send(());
    worker.await?;

    let received = ingest.stats();
    let metrics = handle.metrics();
    println!(
        "\nSummary: {} webhooks received, {} duplicates ignored, {} events synced, {} contacts and {} deals in HubSpot, {} HubSpot requests made ({} of them the one-time custom property setup).",
        received.received(),
        received.duplicate,
        metrics.synced,
        hubspot.contacts().len(),
        hubspot.deals().len(),
        hubspot.total_requests(),
        hubspot.request_count("GET", "/crm/properties/2026-09") + hubspot.request_count("POST", "/crm/properties/2026-09"),
    );
    Ok(())
}

fn print_object(kind: &str, object: &FakeObject) {
    println!("{kind} {}", object.id);
    let indent = " ".repeat(kind.len() - kind.trim_start().len() + 4);
    for (name, value) in &object.properties {
        if !name.starts_with("hs_") && name != "createdate" && name != "lastmodifieddate" {
            println!("{indent}{name:<30} {value}");
        }
    }
}

/// Signs and POSTs one event as Stripe would, and prints the answer.
async fn deliver(
    http: &reqwest::Client,
    url: &str,
    what: &str,
    event: &Value,
) -> Result<(), Box<dyn Error>> {
    let body = event.to_string();
    let response = http
        .post(url)
        .header(SIGNATURE_HEADER, sign_now(body.as_bytes(), DEMO_SECRET))
        .body(body)
        .send()
        .await?;
    println!(
        "  POST {what:<48} -> {} {}",
        response.status().as_u16(),
        response.text().await?
    );
    Ok(())
}

/// The company of Tony's email domain.
fn stark_industries(hubspot: &FakeHubSpot) -> Option<FakeObject> {
    hubspot
        .companies()
        .into_iter()
        .find(|c| c.property("domain") == Some("starkindustries.com"))
}

/// Waits until the engine has answered every queued event and written every company.
async fn drained(store: &Store) -> Result<(), Box<dyn Error>> {
    let started = Instant::now();
    loop {
        let stats = store.admin.stats().await?;
        let companies = store.state.dirty_companies(1).await?;
        if stats.ready + stats.delayed + stats.leased == 0 && companies.is_empty() {
            return Ok(());
        }
        if started.elapsed() > Duration::from_secs(60) {
            return Err(format!("the queue did not drain within 60 s: {stats:?}").into());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The `charge.refunded` event Stripe sends when `amount` (minor units) of the payment's
/// charge is refunded.
fn refunded(payment: &Payment, amount: i64) -> Value {
    let mut event = payment.charge_succeeded();
    event["id"] = json!(format!("{}_refund", payment.event_id));
    event["type"] = json!("charge.refunded");
    event["created"] = json!(payment.created + 3_600);
    let charge = &mut event["data"]["object"];
    charge["amount_refunded"] = json!(amount);
    charge["refunded"] = json!(amount >= payment.amount);
    event
}

/// Thirty days, the demo's billing month.
const MONTH: i64 = 30 * 86_400;

/// The contact properties the subscription steps print when they change.
const SUBSCRIPTION_PROPERTIES: [&str; 7] = [
    "stripe_subscription_status",
    "stripe_mrr",
    "stripe_arr",
    "stripe_plan",
    "stripe_next_renewal_date",
    "stripe_cancel_at_date",
    "stripe_churn_date",
];

/// A `customer.subscription.{change}` event of the customer's one monthly subscription, as
/// Stripe renders it on API version 2025-09-30.clover (billing periods on the items).
fn subscription(
    customer: &str,
    change: &str,
    created: i64,
    (start, plan, unit_amount): (i64, &str, i64),
    cancel_at_period_end: bool,
    ended_at: Option<i64>,
) -> Value {
    let period_end = start + MONTH;
    let price = json!({
        "id": format!("price_demo_{unit_amount}"), "object": "price", "currency": "usd",
        "unit_amount": unit_amount, "unit_amount_decimal": unit_amount.to_string(),
        "billing_scheme": "per_unit", "nickname": plan, "product": "prod_demo_pro",
        "type": "recurring",
        "recurring": {"interval": "month", "interval_count": 1, "usage_type": "licensed"}
    });
    let item = json!({
        "id": "si_demo_tony", "object": "subscription_item", "quantity": 1,
        "current_period_start": start, "current_period_end": period_end, "price": price
    });
    let when = |yes: bool, at: i64| if yes { json!(at) } else { Value::Null };
    json!({
        "id": format!("evt_demo_sub_{change}_{created}"), "object": "event",
        "type": format!("customer.subscription.{change}"), "created": created,
        "api_version": "2025-09-30.clover", "livemode": false,
        "data": {"object": {
            "id": "sub_demo_tony", "object": "subscription", "customer": customer,
            "status": if ended_at.is_some() { "canceled" } else { "active" },
            "currency": "usd", "created": start, "start_date": start,
            "cancel_at_period_end": cancel_at_period_end,
            "cancel_at": when(cancel_at_period_end, period_end),
            "canceled_at": when(cancel_at_period_end, created),
            "ended_at": ended_at, "trial_end": null, "discounts": [],
            "items": {"object": "list", "data": [item]}
        }}
    })
}

fn tony_deal(hubspot: &FakeHubSpot, tony: &Payment) -> Option<FakeObject> {
    let key = tony.payment_intent.as_deref().unwrap_or(&tony.charge_id);
    hubspot
        .deals()
        .into_iter()
        .find(|d| d.property("stripe_payment_id") == Some(key))
}

fn print_change(kind: &str, name: &str, before: Option<&FakeObject>, after: Option<&FakeObject>) {
    let value = |o: Option<&FakeObject>| o.and_then(|o| o.property(name)).unwrap_or("-").to_owned();
    println!(
        "  {kind:<7} {name:<26} {:>20} -> {}",
        value(before),
        value(after)
    );
}
