//! Names and HubSpot definitions of the properties derived from the payment ledger.

use crate::config::{spec, CONTACT_GROUP, DEAL_GROUP};
use crate::property_spec::{PropertyOption, PropertySpec};
use crate::state::PaymentStatus;

/// Deal property: amount refunded so far, formatted like `amount`.
pub const AMOUNT_REFUNDED_PROPERTY: &str = "stripe_amount_refunded";
/// Deal property: one of [`PaymentStatus`]'s values (`succeeded`, `refunded`, ...).
pub const PAYMENT_STATUS_PROPERTY: &str = "stripe_payment_status";
/// Deal property: the invoice a payment paid (`in_...`).
pub const INVOICE_ID_PROPERTY: &str = "stripe_invoice_id";
/// Deal property: the subscription that invoice belongs to (`sub_...`).
pub const SUBSCRIPTION_ID_PROPERTY: &str = "stripe_subscription_id";
/// Deal property: why the invoice a payment paid was created (`subscription_create`,
/// `subscription_cycle`, `subscription_update`, `manual`, ...), so new and renewal revenue can
/// be told apart; only for invoice payments.
pub const BILLING_REASON_PROPERTY: &str = "stripe_billing_reason";
/// Deal property: the amount with its ISO code (`"5000 JPY"`), so a portal without that
/// currency enabled cannot misread the amount.
pub const AMOUNT_CURRENCY_PROPERTY: &str = "stripe_amount_currency";

/// Contact property: number of payments whose amount is above zero.
pub const PAYMENT_COUNT_PROPERTY: &str = "stripe_payment_count";
/// Contact property: sum of payment amounts in [`LIFETIME_VALUE_CURRENCY_PROPERTY`]; empty
/// when no counted payment is in that currency.
pub const LIFETIME_VALUE_PROPERTY: &str = "stripe_lifetime_value";
/// Contact property: the ISO code (upper case) of the currency `stripe_lifetime_value` is
/// summed in: the configured reporting currency, else the contact's own (its newest counted
/// payment's).
pub const LIFETIME_VALUE_CURRENCY_PROPERTY: &str = "stripe_lifetime_value_currency";
/// Contact property: when the first counted payment was made.
pub const FIRST_PAYMENT_DATE_PROPERTY: &str = "stripe_first_payment_date";
/// Contact property: when the last counted payment was made.
pub const LAST_PAYMENT_DATE_PROPERTY: &str = "stripe_last_payment_date";

/// The deal properties written from the ledger besides `stripe_payment_id`.
pub const LEDGER_DEAL_PROPERTIES: [&str; 6] = [
    AMOUNT_REFUNDED_PROPERTY,
    PAYMENT_STATUS_PROPERTY,
    INVOICE_ID_PROPERTY,
    SUBSCRIPTION_ID_PROPERTY,
    AMOUNT_CURRENCY_PROPERTY,
    BILLING_REASON_PROPERTY,
];

/// The contact rollups written from the ledger.
pub const LEDGER_CONTACT_PROPERTIES: [&str; 5] = [
    PAYMENT_COUNT_PROPERTY,
    LIFETIME_VALUE_PROPERTY,
    LIFETIME_VALUE_CURRENCY_PROPERTY,
    FIRST_PAYMENT_DATE_PROPERTY,
    LAST_PAYMENT_DATE_PROPERTY,
];

pub(crate) fn ledger_deal_specs() -> Vec<PropertySpec> {
    let mut status = spec(
        PAYMENT_STATUS_PROPERTY,
        "Stripe payment status",
        "enumeration",
        DEAL_GROUP,
        false,
        "Where the Stripe payment stands: succeeded, partially refunded, refunded, disputed, dispute won or dispute lost.",
    );
    status.options = PaymentStatus::ALL
        .iter()
        .zip(0..)
        .map(|(s, order)| PropertyOption {
            label: s.label().to_owned(),
            value: s.as_str().to_owned(),
            display_order: order,
            hidden: false,
        })
        .collect();
    vec![
        spec(
            AMOUNT_REFUNDED_PROPERTY,
            "Stripe amount refunded",
            "number",
            DEAL_GROUP,
            false,
            "Amount refunded so far, in the deal currency.",
        ),
        status,
        spec(
            INVOICE_ID_PROPERTY,
            "Stripe invoice ID",
            "string",
            DEAL_GROUP,
            false,
            "The Stripe invoice (in_...) this payment paid.",
        ),
        spec(
            SUBSCRIPTION_ID_PROPERTY,
            "Stripe subscription ID",
            "string",
            DEAL_GROUP,
            false,
            "The Stripe subscription (sub_...) of the invoice this payment paid.",
        ),
        spec(
            AMOUNT_CURRENCY_PROPERTY,
            "Stripe amount and currency",
            "string",
            DEAL_GROUP,
            false,
            "The deal amount with its ISO currency code, such as 5000 JPY.",
        ),
        spec(
            BILLING_REASON_PROPERTY,
            "Stripe billing reason",
            "string",
            DEAL_GROUP,
            false,
            "Why Stripe created the invoice this payment paid: subscription_create, subscription_cycle, subscription_update, manual, ...",
        ),
    ]
}

pub(crate) fn ledger_contact_specs() -> Vec<PropertySpec> {
    vec![
        spec(
            PAYMENT_COUNT_PROPERTY,
            "Stripe payment count",
            "number",
            CONTACT_GROUP,
            false,
            "Number of Stripe payments with an amount above zero.",
        ),
        spec(
            LIFETIME_VALUE_PROPERTY,
            "Stripe lifetime value",
            "number",
            CONTACT_GROUP,
            false,
            "Sum of Stripe payments in the currency named by Stripe lifetime value currency; other currencies are left out, and it is empty when no payment is in that currency.",
        ),
        spec(
            LIFETIME_VALUE_CURRENCY_PROPERTY,
            "Stripe lifetime value currency",
            "string",
            CONTACT_GROUP,
            false,
            "ISO code of the currency Stripe lifetime value is summed in.",
        ),
        spec(
            FIRST_PAYMENT_DATE_PROPERTY,
            "Stripe first payment date",
            "datetime",
            CONTACT_GROUP,
            false,
            "When the contact's first Stripe payment was made.",
        ),
        spec(
            LAST_PAYMENT_DATE_PROPERTY,
            "Stripe last payment date",
            "datetime",
            CONTACT_GROUP,
            false,
            "When the contact's latest Stripe payment was made.",
        ),
    ]
}
