//! Contacts a payment left, remembered until HubSpot reflects the move.
//!
//! The ledger names them once, in the merge that changed the row's contact. When that batch's
//! write fails and its events are retried, the repeated merge changes nothing and names none,
//! so the engine keeps them here (in memory: a restart forgets them, and reconcile repairs the
//! rollups) and adds them to the payment's next write.

use super::plan::{contact_of_key, RowWrite};
use super::Inner;

impl Inner {
    /// Adds the contacts each write's payment left in an earlier, failed write.
    pub(crate) fn recall_moves(&self, writes: &mut [RowWrite]) {
        let unfinished = self
            .unfinished_moves
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        for write in writes.iter_mut() {
            let Some(keys) = unfinished.get(&write.key) else {
                continue;
            };
            for key in keys {
                let known = write.moved_from.iter().any(|(k, _)| k == key);
                if known || *key == write.contact_key {
                    continue;
                }
                if let Some(contact) = contact_of_key(key, &self.mapping) {
                    write.moved_from.push((key.clone(), contact));
                }
            }
        }
    }

    /// Forgets the moves of a write HubSpot now reflects, keeps those of one that failed.
    pub(crate) fn settle_moves(&self, write: &RowWrite, written: bool) {
        let mut unfinished = self
            .unfinished_moves
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        if written {
            unfinished.remove(&write.key);
        } else if !write.moved_from.is_empty() {
            unfinished
                .entry(write.key.clone())
                .or_default()
                .extend(write.moved_from.iter().map(|(key, _)| key.clone()));
        }
    }
}
