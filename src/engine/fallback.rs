//! The per-event path (HubSpot's search-then-create flow) for portals without the custom properties:
//! search the contact by email, PATCH or POST it (a 409 resolved to PATCH), then create the
//! deal with an inline association and record its id against the payment key, so a retry
//! updates that deal instead of creating a second one.

use std::collections::BTreeMap;

use hubspot_crm::{AssociationType, ObjectInput, ObjectRef, ObjectType, SearchRequest};
use stripe2hubspot_map::ContactKey;

use super::failure::CallFailure;
use super::plan::{self, Item};
use super::{Disposition, Inner, Object};

impl Inner {
    pub(crate) async fn sync_one(&self, item: &Item) -> Disposition {
        match self.sync_one_inner(item).await {
            Ok(()) => {
                self.succeeded();
                Disposition::Synced
            }
            Err(failure) => self.on_failure(&failure).await,
        }
    }

    async fn sync_one_inner(&self, item: &Item) -> Result<(), CallFailure> {
        let command = &item.command;
        let email = match &command.contact_key {
            ContactKey::Email(email) => email.clone(),
            ContactKey::StripeCustomerId { .. } => match command.contact.get("email") {
                Some(email) => email.to_owned(),
                None => {
                    return Err(CallFailure::Permanent(
                        "the per-event path finds contacts by email, and this payment has none"
                            .into(),
                    ))
                }
            },
        };
        let contact_id = self
            .with_stripping(Object::Contacts, |dropped| {
                let properties: BTreeMap<String, String> = command
                    .contact
                    .iter()
                    .filter(|(name, value)| {
                        !(value.last_charge && item.stale)
                            && plan::sendable(value.kind, name, dropped)
                    })
                    .map(|(name, value)| (name.to_owned(), value.value.clone()))
                    .collect();
                self.upsert_contact_by_search(email.clone(), properties)
            })
            .await?;

        let recorded = self
            .store
            .state
            .recorded_deal(&command.deal_key)
            .await
            .map_err(|e| CallFailure::Transient(format!("could not read the deal record: {e}")))?;
        let deal_id = self
            .with_stripping(Object::Deals, |dropped| {
                let properties: BTreeMap<String, String> = command
                    .deal
                    .iter()
                    .filter(|(name, value)| plan::sendable(value.kind, name, dropped))
                    .map(|(name, value)| (name.to_owned(), value.value.clone()))
                    .collect();
                self.write_deal(recorded.clone(), properties, contact_id.clone())
            })
            .await?;
        if recorded.is_none() {
            self.store
                .state
                .record_deal(&command.deal_key, &deal_id)
                .await
                .map_err(|e| {
                    CallFailure::Transient(format!("could not record the deal id: {e}"))
                })?;
        } else {
            self.count_request();
            self.hubspot
                .associations()
                .associate_default(
                    &ObjectType::Deals,
                    &deal_id,
                    &ObjectType::Contacts,
                    &contact_id,
                )
                .await
                .map_err(|e| CallFailure::classify(&e))?;
        }
        Ok(())
    }

    /// Runs `call` with the properties not yet dropped; when HubSpot rejects some as unknown
    /// or invalid, drops them (alerting once) and runs it again.
    async fn with_stripping<T, F, Fut>(&self, object: Object, mut call: F) -> Result<T, CallFailure>
    where
        F: FnMut(&std::collections::BTreeSet<String>) -> Fut,
        Fut: std::future::Future<Output = Result<T, CallFailure>>,
    {
        loop {
            let dropped = self.dropped_snapshot(object);
            match call(&dropped).await {
                Err(CallFailure::Rejected { properties, .. })
                    if !properties.is_empty()
                        && !self.drop_properties(object, &properties).await.is_empty() => {}
                other => return other,
            }
        }
    }

    async fn upsert_contact_by_search(
        &self,
        email: String,
        properties: BTreeMap<String, String>,
    ) -> Result<String, CallFailure> {
        let contacts = self.hubspot.contacts();
        self.count_request();
        let found = contacts
            .search(
                &SearchRequest::new()
                    .filter_eq("email", email.as_str())
                    .limit(1),
            )
            .await
            .map_err(|e| CallFailure::classify(&e))?;
        let existing = match found.results.into_iter().next() {
            Some(contact) => contact.id,
            None => {
                self.count_request();
                match contacts.create(&ObjectInput::new(properties.clone())).await {
                    Ok(created) => return Ok(created.id),
                    // Search lags behind writes: the contact exists after all.
                    Err(hubspot_crm::Error::Conflict {
                        existing_id: Some(id),
                        ..
                    }) => id,
                    Err(error) => return Err(CallFailure::classify(&error)),
                }
            }
        };
        self.count_request();
        contacts
            .update(&ObjectRef::id(existing.clone()), &properties)
            .await
            .map_err(|e| CallFailure::classify(&e))?;
        Ok(existing)
    }

    async fn write_deal(
        &self,
        recorded: Option<String>,
        properties: BTreeMap<String, String>,
        contact_id: String,
    ) -> Result<String, CallFailure> {
        let deals = self.hubspot.deals();
        self.count_request();
        match recorded {
            Some(deal_id) => deals
                .update(&ObjectRef::id(deal_id.clone()), &properties)
                .await
                .map(|_| deal_id),
            None => deals
                .create(
                    &ObjectInput::new(properties)
                        .associate(contact_id, AssociationType::DEAL_TO_CONTACT),
                )
                .await
                .map(|deal| deal.id),
        }
        .map_err(|e| CallFailure::classify(&e))
    }
}
