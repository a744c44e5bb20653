//! Pure batch planning: coalesce a batch's commands into one HubSpot input per contact and
//! one per deal. No IO, so the ordering rules are unit-tested directly.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use stripe2hubspot_map::{PropertyKind, SyncCommand};

/// One mapped job of a batch.
#[derive(Debug, Clone)]
pub(crate) struct Item {
    /// Index of the job in the reserved batch.
    pub job: usize,
    pub command: SyncCommand,
    /// A newer payment of this contact was already written: leave the last-charge
    /// properties alone so an out-of-order delivery never overwrites newer data.
    pub stale: bool,
}

/// One HubSpot upsert input and the items it carries.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Group {
    /// The upsert `idProperty`.
    pub id_property: String,
    /// The value of `id_property` that identifies the object.
    pub id_value: String,
    pub properties: BTreeMap<String, String>,
    /// Indices into the batch's items.
    pub members: Vec<usize>,
}

/// Items in the order their properties are applied: oldest event first, so the newest wins.
fn chronological(items: &[Item], members: impl Iterator<Item = usize>) -> Vec<usize> {
    let mut order: Vec<usize> = members.collect();
    order.sort_by(|&a, &b| {
        let (a, b) = (&items[a].command, &items[b].command);
        (a.event_created, &a.event_id).cmp(&(b.event_created, &b.event_id))
    });
    order
}

/// Which properties a group may send, given those HubSpot rejected before.
pub(crate) fn sendable(kind: PropertyKind, name: &str, dropped: &BTreeSet<String>) -> bool {
    kind == PropertyKind::Core || !dropped.contains(name)
}

/// One group per contact key; the newest event's values win.
pub(crate) fn contact_groups(
    items: &[Item],
    members: impl Iterator<Item = usize>,
    dropped: &BTreeSet<String>,
) -> Vec<Group> {
    let mut groups: Vec<Group> = Vec::new();
    let mut by_key: HashMap<(String, String), usize> = HashMap::new();
    for index in chronological(items, members) {
        let item = &items[index];
        let key = &item.command.contact_key;
        let slot = *by_key
            .entry((key.id_property().to_owned(), key.value().to_owned()))
            .or_insert_with(|| {
                groups.push(Group {
                    id_property: key.id_property().to_owned(),
                    id_value: key.value().to_owned(),
                    properties: BTreeMap::new(),
                    members: Vec::new(),
                });
                groups.len() - 1
            });
        let group = &mut groups[slot];
        group.members.push(index);
        for (name, value) in item.command.contact.iter() {
            if (value.last_charge && item.stale) || !sendable(value.kind, name, dropped) {
                continue;
            }
            group
                .properties
                .insert(name.to_owned(), value.value.clone());
        }
    }
    groups
}

/// One group per deal key (charge.succeeded and payment_intent.succeeded of one payment land
/// on one deal); the newest event's values win.
pub(crate) fn deal_groups(
    items: &[Item],
    members: impl Iterator<Item = usize>,
    deal_id_property: &str,
    dropped: &BTreeSet<String>,
) -> Vec<Group> {
    let mut groups: Vec<Group> = Vec::new();
    let mut by_key: HashMap<String, usize> = HashMap::new();
    for index in chronological(items, members) {
        let item = &items[index];
        let slot = *by_key
            .entry(item.command.deal_key.clone())
            .or_insert_with(|| {
                groups.push(Group {
                    id_property: deal_id_property.to_owned(),
                    id_value: item.command.deal_key.clone(),
                    properties: BTreeMap::new(),
                    members: Vec::new(),
                });
                groups.len() - 1
            });
        let group = &mut groups[slot];
        group.members.push(index);
        for (name, value) in item.command.deal.iter() {
            if sendable(value.kind, name, dropped) {
                group
                    .properties
                    .insert(name.to_owned(), value.value.clone());
            }
        }
        group
            .properties
            .insert(deal_id_property.to_owned(), item.command.deal_key.clone());
    }
    groups
}
