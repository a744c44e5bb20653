//! The engine's HubSpot calls, each counted and its error classified.

use std::collections::{BTreeSet, HashMap};

use hubspot_crm::{ObjectType, PropertyCreate, UpsertInput};
use stripe2hubspot_map::PropertySpec;

use super::batch::UpsertReply;
use super::failure::CallFailure;
use super::plan::Group;
use super::{Inner, Object, DEAL_ID_PROPERTY};

impl Object {
    pub(crate) fn object_type(self) -> ObjectType {
        match self {
            Object::Contacts => ObjectType::Contacts,
            Object::Deals => ObjectType::Deals,
        }
    }
}

impl Inner {
    pub(crate) fn count_request(&self) {
        self.count(&self.counters.hubspot_requests, 1);
    }

    /// One batch upsert of `groups` by their id property.
    pub(crate) async fn upsert_call(
        &self,
        object: Object,
        groups: &[Group],
    ) -> Result<UpsertReply, CallFailure> {
        let inputs: Vec<UpsertInput> = groups
            .iter()
            .map(|g| {
                UpsertInput::new(
                    g.id_property.clone(),
                    g.id_value.clone(),
                    g.properties.clone(),
                )
            })
            .collect();
        self.fence()?;
        self.count_request();
        let result = self
            .hubspot
            .objects(object.object_type())
            .batch_upsert(&inputs)
            .await
            .map_err(|e| CallFailure::classify(&e))?;
        let mut reply = UpsertReply::default();
        let id_property = groups
            .first()
            .map(|g| g.id_property.as_str())
            .unwrap_or("email");
        let complete = result.errors.is_empty() && result.results.len() == groups.len();
        for (position, upserted) in result.results.into_iter().enumerate() {
            // Results echo the properties sent, the id property included. HubSpot does not
            // promise their order, so position is only the fallback when that echo is missing.
            let value = match upserted.object.property(id_property) {
                Some(value) if id_property == "email" => value.to_lowercase(),
                Some(value) => value.to_owned(),
                None if complete => groups[position].id_value.clone(),
                None => continue,
            };
            reply.ids.insert(value, upserted.object.id);
        }
        for error in result.errors {
            let invalid = error.category.as_deref() == Some("VALIDATION_ERROR");
            let named = error.ids().into_iter().map(str::to_owned).collect();
            reply.errors.push((named, error.message, invalid));
        }
        Ok(reply)
    }

    /// Default deal-to-contact associations for `(deal id, contact id)` links. Returns the
    /// indices of links HubSpot did not confirm, with its message.
    pub(crate) async fn associate(
        &self,
        links: &[(String, String)],
    ) -> Result<HashMap<usize, String>, CallFailure> {
        self.fence()?;
        self.count_request();
        let result = self
            .hubspot
            .associations()
            .batch_associate_default(
                &ObjectType::Deals,
                &ObjectType::Contacts,
                links.iter().cloned(),
            )
            .await
            .map_err(|e| CallFailure::classify(&e))?;
        if result.errors.is_empty() {
            return Ok(HashMap::new());
        }
        let confirmed: BTreeSet<(&str, &str)> = result
            .results
            .iter()
            .map(|a| (a.from.id.as_str(), a.to.id.as_str()))
            .collect();
        let message = result
            .errors
            .first()
            .map(|e| e.message.clone())
            .unwrap_or_default();
        Ok(links
            .iter()
            .enumerate()
            .filter(|(_, (deal, contact))| !confirmed.contains(&(deal.as_str(), contact.as_str())))
            .map(|(index, _)| (index, message.clone()))
            .collect())
    }

    /// Creates the custom properties the mapping writes, once per process. Chooses the
    /// per-event path when they cannot be created (403) or the deal key property exists but
    /// is not unique.
    pub(crate) async fn bootstrap(&self) -> Result<(), CallFailure> {
        self.bootstrapped
            .get_or_try_init(|| async {
                let per_event = self.settings.mode == super::Mode::PerEvent;
                let (contacts, deals) = self.mapping.custom_properties();
                let missing_contacts = self.ensure_properties(Object::Contacts, &contacts, !per_event).await?;
                let missing_deals = self.ensure_properties(Object::Deals, &deals, !per_event).await?;
                let deal_key_missing = missing_deals.iter().any(|m| m == DEAL_ID_PROPERTY);
                if deal_key_missing && self.settings.mode == super::Mode::Batch {
                    return Err(CallFailure::Permanent(format!(
                        "the batch path needs the unique deal property {DEAL_ID_PROPERTY}, which is missing and could not be created; grant crm.schemas.deals.write or use Mode::PerEvent"
                    )));
                }
                if deal_key_missing && !per_event {
                    tracing::warn!("using the per-event path: the unique deal property {DEAL_ID_PROPERTY} is not available");
                }
                self.per_event.store(per_event || deal_key_missing, std::sync::atomic::Ordering::Relaxed);
                // After choosing the path: the deal key property is droppable only per event.
                self.drop_properties(Object::Contacts, &missing_contacts).await;
                self.drop_properties(Object::Deals, &missing_deals).await;
                Ok(())
            })
            .await
            .map(drop)
    }

    /// Creates the missing `specs` when `create` is set. Returns the names that remain
    /// unavailable (missing and not creatable, or, for the deal key, not unique).
    async fn ensure_properties(
        &self,
        object: Object,
        specs: &[PropertySpec],
        create: bool,
    ) -> Result<Vec<String>, CallFailure> {
        let properties = self.hubspot.properties(object.object_type());
        self.count_request();
        let existing: HashMap<String, bool> = properties
            .list()
            .await
            .map_err(|e| CallFailure::classify(&e))?
            .into_iter()
            .map(|p| (p.name, p.has_unique_value))
            .collect();
        let mut unavailable = Vec::new();
        let mut warned = false;
        for spec in specs {
            match existing.get(&spec.name) {
                Some(&unique) if unique || !spec.has_unique_value => continue,
                Some(_) => {
                    tracing::warn!(property = %spec.name, "property exists in HubSpot but is not unique; it cannot be used as an upsert key");
                    unavailable.push(spec.name.clone());
                    continue;
                }
                None if !create => {
                    unavailable.push(spec.name.clone());
                    continue;
                }
                None => {}
            }
            let mut create = PropertyCreate::text(&spec.name, &spec.label, &spec.group_name)
                .unique(spec.has_unique_value)
                .description(spec.description.clone());
            create.type_ = spec.type_.clone();
            create.field_type = spec.field_type.clone();
            create.options = spec
                .options
                .iter()
                .map(|option| hubspot_crm::PropertyOption {
                    label: option.label.clone(),
                    value: option.value.clone(),
                    display_order: Some(option.display_order),
                    hidden: option.hidden,
                })
                .collect();
            self.count_request();
            match properties.create(&create).await {
                Ok(_) => {
                    tracing::info!(object = object.name(), property = %spec.name, "created HubSpot property")
                }
                Err(hubspot_crm::Error::Conflict { .. }) => {}
                Err(hubspot_crm::Error::Forbidden { missing_scopes, .. }) => {
                    if !warned {
                        tracing::warn!(object = object.name(), ?missing_scopes, "cannot create HubSpot properties: grant crm.schemas.{}.write to sync them", object.name());
                        warned = true;
                    }
                    unavailable.push(spec.name.clone());
                }
                Err(error) => return Err(CallFailure::classify(&error)),
            }
        }
        Ok(unavailable)
    }
}
