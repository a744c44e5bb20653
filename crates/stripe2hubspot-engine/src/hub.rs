//! The engine's HubSpot calls, each counted and its error classified.

use std::collections::{BTreeSet, HashMap};

use std::future::Future;
use std::pin::Pin;

use hubspot_crm::{ObjectRef, ObjectType, PropertyCreate, UpdateInput, UpsertInput};
use stripe2hubspot_map::PropertySpec;

use super::batch::{How, UpsertReply};
use super::failure::CallFailure;
use super::plan::Group;
use super::{Inner, Object, PauseReason, DEAL_ID_PROPERTY};

impl Object {
    pub(crate) fn object_type(self) -> ObjectType {
        match self {
            Object::Contacts => ObjectType::Contacts,
            Object::Deals => ObjectType::Deals,
            Object::Companies => ObjectType::Companies,
            Object::LineItems => ObjectType::LineItems,
            Object::Products => ObjectType::Products,
        }
    }
}

impl Inner {
    pub(crate) fn count_request(&self) {
        self.count(&self.counters.hubspot_requests, 1);
    }

    /// One batch call writing `groups` by `how`.
    pub(crate) async fn write_call(
        &self,
        object: Object,
        how: How,
        groups: &[Group],
    ) -> Result<UpsertReply, CallFailure> {
        match how {
            How::Upsert => self.upsert_call(object, groups).await,
            How::Update => self.update_call(object, groups).await,
        }
    }

    /// One batch update of `groups` by HubSpot id (each group's `id_value`). Results are
    /// matched to inputs by the trace id each carries (its index), else by the id an object
    /// answers for: an update of a merged-away id comes back as the merged record, with its
    /// id. A whole batch refused for a taken value or a missing object (no per-input answer)
    /// is split until the refusal names one input.
    fn update_call<'a>(
        &'a self,
        object: Object,
        groups: &'a [Group],
    ) -> Pin<Box<dyn Future<Output = Result<UpsertReply, CallFailure>> + Send + 'a>> {
        Box::pin(async move {
            let inputs: Vec<UpdateInput> = groups
                .iter()
                .enumerate()
                .map(|(index, g)| {
                    UpdateInput::new(g.id_value.clone(), g.properties.clone())
                        .trace_id(index.to_string())
                })
                .collect();
            let mut reply = UpsertReply::default();
            self.fence()?;
            self.count_request();
            let answer = self
                .hubspot
                .objects(object.object_type())
                .batch_update(&inputs)
                .await;
            let result = match answer {
                Ok(result) => result,
                Err(error) => {
                    let Some(refusal) = error.update_refusal() else {
                        return Err(CallFailure::classify(&error));
                    };
                    if let [group] = groups {
                        reply.refused.insert(group.id_value.clone(), refusal);
                        return Ok(reply);
                    }
                    let (left, right) = groups.split_at(groups.len() / 2);
                    let mut reply = self.update_call(object, left).await?;
                    let other = self.update_call(object, right).await?;
                    reply.ids.extend(other.ids);
                    reply.errors.extend(other.errors);
                    reply.refused.extend(other.refused);
                    return Ok(reply);
                }
            };
            for updated in result.results {
                let by_trace = updated
                    .object_write_trace_id
                    .as_deref()
                    .and_then(|trace| trace.parse::<usize>().ok())
                    .and_then(|index| groups.get(index));
                let group =
                    by_trace.or_else(|| groups.iter().find(|g| updated.answers_id(&g.id_value)));
                if let Some(group) = group {
                    reply.ids.insert(group.id_value.clone(), updated.id);
                }
            }
            for error in result.errors {
                let mut named: Vec<String> = error
                    .ids()
                    .into_iter()
                    .filter(|id| groups.iter().any(|g| g.id_value == *id))
                    .map(str::to_owned)
                    .collect();
                if named.is_empty() {
                    if let [group] = groups {
                        named.push(group.id_value.clone());
                    }
                }
                match error.update_refusal() {
                    Some(refusal) => {
                        for id in named {
                            reply.refused.insert(id, refusal.clone());
                        }
                    }
                    None => {
                        let invalid = error.category.as_deref() == Some("VALIDATION_ERROR");
                        reply.errors.push((named, error.message, invalid));
                    }
                }
            }
            Ok(reply)
        })
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
        let mut unechoed = 0usize;
        for upserted in result.results {
            // Results echo the properties sent, the id property included. HubSpot does not
            // promise their order, so a result without the echo is never matched by position.
            match upserted.object.property(id_property) {
                Some(value) if id_property == "email" => {
                    reply.ids.insert(value.to_lowercase(), upserted.object.id);
                }
                Some(value) => {
                    reply.ids.insert(value.to_owned(), upserted.object.id);
                }
                None => unechoed += 1,
            }
        }
        for error in result.errors {
            let invalid = error.category.as_deref() == Some("VALIDATION_ERROR");
            let named = error.ids().into_iter().map(str::to_owned).collect();
            reply.errors.push((named, error.message, invalid));
        }
        if unechoed > 0 {
            self.reread_unechoed(object, groups, &mut reply).await;
        }
        Ok(reply)
    }

    /// Reads back, by their id property, the inputs an upsert answer did not echo, so every
    /// HubSpot id is matched to its input by value. An input not found stays unmatched (and
    /// is retried).
    async fn reread_unechoed(&self, object: Object, groups: &[Group], reply: &mut UpsertReply) {
        let named: BTreeSet<&str> = reply
            .errors
            .iter()
            .flat_map(|(values, _, _)| values.iter().map(String::as_str))
            .collect();
        for group in groups {
            if reply.ids.contains_key(&group.id_value) || named.contains(group.id_value.as_str()) {
                continue;
            }
            let by = if group.id_property == "email" {
                ObjectRef::email(&group.id_value)
            } else {
                ObjectRef::property(group.id_property.clone(), group.id_value.clone())
            };
            self.count_request();
            let read = self
                .hubspot
                .objects(object.object_type())
                .get(&by, &[group.id_property.as_str()])
                .await;
            match read {
                Ok(found) => {
                    reply.ids.insert(group.id_value.clone(), found.id);
                }
                Err(error) => {
                    tracing::warn!(object = object.name(), %error, "could not read back an upserted object; retrying it");
                }
            }
        }
    }

    /// Default deal-to-contact associations for `(deal id, contact id)` links. Returns the
    /// indices of links HubSpot did not confirm, with its message.
    pub(crate) async fn associate(
        &self,
        links: &[(String, String)],
    ) -> Result<HashMap<usize, String>, CallFailure> {
        let result = self
            .associate_call(&ObjectType::Deals, &ObjectType::Contacts, links)
            .await?;
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

    /// One batch call associating `(from id, to id)` links (at most 100) with the default
    /// type from `from` to `to`; HubSpot's answer as it stands (per-link errors in a 207).
    pub(crate) async fn associate_call(
        &self,
        from: &ObjectType,
        to: &ObjectType,
        links: &[(String, String)],
    ) -> Result<hubspot_crm::BatchResult<hubspot_crm::DefaultAssociation>, CallFailure> {
        self.fence()?;
        self.count_request();
        self.hubspot
            .associations()
            .batch_associate_default(from, to, links.iter().cloned())
            .await
            .map_err(|e| CallFailure::classify(&e))
    }

    /// Creates the custom properties the mapping writes, once per process. Properties that
    /// stay missing are dropped (and alerted), except the deal key: without the unique
    /// `stripe_payment_id` no deal can be upserted, so the engine pauses until it exists.
    /// Removes the associations of `(deal id, contact id)` pairs: a payment that moved to
    /// another contact leaves its old one. Unlinking pairs that are not linked is harmless.
    pub(crate) async fn unassociate(&self, links: &[(String, String)]) -> Result<(), CallFailure> {
        self.fence()?;
        self.count_request();
        self.hubspot
            .associations()
            .batch_archive(
                &ObjectType::Deals,
                &ObjectType::Contacts,
                links.iter().cloned(),
            )
            .await
            .map_err(|e| CallFailure::classify(&e))
    }

    pub(crate) async fn bootstrap(&self) -> Result<(), CallFailure> {
        self.bootstrapped
            .get_or_try_init(|| async {
                let (contacts, deals) = self.mapping.custom_properties();
                let missing_deals = self.ensure_properties(Object::Deals, &deals, true).await?;
                if missing_deals.iter().any(|m| m == DEAL_ID_PROPERTY) {
                    return Err(CallFailure::Pause(PauseReason::MissingProperties(
                        missing_deals,
                    )));
                }
                let missing_contacts = self
                    .ensure_properties(Object::Contacts, &contacts, true)
                    .await?;
                self.drop_properties(Object::Contacts, &missing_contacts)
                    .await;
                self.drop_properties(Object::Deals, &missing_deals).await;
                Ok(())
            })
            .await
            .map(drop)
    }

    /// Whether the unique deal key property exists now (the probe while paused on
    /// [`PauseReason::MissingProperties`]).
    pub(crate) async fn deal_key_exists(&self) -> bool {
        self.count_request();
        matches!(
            self.hubspot.properties(Object::Deals.object_type()).get(DEAL_ID_PROPERTY).await,
            Ok(property) if property.has_unique_value
        )
    }

    /// Creates the missing `specs` when `create` is set. Returns the names that remain
    /// unavailable (missing and not creatable, or, for the deal key, not unique).
    pub(crate) async fn ensure_properties(
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
