//! No contact write HubSpot already holds: a contact whose properties to send have the
//! fingerprint HubSpot last confirmed is not upserted again, and its recorded id is used for
//! the deal's association.
//!
//! A mark is recorded only after HubSpot confirmed the upsert, under the write order, so marks
//! follow HubSpot's state. Whenever HubSpot may hold something else (an upsert that failed and
//! may have committed, a recorded contact id HubSpot no longer knows because a user deleted or
//! merged the contact) the mark is forgotten and the next attempt upserts. A store failure
//! only costs writes: without marks, every contact is upserted.

use std::collections::{BTreeSet, HashMap};

use stripe2hubspot_queue::ContactMark;

use super::plan::{sent_fingerprint, Group};
use super::Inner;

/// A fingerprint no property set has: the mark of a contact HubSpot must be written again.
const FORGOTTEN: &str = "";

/// Splits contact groups into those HubSpot already holds per `marks` (the fingerprint of
/// what would be sent equals the recorded one), each with its recorded contact id, and those
/// to write. A group whose key is in `forced` (a repair: HubSpot drifted from the mark) is
/// always written.
pub(crate) fn unchanged_contacts(
    groups: Vec<Group>,
    marks: &HashMap<String, ContactMark>,
    forced: &BTreeSet<String>,
) -> (Vec<(Group, String)>, Vec<Group>) {
    let mut unchanged = Vec::new();
    let mut changed = Vec::new();
    for group in groups {
        match marks.get(&group.key) {
            Some(mark)
                if !forced.contains(&group.key)
                    && !mark.contact_id.is_empty()
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

/// The marks of contact groups HubSpot confirmed writing: the id it answered and the
/// fingerprint of the properties sent.
pub(crate) fn confirmed_marks<'a>(
    confirmed: impl Iterator<Item = (&'a Group, &'a str)>,
) -> Vec<ContactMark> {
    confirmed
        .map(|(group, id)| ContactMark {
            contact_key: group.key.clone(),
            contact_id: id.to_owned(),
            properties_hash: sent_fingerprint(&group.properties),
        })
        .collect()
}

impl Inner {
    /// The recorded marks of the contacts of `keys`. Read beside the contacts' ledger rows,
    /// before the writes are planned.
    pub(crate) async fn contact_marks_of(&self, keys: &[String]) -> HashMap<String, ContactMark> {
        if self.settings.upsert_only || keys.is_empty() {
            return HashMap::new();
        }
        match self.store.state.contact_marks(keys).await {
            Ok(marks) => marks,
            Err(error) => {
                tracing::warn!(%error, "could not read the contact marks; upserting every contact");
                HashMap::new()
            }
        }
    }

    /// Records what HubSpot confirmed for upserted contacts (see [`confirmed_marks`]).
    pub(crate) async fn remember_contacts(&self, marks: Vec<ContactMark>) {
        if self.settings.upsert_only || marks.is_empty() {
            return;
        }
        if let Err(error) = self.store.state.record_contact_marks(&marks).await {
            // Without the marks the next write of these contacts upserts them again.
            tracing::warn!(%error, "could not record the contact marks");
        }
    }

    /// Keeps the contact ids of these `(contact key, contact id)` but forgets what HubSpot
    /// holds: an update that failed may or may not have committed, so the next write updates
    /// the same contact again.
    pub(crate) async fn unconfirm_contacts(&self, contacts: Vec<(String, String)>) {
        let marks: Vec<ContactMark> = contacts
            .into_iter()
            .map(|(contact_key, contact_id)| ContactMark {
                contact_key,
                contact_id,
                properties_hash: FORGOTTEN.to_owned(),
            })
            .collect();
        if self.settings.upsert_only || marks.is_empty() {
            return;
        }
        if let Err(error) = self.store.state.record_contact_marks(&marks).await {
            tracing::warn!(%error, "could not record that contact writes failed; their next changes rewrite them");
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
