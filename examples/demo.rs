//! The whole pipeline on your machine, no accounts needed: an embedded SQLite queue, the fake
//! HubSpot, the axum webhook server and the sync engine. Stripe is played by signed test
//! events, exactly as Stripe's "Send test webhook" would deliver them. After the payments
//! sync, a partial refund arrives: the deal's amount and status and the contact's lifetime
//! value follow it.
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
    // Stripe refunds 49.00 of Tony's 149.00: the deal and the contact follow the ledger.
    let deal_before = tony_deal(&hubspot, &tony);
    let contact_before = hubspot.contact_by_email("tony@starkindustries.com");
    println!();
    deliver(
        &http,
        &url,
        "charge.refunded (49.00 of Tony's 149.00)",
        &refunded(&tony, 4900),
    )
    .await?;
    drained(&store).await?;
    let _ = stop.send(());
    worker.await?;
    let deal_after = tony_deal(&hubspot, &tony);
    let contact_after = hubspot.contact_by_email("tony@starkindustries.com");
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
    println!(
        "  payments waiting in the ledger: {}",
        store.state.waiting_count().await?
    );

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
            println!("{indent}{name:<22} {value}");
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

/// Waits until the engine has answered every queued event.
async fn drained(store: &Store) -> Result<(), Box<dyn Error>> {
    let started = Instant::now();
    loop {
        let stats = store.admin.stats().await?;
        if stats.ready + stats.delayed + stats.leased == 0 {
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
        "  {kind:<7} {name:<24} {:>18} -> {}",
        value(before),
        value(after)
    );
}
