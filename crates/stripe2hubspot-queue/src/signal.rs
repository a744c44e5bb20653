//! Wake-ups on enqueue, so a worker waits for work instead of polling for it.

use std::sync::Arc;

use tokio::sync::watch;

/// Fires once jobs were stored since it last fired: subscribe with
/// [`Queue::enqueue_signal`](crate::Queue::enqueue_signal) before looking for work, then wait
/// on [`changed`](EnqueueSignal::changed) when none was found. A job stored between the look
/// and the wait is not missed: the signal remembers it.
///
/// It covers new and replayed jobs, not retries that become due later, so a worker still
/// wakes now and then for those.
#[derive(Debug, Clone)]
pub struct EnqueueSignal {
    rx: watch::Receiver<u64>,
}

impl EnqueueSignal {
    /// Waits until a job was stored since this signal last fired (or was created). A signal
    /// whose queue is gone never fires again.
    pub async fn changed(&mut self) {
        if self.rx.changed().await.is_err() {
            std::future::pending::<()>().await;
        }
    }

    /// Whether a job was stored since this signal last fired, without waiting.
    pub fn has_changed(&self) -> bool {
        self.rx.has_changed().unwrap_or(false)
    }
}

/// The sending side of [`EnqueueSignal`]s, for a [`Queue`](crate::Queue) implementation: call
/// [`notify`](EnqueueNotifier::notify) once a stored job is visible to `reserve`, and answer
/// [`subscribe`](EnqueueNotifier::subscribe) from `enqueue_signal`. Clones share subscribers.
#[derive(Debug, Clone)]
pub struct EnqueueNotifier {
    tx: Arc<watch::Sender<u64>>,
}

impl Default for EnqueueNotifier {
    fn default() -> Self {
        Self::new()
    }
}

impl EnqueueNotifier {
    /// A notifier without subscribers.
    pub fn new() -> Self {
        Self {
            tx: Arc::new(watch::Sender::new(0)),
        }
    }

    /// Fires every subscribed signal. Cheap, and a no-op without subscribers.
    pub fn notify(&self) {
        self.tx.send_modify(|n| *n = n.wrapping_add(1));
    }

    /// A new signal that fires on the next [`notify`](EnqueueNotifier::notify).
    pub fn subscribe(&self) -> EnqueueSignal {
        EnqueueSignal {
            rx: self.tx.subscribe(),
        }
    }

    /// How many signals are subscribed.
    pub fn subscribers(&self) -> usize {
        self.tx.receiver_count()
    }

    /// Resolves once no signal is subscribed (at once if none is).
    pub async fn unsubscribed(&self) {
        self.tx.closed().await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_notify_before_the_wait_is_remembered() {
        let notifier = EnqueueNotifier::new();
        let mut signal = notifier.subscribe();
        assert!(!signal.has_changed());
        notifier.notify();
        assert!(signal.has_changed());
        signal.changed().await;
        assert!(!signal.has_changed());
    }

    #[tokio::test]
    async fn subscribers_are_counted() {
        let notifier = EnqueueNotifier::default();
        assert_eq!(notifier.subscribers(), 0);
        let signal = notifier.clone().subscribe();
        assert_eq!(notifier.subscribers(), 1);
        drop(signal);
        notifier.unsubscribed().await;
    }
}
