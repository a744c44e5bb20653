//! The client stays under its read rate, counted where the requests arrive.
#![cfg(feature = "fake")]

use std::time::{Duration, Instant};

use stripe2hubspot_stripe::fake::{objects, FakeStripe};
use stripe2hubspot_stripe::{CreatedRange, ListKind};
use stripe_events::Charge;

#[tokio::test]
async fn no_second_at_the_fake_holds_more_than_the_read_rate() {
    const RATE: u32 = 8;
    let fake = FakeStripe::start().await;
    fake.insert_all(objects::history(5, 1_700_000_000).all())
        .unwrap();
    let client = fake.client_builder().read_rate(RATE).build().unwrap();
    let started = Instant::now();
    // Concurrent callers share one pacer through clones of the client.
    let mut tasks = Vec::new();
    for worker in 0..4 {
        let client = client.clone();
        tasks.push(tokio::spawn(async move {
            for i in 0..7 {
                if (worker + i) % 2 == 0 {
                    client
                        .list_page::<Charge>(CreatedRange::all(), None)
                        .await
                        .unwrap();
                } else {
                    client
                        .list_objects(ListKind::PaymentIntents, CreatedRange::all(), None)
                        .await
                        .unwrap();
                }
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let mut times: Vec<Instant> = fake.requests().iter().map(|r| r.at).collect();
    times.sort();
    assert_eq!(times.len(), 28);
    for (i, start) in times.iter().enumerate() {
        let in_window = times[i..]
            .iter()
            .take_while(|t| t.duration_since(*start) < Duration::from_secs(1))
            .count();
        assert!(
            in_window <= RATE as usize,
            "{in_window} requests within one second of request {i}"
        );
    }
    // 28 requests at 8/s need at least 27/8 s; a generous upper bound catches a stuck pacer.
    let elapsed = started.elapsed();
    assert!(
        elapsed >= Duration::from_secs(3) && elapsed < Duration::from_secs(60),
        "{elapsed:?}"
    );
}
