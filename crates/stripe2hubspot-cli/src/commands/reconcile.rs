//! `stripe2hubspot reconcile`: compare the deals HubSpot holds with what the payment ledger
//! says they should be, and the subscription properties of each customer's contact with what
//! the customer ledger says, report drift, and with `--repair` have the syncer write the fixes.

use std::process::ExitCode;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use stripe2hubspot::history::{
    expected_contacts, ExpectedContact, ExpectedDeal, Reconcile, ReconcileProgress, ReconcileReport,
};
use stripe2hubspot::map::MappingConfig;
use stripe2hubspot::queue::{QueueError, Store};
use stripe2hubspot::service::hubspot_client;
use stripe2hubspot::SyncEngine;

use super::stripe_env::parse_date;

/// Ledger rows read per page.
const LEDGER_PAGE: usize = 500;

/// How often the wait for repairs looks at the ledger and the queue.
const REPAIR_POLL: Duration = Duration::from_millis(200);

/// Exit code after Ctrl-C: the conventional 128 + SIGINT.
const EXIT_INTERRUPTED: u8 = 130;

/// Which payments to check.
#[derive(Debug, clap::Args)]
#[command(
    after_help = "Reads the payment and customer ledgers in STRIPE2HUBSPOT_QUEUE (the server's \
store) and HubSpot (HUBSPOT_ACCESS_TOKEN, HUBSPOT_BASE_URL, HUBSPOT_RATE_LIMIT); Stripe is not called, so \
STRIPE_SECRET_KEY is not needed: run `backfill` first for payments from before the webhooks.\n\
With --repair the drifted rows are handed to the sync engine (the server's when one leads on \
the same store, else one this command runs), which writes them from the ledger as it stands \
then; reconcile waits for them and checks again.\n\
Exit status: 0 in sync (or repaired), 1 drift found and not repaired, 2 configuration, 130 \
interrupted."
)]
pub struct Args {
    /// Only payments made on or after this day (YYYY-MM-DD, UTC; or Unix seconds). Without
    /// it, deals HubSpot holds that the ledger does not know are reported too. Every
    /// customer's contact is checked either way: subscriptions are current state.
    #[arg(long, value_name = "DATE", value_parser = parse_date)]
    since: Option<i64>,
    /// Have the syncer write the ledger's values over drifted deals and create the missing
    /// ones, then check again.
    #[arg(long)]
    repair: bool,
}

/// Checks, and repairs when asked; see [`Args`] for the exit status.
pub async fn run(args: Args) -> ExitCode {
    let env = crate::config::process_env();
    let config = match env.hubspot() {
        Ok(config) => config,
        Err(error) => return super::config_failure(&error),
    };
    let mapping = match env.mapping() {
        Ok(mapping) => mapping,
        Err(error) => return super::config_failure(&error),
    };
    let retention = match env.dead_letter_retention() {
        Ok(retention) => retention,
        Err(error) => return super::config_failure(&error),
    };
    let hubspot = match hubspot_client(&config, hubspot_crm::RetryPolicy::default()) {
        Ok(client) => client,
        Err(error) => return super::failure(&error),
    };
    let store = match super::open_queue().await {
        Ok(store) => store,
        Err(code) => return code,
    };
    let expected = match expected_deals(&store, &mapping, args.since).await {
        Ok(expected) => expected,
        Err(error) => return super::failure(&format_args!("could not read the ledger: {error}")),
    };
    let contacts = match expected_contacts(&store, &mapping).await {
        Ok(contacts) => contacts,
        Err(error) => {
            return super::failure(&format_args!("could not read the customer ledger: {error}"))
        }
    };
    let reconcile = Reconcile::builder(hubspot)
        .find_unknown(args.since.is_none())
        .build();
    let bar = progress_bar((expected.len() + contacts.len()) as u64);
    let report = check(&reconcile, &expected, &contacts, &bar).await;
    bar.finish_and_clear();
    let report = match report {
        Ok(report) => report,
        Err(error) => return super::failure(&error),
    };
    println!("{report}");
    if report.is_in_sync() || !args.repair {
        return exit(report.exit_code());
    }
    // The syncer: it takes part in the election, so it writes only when no server leads on
    // this store; otherwise the server's engine writes the repairs.
    let engine_client = match hubspot_client(&config, hubspot_crm::RetryPolicy::none()) {
        Ok(client) => client,
        Err(error) => return super::failure(&error),
    };
    let engine = match SyncEngine::builder(store.clone(), engine_client, mapping.clone())
        .dead_letter_retention(retention)
        .build()
    {
        Ok(engine) => engine,
        Err(error) => return super::failure(&error),
    };
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let engine = tokio::spawn(async move {
        engine
            .run(async {
                let _ = stopped.await;
            })
            .await;
    });
    let checked = Checked {
        deals: &expected,
        contacts: &contacts,
        report: &report,
    };
    let code = tokio::select! {
        code = repair(&reconcile, &store, &mapping, checked, args.since) => code,
        _ = tokio::signal::ctrl_c() => {
            eprintln!("stopped; the queued repairs stay queued for the syncer");
            ExitCode::from(EXIT_INTERRUPTED)
        }
    };
    let _ = stop.send(());
    let _ = engine.await;
    code
}

/// The deals and customers' contacts compared with HubSpot: payments first, then customers.
async fn check(
    reconcile: &Reconcile,
    deals: &[ExpectedDeal],
    contacts: &[ExpectedContact],
    bar: &ProgressBar,
) -> Result<ReconcileReport, stripe2hubspot::history::ReconcileError> {
    let mut report = reconcile
        .check(deals, |p: &ReconcileProgress| bar.set_position(p.checked))
        .await?;
    let done = deals.len() as u64;
    report.customers = reconcile
        .check_customers(contacts, |p: &ReconcileProgress| {
            bar.set_position(done + p.checked)
        })
        .await?;
    Ok(report)
}

/// What a check compared, and what it found.
#[derive(Clone, Copy)]
struct Checked<'a> {
    deals: &'a [ExpectedDeal],
    contacts: &'a [ExpectedContact],
    report: &'a ReconcileReport,
}

/// Hands the drift to the syncer, waits for it, and checks again.
async fn repair(
    reconcile: &Reconcile,
    store: &Store,
    mapping: &MappingConfig,
    checked: Checked<'_>,
    since: Option<i64>,
) -> ExitCode {
    let summary = match reconcile.repair(store, checked.deals, checked.report).await {
        Ok(summary) => summary,
        Err(error) => return super::failure(&error),
    };
    println!("{summary}");
    let customers = match reconcile
        .repair_customers(store, checked.contacts, &checked.report.customers)
        .await
    {
        Ok(summary) => summary,
        Err(error) => return super::failure(&error),
    };
    if !customers.queued.is_empty() || !customers.moved_on.is_empty() {
        println!("{customers}");
    }
    eprintln!("waiting for the syncer to write the repairs (Ctrl-C stops; they stay queued)");
    let failed = match reconcile
        .wait_for_repairs(store, &summary, REPAIR_POLL)
        .await
    {
        Ok(failed) => failed.len(),
        Err(error) => return super::failure(&error),
    };
    let failed = match reconcile
        .wait_for_customer_repairs(store, &customers, REPAIR_POLL)
        .await
    {
        Ok(more) => failed + more.len(),
        Err(error) => return super::failure(&error),
    };
    if failed > 0 {
        eprintln!("{failed} repairs were not written: see `stripe2hubspot dead-letters list`");
    }
    // Checked against the ledgers as they stand now: rows may have moved on meanwhile.
    let deals = match expected_deals(store, mapping, since).await {
        Ok(expected) => expected,
        Err(error) => return super::failure(&format_args!("could not read the ledger: {error}")),
    };
    let contacts = match expected_contacts(store, mapping).await {
        Ok(contacts) => contacts,
        Err(error) => {
            return super::failure(&format_args!("could not read the customer ledger: {error}"))
        }
    };
    match check(reconcile, &deals, &contacts, &ProgressBar::hidden()).await {
        Ok(after) => {
            println!("after repair: {after}");
            exit(after.exit_code())
        }
        Err(error) => super::failure(&error),
    }
}

fn exit(code: i32) -> ExitCode {
    ExitCode::from(u8::try_from(code).unwrap_or(1))
}

/// Every ledger payment (paid on or after `since`) that gives a deal, paged by key.
async fn expected_deals(
    store: &Store,
    mapping: &MappingConfig,
    since: Option<i64>,
) -> Result<Vec<ExpectedDeal>, QueueError> {
    let mut expected = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let page = store
            .state
            .ledger_rows(after.as_deref(), LEDGER_PAGE)
            .await?;
        let Some(last) = page.last() else {
            return Ok(expected);
        };
        after = Some(last.key.clone());
        expected.extend(
            page.iter()
                .filter(|entry| match since {
                    Some(since) => entry.row.paid_at().is_some_and(|paid| paid >= since),
                    None => true,
                })
                .filter_map(|entry| ExpectedDeal::from_entry(entry, mapping)),
        );
    }
}

/// A bar of payments checked; hidden when stdout is not a terminal.
fn progress_bar(total: u64) -> ProgressBar {
    let target = if std::io::IsTerminal::is_terminal(&std::io::stdout()) {
        ProgressDrawTarget::stdout()
    } else {
        ProgressDrawTarget::hidden()
    };
    let bar = ProgressBar::with_draw_target(Some(total), target);
    if let Ok(style) = ProgressStyle::with_template(
        "{bar:30} {pos}/{len} payments and customers checked, ETA {eta}",
    ) {
        bar.set_style(style);
    }
    bar
}
