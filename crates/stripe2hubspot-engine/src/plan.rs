//! Pure batch planning from the ledger: which touched rows HubSpot must see, and one upsert
//! input per contact and one per deal. No IO, so the rules are unit-tested directly.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use stripe2hubspot_map::{
    deal_properties, ContactKey, ContactKeySource, MappingConfig, PropertyKind, PropertySet,
    PropertyValue, LIFETIME_VALUE_PROPERTY, PAYMENT_COUNT_PROPERTY,
};

use stripe2hubspot_queue::{
    contact_key_of, customer_contact_key, LedgerChange, WriteMark, WrittenDeal,
};

/// A touched ledger row whose state HubSpot has not seen: its deal, its contact, and the
/// jobs that touched it.
#[derive(Clone)]
pub(crate) struct RowWrite {
    /// The payment identity: the deal's `stripe_payment_id`.
    pub key: String,
    /// The ledger version these properties carry.
    pub version: i64,
    pub contact: ContactKey,
    /// The contact key as the store spells it.
    pub contact_key: String,
    pub deal: PropertySet,
    /// A deal written earlier under another `stripe_payment_id` (the row was re-keyed when a
    /// fact linked it to its PaymentIntent): moved to `key` before the upsert.
    pub move_from: Option<WrittenDeal>,
    /// Contacts a newer email moved the payment away from (store key and HubSpot key):
    /// their rollups are written again and the deal's association with them removed.
    pub moved_from: Vec<(String, ContactKey)>,
    /// Indices of the jobs of the batch that touched the row.
    pub jobs: Vec<usize>,
    /// The ledger records a deal for the payment: HubSpot has seen it, so it is upserted.
    pub deal_known: bool,
    /// A complete write of the row (deal and association) succeeded once.
    pub written_once: bool,
}

impl RowWrite {
    /// A payment HubSpot has never seen: its deal is created with its association inline.
    pub(crate) fn is_new(&self) -> bool {
        !self.deal_known
    }

    /// Whether an upserted deal needs its association made: the deal moved to another key
    /// or contact, or no complete write ever confirmed it (a created deal whose later steps
    /// failed, a fallback whose association failed). A deal written once keeps its link.
    pub(crate) fn needs_association(&self) -> bool {
        !self.written_once || self.move_from.is_some() || !self.moved_from.is_empty()
    }
}

/// Ids, versions and counts only: contact keys and property values are personal data.
impl std::fmt::Debug for RowWrite {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RowWrite")
            .field("key", &self.key)
            .field("version", &self.version)
            .field("contact_id_property", &self.contact.id_property())
            .field("deal_properties", &self.deal.len())
            .field("move_from", &self.move_from)
            .field("moved_from_contacts", &self.moved_from.len())
            .field("jobs", &self.jobs)
            .field("deal_known", &self.deal_known)
            .field("written_once", &self.written_once)
            .finish()
    }
}

/// The HubSpot key of a contact key as [`contact_key_of`] spells it (`email=...`,
/// `customer=cus_...` or `{customer id property}=cus_...`). A customer's contact under
/// [`ContactKeySource::Email`] is found by the email its derived state carries (the
/// customer's current one), so its key holds no value: see [`hubspot_identity`].
pub(crate) fn contact_of_key(key: &str, config: &MappingConfig) -> Option<ContactKey> {
    let (property, value) = key.split_once('=')?;
    if value.is_empty() {
        return None;
    }
    Some(if property == "email" {
        ContactKey::Email(value.to_owned())
    } else if customer_of_key(key, config).is_some()
        && config.contact_key == ContactKeySource::Email
    {
        ContactKey::Email(String::new())
    } else {
        ContactKey::StripeCustomerId {
            property: property.to_owned(),
            id: value.to_owned(),
        }
    })
}

/// The Stripe customer whose contact key `key` is ([`customer_contact_key`]), if it is one.
pub(crate) fn customer_of_key<'k>(key: &'k str, config: &MappingConfig) -> Option<&'k str> {
    let (_, value) = key.split_once('=')?;
    (!value.is_empty() && customer_contact_key(value, config) == key).then_some(value)
}

/// The upsert `idProperty` and value of a contact: by email, the email its derived state
/// carries (a customer's current email, which may differ from the one its key was first
/// written with), else the key's; by Stripe customer id, the id. An empty value: the contact
/// cannot be upserted (a customer without any email), only updated by a recorded id.
pub(crate) fn hubspot_identity(contact: &ContactKey, properties: &PropertySet) -> (String, String) {
    let value = match contact {
        ContactKey::Email(email) => properties
            .get("email")
            .filter(|derived| !derived.is_empty())
            .unwrap_or(email),
        ContactKey::StripeCustomerId { id, .. } => id,
    };
    (contact.id_property().to_owned(), value.to_owned())
}

/// The rollups of a contact left with no payment: count 0 and lifetime value 0.00, written
/// rather than left counting a payment that moved to another contact.
pub(crate) fn emptied_contact(config: &MappingConfig) -> PropertySet {
    let custom = |value: String| PropertyValue {
        value,
        kind: PropertyKind::Custom,
        last_charge: false,
    };
    let mut set = PropertySet::new();
    set.insert(PAYMENT_COUNT_PROPERTY, custom("0".to_owned()));
    set.insert(
        LIFETIME_VALUE_PROPERTY,
        custom(
            config
                .reporting_currency
                .map(|c| stripe_events::Money::new(0, c).to_decimal_string())
                .unwrap_or_default(),
        ),
    );
    set
}

/// What a touched row needs.
#[derive(Debug, Clone)]
pub(crate) enum RowPlan {
    /// Write the deal and contact.
    Write(RowWrite),
    /// Nothing to write, the jobs are done: the row waits for more facts, HubSpot already
    /// holds this version, or there is no deal to write (`mark`, when set, records that).
    Done {
        reason: String,
        jobs: Vec<usize>,
        mark: Option<WriteMark>,
    },
}

/// The plan for each touched row. `jobs_of` lists, per change, the jobs that touched it.
pub(crate) fn plan_rows(
    changes: &[LedgerChange],
    jobs_of: &[Vec<usize>],
    config: &MappingConfig,
) -> Vec<RowPlan> {
    changes
        .iter()
        .zip(jobs_of)
        .map(|(change, jobs)| {
            let entry = &change.entry;
            let jobs = jobs.clone();
            let state = entry.row.state(config);
            if state.is_waiting() {
                return RowPlan::Done {
                    reason: format!(
                        "the payment waits in the ledger ({}) and is written once it can be",
                        state.as_str()
                    ),
                    jobs,
                    mark: None,
                };
            }
            if !entry.is_unwritten() {
                return RowPlan::Done {
                    reason: "HubSpot already holds this state of the payment".into(),
                    jobs,
                    mark: None,
                };
            }
            let written = |reason: &str| RowPlan::Done {
                reason: reason.to_owned(),
                jobs: jobs.clone(),
                mark: Some(WriteMark {
                    key: entry.key.clone(),
                    version: entry.version,
                    deal: None,
                }),
            };
            // The key the store indexes the row under: a guest payment made with a customer's
            // email is that customer's.
            let indexed = change
                .contact_key
                .clone()
                .or_else(|| contact_key_of(&entry.row, config));
            let (Some(deal), Some(contact), Some(contact_key)) = (
                deal_properties(&entry.row, config),
                indexed
                    .as_deref()
                    .and_then(|key| contact_of_key(key, config))
                    .or_else(|| entry.row.contact_key(config)),
                indexed,
            ) else {
                return written(&format!(
                    "nothing to write for a payment that is {}",
                    state.as_str()
                ));
            };
            RowPlan::Write(RowWrite {
                key: entry.key.clone(),
                version: entry.version,
                contact,
                deal,
                move_from: entry
                    .deal
                    .clone()
                    .filter(|d| d.stripe_payment_id != entry.key),
                moved_from: change
                    .previous_contact_keys
                    .iter()
                    .filter(|key| **key != contact_key)
                    .filter_map(|key| Some((key.clone(), contact_of_key(key, config)?)))
                    .collect(),
                contact_key,
                jobs,
                deal_known: entry.deal.is_some(),
                written_once: entry.written_version > 0,
            })
        })
        .collect()
}

/// One HubSpot upsert input and the row writes it carries.
#[derive(Clone, PartialEq)]
pub(crate) struct Group {
    /// The object's key in the store: the contact key or the payment key.
    pub key: String,
    /// The upsert `idProperty`.
    pub id_property: String,
    /// The value of `id_property` that identifies the object.
    pub id_value: String,
    pub properties: BTreeMap<String, String>,
    /// Indices into the batch's row writes.
    pub members: Vec<usize>,
    /// Row writes whose payment moved away from this contact (a newer email): they need its
    /// id to remove their deal's association, and fail with it.
    pub moved_members: Vec<usize>,
}

/// The id property and counts only: an email id value and the property values are personal
/// data; a deal's id value is its payment id.
impl std::fmt::Debug for Group {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut out = f.debug_struct("Group");
        out.field("id_property", &self.id_property);
        if self.id_property == crate::DEAL_ID_PROPERTY {
            out.field("id_value", &self.id_value);
        }
        out.field("properties", &self.properties.keys().collect::<Vec<_>>())
            .field("members", &self.members)
            .field("moved_members", &self.moved_members)
            .finish()
    }
}

/// Which properties a group may send, given those HubSpot rejected before.
pub(crate) fn sendable(kind: PropertyKind, name: &str, dropped: &BTreeSet<String>) -> bool {
    kind == PropertyKind::Core || !dropped.contains(name)
}

pub(crate) fn sendable_properties(
    set: &PropertySet,
    dropped: &BTreeSet<String>,
) -> BTreeMap<String, String> {
    set.iter()
        .filter(|(name, value)| sendable(value.kind, name, dropped))
        .map(|(name, value)| (name.to_owned(), value.value.clone()))
        .collect()
}

/// One group per contact among `members`, carrying `contacts[contact key]`: the contact's
/// absolute state derived from all its ledger rows. A contact whose state is missing is left
/// out (its members are not in any group). The contacts the payments of `moved` left join as
/// groups too (or join the group they already have), with those writes as moved members, and
/// so do the contacts of `customers` (customers whose own state changed: contact key and
/// HubSpot key), without members.
pub(crate) fn contact_groups(
    writes: &[RowWrite],
    members: impl Iterator<Item = usize>,
    moved: impl Iterator<Item = usize>,
    customers: &[(String, ContactKey)],
    contacts: &HashMap<String, PropertySet>,
    dropped: &BTreeSet<String>,
) -> Vec<Group> {
    let mut groups: Vec<Group> = Vec::new();
    let mut by_key: HashMap<&str, usize> = HashMap::new();
    for (key, contact) in customers {
        if let Some(properties) = contacts.get(key) {
            group_slot(&mut groups, &mut by_key, key, contact, properties, dropped);
        }
    }
    for index in members {
        let Some(write) = writes.get(index) else {
            continue;
        };
        let Some(properties) = contacts.get(&write.contact_key) else {
            continue;
        };
        let slot = group_slot(
            &mut groups,
            &mut by_key,
            &write.contact_key,
            &write.contact,
            properties,
            dropped,
        );
        if let Some(group) = groups.get_mut(slot) {
            group.members.push(index);
        }
    }
    for index in moved {
        let Some(write) = writes.get(index) else {
            continue;
        };
        for (key, contact) in &write.moved_from {
            let Some(properties) = contacts.get(key) else {
                continue;
            };
            let slot = group_slot(&mut groups, &mut by_key, key, contact, properties, dropped);
            if let Some(group) = groups.get_mut(slot) {
                group.moved_members.push(index);
            }
        }
    }
    groups
}

/// The index in `groups` of the group of contact `key`, added (without members) if missing.
fn group_slot<'a>(
    groups: &mut Vec<Group>,
    by_key: &mut HashMap<&'a str, usize>,
    key: &'a str,
    contact: &ContactKey,
    properties: &PropertySet,
    dropped: &BTreeSet<String>,
) -> usize {
    *by_key.entry(key).or_insert_with(|| {
        let (id_property, id_value) = hubspot_identity(contact, properties);
        groups.push(Group {
            key: key.to_owned(),
            id_property,
            id_value,
            properties: sendable_properties(properties, dropped),
            members: Vec::new(),
            moved_members: Vec::new(),
        });
        groups.len() - 1
    })
}

/// The fingerprint of the properties a contact group sends (after the dropped-property
/// filter): equal to the recorded mark's when HubSpot already holds exactly these.
pub(crate) fn sent_fingerprint(properties: &BTreeMap<String, String>) -> String {
    let mut set = PropertySet::new();
    for (name, value) in properties {
        set.insert(
            name.clone(),
            PropertyValue {
                value: value.clone(),
                kind: PropertyKind::Custom,
                last_charge: false,
            },
        );
    }
    set.fingerprint()
}

/// One group per row write among `members`, keyed by the payment identity.
pub(crate) fn deal_groups(
    writes: &[RowWrite],
    members: impl Iterator<Item = usize>,
    deal_id_property: &str,
    dropped: &BTreeSet<String>,
) -> Vec<Group> {
    members
        .filter_map(|index| {
            let write = writes.get(index)?;
            let mut properties = sendable_properties(&write.deal, dropped);
            properties.insert(deal_id_property.to_owned(), write.key.clone());
            Some(Group {
                key: write.key.clone(),
                id_property: deal_id_property.to_owned(),
                id_value: write.key.clone(),
                properties,
                members: vec![index],
                moved_members: Vec::new(),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::DEAL_ID_PROPERTY as DEAL_KEY;
    use stripe2hubspot_map::{contact_properties, facts_from_event, Facts, FactsOutcome};
    use stripe2hubspot_queue::{LedgerEntry, MemoryQueue, SyncState};
    use stripe_events::testkit::Payment;

    fn facts(event: &serde_json::Value) -> Facts {
        let event = stripe_events::parse_event(event.to_string().as_bytes()).expect("event");
        match facts_from_event(&event, &MappingConfig::default()).expect("mapping") {
            FactsOutcome::Facts(facts) => *facts,
            other => panic!("expected facts, got {other:?}"),
        }
    }

    /// The ledger after merging `events` (in this order), and the plan of every row.
    fn ledger(events: &[serde_json::Value]) -> (Vec<RowWrite>, HashMap<String, PropertySet>) {
        let config = MappingConfig::default();
        let store = MemoryQueue::new();
        let all: Vec<Facts> = events.iter().map(facts).collect();
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .expect("runtime");
        let changes = runtime
            .block_on(store.merge_facts(&all, &config))
            .expect("merge");
        let jobs: Vec<Vec<usize>> = changes.iter().map(|_| Vec::new()).collect();
        let writes: Vec<RowWrite> = plan_rows(&changes, &jobs, &config)
            .into_iter()
            .filter_map(|plan| match plan {
                RowPlan::Write(write) => Some(write),
                RowPlan::Done { .. } => None,
            })
            .collect();
        let mut contacts = HashMap::new();
        for write in &writes {
            let rows = runtime
                .block_on(store.contact_rows(&write.contact_key))
                .expect("rows");
            if let Some(props) = contact_properties(&rows, &config) {
                contacts.insert(write.contact_key.clone(), props);
            }
        }
        (writes, contacts)
    }

    /// A payment of `email` by `name`, numbered `n`, created at `created`.
    fn payment(n: u64, email: &str, name: &str, amount: i64, created: i64) -> Payment {
        let mut payment = Payment::numbered(n, email, amount, "usd", created);
        payment.name = Some(name.to_owned());
        payment
    }

    fn all_orders<T: Clone>(values: &[T]) -> Vec<Vec<T>> {
        if values.len() <= 1 {
            return vec![values.to_vec()];
        }
        let mut out = Vec::new();
        for i in 0..values.len() {
            let mut rest = values.to_vec();
            let first = rest.remove(i);
            for mut tail in all_orders(&rest) {
                tail.insert(0, first.clone());
                out.push(tail);
            }
        }
        out
    }

    /// One group per contact of every write: no payment moved, no customer-only contact, no
    /// property dropped.
    fn groups_of_every_write(
        writes: &[RowWrite],
        contacts: &HashMap<String, PropertySet>,
    ) -> Vec<Group> {
        contact_groups(
            writes,
            all(writes),
            std::iter::empty(),
            &[],
            contacts,
            &BTreeSet::new(),
        )
    }

    fn all(writes: &[RowWrite]) -> std::ops::Range<usize> {
        0..writes.len()
    }

    #[test]
    fn contact_groups_merge_one_contact_and_the_newest_event_wins_in_any_order() {
        let ada = [
            payment(1, "ada@example.com", "Ada Byron", 1000, 1_700_000_000),
            payment(2, "ADA@example.com", "Ada Lovelace", 3000, 1_700_000_600),
            payment(3, "ada@example.com", "Augusta King", 2000, 1_700_000_300),
        ];
        let bob = payment(4, "bob@example.com", "Bob Babbage", 500, 1_700_000_900);
        let newest = &ada[1];
        let events: Vec<serde_json::Value> = ada
            .iter()
            .chain([&bob])
            .map(Payment::charge_succeeded)
            .collect();
        let orders = all_orders(&events);
        assert_eq!(orders.len(), 24);
        for order in orders {
            let (writes, contacts) = ledger(&order);
            let groups = groups_of_every_write(&writes, &contacts);
            assert_eq!(groups.len(), 2, "one group per contact: {groups:?}");
            let ada_group = groups
                .iter()
                .find(|g| g.id_value == "ada@example.com")
                .expect("ada's group");
            assert_eq!(ada_group.id_property, "email");
            assert_eq!(ada_group.members.len(), 3);
            let p = &ada_group.properties;
            assert_eq!(p["email"], "ada@example.com");
            assert_eq!(p["firstname"], "Ada");
            assert_eq!(p["lastname"], "Lovelace");
            assert_eq!(p["last_charge_id"], newest.charge_id);
            assert_eq!(p["last_charge_amount"], "30.00");
            assert_eq!(p["stripe_payment_count"], "3");
            assert_eq!(p["stripe_lifetime_value"], "60.00");

            let bob_group = groups
                .iter()
                .find(|g| g.id_value == "bob@example.com")
                .expect("bob's group");
            assert_eq!(bob_group.members.len(), 1);
            assert_eq!(bob_group.properties["last_charge_id"], bob.charge_id);
        }
    }

    #[test]
    fn contact_groups_only_take_members_they_are_given() {
        let a = payment(1, "ada@example.com", "Ada Byron", 1000, 1_700_000_000);
        let b = payment(2, "bob@example.com", "Bob Babbage", 3000, 1_700_000_600);
        let (writes, contacts) = ledger(&[a.charge_succeeded(), b.charge_succeeded()]);
        let ada = writes
            .iter()
            .position(|w| w.contact.value() == "ada@example.com")
            .expect("ada's row");
        let groups = contact_groups(
            &writes,
            [ada].into_iter(),
            std::iter::empty(),
            &[],
            &contacts,
            &BTreeSet::new(),
        );
        assert_eq!(groups.len(), 1);
        assert_eq!(groups[0].members, [ada]);
        assert_eq!(groups[0].properties["last_charge_id"], a.charge_id);
        assert_eq!(groups[0].properties["lastname"], "Byron");
    }

    /// Was: a stale item never contributes last-charge properties. The contact's state is now
    /// derived from all its ledger rows, so an older payment arriving last cannot overwrite
    /// the newest payment's last-charge data, in any order.
    #[test]
    fn an_older_payment_arriving_last_never_overwrites_the_newest_last_charge() {
        let older = payment(1, "ada@example.com", "Ada Byron", 1000, 1_700_000_000);
        let newer = payment(2, "ada@example.com", "Ada Lovelace", 3000, 1_700_000_600);
        for order in all_orders(&[older.charge_succeeded(), newer.charge_succeeded()]) {
            let (writes, contacts) = ledger(&order);
            let groups = groups_of_every_write(&writes, &contacts);
            assert_eq!(groups.len(), 1);
            let p = &groups[0].properties;
            assert_eq!(p["last_charge_id"], newer.charge_id);
            assert_eq!(p["last_charge_amount"], "30.00");
            assert_eq!(p["lastname"], "Lovelace", "the newest name");
            assert_eq!(groups[0].members.len(), 2);
        }
    }

    #[test]
    fn dropped_properties_are_not_sent_but_core_ones_always_are() {
        let tony = Payment::sample();
        let (writes, contacts) = ledger(&[tony.charge_succeeded()]);
        let untouched = groups_of_every_write(&writes, &contacts);
        for name in [
            "email",
            "firstname",
            "lastname",
            "phone",
            "company",
            "stripe_customer_id",
            "last_charge_id",
            "last_charge_amount",
        ] {
            assert!(
                untouched[0].properties.contains_key(name),
                "{name} is sent when nothing is dropped"
            );
        }

        let dropped: BTreeSet<String> = [
            "email",
            "firstname",
            "lastname",
            "phone",
            "company",
            "stripe_customer_id",
            "last_charge_amount",
        ]
        .into_iter()
        .map(str::to_owned)
        .collect();
        let groups = contact_groups(
            &writes,
            all(&writes),
            std::iter::empty(),
            &[],
            &contacts,
            &dropped,
        );
        let p = &groups[0].properties;
        assert_eq!(p["email"], "tony@starkindustries.com");
        assert_eq!(p["firstname"], "Tony");
        assert_eq!(p["lastname"], "Stark");
        for name in [
            "phone",
            "company",
            "stripe_customer_id",
            "last_charge_amount",
        ] {
            assert!(!p.contains_key(name), "dropped {name} was sent: {p:?}");
        }
        assert_eq!(
            p["last_charge_id"], tony.charge_id,
            "not dropped, still sent"
        );

        let deal_dropped: BTreeSet<String> = ["dealname", "amount", DEAL_KEY]
            .into_iter()
            .map(str::to_owned)
            .collect();
        let deals = deal_groups(&writes, all(&writes), DEAL_KEY, &deal_dropped);
        let p = &deals[0].properties;
        assert!(
            !p.contains_key("dealname") && !p.contains_key("amount"),
            "{p:?}"
        );
        assert_eq!(p["dealstage"], "closedwon");
        assert_eq!(
            p[DEAL_KEY],
            tony.payment_intent.clone().unwrap(),
            "the deal key is sent even if listed as dropped"
        );
    }

    #[test]
    fn both_events_of_one_payment_make_one_deal_group_keyed_by_the_payment() {
        let tony = Payment::sample();
        let pi = tony.payment_intent.clone().unwrap();
        // A payment without an intent is keyed by its charge.
        let mut bare = Payment::numbered(9, "bare@example.com", 700, "eur", 1_700_000_000);
        bare.payment_intent = None;
        let events = [
            tony.charge_succeeded(),
            tony.payment_intent_succeeded("evt_pi_tony"),
            bare.charge_succeeded(),
        ];
        for order in all_orders(&events) {
            let (writes, contacts) = ledger(&order);
            let groups = deal_groups(&writes, all(&writes), DEAL_KEY, &BTreeSet::new());
            assert_eq!(groups.len(), 2, "{groups:?}");
            let tony_deal = groups.iter().find(|g| g.id_value == pi).expect("one deal");
            assert_eq!(tony_deal.id_property, DEAL_KEY);
            assert_eq!(tony_deal.properties[DEAL_KEY], pi);
            assert_eq!(tony_deal.properties["amount"], "149.00");
            let bare_deal = groups
                .iter()
                .find(|g| g.id_value == bare.charge_id)
                .expect("keyed by the charge");
            assert_eq!(bare_deal.properties[DEAL_KEY], bare.charge_id);

            let contacts = groups_of_every_write(&writes, &contacts);
            assert_eq!(contacts.len(), 2, "one contact each");
        }
    }

    #[test]
    fn waiting_written_and_released_rows_are_not_written() {
        let config = MappingConfig::default();
        let mut no_email = Payment::numbered(1, "x@example.com", 500, "usd", 1_700_000_000);
        no_email.email = None;
        let row = stripe2hubspot_map::LedgerRow::from_facts(&facts(&no_email.charge_succeeded()));
        let change = |version, written_version| LedgerChange {
            entry: LedgerEntry {
                key: row.key().unwrap_or_default().to_owned(),
                row: row.clone(),
                version,
                written_version,
                deal: None,
            },
            absorbed_keys: Vec::new(),
            orphaned_deals: Vec::new(),
            previous_contact_keys: Vec::new(),
            contact_key: None,
        };
        let plans = plan_rows(&[change(1, 0)], &[vec![7]], &config);
        assert!(
            matches!(&plans[..], [RowPlan::Done { reason, jobs, mark: None }]
                if reason.contains("awaiting_contact") && jobs == &[7]),
            "{plans:?}"
        );
        let tony = Payment::sample();
        let row = stripe2hubspot_map::LedgerRow::from_facts(&facts(&tony.charge_succeeded()));
        let written = LedgerChange {
            entry: LedgerEntry {
                key: row.key().unwrap_or_default().to_owned(),
                row,
                version: 2,
                written_version: 2,
                deal: None,
            },
            absorbed_keys: Vec::new(),
            orphaned_deals: Vec::new(),
            previous_contact_keys: Vec::new(),
            contact_key: None,
        };
        let plans = plan_rows(&[written], &[vec![1]], &config);
        assert!(
            matches!(&plans[..], [RowPlan::Done { mark: None, .. }]),
            "{plans:?}"
        );
    }

    #[test]
    fn debug_of_row_writes_and_groups_shows_no_email_or_name() {
        let ada = payment(
            1,
            "ada.secret@example.com",
            "Augusta Ada Byron",
            1000,
            1_700_000_000,
        );
        let (mut writes, mut contacts) = ledger(&[ada.charge_succeeded()]);
        let moved = "email=former.address@example.com";
        contacts.insert(moved.to_owned(), emptied_contact(&MappingConfig::default()));
        writes[0].moved_from.push((
            moved.to_owned(),
            contact_of_key(moved, &MappingConfig::default()).expect("a key"),
        ));
        let contact_groups = contact_groups(
            &writes,
            all(&writes),
            all(&writes),
            &[],
            &contacts,
            &BTreeSet::new(),
        );
        assert_eq!(contact_groups.len(), 2, "the contact and the one it left");
        let deals = deal_groups(&writes, all(&writes), DEAL_KEY, &BTreeSet::new());
        let shown = format!("{writes:?} {contact_groups:?} {deals:?}");
        for secret in [
            "ada.secret",
            "former.address",
            "example.com",
            "Augusta",
            "Byron",
        ] {
            assert!(!shown.contains(secret), "{secret} in {shown}");
        }
        assert!(shown.contains(&writes[0].key), "ids stay readable: {shown}");
    }

    #[test]
    fn a_contact_is_upserted_by_the_email_its_state_carries_or_its_customer_id() {
        let mut state = PropertySet::new();
        let email = PropertyValue {
            value: "new@example.com".into(),
            kind: PropertyKind::Core,
            last_charge: false,
        };
        let customer = ContactKey::Email(String::new());
        assert_eq!(
            hubspot_identity(&customer, &state),
            ("email".into(), String::new()),
            "no email yet: only a recorded id can write it"
        );
        state.insert("email", email);
        assert_eq!(
            hubspot_identity(&customer, &state),
            ("email".into(), "new@example.com".into()),
            "a customer's current email"
        );
        assert_eq!(
            hubspot_identity(&ContactKey::Email("old@example.com".into()), &state).1,
            "new@example.com"
        );
        let by_id = ContactKey::StripeCustomerId {
            property: "stripe_customer_id".into(),
            id: "cus_1".into(),
        };
        assert_eq!(
            hubspot_identity(&by_id, &state),
            ("stripe_customer_id".into(), "cus_1".into())
        );
    }

    #[test]
    fn contact_keys_read_back_as_the_store_spells_them() {
        let by_email = MappingConfig::default();
        let by_customer = MappingConfig {
            contact_key: ContactKeySource::StripeCustomerId,
            customer_id_property: Some("stripe_customer_id".into()),
            ..MappingConfig::default()
        };
        assert_eq!(
            contact_of_key("email=ann@example.com", &by_email),
            Some(ContactKey::Email("ann@example.com".into()))
        );
        assert_eq!(
            contact_of_key("stripe_customer_id=cus_1", &by_customer),
            Some(ContactKey::StripeCustomerId {
                property: "stripe_customer_id".into(),
                id: "cus_1".into()
            })
        );
        assert_eq!(
            contact_of_key("customer=cus_1", &by_email),
            Some(ContactKey::Email(String::new())),
            "a customer's contact is found by its current email"
        );
        assert_eq!(customer_of_key("customer=cus_1", &by_email), Some("cus_1"));
        assert_eq!(
            customer_of_key("stripe_customer_id=cus_1", &by_customer),
            Some("cus_1")
        );
        assert_eq!(customer_of_key("email=ann@example.com", &by_email), None);
        assert_eq!(contact_of_key("email=", &by_email), None);
        assert_eq!(contact_of_key("nothing", &by_email), None);
    }

    /// The contacts a row write left, after merging `first` then `second` (two calls) under
    /// `config`.
    fn moved_after(
        first: &serde_json::Value,
        second: &serde_json::Value,
        config: &MappingConfig,
    ) -> Vec<(String, ContactKey)> {
        let read = |event: &serde_json::Value| {
            let event = stripe_events::parse_event(event.to_string().as_bytes()).expect("event");
            match facts_from_event(&event, config).expect("mapping") {
                FactsOutcome::Facts(facts) => *facts,
                other => panic!("expected facts, got {other:?}"),
            }
        };
        let store = MemoryQueue::new();
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .expect("runtime");
        runtime
            .block_on(store.merge_facts(&[read(first)], config))
            .expect("merge");
        let changes = runtime
            .block_on(store.merge_facts(&[read(second)], config))
            .expect("merge");
        plan_rows(&changes, &[vec![0]], config)
            .into_iter()
            .flat_map(|plan| match plan {
                RowPlan::Write(write) => write.moved_from,
                RowPlan::Done { .. } => Vec::new(),
            })
            .collect()
    }

    /// A guest payment (no Stripe customer) is its email's: a new email moves it. A
    /// customer's payment is the customer's under either contact key source: a new email
    /// moves nothing (identity follows the customer), only a new customer does.
    #[test]
    fn a_payment_leaves_the_contact_its_key_no_longer_names_by_email_or_by_customer() {
        let mut before = Payment::numbered(1, "old@example.com", 1000, "usd", 1_700_000_000);
        before.customer = Some("cus_old".into());
        let mut new_email = before.clone();
        new_email.email = Some("new@example.com".into());
        new_email.created += 60;
        new_email.event_id = "evt_new_email".into();
        let mut new_customer = before.clone();
        new_customer.customer = Some("cus_new".into());
        new_customer.created += 60;
        new_customer.event_id = "evt_new_customer".into();

        let by_email = MappingConfig::default();
        let mut guest = before.clone();
        guest.customer = None;
        let mut guest_new_email = new_email.clone();
        guest_new_email.customer = None;
        assert_eq!(
            moved_after(
                &guest.charge_succeeded(),
                &guest_new_email.charge_succeeded(),
                &by_email
            ),
            [(
                "email=old@example.com".to_owned(),
                ContactKey::Email("old@example.com".into())
            )]
        );
        assert!(
            moved_after(
                &before.charge_succeeded(),
                &new_email.charge_succeeded(),
                &by_email
            )
            .is_empty(),
            "a customer's payment stays with the customer whatever its email"
        );
        assert_eq!(
            moved_after(
                &before.charge_succeeded(),
                &new_customer.charge_succeeded(),
                &by_email
            ),
            [(
                "customer=cus_old".to_owned(),
                ContactKey::Email(String::new())
            )]
        );

        let by_customer = MappingConfig {
            contact_key: stripe2hubspot_map::ContactKeySource::StripeCustomerId,
            customer_id_property: Some("stripe_customer_id".into()),
            ..MappingConfig::default()
        };
        assert!(
            moved_after(
                &before.charge_succeeded(),
                &new_email.charge_succeeded(),
                &by_customer
            )
            .is_empty(),
            "the customer is the identity: a new email moves nothing"
        );
        assert_eq!(
            moved_after(
                &before.charge_succeeded(),
                &new_customer.charge_succeeded(),
                &by_customer
            ),
            [(
                "stripe_customer_id=cus_old".to_owned(),
                ContactKey::StripeCustomerId {
                    property: "stripe_customer_id".into(),
                    id: "cus_old".into()
                }
            )]
        );
    }
}
