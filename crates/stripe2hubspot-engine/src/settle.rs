//! What happens to each job after a batch: complete, retry, release or dead-letter, and how a
//! failed HubSpot call turns into one of those.

use std::sync::atomic::Ordering;
use std::time::{Duration, SystemTime};

use super::failure::CallFailure;
use super::Inner;
use crate::alert::{Alert, AlertKind};
use stripe2hubspot_queue::{Attempt, Job, QueueError};

/// What to do with one job after a batch.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Disposition {
    Synced,
    Skipped(String),
    /// Retry later. `delay: None` means the job's own backoff for its attempt count.
    Retry {
        delay: Option<Duration>,
        attempt: Attempt,
        reason: String,
    },
    /// Back to the queue at once, attempt not consumed (the pipeline paused).
    Release,
    DeadLetter(String),
}

impl Inner {
    /// Writes one job's outcome to the queue, except a job that is done (synced or skipped):
    /// it is counted and logged, and `settle` returns `true` so the caller completes it with
    /// the rest of its batch in [`complete_done`](Self::complete_done).
    pub(super) async fn settle(&self, job: &Job, disposition: Disposition) -> bool {
        let c = &self.counters;
        let result = match disposition {
            Disposition::Synced => {
                self.count(&c.synced, 1);
                tracing::info!(outcome = "synced", "payment synced to HubSpot");
                return true;
            }
            Disposition::Skipped(reason) => {
                self.count(&c.skipped, 1);
                tracing::info!(outcome = "skipped", %reason, "nothing to sync");
                return true;
            }
            Disposition::Release => {
                tracing::info!(outcome = "released", "pipeline paused; event stays queued");
                self.store.queue.release(job).await
            }
            Disposition::Retry {
                attempt: Attempt::Consume,
                reason,
                ..
            } if self.out_of_retries(job) => {
                let hours = self.settings.retry_for.as_secs() / 3600;
                self.dead_letter(
                    job,
                    format!(
                        "gave up after {} attempts over more than {hours} hours since the event was created: {reason}",
                        job.attempts + 1
                    ),
                )
                .await
            }
            Disposition::Retry {
                delay,
                attempt,
                reason,
            } => {
                self.count(&c.retried, 1);
                let delay = delay.unwrap_or_else(|| self.settings.backoff.delay(job.attempts));
                let reason = hubspot_crm::redact(&reason);
                tracing::warn!(outcome = "retry", ?delay, %reason, "will retry");
                self.store
                    .queue
                    .retry(job, SystemTime::now() + delay, &reason, attempt)
                    .await
            }
            Disposition::DeadLetter(reason) => self.dead_letter(job, reason).await,
        };
        if let Err(error) = result {
            // The lease was lost or the store is down: the job becomes ready again when its
            // lease expires, and upserts make the repeat harmless.
            tracing::error!(%error, "could not record the outcome in the queue");
        }
        false
    }

    /// Completes the done jobs of a batch in one store transaction: one commit per batch
    /// instead of one per job is what lets a worker keep HubSpot busy.
    pub(super) async fn complete_done(&self, done: &[Job]) {
        if done.is_empty() {
            return;
        }
        match self.store.queue.complete_all(done).await {
            Ok(lost) => {
                for id in lost {
                    // Another worker holds the job now (or answered it); upserts make its
                    // repeat harmless.
                    tracing::error!(job_id = id, "could not complete a job: its lease was lost");
                }
            }
            // The store is down: the jobs become ready again when their leases expire.
            Err(error) => tracing::error!(%error, "could not record the outcome in the queue"),
        }
    }

    /// Whether a job whose fault is not its own has been retried long enough: Stripe itself
    /// stops redelivering an event `retry_for` (72 h) after creating it, so an outage shorter
    /// than that never loses a payment. `max_attempts` only guards an event replayed long after
    /// it was created, which still gets that many attempts.
    fn out_of_retries(&self, job: &Job) -> bool {
        let created = std::time::UNIX_EPOCH
            + Duration::from_secs(u64::try_from(job.event_created).unwrap_or(0));
        let age = SystemTime::now()
            .duration_since(created)
            .unwrap_or(Duration::ZERO);
        age > self.settings.retry_for
            && job.attempts.saturating_add(1) >= self.settings.max_attempts
    }

    pub(super) async fn dead_letter(&self, job: &Job, reason: String) -> Result<(), QueueError> {
        let reason = hubspot_crm::redact(&reason);
        self.count(&self.counters.dead_lettered, 1);
        tracing::error!(outcome = "dead_letter", %reason, "payment moved to the dead-letter list");
        self.alerter
            .alert(Alert::new(
                AlertKind::DeadLettered,
                format!(
                    "Stripe event {} could not be synced and was dead-lettered: {reason}. Fix the cause, then replay it.",
                    job.event_id
                ),
            ))
            .await;
        self.store.queue.dead_letter(job, &reason).await
    }

    /// The disposition for a failure that hit a whole call, with its side effects: pausing
    /// on 401/403, holding the limiter on 429.
    pub(super) async fn on_failure(&self, failure: &CallFailure) -> Disposition {
        match failure {
            CallFailure::Pause(reason) => {
                self.enter_pause(reason.clone()).await;
                Disposition::Release
            }
            CallFailure::RateLimited { retry_after } => {
                self.count(&self.counters.rate_limited, 1);
                let streak = self.rate_limit_streak.fetch_add(1, Ordering::Relaxed);
                let delay = retry_after
                    .unwrap_or_else(|| self.settings.backoff.delay(streak))
                    .min(hubspot_crm::MAX_HOLD);
                self.hubspot.limiter().hold_for(delay);
                Disposition::Retry {
                    delay: Some(delay),
                    attempt: Attempt::Keep,
                    reason: "HubSpot rate limit (429)".into(),
                }
            }
            CallFailure::Transient(message) => Disposition::Retry {
                delay: None,
                attempt: Attempt::Consume,
                reason: message.clone(),
            },
            CallFailure::Rejected { message, .. }
            | CallFailure::RuleBroken { message, .. }
            | CallFailure::Permanent(message) => Disposition::DeadLetter(message.clone()),
            CallFailure::Fenced(why) => {
                tracing::warn!(%why, "not writing this batch; its events go back to the queue");
                Disposition::Release
            }
        }
    }

    /// Like [`on_failure`](Self::on_failure), but no answer to the properties bootstrap
    /// dead-letters a payment: the bootstrap is not about any one of them. What retrying soon
    /// will not fix pauses the sync with an alert and is retried while paused.
    pub(super) async fn on_bootstrap_failure(&self, failure: CallFailure) -> Disposition {
        match failure {
            CallFailure::Rejected { message, .. }
            | CallFailure::RuleBroken { message, .. }
            | CallFailure::Permanent(message) => {
                self.on_failure(&CallFailure::Pause(super::PauseReason::Bootstrap(message)))
                    .await
            }
            other => self.on_failure(&other).await,
        }
    }

    pub(super) fn succeeded(&self) {
        self.rate_limit_streak.store(0, Ordering::Relaxed);
    }
}
