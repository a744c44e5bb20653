//! Admin-configured validation rules, enforced on writes made with API version 2026-09 or
//! later, as HubSpot does since that version.

use std::collections::BTreeMap;

use serde_json::{json, Value};

use super::replies::correlation_id;
use super::state::FakeState;
use crate::ApiVersion;

/// A validation rule the fake enforces on CRM writes made with a version that enforces
/// rules ([`ApiVersion::enforces_validation_rules`]); writes on older versions pass.
///
/// ```
/// use hubspot_crm::fake::ValidationRule;
/// let rule = ValidationRule::required_when(
///     "deals", "closedate", "dealstage", "closedwon",
///     "Close date is required when the deal is closed won",
/// );
/// assert_eq!(rule.property(), "closedate");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValidationRule {
    object_type: String,
    property: String,
    condition: Option<(String, String)>,
    requirement: Requirement,
    message: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Requirement {
    Present,
    NotEqual(String),
}

impl ValidationRule {
    /// `property` must have a value on every write of `object_type`.
    pub fn required(object_type: &str, property: &str, message: &str) -> Self {
        Self::new(object_type, property, None, Requirement::Present, message)
    }

    /// `property` must have a value whenever `when_property` equals `when_value` after
    /// the write (e.g. a close date once the deal stage is closed won).
    pub fn required_when(
        object_type: &str,
        property: &str,
        when_property: &str,
        when_value: &str,
        message: &str,
    ) -> Self {
        let condition = Some((when_property.to_owned(), when_value.to_owned()));
        Self::new(
            object_type,
            property,
            condition,
            Requirement::Present,
            message,
        )
    }

    /// `property` must never be set to `value`.
    pub fn forbidden_value(object_type: &str, property: &str, value: &str, message: &str) -> Self {
        let requirement = Requirement::NotEqual(value.to_owned());
        Self::new(object_type, property, None, requirement, message)
    }

    fn new(
        object_type: &str,
        property: &str,
        condition: Option<(String, String)>,
        requirement: Requirement,
        message: &str,
    ) -> Self {
        ValidationRule {
            object_type: object_type.to_owned(),
            property: property.to_owned(),
            condition,
            requirement,
            message: message.to_owned(),
        }
    }

    /// The object type the rule guards (`deals`, `contacts`, ...).
    pub fn object_type(&self) -> &str {
        &self.object_type
    }

    /// The property the rule is about.
    pub fn property(&self) -> &str {
        &self.property
    }

    /// The message HubSpot answers with when the rule is broken.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// The error code the fake answers with; the client classifies it as a rule violation.
    fn code(&self) -> &'static str {
        match (&self.requirement, &self.condition) {
            (Requirement::Present, Some(_)) => "CONDITIONALLY_REQUIRED_PROPERTY",
            (Requirement::Present, None) => "REQUIRED_PROPERTY",
            (Requirement::NotEqual(_), _) => "VALIDATION_RULE_VIOLATION",
        }
    }

    /// Whether an object whose properties are `after` once the write is applied breaks it.
    fn broken_by(&self, after: &BTreeMap<String, String>) -> bool {
        let applies = self
            .condition
            .as_ref()
            .is_none_or(|(name, value)| after.get(name) == Some(value));
        let value = after.get(&self.property).filter(|v| !v.is_empty());
        applies
            && match &self.requirement {
                Requirement::Present => value.is_none(),
                Requirement::NotEqual(forbidden) => value == Some(forbidden),
            }
    }
}

/// One broken rule and the batch input id it concerns, when the input has one.
pub(super) struct RuleBreak {
    rule: ValidationRule,
    input_id: Option<String>,
}

/// The rules a write breaks: `after` is the object's properties once the write applied.
pub(super) fn broken_rules(
    state: &FakeState,
    version: ApiVersion,
    object_type: &str,
    after: &BTreeMap<String, String>,
    input_id: Option<&str>,
) -> Vec<RuleBreak> {
    if !version.enforces_validation_rules() {
        return Vec::new();
    }
    state
        .validation_rules
        .iter()
        .filter(|r| r.object_type == object_type && r.broken_by(after))
        .map(|r| RuleBreak {
            rule: r.clone(),
            input_id: input_id.map(str::to_owned),
        })
        .collect()
}

/// HubSpot's 400 `VALIDATION_ERROR` for broken rules: the embedded-message form HubSpot
/// documents for property validation rules, plus `errors[]` naming the property and,
/// in a batch, the input id.
pub(super) fn rule_violation_body(breaks: &[RuleBreak]) -> Value {
    let embedded: Vec<Value> = breaks
        .iter()
        .map(|b| {
            json!({
                "isValid": false,
                "message": b.rule.message,
                "error": b.rule.code(),
                "name": b.rule.property,
            })
        })
        .collect();
    let errors: Vec<Value> = breaks
        .iter()
        .map(|b| {
            let mut context = json!({ "propertyName": [b.rule.property] });
            if let Some(id) = &b.input_id {
                context["ids"] = json!([id]);
            }
            json!({ "message": b.rule.message, "code": b.rule.code(), "context": context })
        })
        .collect();
    json!({
        "status": "error",
        "message": format!("Property values were not valid: {}", Value::Array(embedded)),
        "correlationId": correlation_id(),
        "category": "VALIDATION_ERROR",
        "errors": errors,
    })
}
