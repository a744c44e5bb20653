//! The properties of a company: its identity and the rollups of its customers' payments and
//! subscriptions, and their HubSpot definitions for bootstrap.

use stripe_events::Money;

use crate::config::{spec, MappingConfig};
use crate::customer::{
    mrr, newest_subscription_currency, CustomerRow, ACTIVE_SUBSCRIPTIONS_PROPERTY, ARR_PROPERTY,
    MRR_CURRENCY_PROPERTY, MRR_PROPERTY,
};
use crate::derive::{payment_rollups, rollup_items, RollupItem};
use crate::ledger::LedgerRow;
use crate::properties::{
    FIRST_PAYMENT_DATE_PROPERTY, LAST_PAYMENT_DATE_PROPERTY, LEDGER_CONTACT_PROPERTIES,
    LIFETIME_VALUE_CURRENCY_PROPERTY, LIFETIME_VALUE_PROPERTY, PAYMENT_COUNT_PROPERTY,
};
use crate::property_set::{PropertyKind, PropertySet, PropertyValue};
use crate::property_spec::PropertySpec;
use crate::text::present;

use super::key::CompanyKey;
use super::source::CompanyKeySource;

/// Company property: the company's identity ([`CompanyKey::value`]); custom and unique, the
/// companies upsert `idProperty`.
pub const COMPANY_KEY_PROPERTY: &str = "stripe_company_key";

/// HubSpot's default property group of companies, where the custom company properties go.
/// <https://developers.hubspot.com/docs/api-reference/crm-properties-v3/guide>
pub const COMPANY_GROUP: &str = "companyinformation";

/// The company rollups of its customers' payments: the contact's rollup names
/// (`stripe_payment_count`, `stripe_lifetime_value`, `stripe_lifetime_value_currency`,
/// `stripe_first_payment_date`, `stripe_last_payment_date`), on companies.
pub const COMPANY_ROLLUP_PROPERTIES: [&str; 5] = LEDGER_CONTACT_PROPERTIES;

/// The company rollups of its customers' subscriptions (`stripe_mrr`, `stripe_arr`,
/// `stripe_mrr_currency`, `stripe_active_subscriptions`), written when
/// [`MappingConfig::subscriptions`] is on.
pub const COMPANY_SUBSCRIPTION_PROPERTIES: [&str; 4] = [
    MRR_PROPERTY,
    ARR_PROPERTY,
    MRR_CURRENCY_PROPERTY,
    ACTIVE_SUBSCRIPTIONS_PROPERTY,
];

/// What may name a company besides its domain, most trusted first.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CompanyNameHint<'a> {
    /// The payment's `metadata.company`, which the account set itself.
    pub metadata_company: Option<&'a str>,
    /// The customer's `name` when Stripe marks the customer a business (the caller decides:
    /// an individual's name must never name a company).
    pub business_name: Option<&'a str>,
}

fn put(set: &mut PropertySet, name: &str, value: String, kind: PropertyKind) {
    let value = PropertyValue {
        value,
        kind,
        last_charge: false,
    };
    set.insert(name, value);
}

/// The properties of the company `key`, from every ledger row (`rows`) and customer row
/// (`customers`) of its customers: absolute values, independent of the order of either slice,
/// so writing them again is harmless.
///
/// - `stripe_company_key`: the key's value; `domain`: the domain, for a key taken from an
///   email;
/// - `name`: the hint's `metadata_company`, else its `business_name`, else the domain (left
///   out for a metadata key without a hint, so a name a user typed in HubSpot stays);
/// - the payment rollups, by exactly the contact's rules (see
///   [`contact_properties_of`](crate::contact_properties_of)) over all of `rows`: count,
///   lifetime value with its currency, first and last payment dates;
/// - with [`MappingConfig::subscriptions`] on: `stripe_mrr`, the sum of each customer's
///   [`mrr`] in one currency (that of the newest live subscription among all the customers,
///   else of the newest subscription; customers whose MRR is in another currency are left
///   out), `stripe_arr` = 12 × `stripe_mrr` as written, `stripe_mrr_currency`, and
///   `stripe_active_subscriptions` summed over every customer. MRR, ARR and currency are
///   empty when no customer ever had a subscription.
///
/// ```
/// use stripe2hubspot_map::{company_properties, CompanyKey, CompanyNameHint, MappingConfig};
///
/// let key = CompanyKey::Domain("acme.com".into());
/// let company = company_properties(CompanyNameHint::default(), &key, &[], &[], &MappingConfig::default());
/// assert_eq!(company.get("stripe_company_key"), Some("acme.com"));
/// assert_eq!(company.get("name"), Some("acme.com"));
/// assert_eq!(company.get("stripe_payment_count"), Some("0"));
/// ```
pub fn company_properties(
    name: CompanyNameHint<'_>,
    key: &CompanyKey,
    rows: &[&LedgerRow],
    customers: &[&CustomerRow],
    config: &MappingConfig,
) -> PropertySet {
    let items = rollup_items(rows.iter().copied(), config);
    company_properties_from_items(name, key, items, customers, config)
}

/// [`company_properties`] over payments already reduced to their rollup items.
pub(crate) fn company_properties_from_items(
    name: CompanyNameHint<'_>,
    key: &CompanyKey,
    payments: Vec<RollupItem>,
    customers: &[&CustomerRow],
    config: &MappingConfig,
) -> PropertySet {
    let mut set = payment_rollups(payments, config);
    put(
        &mut set,
        COMPANY_KEY_PROPERTY,
        key.value().to_owned(),
        PropertyKind::Custom,
    );
    if let Some(domain) = key.domain() {
        put(
            &mut set,
            "domain",
            domain.to_owned(),
            PropertyKind::Standard,
        );
    }
    let name = present(name.metadata_company)
        .or(present(name.business_name))
        .or(key.domain());
    if let Some(name) = name {
        put(&mut set, "name", name.to_owned(), PropertyKind::Standard);
    }
    if config.subscriptions {
        insert_subscription_rollups(&mut set, customers);
    }
    set
}

fn insert_subscription_rollups(set: &mut PropertySet, customers: &[&CustomerRow]) {
    let subscriptions: Vec<_> = customers.iter().flat_map(|c| c.subscriptions()).collect();
    let monthly = newest_subscription_currency(&subscriptions).map(|currency| {
        let minor = customers
            .iter()
            .filter_map(|c| mrr(c))
            .filter(|m| m.currency == currency)
            .fold(0i64, |sum, m| sum.saturating_add(m.minor));
        Money::new(minor, currency)
    });
    let yearly = monthly.and_then(|m| m.minor.checked_mul(12).map(|a| Money::new(a, m.currency)));
    let decimal = |m: Option<Money>| m.map(|m| m.to_decimal_string()).unwrap_or_default();
    put(set, MRR_PROPERTY, decimal(monthly), PropertyKind::Custom);
    put(set, ARR_PROPERTY, decimal(yearly), PropertyKind::Custom);
    let currency = monthly.map(|m| m.currency.iso_code()).unwrap_or_default();
    put(set, MRR_CURRENCY_PROPERTY, currency, PropertyKind::Custom);
    let live = subscriptions.iter().filter(|s| s.status.is_live()).count();
    put(
        set,
        ACTIVE_SUBSCRIPTIONS_PROPERTY,
        live.to_string(),
        PropertyKind::Custom,
    );
}

impl MappingConfig {
    /// The custom company properties this mapping writes, in name order: what bootstrap must
    /// create on companies when missing (`stripe_company_key`, unique, and the rollups).
    /// HubSpot's standard `domain` and `name` are not listed. Empty when
    /// [`company_key`](Self::company_key) is `none`.
    pub fn company_custom_properties(&self) -> Vec<PropertySpec> {
        if self.company_key == CompanyKeySource::Disabled {
            return Vec::new();
        }
        let plain = |name: &str, label: &str, type_: &str, description: &str| {
            spec(name, label, type_, COMPANY_GROUP, false, description)
        };
        let mut specs = vec![
            spec(
                COMPANY_KEY_PROPERTY,
                "Stripe company key",
                "string",
                COMPANY_GROUP,
                true,
                "The company's identity in stripe2hubspot: its payers' email domain, or the Stripe metadata value naming it.",
            ),
            plain(
                PAYMENT_COUNT_PROPERTY,
                "Stripe payment count",
                "number",
                "Number of Stripe payments with an amount above zero made by the company's customers.",
            ),
            plain(
                LIFETIME_VALUE_PROPERTY,
                "Stripe lifetime value",
                "number",
                "Sum of the company's Stripe payments in the currency named by Stripe lifetime value currency; other currencies are left out, and it is empty when no payment is in that currency.",
            ),
            plain(
                LIFETIME_VALUE_CURRENCY_PROPERTY,
                "Stripe lifetime value currency",
                "string",
                "ISO code of the currency Stripe lifetime value is summed in.",
            ),
            plain(
                FIRST_PAYMENT_DATE_PROPERTY,
                "Stripe first payment date",
                "datetime",
                "When the company's first Stripe payment was made.",
            ),
            plain(
                LAST_PAYMENT_DATE_PROPERTY,
                "Stripe last payment date",
                "datetime",
                "When the company's latest Stripe payment was made.",
            ),
        ];
        if self.subscriptions {
            specs.extend([
                plain(
                    MRR_PROPERTY,
                    "Stripe MRR",
                    "number",
                    "Monthly recurring revenue of the company's customers' Stripe subscriptions, in Stripe MRR currency; customers billed in another currency are left out.",
                ),
                plain(
                    ARR_PROPERTY,
                    "Stripe ARR",
                    "number",
                    "Annual recurring revenue: 12 times Stripe MRR.",
                ),
                plain(
                    MRR_CURRENCY_PROPERTY,
                    "Stripe MRR currency",
                    "string",
                    "ISO code of the currency of Stripe MRR and Stripe ARR.",
                ),
                plain(
                    ACTIVE_SUBSCRIPTIONS_PROPERTY,
                    "Stripe active subscriptions",
                    "number",
                    "Number of the company's customers' Stripe subscriptions that are active, trialing or past due.",
                ),
            ]);
        }
        specs.sort_by(|a, b| a.name.cmp(&b.name));
        specs
    }
}
