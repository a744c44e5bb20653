//! Backfill: list payments from Stripe's API and enqueue each as the webhook its state
//! corresponds to, paced so live webhooks stay ahead and resumable after a crash.

use std::fmt;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use stripe2hubspot_map::{
    customer_facts_from_event, facts_from_event, ConfigError, CustomerOutcome, FactsOutcome,
    MapError, MappingConfig, SkipReason,
};
use stripe2hubspot_stripe::{CreatedRange, ListKind, StripeClient};
use stripe_events::Event;

use super::budget::HubSpotBudget;
use super::synthetic::{synthetic_event, webhook_type_for};
use stripe2hubspot_queue::{Enqueued, QueueError, Store};

/// Ready jobs above which the backfill waits before enqueueing its next page. A live webhook
/// lands behind at most this many jobs plus one page, a few engine batches.
pub const DEFAULT_MAX_READY: u64 = 300;

/// How often a paused backfill looks at the queue depth again.
pub const DEFAULT_QUEUE_POLL: Duration = Duration::from_millis(250);

/// The checkpoint value of a listing that reached its last page.
pub const CHECKPOINT_DONE: &str = "done";

/// What went wrong in a backfill. The checkpoint holds the last page fully enqueued, so
/// running the same backfill again resumes after it.
#[derive(Debug, thiserror::Error)]
pub enum BackfillError {
    /// Stripe's API refused or failed after the client's retries.
    #[error("reading {kind} from Stripe failed: {source}; run the backfill again to resume after the last page queued")]
    Stripe {
        /// The list being read.
        kind: &'static str,
        /// The client's error (names Stripe's request id, never the key).
        #[source]
        source: stripe2hubspot_stripe::Error,
    },
    /// The store refused a job or a checkpoint.
    #[error("the queue store failed during the backfill: {0}; fix the store, then run the backfill again to resume")]
    Store(#[from] QueueError),
    /// The mapping configuration is invalid.
    #[error(transparent)]
    Config(#[from] ConfigError),
}

/// Where a backfill stands, after each page.
#[derive(Debug, Clone, PartialEq)]
pub struct Progress {
    /// The list being read.
    pub kind: ListKind,
    /// Pages read in this run, every kind.
    pub pages: u64,
    /// Objects listed in this run.
    pub listed: u64,
    /// Objects queued (new jobs: payments, customers, subscriptions), or that would be
    /// queued in a dry run.
    pub queued: u64,
    /// Objects already queued before, unchanged since (nothing to write).
    pub duplicates: u64,
    /// Objects that give no facts (a failed, unpaid or zero payment) or that no handled
    /// webhook reports.
    pub skipped: u64,
    /// Jobs ready in the queue when the page was done.
    pub ready: u64,
    /// Time left at the HubSpot budget, when the range says how much remains.
    pub eta: Option<Duration>,
}

/// What one list contributed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KindSummary {
    /// Pages read.
    pub pages: u64,
    /// Objects listed.
    pub listed: u64,
    /// New jobs (dry run: payments that would be queued).
    pub queued: u64,
    /// Unchanged objects already queued.
    pub duplicates: u64,
    /// Objects that give no facts.
    pub skipped: u64,
    /// Objects the mapping rejects (malformed; their ids are logged).
    pub unreadable: u64,
    /// The cursor this run resumed after, if it continued an interrupted run.
    pub resumed_after: Option<String>,
    /// The creation times listed: the run's range for payments, every time for customers and
    /// subscriptions (see [`listed_range`]).
    pub range: CreatedRange,
}

/// The result of a backfill run.
#[derive(Debug, Clone, PartialEq)]
pub struct BackfillSummary {
    /// Per list, in the order read.
    pub kinds: Vec<(ListKind, KindSummary)>,
    /// Whether nothing was enqueued (`--dry-run`).
    pub dry_run: bool,
    /// Wall time of the run.
    pub elapsed: Duration,
    /// Time spent waiting for the queue to drain below the threshold (live webhooks first).
    pub waited_for_queue: Duration,
    /// Time the queued payments take at the HubSpot budget.
    pub hubspot_time: Duration,
}

impl BackfillSummary {
    fn total(&self, field: impl Fn(&KindSummary) -> u64) -> u64 {
        self.kinds.iter().map(|(_, k)| field(k)).sum()
    }

    /// Objects listed, every kind.
    pub fn listed(&self) -> u64 {
        self.total(|k| k.listed)
    }

    /// New jobs, every kind.
    pub fn queued(&self) -> u64 {
        self.total(|k| k.queued)
    }

    /// New jobs of customers and subscriptions (the rest are payments).
    pub fn customers_queued(&self) -> u64 {
        self.kinds
            .iter()
            .filter(|(kind, _)| is_customer_state(*kind))
            .map(|(_, k)| k.queued)
            .sum()
    }

    /// Duplicates, every kind.
    pub fn duplicates(&self) -> u64 {
        self.total(|k| k.duplicates)
    }

    /// Skipped objects, every kind.
    pub fn skipped(&self) -> u64 {
        self.total(|k| k.skipped)
    }

    /// Unreadable objects, every kind.
    pub fn unreadable(&self) -> u64 {
        self.total(|k| k.unreadable)
    }

    /// Pages read, every kind.
    pub fn pages(&self) -> u64 {
        self.total(|k| k.pages)
    }
}

impl fmt::Display for BackfillSummary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let verb = if self.dry_run {
            "would queue"
        } else {
            "queued"
        };
        let customers = self.customers_queued();
        writeln!(
            f,
            "backfill{}: {} objects listed in {} pages, {} payments {verb}, {customers} customers and subscriptions {verb}, {} already queued, {} skipped, {} unreadable ({:.1?})",
            if self.dry_run { " (dry run)" } else { "" },
            self.listed(),
            self.pages(),
            self.queued() - customers,
            self.duplicates(),
            self.skipped(),
            self.unreadable(),
            self.elapsed,
        )?;
        for (kind, k) in &self.kinds {
            write!(
                f,
                "  {:<18} {:>8} listed {:>8} {verb} {:>8} already queued {:>6} skipped",
                kind.name(),
                k.listed,
                k.queued,
                k.duplicates,
                k.skipped
            )?;
            if let Some(cursor) = &k.resumed_after {
                write!(f, " (resumed after {cursor})")?;
            }
            if is_customer_state(*kind) {
                write!(f, " (all, whenever created)")?;
            }
            writeln!(f)?;
        }
        if !self.dry_run {
            write!(
                f,
                "HubSpot sync of what was queued: about {} at the configured rate; waited {:.0?} for live webhooks",
                human(self.hubspot_time),
                self.waited_for_queue
            )?;
        } else {
            write!(
                f,
                "HubSpot sync would take about {} at the configured rate",
                human(self.hubspot_time)
            )?;
        }
        Ok(())
    }
}

fn human(d: Duration) -> String {
    let s = d.as_secs();
    match s {
        0..=59 => format!("{s}s"),
        60..=3_599 => format!("{}m{:02}s", s / 60, s % 60),
        _ => format!("{}h{:02}m", s / 3_600, s % 3_600 / 60),
    }
}

/// Configures a [`Backfill`].
#[derive(Debug, Clone)]
pub struct BackfillBuilder {
    client: StripeClient,
    store: Store,
    config: MappingConfig,
    range: CreatedRange,
    kinds: Vec<ListKind>,
    dry_run: bool,
    max_ready: u64,
    queue_poll: Duration,
    budget: HubSpotBudget,
}

impl BackfillBuilder {
    /// The lists to read (default [`ListKind::BACKFILL`]: charges, disputes, Checkout
    /// Sessions, invoices, customers, subscriptions).
    pub fn kinds(mut self, kinds: impl IntoIterator<Item = ListKind>) -> Self {
        self.kinds = kinds.into_iter().collect();
        self
    }

    /// List and count without enqueueing or touching checkpoints.
    pub fn dry_run(mut self, dry_run: bool) -> Self {
        self.dry_run = dry_run;
        self
    }

    /// Ready jobs above which the next page waits (default [`DEFAULT_MAX_READY`]).
    pub fn max_ready(mut self, max_ready: u64) -> Self {
        self.max_ready = max_ready.max(1);
        self
    }

    /// How often a paused backfill checks the queue (default [`DEFAULT_QUEUE_POLL`]).
    pub fn queue_poll(mut self, every: Duration) -> Self {
        self.queue_poll = every;
        self
    }

    /// The HubSpot budget the ETA is computed from (default 100 requests / 10 s and
    /// [`MEASURED_REQUESTS_PER_PAYMENT`](super::budget::MEASURED_REQUESTS_PER_PAYMENT)).
    pub fn budget(mut self, budget: HubSpotBudget) -> Self {
        self.budget = budget;
        self
    }

    /// Checks the mapping configuration.
    pub fn build(self) -> Result<Backfill, BackfillError> {
        self.config.validate()?;
        Ok(Backfill { b: self })
    }
}

/// Lists Stripe's payment history and enqueues every payment as the webhook its state
/// corresponds to (see [`synthetic_event`]), through the same queue as live webhooks.
///
/// * Idempotent: an unchanged object gives the same event id, which the queue drops, so
///   backfilling twice, over payments webhooks already synced, or while webhooks arrive ends
///   in the same HubSpot state.
/// * Live webhooks first: a page is enqueued only when fewer than
///   [`max_ready`](BackfillBuilder::max_ready) jobs are ready.
/// * Resumable: after each page the cursor is saved as a checkpoint per list and range;
///   dropping the future (Ctrl-C) or a crash loses at most the page in flight, which the next
///   run reads again. A finished list is marked [`CHECKPOINT_DONE`]; the next run reads it
///   from the newest again (unchanged objects are duplicates).
/// * Whole invoices: a listed invoice embeds only its first lines; one cut short
///   (`lines.has_more`) is completed with `GET /v1/invoices/{id}/lines`
///   ([`StripeClient::invoice_line_items`]) before it is queued, so its payment's line items
///   are every line (one request per 100 lines, for those invoices only).
#[derive(Debug, Clone)]
pub struct Backfill {
    b: BackfillBuilder,
}

fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// Whether `kind` lists the customer ledger's objects (customers, subscriptions): current
/// state rather than history.
fn is_customer_state(kind: ListKind) -> bool {
    matches!(kind, ListKind::Customers | ListKind::Subscriptions)
}

/// The creation times a backfill over `range` lists of `kind`: `range` for payments, which
/// are history, and every time for customers and subscriptions, which are state. A
/// subscription created before the range still bills now, and its MRR, status and renewal
/// belong on the contact from the first day; a customer's contact data likewise.
pub fn listed_range(kind: ListKind, range: CreatedRange) -> CreatedRange {
    if is_customer_state(kind) {
        CreatedRange::all()
    } else {
        range
    }
}

/// Whether the mapping turns `event` into facts (`Ok(false)`: it skips it). Each event type
/// has one reader: the customer reader answers [`SkipReason::UnhandledEventType`] for a type
/// that is not its own, which the payment reader then reads, as the engine does.
fn gives_facts(event: &Event, config: &MappingConfig) -> Result<bool, MapError> {
    match customer_facts_from_event(event, config)? {
        CustomerOutcome::Facts(_) => Ok(true),
        CustomerOutcome::Skip(SkipReason::UnhandledEventType { .. }) => Ok(matches!(
            facts_from_event(event, config)?,
            FactsOutcome::Facts(_)
        )),
        CustomerOutcome::Skip(_) => Ok(false),
    }
}

/// The checkpoint name of one list over one range, e.g. `backfill:charges:1700000000:-`.
pub fn checkpoint_name(kind: ListKind, range: CreatedRange) -> String {
    let bound = |b: Option<i64>| b.map_or_else(|| "-".to_owned(), |v| v.to_string());
    format!(
        "backfill:{}:{}:{}",
        kind.name(),
        bound(range.gte()),
        bound(range.lte())
    )
}

/// The checkpoint name of one list over one range read from `account` (a client made with
/// [`StripeClient::for_account`]), e.g. `backfill:acct_1:charges:1700000000:-`; the key's own
/// account (`None`) keeps [`checkpoint_name`]. One portal may route several connected
/// accounts into one store: each account's cursor is its own, so they never resume from
/// another's.
pub fn account_checkpoint_name(
    kind: ListKind,
    range: CreatedRange,
    account: Option<&str>,
) -> String {
    let name = checkpoint_name(kind, range);
    match account {
        None => name,
        Some(account) => name.replacen("backfill:", &format!("backfill:{account}:"), 1),
    }
}

impl Backfill {
    /// A backfill of objects created in `range`, read with `client` and enqueued into `store`,
    /// mapped with `config` (the engine's, so skipped payments are skipped alike).
    pub fn builder(
        client: StripeClient,
        store: Store,
        config: MappingConfig,
        range: CreatedRange,
    ) -> BackfillBuilder {
        BackfillBuilder {
            client,
            store,
            config,
            range,
            kinds: ListKind::BACKFILL.to_vec(),
            dry_run: false,
            max_ready: DEFAULT_MAX_READY,
            queue_poll: DEFAULT_QUEUE_POLL,
            budget: HubSpotBudget::default(),
        }
    }

    /// Runs the backfill, calling `progress` after every page (drive a progress bar from it).
    pub async fn run<F>(&self, mut progress: F) -> Result<BackfillSummary, BackfillError>
    where
        F: FnMut(&Progress) + Send,
    {
        let b = &self.b;
        let started = Instant::now();
        let range_end = b.range.lte().unwrap_or_else(unix_now);
        let mut kinds = Vec::with_capacity(b.kinds.len());
        let mut totals = Progress {
            kind: b.kinds.first().copied().unwrap_or(ListKind::Charges),
            pages: 0,
            listed: 0,
            queued: 0,
            duplicates: 0,
            skipped: 0,
            ready: 0,
            eta: None,
        };
        let mut waited = Duration::ZERO;
        for &kind in &b.kinds {
            let range = listed_range(kind, b.range);
            let name = account_checkpoint_name(kind, range, b.client.account());
            let resume = if b.dry_run {
                None
            } else {
                b.store
                    .state
                    .checkpoint(&name)
                    .await?
                    .filter(|c| c != CHECKPOINT_DONE)
            };
            let mut summary = KindSummary {
                resumed_after: resume.clone(),
                range,
                ..KindSummary::default()
            };
            let mut pager = b.client.object_pager(kind, range, resume);
            let mut oldest: Option<i64> = None;
            totals.kind = kind;
            loop {
                if !b.dry_run {
                    waited += self.wait_for_room().await?;
                }
                let page = pager
                    .next_objects()
                    .await
                    .map_err(|source| BackfillError::Stripe {
                        kind: kind.name(),
                        source,
                    })?;
                let Some(page) = page else { break };
                let read_at = unix_now();
                summary.pages += 1;
                for object in &page.data {
                    summary.listed += 1;
                    if let Some(created) = created_of(object) {
                        oldest = Some(oldest.map_or(created, |o| o.min(created)));
                    }
                    // An invoice embeds only its first lines; a dry run does not read the rest
                    // (they change what is written, not whether).
                    let completed = if b.dry_run {
                        None
                    } else {
                        self.with_every_line(object).await?
                    };
                    let object = completed.as_ref().unwrap_or(object);
                    let Some(event) = synthetic_event(object, b.client.is_live(), read_at) else {
                        summary.skipped += 1;
                        continue;
                    };
                    match gives_facts(&event.event, &b.config) {
                        Ok(true) => {}
                        Ok(false) => {
                            summary.skipped += 1;
                            continue;
                        }
                        Err(e) => {
                            tracing::warn!(object = object.id().unwrap_or("?"), error = %e, "backfill: the mapping rejects this object; it is not queued");
                            summary.unreadable += 1;
                            continue;
                        }
                    }
                    if b.dry_run {
                        summary.queued += 1;
                        continue;
                    }
                    match b.store.queue.enqueue(event.job()).await? {
                        Enqueued::Inserted(_) => summary.queued += 1,
                        Enqueued::Duplicate(_) => summary.duplicates += 1,
                    }
                }
                if !b.dry_run {
                    let mark = pager.cursor().unwrap_or(CHECKPOINT_DONE);
                    let mark = if pager.is_done() {
                        CHECKPOINT_DONE
                    } else {
                        mark
                    };
                    b.store.state.save_checkpoint(&name, mark).await?;
                }
                let ready = if b.dry_run {
                    0
                } else {
                    b.store.admin.stats().await?.ready
                };
                progress(&Progress {
                    kind,
                    pages: totals.pages + summary.pages,
                    listed: totals.listed + summary.listed,
                    queued: totals.queued + summary.queued,
                    duplicates: totals.duplicates + summary.duplicates,
                    skipped: totals.skipped + summary.skipped,
                    ready,
                    eta: b
                        .budget
                        .eta(range.gte(), range_end, oldest, summary.queued, ready),
                });
            }
            totals.pages += summary.pages;
            totals.listed += summary.listed;
            totals.queued += summary.queued;
            totals.duplicates += summary.duplicates;
            totals.skipped += summary.skipped;
            kinds.push((kind, summary));
        }
        Ok(BackfillSummary {
            kinds,
            dry_run: b.dry_run,
            elapsed: started.elapsed(),
            waited_for_queue: waited,
            hubspot_time: b.budget.time_for(totals.queued),
        })
    }

    /// The invoice `object` with every line, when it is paid (it gives an event) and its
    /// embedded `lines` are only the first page (`lines.has_more`): the rest are read with
    /// `GET /v1/invoices/{id}/lines`, so the payment's line items are the invoice's, not its
    /// first handful. `None` when nothing is missing (or `object` is no invoice).
    async fn with_every_line(
        &self,
        object: &stripe_events::EventObject,
    ) -> Result<Option<stripe_events::EventObject>, BackfillError> {
        let stripe_events::EventObject::Invoice(invoice) = object else {
            return Ok(None);
        };
        let Some(lines) = invoice.lines.as_ref().filter(|l| l.has_more) else {
            return Ok(None);
        };
        if webhook_type_for(object).is_none() {
            return Ok(None);
        }
        let every = self
            .b
            .client
            .invoice_line_items(&invoice.id)
            .await
            .map_err(|source| BackfillError::Stripe {
                kind: "invoice lines",
                source,
            })?;
        let mut complete = invoice.clone();
        complete.lines = Some(stripe_events::List {
            data: every,
            has_more: false,
            url: lines.url.clone(),
        });
        Ok(Some(stripe_events::EventObject::Invoice(complete)))
    }

    /// Waits until fewer than `max_ready` jobs are ready; returns how long it waited.
    async fn wait_for_room(&self) -> Result<Duration, BackfillError> {
        let started = Instant::now();
        while self.b.store.admin.stats().await?.ready >= self.b.max_ready {
            tokio::time::sleep(self.b.queue_poll).await;
        }
        Ok(started.elapsed())
    }
}

fn created_of(object: &stripe_events::EventObject) -> Option<i64> {
    use stripe_events::EventObject as O;
    match object {
        O::Charge(c) => Some(c.created),
        O::Dispute(d) => Some(d.created),
        O::CheckoutSession(s) => Some(s.created),
        O::Invoice(i) => Some(i.created),
        O::PaymentIntent(p) => Some(p.created),
        O::Customer(c) => c.created,
        O::Subscription(s) => s.created,
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_connected_account_has_its_own_checkpoints_and_the_own_account_keeps_todays() {
        let range = CreatedRange::new(Some(1_700_000_000), None).unwrap();
        let own = checkpoint_name(ListKind::Charges, range);
        assert_eq!(own, "backfill:charges:1700000000:-");
        assert_eq!(account_checkpoint_name(ListKind::Charges, range, None), own);
        let a = account_checkpoint_name(ListKind::Charges, range, Some("acct_1A"));
        let b = account_checkpoint_name(ListKind::Charges, range, Some("acct_1B"));
        assert_eq!(a, "backfill:acct_1A:charges:1700000000:-");
        assert_ne!(a, b);
        assert_ne!(a, own);
    }
}
