//! What the client logs names endpoints, statuses and request ids, never the key.
#![cfg(feature = "fake")]

use std::io::Write;
use std::sync::{Arc, Mutex};

use stripe2hubspot_stripe::fake::{objects, Failure, FakeStripe};
use stripe2hubspot_stripe::{CreatedRange, StripeClient};
use stripe_events::Charge;

#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test]
async fn debug_logs_of_retries_and_refusals_never_contain_the_key() {
    let captured = Captured::default();
    let sink = captured.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_writer(move || sink.clone())
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);

    let fake = FakeStripe::start().await;
    fake.insert_all(objects::history(120, 1_700_000_000).charges)
        .unwrap();
    fake.fail_at(2, Failure::server_error());
    let client = fake.client().unwrap();
    let all = client
        .pager::<Charge>(CreatedRange::all(), None)
        .collect_all()
        .await
        .unwrap();
    assert_eq!(all.len(), 120);
    let wrong = StripeClient::builder("sk_test_NeverLogMe1234567890")
        .base_url(fake.base_url())
        .build()
        .unwrap();
    assert!(wrong
        .list_page::<Charge>(CreatedRange::all(), None)
        .await
        .is_err());

    let text =
        String::from_utf8(captured.0.lock().unwrap_or_else(|p| p.into_inner()).clone()).unwrap();
    assert!(
        text.contains("req_fake"),
        "the logs name request ids: {text}"
    );
    assert!(text.contains("retrying"), "{text}");
    for secret in [fake.key(), "NeverLogMe".to_owned(), "Bearer".to_owned()] {
        assert!(!text.contains(&secret), "{secret} leaked into the logs");
    }
}
