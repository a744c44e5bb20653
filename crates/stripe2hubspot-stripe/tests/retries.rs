//! 429s, 5xx and broken answers mid-pagination: the listing still finishes, complete.
#![cfg(feature = "fake")]

use std::collections::BTreeSet;
use std::time::Duration;

use stripe2hubspot_stripe::fake::{objects, Failure, FakeStripe};
use stripe2hubspot_stripe::{CreatedRange, Error, RetryPolicy, StripeClient};
use stripe_events::Charge;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

const T0: i64 = 1_700_000_000;

async fn all_ids(client: &StripeClient) -> Result<BTreeSet<String>, Error> {
    let charges = client
        .pager::<Charge>(CreatedRange::all(), None)
        .collect_all()
        .await?;
    Ok(charges.into_iter().map(|c| c.id).collect())
}

#[tokio::test]
async fn a_429_then_success_finishes_the_listing() {
    let fake = FakeStripe::start().await;
    fake.insert_all(objects::history(350, T0).charges).unwrap();
    fake.fail_at(2, Failure::rate_limited());
    fake.fail_at(3, Failure::rate_limited());
    let ids = all_ids(&fake.client().unwrap()).await.unwrap();
    assert_eq!(ids.len(), 350);
    let statuses: Vec<u16> = fake.requests().iter().map(|r| r.status).collect();
    assert_eq!(statuses, vec![200, 429, 429, 200, 200, 200]);
    let requests = fake.requests();
    // The retried request is the same page request.
    assert_eq!(requests[1].query, requests[3].query);
}

#[tokio::test]
async fn a_500_mid_pagination_then_success_finishes_the_listing() {
    let fake = FakeStripe::start().await;
    fake.insert_all(objects::history(1_000, T0).charges)
        .unwrap();
    fake.fail_at(6, Failure::server_error());
    fake.fail_at(7, Failure::status(503));
    let ids = all_ids(&fake.client().unwrap()).await.unwrap();
    assert_eq!(ids.len(), 1_000);
    let requests = fake.requests();
    assert_eq!(requests.len(), 12);
    assert_eq!(
        (requests[5].status, requests[6].status, requests[7].status),
        (500, 503, 200)
    );
    assert_eq!(
        requests[5].param("starting_after"),
        requests[7].param("starting_after")
    );
}

#[tokio::test]
async fn persistent_failures_stop_after_the_retry_budget_and_say_so() {
    let fake = FakeStripe::start().await;
    fake.insert_all(objects::history(10, T0).charges).unwrap();
    fake.fail_next(3, Failure::server_error());
    let client = fake
        .client_builder()
        .retry_policy(RetryPolicy::new(
            2,
            Duration::from_millis(1),
            Duration::from_millis(5),
        ))
        .build()
        .unwrap();
    let err = all_ids(&client).await.unwrap_err();
    assert!(
        matches!(
            err,
            Error::Server {
                status: 500,
                attempts: 3,
                ..
            }
        ),
        "{err:?}"
    );
    assert_eq!(err.request_id(), Some("req_fake00000003"));
    assert!(err.is_transient());
    assert_eq!(fake.total_requests(), 3);

    fake.fail_next(3, Failure::rate_limited());
    let err = all_ids(&client).await.unwrap_err();
    assert!(
        matches!(err, Error::RateLimited { attempts: 3, .. }),
        "{err:?}"
    );
    assert!(err.to_string().contains("read rate"), "{err}");
}

#[tokio::test]
async fn stripe_should_retry_false_stops_at_once_and_true_retries_a_409() {
    let fake = FakeStripe::start().await;
    fake.insert_all(objects::history(10, T0).charges).unwrap();
    let client = fake.client().unwrap();
    fake.fail_next(1, Failure::server_error().should_retry(false));
    assert!(matches!(
        all_ids(&client).await,
        Err(Error::Server { attempts: 1, .. })
    ));
    assert_eq!(fake.total_requests(), 1);

    fake.fail_next(1, Failure::status(409).should_retry(true));
    assert_eq!(all_ids(&client).await.unwrap().len(), 10);
    assert_eq!(fake.total_requests(), 3);
}

#[tokio::test]
async fn the_fakes_rate_limit_answers_429_and_the_client_recovers() {
    let fake = FakeStripe::builder().rate_limit(Some(3)).start().await;
    fake.insert_all(objects::history(800, T0).charges).unwrap();
    // The client reads faster than the fake allows, so it meets 429s and backs off.
    let client = fake
        .client_builder()
        .retry_policy(RetryPolicy::new(
            10,
            Duration::from_millis(200),
            Duration::from_secs(2),
        ))
        .build()
        .unwrap();
    assert_eq!(all_ids(&client).await.unwrap().len(), 800);
    let limited = fake.requests().iter().filter(|r| r.status == 429).count();
    assert!(limited > 0);
}

#[tokio::test]
async fn retry_after_is_honoured_within_its_bound() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/v1/charges"))
        .respond_with(
            ResponseTemplate::new(429)
                .insert_header("request-id", "req_wm1")
                .insert_header("retry-after", "1")
                .set_body_json(
                    serde_json::json!({"error": {"type": "invalid_request_error",
                    "code": "rate_limit", "message": "Request rate limit exceeded."}}),
                ),
        )
        .up_to_n_times(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/v1/charges"))
        .respond_with(ResponseTemplate::new(200).set_body_json(serde_json::json!({
            "object": "list", "url": "/v1/charges", "has_more": false,
            "data": [objects_charge()]
        })))
        .mount(&server)
        .await;
    let client = StripeClient::builder("sk_test_wiremock")
        .base_url(server.uri())
        .retry_policy(RetryPolicy::new(
            3,
            Duration::from_millis(1),
            Duration::from_millis(2),
        ))
        .build()
        .unwrap();
    let started = std::time::Instant::now();
    let page = client
        .list_page::<Charge>(CreatedRange::all(), None)
        .await
        .unwrap();
    assert_eq!(page.data.len(), 1);
    // The computed backoff is at most 2 ms; only Retry-After explains a wait of a second.
    assert!(started.elapsed() >= Duration::from_millis(900));
    let received = server.received_requests().await.unwrap_or_default();
    assert_eq!(received.len(), 2);
}

#[tokio::test]
async fn a_dropped_connection_is_retried() {
    // A port that was just free: nothing listens, so every attempt fails to connect.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    let client = StripeClient::builder("sk_test_nothing")
        .base_url(format!("http://{addr}"))
        .retry_policy(RetryPolicy::new(
            2,
            Duration::from_millis(1),
            Duration::from_millis(2),
        ))
        .build()
        .unwrap();
    let err = client
        .list_page::<Charge>(CreatedRange::all(), None)
        .await
        .unwrap_err();
    assert!(
        matches!(err, Error::Transport { attempts: 3, .. }),
        "{err:?}"
    );
    assert!(err.to_string().contains("STRIPE_API_BASE"), "{err}");
}

fn objects_charge() -> serde_json::Value {
    objects::charge("ch_wm", T0, 500, "usd")
}
