//! Archiving an object: it leaves the store (HubSpot's recycle bin is not modelled) with
//! its associations.

use serde_json::Value;

use super::objects::{known_type, unknown_type};
use super::replies::Reply;
use super::routes::not_found;
use super::state::{remove_object, FakeState};

/// `DELETE /crm/objects/{version}/{type}/{id}`: 204, or 404 for an unknown id.
pub(super) fn archive_object(state: &mut FakeState, object_type: &str, id: &str) -> Reply {
    if !known_type(object_type) {
        return unknown_type(object_type);
    }
    if remove_object(state, object_type, id) {
        Reply::json(204, Value::Null)
    } else {
        not_found()
    }
}
