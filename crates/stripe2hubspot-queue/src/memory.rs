use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, SystemTime};

use crate::time::{duration_millis, from_millis, now_millis, to_millis};
use crate::{
    Attempt, DeadLetter, Enqueued, Job, JobId, LeaseToken, NewJob, Queue, QueueAdmin, QueueError,
    QueueStats, SyncState, LEASE_EXPIRED,
};

/// An in-process queue: fast, and lost when the process exits.
///
/// Use it in tests, or where losing unprocessed events on restart is acceptable.
#[derive(Debug, Default)]
pub struct MemoryQueue {
    inner: Mutex<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    next_id: JobId,
    jobs: HashMap<JobId, Entry>,
    by_event: HashMap<String, JobId>,
    deals: HashMap<String, String>,
    contact_marks: HashMap<String, i64>,
    checkpoints: HashMap<String, String>,
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
        Ok(Enqueued::Inserted(id))
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

#[async_trait::async_trait]
impl SyncState for MemoryQueue {
    async fn record_deal(&self, payment_key: &str, deal_id: &str) -> Result<(), QueueError> {
        self.lock()
            .deals
            .entry(payment_key.to_owned())
            .or_insert_with(|| deal_id.to_owned());
        Ok(())
    }

    async fn recorded_deal(&self, payment_key: &str) -> Result<Option<String>, QueueError> {
        Ok(self.lock().deals.get(payment_key).cloned())
    }

    async fn advance_contact_marks(&self, marks: &[(String, i64)]) -> Result<Vec<i64>, QueueError> {
        let mut inner = self.lock();
        Ok(marks
            .iter()
            .map(|(key, created)| {
                let newest = inner.contact_marks.entry(key.clone()).or_insert(*created);
                *newest = (*newest).max(*created);
                *newest
            })
            .collect())
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
}
