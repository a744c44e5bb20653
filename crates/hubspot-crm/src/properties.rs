//! The property registry: list, get, create.

use reqwest::Method;
use serde::{Deserialize, Serialize};

use crate::client::{Call, Client};
use crate::error::Error;
use crate::objects::ObjectType;
use crate::paths;

/// A property definition as HubSpot returns it. Every field but `name` may be missing.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Property {
    /// Internal name.
    pub name: String,
    /// Display label.
    #[serde(default)]
    pub label: String,
    /// Data type (`string`, `number`, `enumeration`, `date`, `datetime`, `bool`, ...).
    #[serde(default, rename = "type")]
    pub type_: String,
    /// Form field type (`text`, `select`, `number`, ...).
    #[serde(default)]
    pub field_type: String,
    /// Property group.
    #[serde(default)]
    pub group_name: String,
    /// Description.
    #[serde(default)]
    pub description: String,
    /// Whether values are unique per object (usable as `idProperty`).
    #[serde(default)]
    pub has_unique_value: bool,
    /// Options of an enumeration.
    #[serde(default)]
    pub options: Vec<PropertyOption>,
    /// Whether HubSpot defines the property.
    #[serde(default)]
    pub hubspot_defined: Option<bool>,
}

/// One option of an enumeration property.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PropertyOption {
    /// Display label.
    #[serde(default)]
    pub label: String,
    /// Stored value.
    pub value: String,
    /// Sort position.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display_order: Option<i32>,
    /// Hidden in forms.
    #[serde(default)]
    pub hidden: bool,
}

impl PropertyOption {
    /// A visible option.
    pub fn new(label: impl Into<String>, value: impl Into<String>) -> Self {
        PropertyOption {
            label: label.into(),
            value: value.into(),
            display_order: None,
            hidden: false,
        }
    }
}

/// The body of a property creation (`POST /crm/properties/{version}/{type}`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PropertyCreate {
    /// Internal name: lowercase letters, digits and `_`, starting with a letter.
    pub name: String,
    /// Display label.
    pub label: String,
    /// Data type (`string`, `number`, `enumeration`, `date`, `datetime`, `bool`).
    #[serde(rename = "type")]
    pub type_: String,
    /// Form field type (`text`, `number`, `select`, `date`, `booleancheckbox`, ...).
    pub field_type: String,
    /// Property group, e.g. `contactinformation` or `dealinformation`.
    pub group_name: String,
    /// Description.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub description: String,
    /// Unique per object, so usable as an upsert `idProperty`.
    pub has_unique_value: bool,
    /// Options of an enumeration.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub options: Vec<PropertyOption>,
}

impl PropertyCreate {
    fn with(name: &str, label: &str, group: &str, type_: &str, field_type: &str) -> Self {
        PropertyCreate {
            name: name.to_owned(),
            label: label.to_owned(),
            type_: type_.to_owned(),
            field_type: field_type.to_owned(),
            group_name: group.to_owned(),
            description: String::new(),
            has_unique_value: false,
            options: Vec::new(),
        }
    }

    /// A single-line text property.
    pub fn text(name: &str, label: &str, group: &str) -> Self {
        Self::with(name, label, group, "string", "text")
    }

    /// A number property.
    pub fn number(name: &str, label: &str, group: &str) -> Self {
        Self::with(name, label, group, "number", "number")
    }

    /// A date-time property.
    pub fn datetime(name: &str, label: &str, group: &str) -> Self {
        Self::with(name, label, group, "datetime", "date")
    }

    /// A drop-down enumeration.
    pub fn enumeration(name: &str, label: &str, group: &str, options: Vec<PropertyOption>) -> Self {
        let mut p = Self::with(name, label, group, "enumeration", "select");
        p.options = options;
        p
    }

    /// Makes values unique per object.
    pub fn unique(mut self, unique: bool) -> Self {
        self.has_unique_value = unique;
        self
    }

    /// Sets the description.
    pub fn description(mut self, description: impl Into<String>) -> Self {
        self.description = description.into();
        self
    }

    fn validate(&self) -> Result<(), Error> {
        let ok = self
            .name
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_lowercase())
            && self
                .name
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
        if !ok {
            return Err(Error::InvalidInput(format!(
                "property name {:?} must start with a lowercase letter and hold only lowercase letters, digits and '_'",
                self.name
            )));
        }
        if self.label.trim().is_empty() || self.group_name.trim().is_empty() {
            return Err(Error::InvalidInput(format!(
                "property {:?} needs a label and a group name",
                self.name
            )));
        }
        if self.type_ == "enumeration" && self.options.is_empty() {
            return Err(Error::InvalidInput(format!(
                "enumeration property {:?} needs at least one option",
                self.name
            )));
        }
        Ok(())
    }
}

/// A property's validation rules (HubSpot's property validations: formats, ranges, ...).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PropertyValidation {
    /// The property the rules guard.
    pub property_name: String,
    /// The rules.
    #[serde(default)]
    pub property_validation_rules: Vec<PropertyValidationRule>,
}

/// One validation rule of a property.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PropertyValidationRule {
    /// The rule's category, e.g. `ALPHANUMERIC`, `MIN_NUMBER`, `AFTER_DATETIME_DURATION`.
    pub rule_type: String,
    /// The rule's arguments, e.g. `["NUMERIC_ONLY"]`.
    #[serde(default)]
    pub rule_arguments: Vec<String>,
    /// Whether HubSpot normalizes the value before checking it.
    #[serde(default)]
    pub should_apply_normalization: bool,
}

#[derive(Deserialize)]
struct ValidationPage {
    #[serde(default)]
    results: Vec<PropertyValidation>,
}

#[derive(Deserialize)]
struct Page {
    #[serde(default)]
    results: Vec<Property>,
}

/// Property calls for one object type; get it from [`Client::properties`].
#[derive(Debug, Clone)]
pub struct Properties {
    client: Client,
    object_type: ObjectType,
}

impl Properties {
    pub(crate) fn new(client: Client, object_type: ObjectType) -> Self {
        Properties {
            client,
            object_type,
        }
    }

    /// All properties of the type (`GET /crm/properties/{version}/{type}`).
    pub async fn list(&self) -> Result<Vec<Property>, Error> {
        let call = Call::new(
            Method::GET,
            "properties.list",
            paths::properties(self.client.api_version(), self.object_type.as_str(), &[]),
        );
        Ok(self.client.execute::<Page>(call).await?.body.results)
    }

    /// One property (`GET /crm/properties/{version}/{type}/{name}`); [`Error::NotFound`] if absent.
    pub async fn get(&self, name: &str) -> Result<Property, Error> {
        crate::objects::check_id(name)?;
        let call = Call::new(
            Method::GET,
            "properties.get",
            paths::properties(
                self.client.api_version(),
                self.object_type.as_str(),
                &[name],
            ),
        );
        Ok(self.client.execute(call).await?.body)
    }

    /// The validation rules of the type's properties, for properties that have any
    /// (`GET /crm/property-validations/{version}/{objectTypeId}`).
    ///
    /// These are the per-property rules (formats, ranges). HubSpot exposes no endpoint for
    /// the conditional "required when" rules it enforces on writes from 2026-09; those
    /// surface only as [`Error::RuleViolation`] on a write.
    pub async fn validation_rules(&self) -> Result<Vec<PropertyValidation>, Error> {
        let call = Call::new(
            Method::GET,
            "properties.validation_rules",
            paths::property_validations(self.client.api_version(), self.object_type.type_id()),
        );
        Ok(self
            .client
            .execute::<ValidationPage>(call)
            .await?
            .body
            .results)
    }

    /// Creates a property (`POST /crm/properties/{version}/{type}`). An existing name fails with
    /// [`Error::Conflict`]; a token without schema scopes with [`Error::Forbidden`].
    pub async fn create(&self, property: &PropertyCreate) -> Result<Property, Error> {
        property.validate()?;
        let call = Call::new(
            Method::POST,
            "properties.create",
            paths::properties(self.client.api_version(), self.object_type.as_str(), &[]),
        )
        .json(property)?;
        Ok(self.client.execute(call).await?.body)
    }
}
