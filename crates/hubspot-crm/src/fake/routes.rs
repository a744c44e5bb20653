//! Which handler answers a path: the dated paths (`/crm/objects/2026-09/...`) and the
//! legacy numeric ones (`/crm/v3/...`, `/crm/v4/...`) reach the same handlers and state.

use std::collections::BTreeMap;

use axum::http::Method;
use serde_json::Value;

use super::access::check_scope;
use super::archive::archive_object;
use super::associations::{archive_batch, associate_batch, associate_one};
use super::gdpr::gdpr_delete;
use super::merge::merge;
use super::objects::{batch_create, batch_read, batch_upsert, create, get, update};
use super::pipelines::list_pipelines;
use super::properties::{
    create_property, get_property, list_properties, list_property_validations,
};
use super::replies::{error_body, Reply};
use super::search::search;
use super::state::FakeState;
use super::update::batch_update;
use crate::ApiVersion;

/// A CRM path split into its API name, the version it asked for, and the rest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct RequestPath<'a> {
    pub(super) version: ApiVersion,
    pub(super) api: &'a str,
    pub(super) rest: Vec<&'a str>,
}

impl<'a> RequestPath<'a> {
    /// `crm/{api}/{date}/...` or `crm/v3|v4/{api}/...`, with the legacy number HubSpot
    /// uses for that endpoint (v4 for associations, v3 for the rest); `None` otherwise.
    pub(super) fn parse(segments: &[&'a str]) -> Option<Self> {
        let ["crm", first, second, rest @ ..] = segments else {
            return None;
        };
        let dated = second
            .parse::<ApiVersion>()
            .ok()
            .filter(|v| v.date().is_some());
        if let Some(version) = dated {
            return Some(RequestPath {
                version,
                api: first,
                rest: rest.to_vec(),
            });
        }
        let path = RequestPath {
            version: ApiVersion::Legacy,
            api: second,
            rest: rest.to_vec(),
        };
        (path.legacy_number() == *first).then_some(path)
    }

    fn legacy_number(&self) -> &'static str {
        let is_association = self.api == "associations"
            || (self.api == "objects" && self.rest.get(2) == Some(&"associations"));
        if is_association {
            "v4"
        } else {
            "v3"
        }
    }

    pub(super) fn is_search(&self) -> bool {
        self.api == "objects" && matches!(self.rest.as_slice(), [_, "search"])
    }

    pub(super) fn is_batch_read(&self) -> bool {
        self.api == "objects" && matches!(self.rest.as_slice(), [_, "batch", "read"])
    }
}

/// The version a logged path asked for: `None` when it is no CRM path the fake knows.
pub(super) fn version_of(path: &str) -> Option<ApiVersion> {
    let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
    RequestPath::parse(&segments).map(|p| p.version)
}

pub(super) fn not_found() -> Reply {
    Reply::json(404, error_body("resource not found", "OBJECT_NOT_FOUND"))
}

pub(super) fn route(
    state: &mut FakeState,
    method: &Method,
    path: &RequestPath<'_>,
    query: &BTreeMap<String, String>,
    body: &Value,
) -> Reply {
    if let Err(forbidden) = check_scope(state, method.as_str(), path) {
        return forbidden;
    }
    let version = path.version;
    match (method.as_str(), path.api, path.rest.as_slice()) {
        ("POST", "objects", [object_type]) => create(state, version, object_type, body),
        ("POST", "objects", [object_type, "search"]) => search(state, object_type, body),
        ("POST", "objects", [object_type, "batch", "upsert"]) => {
            batch_upsert(state, version, object_type, body)
        }
        ("POST", "objects", [object_type, "batch", "read"]) => batch_read(state, object_type, body),
        ("POST", "objects", [object_type, "batch", "create"]) => {
            batch_create(state, version, object_type, body)
        }
        ("POST", "objects", [object_type, "batch", "update"]) => {
            batch_update(state, version, object_type, body)
        }
        ("POST", "objects", [object_type, "merge"]) => merge(state, object_type, body),
        ("POST", "objects", ["contacts", "gdpr-delete"]) => gdpr_delete(state, body),
        ("GET", "objects", [object_type, id]) => get(state, object_type, id, query),
        ("PATCH", "objects", [object_type, id]) => {
            update(state, version, object_type, id, query, body)
        }
        ("PUT", "objects", [from, from_id, "associations", "default", to, to_id]) => {
            associate_one(state, from, from_id, to, to_id)
        }
        ("POST", "associations", [from, to, "batch", "associate", "default"]) => {
            associate_batch(state, from, to, body)
        }
        ("POST", "associations", [from, to, "batch", "archive"]) => {
            archive_batch(state, from, to, body)
        }
        ("DELETE", "objects", [object_type, id]) => archive_object(state, object_type, id),
        ("GET", "properties", [object_type]) => list_properties(state, object_type),
        ("GET", "properties", [object_type, name]) => get_property(state, object_type, name),
        ("POST", "properties", [object_type]) => create_property(state, object_type, body),
        ("GET", "pipelines", [object_type]) => list_pipelines(state, object_type),
        ("GET", "property-validations", [object_type_id]) => {
            list_property_validations(state, object_type_id)
        }
        _ => not_found(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dated_and_legacy_paths_parse_to_the_same_route() {
        let dated = RequestPath::parse(&["crm", "objects", "2026-03", "contacts", "search"]);
        let legacy = RequestPath::parse(&["crm", "v3", "objects", "contacts", "search"]);
        assert_eq!(
            dated.as_ref().map(|p| p.version),
            Some(ApiVersion::V2026_03)
        );
        assert_eq!(legacy.as_ref().map(|p| p.version), Some(ApiVersion::Legacy));
        assert_eq!(dated.map(|p| p.rest), legacy.map(|p| p.rest));
        // Associations are v4 in the legacy scheme; v3 association paths do not exist.
        assert!(RequestPath::parse(&["crm", "v3", "associations", "deals", "contacts"]).is_none());
        assert!(RequestPath::parse(&["crm", "v4", "objects", "contacts"]).is_none());
        assert!(RequestPath::parse(&["crm", "objects", "2025-09", "contacts"]).is_none());
        assert_eq!(
            version_of("/crm/v4/objects/deals/1/associations/default/contacts/2"),
            Some(ApiVersion::Legacy)
        );
    }
}
