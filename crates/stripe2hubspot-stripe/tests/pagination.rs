//! Paging through the fake Stripe: every object once, filters, cursors and checkpoints.
#![cfg(feature = "fake")]

use std::collections::BTreeSet;

use stripe2hubspot_stripe::fake::{objects, FakeStripe};
use stripe2hubspot_stripe::{CreatedRange, ListKind, StripeClient};
use stripe_events::{Charge, EventObject};

const T0: i64 = 1_700_000_000;

async fn fake_with_charges(count: usize) -> (FakeStripe, StripeClient) {
    let fake = FakeStripe::start().await;
    fake.insert_all(objects::history(count, T0).charges)
        .unwrap();
    let client = fake.client().unwrap();
    (fake, client)
}

#[tokio::test]
async fn eleven_pages_list_every_charge_once_newest_first() {
    let (fake, client) = fake_with_charges(1_050).await;
    let mut pager = client.pager::<Charge>(CreatedRange::all(), None);
    let mut ids = Vec::new();
    let mut sizes = Vec::new();
    while let Some(page) = pager.next_page().await.unwrap() {
        sizes.push(page.data.len());
        assert!(page
            .request_id
            .as_deref()
            .is_some_and(|r| r.starts_with("req_")));
        ids.extend(page.data.into_iter().map(|c| (c.created, c.id)));
    }
    assert_eq!(sizes.len(), 11);
    assert!(
        sizes[..10].iter().all(|&n| n == 100) && sizes[10] == 50,
        "{sizes:?}"
    );
    assert!(pager.is_done() && pager.cursor().is_none());
    let unique: BTreeSet<_> = ids.iter().map(|(_, id)| id.clone()).collect();
    assert_eq!(unique.len(), 1_050);
    assert!(ids.windows(2).all(|w| w[0].0 >= w[1].0), "newest first");

    let requests = fake.requests();
    assert_eq!(requests.len(), 11);
    assert!(requests.iter().all(|r| r.param("limit") == Some("100")));
    assert_eq!(requests[0].param("starting_after"), None);
    for (i, r) in requests.iter().enumerate().skip(1) {
        let previous_last = &ids[i * 100 - 1].1;
        assert_eq!(r.param("starting_after"), Some(previous_last.as_str()));
    }
    // Nothing more is requested once the list is exhausted.
    assert!(pager.next_page().await.unwrap().is_none());
    assert_eq!(fake.total_requests(), 11);
}

#[tokio::test]
async fn created_filters_are_inclusive_and_sent_as_stripe_parameters() {
    let (fake, client) = fake_with_charges(300).await;
    // Charges are a minute apart: [T0 + 60*10, T0 + 60*249] holds charges 10..=249.
    let range = CreatedRange::new(Some(T0 + 600), Some(T0 + 60 * 249)).unwrap();
    let charges = client
        .pager::<Charge>(range, None)
        .collect_all()
        .await
        .unwrap();
    assert_eq!(charges.len(), 240);
    assert!(charges.iter().all(|c| range.contains(c.created)));
    let ids: BTreeSet<_> = charges.iter().map(|c| c.id.clone()).collect();
    assert!(ids.contains("ch_000010") && ids.contains("ch_000249"));
    assert!(!ids.contains("ch_000009") && !ids.contains("ch_000250"));
    let first = &fake.requests()[0];
    assert_eq!(first.param("created[gte]"), Some("1700000600"));
    assert_eq!(first.param("created[lte]"), Some("1700014940"));

    let since = client
        .list_page::<Charge>(CreatedRange::since(T0 + 60 * 295), None)
        .await
        .unwrap();
    assert_eq!(since.data.len(), 5);
    assert!(!since.has_more && since.next_cursor.is_none());
    assert!(CreatedRange::new(Some(2), Some(1)).is_err());
}

#[tokio::test]
async fn a_stored_cursor_resumes_where_the_walk_stopped() {
    let (fake, client) = fake_with_charges(730).await;
    let mut first = client.pager::<Charge>(CreatedRange::all(), None);
    let mut seen = BTreeSet::new();
    for _ in 0..3 {
        let page = first.next_page().await.unwrap().unwrap();
        seen.extend(page.data.into_iter().map(|c| c.id));
    }
    let checkpoint = first.cursor().map(str::to_owned);
    assert!(checkpoint.is_some());
    drop(first); // the process "crashes" here

    let rest = client
        .pager::<Charge>(CreatedRange::all(), checkpoint)
        .collect_all()
        .await
        .unwrap();
    assert_eq!(rest.len(), 430);
    for c in rest {
        assert!(seen.insert(c.id), "an object was listed twice");
    }
    assert_eq!(seen.len(), 730);
    assert_eq!(fake.request_count("/v1/charges"), 8);
}

#[tokio::test]
async fn object_pages_type_each_kind_and_keep_odd_objects() {
    let fake = FakeStripe::start().await;
    let h = objects::history(30, T0);
    fake.insert_all(h.all()).unwrap();
    let mut odd = objects::charge("ch_odd", T0 - 10, 100, "usd");
    odd["amount"] = serde_json::json!("not a number");
    fake.insert(odd).unwrap();
    let client = fake.client().unwrap();

    let mut pager = client.object_pager(ListKind::Charges, CreatedRange::all(), None);
    let page = pager.next_objects().await.unwrap().unwrap();
    assert_eq!(page.data.len(), 31);
    let unknown: Vec<_> = page
        .data
        .iter()
        .filter(|o| matches!(o, EventObject::Unknown(_)))
        .collect();
    assert_eq!(unknown.len(), 1);
    assert_eq!(unknown[0].id(), Some("ch_odd"));
    // The strict, typed page refuses it and names the object, not its content.
    let err = client
        .list_page::<Charge>(CreatedRange::all(), None)
        .await
        .unwrap_err();
    let msg = err.to_string();
    assert!(msg.contains("ch_odd") && msg.contains("amount"), "{msg}");
    assert!(!msg.contains("not a number"), "{msg}");

    let intents = client
        .list_objects(ListKind::PaymentIntents, CreatedRange::all(), None)
        .await
        .unwrap();
    assert_eq!(intents.data.len(), 30);
    let last = fake.requests().pop().unwrap();
    assert_eq!(last.params("expand[]"), vec!["data.latest_charge"]);
    for object in &intents.data {
        let EventObject::PaymentIntent(pi) = object else {
            panic!("expected a PaymentIntent, got {object:?}");
        };
        let charge = pi.latest_charge.as_ref().and_then(|c| c.as_object());
        assert!(charge.is_some_and(|c| c.billing_details.email.is_some()));
    }
}

#[tokio::test]
async fn an_unknown_cursor_is_stripes_400_and_a_malformed_one_is_refused_locally() {
    let (fake, client) = fake_with_charges(5).await;
    let err = client
        .list_page::<Charge>(CreatedRange::all(), Some("ch_missing"))
        .await
        .unwrap_err();
    let msg = err.to_string();
    assert!(
        msg.contains("400") && msg.contains("ch_missing") && msg.contains("req_fake"),
        "{msg}"
    );
    let before = fake.total_requests();
    assert!(client
        .list_page::<Charge>(CreatedRange::all(), Some("ch_1&limit=5"))
        .await
        .is_err());
    assert_eq!(fake.total_requests(), before);
}
