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

/// Folds `members`, oldest event first, into one group per `(id property, id value)` that
/// `key` gives; `apply` adds an item's properties to its group, so the newest event wins.
fn fold_groups(
    items: &[Item],
    members: impl Iterator<Item = usize>,
    key: impl Fn(&Item) -> (String, String),
    apply: impl Fn(&Item, &mut BTreeMap<String, String>),
) -> Vec<Group> {
    let mut groups: Vec<Group> = Vec::new();
    let mut by_key: HashMap<(String, String), usize> = HashMap::new();
    for index in chronological(items, members) {
        let item = &items[index];
        let (id_property, id_value) = key(item);
        let slot = *by_key
            .entry((id_property.clone(), id_value.clone()))
            .or_insert_with(|| {
                groups.push(Group {
                    id_property,
                    id_value,
                    properties: BTreeMap::new(),
                    members: Vec::new(),
                });
                groups.len() - 1
            });
        groups[slot].members.push(index);
        apply(item, &mut groups[slot].properties);
    }
    groups
}

/// One group per contact key; the newest event's values win.
pub(crate) fn contact_groups(
    items: &[Item],
    members: impl Iterator<Item = usize>,
    dropped: &BTreeSet<String>,
) -> Vec<Group> {
    fold_groups(
        items,
        members,
        |item| {
            let key = &item.command.contact_key;
            (key.id_property().to_owned(), key.value().to_owned())
        },
        |item, properties| {
            for (name, value) in item.command.contact.iter() {
                if !(value.last_charge && item.stale) && sendable(value.kind, name, dropped) {
                    properties.insert(name.to_owned(), value.value.clone());
                }
            }
        },
    )
}

/// One group per deal key (charge.succeeded and payment_intent.succeeded of one payment land
/// on one deal); the newest event's values win.
pub(crate) fn deal_groups(
    items: &[Item],
    members: impl Iterator<Item = usize>,
    deal_id_property: &str,
    dropped: &BTreeSet<String>,
) -> Vec<Group> {
    fold_groups(
        items,
        members,
        |item| (deal_id_property.to_owned(), item.command.deal_key.clone()),
        |item, properties| {
            for (name, value) in item.command.deal.iter() {
                if sendable(value.kind, name, dropped) {
                    properties.insert(name.to_owned(), value.value.clone());
                }
            }
            properties.insert(deal_id_property.to_owned(), item.command.deal_key.clone());
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::DEAL_ID_PROPERTY as DEAL_KEY;
    use crate::testkit::Payment;
    use stripe2hubspot_map::{map_event, MapOutcome, MappingConfig};

    fn command(event: &serde_json::Value) -> SyncCommand {
        let event = stripe_events::parse_event(event.to_string().as_bytes()).expect("event");
        match map_event(&event, &MappingConfig::default()).expect("mapping") {
            MapOutcome::Sync(command) => command,
            other => panic!("expected a sync command, got {other:?}"),
        }
    }

    fn items(commands: &[(SyncCommand, bool)]) -> Vec<Item> {
        commands
            .iter()
            .enumerate()
            .map(|(job, (command, stale))| Item {
                job,
                command: command.clone(),
                stale: *stale,
            })
            .collect()
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

    #[test]
    fn contact_groups_merge_one_contact_and_the_newest_event_wins_in_any_order() {
        let ada = [
            payment(1, "ada@example.com", "Ada Byron", 1000, 1_700_000_000),
            payment(2, "ADA@example.com", "Ada Lovelace", 3000, 1_700_000_600),
            payment(3, "ada@example.com", "Augusta King", 2000, 1_700_000_300),
        ];
        let bob = payment(4, "bob@example.com", "Bob Babbage", 500, 1_700_000_900);
        let newest = &ada[1];
        let commands: Vec<SyncCommand> = ada
            .iter()
            .chain([&bob])
            .map(|p| command(&p.charge_succeeded()))
            .collect();
        let orders = all_orders(&commands);
        assert_eq!(orders.len(), 24);
        for order in orders {
            let with_flags: Vec<(SyncCommand, bool)> =
                order.iter().cloned().map(|c| (c, false)).collect();
            let items = items(&with_flags);
            let groups = contact_groups(&items, 0..items.len(), &BTreeSet::new());
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
            // Members are in application order: the newest event last.
            let last = ada_group.members.last().copied().unwrap();
            assert_eq!(items[last].command.event_id, newest.event_id);

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
        let b = payment(2, "ada@example.com", "Ada Lovelace", 3000, 1_700_000_600);
        let items = items(&[
            (command(&a.charge_succeeded()), false),
            (command(&b.charge_succeeded()), false),
        ]);
        let groups = contact_groups(&items, [0].into_iter(), &BTreeSet::new());
        assert_eq!(groups.len(), 1);
        assert_eq!(groups[0].members, [0]);
        assert_eq!(groups[0].properties["last_charge_id"], a.charge_id);
        assert_eq!(groups[0].properties["lastname"], "Byron");
    }

    #[test]
    fn a_stale_item_never_contributes_last_charge_properties_but_contributes_the_rest() {
        let older = payment(1, "ada@example.com", "Ada Byron", 1000, 1_700_000_000);
        let newer_stale = payment(2, "ada@example.com", "Ada Lovelace", 3000, 1_700_000_600);

        // Alone: the contact's other properties are written, the last-charge group is not.
        let alone = items(&[(command(&newer_stale.charge_succeeded()), true)]);
        let groups = contact_groups(&alone, 0..1, &BTreeSet::new());
        assert_eq!(groups.len(), 1);
        let p = &groups[0].properties;
        assert_eq!(p["email"], "ada@example.com");
        assert_eq!(p["firstname"], "Ada");
        assert_eq!(p["lastname"], "Lovelace");
        let leaked: Vec<&String> = p.keys().filter(|k| k.starts_with("last_charge")).collect();
        assert!(leaked.is_empty(), "stale item sent {leaked:?}");
        assert_eq!(groups[0].members, [0]);

        // Even when it sorts after a fresh item of the same contact, the stale item's
        // last-charge values never overwrite the fresh ones; its other values still apply.
        let fresh = (command(&older.charge_succeeded()), false);
        let stale = (command(&newer_stale.charge_succeeded()), true);
        for order in all_orders(&[fresh, stale]) {
            let items = items(&order);
            let groups = contact_groups(&items, 0..items.len(), &BTreeSet::new());
            assert_eq!(groups.len(), 1);
            let p = &groups[0].properties;
            assert_eq!(p["last_charge_id"], older.charge_id);
            assert_eq!(p["last_charge_amount"], "10.00");
            assert_eq!(
                p["lastname"], "Lovelace",
                "non-last-charge values still apply"
            );
            assert_eq!(groups[0].members.len(), 2);
        }
    }

    #[test]
    fn dropped_properties_are_not_sent_but_core_ones_always_are() {
        let tony = Payment::sample();
        let items = items(&[(command(&tony.charge_succeeded()), false)]);
        let untouched = contact_groups(&items, 0..1, &BTreeSet::new());
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
        let groups = contact_groups(&items, 0..1, &dropped);
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
        let deals = deal_groups(&items, 0..1, DEAL_KEY, &deal_dropped);
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
        let charge = command(&tony.charge_succeeded());
        let intent = command(&tony.payment_intent_succeeded("evt_pi_tony"));
        assert_eq!(charge.deal_key, pi);
        assert_eq!(intent.deal_key, pi);
        // A payment without an intent is keyed by its charge.
        let mut bare = Payment::numbered(9, "bare@example.com", 700, "eur", 1_700_000_000);
        bare.payment_intent = None;
        let bare_command = command(&bare.charge_succeeded());

        for order in all_orders(&[charge, intent, bare_command]) {
            let with_flags: Vec<(SyncCommand, bool)> =
                order.into_iter().map(|c| (c, false)).collect();
            let items = items(&with_flags);
            let groups = deal_groups(&items, 0..items.len(), DEAL_KEY, &BTreeSet::new());
            assert_eq!(groups.len(), 2, "{groups:?}");
            let tony_deal = groups.iter().find(|g| g.id_value == pi).expect("one deal");
            assert_eq!(tony_deal.id_property, DEAL_KEY);
            assert_eq!(tony_deal.members.len(), 2);
            assert_eq!(tony_deal.properties[DEAL_KEY], pi);
            assert_eq!(tony_deal.properties["amount"], "149.00");
            let bare_deal = groups
                .iter()
                .find(|g| g.id_value == bare.charge_id)
                .expect("keyed by the charge");
            assert_eq!(bare_deal.members.len(), 1);
            assert_eq!(bare_deal.properties[DEAL_KEY], bare.charge_id);

            let contacts = contact_groups(&items, 0..items.len(), &BTreeSet::new());
            assert_eq!(contacts.len(), 2, "one contact each");
        }
    }
}
