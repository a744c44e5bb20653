//! `stripe2hubspot reconcile`: compare the deals HubSpot holds with what the payment ledger
//! says they should be, the subscription properties of each customer's contact with what
//! the customer ledger says, the rollups of each company with what its members' ledgers say,
//! and (with line items on) that every deal's line items exist; report drift, and with
//! `--repair` have the syncer write the fixes.

use std::process::ExitCode;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use stripe2hubspot::history::{
    expected_companies, expected_contacts, expected_line_items, ExpectedCompany, ExpectedContact,
    ExpectedDeal, ExpectedLineItems, Reconcile, ReconcileProgress, ReconcileReport,
};
use stripe2hubspot::map::MappingConfig;
use stripe2hubspot::queue::{Portal, QueueError, Store, DEFAULT_PORTAL};
use stripe2hubspot::service::hubspot_client;
use stripe2hubspot::SyncEngine;

use super::stripe_env::parse_date;

/// Ledger rows read per page.
const LEDGER_PAGE: usize = 500;

/// How often the wait for repairs looks at the ledger and the queue.
const REPAIR_POLL: Duration = Duration::from_millis(200);

/// How long the repair waits for the engine's company and line-item passes, which are no
/// queue jobs (they back off after a failure and pause alone for a missing scope): past it,
/// the check after the repair reports what is still behind.
const SIDE_REPAIR_TIMEOUT: Duration = Duration::from_secs(120);

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
then; reconcile waits for them and checks again. Companies (their rollups; never their name) \
are checked whatever --since says, and the line items of the payments checked when \
STRIPE2HUBSPOT_LINE_ITEMS=1; their repairs are written by the engine's company and line-item \
passes.\n\
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
    /// Check the stored portal ID: its own ledgers against its HubSpot portal (its token,
    /// host, API version, limit and mapping); repairs are written by its engine. `default`
    /// (or no flag) is the portal the environment configures.
    #[arg(long, value_name = "ID")]
    portal: Option<String>,
}

/// Checks, and repairs when asked; see [`Args`] for the exit status.
pub async fn run(args: Args) -> ExitCode {
    let Some(id) = args.portal.clone() else {
        return run_on(args, None).await;
    };
    // A stored portal: its own store, settings and leadership.
    let root = match super::open_queue().await {
        Ok(store) => store,
        Err(code) => return code,
    };
    let mut target = match super::portal_target(&root, &id).await {
        Ok(target) => target,
        Err(code) => return code,
    };
    let Some(portal) = target.portal.take() else {
        return run_on(args, None).await;
    };
    // The repair engine writes only while no server syncs the portal, as a server's would.
    target.store.election = super::command_election(&root, &id);
    run_on(args, Some((target.store, portal))).await
}

/// Checks (and repairs) the environment's portal (`None`), or a stored portal in its store.
async fn run_on(args: Args, portal: Option<(Store, Portal)>) -> ExitCode {
    let env = crate::config::process_env();
    let stored = portal.as_ref().map(|(_, p)| p);
    let config = match super::hubspot_config(stored) {
        Ok(config) => config,
        Err(error) => return super::config_failure(&error),
    };
    let mapping = match super::mapping(stored) {
        Ok(mapping) => mapping,
        Err(error) => return super::config_failure(&error),
    };
    let retention = match env.dead_letter_retention() {
        Ok(retention) => retention,
        Err(error) => return super::config_failure(&error),
    };
    let hubspot = match hubspot_client(&config, super::READ_RETRIES) {
        Ok(client) => client,
        Err(error) => return super::failure(&error),
    };
    let portal_id = stored.map(|p| p.id.clone());
    let store = match portal {
        Some((store, _)) => store,
        None => match super::open_queue().await {
            Ok(mut store) => {
                // On PostgreSQL servers lead `default` by its lease, not the store's election.
                store.election = super::command_election(&store, DEFAULT_PORTAL);
                store
            }
            Err(code) => return code,
        },
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
    let sides = match Sides::read(&store, &mapping, &expected).await {
        Ok(sides) => sides,
        Err(error) => return super::failure(&format_args!("could not read the ledgers: {error}")),
    };
    let reconcile = Reconcile::builder(hubspot)
        .find_unknown(args.since.is_none())
        .build();
    let bar = progress_bar(
        (expected.len() + contacts.len() + sides.companies.len() + sides.line_items.len()) as u64,
    );
    let report = check(&reconcile, &expected, &contacts, &sides, &bar).await;
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
    let mut engine = SyncEngine::builder(store.clone(), engine_client, mapping.clone())
        .dead_letter_retention(retention);
    if let Some(id) = portal_id {
        engine = engine.portal(id);
    }
    let engine = match engine.build() {
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
        sides: &sides,
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

/// The companies and line items the ledgers expect (empty when the mapping makes none).
struct Sides {
    companies: Vec<ExpectedCompany>,
    line_items: Vec<ExpectedLineItems>,
}

impl Sides {
    /// The companies of the whole ledger (current state), and the line items of the
    /// payments of `deals` (those checked: `--since` narrows them).
    async fn read(
        store: &Store,
        mapping: &MappingConfig,
        deals: &[ExpectedDeal],
    ) -> Result<Sides, QueueError> {
        let checked: std::collections::HashSet<&str> =
            deals.iter().map(|d| d.payment_id.as_str()).collect();
        let mut line_items = expected_line_items(store, mapping).await?;
        line_items.retain(|l| checked.contains(l.payment_id.as_str()));
        Ok(Sides {
            companies: expected_companies(store, mapping).await?,
            line_items,
        })
    }
}

/// The deals, customers' contacts, companies and line items compared with HubSpot, in that
/// order.
async fn check(
    reconcile: &Reconcile,
    deals: &[ExpectedDeal],
    contacts: &[ExpectedContact],
    sides: &Sides,
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
    let done = done + contacts.len() as u64;
    report.companies = reconcile
        .check_companies(&sides.companies, |p: &ReconcileProgress| {
            bar.set_position(done + p.checked)
        })
        .await?;
    let done = done + sides.companies.len() as u64;
    report.line_items = reconcile
        .check_line_items(&sides.line_items, |p: &ReconcileProgress| {
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
    sides: &'a Sides,
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
    let companies = match reconcile
        .repair_companies(store, &checked.sides.companies, &checked.report.companies)
        .await
    {
        Ok(summary) => summary,
        Err(error) => return super::failure(&error),
    };
    if !companies.queued.is_empty() {
        println!("{companies}");
    }
    let line_items = match reconcile
        .repair_line_items(store, &checked.sides.line_items, &checked.report.line_items)
        .await
    {
        Ok(summary) => summary,
        Err(error) => return super::failure(&error),
    };
    if !line_items.queued.is_empty() {
        println!("{line_items}");
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
    // Companies and line items are written by the engine's side passes, after the queue's
    // work; they are not jobs, so their wait is bounded by time.
    match reconcile
        .wait_for_company_repairs(store, &companies, REPAIR_POLL, SIDE_REPAIR_TIMEOUT)
        .await
    {
        Ok(waiting) if !waiting.is_empty() => eprintln!(
            "{} companies are not written yet: see `stripe2hubspot status` and the alerts (a missing scope pauses companies alone)",
            waiting.len()
        ),
        Ok(_) => {}
        Err(error) => return super::failure(&error),
    }
    match reconcile
        .wait_for_line_item_repairs(store, &line_items, REPAIR_POLL, SIDE_REPAIR_TIMEOUT)
        .await
    {
        Ok(waiting) if !waiting.is_empty() => eprintln!(
            "the line items of {} payments are not written yet: see `stripe2hubspot status` and the alerts (a missing scope pauses line items alone)",
            waiting.len()
        ),
        Ok(_) => {}
        Err(error) => return super::failure(&error),
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
    let sides = match Sides::read(store, mapping, &deals).await {
        Ok(sides) => sides,
        Err(error) => return super::failure(&format_args!("could not read the ledgers: {error}")),
    };
    match check(reconcile, &deals, &contacts, &sides, &ProgressBar::hidden()).await {
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
        "{bar:30} {pos}/{len} payments, customers, companies and line items checked, ETA {eta}",
    ) {
        bar.set_style(style);
    }
    bar
}
