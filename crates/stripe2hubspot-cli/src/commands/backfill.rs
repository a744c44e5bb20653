//! `stripe2hubspot backfill`: list Stripe's history and sync it into HubSpot through the
//! queue, as the webhooks of each object's current state would have; resumable.

use std::process::ExitCode;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use stripe2hubspot::history::stripe2hubspot_stripe::StripeClient;
use stripe2hubspot::history::stripe2hubspot_stripe::{CreatedRange, ListKind};
use stripe2hubspot::history::{Backfill, BackfillSummary, HubSpotBudget, Progress};
use stripe2hubspot::queue::{Store, DEFAULT_PORTAL};
use stripe2hubspot::service::hubspot_client;
use stripe2hubspot::SyncEngine;

use super::stripe_env::{parse_date, parse_end_date, stripe_client};

/// How often the wait for the last payments to reach HubSpot looks at the queue.
const DRAIN_POLL: Duration = Duration::from_millis(200);

/// How long the backfill waits, once the queue is empty, for the companies and line items the
/// syncer writes after the payments; what is left then stays in the store for `serve`.
const SIDE_WAIT: Duration = Duration::from_secs(120);

/// Exit code after Ctrl-C: the conventional 128 + SIGINT.
const EXIT_INTERRUPTED: u8 = 130;

/// Which part of Stripe's history to read.
#[derive(Debug, clap::Args)]
#[command(after_help = super::stripe_env::stripe_help("backfill"))]
pub struct Args {
    /// Objects created on or after this day (YYYY-MM-DD, UTC; or Unix seconds).
    #[arg(long, value_name = "DATE", value_parser = parse_date)]
    since: i64,
    /// Objects created up to the end of this day (default: now).
    #[arg(long, value_name = "DATE", value_parser = parse_end_date)]
    until: Option<i64>,
    /// List and count what would be queued; queue and write nothing.
    #[arg(long)]
    dry_run: bool,
    /// Stripe read requests per second (Stripe allows 25 in test mode, 100 live).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=100))]
    read_rate: Option<u32>,
    /// The lists to read, comma-separated, in this order: charges, disputes,
    /// checkout_sessions, invoices, payment_intents, customers, subscriptions (default: all
    /// but payment_intents, whose payments the charges give). Customers and subscriptions are
    /// current state: they are read whenever created, whatever --since says.
    #[arg(long, value_name = "LIST", value_delimiter = ',', value_parser = parse_kind)]
    kinds: Vec<ListKind>,
    /// Backfill the stored portal ID: into its own store, written with its HubSpot token,
    /// limit and mapping; its Stripe accounts are read one after the other with the
    /// platform's STRIPE_SECRET_KEY, each request carrying `Stripe-Account: acct_...`
    /// (Connect). `default` (or no flag) is the portal the environment configures.
    #[arg(long, value_name = "ID")]
    portal: Option<String>,
}

/// What one run reads and where it writes.
struct Plan {
    store: Store,
    hubspot: stripe2hubspot::Config,
    mapping: stripe2hubspot::map::MappingConfig,
    /// The Stripe readers, one per connected account of a portal (`Some(acct)`), or the
    /// key's own account (`None`).
    readers: Vec<(Option<String>, StripeClient)>,
    /// The stored portal synced.
    portal: Option<String>,
}

/// The plan of `--portal ID`: the portal's store, settings and accounts.
async fn portal_plan(stripe: StripeClient, id: &str) -> Result<Plan, ExitCode> {
    let root = super::open_queue().await?;
    let target = super::portal_target(&root, id).await?;
    let hubspot =
        super::hubspot_config(target.portal.as_ref()).map_err(|e| super::config_failure(&e))?;
    let mapping = super::mapping(target.portal.as_ref()).map_err(|e| super::config_failure(&e))?;
    let Some(portal) = target.portal else {
        // `--portal default`: the environment's portal, as without the flag.
        let mut store = target.store;
        store.election = super::command_election(&root, DEFAULT_PORTAL);
        return Ok(Plan {
            store,
            hubspot,
            mapping,
            readers: vec![(None, stripe)],
            portal: None,
        });
    };
    if portal.accounts.is_empty() {
        eprintln!("error: portal {id} routes no Stripe account: add one with `stripe2hubspot portals set {id} --stripe-account acct_...`");
        return Err(ExitCode::from(super::EXIT_CONFIG));
    }
    let mut readers = Vec::new();
    for account in &portal.accounts {
        match stripe.for_account(account) {
            Ok(client) => readers.push((Some(account.clone()), client)),
            Err(error) => {
                return Err(super::failure(&format_args!(
                    "portal {id}'s Stripe account {account} cannot be read: {error}"
                )))
            }
        }
    }
    let mut store = target.store;
    // The portal's engine writes only while no server syncs the portal: one writer per
    // portal whatever runs beside it.
    store.election = super::command_election(&root, id);
    Ok(Plan {
        store,
        hubspot,
        mapping,
        readers,
        portal: Some(id.to_owned()),
    })
}

/// A `--kinds` entry: a list whose objects become events.
fn parse_kind(name: &str) -> Result<ListKind, String> {
    ListKind::EVENT_OBJECTS
        .into_iter()
        .find(|kind| kind.name() == name.trim())
        .ok_or_else(|| {
            let names: Vec<&str> = ListKind::EVENT_OBJECTS.iter().map(|k| k.name()).collect();
            format!("unknown list {name:?}; use one of {}", names.join(", "))
        })
}

/// Runs the backfill; exits 0 when every list was read and the queue drained, 1 on an error,
/// 2 on configuration, 130 after Ctrl-C (run again to resume).
pub async fn run(args: Args) -> ExitCode {
    let env = crate::config::process_env();
    let stripe = match stripe_client(args.read_rate) {
        Ok(client) => client,
        Err(error) => return super::config_failure(&error),
    };
    let range = || {
        CreatedRange::new(Some(args.since), args.until)
            .map_err(|error| super::failure(&format_args!("--since/--until: {error}")))
    };
    let planned = match &args.portal {
        Some(id) => match range() {
            Ok(range) => portal_plan(stripe, id).await.map(|plan| (range, plan)),
            Err(code) => Err(code),
        },
        // Without --portal: the checks of a single-portal deployment, in their order.
        None => {
            async {
                let hubspot = env.hubspot().map_err(|e| super::config_failure(&e))?;
                let range = range()?;
                let mut store = super::open_queue().await?;
                // On PostgreSQL servers lead `default` by its lease, not the store's election.
                store.election = super::command_election(&store, DEFAULT_PORTAL);
                let mapping = env.mapping().map_err(|e| super::config_failure(&e))?;
                Ok((
                    range,
                    Plan {
                        store,
                        hubspot,
                        mapping,
                        readers: vec![(None, stripe)],
                        portal: None,
                    },
                ))
            }
            .await
        }
    };
    let (range, plan) = match planned {
        Ok(planned) => planned,
        Err(code) => return code,
    };
    run_plan(&args, range, &plan, &env).await
}

async fn run_plan<F: Fn(&str) -> Option<String>>(
    args: &Args,
    range: CreatedRange,
    plan: &Plan,
    env: &crate::config::Env<F>,
) -> ExitCode {
    let Plan {
        store,
        hubspot: hubspot_config,
        mapping,
        readers,
        portal,
    } = plan;
    let retention = match env.dead_letter_retention() {
        Ok(retention) => retention,
        Err(error) => return super::config_failure(&error),
    };
    let mut backfills = Vec::new();
    for (account, stripe) in readers {
        let mut builder = Backfill::builder(stripe.clone(), store.clone(), mapping.clone(), range);
        if !args.kinds.is_empty() {
            builder = builder.kinds(args.kinds.iter().copied());
        }
        match builder
            .dry_run(args.dry_run)
            .budget(HubSpotBudget::at(hubspot_config.rate_limit))
            .build()
        {
            Ok(backfill) => backfills.push((account.clone(), backfill)),
            Err(error) => return super::failure(&error),
        }
    }
    // The syncer: it drains what the backfill queues (and any live webhooks a server on the
    // same store queues, which come first), within the portal's rate limit.
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let engine = if args.dry_run {
        None
    } else {
        let hubspot = match hubspot_client(hubspot_config, hubspot_crm::RetryPolicy::none()) {
            Ok(client) => client,
            Err(error) => return super::failure(&error),
        };
        let mut engine = SyncEngine::builder(store.clone(), hubspot, mapping.clone())
            .dead_letter_retention(retention);
        if let Some(id) = portal {
            engine = engine.portal(id.clone());
        }
        match engine.build() {
            Ok(engine) => Some(tokio::spawn(async move {
                engine
                    .run(async {
                        let _ = stopped.await;
                    })
                    .await;
            })),
            Err(error) => return super::failure(&error),
        }
    };
    let bar = progress_bar();
    let outcome = tokio::select! {
        result = read_all(&backfills, &bar) => Some(result),
        _ = tokio::signal::ctrl_c() => None,
    };
    bar.finish_and_clear();
    let code = match outcome {
        None => {
            eprintln!("stopped; run the same command again to resume");
            ExitCode::from(EXIT_INTERRUPTED)
        }
        Some(Err(error)) => super::failure(&format_args!(
            "{error} (run the same command again to resume)"
        )),
        Some(Ok(())) => finish(store, engine.is_some()).await,
    };
    let _ = stop.send(());
    if let Some(engine) = engine {
        let _ = engine.await;
    }
    code
}

/// Runs each backfill in turn (one per Stripe account), printing each summary as it ends: a
/// connected account's headed by its id.
async fn read_all(
    backfills: &[(Option<String>, Backfill)],
    bar: &ProgressBar,
) -> Result<(), stripe2hubspot::history::BackfillError> {
    for (account, backfill) in backfills {
        let summary: BackfillSummary = backfill.run(|p: &Progress| show(bar, p)).await?;
        if let Some(account) = account {
            println!("Stripe account {account}:");
        }
        println!("{summary}");
    }
    Ok(())
}

async fn finish(store: &Store, syncing: bool) -> ExitCode {
    if !syncing {
        return ExitCode::SUCCESS;
    }
    eprintln!("waiting for what was queued to reach HubSpot (Ctrl-C stops; it stays queued)");
    let drained = tokio::select! {
        result = drained(store) => result,
        _ = tokio::signal::ctrl_c() => return ExitCode::from(EXIT_INTERRUPTED),
    };
    match drained {
        Ok(0) => {
            println!("synced: the queue is empty");
            let side = tokio::select! {
                result = side_objects_written(store) => result,
                _ = tokio::signal::ctrl_c() => return ExitCode::from(EXIT_INTERRUPTED),
            };
            match side {
                Ok(true) => ExitCode::SUCCESS,
                Ok(false) => {
                    println!("companies or line items are still being written: they stay in the store and `serve` writes them");
                    ExitCode::SUCCESS
                }
                Err(error) => super::failure(&error),
            }
        }
        Ok(dead) => super::failure(&format_args!(
            "{dead} events failed for good: see `stripe2hubspot dead-letters list`"
        )),
        Err(error) => super::failure(&error),
    }
}

/// Waits until nothing is ready, delayed or leased; returns the dead-letter count.
async fn drained(store: &Store) -> Result<u64, stripe2hubspot::queue::QueueError> {
    loop {
        let stats = store.admin.stats().await?;
        if stats.ready + stats.delayed + stats.leased == 0 {
            return Ok(stats.dead);
        }
        tokio::time::sleep(DRAIN_POLL).await;
    }
}

/// Waits up to [`SIDE_WAIT`] until no company and no line item is left to write; whether
/// none is.
async fn side_objects_written(store: &Store) -> Result<bool, stripe2hubspot::queue::QueueError> {
    let started = std::time::Instant::now();
    loop {
        let companies = store.state.dirty_companies(1).await?;
        let line_items = store.state.pending_line_items(1).await?;
        if companies.is_empty() && line_items.is_empty() {
            return Ok(true);
        }
        if started.elapsed() >= SIDE_WAIT {
            return Ok(false);
        }
        tokio::time::sleep(DRAIN_POLL).await;
    }
}

/// A spinner with counts; hidden when stdout is not a terminal (logs, pipes, tests).
fn progress_bar() -> ProgressBar {
    let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::stdout());
    if !std::io::IsTerminal::is_terminal(&std::io::stdout()) {
        bar.set_draw_target(ProgressDrawTarget::hidden());
    }
    if let Ok(style) = ProgressStyle::with_template("{spinner} {elapsed_precise} {msg}") {
        bar.set_style(style);
    }
    bar.enable_steady_tick(Duration::from_millis(200));
    bar
}

fn show(bar: &ProgressBar, p: &Progress) {
    let eta = p
        .eta
        .map(|eta| format!(", ETA {}", humanize(eta)))
        .unwrap_or_default();
    bar.set_message(format!(
        "{}: {} objects listed, {} queued, {} already queued{eta}",
        p.kind.name(),
        p.listed,
        p.queued,
        p.duplicates
    ));
}

fn humanize(d: Duration) -> String {
    let s = d.as_secs();
    match s {
        0..=59 => format!("{s}s"),
        60..=3_599 => format!("{}m{:02}s", s / 60, s % 60),
        _ => format!("{}h{:02}m", s / 3_600, (s % 3_600) / 60),
    }
}
