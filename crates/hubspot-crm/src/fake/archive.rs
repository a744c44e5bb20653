//! Archiving an object: it leaves the store (HubSpot's recycle bin is not modelled) with
//! its associations.

use serde_json::Value;

use super::objects::{known_type, unknown_type};
use super::replies::Reply;
use super::routes::not_found;
use super::state::{find_object, reindex, FakeState};

/// `DELETE /crm/objects/{version}/{type}/{id}`: 204, or 404 for an unknown id.
pub(super) fn archive_object(state: &mut FakeState, object_type: &str, id: &str) -> Reply {
    if !known_type(object_type) {
        return unknown_type(object_type);
    }
    let Some(i) = find_object(state, object_type, "hs_object_id", id) else {
        return not_found();
    };
    if let Some(list) = state.objects.get_mut(object_type) {
        list.remove(i);
    }
    reindex(state, object_type);
    state.associations.retain(|a| {
        !(a.from_type == object_type && a.from_id == id
            || a.to_type == object_type && a.to_id == id)
    });
    Reply::json(204, Value::Null)
}
