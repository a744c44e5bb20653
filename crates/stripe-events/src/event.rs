//! Typed Stripe events, lenient to everything Stripe may add later.
//!
//! Objects are typed by their `"object"` tag. Anything this crate does not type, or cannot
//! type because Stripe changed its shape, is kept as [`EventObject::Unknown`]: parsing an event
//! never fails because of what is inside `data.object`.

use std::collections::BTreeMap;

use std::fmt;
use std::marker::PhantomData;

use serde::de::{self, DeserializeOwned, MapAccess, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::value::RawValue;
use serde_json::Value;

use crate::money::{Currency, Money};
use crate::tagged::{self, ObjectSource};
use crate::{BalanceTransaction, Dispute, Invoice, InvoicePayment, Subscription};

/// Stripe metadata: string keys to string values (Stripe allows nothing else).
pub type Metadata = BTreeMap<String, String>;

/// A Stripe event (`"object": "event"`), as delivered to a webhook endpoint.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Event {
    /// Unique event id (`evt_...`); Stripe redelivers an event with the same id.
    pub id: String,
    /// The event type, such as `charge.succeeded`.
    #[serde(rename = "type")]
    pub type_: String,
    /// When the event was created, in seconds since the Unix epoch.
    pub created: i64,
    /// Whether the event comes from live mode (`false` in test mode).
    #[serde(default)]
    pub livemode: bool,
    /// The API version the event was rendered with.
    #[serde(default)]
    pub api_version: Option<String>,
    /// The connected account that originated the event, for Connect endpoints.
    #[serde(default)]
    pub account: Option<String>,
    /// The object the event is about.
    pub data: EventData,
}

/// The payload of an [`Event`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EventData {
    /// The object as it was when the event happened.
    pub object: EventObject,
    /// For `*.updated` events, the previous values of the attributes that changed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub previous_attributes: Option<Value>,
}

/// The object inside an event, typed by its `"object"` tag.
#[derive(Debug, Clone, PartialEq)]
pub enum EventObject {
    /// `"object": "charge"`.
    Charge(Box<Charge>),
    /// `"object": "payment_intent"`.
    PaymentIntent(Box<PaymentIntent>),
    /// `"object": "checkout.session"`.
    CheckoutSession(Box<CheckoutSession>),
    /// `"object": "customer"`.
    Customer(Box<Customer>),
    /// `"object": "dispute"`.
    Dispute(Box<Dispute>),
    /// `"object": "invoice"`.
    Invoice(Box<Invoice>),
    /// `"object": "invoice_payment"`.
    InvoicePayment(Box<InvoicePayment>),
    /// `"object": "subscription"`.
    Subscription(Box<Subscription>),
    /// Any other object, or one whose shape this crate does not recognise.
    Unknown(Value),
}

/// The one table from `"object"` tag to type. A new typed object is a variant of
/// [`EventObject`] and one line here; every way of reading an object goes through it.
pub(crate) fn dispatch<S: ObjectSource>(
    tag: Option<&str>,
    value: S,
) -> Result<EventObject, S::Error> {
    match tag {
        Some("charge") => typed(value, EventObject::Charge),
        Some("payment_intent") => typed(value, EventObject::PaymentIntent),
        Some("checkout.session") => typed(value, EventObject::CheckoutSession),
        Some("customer") => typed(value, EventObject::Customer),
        Some("dispute") => typed(value, EventObject::Dispute),
        Some("invoice") => typed(value, EventObject::Invoice),
        Some("invoice_payment") => typed(value, EventObject::InvoicePayment),
        Some("subscription") => typed(value, EventObject::Subscription),
        _ => value.untyped(),
    }
}

fn typed<T: DeserializeOwned, S: ObjectSource>(
    value: S,
    wrap: fn(Box<T>) -> EventObject,
) -> Result<EventObject, S::Error> {
    value.typed(wrap)
}

impl EventObject {
    /// Types a JSON object by its `"object"` tag; falls back to [`EventObject::Unknown`].
    pub fn from_value(value: Value) -> EventObject {
        // Owned, because `value` moves into the typed object or the fallback.
        let tag = value
            .get("object")
            .and_then(Value::as_str)
            .map(str::to_owned);
        match dispatch(tag.as_deref(), value) {
            Ok(object) => object,
            Err(never) => match never {},
        }
    }

    /// The object's `id`, when it has one.
    pub fn id(&self) -> Option<&str> {
        match self {
            EventObject::Charge(c) => Some(&c.id),
            EventObject::PaymentIntent(p) => Some(&p.id),
            EventObject::CheckoutSession(s) => Some(&s.id),
            EventObject::Customer(c) => Some(&c.id),
            EventObject::Dispute(d) => Some(&d.id),
            EventObject::Invoice(i) => Some(&i.id),
            EventObject::InvoicePayment(p) => Some(&p.id),
            EventObject::Subscription(s) => Some(&s.id),
            EventObject::Unknown(v) => v.get("id").and_then(Value::as_str),
        }
    }
}

/// JSON only: the object is taken as raw JSON text (serde_json's `RawValue`) and typed from
/// it without building a `Value` first.
impl<'de> Deserialize<'de> for EventObject {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let raw = Box::<RawValue>::deserialize(deserializer)?;
        tagged::from_raw(&raw).map_err(de::Error::custom)
    }
}

impl Serialize for EventObject {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        // The typed structs do not store the tag, yet it is what types them on the way back in.
        #[derive(Serialize)]
        struct Tagged<'a, T> {
            object: &'static str,
            #[serde(flatten)]
            inner: &'a T,
        }
        fn tagged<S: Serializer, T: Serialize>(
            serializer: S,
            object: &'static str,
            inner: &T,
        ) -> Result<S::Ok, S::Error> {
            Tagged { object, inner }.serialize(serializer)
        }
        match self {
            EventObject::Charge(o) => tagged(serializer, "charge", o),
            EventObject::PaymentIntent(o) => tagged(serializer, "payment_intent", o),
            EventObject::CheckoutSession(o) => tagged(serializer, "checkout.session", o),
            EventObject::Customer(o) => tagged(serializer, "customer", o),
            EventObject::Dispute(o) => tagged(serializer, "dispute", o),
            EventObject::Invoice(o) => tagged(serializer, "invoice", o),
            EventObject::InvoicePayment(o) => tagged(serializer, "invoice_payment", o),
            EventObject::Subscription(o) => tagged(serializer, "subscription", o),
            EventObject::Unknown(v) => v.serialize(serializer),
        }
    }
}

/// A field Stripe sends either as an id or, when expanded, as the full object.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(untagged)]
pub enum Expandable<T> {
    /// The id only (the default).
    Id(String),
    /// The expanded object.
    Object(Box<T>),
}

/// A string is an id, an object is the expanded object; read in one pass, where serde's
/// `untagged` would buffer the whole object before trying each variant.
impl<'de, T: Deserialize<'de>> Deserialize<'de> for Expandable<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct ExpandableVisitor<T>(PhantomData<T>);
        impl<'de, T: Deserialize<'de>> Visitor<'de> for ExpandableVisitor<T> {
            type Value = Expandable<T>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an id string or an expanded object")
            }
            fn visit_str<E: de::Error>(self, id: &str) -> Result<Self::Value, E> {
                Ok(Expandable::Id(id.to_owned()))
            }
            fn visit_string<E: de::Error>(self, id: String) -> Result<Self::Value, E> {
                Ok(Expandable::Id(id))
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
                T::deserialize(de::value::MapAccessDeserializer::new(map))
                    .map(|object| Expandable::Object(Box::new(object)))
            }
        }
        deserializer.deserialize_any(ExpandableVisitor(PhantomData))
    }
}

/// Objects with a Stripe id.
pub trait HasId {
    /// The object's id.
    fn id(&self) -> &str;
}

impl<T: HasId> Expandable<T> {
    /// The id, whether or not the field was expanded.
    pub fn id(&self) -> &str {
        match self {
            Expandable::Id(id) => id,
            Expandable::Object(object) => object.id(),
        }
    }

    /// The expanded object, if Stripe sent one.
    pub fn as_object(&self) -> Option<&T> {
        match self {
            Expandable::Id(_) => None,
            Expandable::Object(object) => Some(object),
        }
    }
}

fn captured_when_absent() -> bool {
    true
}

/// Treats an explicit JSON `null` like a missing field.
pub(crate) fn null_as_default<'de, D, T>(deserializer: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Default + Deserialize<'de>,
{
    Ok(Option::<T>::deserialize(deserializer)?.unwrap_or_default())
}

/// A postal address.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[allow(missing_docs)] // Field names are Stripe's and self-explanatory.
pub struct Address {
    pub line1: Option<String>,
    pub line2: Option<String>,
    pub city: Option<String>,
    pub state: Option<String>,
    pub postal_code: Option<String>,
    /// Two-letter country code (ISO 3166-1 alpha-2).
    pub country: Option<String>,
}

/// Billing details collected with the payment method.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct BillingDetails {
    /// Billing email address.
    #[serde(default)]
    pub email: Option<String>,
    /// Full name.
    #[serde(default)]
    pub name: Option<String>,
    /// Phone number, as entered.
    #[serde(default)]
    pub phone: Option<String>,
    /// Billing address.
    #[serde(default)]
    pub address: Option<Address>,
}

/// Status of a [`Charge`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ChargeStatus {
    /// The charge succeeded.
    Succeeded,
    /// The charge is still being processed.
    Pending,
    /// The charge failed.
    Failed,
    /// A status this crate does not know yet.
    #[serde(other)]
    Other,
}

impl ChargeStatus {
    /// Stripe's spelling of the status (`"succeeded"`, ...; `"unknown"` for [`Other`](Self::Other)).
    pub fn as_str(self) -> &'static str {
        match self {
            ChargeStatus::Succeeded => "succeeded",
            ChargeStatus::Pending => "pending",
            ChargeStatus::Failed => "failed",
            ChargeStatus::Other => "unknown",
        }
    }
}

/// A Stripe charge (`ch_...` or `py_...`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Charge {
    /// Charge id.
    pub id: String,
    /// Amount intended to be collected, in minor units.
    pub amount: i64,
    /// Amount captured, in minor units.
    #[serde(default)]
    pub amount_captured: i64,
    /// Amount refunded, in minor units.
    #[serde(default)]
    pub amount_refunded: i64,
    /// Currency of all amounts.
    pub currency: Currency,
    /// The customer the charge belongs to, if any.
    #[serde(default)]
    pub customer: Option<Expandable<Customer>>,
    /// Billing details of the payment method.
    #[serde(default, deserialize_with = "null_as_default")]
    pub billing_details: BillingDetails,
    /// Email the receipt was sent to.
    #[serde(default)]
    pub receipt_email: Option<String>,
    /// URL of the receipt page.
    #[serde(default)]
    pub receipt_url: Option<String>,
    /// Arbitrary description.
    #[serde(default)]
    pub description: Option<String>,
    /// Key-value metadata.
    #[serde(default, deserialize_with = "null_as_default")]
    pub metadata: Metadata,
    /// The PaymentIntent this charge belongs to, if any.
    #[serde(default)]
    pub payment_intent: Option<Expandable<PaymentIntent>>,
    /// Status of the charge.
    pub status: ChargeStatus,
    /// Whether the charge succeeded or was authorized for later capture.
    #[serde(default)]
    pub paid: bool,
    /// Whether the amount was captured; `false` for an authorization awaiting capture.
    /// Stripe always sends it; a payload without it counts as captured.
    #[serde(default = "captured_when_absent")]
    pub captured: bool,
    /// Whether the charge was fully refunded.
    #[serde(default)]
    pub refunded: bool,
    /// Whether the charge has been disputed (it stays `true` once a dispute was opened).
    #[serde(default)]
    pub disputed: bool,
    /// The invoice this charge paid (API versions before 2025-03-31 only).
    #[serde(default)]
    pub invoice: Option<Expandable<Invoice>>,
    /// What the charge settled as in the account's balance (after any currency conversion):
    /// an id, or the object when expanded; `None` until captured. Never fails the parse (see
    /// [`BalanceTransaction`]).
    #[serde(
        default,
        deserialize_with = "crate::balance::lenient_balance_transaction"
    )]
    pub balance_transaction: Option<Expandable<BalanceTransaction>>,
    /// Creation time, in seconds since the Unix epoch.
    pub created: i64,
    /// Whether the charge is live (`false` in test mode).
    #[serde(default)]
    pub livemode: bool,
}

impl Charge {
    /// The amount intended to be collected.
    pub fn money(&self) -> Money {
        Money::new(self.amount, self.currency)
    }
}

impl HasId for Charge {
    fn id(&self) -> &str {
        &self.id
    }
}

/// Status of a [`PaymentIntent`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[allow(missing_docs)] // Stripe's status names.
pub enum PaymentIntentStatus {
    RequiresPaymentMethod,
    RequiresConfirmation,
    RequiresAction,
    Processing,
    RequiresCapture,
    Canceled,
    Succeeded,
    /// A status this crate does not know yet.
    #[serde(other)]
    Other,
}

impl PaymentIntentStatus {
    /// Stripe's spelling of the status (`"requires_capture"`, ...; `"unknown"` for
    /// [`Other`](Self::Other)).
    pub fn as_str(self) -> &'static str {
        match self {
            PaymentIntentStatus::RequiresPaymentMethod => "requires_payment_method",
            PaymentIntentStatus::RequiresConfirmation => "requires_confirmation",
            PaymentIntentStatus::RequiresAction => "requires_action",
            PaymentIntentStatus::Processing => "processing",
            PaymentIntentStatus::RequiresCapture => "requires_capture",
            PaymentIntentStatus::Canceled => "canceled",
            PaymentIntentStatus::Succeeded => "succeeded",
            PaymentIntentStatus::Other => "unknown",
        }
    }
}

/// A Stripe PaymentIntent (`pi_...`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PaymentIntent {
    /// PaymentIntent id.
    pub id: String,
    /// Amount intended to be collected, in minor units.
    pub amount: i64,
    /// Amount received, in minor units.
    #[serde(default)]
    pub amount_received: i64,
    /// Currency of all amounts.
    pub currency: Currency,
    /// The customer the payment belongs to, if any.
    #[serde(default)]
    pub customer: Option<Expandable<Customer>>,
    /// Email the receipt was sent to.
    #[serde(default)]
    pub receipt_email: Option<String>,
    /// The latest charge made for this PaymentIntent.
    #[serde(default)]
    pub latest_charge: Option<Expandable<Charge>>,
    /// Arbitrary description.
    #[serde(default)]
    pub description: Option<String>,
    /// Key-value metadata.
    #[serde(default, deserialize_with = "null_as_default")]
    pub metadata: Metadata,
    /// Status of the PaymentIntent.
    pub status: PaymentIntentStatus,
    /// The invoice this PaymentIntent pays (API versions before 2025-03-31 only).
    #[serde(default)]
    pub invoice: Option<Expandable<Invoice>>,
    /// Creation time, in seconds since the Unix epoch.
    pub created: i64,
    /// Whether the object is live (`false` in test mode).
    #[serde(default)]
    pub livemode: bool,
}

impl PaymentIntent {
    /// The amount received.
    pub fn amount_received_money(&self) -> Money {
        Money::new(self.amount_received, self.currency)
    }
}

impl HasId for PaymentIntent {
    fn id(&self) -> &str {
        &self.id
    }
}

/// A Stripe customer (`cus_...`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Customer {
    /// Customer id.
    pub id: String,
    /// Email address.
    #[serde(default)]
    pub email: Option<String>,
    /// Full name or business name.
    #[serde(default)]
    pub name: Option<String>,
    /// The customer's business name (API versions from 2025-09-30.clover): set only when the
    /// account marked the customer a business.
    /// <https://docs.stripe.com/changelog/clover/2025-09-30/customer-business-individual-names>
    #[serde(default)]
    pub business_name: Option<String>,
    /// The customer's individual name (API versions from 2025-09-30.clover).
    #[serde(default)]
    pub individual_name: Option<String>,
    /// Phone number.
    #[serde(default)]
    pub phone: Option<String>,
    /// Arbitrary description.
    #[serde(default)]
    pub description: Option<String>,
    /// Address.
    #[serde(default)]
    pub address: Option<Address>,
    /// The currency the customer is billed in (set by its first invoice or subscription).
    #[serde(default)]
    pub currency: Option<Currency>,
    /// Key-value metadata.
    #[serde(default, deserialize_with = "null_as_default")]
    pub metadata: Metadata,
    /// Creation time, in seconds since the Unix epoch (absent on deleted customers).
    #[serde(default)]
    pub created: Option<i64>,
    /// `true` on a deleted customer stub.
    #[serde(default)]
    pub deleted: bool,
}

impl HasId for Customer {
    fn id(&self) -> &str {
        &self.id
    }
}

/// Customer details collected by Checkout.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CustomerDetails {
    /// Email address.
    #[serde(default)]
    pub email: Option<String>,
    /// Full name.
    #[serde(default)]
    pub name: Option<String>,
    /// Phone number.
    #[serde(default)]
    pub phone: Option<String>,
    /// Address.
    #[serde(default)]
    pub address: Option<Address>,
}

/// A Stripe Checkout Session (`cs_...`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CheckoutSession {
    /// Session id.
    pub id: String,
    /// Total amount, in minor units.
    #[serde(default)]
    pub amount_total: Option<i64>,
    /// Currency of the amounts.
    #[serde(default)]
    pub currency: Option<Currency>,
    /// The customer, if one was created or given.
    #[serde(default)]
    pub customer: Option<Expandable<Customer>>,
    /// Details the customer entered.
    #[serde(default)]
    pub customer_details: Option<CustomerDetails>,
    /// Email given when the session was created.
    #[serde(default)]
    pub customer_email: Option<String>,
    /// The PaymentIntent of a `payment`-mode session.
    #[serde(default)]
    pub payment_intent: Option<Expandable<PaymentIntent>>,
    /// `paid`, `unpaid` or `no_payment_required`.
    #[serde(default)]
    pub payment_status: Option<String>,
    /// `open`, `complete` or `expired`.
    #[serde(default)]
    pub status: Option<String>,
    /// `payment`, `setup` or `subscription`.
    #[serde(default)]
    pub mode: Option<String>,
    /// The invoice the session created (subscription mode, or invoice creation enabled).
    #[serde(default)]
    pub invoice: Option<Expandable<Invoice>>,
    /// The subscription a `subscription`-mode session created.
    #[serde(default)]
    pub subscription: Option<Expandable<Subscription>>,
    /// Key-value metadata.
    #[serde(default, deserialize_with = "null_as_default")]
    pub metadata: Metadata,
    /// Creation time, in seconds since the Unix epoch.
    pub created: i64,
}

impl HasId for CheckoutSession {
    fn id(&self) -> &str {
        &self.id
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn unknown_types_and_malformed_objects_are_kept_as_values() {
        let odd = json!({"object": "charge", "id": "ch_1", "amount": "not a number"});
        assert_eq!(
            EventObject::from_value(odd.clone()),
            EventObject::Unknown(odd)
        );
        let new = json!({"object": "v2.brand_new_thing", "id": "x_1"});
        let object = EventObject::from_value(new);
        assert!(matches!(object, EventObject::Unknown(_)));
        assert_eq!(object.id(), Some("x_1"));
    }

    #[test]
    fn expandable_fields_accept_ids_and_objects() {
        let charge: Charge = serde_json::from_value(json!({
            "id": "ch_1", "object": "charge", "amount": 100, "currency": "USD",
            "status": "succeeded", "created": 1, "metadata": null, "billing_details": null,
            "customer": {"id": "cus_1", "object": "customer", "email": "a@b.c", "future_field": 1},
            "payment_intent": "pi_1"
        }))
        .unwrap();
        assert_eq!(charge.customer.as_ref().unwrap().id(), "cus_1");
        assert_eq!(
            charge
                .customer
                .as_ref()
                .unwrap()
                .as_object()
                .unwrap()
                .email
                .as_deref(),
            Some("a@b.c")
        );
        assert_eq!(charge.payment_intent.as_ref().unwrap().id(), "pi_1");
        assert!(charge.metadata.is_empty());
        assert_eq!(charge.money().to_decimal_string(), "1.00");
    }
}
