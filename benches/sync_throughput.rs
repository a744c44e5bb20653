//! How fast payments reach HubSpot under HubSpot's rate limit, three cases side by side in
//! one run:
//!
//! - **create path, new payments**: the engine as shipped. Per batch of 100 new payments, a
//!   contacts batch upsert and a deals batch create with the associations inline: 2 requests.
//! - **upsert path (before deal creation), new payments**: the same burst with the engine's
//!   `#[doc(hidden)]` comparison switch `compare_upsert_only_path(true)` (bench only, not a
//!   supported setting): contacts upsert, deals upsert by `stripe_payment_id`, then an
//!   association call: 3 requests per batch.
//! - **renewals**: the create path on a burst of payments by customers HubSpot already holds
//!   (each paid once before and was synced, untimed), contacts unchanged apart from their
//!   rollups and last charge.
//! - **companies on**: the create path with the company pass (the default mapping), the
//!   customers spread over 400 company domains (10 each); the clock stops once every company
//!   is written too. The three cases above turn companies off (`"company_key": "none"`), so
//!   they compare with the figures measured before companies existed.
//!
//! It runs against `FakeHubSpot` over loopback with its default window (100 requests per
//! rolling 10 s, 429 beyond it) and the client's default pacing (the 100/10s limiter, no
//! client retries), from a fresh SQLite queue filled directly (no HTTP: ingest is measured by
//! `queue_enqueue`). The clock starts when the engine starts, so the one-time property
//! bootstrap is included, and stops when nothing is ready, delayed or leased.
//!
//! `cargo bench --bench sync_throughput --features sqlite` prints a markdown table for the
//! README. Under `cargo test` (no `--bench` argument) it runs a tiny smoke pass instead.

use std::collections::BTreeSet;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use stripe2hubspot::engine::{EngineMetrics, SyncEngine};
use stripe2hubspot::hubspot_crm::fake::FakeHubSpot;
use stripe2hubspot::hubspot_crm::RateLimit;
use stripe2hubspot::map::{CompanyKeySource, MappingConfig};
use stripe2hubspot::queue::{NewJob, SqliteQueue, Store};
use stripe2hubspot::testkit::Payment;

/// Payments per customer: each customer pays several times, so contacts are updated as well
/// as created, as in a real portal.
const PAYMENTS_PER_CUSTOMER: usize = 5;

/// Concurrent producers while filling the queue, so SQLite coalesces the fsyncs and setup
/// stays a small part of the run (filling is not timed).
const PRODUCERS: usize = 32;

/// A mode that has not drained by then is reported as a failure rather than hanging the run.
const DRAIN_LIMIT: Duration = Duration::from_secs(240);

/// HubSpot's quota on the fake and the client (Free/Starter private apps), in requests per
/// second, for the ceiling column.
const QUOTA_PER_SECOND: f64 = 100.0 / 10.0;

struct Case {
    name: &'static str,
    payments: usize,
    /// The engine's comparison switch: the path before deal creation.
    upsert_only: bool,
    /// Every customer paid once before, and that payment was synced (untimed).
    renewals: bool,
    /// Companies on (the default mapping), the customers at [`COMPANIES`] domains.
    companies: bool,
}

/// Company domains of the companies case: 10 customers each.
const COMPANIES: usize = 400;

impl Case {
    fn mapping(&self) -> MappingConfig {
        let mut mapping = MappingConfig::default();
        if !self.companies {
            mapping.company_key = CompanyKeySource::Disabled;
        }
        mapping
    }
}

struct Outcome {
    name: &'static str,
    companies: bool,
    payments: usize,
    /// Payments synced before the timed burst (the renewal case's first payments).
    prior: usize,
    customers: usize,
    elapsed: Duration,
    total_requests: usize,
    sync_requests: usize,
    metrics: EngineMetrics,
}

impl Outcome {
    fn payments_per_second(&self) -> f64 {
        self.payments as f64 / self.elapsed.as_secs_f64()
    }

    fn requests_per_payment(&self) -> f64 {
        self.sync_requests as f64 / self.payments as f64
    }
}

/// Engine workers from `SYNC_THROUGHPUT_WORKERS`; `None` keeps the engine's default. While one
/// worker settles its batch in the queue (one commit per batch), another writes to HubSpot.
fn workers() -> Option<usize> {
    std::env::var("SYNC_THROUGHPUT_WORKERS")
        .ok()
        .and_then(|w| w.parse().ok())
        .filter(|w| *w > 0)
}

/// A customer's email: all at one domain, or (companies on) at one of [`COMPANIES`] domains.
fn customer_email(customer: usize, companies: bool) -> String {
    if companies {
        format!(
            "customer{customer:05}@co{:03}.example.com",
            customer % COMPANIES
        )
    } else {
        format!("customer{customer:05}@example.com")
    }
}

/// `payments` realistic `charge.succeeded` jobs from `customers` customers, round-robin, so
/// every batch mixes customers and a customer's payments arrive in `created` order; payment
/// numbers start at `first`.
fn jobs_of(
    payments: usize,
    customers: usize,
    first: usize,
    base: i64,
    companies: bool,
) -> Vec<NewJob> {
    (0..payments)
        .map(|i| {
            let n = first + i;
            let email = customer_email(i % customers, companies);
            let amount = 1_000 + (n as i64 % 50) * 100;
            let payment = Payment::numbered(n as u64, &email, amount, "usd", base + i as i64);
            let event = payment.charge_succeeded();
            NewJob {
                event_id: payment.event_id.clone(),
                event_type: "charge.succeeded".to_owned(),
                event_created: event["created"]
                    .as_i64()
                    .expect("testkit events carry a numeric created"),
                payload: serde_json::to_vec(&event).expect("serialize event"),
            }
        })
        .collect()
}

/// `payments` jobs from `payments / 5` customers.
fn jobs(payments: usize, companies: bool) -> (Vec<NewJob>, usize) {
    let customers = payments.div_ceil(PAYMENTS_PER_CUSTOMER);
    (
        jobs_of(payments, customers, 0, 1_700_000_000, companies),
        customers,
    )
}

/// Runs an engine on `store` against `fake` until the queue is drained; the time it took
/// (property bootstrap included) and the engine's metrics.
async fn drain(
    case: &Case,
    store: &Store,
    fake: &FakeHubSpot,
) -> Result<(Duration, EngineMetrics), String> {
    let client = fake.client_builder().build().expect("client");
    let mut builder = SyncEngine::builder(store.clone(), client, case.mapping());
    if let Some(workers) = workers() {
        builder = builder.concurrency(workers);
    }
    let engine = builder
        .batch_size(100)
        // Test-speed polling: an idle worker should not add up to 200 ms to a short run.
        .poll_interval(Duration::from_millis(20))
        .compare_upsert_only_path(case.upsert_only)
        .build()
        .expect("engine settings");
    let handle = engine.handle();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();

    let started = Instant::now();
    let worker = tokio::spawn(async move {
        engine
            .run(async {
                let _ = stopped.await;
            })
            .await
    });
    let drained = loop {
        let stats = store.admin.stats().await.expect("queue stats");
        let companies_left = if case.companies {
            store
                .state
                .dirty_companies(1)
                .await
                .expect("dirty companies")
                .len()
        } else {
            0
        };
        if stats.ready + stats.delayed + stats.leased == 0 && companies_left == 0 {
            break Ok(started.elapsed());
        }
        if started.elapsed() > DRAIN_LIMIT {
            break Err(format!(
                "{}: the queue did not drain within {DRAIN_LIMIT:?}: {stats:?}",
                case.name
            ));
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    };
    let _ = stop.send(());
    worker.await.expect("engine task");
    Ok((drained?, handle.metrics()))
}

async fn fill(store: &Store, jobs: Vec<NewJob>) {
    let mut slices: Vec<Vec<NewJob>> = (0..PRODUCERS).map(|_| Vec::new()).collect();
    for (i, job) in jobs.into_iter().enumerate() {
        slices[i % PRODUCERS].push(job);
    }
    let mut producers = tokio::task::JoinSet::new();
    for slice in slices {
        let queue = store.queue.clone();
        producers.spawn(async move {
            for job in slice {
                queue.enqueue(job).await.expect("enqueue");
            }
        });
    }
    while let Some(done) = producers.join_next().await {
        done.expect("producer task");
    }
}

async fn run(case: &Case) -> Result<Outcome, String> {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = Store::new(
        SqliteQueue::open(dir.path().join("queue.db"))
            .await
            .expect("open queue"),
    );
    let (jobs, customers) = jobs(case.payments, case.companies);
    // A fresh fake per case: its rolling window and objects start empty, so no case inherits
    // another's quota use.
    let fake = FakeHubSpot::start().await;
    let mut prior = 0;
    if case.renewals {
        // Each customer's first payment, a month earlier, synced before the clock starts;
        // then the fake's rolling window empties before the timed burst.
        prior = customers;
        fill(
            &store,
            jobs_of(
                customers,
                customers,
                1_000_000,
                1_697_400_000,
                case.companies,
            ),
        )
        .await;
        drain(case, &store, &fake).await?;
        if case.payments >= 1_000 {
            tokio::time::sleep(Duration::from_secs(11)).await;
        }
        fake.clear_requests();
    }
    fill(&store, jobs).await;
    let (elapsed, metrics) = drain(case, &store, &fake).await?;

    let total_requests = fake.total_requests();
    // Reading and creating the custom properties happens once per process, not per payment.
    let bootstrap = fake.request_count("GET", "/crm/properties/2026-09")
        + fake.request_count("POST", "/crm/properties/2026-09");
    let outcome = Outcome {
        name: case.name,
        companies: case.companies,
        payments: case.payments,
        prior,
        customers,
        elapsed,
        total_requests,
        sync_requests: total_requests - bootstrap,
        metrics,
    };
    verify(&fake, &store, &outcome).await?;
    Ok(outcome)
}

/// Throughput means nothing if payments were lost or doubled: every customer must be exactly
/// one contact, every payment exactly one deal associated with a contact.
async fn verify(fake: &FakeHubSpot, store: &Store, outcome: &Outcome) -> Result<(), String> {
    let name = outcome.name;
    let stats = store
        .admin
        .stats()
        .await
        .map_err(|e| format!("{name}: stats: {e}"))?;
    let all = outcome.payments + outcome.prior;
    if stats.dead != 0 || stats.done != all as u64 {
        return Err(format!(
            "{name}: expected {all} done and 0 dead-lettered jobs, found {stats:?}"
        ));
    }
    let contacts = fake.contacts();
    let emails: BTreeSet<&str> = contacts
        .iter()
        .filter_map(|c| c.property("email"))
        .collect();
    let expected: BTreeSet<String> = (0..outcome.customers)
        .map(|c| customer_email(c, outcome.companies))
        .collect();
    if contacts.len() != outcome.customers
        || emails != expected.iter().map(String::as_str).collect()
    {
        return Err(format!(
            "{name}: expected {} contacts (one per customer), found {} with {} distinct emails",
            outcome.customers,
            contacts.len(),
            emails.len()
        ));
    }
    let deals = fake.deals();
    let payment_ids: BTreeSet<&str> = deals
        .iter()
        .filter_map(|d| d.property("stripe_payment_id"))
        .collect();
    if deals.len() != all || payment_ids.len() != all {
        return Err(format!(
            "{name}: expected {all} deals (one per payment), found {} ({} distinct stripe_payment_id)",
            deals.len(),
            payment_ids.len()
        ));
    }
    let contact_ids: BTreeSet<&str> = contacts.iter().map(|c| c.id.as_str()).collect();
    let associated: BTreeSet<String> = fake
        .associations()
        .into_iter()
        .filter_map(|a| match (a.from_type.as_str(), a.to_type.as_str()) {
            ("deals", "contacts") if contact_ids.contains(a.to_id.as_str()) => Some(a.from_id),
            ("contacts", "deals") if contact_ids.contains(a.from_id.as_str()) => Some(a.to_id),
            _ => None,
        })
        .collect();
    let unassociated = deals.iter().filter(|d| !associated.contains(&d.id)).count();
    if unassociated != 0 {
        return Err(format!(
            "{name}: {unassociated} of {} deals are not associated with a contact",
            deals.len()
        ));
    }
    if outcome.companies {
        let companies = fake.companies();
        let linked: BTreeSet<String> = fake
            .associations()
            .into_iter()
            .filter_map(|a| match (a.from_type.as_str(), a.to_type.as_str()) {
                ("deals", "companies") => Some(a.from_id),
                ("companies", "deals") => Some(a.to_id),
                _ => None,
            })
            .collect();
        let expected = COMPANIES.min(outcome.customers);
        if companies.len() != expected || linked.len() != all {
            return Err(format!(
                "{name}: expected {expected} companies and {all} deals linked to one, found {} and {}",
                companies.len(),
                linked.len()
            ));
        }
    }
    if outcome.metrics.synced != outcome.payments as u64 {
        return Err(format!(
            "{name}: the engine counted {} synced payments, expected {}",
            outcome.metrics.synced, outcome.payments
        ));
    }
    Ok(())
}

/// The share of the quota the client's limiter sustains: `max` requests per window plus its
/// skew margin.
fn limiter_share() -> f64 {
    let limit = RateLimit::STARTER;
    limit.window().as_secs_f64() / limit.spacing().as_secs_f64()
}

fn print_table(outcomes: &[Outcome]) {
    println!(
        "| path | payments (customers) | wall time | payments/s | HubSpot requests (sync only) | requests/payment | ceiling at 100 req/10 s x {:.1}% | 429s |",
        100.0 * limiter_share()
    );
    println!("|---|---|---|---|---|---|---|---|");
    for o in outcomes {
        println!(
            "| {} | {} ({}) | {:.2} s | {:.1} | {} ({}) | {:.3} | {:.1} payments/s | {} |",
            o.name,
            o.payments,
            o.customers,
            o.elapsed.as_secs_f64(),
            o.payments_per_second(),
            o.total_requests,
            o.sync_requests,
            o.requests_per_payment(),
            QUOTA_PER_SECOND * limiter_share() / o.requests_per_payment(),
            o.metrics.rate_limited,
        );
    }
    println!();
    for batch in outcomes {
        println!(
            "ceiling arithmetic ({}): {QUOTA_PER_SECOND} requests/s x {:.3} (limiter) / {:.4} requests per payment = {:.0} payments/s; measured {:.0} payments/s ({:.0}% of the ceiling: the first window's free burst adds, the property bootstrap subtracts)",
            batch.name,
            limiter_share(),
            batch.requests_per_payment(),
            QUOTA_PER_SECOND * limiter_share() / batch.requests_per_payment(),
            batch.payments_per_second(),
            100.0 * batch.payments_per_second()
                / (QUOTA_PER_SECOND * limiter_share() / batch.requests_per_payment()),
        );
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    // `cargo bench` passes --bench; `cargo test --benches` does not, and gets a smoke pass.
    let bench = std::env::args().any(|a| a == "--bench");
    let payments = if bench { 20_000 } else { 50 };
    let cases = [
        Case {
            name: "create path, new payments",
            payments,
            upsert_only: false,
            renewals: false,
            companies: false,
        },
        Case {
            name: "upsert path (before deal creation), new payments",
            payments,
            upsert_only: true,
            renewals: false,
            companies: false,
        },
        Case {
            name: "create path, renewals of customers HubSpot holds",
            payments,
            upsert_only: false,
            renewals: true,
            companies: false,
        },
        Case {
            name: "create path, new payments, companies on (400 companies)",
            payments,
            upsert_only: false,
            renewals: false,
            companies: true,
        },
    ];
    if !bench {
        println!("smoke pass (figures come from `cargo bench`)");
    }
    println!(
        "FakeHubSpot over loopback, 100 requests per rolling 10 s, client default pacing, SQLite queue; {PAYMENTS_PER_CUSTOMER} payments per customer; engine workers: {}",
        workers().map_or_else(|| "the default".to_owned(), |w| w.to_string())
    );
    let mut outcomes = Vec::new();
    for case in &cases {
        match run(case).await {
            Ok(outcome) => outcomes.push(outcome),
            Err(error) => {
                eprintln!("error: {error}");
                return ExitCode::FAILURE;
            }
        }
    }
    println!();
    print_table(&outcomes);
    println!();
    println!("`cargo bench --bench sync_throughput --features sqlite`");
    ExitCode::SUCCESS
}
