//! The worker loop: reserve a batch, map its events, write them, settle each job.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};

use stripe2hubspot_map::{map_event, MapOutcome};
use tokio::sync::watch;
use tracing::Instrument;

use super::plan::Item;
use super::settle::Disposition;
use super::Inner;
use crate::queue::{Attempt, Job, QueueError};

fn mark_key(key: &stripe2hubspot_map::ContactKey) -> String {
    format!("{}={}", key.id_property(), key.value())
}

impl Inner {
    pub(super) fn count(&self, counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Ordering::Relaxed);
    }

    pub(super) async fn work(&self, mut stopped: watch::Receiver<bool>) {
        let mut enqueued = self.store.queue.enqueue_signal();
        loop {
            if *stopped.borrow() {
                return;
            }
            if self.pause.borrow().is_some() {
                let mut resumed = self.pause.subscribe();
                tokio::select! {
                    _ = resumed.wait_for(Option::is_none) => {}
                    _ = stopped.changed() => {}
                }
                continue;
            }
            // Taking jobs while HubSpot holds us back would only burn their leases.
            if let Some(until) = self.hubspot.limiter().held_until() {
                tokio::select! {
                    _ = tokio::time::sleep_until(until.into()) => {}
                    _ = stopped.changed() => {}
                }
                continue;
            }
            let jobs = match self
                .store
                .queue
                .reserve(self.settings.batch_size, self.settings.lease)
                .await
            {
                Ok(jobs) => jobs,
                Err(error) => {
                    tracing::error!(%error, "could not reserve jobs; retrying");
                    Vec::new()
                }
            };
            if jobs.is_empty() {
                super::idle::wait_for_work(
                    enqueued.as_mut(),
                    self.settings.poll_interval,
                    &mut stopped,
                )
                .await;
                continue;
            }
            self.process(jobs).await;
        }
    }

    pub(super) async fn process(&self, jobs: Vec<Job>) {
        let mut dispositions: Vec<Option<Disposition>> = vec![None; jobs.len()];
        let mut items = Vec::new();
        for (index, job) in jobs.iter().enumerate() {
            let event = match stripe_events::parse_event(&job.payload) {
                Ok(event) => event,
                Err(error) => {
                    dispositions[index] = Some(Disposition::DeadLetter(format!(
                        "the stored payload is not a Stripe event: {error}"
                    )));
                    continue;
                }
            };
            match map_event(&event, &self.mapping) {
                Ok(MapOutcome::Sync(command)) => items.push(Item {
                    job: index,
                    command,
                    stale: false,
                }),
                Ok(MapOutcome::Skip(reason)) => {
                    dispositions[index] = Some(Disposition::Skipped(reason.to_string()))
                }
                Err(error) => {
                    dispositions[index] = Some(Disposition::DeadLetter(error.to_string()))
                }
            }
        }
        // Workers take turns from reading the ordering marks until their contacts are written,
        // so an older payment's write can never land after a newer one's.
        let write_order = self.write_order.lock().await;
        if let Err(error) = self.mark_stale(&mut items).await {
            let disposition = Disposition::Retry {
                delay: None,
                attempt: Attempt::Consume,
                reason: format!("could not read the contact ordering marks: {error}"),
            };
            for item in items.drain(..) {
                dispositions[item.job] = Some(disposition.clone());
            }
        }
        if !items.is_empty() {
            match self.bootstrap().await {
                Err(failure) => {
                    let disposition = self.on_failure(&failure).await;
                    for item in &items {
                        dispositions[item.job] = Some(disposition.clone());
                    }
                }
                Ok(()) if self.per_event.load(Ordering::Relaxed) => {
                    // The turn covers the whole per-event path: two workers racing on one
                    // payment would both miss its recorded deal and create two.
                    for item in &items {
                        dispositions[item.job] = Some(self.sync_one(item).await);
                    }
                }
                Ok(()) => {
                    for (job, disposition) in self.sync_batch(&items, write_order).await {
                        dispositions[job] = Some(disposition);
                    }
                }
            }
        }
        for (job, disposition) in jobs.iter().zip(dispositions) {
            let disposition = disposition.unwrap_or_else(|| Disposition::Retry {
                delay: None,
                attempt: Attempt::Consume,
                reason: "no outcome was recorded for this event (a bug; retrying)".into(),
            });
            self.settle(job, disposition)
                .instrument(tracing::info_span!(
                    "event",
                    event_id = %job.event_id,
                    event_type = %job.event_type,
                    attempt = job.attempts + 1
                ))
                .await;
        }
    }

    /// Flags items whose contact already has a newer payment synced (by an earlier batch,
    /// another worker or another process), so their last-charge data never overwrites newer.
    pub(super) async fn mark_stale(&self, items: &mut [Item]) -> Result<(), QueueError> {
        if items.is_empty() {
            return Ok(());
        }
        let mut newest: BTreeMap<String, i64> = Default::default();
        for item in items.iter() {
            let key = mark_key(&item.command.contact_key);
            let created = newest.entry(key).or_insert(item.command.event_created);
            *created = (*created).max(item.command.event_created);
        }
        let marks: Vec<(String, i64)> = newest.into_iter().collect();
        let stored = self.store.state.advance_contact_marks(&marks).await?;
        let stored: HashMap<&str, i64> = marks
            .iter()
            .map(|(key, _)| key.as_str())
            .zip(stored)
            .collect();
        for item in items.iter_mut() {
            let mark = stored
                .get(mark_key(&item.command.contact_key).as_str())
                .copied();
            item.stale = mark.is_some_and(|mark| item.command.event_created < mark);
        }
        Ok(())
    }
}
