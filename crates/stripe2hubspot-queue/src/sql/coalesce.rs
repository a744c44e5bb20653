//! Group concurrent enqueues into one transaction: one commit (one fsync) for many webhooks.

use std::future::Future;
use std::sync::Arc;

use tokio::sync::{mpsc, oneshot};

use crate::{Enqueued, NewJob, QueueError};

struct Request {
    job: NewJob,
    reply: oneshot::Sender<Result<Enqueued, QueueError>>,
}

/// Handle to a writer task that inserts queued jobs in batches of up to `max_batch`.
#[derive(Debug, Clone)]
pub(crate) struct Coalescer {
    tx: mpsc::Sender<Request>,
}

impl std::fmt::Debug for Request {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Request").field("job", &self.job).finish()
    }
}

impl Coalescer {
    /// Spawn the writer. `insert` must store every job in one transaction and answer one result
    /// per job, in order, only after the commit.
    pub(crate) fn spawn<F, Fut>(max_batch: usize, mut insert: F) -> Self
    where
        F: FnMut(Vec<NewJob>) -> Fut + Send + 'static,
        Fut: Future<Output = Result<Vec<Enqueued>, sqlx::Error>> + Send + 'static,
    {
        let max_batch = max_batch.max(1);
        let (tx, mut rx) = mpsc::channel::<Request>(max_batch.saturating_mul(4));
        // The task ends when the last handle is dropped and the channel drains.
        tokio::spawn(async move {
            let mut batch = Vec::with_capacity(max_batch);
            while rx.recv_many(&mut batch, max_batch).await > 0 {
                let (jobs, replies): (Vec<_>, Vec<_>) =
                    batch.drain(..).map(|r| (r.job, r.reply)).unzip();
                match insert(jobs).await {
                    Ok(results) => {
                        for (reply, result) in replies.into_iter().zip(results) {
                            // The caller may have given up (request cancelled); the job is
                            // stored either way and a redelivery will be a Duplicate.
                            let _ = reply.send(Ok(result));
                        }
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "queue: batched enqueue failed");
                        let e = Arc::new(e);
                        for reply in replies {
                            let _ = reply.send(Err(QueueError::Unavailable {
                                source: Box::new(Arc::clone(&e)),
                            }));
                        }
                    }
                }
            }
        });
        Self { tx }
    }

    pub(crate) async fn enqueue(&self, job: NewJob) -> Result<Enqueued, QueueError> {
        let (reply, rx) = oneshot::channel();
        self.tx
            .send(Request { job, reply })
            .await
            .map_err(|_| writer_gone())?;
        rx.await.map_err(|_| writer_gone())?
    }
}

fn writer_gone() -> QueueError {
    QueueError::Unavailable {
        source: "the queue's writer task stopped (runtime shutting down?)".into(),
    }
}
