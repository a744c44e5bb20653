//! Definitions of the custom HubSpot properties the mapping writes, for bootstrap to create.

use serde::{Deserialize, Serialize};

/// A custom HubSpot property the engine must create before writing, shaped like the body of
/// `POST /crm/v3/properties/{objectType}` (it serializes to exactly that JSON).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PropertySpec {
    /// Internal name.
    pub name: String,
    /// Label shown in HubSpot.
    pub label: String,
    /// Data type: `string`, `number`, `datetime` or `enumeration`.
    #[serde(rename = "type")]
    pub type_: String,
    /// How HubSpot displays it: `text`, `number`, `date` or `select`.
    pub field_type: String,
    /// Property group: `contactinformation` or `dealinformation`.
    pub group_name: String,
    /// Whether HubSpot enforces uniqueness (needed for properties used as an upsert
    /// `idProperty`). Cannot be changed after creation.
    pub has_unique_value: bool,
    /// Help text shown in HubSpot.
    pub description: String,
    /// The allowed values of an `enumeration` property (empty for other types).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub options: Vec<PropertyOption>,
}

/// One allowed value of an `enumeration` property, shaped like HubSpot's option object.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PropertyOption {
    /// Label shown in HubSpot.
    pub label: String,
    /// The internal value written by the mapping.
    pub value: String,
    /// Position in HubSpot's drop-down.
    pub display_order: i32,
    /// Whether HubSpot hides it in forms.
    pub hidden: bool,
}
