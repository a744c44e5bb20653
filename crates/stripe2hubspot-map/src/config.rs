//! Mapping configuration: presets, validation and the custom properties it implies.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};
use stripe_events::Currency;

use crate::company::{check_company_config, CompanyKeySource};
use crate::customer::{subscription_contact_specs, SUBSCRIPTION_CONTACT_PROPERTIES};
use crate::properties::{
    ledger_contact_specs, ledger_deal_specs, LEDGER_CONTACT_PROPERTIES, LEDGER_DEAL_PROPERTIES,
};
use crate::property_set::PropertyKind;
use crate::property_spec::PropertySpec;
use crate::template::Template;

/// Event types the mapping can read (all of them are handled by default:
/// [`DEFAULT_EVENT_TYPES`]): payment events give payment facts through
/// [`facts_from_event`](crate::facts_from_event), the [`CUSTOMER_EVENT_TYPES`] customer facts
/// through [`customer_facts_from_event`](crate::customer_facts_from_event).
pub const SUPPORTED_EVENT_TYPES: [&str; 18] = [
    "charge.succeeded",
    "charge.captured",
    "charge.refunded",
    "charge.dispute.created",
    "charge.dispute.closed",
    "payment_intent.succeeded",
    "checkout.session.completed",
    "checkout.session.async_payment_succeeded",
    "invoice.paid",
    "invoice_payment.paid",
    "customer.created",
    "customer.updated",
    "customer.deleted",
    "customer.subscription.created",
    "customer.subscription.updated",
    "customer.subscription.deleted",
    "customer.subscription.paused",
    "customer.subscription.resumed",
];

/// The event types read by [`customer_facts_from_event`](crate::customer_facts_from_event)
/// (customers and their subscriptions); [`facts_from_event`](crate::facts_from_event) skips
/// them.
pub const CUSTOMER_EVENT_TYPES: [&str; 8] = [
    "customer.created",
    "customer.updated",
    "customer.deleted",
    "customer.subscription.created",
    "customer.subscription.updated",
    "customer.subscription.deleted",
    "customer.subscription.paused",
    "customer.subscription.resumed",
];

/// Event types handled by default: every event that changes what a payment is worth,
/// `invoice_payment.paid`, and every customer and subscription event. On Stripe API versions
/// from 2025-03-31 `invoice_payment.paid` is the only event linking an invoice to its
/// PaymentIntent: `invoice.paid` lists `payments` only when the endpoint includes them, and the
/// charge no longer names its invoice. Without it a subscription renewal makes two ledger rows
/// (one keyed by the invoice, one by the PaymentIntent), hence two deals.
pub const DEFAULT_EVENT_TYPES: [&str; 18] = SUPPORTED_EVENT_TYPES;

/// The deal stage of a payment fully refunded or whose dispute was lost, unless configured.
pub const DEFAULT_LOST_DEAL_STAGE: &str = "closedlost";

/// The contact properties of the last-charge group, always [`PropertyKind::Custom`].
pub const LAST_CHARGE_PROPERTIES: [&str; 5] = [
    "last_charge_id",
    "last_charge_amount",
    "last_charge_currency",
    "last_charge_receipt",
    "last_charge_date",
];

/// The deal property holding the deal key; custom and unique, the deals upsert `idProperty`.
pub const PAYMENT_ID_PROPERTY: &str = "stripe_payment_id";

const CORE_CONTACT: [&str; 3] = ["email", "firstname", "lastname"];

/// HubSpot's built-in properties this crate may write or users commonly map to. Anything else
/// (except `hs_*`, which HubSpot reserves) is treated as custom and bootstrapped.
const STANDARD_CONTACT: [&str; 20] = [
    "phone",
    "mobilephone",
    "company",
    "website",
    "jobtitle",
    "lifecyclestage",
    "address",
    "city",
    "state",
    "zip",
    "country",
    "industry",
    "fax",
    "salutation",
    "message",
    "numemployees",
    "annualrevenue",
    "hubspot_owner_id",
    "twitterhandle",
    "date_of_birth",
];
const STANDARD_DEAL: [&str; 9] = [
    "dealname",
    "dealstage",
    "pipeline",
    "amount",
    "closedate",
    "deal_currency_code",
    "description",
    "dealtype",
    "hubspot_owner_id",
];

/// Deal properties the mapping computes itself; metadata and constants may not target them
/// (nor the ledger's, [`LEDGER_DEAL_PROPERTIES`]).
const RESERVED_DEAL: [&str; 6] = [
    PAYMENT_ID_PROPERTY,
    "amount",
    "closedate",
    "pipeline",
    "dealstage",
    "deal_currency_code",
];

/// Which property identifies a contact.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ContactKeySource {
    /// The normalized email (HubSpot's own unique key). The default.
    #[default]
    Email,
    /// The Stripe customer id, in [`MappingConfig::customer_id_property`].
    StripeCustomerId,
}

impl fmt::Display for ContactKeySource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ContactKeySource::Email => "email",
            ContactKeySource::StripeCustomerId => "stripe_customer_id",
        })
    }
}

/// A place a contact email is taken from; tried in the configured order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EmailSource {
    /// `billing_details.email` of the charge (of the expanded `latest_charge` for a payment
    /// intent).
    BillingDetails,
    /// `receipt_email` of the charge or payment intent.
    ReceiptEmail,
    /// `email` of an expanded, non-deleted customer.
    Customer,
}

/// Which amount a deal carries and the lifetime value sums.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AmountBasis {
    /// Captured minus refunded minus a lost dispute, never below zero. The default.
    #[default]
    Net,
    /// Captured, whatever was refunded or lost later.
    Gross,
}

/// How `billing_details.name` becomes `firstname` and `lastname`. Whitespace is collapsed;
/// an empty name sends neither.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NameSplit {
    /// The last word is the last name, the rest the first name ("Mary Jane Watson" ->
    /// "Mary Jane" + "Watson"). One word is a first name. The default.
    #[default]
    LastWordIsLastName,
    /// The first word is the first name, the rest the last name ("Ludwig van Beethoven" ->
    /// "Ludwig" + "van Beethoven"). One word is a first name.
    FirstWordIsFirstName,
    /// The whole name goes to `firstname`; `lastname` is never sent.
    FirstnameOnly,
}

/// How Stripe payments map to HubSpot properties. Deserializable (every field optional,
/// defaults from [`MappingConfig::default`]) so a mapping can live in a JSON or TOML file;
/// call [`validate`](Self::validate) (or load with [`from_json`](Self::from_json)) before use.
///
/// Precedence for one property: computed value < constant < metadata value present on the
/// payment.
///
/// ```
/// use stripe2hubspot_map::MappingConfig;
///
/// let mut config = MappingConfig::default();
/// config.contact_constants.insert("hs_lead_status".into(), "CONNECTED".into());
/// config.deal_metadata.insert("order_id".into(), "order_id".into());
/// config.validate()?;
/// let (contact, deal) = config.custom_properties();
/// assert!(contact.iter().any(|p| p.name == "stripe_customer_id"));
/// assert!(deal.iter().any(|p| p.name == "order_id"));
/// # Ok::<(), stripe2hubspot_map::ConfigError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MappingConfig {
    /// Event types to map; others are skipped (and ingest may ignore them early, see
    /// [`handles`](Self::handles)). A subset of [`SUPPORTED_EVENT_TYPES`].
    pub event_types: Vec<String>,
    /// Which property identifies the contact.
    pub contact_key: ContactKeySource,
    /// Where the email comes from, first usable one wins. Emails are trimmed and lowercased;
    /// one with inner whitespace or without `local@domain` is unusable.
    pub email_sources: Vec<EmailSource>,
    /// Contact property for the Stripe customer id (`cus_...`); `None` sends no customer id.
    pub customer_id_property: Option<String>,
    /// Stripe metadata key -> contact property.
    pub contact_metadata: BTreeMap<String, String>,
    /// Stripe metadata key -> deal property.
    pub deal_metadata: BTreeMap<String, String>,
    /// Contact property -> fixed value, sent with every contact.
    pub contact_constants: BTreeMap<String, String>,
    /// Deal property -> fixed value, sent with every deal.
    pub deal_constants: BTreeMap<String, String>,
    /// Deal pipeline id.
    pub pipeline: String,
    /// Deal stage id of a payment that stands (must belong to the pipeline): the won stage.
    pub deal_stage: String,
    /// Deal stage id of a payment fully refunded or whose dispute was lost (must belong to the
    /// pipeline); [`DEFAULT_LOST_DEAL_STAGE`] by default.
    pub lost_deal_stage: String,
    /// Currency of the contact's `stripe_lifetime_value`; payments in other currencies are left
    /// out of that sum (they are still counted in `stripe_payment_count`). `None` (the
    /// default): each contact's own currency, that of its newest counted payment. Either way
    /// `stripe_lifetime_value_currency` names the currency, and the value is empty (not
    /// `0.00`) when no counted payment is in it. In a file: a currency code (`"EUR"`) or null.
    pub reporting_currency: Option<Currency>,
    /// Whether deal amounts and the lifetime value are net of refunds and lost disputes.
    pub amount_basis: AmountBasis,
    /// How the billing name is split.
    pub name_split: NameSplit,
    /// Deal name when neither metadata nor the payment description gives one. Placeholders:
    /// `{amount}` (decimal), `{currency}` (ISO code), `{id}` (the deal key), `{email}`,
    /// `{name}`; `{{` and `}}` for literal braces.
    pub deal_name_template: String,
    /// Send `deal_currency_code` (the ISO code). On by default: without it a portal reads every
    /// amount in its own currency. A portal without that currency enabled answers
    /// `INVALID_OPTION`; the engine then strips it, and `stripe_amount_currency` keeps the amount
    /// with its currency.
    pub deal_currency_code: bool,
    /// Write the subscription properties (`stripe_subscription_status`, `stripe_mrr`, ...;
    /// see [`subscription_properties`](crate::subscription_properties)) on contacts, and have
    /// bootstrap create them. On by default.
    pub subscriptions: bool,
    /// What makes a payer's company (see [`company_key`](crate::company_key)): the email's
    /// domain (the default), a metadata value, or nothing (no companies). In a file:
    /// `"email_domain"`, `{"metadata": "company_id"}` or `"none"`.
    pub company_key: CompanyKeySource,
    /// Domains that never make a company, added to the shipped free-mail and disposable list
    /// ([`FREE_MAIL_DOMAINS`](crate::FREE_MAIL_DOMAINS)). Same syntax: `example.com`, or
    /// `name.*` for that name under any top-level domain. Matched without regard to case.
    pub free_mail_domains_extra: Vec<String>,
    /// Write each deal's line items and their products (see
    /// [`line_item_properties`](crate::line_item_properties)), and have bootstrap create
    /// their custom properties. Off by default: they cost HubSpot quota. The CLI turns it on
    /// with `STRIPE2HUBSPOT_LINE_ITEMS=1`.
    pub line_items: bool,
}

impl Default for MappingConfig {
    /// The recommended mapping: email-keyed contacts, the Stripe customer id on the contact,
    /// the `company` and `lifecycle_stage` metadata keys on the contact, `deal_name` on the deal,
    /// the default pipeline's `closedwon`/`closedlost` stages, net lifetime value in each
    /// contact's own currency, subscription properties on, companies keyed by email domain.
    fn default() -> Self {
        let pairs = |items: &[(&str, &str)]| {
            items
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect()
        };
        MappingConfig {
            event_types: DEFAULT_EVENT_TYPES.iter().map(|t| t.to_string()).collect(),
            contact_key: ContactKeySource::Email,
            email_sources: vec![
                EmailSource::BillingDetails,
                EmailSource::ReceiptEmail,
                EmailSource::Customer,
            ],
            customer_id_property: Some("stripe_customer_id".to_owned()),
            contact_metadata: pairs(&[
                ("company", "company"),
                ("lifecycle_stage", "lifecyclestage"),
            ]),
            deal_metadata: pairs(&[("deal_name", "dealname")]),
            contact_constants: BTreeMap::new(),
            deal_constants: BTreeMap::new(),
            pipeline: "default".to_owned(),
            deal_stage: "closedwon".to_owned(),
            lost_deal_stage: DEFAULT_LOST_DEAL_STAGE.to_owned(),
            reporting_currency: None,
            amount_basis: AmountBasis::Net,
            name_split: NameSplit::LastWordIsLastName,
            deal_name_template: "Payment {amount} {currency} ({id})".to_owned(),
            deal_currency_code: true,
            subscriptions: true,
            company_key: CompanyKeySource::EmailDomain,
            free_mail_domains_extra: Vec::new(),
            line_items: false,
        }
    }
}

/// A configuration that cannot work. Every message names the offending field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    /// A required value is empty.
    #[error("mapping config `{field}` is empty: give it a value")]
    Empty {
        /// The field.
        field: String,
    },
    /// Not a usable HubSpot internal property name.
    #[error("mapping config `{field}`: {name:?} is not a HubSpot internal property name; use lowercase letters, digits and underscores, starting with a letter")]
    InvalidPropertyName {
        /// The field.
        field: String,
        /// The rejected name.
        name: String,
    },
    /// The property is computed by the mapping and cannot be overridden.
    #[error("mapping config `{field}`: property {name:?} is set by the mapping itself; map to another property (pipeline and stage have their own fields)")]
    ReservedProperty {
        /// The field.
        field: String,
        /// The reserved name.
        name: String,
    },
    /// Two metadata keys write the same property.
    #[error(
        "mapping config `{field}`: more than one metadata key maps to property {name:?}; keep one"
    )]
    DuplicateTarget {
        /// The field.
        field: String,
        /// The property written twice.
        name: String,
    },
    /// An event type the mapping cannot handle.
    #[error("mapping config `{field}`: unsupported event type {value:?}; supported: charge.succeeded, charge.captured, charge.refunded, charge.dispute.created, charge.dispute.closed, payment_intent.succeeded, checkout.session.completed, checkout.session.async_payment_succeeded, invoice.paid, invoice_payment.paid, customer.created, customer.updated, customer.deleted, customer.subscription.created, customer.subscription.updated, customer.subscription.deleted, customer.subscription.paused, customer.subscription.resumed")]
    UnsupportedEventType {
        /// The field.
        field: String,
        /// The rejected type.
        value: String,
    },
    /// The contact key has nothing to be filled from.
    #[error("mapping config `contact_key` is {key} but `{field}` is empty: set `{field}` or choose another contact_key")]
    ContactKeyWithoutSource {
        /// The configured key.
        key: ContactKeySource,
        /// The field that would provide it.
        field: String,
    },
    /// The deal name template does not parse.
    #[error("mapping config `deal_name_template`: {reason}")]
    Template {
        /// What is wrong.
        reason: String,
    },
    /// Both deal stages are the same, so a refund or lost dispute would not show on the deal.
    #[error("mapping config `lost_deal_stage` equals `deal_stage` ({stage:?}): choose a lost stage so refunded and lost payments leave the won stage")]
    SameStages {
        /// The stage given for both.
        stage: String,
    },
    /// A free-mail domain entry that cannot match any email domain.
    #[error("mapping config `{field}`: {value:?} is not a domain; write it like `example.com`, or `name.*` for any top-level domain")]
    InvalidDomain {
        /// The field, with the entry's index.
        field: String,
        /// The rejected entry.
        value: String,
    },
    /// The configuration text does not parse.
    #[error("mapping config does not parse: {0}")]
    Parse(String),
}

impl MappingConfig {
    /// [`default`](Self::default) plus the contact constant `hs_lead_status = CLOSED_WON`, for
    /// portals that added a `CLOSED_WON` option to `hs_lead_status`.
    ///
    /// `CLOSED_WON` is not one of HubSpot's default `hs_lead_status` options: use this preset
    /// only if you added that option to the property, or HubSpot rejects every contact with
    /// 400 INVALID_OPTION. `stripe_customer_id` holds the customer id (`cus_...`), never the
    /// charge id.
    pub fn with_closed_won_lead_status() -> Self {
        let mut config = Self::default();
        config
            .contact_constants
            .insert("hs_lead_status".to_owned(), "CLOSED_WON".to_owned());
        config
    }

    /// Parses a JSON configuration (missing fields take their defaults) and validates it.
    pub fn from_json(text: &str) -> Result<Self, ConfigError> {
        let config: MappingConfig =
            serde_json::from_str(text).map_err(|e| ConfigError::Parse(e.to_string()))?;
        config.validate()?;
        Ok(config)
    }

    /// Whether events of this type are mapped (ingest may acknowledge others as ignored).
    pub fn handles(&self, event_type: &str) -> bool {
        self.event_types.iter().any(|t| t == event_type)
    }

    /// Checks the configuration; the error names the first offending field.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.event_types.is_empty() {
            return Err(empty("event_types"));
        }
        for (i, t) in self.event_types.iter().enumerate() {
            if !SUPPORTED_EVENT_TYPES.contains(&t.as_str()) {
                return Err(ConfigError::UnsupportedEventType {
                    field: format!("event_types[{i}]"),
                    value: t.clone(),
                });
            }
        }
        if let Some(name) = &self.customer_id_property {
            check_name("customer_id_property", name)?;
            let clashes = CORE_CONTACT.contains(&name.as_str())
                || LAST_CHARGE_PROPERTIES.contains(&name.as_str());
            if clashes {
                return Err(reserved("customer_id_property", name));
            }
        }
        match self.contact_key {
            ContactKeySource::Email if self.email_sources.is_empty() => {
                return Err(ConfigError::ContactKeyWithoutSource {
                    key: self.contact_key,
                    field: "email_sources".to_owned(),
                })
            }
            ContactKeySource::StripeCustomerId if self.customer_id_property.is_none() => {
                return Err(ConfigError::ContactKeyWithoutSource {
                    key: self.contact_key,
                    field: "customer_id_property".to_owned(),
                })
            }
            _ => {}
        }
        let contact_reserved = |name: &str| {
            name == "email"
                || LAST_CHARGE_PROPERTIES.contains(&name)
                || LEDGER_CONTACT_PROPERTIES.contains(&name)
                || SUBSCRIPTION_CONTACT_PROPERTIES.contains(&name)
                || self.customer_id_property.as_deref() == Some(name)
        };
        let deal_reserved =
            |name: &str| RESERVED_DEAL.contains(&name) || LEDGER_DEAL_PROPERTIES.contains(&name);
        check_metadata(
            "contact_metadata",
            &self.contact_metadata,
            &contact_reserved,
        )?;
        check_metadata("deal_metadata", &self.deal_metadata, &deal_reserved)?;
        check_constants(
            "contact_constants",
            &self.contact_constants,
            &contact_reserved,
        )?;
        check_constants("deal_constants", &self.deal_constants, &deal_reserved)?;
        if self.pipeline.trim().is_empty() {
            return Err(empty("pipeline"));
        }
        if self.deal_stage.trim().is_empty() {
            return Err(empty("deal_stage"));
        }
        if self.lost_deal_stage.trim().is_empty() {
            return Err(empty("lost_deal_stage"));
        }
        if self.lost_deal_stage.trim() == self.deal_stage.trim() {
            return Err(ConfigError::SameStages {
                stage: self.deal_stage.clone(),
            });
        }
        check_company_config(self)?;
        Template::parse(&self.deal_name_template).map_err(|reason| ConfigError::Template {
            reason: reason.to_string(),
        })?;
        Ok(())
    }

    /// The custom properties this mapping writes, `(contact, deal)`, in name order: what the
    /// engine's bootstrap must create when missing. HubSpot's standard properties are not
    /// listed. `stripe_payment_id` (the deals upsert key) is unique; the customer id property
    /// is unique when it is the contact key.
    pub fn custom_properties(&self) -> (Vec<PropertySpec>, Vec<PropertySpec>) {
        let mut contact: BTreeMap<String, PropertySpec> = BTreeMap::new();
        if let Some(name) = &self.customer_id_property {
            let unique = self.contact_key == ContactKeySource::StripeCustomerId;
            contact.insert(
                name.clone(),
                spec(
                    name,
                    "Stripe customer ID",
                    "string",
                    CONTACT_GROUP,
                    unique,
                    "The contact's Stripe customer id (cus_...).",
                ),
            );
        }
        let last_charge = [
            (
                "last_charge_id",
                "Last charge ID",
                "string",
                "Id of the latest Stripe charge (ch_...).",
            ),
            (
                "last_charge_amount",
                "Last charge amount",
                "number",
                "Amount of the latest Stripe charge, in the charge currency.",
            ),
            (
                "last_charge_currency",
                "Last charge currency",
                "string",
                "ISO code of the latest Stripe charge's currency.",
            ),
            (
                "last_charge_receipt",
                "Last charge receipt",
                "string",
                "Receipt URL of the latest Stripe charge.",
            ),
            (
                "last_charge_date",
                "Last charge date",
                "datetime",
                "When the latest Stripe charge was made.",
            ),
        ];
        for (name, label, type_, description) in last_charge {
            contact.insert(
                name.to_owned(),
                spec(name, label, type_, CONTACT_GROUP, false, description),
            );
        }
        let mut deal: BTreeMap<String, PropertySpec> = BTreeMap::new();
        deal.insert(
            PAYMENT_ID_PROPERTY.to_owned(),
            spec(
                PAYMENT_ID_PROPERTY,
                "Stripe payment ID",
                "string",
                DEAL_GROUP,
                true,
                "The Stripe payment intent (pi_...) or charge (ch_...) this deal records.",
            ),
        );
        for spec in ledger_contact_specs() {
            contact.insert(spec.name.clone(), spec);
        }
        if self.subscriptions {
            for spec in subscription_contact_specs() {
                contact.insert(spec.name.clone(), spec);
            }
        }
        for spec in ledger_deal_specs() {
            deal.insert(spec.name.clone(), spec);
        }
        let user_targets = |metadata: &BTreeMap<String, String>,
                            constants: &BTreeMap<String, String>,
                            deal_object: bool,
                            out: &mut BTreeMap<String, PropertySpec>| {
            let names = metadata.values().chain(constants.keys());
            for name in names {
                if property_kind(name, deal_object) == PropertyKind::Custom
                    && !out.contains_key(name)
                {
                    let group = if deal_object {
                        DEAL_GROUP
                    } else {
                        CONTACT_GROUP
                    };
                    let label = label_for(name);
                    let description = "Set from Stripe by stripe2hubspot.";
                    out.insert(
                        name.clone(),
                        spec(name, &label, "string", group, false, description),
                    );
                }
            }
        };
        user_targets(
            &self.contact_metadata,
            &self.contact_constants,
            false,
            &mut contact,
        );
        user_targets(&self.deal_metadata, &self.deal_constants, true, &mut deal);
        (
            contact.into_values().collect(),
            deal.into_values().collect(),
        )
    }
}

pub(crate) const CONTACT_GROUP: &str = "contactinformation";
pub(crate) const DEAL_GROUP: &str = "dealinformation";

/// How the engine must treat a property of a contact (`deal_object = false`) or deal.
pub(crate) fn property_kind(name: &str, deal_object: bool) -> PropertyKind {
    if !deal_object && CORE_CONTACT.contains(&name) {
        PropertyKind::Core
    } else if name.starts_with("hs_")
        || (!deal_object && STANDARD_CONTACT.contains(&name))
        || (deal_object && STANDARD_DEAL.contains(&name))
    {
        PropertyKind::Standard
    } else {
        PropertyKind::Custom
    }
}

pub(crate) fn spec(
    name: &str,
    label: &str,
    type_: &str,
    group: &str,
    unique: bool,
    description: &str,
) -> PropertySpec {
    let field_type = match type_ {
        "number" => "number",
        "datetime" | "date" => "date",
        "enumeration" => "select",
        _ => "text",
    };
    PropertySpec {
        name: name.to_owned(),
        label: label.to_owned(),
        type_: type_.to_owned(),
        field_type: field_type.to_owned(),
        group_name: group.to_owned(),
        has_unique_value: unique,
        description: description.to_owned(),
        options: Vec::new(),
    }
}

/// `order_id` -> `Order id`.
fn label_for(name: &str) -> String {
    let spaced = name.replace('_', " ");
    let mut chars = spaced.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => spaced,
    }
}

pub(crate) fn empty(field: &str) -> ConfigError {
    ConfigError::Empty {
        field: field.to_owned(),
    }
}

fn reserved(field: &str, name: &str) -> ConfigError {
    ConfigError::ReservedProperty {
        field: field.to_owned(),
        name: name.to_owned(),
    }
}

fn check_name(field: &str, name: &str) -> Result<(), ConfigError> {
    if name.is_empty() {
        return Err(empty(field));
    }
    let mut bytes = name.bytes();
    let valid = bytes.next().is_some_and(|b| b.is_ascii_lowercase())
        && bytes.all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
    if valid {
        Ok(())
    } else {
        Err(ConfigError::InvalidPropertyName {
            field: field.to_owned(),
            name: name.to_owned(),
        })
    }
}

fn check_metadata(
    field: &str,
    map: &BTreeMap<String, String>,
    is_reserved: &dyn Fn(&str) -> bool,
) -> Result<(), ConfigError> {
    let mut seen = std::collections::BTreeSet::new();
    for (key, property) in map {
        if key.is_empty() {
            return Err(empty(&format!("{field} (a metadata key)")));
        }
        let at = format!("{field}[{key:?}]");
        check_name(&at, property)?;
        if is_reserved(property) {
            return Err(reserved(&at, property));
        }
        if !seen.insert(property.as_str()) {
            return Err(ConfigError::DuplicateTarget {
                field: field.to_owned(),
                name: property.clone(),
            });
        }
    }
    Ok(())
}

fn check_constants(
    field: &str,
    map: &BTreeMap<String, String>,
    is_reserved: &dyn Fn(&str) -> bool,
) -> Result<(), ConfigError> {
    for (property, value) in map {
        check_name(field, property)?;
        if is_reserved(property) {
            return Err(reserved(field, property));
        }
        if value.trim().is_empty() {
            return Err(empty(&format!("{field}[{property:?}]")));
        }
    }
    Ok(())
}
