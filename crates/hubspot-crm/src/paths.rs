//! Every API path the client calls, built from the configured [`ApiVersion`] in one place.
//!
//! Dated versions put the date after the API name (`/crm/objects/2026-09/contacts`);
//! the legacy numeric paths put `v3`/`v4` before it (`/crm/v3/objects/contacts`).

use crate::version::ApiVersion;

/// The legacy numeric version of each API this crate calls.
const LEGACY_OBJECTS: &str = "v3";
const LEGACY_ASSOCIATIONS: &str = "v4";
const LEGACY_PROPERTIES: &str = "v3";
const LEGACY_PIPELINES: &str = "v3";
const LEGACY_PROPERTY_VALIDATIONS: &str = "v3";

fn api(version: ApiVersion, name: &str, legacy: &str, rest: &[&str]) -> Vec<String> {
    let mut path = vec!["crm".to_owned()];
    match version.date() {
        Some(date) => {
            path.push(name.to_owned());
            path.push(date.to_owned());
        }
        None => {
            path.push(legacy.to_owned());
            path.push(name.to_owned());
        }
    }
    path.extend(rest.iter().map(|s| (*s).to_owned()));
    path
}

/// `/crm/objects/{date}/{type}/...` (legacy `/crm/v3/objects/{type}/...`).
pub(crate) fn objects(version: ApiVersion, object_type: &str, rest: &[&str]) -> Vec<String> {
    let mut all = vec![object_type];
    all.extend_from_slice(rest);
    api(version, "objects", LEGACY_OBJECTS, &all)
}

/// `/crm/objects/{date}/{from}/{fromId}/associations/default/{to}/{toId}`
/// (legacy `/crm/v4/objects/...`).
pub(crate) fn default_association(
    version: ApiVersion,
    from_type: &str,
    from_id: &str,
    to_type: &str,
    to_id: &str,
) -> Vec<String> {
    api(
        version,
        "objects",
        LEGACY_ASSOCIATIONS,
        &[
            from_type,
            from_id,
            "associations",
            "default",
            to_type,
            to_id,
        ],
    )
}

/// `/crm/associations/{date}/{from}/{to}/batch/associate/default`
/// (legacy `/crm/v4/associations/...`).
pub(crate) fn batch_default_associations(
    version: ApiVersion,
    from_type: &str,
    to_type: &str,
) -> Vec<String> {
    api(
        version,
        "associations",
        LEGACY_ASSOCIATIONS,
        &[from_type, to_type, "batch", "associate", "default"],
    )
}

/// `/crm/associations/{date}/{from}/{to}/batch/archive` (legacy `/crm/v4/associations/...`).
pub(crate) fn batch_archive_associations(
    version: ApiVersion,
    from_type: &str,
    to_type: &str,
) -> Vec<String> {
    api(
        version,
        "associations",
        LEGACY_ASSOCIATIONS,
        &[from_type, to_type, "batch", "archive"],
    )
}

/// `/crm/properties/{date}/{type}/...` (legacy `/crm/v3/properties/...`).
pub(crate) fn properties(version: ApiVersion, object_type: &str, rest: &[&str]) -> Vec<String> {
    let mut all = vec![object_type];
    all.extend_from_slice(rest);
    api(version, "properties", LEGACY_PROPERTIES, &all)
}

/// `/crm/pipelines/{date}/{type}` (legacy `/crm/v3/pipelines/{type}`).
pub(crate) fn pipelines(version: ApiVersion, object_type: &str) -> Vec<String> {
    api(version, "pipelines", LEGACY_PIPELINES, &[object_type])
}

/// `/crm/property-validations/{date}/{objectTypeId}` (legacy `/crm/v3/property-validations/...`).
pub(crate) fn property_validations(version: ApiVersion, object_type_id: &str) -> Vec<String> {
    api(
        version,
        "property-validations",
        LEGACY_PROPERTY_VALIDATIONS,
        &[object_type_id],
    )
}

/// `/oauth/v2/private-apps/get/access-token-info`: not part of the dated CRM APIs.
pub(crate) fn access_token_info() -> Vec<String> {
    ["oauth", "v2", "private-apps", "get", "access-token-info"]
        .iter()
        .map(|s| (*s).to_owned())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn joined(p: Vec<String>) -> String {
        format!("/{}", p.join("/"))
    }

    #[test]
    fn dated_and_legacy_paths() {
        let d = ApiVersion::V2026_09;
        let l = ApiVersion::Legacy;
        assert_eq!(
            joined(objects(d, "contacts", &["batch", "upsert"])),
            "/crm/objects/2026-09/contacts/batch/upsert"
        );
        assert_eq!(
            joined(objects(l, "contacts", &["batch", "upsert"])),
            "/crm/v3/objects/contacts/batch/upsert"
        );
        assert_eq!(
            joined(default_association(
                ApiVersion::V2026_03,
                "deals",
                "1",
                "contacts",
                "2"
            )),
            "/crm/objects/2026-03/deals/1/associations/default/contacts/2"
        );
        assert_eq!(
            joined(default_association(l, "deals", "1", "contacts", "2")),
            "/crm/v4/objects/deals/1/associations/default/contacts/2"
        );
        assert_eq!(
            joined(batch_default_associations(l, "deals", "contacts")),
            "/crm/v4/associations/deals/contacts/batch/associate/default"
        );
        assert_eq!(
            joined(pipelines(d, "deals")),
            "/crm/pipelines/2026-09/deals"
        );
        assert_eq!(
            joined(property_validations(l, "0-3")),
            "/crm/v3/property-validations/0-3"
        );
    }
}
