//! `stripe2hubspot reconcile`: compare the deals HubSpot holds with what the payment ledger
//! says they should be, report drift, and with `--repair` write the fixes.

use std::process::ExitCode;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use stripe2hubspot::history::{ExpectedDeal, Reconcile, ReconcileProgress};
use stripe2hubspot::map::MappingConfig;
use stripe2hubspot::queue::{QueueError, Store};
use stripe2hubspot::service::hubspot_client;

use super::stripe_env::parse_date;

/// Ledger rows read per page.
const LEDGER_PAGE: usize = 500;

/// Which payments to check.
#[derive(Debug, clap::Args)]
#[command(
    after_help = "Reads the payment ledger in STRIPE2HUBSPOT_QUEUE (the server's store) and \
HubSpot (HUBSPOT_ACCESS_TOKEN, HUBSPOT_BASE_URL, HUBSPOT_RATE_LIMIT); Stripe is not called, so \
STRIPE_SECRET_KEY is not needed: run `backfill` first for payments from before the webhooks.\n\
Exit status: 0 in sync (or repaired), 1 drift found and not repaired, 2 configuration."
)]
pub struct Args {
    /// Only payments made on or after this day (YYYY-MM-DD, UTC; or Unix seconds). Without
    /// it, deals HubSpot holds that the ledger does not know are reported too.
    #[arg(long, value_name = "DATE", value_parser = parse_date)]
    since: Option<i64>,
    /// Write the ledger's values over drifted deals and create the missing ones.
    #[arg(long)]
    repair: bool,
}

/// Checks, and repairs when asked; see [`Args`] for the exit status.
pub async fn run(args: Args) -> ExitCode {
    let config = match crate::config::process_env().hubspot() {
        Ok(config) => config,
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
    let mapping = MappingConfig::default();
    let expected = match expected_deals(&store, &mapping, args.since).await {
        Ok(expected) => expected,
        Err(error) => return super::failure(&format_args!("could not read the ledger: {error}")),
    };
    let reconcile = Reconcile::builder(hubspot)
        .find_unknown(args.since.is_none())
        .build();
    let bar = progress_bar(expected.len() as u64);
    let report = reconcile
        .check(&expected, |p: &ReconcileProgress| {
            bar.set_position(p.checked)
        })
        .await;
    bar.finish_and_clear();
    let report = match report {
        Ok(report) => report,
        Err(error) => return super::failure(&error),
    };
    println!("{report}");
    if report.is_in_sync() || !args.repair {
        return exit(report.exit_code());
    }
    match reconcile.repair(&expected, &report).await {
        Ok(repaired) => println!("{repaired}"),
        Err(error) => return super::failure(&error),
    }
    match reconcile.check(&expected, |_| {}).await {
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
                .filter_map(|entry| ExpectedDeal::from_ledger(&entry.row, mapping)),
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
    if let Ok(style) =
        ProgressStyle::with_template("{bar:30} {pos}/{len} payments checked, ETA {eta}")
    {
        bar.set_style(style);
    }
    bar
}
