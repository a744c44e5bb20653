use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, SystemTime};

use std::collections::BTreeMap;

use stripe2hubspot_map::{
    CompanyKey, ContactKeySource, CustomerFacts, Facts, LedgerRow, MappingConfig,
};

use crate::customer::{
    email_contact_key, erased_customer, feed_payment_step, guest_email, merge_customer_step,
    settle_guest, unseen_customer, with_customer_email, CustomerMerged,
};
use crate::erasure::{emails_in, erase_payment, names_person, redact_payload, row_json};
use crate::ledger::{merge_step, Changes, Merged};
use crate::time::{duration_millis, from_millis, now_millis, to_millis};
use crate::{
    customer_contact_key, CompanyMember, CompanyWork, CompanyWritten, ContactMark, CustomerEntry,
    Erasure, LedgerChange, LedgerEntry, LineItemWork, WriteMark,
};
use crate::{
    Attempt, DeadLetter, EnqueueNotifier, EnqueueSignal, Enqueued, Job, JobId, LeaseToken, NewJob,
    Queue, QueueAdmin, QueueError, QueueStats, SyncState, LEASE_EXPIRED,
};

/// An in-process queue: fast, and lost when the process exits.
///
/// Use it in tests, or where losing unprocessed events on restart is acceptable.
#[derive(Debug, Default)]
pub struct MemoryQueue {
    inner: Mutex<Inner>,
    notifier: EnqueueNotifier,
}

#[derive(Debug, Default)]
struct Inner {
    next_id: JobId,
    jobs: HashMap<JobId, Entry>,
    by_event: HashMap<String, JobId>,
    /// Ledger rows by key.
    ledger: HashMap<String, StoredRow>,
    /// Every payment id -> the key of its row.
    aliases: HashMap<String, String>,
    checkpoints: HashMap<String, String>,
    operator_pause: Option<crate::OperatorPause>,
    /// What HubSpot last confirmed per contact key.
    contact_marks: HashMap<String, ContactMark>,
    /// Customer rows by customer id.
    customers: BTreeMap<String, CustomerEntry>,
    /// Company memberships and line-item work.
    side: Side,
    /// The portals and their accounts.
    portals: Portals,
    /// Each stored portal's own data, by portal id.
    namespaces: HashMap<String, std::sync::Arc<MemoryQueue>>,
    /// Portal leases by portal id.
    leases: BTreeMap<String, crate::Lease>,
    /// Live processes by id -> when their announcement expires.
    processes: BTreeMap<String, std::time::SystemTime>,
    /// Unrouted events by event id -> (account, event, arrival order, arrival time).
    unrouted: HashMap<String, (String, NewJob, u64, std::time::SystemTime)>,
    /// Arrival order of unrouted events.
    unrouted_seq: u64,
}

/// The portals, as the SQL tables of migration 8 hold them.
#[derive(Debug, Default)]
struct Portals {
    /// Portals by id, their accounts included.
    by_id: BTreeMap<String, crate::Portal>,
    /// Every routed account -> its portal's id.
    accounts: HashMap<String, String>,
    /// Raised by every write.
    revision: u64,
}

impl Portals {
    /// The first of `accounts` routed to a portal other than `id`, as the error to give.
    fn claimed(&self, id: &str, accounts: &[String]) -> Option<crate::PortalError> {
        accounts.iter().find_map(|account| {
            self.accounts
                .get(account)
                .filter(|owner| *owner != id)
                .map(|owner| crate::PortalError::AccountClaimed {
                    account: account.clone(),
                    portal: owner.clone(),
                })
        })
    }
}

/// The company and line-item work sets, as the SQL tables of migration 7 hold them.
#[derive(Debug, Default)]
struct Side {
    /// Companies by key value.
    companies: BTreeMap<String, CompanyRec>,
    /// Memberships by contact key.
    members: BTreeMap<String, Link>,
    /// Deals by HubSpot deal id (`Link::contact_key` names the member that brought it).
    deals: BTreeMap<String, Link>,
    /// Line-item work by payment key.
    line_items: BTreeMap<String, LineItemRec>,
}

#[derive(Debug)]
struct CompanyRec {
    key: CompanyKey,
    hubspot_id: Option<String>,
    generation: i64,
    written_generation: i64,
}

/// A contact or deal in a company; `linked_to` is the company id it was last associated with.
#[derive(Debug)]
struct Link {
    company: String,
    /// The HubSpot contact id (for a member) or the member's contact key (for a deal).
    other: String,
    linked_to: Option<String>,
}

#[derive(Debug)]
struct LineItemRec {
    deal_id: String,
    fingerprint: String,
    generation: i64,
    written_generation: i64,
}

impl Side {
    /// Raises the generation of `company` (its members or their payments changed).
    fn bump(&mut self, company: &str) {
        if let Some(rec) = self.companies.get_mut(company) {
            rec.generation += 1;
        }
    }

    /// Removes the membership of `contact_key` and its deals, bumping the company it left.
    fn leave(&mut self, contact_key: &str) {
        if let Some(old) = self.members.remove(contact_key) {
            self.bump(&old.company);
        }
        self.deals.retain(|_, deal| deal.other != contact_key);
    }

    fn note(&mut self, member: &CompanyMember) {
        let Some(company) = &member.company else {
            self.leave(&member.contact_key);
            return;
        };
        let value = company.value().to_owned();
        match self.companies.get_mut(&value) {
            Some(rec) => {
                rec.key = company.clone();
                rec.generation += 1;
            }
            None => {
                self.companies.insert(
                    value.clone(),
                    CompanyRec {
                        key: company.clone(),
                        hubspot_id: None,
                        generation: 1,
                        written_generation: 0,
                    },
                );
            }
        }
        let moved_from = match self.members.get(&member.contact_key) {
            Some(old) if old.company != value => Some(old.company.clone()),
            _ => None,
        };
        if let Some(old) = &moved_from {
            self.bump(old);
            // The member's deals go with it, to be associated with the new company.
            for deal in self.deals.values_mut() {
                if deal.other == member.contact_key && deal.company != value {
                    deal.company = value.clone();
                    deal.linked_to = None;
                }
            }
        }
        let linked_to = match self.members.get(&member.contact_key) {
            Some(old) if old.company == value && old.other == member.contact_id => {
                old.linked_to.clone()
            }
            _ => None,
        };
        self.members.insert(
            member.contact_key.clone(),
            Link {
                company: value.clone(),
                other: member.contact_id.clone(),
                linked_to,
            },
        );
        for deal_id in &member.deal_ids {
            let linked_to = match self.deals.get(deal_id) {
                Some(old) if old.company == value => old.linked_to.clone(),
                Some(old) => {
                    // The deal belonged to another member's company: that company changed too.
                    let previous = old.company.clone();
                    self.bump(&previous);
                    None
                }
                None => None,
            };
            self.deals.insert(
                deal_id.clone(),
                Link {
                    company: value.clone(),
                    other: member.contact_key.clone(),
                    linked_to,
                },
            );
        }
    }

    fn dirty(&self, limit: usize) -> Vec<CompanyWork> {
        let mut out = Vec::new();
        for (value, rec) in &self.companies {
            if out.len() >= limit {
                break;
            }
            let pending = |link: &Link| {
                link.company == *value
                    && (rec.hubspot_id.is_none() || link.linked_to != rec.hubspot_id)
            };
            let mut members = Vec::new();
            let mut unlinked_contacts = Vec::new();
            for (contact_key, link) in &self.members {
                if link.company == *value {
                    members.push(contact_key.clone());
                    if pending(link) {
                        unlinked_contacts.push(link.other.clone());
                    }
                }
            }
            let unlinked_deals: Vec<String> = self
                .deals
                .iter()
                .filter(|(_, link)| pending(link))
                .map(|(deal_id, _)| deal_id.clone())
                .collect();
            unlinked_contacts.sort();
            unlinked_contacts.dedup();
            let behind = rec.generation > rec.written_generation;
            if behind || !unlinked_contacts.is_empty() || !unlinked_deals.is_empty() {
                out.push(CompanyWork {
                    key: rec.key.clone(),
                    hubspot_id: rec.hubspot_id.clone(),
                    generation: rec.generation,
                    members,
                    unlinked_contacts,
                    unlinked_deals,
                });
            }
        }
        out
    }

    fn mark_written(&mut self, written: &CompanyWritten) {
        let Some(rec) = self.companies.get_mut(&written.key) else {
            return;
        };
        rec.hubspot_id = Some(written.hubspot_id.clone());
        rec.written_generation = rec.written_generation.max(written.generation);
        for link in self.members.values_mut() {
            if link.company == written.key && written.linked_contacts.contains(&link.other) {
                link.linked_to = Some(written.hubspot_id.clone());
            }
        }
        for (deal_id, link) in self.deals.iter_mut() {
            if link.company == written.key && written.linked_deals.contains(deal_id) {
                link.linked_to = Some(written.hubspot_id.clone());
            }
        }
    }

    fn forget(&mut self, key: &str) {
        let Some(rec) = self.companies.get_mut(key) else {
            return;
        };
        rec.hubspot_id = None;
        rec.generation += 1;
        for link in self.members.values_mut().chain(self.deals.values_mut()) {
            if link.company == key {
                link.linked_to = None;
            }
        }
    }

    fn note_line_items(&mut self, payment_key: &str, deal_id: &str, fingerprint: &str) {
        match self.line_items.get_mut(payment_key) {
            Some(rec) if rec.deal_id == deal_id && rec.fingerprint == fingerprint => {}
            Some(rec) => {
                rec.deal_id = deal_id.to_owned();
                rec.fingerprint = fingerprint.to_owned();
                rec.generation += 1;
            }
            None => {
                self.line_items.insert(
                    payment_key.to_owned(),
                    LineItemRec {
                        deal_id: deal_id.to_owned(),
                        fingerprint: fingerprint.to_owned(),
                        generation: 1,
                        written_generation: 0,
                    },
                );
            }
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Ready,
    Leased { until: i64 },
    Done,
    Dead,
}

#[derive(Debug)]
struct Entry {
    job: NewJob,
    state: State,
    run_at: i64,
    attempts: u32,
    lease: i64,
    last_error: Option<String>,
    finished_at: i64,
}

impl MemoryQueue {
    /// An empty queue.
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // A panic while holding the lock cannot leave an entry half-updated (every update is a
        // few plain field writes), so a poisoned lock is still consistent.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Inner {
    /// The entry for `job` if `job` still holds its lease.
    fn held(&mut self, job: &Job) -> Result<&mut Entry, QueueError> {
        match self.jobs.get_mut(&job.id) {
            Some(e) if matches!(e.state, State::Leased { .. }) && e.lease == job.lease.0 => Ok(e),
            _ => Err(QueueError::LeaseLost { id: job.id }),
        }
    }
}

#[async_trait::async_trait]
impl Queue for MemoryQueue {
    async fn enqueue(&self, job: NewJob) -> Result<Enqueued, QueueError> {
        let mut inner = self.lock();
        if let Some(&id) = inner.by_event.get(&job.event_id) {
            return Ok(Enqueued::Duplicate(id));
        }
        inner.next_id += 1;
        let id = inner.next_id;
        inner.by_event.insert(job.event_id.clone(), id);
        inner.jobs.insert(
            id,
            Entry {
                job,
                state: State::Ready,
                run_at: now_millis(),
                attempts: 0,
                lease: 0,
                last_error: None,
                finished_at: 0,
            },
        );
        drop(inner);
        self.notifier.notify();
        Ok(Enqueued::Inserted(id))
    }

    fn enqueue_signal(&self) -> Option<EnqueueSignal> {
        Some(self.notifier.subscribe())
    }

    async fn reserve(&self, max: usize, lease: Duration) -> Result<Vec<Job>, QueueError> {
        let now = now_millis();
        let until = now.saturating_add(duration_millis(lease));
        let mut inner = self.lock();
        let mut due: Vec<(i64, JobId)> = inner
            .jobs
            .iter()
            .filter(|(_, e)| match e.state {
                State::Ready => e.run_at <= now,
                State::Leased { until } => until <= now,
                State::Done | State::Dead => false,
            })
            .map(|(&id, e)| (e.run_at, id))
            .collect();
        due.sort_unstable();
        due.truncate(max);
        let mut out = Vec::with_capacity(due.len());
        for (_, id) in due {
            let Some(e) = inner.jobs.get_mut(&id) else {
                continue;
            };
            if matches!(e.state, State::Leased { .. }) {
                e.attempts = e.attempts.saturating_add(1);
                e.last_error = Some(LEASE_EXPIRED.to_owned());
            }
            e.state = State::Leased { until };
            e.lease += 1;
            out.push(Job {
                id,
                event_id: e.job.event_id.clone(),
                event_type: e.job.event_type.clone(),
                event_created: e.job.event_created,
                payload: e.job.payload.clone(),
                attempts: e.attempts,
                lease: LeaseToken(e.lease),
                last_error: e.last_error.clone(),
            });
        }
        Ok(out)
    }

    async fn complete(&self, job: &Job) -> Result<(), QueueError> {
        let mut inner = self.lock();
        let e = inner.held(job)?;
        e.state = State::Done;
        e.finished_at = now_millis();
        e.job.payload = Vec::new();
        Ok(())
    }

    async fn complete_all(&self, jobs: &[Job]) -> Result<Vec<JobId>, QueueError> {
        let finished_at = now_millis();
        let mut inner = self.lock();
        let mut lost = Vec::new();
        for job in jobs {
            match inner.held(job) {
                Ok(e) => {
                    e.state = State::Done;
                    e.finished_at = finished_at;
                    e.job.payload = Vec::new();
                }
                Err(_) => lost.push(job.id),
            }
        }
        Ok(lost)
    }

    async fn retry(
        &self,
        job: &Job,
        run_at: SystemTime,
        error: &str,
        attempt: Attempt,
    ) -> Result<(), QueueError> {
        let mut inner = self.lock();
        let e = inner.held(job)?;
        e.state = State::Ready;
        e.run_at = to_millis(run_at);
        e.last_error = Some(error.to_owned());
        e.attempts = e.attempts.saturating_add(attempt.count());
        Ok(())
    }

    async fn release(&self, job: &Job) -> Result<(), QueueError> {
        let mut inner = self.lock();
        let e = inner.held(job)?;
        e.state = State::Ready;
        Ok(())
    }

    async fn dead_letter(&self, job: &Job, error: &str) -> Result<(), QueueError> {
        let mut inner = self.lock();
        let e = inner.held(job)?;
        e.state = State::Dead;
        e.attempts = e.attempts.saturating_add(1);
        e.last_error = Some(error.to_owned());
        e.finished_at = now_millis();
        Ok(())
    }

    async fn renew(&self, jobs: &[Job], lease: Duration) -> Result<Vec<JobId>, QueueError> {
        let until = now_millis().saturating_add(duration_millis(lease));
        let mut inner = self.lock();
        let mut lost = Vec::new();
        for job in jobs {
            match inner.held(job) {
                Ok(e) => e.state = State::Leased { until },
                Err(_) => lost.push(job.id),
            }
        }
        Ok(lost)
    }
}

#[async_trait::async_trait]
impl QueueAdmin for MemoryQueue {
    async fn dead_letters(
        &self,
        limit: usize,
        after: Option<JobId>,
    ) -> Result<Vec<DeadLetter>, QueueError> {
        let after = after.unwrap_or(JobId::MIN);
        let inner = self.lock();
        let mut out: Vec<DeadLetter> = inner
            .jobs
            .iter()
            .filter(|(&id, e)| e.state == State::Dead && id > after)
            .map(|(&id, e)| DeadLetter {
                id,
                event_id: e.job.event_id.clone(),
                event_type: e.job.event_type.clone(),
                attempts: e.attempts,
                error: e.last_error.clone().unwrap_or_default(),
                failed_at: from_millis(e.finished_at),
                payload: e.job.payload.clone(),
            })
            .collect();
        out.sort_unstable_by_key(|d| d.id);
        out.truncate(limit);
        Ok(out)
    }

    async fn replay(&self, id: JobId) -> Result<(), QueueError> {
        let mut inner = self.lock();
        match inner.jobs.get_mut(&id) {
            Some(e) if e.state == State::Dead => {
                e.state = State::Ready;
                e.attempts = 0;
                e.run_at = now_millis();
                drop(inner);
                self.notifier.notify();
                Ok(())
            }
            _ => Err(QueueError::NotFound { id }),
        }
    }

    async fn stats(&self) -> Result<QueueStats, QueueError> {
        let now = now_millis();
        let inner = self.lock();
        let mut s = QueueStats::default();
        for e in inner.jobs.values() {
            match e.state {
                State::Ready if e.run_at <= now => s.ready += 1,
                State::Ready => s.delayed += 1,
                State::Leased { until } if until <= now => s.ready += 1,
                State::Leased { .. } => s.leased += 1,
                State::Done => s.done += 1,
                State::Dead => s.dead += 1,
            }
        }
        Ok(s)
    }

    async fn purge_done(&self, older_than: Duration) -> Result<u64, QueueError> {
        let cutoff = now_millis().saturating_sub(duration_millis(older_than));
        let mut inner = self.lock();
        let Inner { jobs, by_event, .. } = &mut *inner;
        let before = jobs.len();
        jobs.retain(|_, e| {
            let purge = e.state == State::Done && e.finished_at <= cutoff;
            if purge {
                by_event.remove(&e.job.event_id);
            }
            !purge
        });
        Ok((before - jobs.len()) as u64)
    }

    async fn purge_dead(&self, older_than: Duration) -> Result<u64, QueueError> {
        let cutoff = now_millis().saturating_sub(duration_millis(older_than));
        let mut inner = self.lock();
        let Inner { jobs, by_event, .. } = &mut *inner;
        let before = jobs.len();
        jobs.retain(|_, e| {
            let purge = e.state == State::Dead && e.finished_at <= cutoff;
            if purge {
                by_event.remove(&e.job.event_id);
            }
            !purge
        });
        Ok((before - jobs.len()) as u64)
    }
}

/// A ledger row with the columns the SQL backends index.
#[derive(Debug, Clone)]
struct StoredRow {
    entry: LedgerEntry,
    contact_key: Option<String>,
    waiting: bool,
}

impl Inner {
    /// The rows sharing an id with `facts`, each with the contact key it is indexed under.
    fn rows_named(&self, facts: &Facts) -> Vec<(LedgerEntry, Option<String>)> {
        let mut keys: Vec<&String> = facts
            .ids
            .all()
            .filter_map(|id| self.aliases.get(id))
            .collect();
        keys.sort();
        keys.dedup();
        keys.into_iter()
            .filter_map(|key| self.ledger.get(key))
            .map(|stored| (stored.entry.clone(), stored.contact_key.clone()))
            .collect()
    }

    /// The customer a guest payment with `email` joins: the smallest id of the customers whose
    /// current email it is.
    fn customer_with_email(&self, email: &str) -> Option<&str> {
        // The map is ordered by id, so the first match is the smallest.
        self.customers
            .values()
            .find(|c| c.row.email() == Some(email))
            .map(|c| c.customer_id.as_str())
    }

    /// Settles the contact key of a guest row ([`settle_guest`]).
    fn resolve_guest(
        &self,
        merged: &mut Merged,
        existing: &[(LedgerEntry, Option<String>)],
        config: &MappingConfig,
    ) {
        if let Some(email) = guest_email(&merged.entry.row, config) {
            let owner = self.customer_with_email(email).map(str::to_owned);
            settle_guest(merged, owner.as_deref(), existing, config);
        }
    }

    /// Stores a merged customer row; when it acquired an email, the guest rows of that email
    /// join their customer.
    fn store_customer(&mut self, merged: &CustomerMerged, config: &MappingConfig) {
        let entry = &merged.entry;
        self.customers
            .insert(entry.customer_id.clone(), entry.clone());
        if let (Some(email), ContactKeySource::Email) = (&merged.acquired_email, config.contact_key)
        {
            self.join_guests(email, config);
        }
    }

    /// Moves the guest rows indexed under `email` to the customer whose current email it is,
    /// and forgets the emptied email key's contact mark.
    fn join_guests(&mut self, email: &str, config: &MappingConfig) {
        let Some(customer_id) = self.customer_with_email(email) else {
            return;
        };
        let to = customer_contact_key(customer_id, config);
        let from = email_contact_key(email);
        let mut moved = false;
        for stored in self.ledger.values_mut() {
            if stored.contact_key.as_deref() == Some(from.as_str()) {
                stored.contact_key = Some(to.clone());
                moved = true;
            }
        }
        if moved {
            self.contact_marks.remove(&from);
        }
    }

    fn store_merged(&mut self, merged: &Merged) {
        let key = &merged.entry.key;
        for old in &merged.removed_keys {
            self.ledger.remove(old);
            for target in self.aliases.values_mut().filter(|t| *t == old) {
                *target = key.clone();
            }
        }
        for alias in &merged.aliases {
            self.aliases.insert(alias.clone(), key.clone());
        }
        self.ledger.insert(
            key.clone(),
            StoredRow {
                entry: merged.entry.clone(),
                contact_key: merged.contact_key.clone(),
                waiting: merged.waiting,
            },
        );
    }
}

#[async_trait::async_trait]
impl SyncState for MemoryQueue {
    async fn merge_facts(
        &self,
        facts: &[Facts],
        config: &MappingConfig,
    ) -> Result<Vec<LedgerChange>, QueueError> {
        let mut inner = self.lock();
        let mut changes = Changes::default();
        for fact in facts {
            let customer_id = fact.contact.customer_id.as_deref();
            let stored = customer_id.and_then(|id| inner.customers.get(id)).cloned();
            let mut customer = stored.clone();
            if let Some(fed) = feed_payment_step(stored.as_ref(), fact) {
                if fed.changed {
                    inner.store_customer(&fed, config);
                }
                customer = Some(fed.entry);
            }
            let fact = with_customer_email(fact, customer.as_ref());
            let existing = inner.rows_named(&fact);
            let entries: Vec<LedgerEntry> = existing.iter().map(|(e, _)| e.clone()).collect();
            let Some(mut merged) = merge_step(&entries, &fact, config) else {
                continue;
            };
            inner.resolve_guest(&mut merged, &existing, config);
            if merged.changed {
                inner.store_merged(&merged);
            }
            changes.record(&existing, &merged);
        }
        Ok(changes.into_vec())
    }

    async fn contact_rows(&self, contact_key: &str) -> Result<Vec<LedgerRow>, QueueError> {
        let inner = self.lock();
        let mut rows: Vec<(&String, LedgerRow)> = inner
            .ledger
            .iter()
            .filter(|(_, stored)| stored.contact_key.as_deref() == Some(contact_key))
            .map(|(key, stored)| (key, stored.entry.row.clone()))
            .collect();
        rows.sort_by(|a, b| a.0.cmp(b.0));
        Ok(rows.into_iter().map(|(_, row)| row).collect())
    }

    async fn ledger_entry(&self, id: &str) -> Result<Option<LedgerEntry>, QueueError> {
        let inner = self.lock();
        Ok(inner
            .aliases
            .get(id)
            .and_then(|key| inner.ledger.get(key))
            .map(|stored| stored.entry.clone()))
    }

    async fn mark_written(&self, marks: &[WriteMark]) -> Result<(), QueueError> {
        let mut inner = self.lock();
        for mark in marks {
            if let Some(stored) = inner.ledger.get_mut(&mark.key) {
                let entry = &mut stored.entry;
                entry.written_version = entry.written_version.max(mark.version);
                if mark.deal.is_some() {
                    entry.deal = mark.deal.clone();
                }
            }
        }
        Ok(())
    }

    async fn reset_written(
        &self,
        key: &str,
        version: i64,
        forget_deal: bool,
    ) -> Result<bool, QueueError> {
        let mut inner = self.lock();
        let Some(stored) = inner.ledger.get_mut(key) else {
            return Ok(false);
        };
        let entry = &mut stored.entry;
        if entry.version != version {
            return Ok(false);
        }
        entry.written_version = 0;
        if forget_deal {
            entry.deal = None;
        }
        Ok(true)
    }

    async fn unwritten(&self, limit: usize) -> Result<Vec<LedgerEntry>, QueueError> {
        let inner = self.lock();
        let mut rows: Vec<&LedgerEntry> = inner
            .ledger
            .values()
            .filter(|stored| !stored.waiting && stored.entry.is_unwritten())
            .map(|stored| &stored.entry)
            .collect();
        rows.sort_by(|a, b| a.key.cmp(&b.key));
        Ok(rows.into_iter().take(limit).cloned().collect())
    }

    async fn waiting_count(&self) -> Result<u64, QueueError> {
        let inner = self.lock();
        Ok(inner.ledger.values().filter(|s| s.waiting).count() as u64)
    }

    async fn waiting(&self, limit: usize) -> Result<Vec<LedgerEntry>, QueueError> {
        let inner = self.lock();
        let mut rows: Vec<&LedgerEntry> = inner
            .ledger
            .values()
            .filter(|stored| stored.waiting)
            .map(|stored| &stored.entry)
            .collect();
        rows.sort_by(|a, b| a.key.cmp(&b.key));
        Ok(rows.into_iter().take(limit).cloned().collect())
    }

    async fn ledger_rows(
        &self,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<LedgerEntry>, QueueError> {
        let inner = self.lock();
        let after = after.unwrap_or_default();
        let mut rows: Vec<&LedgerEntry> = inner
            .ledger
            .iter()
            .filter(|(key, _)| key.as_str() > after)
            .map(|(_, stored)| &stored.entry)
            .collect();
        rows.sort_by(|a, b| a.key.cmp(&b.key));
        Ok(rows.into_iter().take(limit).cloned().collect())
    }

    async fn checkpoint(&self, name: &str) -> Result<Option<String>, QueueError> {
        Ok(self.lock().checkpoints.get(name).cloned())
    }

    async fn save_checkpoint(&self, name: &str, value: &str) -> Result<(), QueueError> {
        self.lock()
            .checkpoints
            .insert(name.to_owned(), value.to_owned());
        Ok(())
    }

    async fn contact_marks(
        &self,
        contact_keys: &[String],
    ) -> Result<HashMap<String, ContactMark>, QueueError> {
        let inner = self.lock();
        Ok(contact_keys
            .iter()
            .filter_map(|key| Some((key.clone(), inner.contact_marks.get(key)?.clone())))
            .collect())
    }

    async fn record_contact_marks(&self, marks: &[ContactMark]) -> Result<(), QueueError> {
        let mut inner = self.lock();
        for mark in marks {
            inner
                .contact_marks
                .insert(mark.contact_key.clone(), mark.clone());
        }
        Ok(())
    }

    async fn forget_contact_marks(&self, contact_keys: &[String]) -> Result<(), QueueError> {
        let mut inner = self.lock();
        for key in contact_keys {
            inner.contact_marks.remove(key);
        }
        Ok(())
    }

    async fn merge_customer_facts(
        &self,
        facts: &[CustomerFacts],
        config: &MappingConfig,
    ) -> Result<Vec<CustomerEntry>, QueueError> {
        let mut inner = self.lock();
        let mut touched = BTreeMap::new();
        for fact in facts {
            let stored = inner.customers.get(&fact.customer_id).cloned();
            let merged = merge_customer_step(stored.as_ref(), fact);
            if merged.changed {
                inner.store_customer(&merged, config);
            }
            touched.insert(merged.entry.customer_id.clone(), merged.entry);
        }
        Ok(touched.into_values().collect())
    }

    async fn customers(
        &self,
        ids: &[String],
    ) -> Result<HashMap<String, CustomerEntry>, QueueError> {
        let inner = self.lock();
        Ok(ids
            .iter()
            .filter_map(|id| Some((id.clone(), inner.customers.get(id)?.clone())))
            .collect())
    }

    async fn mark_customers_written(&self, marks: &[(String, i64)]) -> Result<(), QueueError> {
        let mut inner = self.lock();
        for (customer_id, version) in marks {
            if let Some(entry) = inner.customers.get_mut(customer_id) {
                entry.written_version = entry.written_version.max(*version);
            }
        }
        Ok(())
    }

    async fn reset_customer_written(
        &self,
        customer_id: &str,
        version: i64,
    ) -> Result<bool, QueueError> {
        let mut inner = self.lock();
        match inner.customers.get_mut(customer_id) {
            Some(entry) if entry.version == version => {
                entry.written_version = 0;
                Ok(true)
            }
            _ => Ok(false),
        }
    }

    async fn unwritten_customers(&self, limit: usize) -> Result<Vec<CustomerEntry>, QueueError> {
        let inner = self.lock();
        Ok(inner
            .customers
            .values()
            .filter(|entry| entry.is_unwritten())
            .take(limit)
            .cloned()
            .collect())
    }

    async fn customer_rows(
        &self,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<CustomerEntry>, QueueError> {
        let inner = self.lock();
        let after = after.unwrap_or_default();
        Ok(inner
            .customers
            .values()
            .filter(|entry| entry.customer_id.as_str() > after)
            .take(limit)
            .cloned()
            .collect())
    }

    async fn erase_customer(
        &self,
        customer_id: &str,
        config: &MappingConfig,
    ) -> Result<Erasure, QueueError> {
        let mut inner = self.lock();
        let key = customer_contact_key(customer_id, config);
        let customer = inner.customers.get(customer_id).cloned();
        let mut known = customer.is_some();
        let customer = customer.unwrap_or_else(|| unseen_customer(customer_id));
        let mut emails = emails_in(&row_json(&customer.row)?);
        for stored in inner.ledger.values() {
            if stored.contact_key.as_deref() == Some(key.as_str()) {
                emails.extend(emails_in(&row_json(&stored.entry.row)?));
                known = true;
            }
        }
        if !known {
            return Ok(Erasure::default());
        }
        emails.sort();
        emails.dedup();
        let email_keys: Vec<String> = emails.iter().map(|e| email_contact_key(e)).collect();
        let mut payments = 0;
        for stored in inner.ledger.values_mut() {
            let Some(indexed) = stored.contact_key.as_ref() else {
                continue;
            };
            if *indexed == key || email_keys.contains(indexed) {
                stored.entry.row = erase_payment(&stored.entry.row, &emails)?;
                stored.contact_key = Some(key.clone());
                payments += 1;
            }
        }
        let erased = erased_customer(&customer, now_millis() / 1000);
        inner.customers.insert(customer_id.to_owned(), erased);
        let mut events = 0;
        for entry in inner.jobs.values_mut() {
            let payload = &mut entry.job.payload;
            if entry.state != State::Done && names_person(payload, customer_id, &emails) {
                *payload = redact_payload(payload, &emails);
                events += 1;
            }
        }
        for email_key in &email_keys {
            inner.contact_marks.remove(email_key);
        }
        // The person leaves their company: the next pass rewrites it without them.
        for contact_key in std::iter::once(&key).chain(&email_keys) {
            inner.side.leave(contact_key);
        }
        Ok(Erasure {
            payments,
            events,
            contact_keys: vec![key],
        })
    }

    async fn note_company_members(&self, members: &[CompanyMember]) -> Result<(), QueueError> {
        let mut inner = self.lock();
        for member in members {
            inner.side.note(member);
        }
        Ok(())
    }

    async fn dirty_companies(&self, limit: usize) -> Result<Vec<CompanyWork>, QueueError> {
        Ok(self.lock().side.dirty(limit))
    }

    async fn mark_companies_written(&self, written: &[CompanyWritten]) -> Result<(), QueueError> {
        let mut inner = self.lock();
        for company in written {
            inner.side.mark_written(company);
        }
        Ok(())
    }

    async fn forget_company(&self, key: &str) -> Result<(), QueueError> {
        self.lock().side.forget(key);
        Ok(())
    }

    async fn note_line_items(&self, work: &[(String, String, String)]) -> Result<(), QueueError> {
        let mut inner = self.lock();
        for (payment_key, deal_id, fingerprint) in work {
            inner
                .side
                .note_line_items(payment_key, deal_id, fingerprint);
        }
        Ok(())
    }

    async fn pending_line_items(&self, limit: usize) -> Result<Vec<LineItemWork>, QueueError> {
        let inner = self.lock();
        Ok(inner
            .side
            .line_items
            .iter()
            .filter(|(_, rec)| rec.generation > rec.written_generation)
            .take(limit)
            .map(|(payment_key, rec)| LineItemWork {
                payment_key: payment_key.clone(),
                deal_id: rec.deal_id.clone(),
                generation: rec.generation,
            })
            .collect())
    }

    async fn mark_line_items_written(&self, written: &[(String, i64)]) -> Result<(), QueueError> {
        let mut inner = self.lock();
        for (payment_key, generation) in written {
            if let Some(rec) = inner.side.line_items.get_mut(payment_key) {
                rec.written_generation = rec.written_generation.max(*generation);
            }
        }
        Ok(())
    }
}

#[async_trait::async_trait]
impl crate::PauseStore for MemoryQueue {
    async fn operator_pause(&self) -> Result<Option<crate::OperatorPause>, QueueError> {
        Ok(self.lock().operator_pause.clone())
    }

    async fn pause_sync(&self, by: &str) -> Result<crate::OperatorPause, QueueError> {
        // Millisecond precision, as the SQL backends store it.
        let pause = crate::OperatorPause {
            by: by.to_owned(),
            at: from_millis(now_millis()),
        };
        self.lock().operator_pause = Some(pause.clone());
        Ok(pause)
    }

    async fn resume_sync(&self) -> Result<(), QueueError> {
        self.lock().operator_pause = None;
        Ok(())
    }
}

#[async_trait::async_trait]
impl crate::PortalStore for MemoryQueue {
    async fn add(&self, portal: crate::Portal) -> Result<crate::Portal, crate::PortalError> {
        let portal = portal.validated()?;
        let mut inner = self.lock();
        let portals = &mut inner.portals;
        if portals.by_id.contains_key(&portal.id) {
            return Err(crate::PortalError::IdTaken { id: portal.id });
        }
        // Checked before anything is written, so a refused add leaves no trace.
        if let Some(error) = portals.claimed(&portal.id, &portal.accounts) {
            return Err(error);
        }
        for account in &portal.accounts {
            portals.accounts.insert(account.clone(), portal.id.clone());
        }
        portals.by_id.insert(portal.id.clone(), portal.clone());
        portals.revision += 1;
        Ok(portal)
    }

    async fn set(
        &self,
        id: &str,
        change: crate::PortalChange,
    ) -> Result<crate::Portal, crate::PortalError> {
        let change = change.validated()?;
        let mut inner = self.lock();
        let portals = &mut inner.portals;
        let Some(old) = portals.by_id.get(id).cloned() else {
            return Err(crate::PortalError::NotFound { id: id.to_owned() });
        };
        if change.is_empty() {
            return Ok(old);
        }
        if let Some(accounts) = &change.accounts {
            if let Some(error) = portals.claimed(id, accounts) {
                return Err(error);
            }
            for account in &old.accounts {
                portals.accounts.remove(account);
            }
            for account in accounts {
                portals.accounts.insert(account.clone(), id.to_owned());
            }
        }
        let new = change.apply(old);
        portals.by_id.insert(id.to_owned(), new.clone());
        portals.revision += 1;
        Ok(new)
    }

    async fn remove(&self, id: &str) -> Result<crate::Portal, crate::PortalError> {
        let mut inner = self.lock();
        let portals = &mut inner.portals;
        let Some(portal) = portals.by_id.remove(id) else {
            return Err(crate::PortalError::NotFound { id: id.to_owned() });
        };
        for account in &portal.accounts {
            portals.accounts.remove(account);
        }
        portals.revision += 1;
        Ok(portal)
    }

    async fn list(&self) -> Result<Vec<crate::Portal>, crate::PortalError> {
        Ok(self.lock().portals.by_id.values().cloned().collect())
    }

    async fn get(&self, id: &str) -> Result<Option<crate::Portal>, crate::PortalError> {
        Ok(self.lock().portals.by_id.get(id).cloned())
    }

    async fn portal_for_account(
        &self,
        account: &str,
    ) -> Result<Option<crate::Portal>, crate::PortalError> {
        let inner = self.lock();
        let portals = &inner.portals;
        Ok(portals
            .accounts
            .get(account)
            .and_then(|id| portals.by_id.get(id))
            .cloned())
    }

    async fn portals_revision(&self) -> Result<u64, crate::PortalError> {
        Ok(self.lock().portals.revision)
    }

    async fn record_paused(&self, id: &str, paused: bool) -> Result<(), crate::PortalError> {
        if let Some(portal) = self.lock().portals.by_id.get_mut(id) {
            portal.paused = paused;
        }
        Ok(())
    }

    async fn namespace(&self, id: &str) -> Result<crate::Store, QueueError> {
        crate::validate_portal_id(id).map_err(|e| QueueError::Config {
            message: e.to_string(),
        })?;
        if id == crate::DEFAULT_PORTAL {
            // As on the SQL backends: the default portal's data are the store's own.
            return Err(QueueError::Config {
                message: format!(
                    "portal {:?} keeps its data in the store's own tables: use the store itself (Store::portal does)",
                    crate::DEFAULT_PORTAL
                ),
            });
        }
        let own = self
            .lock()
            .namespaces
            .entry(id.to_owned())
            .or_default()
            .clone();
        Ok(crate::Store::from_arc(own))
    }

    async fn drop_namespace(&self, id: &str) -> Result<(), QueueError> {
        self.lock().namespaces.remove(id);
        Ok(())
    }
}

#[async_trait::async_trait]
impl crate::PortalLeases for MemoryQueue {
    async fn heartbeat(
        &self,
        process: &str,
        ttl: std::time::Duration,
    ) -> Result<Vec<crate::LiveProcess>, QueueError> {
        let now = std::time::SystemTime::now();
        let mut inner = self.lock();
        inner.processes.retain(|_, until| *until > now);
        inner.processes.insert(process.to_owned(), now + ttl);
        Ok(inner
            .processes
            .iter()
            .map(|(id, until)| crate::LiveProcess {
                id: id.clone(),
                alive_until: *until,
            })
            .collect())
    }

    async fn leases(&self) -> Result<Vec<crate::Lease>, QueueError> {
        Ok(self.lock().leases.values().cloned().collect())
    }

    async fn acquire_lease(
        &self,
        portal: &str,
        process: &str,
        ttl: std::time::Duration,
    ) -> Result<Option<u64>, QueueError> {
        let now = std::time::SystemTime::now();
        let mut inner = self.lock();
        let lease = inner
            .leases
            .entry(portal.to_owned())
            .or_insert_with(|| crate::Lease {
                portal: portal.to_owned(),
                holder: String::new(),
                generation: 0,
                expires_at: std::time::UNIX_EPOCH,
            });
        if lease.holder == process && lease.expires_at > now {
            lease.expires_at = now + ttl;
            return Ok(Some(lease.generation));
        }
        if !lease.holder.is_empty() && lease.expires_at > now {
            return Ok(None);
        }
        lease.holder = process.to_owned();
        lease.generation += 1;
        lease.expires_at = now + ttl;
        Ok(Some(lease.generation))
    }

    async fn renew_leases(
        &self,
        process: &str,
        ttl: std::time::Duration,
    ) -> Result<Vec<(String, u64)>, QueueError> {
        let now = std::time::SystemTime::now();
        let mut inner = self.lock();
        Ok(inner
            .leases
            .values_mut()
            .filter(|lease| lease.holder == process && lease.expires_at > now)
            .map(|lease| {
                lease.expires_at = now + ttl;
                (lease.portal.clone(), lease.generation)
            })
            .collect())
    }

    async fn release_lease(&self, portal: &str, process: &str) -> Result<(), QueueError> {
        let mut inner = self.lock();
        if let Some(lease) = inner.leases.get_mut(portal) {
            if lease.holder == process {
                lease.holder.clear();
                lease.expires_at = std::time::UNIX_EPOCH;
            }
        }
        Ok(())
    }

    async fn leave(&self, process: &str) -> Result<(), QueueError> {
        let mut inner = self.lock();
        inner.processes.remove(process);
        for lease in inner.leases.values_mut() {
            if lease.holder == process {
                lease.holder.clear();
                lease.expires_at = std::time::UNIX_EPOCH;
            }
        }
        Ok(())
    }
}

#[async_trait::async_trait]
impl crate::UnroutedEvents for MemoryQueue {
    async fn store_unrouted(&self, account: &str, job: NewJob) -> Result<Enqueued, QueueError> {
        let mut inner = self.lock();
        if let Some((_, _, seq, _)) = inner.unrouted.get(&job.event_id) {
            return Ok(Enqueued::Duplicate(*seq as JobId));
        }
        inner.unrouted_seq += 1;
        let seq = inner.unrouted_seq;
        inner.unrouted.insert(
            job.event_id.clone(),
            (account.to_owned(), job, seq, std::time::SystemTime::now()),
        );
        Ok(Enqueued::Inserted(seq as JobId))
    }

    async fn unrouted(&self, account: &str, limit: usize) -> Result<Vec<NewJob>, QueueError> {
        let inner = self.lock();
        let mut found: Vec<_> = inner
            .unrouted
            .values()
            .filter(|(owner, ..)| owner == account)
            .collect();
        found.sort_by_key(|(_, _, seq, _)| *seq);
        Ok(found
            .into_iter()
            .take(limit)
            .map(|(_, job, ..)| job.clone())
            .collect())
    }

    async fn forget_unrouted(&self, event_ids: &[String]) -> Result<(), QueueError> {
        let mut inner = self.lock();
        for id in event_ids {
            inner.unrouted.remove(id);
        }
        Ok(())
    }

    async fn unrouted_accounts(&self) -> Result<Vec<crate::UnroutedAccount>, QueueError> {
        let inner = self.lock();
        let mut by_account: BTreeMap<&str, crate::UnroutedAccount> = BTreeMap::new();
        for (account, _, _, at) in inner.unrouted.values() {
            let entry = by_account
                .entry(account)
                .or_insert_with(|| crate::UnroutedAccount {
                    account: account.clone(),
                    events: 0,
                    oldest: *at,
                });
            entry.events += 1;
            entry.oldest = entry.oldest.min(*at);
        }
        Ok(by_account.into_values().collect())
    }
}
