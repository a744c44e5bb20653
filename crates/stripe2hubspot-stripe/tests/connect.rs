//! A client made for a connected account sends `Stripe-Account` on every request and reads
//! that account's objects alone; the platform's client sends none.
#![cfg(feature = "fake")]

use stripe2hubspot_stripe::fake::{objects, FakeStripe};
use stripe2hubspot_stripe::{CreatedRange, Error};
use stripe_events::Charge;

const T0: i64 = 1_700_000_000;

#[tokio::test]
async fn a_client_for_an_account_sends_stripe_account_and_reads_only_that_account() {
    let fake = FakeStripe::start().await;
    fake.insert(objects::charge("ch_platform", T0, 100, "usd"))
        .unwrap();
    fake.insert_for_account("acct_A1", objects::charge("ch_a", T0 + 1, 200, "usd"))
        .unwrap();
    fake.insert_for_account("acct_B2", objects::charge("ch_b", T0 + 2, 300, "usd"))
        .unwrap();
    let platform = fake.client().unwrap();
    let a = platform.for_account("acct_A1").unwrap();
    assert_eq!(a.account(), Some("acct_A1"));
    assert_eq!(platform.account(), None, "the original is unchanged");

    let ids = |charges: Vec<Charge>| charges.into_iter().map(|c| c.id).collect::<Vec<_>>();
    let of_a = a
        .pager::<Charge>(CreatedRange::all(), None)
        .collect_all()
        .await;
    assert_eq!(ids(of_a.unwrap()), ["ch_a"]);
    let of_b = platform
        .for_account("acct_B2")
        .unwrap()
        .pager::<Charge>(CreatedRange::all(), None)
        .collect_all()
        .await;
    assert_eq!(ids(of_b.unwrap()), ["ch_b"]);
    let own = platform
        .pager::<Charge>(CreatedRange::all(), None)
        .collect_all()
        .await;
    assert_eq!(ids(own.unwrap()), ["ch_platform"]);

    // Retrieval by id is scoped the same way: another account's charge is not found.
    assert!(a.retrieve_by_id::<Charge>("ch_a").await.is_ok());
    assert!(matches!(
        a.retrieve_by_id::<Charge>("ch_b").await,
        Err(Error::NotFound { .. })
    ));

    let sent: Vec<Option<String>> = fake
        .requests()
        .into_iter()
        .map(|r| r.stripe_account)
        .collect();
    assert_eq!(
        sent,
        [
            Some("acct_A1".to_owned()),
            Some("acct_B2".to_owned()),
            None,
            Some("acct_A1".to_owned()),
            Some("acct_A1".to_owned()),
        ]
    );
}

#[tokio::test]
async fn an_account_id_that_is_not_acct_is_refused_before_any_request() {
    let fake = FakeStripe::start().await;
    let platform = fake.client().unwrap();
    for bad in ["", "acct_", "cus_1", "acct_1\r\nX-Evil: 1", "acct_1/acct_2"] {
        assert!(
            matches!(platform.for_account(bad), Err(Error::InvalidInput(_))),
            "{bad:?}"
        );
    }
    assert_eq!(fake.requests().len(), 0);
}
