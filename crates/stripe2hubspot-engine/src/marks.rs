//! No contact write HubSpot already holds: a contact whose properties to send have the
//! fingerprint HubSpot last confirmed is not upserted again, and its recorded id is used for
//! the deal's association.
//!
//! A mark is recorded only after HubSpot confirmed the upsert, under the write order, so marks
//! follow HubSpot's state. Whenever HubSpot may hold something else (an upsert that failed and
//! may have committed, a recorded contact id HubSpot no longer knows because a user deleted or
//! merged the contact) the mark is forgotten and the next attempt upserts. A store failure
//! only costs writes: without marks, every contact is upserted.

use std::collections::HashMap;

use stripe2hubspot_queue::ContactMark;

use super::plan::{sent_fingerprint, Group};
use super::Inner;

/// A fingerprint no property set has: the mark of a contact HubSpot must be written again.
const FORGOTTEN: &str = "";

impl Inner {
    /// Splits contact groups into those HubSpot already holds, each with its recorded contact
    /// id, and those to upsert.
    pub(crate) async fn unchanged_contacts(
        &self,
        groups: Vec<Group>,
    ) -> (Vec<(Group, String)>, Vec<Group>) {
        if self.settings.upsert_only || groups.is_empty() {
            return (Vec::new(), groups);
        }
        let keys: Vec<String> = groups.iter().map(|g| g.key.clone()).collect();
        let marks = match self.store.state.contact_marks(&keys).await {
            Ok(marks) => marks,
            Err(error) => {
                tracing::warn!(%error, "could not read the contact marks; upserting every contact");
                HashMap::new()
            }
        };
        let mut unchanged = Vec::new();
        let mut changed = Vec::new();
        for group in groups {
            match marks.get(&group.key) {
                Some(mark)
                    if !mark.contact_id.is_empty()
                        && mark.properties_hash != FORGOTTEN
                        && mark.properties_hash == sent_fingerprint(&group.properties) =>
                {
                    let id = mark.contact_id.clone();
                    unchanged.push((group, id));
                }
                _ => changed.push(group),
            }
        }
        (unchanged, changed)
    }

    /// Records what HubSpot confirmed for each upserted contact group: its id and the
    /// fingerprint of the properties sent.
    pub(crate) async fn remember_contacts(&self, confirmed: &[(&Group, &str)]) {
        if self.settings.upsert_only || confirmed.is_empty() {
            return;
        }
        let marks: Vec<ContactMark> = confirmed
            .iter()
            .map(|(group, id)| ContactMark {
                contact_key: group.key.clone(),
                contact_id: (*id).to_owned(),
                properties_hash: sent_fingerprint(&group.properties),
            })
            .collect();
        if let Err(error) = self.store.state.record_contact_marks(&marks).await {
            // Without the marks the next write of these contacts upserts them again.
            tracing::warn!(%error, "could not record the contact marks");
        }
    }

    /// Forgets what HubSpot held for these contact keys: their next write upserts them.
    pub(crate) async fn forget_contacts(&self, keys: impl IntoIterator<Item = String>) {
        if self.settings.upsert_only {
            return;
        }
        let marks: Vec<ContactMark> = keys
            .into_iter()
            .map(|contact_key| ContactMark {
                contact_key,
                contact_id: String::new(),
                properties_hash: FORGOTTEN.to_owned(),
            })
            .collect();
        if marks.is_empty() {
            return;
        }
        if let Err(error) = self.store.state.record_contact_marks(&marks).await {
            tracing::warn!(%error, "could not forget contact marks; the contacts' next changes rewrite them");
        }
    }
}
