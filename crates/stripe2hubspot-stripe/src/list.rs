//! What can be listed, over which creation times, and one page of the answer.

use serde::de::DeserializeOwned;
use stripe_events::{
    Charge, CheckoutSession, Customer, Dispute, EventObject, HasId, Invoice, PaymentIntent,
    Subscription,
};

use crate::error::Error;

/// The Stripe list endpoints this client reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ListKind {
    /// `GET /v1/charges`.
    Charges,
    /// `GET /v1/disputes`.
    Disputes,
    /// `GET /v1/checkout/sessions`.
    CheckoutSessions,
    /// `GET /v1/invoices`.
    Invoices,
    /// `GET /v1/payment_intents` (each with its `latest_charge` expanded).
    PaymentIntents,
    /// `GET /v1/customers` (Stripe lists customers that are not deleted).
    Customers,
    /// `GET /v1/subscriptions?status=all`, each with its discounts expanded and its items'
    /// products put in place (see [`StripeClient::list_objects`](crate::StripeClient::list_objects)).
    Subscriptions,
    /// `GET /v1/products`: read only to name a subscription's products.
    Products,
    /// `GET /v1/balance_transactions/{id}`: what a charge settled as, in the account's
    /// settlement currency.
    BalanceTransactions,
}

impl ListKind {
    /// Every kind, in the order a backfill reads them.
    pub const ALL: [ListKind; 9] = [
        ListKind::Charges,
        ListKind::Disputes,
        ListKind::CheckoutSessions,
        ListKind::Invoices,
        ListKind::PaymentIntents,
        ListKind::Customers,
        ListKind::Subscriptions,
        ListKind::Products,
        ListKind::BalanceTransactions,
    ];

    /// The kinds whose objects an event carries, so a backfill can turn them into synthetic
    /// events: [`ALL`](Self::ALL) but products and balance transactions, which only complete
    /// other objects.
    pub const EVENT_OBJECTS: [ListKind; 7] = [
        ListKind::Charges,
        ListKind::Disputes,
        ListKind::CheckoutSessions,
        ListKind::Invoices,
        ListKind::PaymentIntents,
        ListKind::Customers,
        ListKind::Subscriptions,
    ];

    /// What a backfill lists: every payment appears as a charge (with its refund and dispute
    /// flags), and disputes, Checkout Sessions and invoices add what a charge does not say;
    /// customers and subscriptions give the customer ledger (contact data, MRR).
    /// PaymentIntents are left out: each succeeded one already appears through its charge.
    pub const BACKFILL: [ListKind; 6] = [
        ListKind::Charges,
        ListKind::Disputes,
        ListKind::CheckoutSessions,
        ListKind::Invoices,
        ListKind::Customers,
        ListKind::Subscriptions,
    ];

    /// A stable, lowercase name (`charges`, `checkout_sessions`, ...) for checkpoints and logs.
    pub fn name(self) -> &'static str {
        match self {
            ListKind::Charges => "charges",
            ListKind::Disputes => "disputes",
            ListKind::CheckoutSessions => "checkout_sessions",
            ListKind::Invoices => "invoices",
            ListKind::PaymentIntents => "payment_intents",
            ListKind::Customers => "customers",
            ListKind::Subscriptions => "subscriptions",
            ListKind::Products => "products",
            ListKind::BalanceTransactions => "balance_transactions",
        }
    }

    /// The kind with this [`name`](Self::name).
    pub fn from_name(name: &str) -> Option<ListKind> {
        ListKind::ALL.into_iter().find(|k| k.name() == name)
    }

    /// The list endpoint's path.
    pub fn path(self) -> &'static str {
        match self {
            ListKind::Charges => "/v1/charges",
            ListKind::Disputes => "/v1/disputes",
            ListKind::CheckoutSessions => "/v1/checkout/sessions",
            ListKind::Invoices => "/v1/invoices",
            ListKind::PaymentIntents => "/v1/payment_intents",
            ListKind::Customers => "/v1/customers",
            ListKind::Subscriptions => "/v1/subscriptions",
            ListKind::Products => "/v1/products",
            ListKind::BalanceTransactions => "/v1/balance_transactions",
        }
    }

    /// The `"object"` tag of the listed objects.
    pub fn object_tag(self) -> &'static str {
        match self {
            ListKind::Charges => "charge",
            ListKind::Disputes => "dispute",
            ListKind::CheckoutSessions => "checkout.session",
            ListKind::Invoices => "invoice",
            ListKind::PaymentIntents => "payment_intent",
            ListKind::Customers => "customer",
            ListKind::Subscriptions => "subscription",
            ListKind::Products => "product",
            ListKind::BalanceTransactions => "balance_transaction",
        }
    }

    /// The kind whose objects carry this `"object"` tag.
    pub fn from_object_tag(tag: &str) -> Option<ListKind> {
        ListKind::ALL.into_iter().find(|k| k.object_tag() == tag)
    }

    /// The `expand[]` values every list request of this kind sends: a PaymentIntent's facts
    /// need its latest charge (billing details, refunds), which the list gives only as an id;
    /// a subscription's MRR needs its discounts' coupons, which it names only by id.
    ///
    /// A subscription's products cannot be expanded in a list: Stripe expands at most four
    /// levels, `data` included, and `data.items.data.price.product` is five (answered with
    /// 400 "You cannot expand more than 4 levels of a property"). The client reads them with
    /// one `GET /v1/products?ids[]=...` per page instead. See
    /// <https://docs.stripe.com/api/expanding_objects>: "Expansions have a maximum depth of
    /// four levels (for example, the deepest expansion allowed when listing charges is
    /// `data.payment_intent.customer.default_source`)".
    pub fn expand(self) -> &'static [&'static str] {
        match self {
            ListKind::PaymentIntents => &["data.latest_charge"],
            ListKind::Subscriptions => &["data.discounts"],
            _ => &[],
        }
    }

    /// The `expand[]` values a retrieve of one object of this kind sends: what
    /// [`expand`](Self::expand) gives a listed object, so a retrieved object has the listed
    /// one's shape. A single subscription can expand its products
    /// (`items.data.price.product` is four levels).
    pub fn retrieve_expand(self) -> &'static [&'static str] {
        match self {
            ListKind::PaymentIntents => &["latest_charge"],
            ListKind::Subscriptions => &["discounts", "items.data.price.product"],
            _ => &[],
        }
    }

    /// Filters every list request of this kind sends: subscriptions are listed whatever their
    /// status (`status=all`), since Stripe leaves canceled ones out by default and a churn
    /// date needs them (<https://docs.stripe.com/api/subscriptions/list#list_subscriptions-status>).
    pub fn list_filters(self) -> &'static [(&'static str, &'static str)] {
        match self {
            ListKind::Subscriptions => &[("status", "all")],
            _ => &[],
        }
    }

    /// The restricted-key permission (Stripe Dashboard name) this endpoint needs, read access.
    pub fn read_permission(self) -> &'static str {
        match self {
            ListKind::Charges => "Charges",
            ListKind::Disputes => "Disputes",
            ListKind::CheckoutSessions => "Checkout Sessions",
            ListKind::Invoices => "Invoices",
            ListKind::PaymentIntents => "PaymentIntents",
            ListKind::Customers => "Customers",
            ListKind::Subscriptions => "Subscriptions",
            ListKind::Products => "Products",
            ListKind::BalanceTransactions => "Balance",
        }
    }

    /// The kind whose endpoint serves `path` (a list path or `/v1/<kind>/<id>`).
    pub fn from_path(path: &str) -> Option<ListKind> {
        ListKind::ALL.into_iter().find(|k| {
            path == k.path()
                || path
                    .strip_prefix(k.path())
                    .is_some_and(|rest| rest.starts_with('/'))
        })
    }
}

/// An object type a list endpoint returns, typed with `stripe-events`.
pub trait Listable: DeserializeOwned + HasId + Send + Sync + 'static {
    /// Where objects of this type are listed.
    const KIND: ListKind;

    /// The object as an event would carry it, for `stripe2hubspot-map`'s `facts_from_object`.
    fn into_object(self) -> EventObject;
}

impl Listable for Charge {
    const KIND: ListKind = ListKind::Charges;
    fn into_object(self) -> EventObject {
        EventObject::Charge(Box::new(self))
    }
}

impl Listable for Dispute {
    const KIND: ListKind = ListKind::Disputes;
    fn into_object(self) -> EventObject {
        EventObject::Dispute(Box::new(self))
    }
}

impl Listable for CheckoutSession {
    const KIND: ListKind = ListKind::CheckoutSessions;
    fn into_object(self) -> EventObject {
        EventObject::CheckoutSession(Box::new(self))
    }
}

impl Listable for Invoice {
    const KIND: ListKind = ListKind::Invoices;
    fn into_object(self) -> EventObject {
        EventObject::Invoice(Box::new(self))
    }
}

impl Listable for PaymentIntent {
    const KIND: ListKind = ListKind::PaymentIntents;
    fn into_object(self) -> EventObject {
        EventObject::PaymentIntent(Box::new(self))
    }
}

impl Listable for Customer {
    const KIND: ListKind = ListKind::Customers;
    fn into_object(self) -> EventObject {
        EventObject::Customer(Box::new(self))
    }
}

impl Listable for Subscription {
    const KIND: ListKind = ListKind::Subscriptions;
    fn into_object(self) -> EventObject {
        EventObject::Subscription(Box::new(self))
    }
}

/// A `created` filter: Unix seconds, both bounds inclusive (`created[gte]`, `created[lte]`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct CreatedRange {
    gte: Option<i64>,
    lte: Option<i64>,
}

impl CreatedRange {
    /// Every object, whenever it was created.
    pub const fn all() -> CreatedRange {
        CreatedRange {
            gte: None,
            lte: None,
        }
    }

    /// Objects created at or after `gte`.
    pub const fn since(gte: i64) -> CreatedRange {
        CreatedRange {
            gte: Some(gte),
            lte: None,
        }
    }

    /// Objects created from `gte` to `lte`, both included; `None` leaves a side open.
    pub fn new(gte: Option<i64>, lte: Option<i64>) -> Result<CreatedRange, Error> {
        if let (Some(from), Some(to)) = (gte, lte) {
            if from > to {
                return Err(Error::InvalidInput(format!(
                    "the created range starts after it ends ({from} > {to}); give the earlier date first"
                )));
            }
        }
        Ok(CreatedRange { gte, lte })
    }

    /// The lower bound.
    pub fn gte(&self) -> Option<i64> {
        self.gte
    }

    /// The upper bound.
    pub fn lte(&self) -> Option<i64> {
        self.lte
    }

    /// Whether a creation time is inside the range.
    pub fn contains(&self, created: i64) -> bool {
        self.gte.is_none_or(|g| created >= g) && self.lte.is_none_or(|l| created <= l)
    }
}

/// One page of a list, newest first as Stripe returns them.
#[derive(Debug, Clone, PartialEq)]
pub struct Page<T> {
    /// The objects on this page.
    pub data: Vec<T>,
    /// Whether older objects remain.
    pub has_more: bool,
    /// The `starting_after` of the next page (the last object's id) while `has_more`; store
    /// it as the checkpoint to resume from.
    pub next_cursor: Option<String>,
    /// Stripe's id of the request that returned this page.
    pub request_id: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_map_paths_tags_and_names_both_ways() {
        for kind in ListKind::ALL {
            assert_eq!(ListKind::from_path(kind.path()), Some(kind));
            assert_eq!(ListKind::from_object_tag(kind.object_tag()), Some(kind));
            assert_eq!(ListKind::from_name(kind.name()), Some(kind));
        }
        assert_eq!(
            ListKind::from_path("/v1/checkout/sessions/cs_1"),
            Some(ListKind::CheckoutSessions)
        );
        assert_eq!(ListKind::from_path("/v1/chargesx"), None);
        assert_eq!(
            ListKind::from_path("/v1/customers/cus_1"),
            Some(ListKind::Customers)
        );
        assert_eq!(ListKind::from_path("/v1/payouts/po_1"), None);
    }

    #[test]
    fn created_ranges_are_inclusive_and_ordered() {
        let r = CreatedRange::new(Some(10), Some(20)).unwrap();
        assert!(r.contains(10) && r.contains(20) && !r.contains(9) && !r.contains(21));
        assert!(CreatedRange::all().contains(i64::MIN));
        assert!(CreatedRange::new(Some(21), Some(20)).is_err());
        assert!(CreatedRange::new(Some(20), Some(20)).is_ok());
    }
}
