//! HubSpot properties derived from ledger rows: absolute values, so writing them again is
//! harmless and any order of events gives the same properties.

use stripe_events::{Currency, Money};

use crate::config::{
    property_kind, AmountBasis, ContactKeySource, MappingConfig, LAST_CHARGE_PROPERTIES,
    PAYMENT_ID_PROPERTY,
};
use crate::customer::{subscription_properties, CustomerRow};
use crate::ledger::{LedgerRow, Stamped};
use crate::properties::{
    AMOUNT_CURRENCY_PROPERTY, AMOUNT_REFUNDED_PROPERTY, BILLING_REASON_PROPERTY,
    FIRST_PAYMENT_DATE_PROPERTY, INVOICE_ID_PROPERTY, LAST_PAYMENT_DATE_PROPERTY,
    LIFETIME_VALUE_CURRENCY_PROPERTY, LIFETIME_VALUE_PROPERTY, PAYMENT_COUNT_PROPERTY,
    PAYMENT_STATUS_PROPERTY, SUBSCRIPTION_ID_PROPERTY,
};
use crate::property_set::{PropertyKind, PropertySet, PropertyValue};
use crate::state::PaymentStatus;
use crate::template::{Field, Template};
use crate::text::{iso_utc, present, split_name};

/// The amount a deal carries under the configured [`AmountBasis`], in minor units.
pub fn deal_amount(row: &LedgerRow, config: &MappingConfig) -> i64 {
    match config.amount_basis {
        AmountBasis::Net => row.net(),
        AmountBasis::Gross => row.captured().unwrap_or(0).max(0),
    }
}

/// A settled row's parts every property needs.
struct Settled<'a> {
    row: &'a LedgerRow,
    key: &'a str,
    status: PaymentStatus,
    amount: Money,
    paid_at: String,
}

fn settled<'a>(row: &'a LedgerRow, config: &MappingConfig) -> Option<Settled<'a>> {
    let status = row.state(config).status()?;
    let currency = row.currency()?;
    Some(Settled {
        row,
        key: row.key()?,
        status,
        amount: Money::new(deal_amount(row, config), currency),
        // Facts with a time outside years 0-9999 are rejected when read.
        paid_at: row.paid_at().and_then(iso_utc).unwrap_or_default(),
    })
}

/// One settled payment reduced to what the payment rollups read, owned: a company's rollups
/// are summed over many contacts' rows without holding the rows themselves (see
/// [`CompanyRollup`](crate::CompanyRollup)).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RollupItem {
    /// Oldest payment first: `paid_at`, then the key, then the newest fact, so the order rows
    /// arrive in never matters.
    order: (Option<i64>, String, Option<crate::facts::Stamp>),
    amount: Money,
    paid_at: String,
    /// What the payment kept in the account's settlement currency, when known.
    settled_share: Option<Money>,
}

impl RollupItem {
    fn of(s: &Settled<'_>) -> RollupItem {
        RollupItem {
            order: (s.row.paid_at(), s.key.to_owned(), s.row.latest().cloned()),
            amount: s.amount,
            paid_at: s.paid_at.clone(),
            settled_share: s.row.settled_share(s.amount.minor),
        }
    }

    /// The payment's ledger key.
    pub(crate) fn key(&self) -> &str {
        &self.order.1
    }

    /// What orders two items of one payment: the newest fact of the row each was taken
    /// from, then the values.
    #[allow(clippy::type_complexity)]
    pub(crate) fn rank(&self) -> (Option<&crate::facts::Stamp>, &str, i64, String, Option<i64>) {
        (
            self.order.2.as_ref(),
            &self.paid_at,
            self.amount.minor,
            self.amount.currency.iso_code(),
            self.settled_share.map(|m| m.minor),
        )
    }
}

/// The rollup items of the settled rows among `rows`, in no particular order.
pub(crate) fn rollup_items<'a>(
    rows: impl IntoIterator<Item = &'a LedgerRow>,
    config: &MappingConfig,
) -> Vec<RollupItem> {
    rows.into_iter()
        .filter_map(|row| settled(row, config))
        .map(|s| RollupItem::of(&s))
        .collect()
}

fn value(v: &str, kind: PropertyKind, last_charge: bool) -> PropertyValue {
    PropertyValue {
        value: v.to_owned(),
        kind,
        last_charge,
    }
}

fn put(set: &mut PropertySet, name: &str, v: &str, deal_object: bool) {
    set.insert(name, value(v, property_kind(name, deal_object), false));
}

/// The deal of a payment, or `None` while the payment waits (not paid, not captured, or no
/// contact yet: see [`LedgerRow::state`]).
///
/// `amount` is net of refunds and a lost dispute (or gross, by configuration) with the
/// currency's real exponent; `dealstage` is the lost stage once the payment is refunded in
/// full or its dispute lost. Precedence for one property: computed value < constant <
/// metadata value.
///
/// ```
/// use stripe2hubspot_map::{deal_properties, facts_from_event, FactsOutcome, LedgerRow, MappingConfig};
///
/// let config = MappingConfig::default();
/// let event: stripe_events::Event = serde_json::from_str(r#"{
///   "id": "evt_1", "object": "event", "type": "charge.succeeded", "created": 1680000000,
///   "data": {"object": {
///     "id": "ch_1", "object": "charge", "amount": 5000, "amount_captured": 5000,
///     "currency": "jpy", "status": "succeeded", "captured": true, "created": 1680000000,
///     "billing_details": {"email": "ann@example.com"}
///   }}
/// }"#)?;
/// let FactsOutcome::Facts(facts) = facts_from_event(&event, &config)? else { panic!() };
/// let deal = deal_properties(&LedgerRow::from_facts(&facts), &config).expect("settled");
/// assert_eq!(deal.get("amount"), Some("5000"));
/// assert_eq!(deal.get("deal_currency_code"), Some("JPY"));
/// assert_eq!(deal.get("stripe_amount_currency"), Some("5000 JPY"));
/// assert_eq!(deal.get("dealstage"), Some("closedwon"));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn deal_properties(row: &LedgerRow, config: &MappingConfig) -> Option<PropertySet> {
    let s = settled(row, config)?;
    let currency = s.amount.currency;
    let amount = s.amount.to_decimal_string();
    let iso = currency.iso_code();
    let mut deal = PropertySet::new();
    let email = row.email().unwrap_or("");
    let full_name = row
        .name()
        .map(|n| n.split_whitespace().collect::<Vec<_>>().join(" "))
        .unwrap_or_default();
    let dealname = match present(row.description()) {
        Some(description) => description.to_owned(),
        // The configuration was validated when the facts were read; an empty name would be
        // no better than this fallback.
        None => Template::parse(&config.deal_name_template)
            .map(|t| {
                t.render(|field| match field {
                    Field::Amount => &amount,
                    Field::Currency => &iso,
                    Field::Id => s.key,
                    Field::Email => email,
                    Field::Name => &full_name,
                })
            })
            .unwrap_or_else(|_| format!("Payment {amount} {iso} ({})", s.key)),
    };
    put(&mut deal, "dealname", dealname.trim(), true);
    let stage = if s.status.is_lost() {
        &config.lost_deal_stage
    } else {
        &config.deal_stage
    };
    put(&mut deal, "dealstage", stage, true);
    put(&mut deal, "pipeline", &config.pipeline, true);
    put(&mut deal, "amount", &amount, true);
    put(&mut deal, "closedate", &s.paid_at, true);
    put(&mut deal, PAYMENT_ID_PROPERTY, s.key, true);
    if config.deal_currency_code {
        put(&mut deal, "deal_currency_code", &iso, true);
    }
    let refunded = Money::new(row.refunded(), currency).to_decimal_string();
    put(&mut deal, AMOUNT_REFUNDED_PROPERTY, &refunded, true);
    put(&mut deal, PAYMENT_STATUS_PROPERTY, s.status.as_str(), true);
    put(
        &mut deal,
        AMOUNT_CURRENCY_PROPERTY,
        &s.amount.to_string(),
        true,
    );
    if let Some(invoice) = row.invoice_ids().next() {
        put(&mut deal, INVOICE_ID_PROPERTY, invoice, true);
    }
    if let Some(subscription) = present(row.subscription_id()) {
        put(&mut deal, SUBSCRIPTION_ID_PROPERTY, subscription, true);
    }
    if let Some(reason) = present(row.billing_reason()) {
        put(&mut deal, BILLING_REASON_PROPERTY, reason, true);
    }
    for (property, v) in &config.deal_constants {
        put(&mut deal, property, v.trim(), true);
    }
    for (key, property) in &config.deal_metadata {
        if let Some(v) = present(row.metadata(key)) {
            put(&mut deal, property, v, true);
        }
    }
    Some(deal)
}

/// The lifetime value in the account's settlement currency: the sum of what each counted
/// payment kept there ([`LedgerRow::settled_share`] of its deal amount), when every counted
/// payment's settlement is known and all are in one currency. `None` otherwise (no Stripe key,
/// a read still to come, or an account settling in several currencies): then
/// [`own_currency_lifetime`] applies.
fn settlement_lifetime(counted: &[&RollupItem]) -> Option<Money> {
    let (first, rest) = counted.split_first()?;
    let first = first.settled_share?;
    rest.iter().try_fold(first, |sum, s| {
        let share = s.settled_share?;
        (share.currency == sum.currency)
            .then(|| Money::new(sum.minor.saturating_add(share.minor), sum.currency))
    })
}

/// The lifetime value in one currency of the payments themselves, with that currency: the
/// configured [`reporting_currency`](MappingConfig::reporting_currency), else the contact's
/// own (its newest counted payment's, else, everything being refunded, its newest payment's,
/// whose 0 is then a true value in that currency). Empty when no payment is in that currency.
fn own_currency_lifetime(
    settled: &[RollupItem],
    counted: &[&RollupItem],
    config: &MappingConfig,
) -> (Option<Currency>, String) {
    let currency = config.reporting_currency.or_else(|| {
        counted
            .last()
            .map(|s| s.amount.currency)
            .or(settled.last().map(|s| s.amount.currency))
    });
    let lifetime = currency
        .filter(|c| settled.iter().any(|s| s.amount.currency == *c))
        .map(|c| {
            let sum = settled
                .iter()
                .filter(|s| s.amount.currency == c)
                .fold(0i64, |sum, s| sum.saturating_add(s.amount.minor.max(0)));
            Money::new(sum, c).to_decimal_string()
        })
        .unwrap_or_default();
    (currency, lifetime)
}

/// The settled rows among `rows`, oldest payment first (ties broken by key, then by the
/// newest fact, so the order of `rows` does not matter).
fn settled_in_order<'a>(
    rows: impl IntoIterator<Item = &'a LedgerRow>,
    config: &MappingConfig,
) -> Vec<Settled<'a>> {
    let mut settled: Vec<Settled<'a>> = rows
        .into_iter()
        .filter_map(|r| settled(r, config))
        .collect();
    settled.sort_by(|a, b| {
        (a.row.paid_at(), a.key, a.row.latest()).cmp(&(b.row.paid_at(), b.key, b.row.latest()))
    });
    settled
}

/// Writes the payment rollups of `settled` (oldest first): `stripe_payment_count`,
/// `stripe_lifetime_value`, `stripe_lifetime_value_currency`, `stripe_first_payment_date`,
/// `stripe_last_payment_date`, as [`contact_properties_of`] documents them.
fn insert_rollups(set: &mut PropertySet, settled: &[RollupItem], config: &MappingConfig) {
    let counted: Vec<&RollupItem> = settled.iter().filter(|s| s.amount.minor > 0).collect();
    let (currency, lifetime) = match settlement_lifetime(&counted) {
        Some(total) => (Some(total.currency), total.to_decimal_string()),
        None => own_currency_lifetime(settled, &counted, config),
    };
    let custom = |v: &str| value(v, PropertyKind::Custom, false);
    set.insert(PAYMENT_COUNT_PROPERTY, custom(&counted.len().to_string()));
    set.insert(LIFETIME_VALUE_PROPERTY, custom(&lifetime));
    set.insert(
        LIFETIME_VALUE_CURRENCY_PROPERTY,
        custom(&currency.map(|c| c.iso_code()).unwrap_or_default()),
    );
    let first = counted.first().map_or("", |s| s.paid_at.as_str());
    let last = counted.last().map_or("", |s| s.paid_at.as_str());
    set.insert(FIRST_PAYMENT_DATE_PROPERTY, custom(first));
    set.insert(LAST_PAYMENT_DATE_PROPERTY, custom(last));
}

/// The payment rollups of any set of settled payments (a contact's, or every payment of a
/// company's customers), by the contact's rules: see [`contact_properties_of`]. The result
/// does not depend on the order of `items`.
pub(crate) fn payment_rollups(mut items: Vec<RollupItem>, config: &MappingConfig) -> PropertySet {
    items.sort_by(|a, b| a.order.cmp(&b.order));
    let mut set = PropertySet::new();
    insert_rollups(&mut set, &items, config);
    set
}

/// The newest stamped value among the rows (ties broken by the value, so the order of `rows`
/// does not matter).
fn newest_of<'a, T: Ord + 'a>(
    values: impl Iterator<Item = Option<&'a Stamped<T>>>,
) -> Option<&'a T> {
    values.flatten().max().map(|s| &s.value)
}

/// The contact of a set of payments: identity properties (email, names, phone, customer id,
/// mapped metadata, constants), the rollups `stripe_payment_count`, `stripe_lifetime_value`,
/// `stripe_lifetime_value_currency`, `stripe_first_payment_date`, `stripe_last_payment_date`,
/// and the `last_charge_*` group of the newest payment. `None` when none of `rows` is
/// settled. The same as [`contact_properties_of`] without a customer row.
///
/// Pass every ledger row of one contact (rows with the same
/// [`contact_key`](LedgerRow::contact_key)); waiting rows are ignored. Every value is absolute
/// (dates with no counted payment are empty strings, which clear them), so the result does not
/// depend on the order of `rows` and may be written again safely.
pub fn contact_properties(rows: &[LedgerRow], config: &MappingConfig) -> Option<PropertySet> {
    contact_properties_of(None, rows, config)
}

/// Whether a customer row alone can be written as a contact: it has an email, or contacts are
/// keyed by the customer id.
fn keyable(customer: &CustomerRow, config: &MappingConfig) -> bool {
    let by_id = config.contact_key == ContactKeySource::StripeCustomerId
        && config.customer_id_property.is_some()
        && customer.customer_id().is_some();
    customer.email().is_some() || by_id
}

/// The contact of one Stripe customer: what [`contact_properties`] gives for its payment
/// `rows`, with identity (email, names, phone, customer id) from the `customer` row when it
/// has them, plus [`subscription_properties`] when a customer row is given.
///
/// `Some` when a row is settled, and also when none is but the customer row can key a contact
/// (it has an email, or contacts are keyed by customer id): then the count is 0, the lifetime
/// value and the dates are empty, and the `last_charge_*` group is left out.
///
/// Lifetime value, with its currency in `stripe_lifetime_value_currency`:
/// - in the account's settlement currency, when every counted payment's settlement is known
///   (its charges' balance transactions, read with a Stripe key: see
///   [`LedgerRow::settled_net`]) and all settled in one currency: the sum of what each kept
///   there (its deal amount, net or gross as configured, scaled from the settled gross). This
///   counts every payment whatever its own currency, and takes precedence over
///   `reporting_currency`;
/// - otherwise, the sum of the payments in one currency: the configured
///   [`reporting_currency`](MappingConfig::reporting_currency), else the contact's own (that
///   of its newest counted payment, else of its newest payment). Payments in other currencies
///   are left out of the sum (still counted in `stripe_payment_count`); the value is empty,
///   never `0.00`, when no payment is in that currency, so a JPY customer on a USD-reporting
///   portal is never shown as having paid nothing (a payment refunded in full still counts as
///   a `0.00` in its currency: that is what it is worth).
///
/// ```
/// use stripe2hubspot_map::{contact_properties, facts_from_event, FactsOutcome, LedgerRow, MappingConfig};
///
/// let event: stripe_events::Event = serde_json::from_str(r#"{
///   "id": "evt_1", "object": "event", "type": "charge.succeeded", "created": 1680000000,
///   "data": {"object": {
///     "id": "ch_1", "object": "charge", "amount": 5000, "amount_captured": 5000,
///     "currency": "jpy", "status": "succeeded", "captured": true, "created": 1680000000,
///     "billing_details": {"email": "ann@example.com"}
///   }}
/// }"#)?;
/// let mut config = MappingConfig::default();
/// let FactsOutcome::Facts(facts) = facts_from_event(&event, &config)? else { panic!() };
/// let rows = [LedgerRow::from_facts(&facts)];
/// let own = contact_properties(&rows, &config).expect("settled");
/// assert_eq!(own.get("stripe_lifetime_value"), Some("5000"));
/// assert_eq!(own.get("stripe_lifetime_value_currency"), Some("JPY"));
///
/// config.reporting_currency = Some("usd".parse()?);
/// let usd = contact_properties(&rows, &config).expect("settled");
/// assert_eq!(usd.get("stripe_lifetime_value"), Some("")); // not 0.00: no USD payment
/// assert_eq!(usd.get("stripe_lifetime_value_currency"), Some("USD"));
/// assert_eq!(usd.get("stripe_payment_count"), Some("1"));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn contact_properties_of(
    customer: Option<&CustomerRow>,
    rows: &[LedgerRow],
    config: &MappingConfig,
) -> Option<PropertySet> {
    let settled = settled_in_order(rows, config);
    let newest = settled.last();
    if newest.is_none() && !customer.is_some_and(|c| keyable(c, config)) {
        return None;
    }
    let mut contact = PropertySet::new();

    let rows_of = || settled.iter().map(|s| s.row);
    let own = |pick: fn(&CustomerRow) -> Option<&str>| customer.and_then(pick);
    let email = own(CustomerRow::email)
        .or_else(|| newest_of(rows_of().map(|r| r.stamped_email().as_ref())).map(|e| e.expose()));
    if let Some(email) = email {
        put(&mut contact, "email", email, false);
    }
    let name = own(CustomerRow::name)
        .or_else(|| newest_of(rows_of().map(|r| r.stamped_name().as_ref())).map(|n| n.expose()));
    let words: Vec<&str> = name
        .map(|n| n.split_whitespace().collect())
        .unwrap_or_default();
    if !words.is_empty() {
        let (first, last) = split_name(&words, config.name_split);
        put(&mut contact, "firstname", &first, false);
        if let Some(last) = last {
            put(&mut contact, "lastname", &last, false);
        }
    }
    let phone = own(CustomerRow::phone)
        .or_else(|| newest_of(rows_of().map(|r| r.stamped_phone().as_ref())).map(|p| p.expose()));
    if let Some(phone) = phone {
        put(&mut contact, "phone", phone, false);
    }
    if let Some(property) = &config.customer_id_property {
        let id = own(CustomerRow::customer_id).or_else(|| {
            newest_of(rows_of().map(|r| r.stamped_customer_id().as_ref())).map(String::as_str)
        });
        if let Some(id) = id {
            contact.insert(property.clone(), value(id, PropertyKind::Custom, false));
        }
    }

    let items: Vec<RollupItem> = settled.iter().map(RollupItem::of).collect();
    insert_rollups(&mut contact, &items, config);

    if let Some(newest) = newest {
        let captured = Money::new(newest.row.captured().unwrap_or(0), newest.amount.currency);
        let last_charge = [
            newest.row.charge_ids().next().unwrap_or(""),
            &captured.to_decimal_string(),
            &captured.currency.iso_code(),
            newest.row.receipt_url().unwrap_or(""),
            &newest.paid_at,
        ];
        for (name, v) in LAST_CHARGE_PROPERTIES.iter().zip(last_charge) {
            contact.insert(*name, value(v, PropertyKind::Custom, true));
        }
    }

    for (property, v) in &config.contact_constants {
        put(&mut contact, property, v.trim(), false);
    }
    for (key, property) in &config.contact_metadata {
        let newest_value = newest_of(rows_of().map(|r| r.stamped_metadata(key)));
        if let Some(v) = present(newest_value.map(String::as_str)) {
            put(&mut contact, property, v, false);
        }
    }
    if let Some(customer) = customer {
        for (name, v) in &subscription_properties(customer, config) {
            contact.insert(name.clone(), v.clone());
        }
    }
    Some(contact)
}
