use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, SystemTime};

use stripe2hubspot_map::{Facts, LedgerRow, MappingConfig};

use crate::ledger::{merge_step, Changes, Merged};
use crate::time::{duration_millis, from_millis, now_millis, to_millis};
use crate::{
    Attempt, DeadLetter, EnqueueNotifier, EnqueueSignal, Enqueued, Job, JobId, LeaseToken, NewJob,
    Queue, QueueAdmin, QueueError, QueueStats, SyncState, LEASE_EXPIRED,
};
use crate::{ContactMark, LedgerChange, LedgerEntry, WriteMark};

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
    /// What HubSpot last confirmed per contact key.
    contact_marks: HashMap<String, ContactMark>,
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
}

/// A ledger row with the columns the SQL backends index.
#[derive(Debug, Clone)]
struct StoredRow {
    entry: LedgerEntry,
    contact_key: Option<String>,
    waiting: bool,
}

impl Inner {
    fn rows_named(&self, facts: &Facts) -> Vec<LedgerEntry> {
        let mut keys: Vec<&String> = facts
            .ids
            .all()
            .filter_map(|id| self.aliases.get(id))
            .collect();
        keys.sort();
        keys.dedup();
        keys.into_iter()
            .filter_map(|key| self.ledger.get(key))
            .map(|stored| stored.entry.clone())
            .collect()
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
            let existing = inner.rows_named(fact);
            let Some(merged) = merge_step(&existing, fact, config) else {
                continue;
            };
            if merged.changed {
                inner.store_merged(&merged);
            }
            changes.record(&existing, &merged, config);
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
}
