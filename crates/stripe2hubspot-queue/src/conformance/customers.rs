//! The customer ledger's behaviour: merges in any order, versions, marks and pages, contact
//! grouping by customer (guest payments included), and GDPR erasure.

use serde_json::json;
use stripe2hubspot_map::{
    CompanyKey, ContactKeySource, CustomerContact, CustomerFacts, CustomerRow, Facts,
    MappingConfig, Personal, Stamp, SubscriptionFacts, SubscriptionStatus,
};

use super::{all_orders, entry, fact, ConformanceFailure, LONG};
use crate::{
    contact_key_of, customer_contact_key, CompanyMember, ContactMark, CustomerEntry, Erasure,
    NewJob, Store,
};

/// The email of the person [`erase_customer_forgets_the_person`] erases; no table of the store
/// may hold it afterwards (a backend's own test can scan its tables for it).
pub const ERASED_EMAIL: &str = "ann@example.com";

/// The name of that person.
pub const ERASED_NAME: &str = "Ann Lee";

/// What a `customer.created` or `.updated` event says: `email` (and a name) at `created`.
fn customer(event_id: &str, created: i64, customer_id: &str, email: &str) -> CustomerFacts {
    CustomerFacts {
        stamp: Stamp {
            created,
            event_id: event_id.to_owned(),
        },
        customer_id: customer_id.to_owned(),
        contact: Some(CustomerContact {
            email: Some(Personal::new(email)),
            name: Some(Personal::new(ERASED_NAME)),
            phone: None,
            business_name: None,
        }),
        deleted: false,
        subscription: None,
    }
}

/// What a `customer.subscription.*` event says: one monthly USD 49 subscription in `status`.
fn subscription(
    event_id: &str,
    created: i64,
    customer_id: &str,
    status: SubscriptionStatus,
) -> Result<CustomerFacts, ConformanceFailure> {
    let subscription: SubscriptionFacts = serde_json::from_value(json!({
        "id": "sub_1", "status": status, "currency": "usd",
        "items": [{"id": "si_1", "price_id": "price_1", "product_id": "prod_1",
            "product_name": "Pro", "unit_amount": 4900, "unit_amount_decimal": "4900",
            "currency": "usd", "interval": "month", "interval_count": 1,
            "usage_type": "licensed", "billing_scheme": "per_unit", "quantity": 1,
            "current_period_end": created + 2_592_000}],
        "discounts": [], "current_period_end": created + 2_592_000, "trial_end": null,
        "cancel_at": null, "ended_at": null, "started_at": created,
    }))
    .map_err(|e| ConformanceFailure(format!("bad test subscription: {e}")))?;
    Ok(CustomerFacts {
        stamp: Stamp {
            created,
            event_id: event_id.to_owned(),
        },
        customer_id: customer_id.to_owned(),
        contact: None,
        deleted: false,
        subscription: Some(subscription),
    })
}

/// A paid, captured USD charge of `amount` by `email`, of the customer `customer_id` (none: a
/// guest payment), with a phone and a name: [`ERASED_NAME`] for the erased person's addresses
/// (which end in `ann@example.com`), another for everyone else.
fn payment(
    event_id: &str,
    created: i64,
    charge: &str,
    amount: i64,
    customer_id: Option<&str>,
    email: &str,
) -> Result<Facts, ConformanceFailure> {
    let name = if email.ends_with(ERASED_EMAIL) {
        ERASED_NAME
    } else {
        "Bob Roe"
    };
    fact(
        event_id,
        created,
        json!({"charge": charge}),
        json!({"contact": {"email": email, "name": name, "phone": "+33 1 23 45 67 89",
                "customer_id": customer_id},
               "currency": "usd", "authorized": amount, "captured": amount,
               "succeeded": true, "paid_at": created}),
    )
}

async fn customer_entry(store: &Store, id: &str) -> Result<CustomerEntry, ConformanceFailure> {
    store
        .state
        .customers(&[id.to_owned()])
        .await?
        .remove(id)
        .ok_or_else(|| ConformanceFailure(format!("no customer row for {id}")))
}

/// The payment keys of the rows indexed under `contact_key`, sorted.
async fn keys_under(store: &Store, contact_key: &str) -> Result<Vec<String>, ConformanceFailure> {
    let rows = store.state.contact_rows(contact_key).await?;
    let mut keys: Vec<String> = rows
        .iter()
        .filter_map(|r| r.key())
        .map(str::to_owned)
        .collect();
    keys.sort();
    Ok(keys)
}

/// Customer and subscription events in any order, in one call or one call per event, with
/// redeliveries, give one row per customer, the row the pure merge gives; the version rises
/// only when the values change (a redelivery or an older event keeps it).
pub async fn customer_merge_order(store: &Store) -> Result<(), ConformanceFailure> {
    let config = MappingConfig::default();
    let state = &*store.state;
    for (n, order) in all_orders(4).into_iter().enumerate() {
        let id = format!("cus_o{n:02}");
        let facts = [
            customer(&format!("evt_a{n}"), 100, &id, "first@example.com"),
            subscription(&format!("evt_b{n}"), 150, &id, SubscriptionStatus::Trialing)?,
            customer(&format!("evt_c{n}"), 200, &id, "second@example.com"),
            subscription(&format!("evt_d{n}"), 250, &id, SubscriptionStatus::Active)?,
        ];
        let expected = facts.iter().fold(CustomerRow::default(), |row, f| {
            row.merge(&CustomerRow::from_facts(f))
        });
        let ordered: Vec<CustomerFacts> = order
            .iter()
            .filter_map(|&i| facts.get(i).cloned())
            .collect();
        let touched = if n % 2 == 0 {
            state.merge_customer_facts(&ordered, &config).await?
        } else {
            let mut last = Vec::new();
            for f in &ordered {
                last = state
                    .merge_customer_facts(std::slice::from_ref(f), &config)
                    .await?;
            }
            last
        };
        ensure!(
            touched.len() == 1 && touched.iter().all(|e| e.customer_id == id),
            "order {order:?}: the call touched {} rows",
            touched.len()
        );
        let got = customer_entry(store, &id).await?;
        ensure!(
            got.row == expected,
            "order {order:?}: stored customer row differs from the pure merge"
        );
        let again = state.merge_customer_facts(&ordered, &config).await?;
        ensure!(
            again.len() == 1
                && again
                    .iter()
                    .all(|e| e.version == got.version && e.row == expected),
            "order {order:?}: a redelivery changed the row or its version"
        );
    }

    // Versions, one step at a time.
    let id = "cus_v";
    let first = customer("evt_v1", 100, id, "first@example.com");
    let second = customer("evt_v2", 200, id, "second@example.com");
    let version = |entries: Vec<CustomerEntry>| entries.first().map_or(-1, |e| e.version);
    let v = version(
        state
            .merge_customer_facts(std::slice::from_ref(&first), &config)
            .await?,
    );
    ensure!(v == 1, "a new customer starts at version 1, got {v}");
    ensure!(
        customer_entry(store, id).await?.is_unwritten(),
        "a new customer is unwritten"
    );
    state.mark_customers_written(&[(id.to_owned(), 1)]).await?;
    let v = version(
        state
            .merge_customer_facts(std::slice::from_ref(&first), &config)
            .await?,
    );
    ensure!(v == 1, "a redelivery raised the version to {v}");
    ensure!(
        !customer_entry(store, id).await?.is_unwritten(),
        "a redelivery made the customer unwritten"
    );
    let v = version(state.merge_customer_facts(&[second], &config).await?);
    ensure!(v == 2, "a new email raises the version to 2, got {v}");
    let v = version(state.merge_customer_facts(&[first], &config).await?);
    ensure!(
        v == 2,
        "an older event changed no value but the version is {v}"
    );
    let row = customer_entry(store, id).await?.row;
    ensure!(
        row.email() == Some("second@example.com"),
        "the newest email wins"
    );
    Ok(())
}

/// `mark_customers_written` never lowers a written version, `reset_customer_written` acts only
/// at the version given, `unwritten_customers` and `customer_rows` list by id and page; a
/// customer first seen through a payment has a row but nothing to write.
pub async fn customer_marks_and_pages(store: &Store) -> Result<(), ConformanceFailure> {
    let config = MappingConfig::default();
    let state = &*store.state;
    let ids: Vec<String> = (1..=5).map(|i| format!("cus_p{i}")).collect();
    let facts: Vec<CustomerFacts> = ids
        .iter()
        .rev()
        .map(|id| customer(&format!("evt_{id}"), 100, id, &format!("{id}@example.com")))
        .collect();
    state.merge_customer_facts(&facts, &config).await?;
    let listed = |entries: Vec<CustomerEntry>| -> Vec<String> {
        entries.into_iter().map(|e| e.customer_id).collect()
    };
    ensure!(
        listed(state.unwritten_customers(10).await?) == ids,
        "every new customer is unwritten, in id order"
    );
    ensure!(
        listed(state.unwritten_customers(2).await?) == ids[..2],
        "unwritten_customers keeps to its limit"
    );
    state
        .mark_customers_written(&[
            (ids[0].clone(), 1),
            (ids[1].clone(), 1),
            ("cus_x".into(), 1),
        ])
        .await?;
    state.mark_customers_written(&[(ids[0].clone(), 0)]).await?;
    ensure!(
        listed(state.unwritten_customers(10).await?) == ids[2..],
        "marked customers are written, a lower mark changes nothing"
    );
    ensure!(
        !state.reset_customer_written(&ids[0], 2).await?,
        "a reset at a version the customer does not have was done"
    );
    ensure!(
        !state.reset_customer_written("cus_unknown", 1).await?,
        "a reset of an unknown customer reported a change"
    );
    ensure!(
        state.reset_customer_written(&ids[0], 1).await?,
        "a reset at the customer's version was refused"
    );
    ensure!(
        customer_entry(store, &ids[0]).await?.is_unwritten(),
        "a reset customer is unwritten"
    );

    // A customer first seen through a payment.
    let paid = payment(
        "evt_pay",
        100,
        "ch_p6",
        1000,
        Some("cus_p6"),
        "p6@example.com",
    )?;
    state.merge_facts(&[paid], &config).await?;
    let fed = customer_entry(store, "cus_p6").await?;
    ensure!(
        fed.version == 0 && !fed.is_unwritten(),
        "a payment's contact data raised the customer's version to {}",
        fed.version
    );

    let mut pages = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let page = state.customer_rows(after.as_deref(), 2).await?;
        if page.is_empty() {
            break;
        }
        ensure!(page.len() <= 2, "a page of {} rows, limit 2", page.len());
        after = page.last().map(|e| e.customer_id.clone());
        pages.extend(listed(page));
        ensure!(pages.len() <= 6, "paging does not end");
    }
    let mut all = ids.clone();
    all.push("cus_p6".into());
    ensure!(
        pages == all,
        "pages list every customer once, in order: {pages:?}"
    );
    let found = state
        .customers(&[ids[2].clone(), "cus_unknown".into()])
        .await?;
    ensure!(
        found.len() == 1 && found.contains_key(&ids[2]),
        "customers() answers the known ids only"
    );
    Ok(())
}

/// The payments of one customer share its contact key whatever email each carries, so an
/// email change never splits its rollups.
pub async fn customer_payments_share_a_contact(store: &Store) -> Result<(), ConformanceFailure> {
    let config = MappingConfig::default();
    let state = &*store.state;
    let key = customer_contact_key("cus_s", &config);
    ensure!(key == "customer=cus_s", "customer key spelled {key}");
    let by_id = MappingConfig {
        contact_key: ContactKeySource::StripeCustomerId,
        ..MappingConfig::default()
    };
    let id_key = customer_contact_key("cus_s", &by_id);
    ensure!(
        id_key == "stripe_customer_id=cus_s",
        "customer key by id property spelled {id_key}"
    );
    let old = payment(
        "evt_s1",
        100,
        "ch_s1",
        1000,
        Some("cus_s"),
        "old@example.com",
    )?;
    let new = payment(
        "evt_s2",
        200,
        "ch_s2",
        2000,
        Some("cus_s"),
        "new@example.com",
    )?;
    let changes = state.merge_facts(&[old, new], &config).await?;
    for change in &changes {
        let own = contact_key_of(&change.entry.row, &config);
        ensure!(
            own.as_deref() == Some(key.as_str()),
            "a customer's payment keyed {own:?}"
        );
    }
    ensure!(
        keys_under(store, &key).await? == ["ch_s1", "ch_s2"],
        "both payments are under the customer's key"
    );
    for email in ["email=old@example.com", "email=new@example.com"] {
        ensure!(
            keys_under(store, email).await?.is_empty(),
            "a customer's payment is also under an email key"
        );
    }
    // A later email on the first payment keeps it where it is.
    let moved = payment(
        "evt_s3",
        300,
        "ch_s1",
        1000,
        Some("cus_s"),
        "third@example.com",
    )?;
    let changes = state.merge_facts(&[moved], &config).await?;
    ensure!(
        changes.iter().all(|c| c.previous_contact_keys.is_empty()),
        "an email change moved a customer's payment"
    );
    ensure!(
        keys_under(store, &key).await?.len() == 2,
        "the customer keeps both payments"
    );
    Ok(())
}

/// A customer's payment that names no email (a card charge often has none) takes the
/// customer's current email: it does not wait for a contact and counts on the customer's. One
/// stored before the customer's email was known waits, and is written on its next event.
pub async fn payment_without_email_takes_its_customers(
    store: &Store,
) -> Result<(), ConformanceFailure> {
    let config = MappingConfig::default();
    let state = &*store.state;
    let no_email = |event_id: &str, created: i64, charge: &str| {
        fact(
            event_id,
            created,
            json!({"charge": charge}),
            json!({"contact": {"customer_id": "cus_f1"}, "currency": "usd",
                   "authorized": 1000, "captured": 1000, "succeeded": true, "paid_at": created}),
        )
    };
    // Before the customer's email is known, the payment waits for a contact.
    let early = state
        .merge_facts(&[no_email("evt_f0", 50, "ch_f0")?], &config)
        .await?;
    ensure!(
        early
            .iter()
            .all(|c| c.entry.row.state(&config).is_waiting()),
        "a payment with neither an email nor a customer email waited for nothing"
    );
    state
        .merge_customer_facts(
            &[customer("evt_fc", 100, "cus_f1", "f1@example.com")],
            &config,
        )
        .await?;
    let changes = state
        .merge_facts(&[no_email("evt_f1", 200, "ch_f1")?], &config)
        .await?;
    let entry = &changes
        .first()
        .ok_or_else(|| ConformanceFailure("the payment's row was not returned".into()))?
        .entry;
    ensure!(
        !entry.row.state(&config).is_waiting() && entry.row.email() == Some("f1@example.com"),
        "a customer's payment without an email did not take the customer's: {:?}",
        entry.row.state(&config)
    );
    // Its next event settles the early one too.
    state
        .merge_facts(&[no_email("evt_f0b", 300, "ch_f0")?], &config)
        .await?;
    ensure!(
        keys_under(store, "customer=cus_f1").await? == ["ch_f0", "ch_f1"],
        "both payments count on the customer's contact"
    );
    ensure!(
        state.waiting_count().await? == 0,
        "a customer's payment still waits for a contact"
    );
    Ok(())
}

/// A guest payment (no customer id) joins the customer whose current email it carries,
/// whichever comes first; the emptied email key's contact mark is removed.
pub async fn guest_payment_joins_customer(store: &Store) -> Result<(), ConformanceFailure> {
    let config = MappingConfig::default();
    let state = &*store.state;

    // Guest first, then the customer gets that email from its own event.
    let guest = payment("evt_g1", 100, "ch_g1", 500, None, "g1@example.com")?;
    state.merge_facts(&[guest], &config).await?;
    ensure!(
        keys_under(store, "email=g1@example.com").await? == ["ch_g1"],
        "a lone guest payment is under its email"
    );
    state
        .record_contact_marks(&[ContactMark {
            contact_key: "email=g1@example.com".into(),
            contact_id: "101".into(),
            properties_hash: "h".into(),
        }])
        .await?;
    state
        .merge_customer_facts(
            &[customer("evt_c1", 200, "cus_g1", "g1@example.com")],
            &config,
        )
        .await?;
    ensure!(
        keys_under(store, "customer=cus_g1").await? == ["ch_g1"]
            && keys_under(store, "email=g1@example.com").await?.is_empty(),
        "the guest payment moved to the customer that has its email"
    );
    ensure!(
        state
            .contact_marks(&["email=g1@example.com".into()])
            .await?
            .is_empty(),
        "the emptied email key kept its contact mark"
    );

    // The customer's email changes: the joined guest payment stays with it, even when a
    // later event touches the payment.
    state
        .merge_customer_facts(
            &[customer("evt_c1b", 300, "cus_g1", "g1-new@example.com")],
            &config,
        )
        .await?;
    let refund = fact(
        "evt_g1r",
        400,
        json!({"charge": "ch_g1"}),
        json!({"refunded": 100}),
    )?;
    let changes = state.merge_facts(&[refund], &config).await?;
    ensure!(
        keys_under(store, "customer=cus_g1").await? == ["ch_g1"]
            && changes.iter().all(|c| c.previous_contact_keys.is_empty()),
        "a joined guest payment left its customer after the customer's email changed"
    );

    // Customer first, then a guest payment with its email.
    state
        .merge_customer_facts(
            &[customer("evt_c2", 100, "cus_g2", "g2@example.com")],
            &config,
        )
        .await?;
    let guest = payment("evt_g2", 200, "ch_g2", 700, None, "g2@example.com")?;
    let changes = state.merge_facts(&[guest], &config).await?;
    ensure!(
        keys_under(store, "customer=cus_g2").await? == ["ch_g2"],
        "a guest payment with a customer's email is under the customer"
    );
    ensure!(
        changes.iter().all(|c| c.previous_contact_keys.is_empty()),
        "a new guest payment moved from no contact"
    );

    // The customer gets the email from one of its payments.
    let guest = payment("evt_g3", 100, "ch_g3", 900, None, "g3@example.com")?;
    let own = payment(
        "evt_g4",
        200,
        "ch_g4",
        300,
        Some("cus_g3"),
        "g3@example.com",
    )?;
    state.merge_facts(&[guest], &config).await?;
    state.merge_facts(&[own], &config).await?;
    ensure!(
        keys_under(store, "customer=cus_g3").await? == ["ch_g3", "ch_g4"],
        "a guest payment joins a customer that got its email from a payment"
    );
    let row = entry(store, "ch_g3").await?;
    ensure!(
        row.row.captured() == Some(900),
        "joining changed the guest payment"
    );
    Ok(())
}

/// `erase_customer` forgets the person in every table: the customer row's contact data (the
/// row kept, deleted), email, name and phone of its payments (amounts kept), the payloads of
/// stored events naming it (ids and amounts kept), the contact marks keyed by its email;
/// events of other people are untouched. An unknown customer gives an empty report.
pub async fn erase_customer_forgets_the_person(store: &Store) -> Result<(), ConformanceFailure> {
    let config = MappingConfig::default();
    let state = &*store.state;
    let queue = &*store.queue;

    // A dead letter of a guest checkout by the person, then pending events.
    let job = |id: &str, payload: serde_json::Value| NewJob {
        event_id: id.to_owned(),
        event_type: "charge.succeeded".to_owned(),
        event_created: 1_700_000_000,
        payload: payload.to_string().into_bytes(),
    };
    queue
        .enqueue(job(
            "evt_dead",
            json!({"id": "evt_dead", "data": {"object": {"id": "ch_e3", "amount": 900,
                "receipt_email": ERASED_EMAIL, "metadata": {"note": "ANN@example.com"}}}}),
        ))
        .await?;
    let dead = queue.reserve(1, LONG).await?;
    for job in &dead {
        queue.dead_letter(job, "HubSpot refused").await?;
    }
    queue
        .enqueue(job(
            "evt_pending",
            json!({"id": "evt_pending", "data": {"object": {"id": "ch_e1", "amount": 4900,
                "customer": "cus_e", "status": "succeeded",
                "billing_details": {"email": ERASED_EMAIL, "name": ERASED_NAME}}}}),
        ))
        .await?;
    let other = json!({"id": "evt_other", "data": {"object": {"id": "ch_o", "amount": 100,
        "customer": "cus_other", "billing_details": {"email": "bob@example.com"}}}});
    queue.enqueue(job("evt_other", other.clone())).await?;

    state
        .merge_customer_facts(&[customer("evt_c", 100, "cus_e", ERASED_EMAIL)], &config)
        .await?;
    let payments = [
        payment("evt_e1", 200, "ch_e1", 4900, Some("cus_e"), ERASED_EMAIL)?,
        payment(
            "evt_e2",
            150,
            "ch_e2",
            2500,
            Some("cus_e"),
            "old-ann@example.com",
        )?,
        payment("evt_e3", 300, "ch_e3", 900, None, ERASED_EMAIL)?,
        payment(
            "evt_o",
            300,
            "ch_o",
            100,
            Some("cus_other"),
            "bob@example.com",
        )?,
    ];
    state.merge_facts(&payments, &config).await?;
    let mark = |key: &str| ContactMark {
        contact_key: key.to_owned(),
        contact_id: "7".into(),
        properties_hash: "h".into(),
    };
    state
        .record_contact_marks(&[
            mark(&format!("email={ERASED_EMAIL}")),
            mark("email=old-ann@example.com"),
            mark("customer=cus_e"),
            mark("customer=cus_other"),
        ])
        .await?;

    // Company memberships keyed by the person's emails: gone with the erasure.
    let member = |contact_key: &str, contact_id: &str| CompanyMember {
        contact_key: contact_key.to_owned(),
        company: Some(CompanyKey::Domain("example.com".into())),
        contact_id: contact_id.to_owned(),
        deal_ids: vec![format!("deal_{contact_id}")],
    };
    state
        .note_company_members(&[
            member(&format!("email={ERASED_EMAIL}"), "7"),
            member("email=old-ann@example.com", "8"),
            member("customer=cus_e", "9"),
            member("customer=cus_other", "10"),
        ])
        .await?;

    let erasure = state.erase_customer("cus_e", &config).await?;
    let members: Vec<String> = state
        .dirty_companies(10)
        .await?
        .into_iter()
        .flat_map(|work| work.members)
        .collect();
    ensure!(
        members == ["customer=cus_other"],
        "company members after the erasure: {} (want only customer=cus_other)",
        members.len()
    );
    ensure!(
        erasure.payments == 3 && erasure.events == 2,
        "erased {} payments and {} events, want 3 and 2",
        erasure.payments,
        erasure.events
    );
    ensure!(
        erasure.contact_keys == ["customer=cus_e"],
        "erasure names the contact keys {:?}",
        erasure.contact_keys
    );

    let mentions = |text: &str| {
        let text = text.to_lowercase();
        text.contains(ERASED_EMAIL) || text.contains(&ERASED_NAME.to_lowercase())
    };
    let mut after = None;
    loop {
        let page = state.ledger_rows(after.as_deref(), 10).await?;
        let Some(last) = page.last() else { break };
        after = Some(last.key.clone());
        for e in &page {
            let text = serde_json::to_string(&e.row)
                .map_err(|e| ConformanceFailure(format!("row json: {e}")))?;
            if e.key != "ch_o" {
                ensure!(!mentions(&text), "payment {} still names the person", e.key);
            }
        }
    }
    for (key, amount) in [("ch_e1", 4900), ("ch_e2", 2500), ("ch_e3", 900)] {
        let got = entry(store, key).await?;
        ensure!(
            got.row.captured() == Some(amount) && got.row.email().is_none(),
            "payment {key} lost its amount or kept its email"
        );
    }
    ensure!(
        entry(store, "ch_o").await?.row.email() == Some("bob@example.com"),
        "another customer's payment was erased"
    );
    for e in state.customer_rows(None, 100).await? {
        let text = serde_json::to_string(&e.row)
            .map_err(|e| ConformanceFailure(format!("row json: {e}")))?;
        ensure!(
            !mentions(&text),
            "customer {} still names the person",
            e.customer_id
        );
    }
    let erased = customer_entry(store, "cus_e").await?;
    ensure!(
        erased.row.email().is_none() && erased.row.is_deleted() && !erased.is_unwritten(),
        "the erased customer shows an email, is not marked deleted, or waits to be written"
    );

    for letter in store.admin.dead_letters(10, None).await? {
        let text = String::from_utf8_lossy(&letter.payload).to_string();
        ensure!(!mentions(&text), "a dead letter still names the person");
        ensure!(
            text.contains("\"amount\":900"),
            "the dead letter lost its amount"
        );
    }
    for job in queue.reserve(10, LONG).await? {
        let text = String::from_utf8_lossy(&job.payload).to_string();
        ensure!(!mentions(&text), "{} still names the person", job.event_id);
        if job.event_id == "evt_other" {
            ensure!(
                job.payload == other.to_string().into_bytes(),
                "another person's event was redacted"
            );
        } else {
            ensure!(
                text.contains("\"amount\":4900") && text.contains("cus_e"),
                "the redacted event lost its ids or amount"
            );
        }
    }
    let marks = state
        .contact_marks(&[
            format!("email={ERASED_EMAIL}"),
            "email=old-ann@example.com".into(),
            "customer=cus_other".into(),
        ])
        .await?;
    ensure!(
        marks.len() == 1 && marks.contains_key("customer=cus_other"),
        "contact marks keyed by the person's emails remain: {:?}",
        marks
            .keys()
            .filter(|k| !k.contains('@'))
            .collect::<Vec<_>>()
    );
    ensure!(
        keys_under(store, &format!("email={ERASED_EMAIL}"))
            .await?
            .is_empty()
            && keys_under(store, "customer=cus_e").await? == ["ch_e1", "ch_e2", "ch_e3"],
        "the erased payments are grouped under the customer only"
    );

    // A later event without contact data does not bring the person back.
    state
        .merge_customer_facts(
            &[subscription(
                "evt_later",
                400,
                "cus_e",
                SubscriptionStatus::Active,
            )?],
            &config,
        )
        .await?;
    ensure!(
        customer_entry(store, "cus_e").await?.row.email().is_none(),
        "a later subscription event brought the email back"
    );

    let unknown = state.erase_customer("cus_unknown", &config).await?;
    ensure!(
        unknown == Erasure::default(),
        "erasing an unknown customer reported {unknown:?}"
    );
    ensure!(
        entry(store, "ch_o").await?.row.email() == Some("bob@example.com"),
        "erasing an unknown customer changed another's payment"
    );
    Ok(())
}

/// `forget_contact_marks` removes the marks of the keys given and no other; unknown keys and
/// an empty list change nothing.
pub async fn contact_marks_forgotten(store: &Store) -> Result<(), ConformanceFailure> {
    let state = &*store.state;
    let mark = |key: &str| ContactMark {
        contact_key: key.to_owned(),
        contact_id: "9".into(),
        properties_hash: "h".into(),
    };
    state
        .record_contact_marks(&[mark("customer=cus_f1"), mark("customer=cus_f2")])
        .await?;
    state.forget_contact_marks(&[]).await?;
    state
        .forget_contact_marks(&["customer=cus_f1".into(), "customer=cus_unknown".into()])
        .await?;
    let left = state
        .contact_marks(&["customer=cus_f1".into(), "customer=cus_f2".into()])
        .await?;
    let mut keys: Vec<&String> = left.keys().collect();
    keys.sort();
    ensure!(
        keys == ["customer=cus_f2"],
        "after forgetting cus_f1 the marks are {keys:?}"
    );
    Ok(())
}
