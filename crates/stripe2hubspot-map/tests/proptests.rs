//! Properties that hold for every input, not just the hand-picked ones.

use proptest::prelude::*;
use stripe2hubspot_map::{
    contact_properties, deal_properties, facts_from_event, FactsOutcome, LedgerRow, MappingConfig,
    NameSplit, PaymentState,
};
use stripe_events::{
    BillingDetails, Charge, ChargeStatus, Currency, Customer, Event, EventData, EventObject,
    Expandable, Metadata, Money, PaymentIntent, PaymentIntentStatus,
};

fn currency() -> impl Strategy<Value = Currency> {
    prop_oneof![
        prop::sample::select(vec!["usd", "jpy", "kwd", "eur", "bhd", "krw", "clp", "tnd"])
            .prop_map(str::to_owned),
        "[a-zA-Z]{3}".prop_map(|s: String| s),
    ]
    .prop_map(|code| Currency::new(&code).unwrap())
}

/// Any text, including empty, whitespace-only and non-ASCII.
fn text() -> impl Strategy<Value = String> {
    prop_oneof![
        "",
        " +",
        "\\PC{0,12}",
        "[a-zA-Z .@_-]{0,20}",
        "[ \\t]*[a-z]{1,5}@[a-z]{1,5}\\.[a-z]{2}[ ]*"
    ]
}

/// Mostly something that looks like an email, with odd spacing and case.
fn email() -> BoxedStrategy<Option<String>> {
    prop::option::weighted(
        0.8,
        prop_oneof![3 => "[ \\t]*[a-zA-Z.]{1,5}@[a-zA-Z]{1,5}\\.[a-z]{2}[ ]*", 1 => text()],
    )
    .boxed()
}

fn customer() -> BoxedStrategy<Option<Expandable<Customer>>> {
    let object = (
        text(),
        prop::option::of(text()),
        prop::option::of(text()),
        any::<bool>(),
    )
        .prop_map(|(id, email, phone, deleted)| {
            Expandable::Object(Box::new(Customer {
                id,
                email,
                name: None,
                business_name: None,
                individual_name: None,
                phone,
                description: None,
                address: None,
                currency: None,
                metadata: Metadata::new(),
                created: None,
                deleted,
            }))
        });
    prop::option::of(prop_oneof![text().prop_map(Expandable::Id), object]).boxed()
}

fn metadata() -> impl Strategy<Value = Metadata> {
    prop::collection::btree_map(
        prop::sample::select(vec!["company", "lifecycle_stage", "deal_name", "other"])
            .prop_map(str::to_owned),
        text(),
        0..4,
    )
}

fn billing() -> BoxedStrategy<BillingDetails> {
    (email(), prop::option::of(text()), prop::option::of(text()))
        .prop_map(|(email, name, phone)| BillingDetails {
            email,
            name,
            phone,
            address: None,
        })
        .boxed()
}

fn status() -> BoxedStrategy<ChargeStatus> {
    prop_oneof![
        3 => Just(ChargeStatus::Succeeded),
        1 => prop::sample::select(vec![ChargeStatus::Failed, ChargeStatus::Pending, ChargeStatus::Other]),
    ]
    .boxed()
}

// Grouped and boxed: one flat 16-way tuple strategy overflows the test thread's stack.
fn arb_charge() -> BoxedStrategy<Charge> {
    let ids = (text(), prop::option::of(text()), customer()).boxed();
    // Mostly real dates (years 1970-9999), sometimes any i64 (unrepresentable).
    let created = prop_oneof![4 => 0i64..253_402_300_799, 1 => any::<i64>()];
    let amounts = (any::<i64>(), any::<i64>(), currency(), created).boxed();
    let texts = (
        prop::option::of(text()),
        prop::option::of(text()),
        prop::option::of(text()),
        metadata(),
    )
        .boxed();
    (
        ids,
        amounts,
        billing(),
        texts,
        status(),
        (prop::bool::weighted(0.2), prop::bool::weighted(0.9)),
    )
        .prop_map(
            |(
                (id, payment_intent, customer),
                (amount, amount_captured, currency, created),
                billing_details,
                (receipt_email, receipt_url, description, metadata),
                status,
                (refunded, captured),
            )| Charge {
                id,
                amount,
                amount_captured,
                amount_refunded: 0,
                currency,
                customer,
                billing_details,
                receipt_email,
                receipt_url,
                description,
                metadata,
                payment_intent: payment_intent.map(Expandable::Id),
                status,
                paid: true,
                captured,
                refunded,
                disputed: false,
                invoice: None,
                balance_transaction: None,
                created,
                livemode: false,
            },
        )
        .boxed()
}

fn arb_intent() -> impl Strategy<Value = PaymentIntent> {
    (
        arb_charge(),
        text(),
        any::<i64>(),
        prop::option::of(text()),
        any::<bool>(),
    )
        .prop_map(
            |(charge, id, amount_received, receipt_email, expanded)| PaymentIntent {
                id,
                amount: charge.amount,
                amount_received,
                currency: charge.currency,
                customer: charge.customer.clone(),
                receipt_email,
                description: None,
                metadata: charge.metadata.clone(),
                status: PaymentIntentStatus::Succeeded,
                invoice: None,
                created: charge.created,
                livemode: false,
                latest_charge: Some(if expanded {
                    Expandable::Object(Box::new(charge))
                } else {
                    Expandable::Id(charge.id)
                }),
            },
        )
}

fn envelope(type_: &str, object: EventObject, created: i64) -> Event {
    Event {
        id: "evt_prop".to_owned(),
        type_: type_.to_owned(),
        created,
        livemode: false,
        api_version: None,
        account: None,
        data: EventData {
            object,
            previous_attributes: None,
        },
    }
}

fn config() -> impl Strategy<Value = MappingConfig> {
    prop::sample::select(vec![
        NameSplit::LastWordIsLastName,
        NameSplit::FirstWordIsFirstName,
        NameSplit::FirstnameOnly,
    ])
    .prop_flat_map(|name_split| {
        prop::sample::select(vec![
            MappingConfig::default(),
            MappingConfig::with_closed_won_lead_status(),
        ])
        .prop_map(move |config| MappingConfig {
            name_split,
            deal_currency_code: true,
            ..config
        })
    })
}

proptest! {
    #[test]
    fn decimal_strings_parse_back_to_the_same_minor_units(minor in any::<i64>(), currency in currency()) {
        let money = Money::new(minor, currency);
        let parsed = Money::parse_decimal(&money.to_decimal_string(), currency).unwrap();
        prop_assert_eq!(parsed, money);
    }

    #[test]
    fn derived_amounts_parse_back_to_the_charge_amount(amount in 1..i64::MAX, currency in currency()) {
        let charge = Charge {
            id: "ch_1".into(), amount, amount_captured: 0, amount_refunded: 0, currency,
            customer: None,
            billing_details: BillingDetails { email: Some("a@b.co".into()), ..Default::default() },
            receipt_email: None, receipt_url: None, description: None, metadata: Metadata::new(),
            payment_intent: None, status: ChargeStatus::Succeeded, paid: true, captured: true, refunded: false,
            disputed: false, invoice: None, balance_transaction: None, created: 1_700_000_000, livemode: false,
        };
        let event = envelope("charge.succeeded", EventObject::Charge(Box::new(charge)), 1);
        let config = MappingConfig::default();
        let FactsOutcome::Facts(facts) = facts_from_event(&event, &config).unwrap() else {
            panic!("a succeeded charge must give facts");
        };
        let row = LedgerRow::from_facts(&facts);
        let deal = deal_properties(&row, &config).expect("a captured charge with an email is settled");
        let decimal = deal.get("amount").unwrap();
        prop_assert_eq!(Money::parse_decimal(decimal, currency).unwrap().minor, amount);
        let with_code = format!("{decimal} {}", currency.iso_code());
        prop_assert_eq!(deal.get("stripe_amount_currency"), Some(with_code.as_str()));
        let contact = contact_properties(&[row], &config).unwrap();
        prop_assert_eq!(contact.get("last_charge_amount"), Some(decimal));
    }

    #[test]
    fn charges_never_panic_and_map_deterministically(charge in arb_charge(), config in config(), created in any::<i64>()) {
        let event = envelope("charge.succeeded", EventObject::Charge(Box::new(charge)), created);
        let first = facts_from_event(&event, &config);
        prop_assert_eq!(&first, &facts_from_event(&event, &config));
        if let Ok(FactsOutcome::Facts(facts)) = &first {
            let row = LedgerRow::from_facts(facts);
            let key = row.key().expect("facts always name a payment id");
            prop_assert!(!key.is_empty() && key.trim() == key);
            let deal = deal_properties(&row, &config);
            let contact = contact_properties(std::slice::from_ref(&row), &config);
            prop_assert_eq!(deal.is_some(), matches!(row.state(&config), PaymentState::Settled(_)));
            prop_assert_eq!(deal.is_some(), contact.is_some());
            if let (Some(deal), Some(contact)) = (deal, contact) {
                prop_assert_eq!(deal.get("stripe_payment_id"), Some(key));
                prop_assert!(deal.iter().all(|(_, v)| !v.value.is_empty()));
                // Only values that clear what an older payment wrote may be empty.
                let clearable = [
                    "last_charge_id",
                    "last_charge_receipt",
                    "stripe_first_payment_date",
                    "stripe_last_payment_date",
                ];
                for (name, v) in contact.iter() {
                    prop_assert!(!v.value.is_empty() || clearable.contains(&name), "{name} is empty");
                }
                prop_assert_eq!(contact.get("email"), row.email());
            }
        }
        // The same event after a trip through JSON (as the queue stores it) maps the same.
        let json = serde_json::to_string(&event).unwrap();
        let reparsed: Event = serde_json::from_str(&json).unwrap();
        if reparsed == event {
            prop_assert_eq!(first, facts_from_event(&reparsed, &config));
        }
    }

    #[test]
    fn payment_intents_never_panic_and_key_deals_by_intent(intent in arb_intent(), config in config()) {
        let id = intent.id.trim().to_owned();
        let event = envelope("payment_intent.succeeded", EventObject::PaymentIntent(Box::new(intent)), 1_700_000_000);
        let first = facts_from_event(&event, &config);
        prop_assert_eq!(&first, &facts_from_event(&event, &config));
        if let Ok(FactsOutcome::Facts(facts)) = first {
            if !id.is_empty() {
                let row = LedgerRow::from_facts(&facts);
                prop_assert_eq!(row.key(), Some(id.as_str()));
                if let Some(deal) = deal_properties(&row, &config) {
                    prop_assert_eq!(deal.get("stripe_payment_id"), Some(id.as_str()));
                }
            }
        }
    }
}
