//! The fake's shared state and the storage queries every handler uses.

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use time::OffsetDateTime;

use super::faults::Injection;
use super::pipelines::StoredPipeline;
use super::validation_rules::ValidationRule;
use super::{FakeAssociation, FakeObject, RequestRecord};
use crate::{normalize_email, PropertyCreate, RateLimit};

#[derive(Debug, Clone)]
pub(super) struct PropertyDefinition {
    pub(super) create: PropertyCreate,
}

#[derive(Debug, Clone)]
pub(super) struct StoredObject {
    pub(super) id: u64,
    pub(super) properties: BTreeMap<String, String>,
    pub(super) created: OffsetDateTime,
    pub(super) updated: OffsetDateTime,
    pub(super) written_at: Instant,
}

/// The positions of the objects holding each property value, by object type, property name
/// and value, so an upsert finds its object without scanning them all (a scan per input made
/// the fake, not the client, the bottleneck of a 20,000-payment bench).
pub(super) type ValueIndex = HashMap<String, HashMap<String, HashMap<String, BTreeSet<usize>>>>;

pub(super) struct FakeState {
    pub(super) token: String,
    pub(super) rate_limit: Option<RateLimit>,
    pub(super) window: VecDeque<Instant>,
    pub(super) search_rate_limit: Option<RateLimit>,
    pub(super) search_window: VecDeque<Instant>,
    pub(super) search_lag: Duration,
    pub(super) missing_scopes: Vec<String>,
    pub(super) registry: BTreeMap<String, BTreeMap<String, PropertyDefinition>>,
    pub(super) objects: BTreeMap<String, Vec<StoredObject>>,
    /// Kept in step with `objects` by [`insert_object`] and [`merge_properties`].
    pub(super) index: ValueIndex,
    pub(super) associations: BTreeSet<FakeAssociation>,
    pub(super) next_id: u64,
    pub(super) requests: Vec<RequestRecord>,
    pub(super) injections: Vec<Injection>,
    pub(super) validation_rules: Vec<ValidationRule>,
    pub(super) pipelines: BTreeMap<String, Vec<StoredPipeline>>,
    /// Property validation rules by object type, then property name.
    pub(super) property_validations:
        BTreeMap<String, BTreeMap<String, Vec<crate::PropertyValidationRule>>>,
    /// Ids merged away, by object type: old id -> the id of the record that replaced it
    /// (always a live record: a later merge or deletion re-points or drops the alias).
    pub(super) merged_into: BTreeMap<String, BTreeMap<u64, u64>>,
    /// Whether a merge keeps the primary's id (HubSpot before its merge change) instead of
    /// making a record with a new id (HubSpot now).
    pub(super) merge_keeps_primary_id: bool,
    /// Every GDPR delete received, in order.
    pub(super) gdpr_deletions: Vec<super::GdprDeletion>,
}

pub(super) type SharedState = Arc<Mutex<FakeState>>;

pub(super) fn lock(state: &SharedState) -> MutexGuard<'_, FakeState> {
    state.lock().unwrap_or_else(|p| p.into_inner())
}
pub(super) fn snapshot(o: &StoredObject) -> FakeObject {
    FakeObject {
        id: o.id.to_string(),
        properties: o.properties.clone(),
    }
}

pub(super) fn unique_properties(state: &FakeState, object_type: &str) -> Vec<String> {
    let mut out: Vec<String> = state
        .registry
        .get(object_type)
        .map(|r| {
            r.values()
                .filter(|d| d.create.has_unique_value)
                .map(|d| d.create.name.clone())
                .collect()
        })
        .unwrap_or_default();
    if object_type == "contacts" && !out.iter().any(|p| p == "email") {
        out.push("email".into());
    }
    out
}

pub(super) fn find_object(
    state: &FakeState,
    object_type: &str,
    prop: &str,
    value: &str,
) -> Option<usize> {
    if value.is_empty() {
        return None;
    }
    let value = if prop == "email" {
        normalize_email(value)
    } else {
        value.to_owned()
    };
    if prop == "hs_object_id" {
        // Ids are handed out in ascending order and removals keep the order.
        let list = state.objects.get(object_type)?;
        let asked: u64 = value.parse().ok()?;
        if asked.to_string() != value {
            return None;
        }
        // A merged-away id answers for the record that replaced it, as HubSpot's does.
        let id = survivor_id(state, object_type, asked);
        return list.binary_search_by_key(&id, |o| o.id).ok();
    }
    state
        .index
        .get(object_type)?
        .get(prop)?
        .get(&value)?
        .first()
        .copied()
}

fn index_value(index: &mut ValueIndex, object_type: &str, prop: &str, value: &str, i: usize) {
    index
        .entry(object_type.to_owned())
        .or_default()
        .entry(prop.to_owned())
        .or_default()
        .entry(value.to_owned())
        .or_default()
        .insert(i);
}

fn unindex_value(index: &mut ValueIndex, object_type: &str, prop: &str, value: &str, i: usize) {
    if let Some(by_value) = index.get_mut(object_type).and_then(|p| p.get_mut(prop)) {
        if let Some(positions) = by_value.get_mut(value) {
            positions.remove(&i);
            if positions.is_empty() {
                by_value.remove(value);
            }
        }
    }
}

/// The first unique-value clash with an object other than `except`.
pub(super) fn unique_clash(
    state: &FakeState,
    object_type: &str,
    props: &BTreeMap<String, String>,
    except: Option<u64>,
) -> Option<u64> {
    for p in unique_properties(state, object_type) {
        if let Some(v) = props.get(&p) {
            if let Some(i) = find_object(state, object_type, &p, v) {
                let id = state
                    .objects
                    .get(object_type)
                    .and_then(|v| v.get(i))
                    .map(|o| o.id)?;
                if Some(id) != except {
                    return Some(id);
                }
            }
        }
    }
    None
}

/// The id of the live record `id` stands for: itself, or the record it was merged into.
pub(super) fn survivor_id(state: &FakeState, object_type: &str, id: u64) -> u64 {
    state
        .merged_into
        .get(object_type)
        .and_then(|aliases| aliases.get(&id))
        .copied()
        .unwrap_or(id)
}

/// Removes the object at position `i` from the store and the index, and returns it. Its
/// associations and aliases stay: the caller moves or drops them.
pub(super) fn take_object(
    state: &mut FakeState,
    object_type: &str,
    i: usize,
) -> Option<StoredObject> {
    let list = state.objects.get_mut(object_type)?;
    if i >= list.len() {
        return None;
    }
    let taken = list.remove(i);
    // Positions after the removed object moved down by one.
    reindex(state, object_type);
    Some(taken)
}

/// Deletes the object `id` for good: it leaves the store with its associations, and the ids
/// merged into it stop answering. Returns whether it existed.
pub(super) fn remove_object(state: &mut FakeState, object_type: &str, id: &str) -> bool {
    let Some(i) = find_object(state, object_type, "hs_object_id", id) else {
        return false;
    };
    let Some(removed) = take_object(state, object_type, i) else {
        return false;
    };
    let removed_id = removed.id.to_string();
    state.associations.retain(|a| {
        !((a.from_type == object_type && a.from_id == removed_id)
            || (a.to_type == object_type && a.to_id == removed_id))
    });
    if let Some(aliases) = state.merged_into.get_mut(object_type) {
        aliases.retain(|_, survivor| *survivor != removed.id);
    }
    true
}

/// Rebuilds the value index of one object type from its stored objects, after a hand edit or
/// a deletion moved values or positions behind the index's back.
pub(super) fn reindex(state: &mut FakeState, object_type: &str) {
    let mut rebuilt = ValueIndex::default();
    if let Some(list) = state.objects.get(object_type) {
        for (i, object) in list.iter().enumerate() {
            for (k, v) in &object.properties {
                index_value(&mut rebuilt, object_type, k, v, i);
            }
        }
    }
    match rebuilt.remove(object_type) {
        Some(by_property) => {
            state.index.insert(object_type.to_owned(), by_property);
        }
        None => {
            state.index.remove(object_type);
        }
    }
}

pub(super) fn insert_object(
    state: &mut FakeState,
    object_type: &str,
    props: BTreeMap<String, String>,
) -> usize {
    let now = OffsetDateTime::now_utc();
    let id = state.next_id;
    state.next_id += 1;
    let list = state.objects.entry(object_type.to_owned()).or_default();
    let i = list.len();
    for (k, v) in &props {
        index_value(&mut state.index, object_type, k, v, i);
    }
    list.push(StoredObject {
        id,
        properties: props,
        created: now,
        updated: now,
        written_at: Instant::now(),
    });
    i
}

pub(super) fn object_at<'a>(
    state: &'a FakeState,
    object_type: &str,
    i: usize,
) -> Option<&'a StoredObject> {
    state.objects.get(object_type).and_then(|v| v.get(i))
}

pub(super) fn merge_properties(
    state: &mut FakeState,
    object_type: &str,
    i: usize,
    props: BTreeMap<String, String>,
) {
    if let Some(o) = state
        .objects
        .get_mut(object_type)
        .and_then(|v| v.get_mut(i))
    {
        for (k, v) in props {
            if o.properties.get(&k) == Some(&v) {
                continue;
            }
            index_value(&mut state.index, object_type, &k, &v, i);
            if let Some(old) = o.properties.insert(k.clone(), v) {
                unindex_value(&mut state.index, object_type, &k, &old, i);
            }
        }
        o.updated = OffsetDateTime::now_utc();
        o.written_at = Instant::now();
    }
}

pub(super) fn locate(
    state: &FakeState,
    object_type: &str,
    id: &str,
    q: &BTreeMap<String, String>,
) -> Option<usize> {
    match q.get("idProperty").map(String::as_str) {
        Some(p) if !p.is_empty() => find_object(state, object_type, p, id),
        _ => find_object(state, object_type, "hs_object_id", id),
    }
}
