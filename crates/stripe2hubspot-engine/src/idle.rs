//! What a worker does when a reserve finds nothing: wait for work rather than spin.

use std::time::Duration;

use tokio::sync::watch;

use stripe2hubspot_queue::EnqueueSignal;

/// Waits, after a reserve found no job, until one of: the queue's `signal` fires (a job was
/// stored, so a lone payment starts syncing within milliseconds of its webhook), `poll`
/// passes (retries falling due and stores without a signal are found by looking again), or
/// `stopped` changes. Subscribe the signal before the reserve, so a job stored in between is
/// not missed.
pub(super) async fn wait_for_work(
    signal: Option<&mut EnqueueSignal>,
    poll: Duration,
    stopped: &mut watch::Receiver<bool>,
) {
    let enqueued = async {
        match signal {
            Some(signal) => signal.changed().await,
            None => std::future::pending().await,
        }
    };
    tokio::select! {
        () = enqueued => {}
        _ = tokio::time::sleep(poll) => {}
        _ = stopped.changed() => {}
    }
}
