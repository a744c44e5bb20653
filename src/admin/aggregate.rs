//! The aggregate `/healthz` and `/metrics` read (the queue's counts by state, the payments
//! waiting), computed at most once per [`AGGREGATE_TTL`] and shared by concurrent requests.
//!
//! Each computation scans the queue and the ledger; a load balancer probing every few
//! milliseconds, or several scrapers, must not turn into as many scans of the store.

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::queue::QueueStats;

/// How long one computed aggregate answers `/healthz` and `/metrics`: one second.
pub const AGGREGATE_TTL: Duration = Duration::from_secs(1);

/// What `/healthz` and `/metrics` read from the store.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Aggregate {
    /// Jobs by state; `None` when the queue could not be read.
    pub queue: Option<QueueStats>,
    /// Payments waiting in the ledger; `None` when the ledger could not be read.
    pub waiting: Option<u64>,
}

/// The last [`Aggregate`] and when it was computed. Cheap to clone: clones share it.
#[derive(Clone)]
pub struct AggregateCache {
    ttl: Duration,
    slot: Arc<tokio::sync::Mutex<Option<(Instant, Aggregate)>>>,
}

impl Default for AggregateCache {
    fn default() -> Self {
        AggregateCache::with_ttl(AGGREGATE_TTL)
    }
}

impl std::fmt::Debug for AggregateCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AggregateCache")
            .field("ttl", &self.ttl)
            .finish_non_exhaustive()
    }
}

impl AggregateCache {
    /// A cache whose aggregate answers for `ttl` ([`AGGREGATE_TTL`] by default).
    pub fn with_ttl(ttl: Duration) -> Self {
        AggregateCache {
            ttl,
            slot: Arc::default(),
        }
    }

    /// How long one aggregate answers.
    pub fn ttl(&self) -> Duration {
        self.ttl
    }

    /// The cached aggregate if younger than the TTL, else the one `compute` gives, stored.
    /// Concurrent callers wait for the one computation in progress rather than start their
    /// own.
    pub async fn get_or_compute<F, Fut>(&self, compute: F) -> Aggregate
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Aggregate>,
    {
        let mut slot = self.slot.lock().await;
        if let Some((at, aggregate)) = slot.as_ref() {
            if at.elapsed() < self.ttl {
                return aggregate.clone();
            }
        }
        let aggregate = compute().await;
        *slot = Some((Instant::now(), aggregate.clone()));
        aggregate
    }
}

impl super::StatusSource {
    /// The queue counts and waiting payments, computed at most once per the cache's TTL.
    pub async fn aggregate(&self) -> Aggregate {
        self.aggregate
            .get_or_compute(|| async {
                let queue = match self.admin.stats().await {
                    Ok(stats) => Some(stats),
                    Err(error) => {
                        tracing::warn!(%error, "the queue cannot be read");
                        None
                    }
                };
                Aggregate {
                    queue,
                    waiting: self.engine.waiting().await.ok(),
                }
            })
            .await
    }
}

#[cfg(all(test, feature = "axum"))]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;
    use crate::queue::{DeadLetter, JobId, MemoryQueue, QueueAdmin, QueueError, Store};

    /// The memory queue's admin side, counting `stats` calls.
    struct Counting {
        inner: Arc<MemoryQueue>,
        stats: AtomicUsize,
    }

    #[async_trait::async_trait]
    impl QueueAdmin for Counting {
        async fn dead_letters(
            &self,
            limit: usize,
            after: Option<JobId>,
        ) -> Result<Vec<DeadLetter>, QueueError> {
            self.inner.dead_letters(limit, after).await
        }
        async fn replay(&self, id: JobId) -> Result<(), QueueError> {
            self.inner.replay(id).await
        }
        async fn stats(&self) -> Result<QueueStats, QueueError> {
            self.stats.fetch_add(1, Ordering::SeqCst);
            // Let the other requests arrive while this one computes.
            tokio::task::yield_now().await;
            self.inner.stats().await
        }
        async fn purge_done(&self, older_than: Duration) -> Result<u64, QueueError> {
            self.inner.purge_done(older_than).await
        }
        async fn purge_dead(&self, older_than: Duration) -> Result<u64, QueueError> {
            self.inner.purge_dead(older_than).await
        }
    }

    fn source(ttl: Duration) -> (super::super::StatusSource, Arc<Counting>) {
        let memory = Arc::new(MemoryQueue::new());
        let counting = Arc::new(Counting {
            inner: memory.clone(),
            stats: AtomicUsize::new(0),
        });
        let store = Store::from_arc(memory);
        let hubspot = hubspot_crm::Client::builder("test-token")
            .base_url("http://127.0.0.1:9")
            .build()
            .unwrap();
        let engine = crate::SyncEngine::builder(
            store.clone(),
            hubspot,
            stripe2hubspot_map::MappingConfig::default(),
        )
        .build()
        .unwrap();
        let verifier = stripe_events::Verifier::new("whsec_test").unwrap();
        let ingest = crate::Ingest::builder(verifier, store.queue.clone()).build();
        let source = super::super::StatusSource {
            admin: counting.clone(),
            engine: engine.handle(),
            ingest: Arc::new(ingest),
            aggregate: AggregateCache::with_ttl(ttl),
        };
        (source, counting)
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn concurrent_health_checks_share_one_aggregate() {
        // A TTL far longer than the test, so the count cannot depend on its speed.
        let (source, counting) = source(Duration::from_secs(3600));
        let checks = (0..50).map(|_| {
            let source = source.clone();
            tokio::spawn(async move { super::super::health(source).await.0 })
        });
        for check in futures_join(checks).await {
            assert_eq!(check, axum::http::StatusCode::OK);
        }
        let _ = source.aggregate().await;
        assert_eq!(
            counting.stats.load(Ordering::SeqCst),
            1,
            "51 reads within the TTL scan the queue once"
        );
    }

    #[tokio::test]
    async fn an_expired_aggregate_is_computed_again() {
        let (source, counting) = source(Duration::ZERO);
        let _ = source.aggregate().await;
        let _ = source.aggregate().await;
        assert_eq!(counting.stats.load(Ordering::SeqCst), 2);
        assert_eq!(AggregateCache::default().ttl(), AGGREGATE_TTL);
    }

    async fn futures_join<T: Send + 'static>(
        tasks: impl Iterator<Item = tokio::task::JoinHandle<T>>,
    ) -> Vec<T> {
        let mut out = Vec::new();
        for task in tasks.collect::<Vec<_>>() {
            out.push(task.await.unwrap());
        }
        out
    }
}
