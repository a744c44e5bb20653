//! The whole pipeline on your machine, no accounts needed: an embedded SQLite queue, the fake
//! HubSpot, the axum webhook server and the sync engine. Stripe is played by signed test
//! events, exactly as Stripe's "Send test webhook" would deliver them.
//!
//! ```sh
//! cargo run --example demo
//! ```

use std::error::Error;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

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
        let body = event.to_string();
        let response = http
            .post(&url)
            .header(SIGNATURE_HEADER, sign_now(body.as_bytes(), DEMO_SECRET))
            .body(body)
            .send()
            .await?;
        println!(
            "  POST {what:<48} -> {} {}",
            response.status().as_u16(),
            response.text().await?
        );
    }

    let started = Instant::now();
    loop {
        let stats = store.admin.stats().await?;
        if stats.ready + stats.delayed + stats.leased == 0 {
            break;
        }
        if started.elapsed() > Duration::from_secs(60) {
            return Err(format!("the queue did not drain within 60 s: {stats:?}").into());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let _ = stop.send(());
    worker.await?;

    println!("\nHubSpot now holds:");
    for contact in hubspot.contacts() {
        print_object("contact", &contact);
        for deal in hubspot.deals() {
            if hubspot.are_associated("deals", &deal.id, "contacts", &contact.id) {
                print_object("  deal", &deal);
            }
        }
    }
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
