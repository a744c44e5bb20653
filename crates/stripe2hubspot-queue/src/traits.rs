//! The three contracts of a store, split by job: the job source, its administration, and the
//! sync state the engine keeps next to the jobs.

use std::collections::HashMap;
use std::time::{Duration, SystemTime};

use stripe2hubspot_map::{CustomerFacts, Facts, LedgerRow, MappingConfig};

use crate::{
    Attempt, CompanyMember, CompanyWork, CompanyWritten, ContactMark, CustomerEntry, DeadLetter,
    EnqueueSignal, Enqueued, Erasure, Job, JobId, LedgerChange, LedgerEntry, LineItemWork, NewJob,
    QueueError, QueueStats, WriteMark,
};

/// A durable job source: what ingest and the sync engine need to move events through.
///
/// Object safe: the service holds an `Arc<dyn Queue>`. Implement it to plug in your own store
/// and pair it with the other two traits through [`Store`](crate::Store).
#[async_trait::async_trait]
pub trait Queue: Send + Sync + 'static {
    /// Store a job unless its event id is already stored. Returns only after the job is durable.
    async fn enqueue(&self, job: NewJob) -> Result<Enqueued, QueueError>;
    /// Claim up to `max` ready jobs, oldest first, each leased for `lease`.
    async fn reserve(&self, max: usize, lease: Duration) -> Result<Vec<Job>, QueueError>;
    /// Mark the job done (and drop its payload).
    async fn complete(&self, job: &Job) -> Result<(), QueueError>;
    /// Mark each job done, as [`complete`](Self::complete) does, in one durable step where
    /// the backend can (one transaction, one fsync), so settling a batch costs one commit;
    /// returns the ids of the jobs whose lease was lost, which are left as they are. The
    /// default completes them one by one.
    async fn complete_all(&self, jobs: &[Job]) -> Result<Vec<JobId>, QueueError> {
        let mut lost = Vec::new();
        for job in jobs {
            match self.complete(job).await {
                Ok(()) => {}
                Err(QueueError::LeaseLost { id }) => lost.push(id),
                Err(error) => return Err(error),
            }
        }
        Ok(lost)
    }
    /// Make the job ready again at `run_at`, recording `error`; `attempt` says whether the try
    /// counts against the job.
    async fn retry(
        &self,
        job: &Job,
        run_at: SystemTime,
        error: &str,
        attempt: Attempt,
    ) -> Result<(), QueueError>;
    /// Give the job back, ready now, without consuming an attempt.
    async fn release(&self, job: &Job) -> Result<(), QueueError>;
    /// Move the job to the dead letters, consuming an attempt.
    async fn dead_letter(&self, job: &Job, error: &str) -> Result<(), QueueError>;
    /// Extend to `lease` from now the lease of each job still held under its
    /// [`LeaseToken`](crate::LeaseToken); returns the ids of the jobs whose lease was lost (they
    /// were re-granted or answered), whose results the caller must drop.
    async fn renew(&self, jobs: &[Job], lease: Duration) -> Result<Vec<JobId>, QueueError>;
    /// A signal that fires once jobs are stored (by this process or, where the backend can
    /// tell, another), so a worker waits for work instead of polling. `None`, the default,
    /// means the backend cannot tell and the worker polls. See
    /// [`EnqueueNotifier`](crate::EnqueueNotifier) to offer one.
    fn enqueue_signal(&self) -> Option<EnqueueSignal> {
        None
    }
}

/// Inspection and upkeep of a queue: for operators, health checks and the engine's purge.
#[async_trait::async_trait]
pub trait QueueAdmin: Send + Sync + 'static {
    /// List up to `limit` dead letters with id greater than `after`, by id.
    async fn dead_letters(
        &self,
        limit: usize,
        after: Option<JobId>,
    ) -> Result<Vec<DeadLetter>, QueueError>;
    /// Make a dead letter ready now, with attempts reset to zero.
    async fn replay(&self, id: JobId) -> Result<(), QueueError>;
    /// Count jobs by state.
    async fn stats(&self) -> Result<QueueStats, QueueError>;
    /// Delete done jobs finished at least `older_than` ago; returns how many.
    async fn purge_done(&self, older_than: Duration) -> Result<u64, QueueError>;
    /// Delete dead letters (payload included) that failed at least `older_than` ago; returns
    /// how many. Their payloads may hold personal data, kept only as long as an operator may
    /// still replay them.
    async fn purge_dead(&self, older_than: Duration) -> Result<u64, QueueError>;
}

/// The payment and customer ledgers the sync engine keeps next to the jobs, so one backup
/// holds all: one row per payment, found by any of its ids, and one per Stripe customer
/// ([`CustomerEntry`]), each change raising the row's version, and the version last written
/// to HubSpot.
///
/// Payments are grouped by contact key for absolute rollups ([`contact_rows`](Self::contact_rows)):
/// under [`ContactKeySource::Email`](stripe2hubspot_map::ContactKeySource::Email) a payment of
/// a Stripe customer under `customer=cus_X`, whatever email it carries (identity follows the
/// customer); a guest payment (no customer id) with email E under `customer=cus_X` when a
/// customer's current email is E (the smallest such id), else under `email=E`. When a customer
/// gets email E, the guest payments under `email=E` move to it in the same transaction; a guest
/// payment that joined a customer stays with it when the customer's email changes later.
#[async_trait::async_trait]
pub trait SyncState: Send + Sync + 'static {
    /// Merges each of `facts` into the ledger, in one transaction: loads every row sharing an
    /// id with the facts, merges them and the facts into one row stored under its
    /// [`key`](LedgerRow::key), indexes it under every id it knows, and raises its version when
    /// the row or its key changed. Returns each row the call touched, as it stands after the
    /// call (changed or not), with the contact keys it was indexed under before the call
    /// ([`LedgerChange::previous_contact_keys`]). `config` decides the contact key and whether
    /// a row waits. Each payment naming a customer also feeds its contact data into the
    /// customer's row ([`CustomerRow::apply_payment`](stripe2hubspot_map::CustomerRow::apply_payment)),
    /// creating the row if missing, without raising the customer's version. A merge never undoes a mark recorded after it read a row (the written
    /// version only rises, a recorded deal stays), even when the two run at the same time.
    async fn merge_facts(
        &self,
        facts: &[Facts],
        config: &MappingConfig,
    ) -> Result<Vec<LedgerChange>, QueueError>;
    /// Every row indexed under `contact_key` (as [`contact_key_of`](crate::contact_key_of)
    /// and [`customer_contact_key`](crate::customer_contact_key) spell it), for absolute
    /// contact rollups.
    async fn contact_rows(&self, contact_key: &str) -> Result<Vec<LedgerRow>, QueueError>;
    /// The row known by `id` (any of its payment ids), if any.
    async fn ledger_entry(&self, id: &str) -> Result<Option<LedgerEntry>, QueueError>;
    /// Records that HubSpot holds each mark's version of its row (a written version never
    /// goes down), and the deal it went to. A mark whose row was re-keyed meanwhile changes
    /// nothing: the new row is unwritten. [`WriteMark::deal_only`] records a deal without a
    /// version, the moment HubSpot names it.
    async fn mark_written(&self, marks: &[WriteMark]) -> Result<(), QueueError>;
    /// Makes the row stored under `key` unwritten again, so the sync engine writes it anew,
    /// but only while its version is still `version` (a row that moved on is written by the
    /// engine anyway, from its newer state). With `forget_deal`, also forgets the deal it was
    /// written to (HubSpot no longer has it). Returns whether the row was reset.
    async fn reset_written(
        &self,
        key: &str,
        version: i64,
        forget_deal: bool,
    ) -> Result<bool, QueueError>;
    /// Up to `limit` rows that do not wait and whose version HubSpot has not seen, by key.
    async fn unwritten(&self, limit: usize) -> Result<Vec<LedgerEntry>, QueueError>;
    /// How many payments wait for more facts (a capture, a contact): they are not done.
    async fn waiting_count(&self) -> Result<u64, QueueError>;
    /// Up to `limit` of the waiting payments, by key (for operators: what is stuck and why,
    /// via [`LedgerRow::state`]).
    async fn waiting(&self, limit: usize) -> Result<Vec<LedgerEntry>, QueueError>;

    /// Up to `limit` rows of the whole ledger, waiting or not, in key order, starting after the
    /// key `after` (`None`: from the first). Page through the ledger by passing the last key
    /// of one page as `after` of the next; an empty page is the end.
    async fn ledger_rows(
        &self,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<LedgerEntry>, QueueError>;

    /// The value last saved under `name` by [`save_checkpoint`](Self::save_checkpoint), if any.
    async fn checkpoint(&self, name: &str) -> Result<Option<String>, QueueError>;

    /// Saves `value` under `name`, replacing what was there: where a long-running reader such
    /// as a backfill got to, so a crash or restart resumes after it.
    async fn save_checkpoint(&self, name: &str, value: &str) -> Result<(), QueueError>;

    /// The recorded [`ContactMark`] of each of `contact_keys` that has one, by contact key.
    async fn contact_marks(
        &self,
        contact_keys: &[String],
    ) -> Result<HashMap<String, ContactMark>, QueueError>;

    /// Records each mark (replacing the one its contact key had), in one transaction: call it
    /// once HubSpot confirmed writing those properties to that contact.
    async fn record_contact_marks(&self, marks: &[ContactMark]) -> Result<(), QueueError>;

    /// Removes the marks of `contact_keys` (unknown keys are ignored): the contact they name
    /// is gone from HubSpot (deleted, or erased), so the next write finds or creates it anew.
    async fn forget_contact_marks(&self, contact_keys: &[String]) -> Result<(), QueueError>;

    /// Merges each of `facts` (customer and subscription events) into its customer's row, in
    /// one transaction, and returns each customer the call touched as it stands after the call
    /// (changed or not), by customer id. A customer's version rises only when its values
    /// changed ([`CustomerRow::same_values_as`](stripe2hubspot_map::CustomerRow::same_values_as)):
    /// a redelivery or an older event keeps it. When a customer gets an email under
    /// [`ContactKeySource::Email`](stripe2hubspot_map::ContactKeySource::Email), the guest
    /// payments (no customer id) indexed under that email move to the customer's contact key
    /// ([`customer_contact_key`](crate::customer_contact_key)) in the same transaction, and the
    /// contact mark of the emptied email key is removed. `config` decides the contact keys.
    async fn merge_customer_facts(
        &self,
        facts: &[CustomerFacts],
        config: &MappingConfig,
    ) -> Result<Vec<CustomerEntry>, QueueError>;

    /// The stored rows of the customers `ids` that exist, by customer id.
    async fn customers(&self, ids: &[String])
        -> Result<HashMap<String, CustomerEntry>, QueueError>;

    /// Records that HubSpot holds each `(customer_id, version)` (a written version never goes
    /// down; unknown customers are ignored).
    async fn mark_customers_written(&self, marks: &[(String, i64)]) -> Result<(), QueueError>;

    /// Makes the customer unwritten again, so the engine writes its contact anew, but only
    /// while its version is still `version`. Returns whether it was reset.
    async fn reset_customer_written(
        &self,
        customer_id: &str,
        version: i64,
    ) -> Result<bool, QueueError>;

    /// Up to `limit` customers whose version HubSpot has not seen, by customer id.
    async fn unwritten_customers(&self, limit: usize) -> Result<Vec<CustomerEntry>, QueueError>;

    /// Up to `limit` customers in id order, starting after the id `after` (`None`: from the
    /// first). Page with the last id of one page as `after` of the next; an empty page ends.
    async fn customer_rows(
        &self,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<CustomerEntry>, QueueError>;

    /// Forgets the person behind a Stripe customer (GDPR), in one transaction: the customer
    /// row's contact data erased (the row kept, marked deleted, counted as written, so a later
    /// event does not bring the person back unless it carries them again); email, name and
    /// phone erased from every payment row indexed under the customer's contact key or under
    /// an email the person's rows hold (those rows then indexed under the customer's key);
    /// the payloads of stored events not yet done (pending, retried, leased, dead) that name the
    /// customer id or one of those emails redacted
    /// ([`redact_personal`](crate::redact_personal), and any other text mentioning the email
    /// blanked); the contact marks keyed by those emails removed. Afterwards no table holds the
    /// person's emails. A customer the store does not know gives an empty [`Erasure`].
    async fn erase_customer(
        &self,
        customer_id: &str,
        config: &MappingConfig,
    ) -> Result<Erasure, QueueError>;

    /// Records where each contact of `members` belongs now, in one transaction: its
    /// membership (contact key to company, its HubSpot contact id) and its `deal_ids`; the
    /// generation of its company is raised (its rollups changed) and, when it moved, that of
    /// the company it left. A new contact id, deal id or company makes the association
    /// unlinked again. A member with no company is removed with its deals.
    async fn note_company_members(&self, members: &[CompanyMember]) -> Result<(), QueueError>;

    /// Up to `limit` companies, in key order, whose generation HubSpot has not seen or that
    /// have unlinked contacts or deals.
    async fn dirty_companies(&self, limit: usize) -> Result<Vec<CompanyWork>, QueueError>;

    /// Records what HubSpot holds: each company's id, its written generation (a generation
    /// raised since stays dirty) and the associations made. Unknown keys are ignored.
    async fn mark_companies_written(&self, written: &[CompanyWritten]) -> Result<(), QueueError>;

    /// Forgets the HubSpot id of the company `key` (HubSpot no longer has it: deleted or
    /// merged): every association of it becomes unlinked and the company dirty, so the next
    /// pass finds or creates it anew.
    async fn forget_company(&self, key: &str) -> Result<(), QueueError>;

    /// Notes that the deal of each `(payment_key, deal_id, fingerprint)` should carry the line
    /// items of its ledger row; the generation rises only when the deal id or the fingerprint
    /// differs from the last noted one (a redelivery notes nothing new).
    async fn note_line_items(&self, work: &[(String, String, String)]) -> Result<(), QueueError>;

    /// Up to `limit` deals, in payment key order, whose line items are behind.
    async fn pending_line_items(&self, limit: usize) -> Result<Vec<LineItemWork>, QueueError>;

    /// Records that the line items of each `(payment_key, generation)` are written (a
    /// generation raised since stays pending).
    async fn mark_line_items_written(&self, written: &[(String, i64)]) -> Result<(), QueueError>;
}
