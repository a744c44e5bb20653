//! The mapping itself: one Stripe event in, one [`MapOutcome`] out.

use stripe_events::{
    BillingDetails, Charge, ChargeStatus, Customer, Event, EventObject, Expandable, Metadata,
    Money, PaymentIntent, PaymentIntentStatus,
};

use crate::command::{
    ContactKey, MapOutcome, PropertyKind, PropertySet, PropertyValue, SkipReason, SyncCommand,
};
use crate::config::{
    property_kind, ConfigError, ContactKeySource, EmailSource, MappingConfig,
    LAST_CHARGE_PROPERTIES, PAYMENT_ID_PROPERTY,
};
use crate::template::{Field, Template};
use crate::text::{normalize_email, present, split_name};

/// An event that should map but cannot. Permanent: retrying the same event gives the same
/// error, so the engine should dead-letter it. Messages carry ids only, never personal data.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MapError {
    /// The configuration is invalid.
    #[error(transparent)]
    InvalidConfig(#[from] ConfigError),
    /// A handled event type carries an object that is not a payment object (charge, payment
    /// intent, Checkout Session, invoice, invoice payment, dispute), or one that did not match
    /// Stripe's documented shape (it parsed as an unknown object).
    #[error("event {event_id} ({event_type}) carries {found}, not a payment object in the expected shape; check the event in the Stripe dashboard, then replay or discard it")]
    UnexpectedObject {
        /// The event id.
        event_id: String,
        /// The event type.
        event_type: String,
        /// What the object is.
        found: &'static str,
    },
    /// The object has no id to key the deal on.
    #[error("event {event_id}: the payment object has an empty id; this is not a valid Stripe payment, discard the event")]
    MissingPaymentId {
        /// The event id.
        event_id: String,
    },
    /// A Unix time that is not a representable date.
    #[error("event {event_id}: `created` value {value} is not a date between years 0 and 9999; this is not a valid Stripe payment, discard the event")]
    InvalidTimestamp {
        /// The event id.
        event_id: String,
        /// The rejected value.
        value: i64,
    },
}

/// Maps one successful payment event to the HubSpot writes it implies, on its own.
///
/// This is the per-event mapping: it sees one event, so it cannot follow a payment through
/// refunds or disputes. Only `charge.succeeded`, `charge.captured` and
/// `payment_intent.succeeded` (when the configuration handles them) map to a command; every
/// other type is skipped as unhandled. For the whole lifecycle, map events to
/// [`Facts`](crate::Facts) with [`facts_from_event`](crate::facts_from_event), merge them into a
/// [`LedgerRow`](crate::LedgerRow) and write [`deal_properties`](crate::deal_properties) and
/// [`contact_properties`](crate::contact_properties).
///
/// Pure and deterministic: the same event and configuration always give the same result.
/// Unsuccessful, uncaptured or refunded payments and payments without a contact key are
/// [`MapOutcome::Skip`]ped; an invalid configuration or a malformed payment object is an error.
///
/// ```
/// use stripe2hubspot_map::{map_event, MapOutcome, MappingConfig};
///
/// let event: stripe_events::Event = serde_json::from_str(r#"{
///   "id": "evt_1", "object": "event", "type": "charge.succeeded", "created": 1680000000,
///   "data": {"object": {
///     "id": "ch_1", "object": "charge", "amount": 500, "currency": "jpy",
///     "status": "succeeded", "created": 1680000000, "payment_intent": "pi_1",
///     "billing_details": {"email": " Ann@Example.COM ", "name": "Ann Lee"}
///   }}
/// }"#)?;
/// let MapOutcome::Sync(command) = map_event(&event, &MappingConfig::default())? else {
///     panic!("expected a command");
/// };
/// assert_eq!(command.contact_key.value(), "ann@example.com");
/// assert_eq!(command.deal_key, "pi_1");
/// assert_eq!(command.deal.get("amount"), Some("500"));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn map_event(event: &Event, config: &MappingConfig) -> Result<MapOutcome, MapError> {
    config.validate()?;
    if !config.handles(&event.type_) || !PER_EVENT_TYPES.contains(&event.type_.as_str()) {
        return Ok(skip(SkipReason::UnhandledEventType {
            event_type: event.type_.clone(),
        }));
    }
    let payment = match &event.data.object {
        EventObject::Charge(charge) => {
            if charge.status != ChargeStatus::Succeeded {
                return Ok(not_succeeded(charge.status.as_str()));
            }
            if charge.refunded {
                return Ok(skip(SkipReason::Refunded));
            }
            // A charge.captured event is the capture itself, even if an older API version
            // rendered it before `captured` flipped.
            if !charge.captured && event.type_ != "charge.captured" {
                return Ok(skip(SkipReason::NotCaptured));
            }
            Payment::from_charge(charge)
        }
        EventObject::PaymentIntent(intent) => {
            if intent.status != PaymentIntentStatus::Succeeded {
                return Ok(not_succeeded(intent.status.as_str()));
            }
            let latest = intent
                .latest_charge
                .as_ref()
                .and_then(Expandable::as_object);
            if latest.is_some_and(|c| c.refunded) {
                return Ok(skip(SkipReason::Refunded));
            }
            Payment::from_intent(intent, event.created)
        }
        other => {
            return Err(MapError::UnexpectedObject {
                event_id: event.id.clone(),
                event_type: event.type_.clone(),
                found: match other {
                    EventObject::CheckoutSession(_) => "a checkout session",
                    EventObject::Customer(_) => "a customer",
                    _ => "an unrecognised object",
                },
            })
        }
    };
    build(event, &payment, config)
}

/// The event types [`map_event`] maps on their own; the others need the ledger.
const PER_EVENT_TYPES: [&str; 3] = [
    "charge.succeeded",
    "charge.captured",
    "payment_intent.succeeded",
];

fn skip(reason: SkipReason) -> MapOutcome {
    MapOutcome::Skip(reason)
}

fn not_succeeded(status: &str) -> MapOutcome {
    skip(SkipReason::NotSucceeded {
        status: status.to_owned(),
    })
}

/// What a charge and a payment intent have in common, so both map through one path.
struct Payment<'a> {
    deal_key: &'a str,
    charge_id: Option<&'a str>,
    money: Money,
    /// When the money moved: the charge's `created`.
    paid_at: i64,
    billing: Option<&'a BillingDetails>,
    receipt_email: Option<&'a str>,
    receipt_url: Option<&'a str>,
    customer: Option<&'a Expandable<Customer>>,
    description: Option<&'a str>,
    metadata: &'a Metadata,
}

impl<'a> Payment<'a> {
    fn from_charge(charge: &'a Charge) -> Self {
        let intent = charge.payment_intent.as_ref().map(Expandable::id);
        Payment {
            deal_key: present(intent).unwrap_or(&charge.id),
            charge_id: Some(&charge.id),
            // A partially captured charge is worth what was captured; a payload without
            // amount_captured (older API versions, hand-written tests) falls back to amount.
            money: Money::new(
                positive_or(charge.amount_captured, charge.amount),
                charge.currency,
            ),
            paid_at: charge.created,
            billing: Some(&charge.billing_details),
            receipt_email: charge.receipt_email.as_deref(),
            receipt_url: charge.receipt_url.as_deref(),
            customer: charge.customer.as_ref(),
            description: charge.description.as_deref(),
            metadata: &charge.metadata,
        }
    }

    fn from_intent(intent: &'a PaymentIntent, event_created: i64) -> Self {
        let charge = intent
            .latest_charge
            .as_ref()
            .and_then(Expandable::as_object);
        Payment {
            deal_key: &intent.id,
            charge_id: intent.latest_charge.as_ref().map(Expandable::id),
            money: Money::new(
                positive_or(intent.amount_received, intent.amount),
                intent.currency,
            ),
            // The intent's own `created` is when checkout began, possibly days earlier; the
            // success event is created within moments of the charge.
            paid_at: charge.map_or(event_created, |c| c.created),
            billing: charge.map(|c| &c.billing_details),
            receipt_email: present(intent.receipt_email.as_deref())
                .or_else(|| charge.and_then(|c| c.receipt_email.as_deref())),
            receipt_url: charge.and_then(|c| c.receipt_url.as_deref()),
            customer: intent
                .customer
                .as_ref()
                .or_else(|| charge.and_then(|c| c.customer.as_ref())),
            description: present(intent.description.as_deref())
                .or_else(|| charge.and_then(|c| c.description.as_deref())),
            metadata: &intent.metadata,
        }
    }

    fn expanded_customer(&self) -> Option<&'a Customer> {
        self.customer
            .and_then(Expandable::as_object)
            .filter(|c| !c.deleted)
    }
}

fn positive_or(preferred: i64, fallback: i64) -> i64 {
    if preferred > 0 {
        preferred
    } else {
        fallback
    }
}

fn iso_utc(secs: i64, event: &Event) -> Result<String, MapError> {
    crate::text::iso_utc(secs).ok_or_else(|| MapError::InvalidTimestamp {
        event_id: event.id.clone(),
        value: secs,
    })
}

fn build(
    event: &Event,
    payment: &Payment<'_>,
    config: &MappingConfig,
) -> Result<MapOutcome, MapError> {
    let deal_key = payment.deal_key.trim();
    if deal_key.is_empty() {
        return Err(MapError::MissingPaymentId {
            event_id: event.id.clone(),
        });
    }
    let customer = payment.expanded_customer();
    let email = config.email_sources.iter().find_map(|source| {
        let raw = match source {
            EmailSource::BillingDetails => payment.billing.and_then(|b| b.email.as_deref()),
            EmailSource::ReceiptEmail => payment.receipt_email,
            EmailSource::Customer => customer.and_then(|c| c.email.as_deref()),
        };
        raw.and_then(normalize_email)
    });
    let customer_id = present(payment.customer.map(Expandable::id));
    let contact_key = match (config.contact_key, &config.customer_id_property) {
        (ContactKeySource::Email, _) => email.clone().map(ContactKey::Email),
        (ContactKeySource::StripeCustomerId, Some(property)) => {
            customer_id.map(|id| ContactKey::StripeCustomerId {
                property: property.clone(),
                id: id.to_owned(),
            })
        }
        (ContactKeySource::StripeCustomerId, None) => None,
    };
    let Some(contact_key) = contact_key else {
        return Ok(skip(SkipReason::NoContactKey {
            key: config.contact_key,
        }));
    };

    let amount = payment.money.to_decimal_string();
    let currency = payment.money.currency.iso_code();
    let paid_at = iso_utc(payment.paid_at, event)?;
    let name_words: Vec<&str> = payment
        .billing
        .and_then(|b| b.name.as_deref())
        .map(|n| n.split_whitespace().collect())
        .unwrap_or_default();

    let mut contact = PropertySet::new();
    if let Some(email) = &email {
        put(&mut contact, "email", email, false);
    }
    if !name_words.is_empty() {
        let (first, last) = split_name(&name_words, config.name_split);
        put(&mut contact, "firstname", &first, false);
        if let Some(last) = last {
            put(&mut contact, "lastname", &last, false);
        }
    }
    let phone = present(payment.billing.and_then(|b| b.phone.as_deref()))
        .or_else(|| present(customer.and_then(|c| c.phone.as_deref())));
    if let Some(phone) = phone {
        put(&mut contact, "phone", phone, false);
    }
    if let (Some(property), Some(id)) = (&config.customer_id_property, customer_id) {
        contact.insert(property.clone(), value(id, PropertyKind::Custom, false));
    }
    let last_charge = [
        payment.charge_id.and_then(|id| present(Some(id))),
        Some(amount.as_str()),
        Some(currency.as_str()),
        present(payment.receipt_url),
        Some(paid_at.as_str()),
    ];
    for (name, v) in LAST_CHARGE_PROPERTIES.iter().zip(last_charge) {
        if let Some(v) = v {
            contact.insert(*name, value(v, PropertyKind::Custom, true));
        }
    }

    let mut deal = PropertySet::new();
    let full_name = name_words.join(" ");
    let dealname = match present(payment.description) {
        Some(description) => description.to_owned(),
        // Validated above, so parsing cannot fail here; an empty name would be no better.
        None => Template::parse(&config.deal_name_template)
            .map(|t| {
                t.render(|field| match field {
                    Field::Amount => &amount,
                    Field::Currency => &currency,
                    Field::Id => deal_key,
                    Field::Email => email.as_deref().unwrap_or(""),
                    Field::Name => &full_name,
                })
            })
            .unwrap_or_else(|_| format!("Payment {amount} {currency} ({deal_key})")),
    };
    put(&mut deal, "dealname", dealname.trim(), true);
    put(&mut deal, "dealstage", &config.deal_stage, true);
    put(&mut deal, "pipeline", &config.pipeline, true);
    put(&mut deal, "amount", &amount, true);
    put(&mut deal, "closedate", &paid_at, true);
    deal.insert(
        PAYMENT_ID_PROPERTY,
        value(deal_key, PropertyKind::Custom, false),
    );
    if config.deal_currency_code {
        put(&mut deal, "deal_currency_code", &currency, true);
    }

    for (property, v) in &config.contact_constants {
        put(&mut contact, property, v.trim(), false);
    }
    for (property, v) in &config.deal_constants {
        put(&mut deal, property, v.trim(), true);
    }
    for (key, property) in &config.contact_metadata {
        if let Some(v) = present(payment.metadata.get(key).map(String::as_str)) {
            put(&mut contact, property, v, false);
        }
    }
    for (key, property) in &config.deal_metadata {
        if let Some(v) = present(payment.metadata.get(key).map(String::as_str)) {
            put(&mut deal, property, v, true);
        }
    }

    Ok(MapOutcome::Sync(SyncCommand {
        event_id: event.id.clone(),
        event_type: event.type_.clone(),
        event_created: event.created,
        contact_key,
        contact,
        deal_key: deal_key.to_owned(),
        deal,
    }))
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
