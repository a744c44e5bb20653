//! Rust counterparts of the official SDKs' webhook tests.
//!
//! Each test is named after its source: `node_*` from stripe-node `test/Webhook.spec.ts`,
//! `python_*` from stripe-python `tests/test_webhook.py`. Cases with no Rust counterpart,
//! because the type system rules them out or the feature does not exist here:
//! - node "generateTestHeaderString should throw when no opts are passed", "...should use
//!   current timestamp when timestamp is not provided": `sign` takes every argument.
//! - node "should error if you pass a signature which is an array": the header is a `&str`.
//! - node "should raise ... when payload is of an unknown type": the payload is a `&[u8]`.
//! - node "custom CryptoProvider" cases and `CryptoProviderOnlySupportsAsyncError`: one
//!   built-in HMAC-SHA256; there is no async variant to fall back to.
//! - python `test_construct_event_inherits_requestor`: events are plain data, no API client.
//!
//! The SDKs' sample payloads (`{"id": ..., "object": "event"}`) are not complete events: the
//! SDKs return any JSON, this crate returns a typed [`Event`], so those payloads verify but
//! `construct_event` reports them as `NotAnEvent`; the construct tests use a complete event.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use stripe_events::webhook::{HeaderProblem, PayloadErrorKind};
use stripe_events::{sign, sign_with_secrets, ConfigError, Event, Verifier, Webhook, WebhookError};

const SECRET: &str = "whsec_test_secret";

/// stripe-node's `JSON.stringify({id: 'evt_test_webhook', object: 'event'}, null, 2)`.
const NODE_EVENT_PAYLOAD: &str = "{\n  \"id\": \"evt_test_webhook\",\n  \"object\": \"event\"\n}";

/// stripe-python's `DUMMY_WEBHOOK_PAYLOAD`.
const PYTHON_EVENT_PAYLOAD: &str = "{\n  \"id\": \"evt_test_webhook\",\n  \"object\": \"event\",\n  \"data\": { \"object\": { \"id\": \"rdr_123\", \"object\": \"terminal.reader\" } }\n}";

/// stripe-python's `DUMMY_V2_WEBHOOK_PAYLOAD`.
const PYTHON_V2_PAYLOAD: &str = "{\n  \"id\": \"evt_234\",\n  \"object\": \"v2.core.event\",\n  \"type\": \"v1.billing.meter.error_report_triggered\",\n  \"livemode\": true,\n  \"created\": \"2022-02-15T00:27:45.330Z\"\n}";

/// stripe-node's `V2_EVENT_PAYLOAD_STRING`.
const NODE_V2_PAYLOAD: &str =
    "{\n  \"id\": \"evt_test_webhook\",\n  \"object\": \"v2.core.event\"\n}";

/// A complete event carrying the SDKs' ids, for the construct tests.
const FULL_EVENT_PAYLOAD: &str = "{\n  \"id\": \"evt_test_webhook\",\n  \"object\": \"event\",\n  \"type\": \"terminal.reader.action_succeeded\",\n  \"created\": 12345,\n  \"data\": { \"object\": { \"id\": \"rdr_123\", \"object\": \"terminal.reader\" } }\n}";

fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

fn verifier(tolerance_secs: u64) -> Verifier {
    Verifier::new(SECRET)
        .unwrap()
        .tolerance(Duration::from_secs(tolerance_secs))
        .unwrap()
}

fn construct(payload: &str, header: &str) -> Result<Event, WebhookError> {
    Webhook::construct_event(payload.as_bytes(), header, SECRET)
}

// ---- the "Done when" vectors ----

#[test]
fn official_vector_signs_to_the_sdk_signature() {
    assert_eq!(
        sign(NODE_EVENT_PAYLOAD.as_bytes(), SECRET, 12345),
        "t=12345,v1=2672d138c9a412830f3bfe2ecc5bfb3277cf6f5b49d0119d77dd6cb64da1257e"
    );
    let header = "t=12345,v1=2672d138c9a412830f3bfe2ecc5bfb3277cf6f5b49d0119d77dd6cb64da1257e";
    assert_eq!(
        verifier(300).verify_at(NODE_EVENT_PAYLOAD.as_bytes(), header, 12345),
        Ok(())
    );
    let potato = format!("{header},v1=potato");
    assert_eq!(
        verifier(300).verify_at(NODE_EVENT_PAYLOAD.as_bytes(), &potato, 12345),
        Ok(())
    );
}

#[test]
fn rotation_header_signed_with_old_and_new_secret_verifies_against_either() {
    let payload = FULL_EVENT_PAYLOAD.as_bytes();
    let header = sign_with_secrets(payload, &["whsec_old", "whsec_new"], 12345);
    assert_eq!(header.matches(",v1=").count(), 2);
    for secret in ["whsec_old", "whsec_new"] {
        let only = Verifier::new(secret).unwrap();
        assert_eq!(only.verify_at(payload, &header, 12345), Ok(()), "{secret}");
    }
    let both = Verifier::with_secrets(["whsec_new", "whsec_old"]).unwrap();
    assert_eq!(
        both.verify_at(payload, &sign(payload, "whsec_old", 12345), 12345),
        Ok(())
    );
    assert_eq!(
        both.verify_at(payload, &sign(payload, "whsec_new", 12345), 12345),
        Ok(())
    );
    assert_eq!(
        both.verify_at(payload, &sign(payload, "whsec_other", 12345), 12345),
        Err(WebhookError::NoMatchingSignature)
    );
}

// ---- stripe-node: generateTestHeaderString ----

#[test]
fn node_generate_test_header_string_should_correctly_construct_a_webhook_header() {
    let header = sign(NODE_EVENT_PAYLOAD.as_bytes(), SECRET, now());
    let parts: Vec<&str> = header.split(',').collect();
    assert_eq!(parts.len(), 2);
    assert!(parts[0].starts_with("t="));
    let v1 = parts[1].strip_prefix("v1=").unwrap();
    assert_eq!(v1.len(), 64);
    assert!(v1
        .bytes()
        .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase()));
}

#[test]
fn node_generate_test_header_string_async_should_equal_the_sync_header() {
    // No async variant: the counterpart property is that signing is deterministic.
    let a = sign(NODE_EVENT_PAYLOAD.as_bytes(), SECRET, 1_234_567_890);
    let b = sign(NODE_EVENT_PAYLOAD.as_bytes(), SECRET, 1_234_567_890);
    assert_eq!(a, b);
}

#[test]
fn node_generate_test_header_string_should_use_provided_timestamp_when_given() {
    let header = sign(NODE_EVENT_PAYLOAD.as_bytes(), SECRET, 1_234_567_890);
    assert!(header.starts_with("t=1234567890,v1="));
}

// ---- stripe-node: constructEvent / constructEventAsync ----

#[test]
fn node_construct_event_should_return_an_event_from_a_valid_json_payload_and_valid_signature_header(
) {
    let header = sign(FULL_EVENT_PAYLOAD.as_bytes(), SECRET, now());
    let event = construct(FULL_EVENT_PAYLOAD, &header).unwrap();
    assert_eq!(event.id, "evt_test_webhook");
    assert_eq!(event.data.object.id(), Some("rdr_123"));
}

#[test]
fn node_construct_event_sdk_sample_payload_verifies_but_is_not_a_complete_event() {
    let header = sign(NODE_EVENT_PAYLOAD.as_bytes(), SECRET, now());
    assert_eq!(
        verifier(300).verify(NODE_EVENT_PAYLOAD.as_bytes(), &header),
        Ok(())
    );
    match construct(NODE_EVENT_PAYLOAD, &header) {
        Err(WebhookError::InvalidPayload { kind, message, .. }) => {
            assert_eq!(kind, PayloadErrorKind::NotAnEvent);
            assert!(message.contains("missing field"), "{message}");
        }
        other => panic!("expected NotAnEvent, got {other:?}"),
    }
}

#[test]
fn node_construct_event_should_return_an_event_from_a_payload_and_header_with_type_buffer() {
    let header = sign(FULL_EVENT_PAYLOAD.as_bytes(), SECRET, now());
    let payload: Vec<u8> = FULL_EVENT_PAYLOAD.as_bytes().to_vec();
    let header_bytes: Vec<u8> = header.into_bytes();
    let header = std::str::from_utf8(&header_bytes).unwrap();
    let event = Webhook::construct_event(&payload, header, SECRET).unwrap();
    assert_eq!(event.id, "evt_test_webhook");
}

#[test]
fn node_construct_event_should_return_an_event_from_a_payload_and_header_with_type_uint8array() {
    let header = sign(FULL_EVENT_PAYLOAD.as_bytes(), SECRET, now());
    let payload: Box<[u8]> = FULL_EVENT_PAYLOAD.as_bytes().into();
    let event = Webhook::construct_event(&payload, &header, SECRET).unwrap();
    assert_eq!(event.id, "evt_test_webhook");
}

#[test]
fn node_construct_event_should_raise_a_json_error_from_invalid_json_payload() {
    let payload = "} I am not valid JSON; 123][";
    let header = sign(payload.as_bytes(), SECRET, now());
    match construct(payload, &header) {
        Err(WebhookError::InvalidPayload { kind, message, .. }) => {
            assert_eq!(kind, PayloadErrorKind::NotJson);
            assert!(message.contains("line 1 column 1"), "{message}");
        }
        other => panic!("expected NotJson, got {other:?}"),
    }
}

#[test]
fn node_construct_event_should_raise_a_signature_verification_error_from_an_invalid_signature_header(
) {
    assert_eq!(
        construct(FULL_EVENT_PAYLOAD, "bad_header").unwrap_err(),
        WebhookError::MalformedHeader {
            reason: HeaderProblem::EntryWithoutEquals
        }
    );
}

#[test]
fn node_construct_event_should_raise_when_no_webhook_payload_was_provided() {
    let header = sign(b"", SECRET, now());
    assert_eq!(
        construct("", &header).unwrap_err(),
        WebhookError::EmptyPayload
    );
}

#[test]
fn node_construct_event_should_throw_when_a_v2_webhook_payload_is_passed() {
    let header = sign(NODE_V2_PAYLOAD.as_bytes(), SECRET, now());
    let err = construct(NODE_V2_PAYLOAD, &header).unwrap_err();
    assert_eq!(err, WebhookError::ThinEvent);
    assert!(err.to_string().contains("snapshot"), "{err}");
}

// ---- stripe-node: verifyHeader / verifyHeaderAsync ----

#[test]
fn node_verify_header_should_raise_when_the_header_does_not_have_the_expected_format() {
    let err = verifier(300)
        .verify(
            NODE_EVENT_PAYLOAD.as_bytes(),
            "I'm not even a real signature header",
        )
        .unwrap_err();
    assert!(
        matches!(err, WebhookError::MalformedHeader { .. }),
        "{err:?}"
    );
}

#[test]
fn node_verify_header_should_raise_when_the_header_is_null_or_empty() {
    let v = verifier(300);
    assert_eq!(
        v.verify(NODE_EVENT_PAYLOAD.as_bytes(), ""),
        Err(WebhookError::MissingHeader)
    );
}

#[test]
fn node_verify_header_should_raise_when_there_are_no_signatures_with_the_expected_scheme() {
    let t = now();
    let v1 = sign(NODE_EVENT_PAYLOAD.as_bytes(), SECRET, t);
    let v0 = v1.replace("v1=", "v0=");
    assert_eq!(
        verifier(300).verify(NODE_EVENT_PAYLOAD.as_bytes(), &v0),
        Err(WebhookError::NoV1Signature)
    );
}

#[test]
fn node_verify_header_should_raise_when_there_are_no_valid_signatures_for_the_payload() {
    let header = format!("t={},v1=bad_signature", now());
    assert_eq!(
        verifier(300).verify(NODE_EVENT_PAYLOAD.as_bytes(), &header),
        Err(WebhookError::NoMatchingSignature)
    );
}

#[test]
fn node_verify_header_should_raise_when_the_timestamp_is_not_within_the_tolerance_of_the_provided_timestamp(
) {
    let received_at = 20_000; // node passes milliseconds: 20000000 ms
    let header = sign(NODE_EVENT_PAYLOAD.as_bytes(), SECRET, received_at - 15);
    assert_eq!(
        verifier(10).verify_at(NODE_EVENT_PAYLOAD.as_bytes(), &header, received_at),
        Err(WebhookError::TimestampOutsideTolerance {
            timestamp: received_at - 15,
            now: received_at,
            tolerance: Duration::from_secs(10)
        })
    );
}

#[test]
fn node_verify_header_should_raise_when_the_timestamp_is_not_within_the_tolerance_of_date_now() {
    let header = sign(NODE_EVENT_PAYLOAD.as_bytes(), SECRET, now() - 15);
    let err = verifier(10)
        .verify(NODE_EVENT_PAYLOAD.as_bytes(), &header)
        .unwrap_err();
    assert!(
        matches!(err, WebhookError::TimestampOutsideTolerance { .. }),
        "{err:?}"
    );
}

#[test]
fn node_verify_header_should_return_true_when_the_header_contains_a_valid_signature_and_the_timestamp_is_within_the_tolerance_of_date_now(
) {
    let header = sign(NODE_EVENT_PAYLOAD.as_bytes(), SECRET, now());
    assert_eq!(
        verifier(10).verify(NODE_EVENT_PAYLOAD.as_bytes(), &header),
        Ok(())
    );
}

#[test]
fn node_verify_header_should_return_true_when_the_header_contains_a_valid_signature_and_the_timestamp_is_within_the_tolerance_of_the_provided_timestamp(
) {
    let received_at = 20_000;
    let header = sign(NODE_EVENT_PAYLOAD.as_bytes(), SECRET, received_at - 9);
    assert_eq!(
        verifier(10).verify_at(NODE_EVENT_PAYLOAD.as_bytes(), &header, received_at),
        Ok(())
    );
}

#[test]
fn node_verify_header_should_return_true_when_the_header_contains_at_least_one_valid_signature() {
    let header = sign(NODE_EVENT_PAYLOAD.as_bytes(), SECRET, now()) + ",v1=potato";
    assert_eq!(
        verifier(10).verify(NODE_EVENT_PAYLOAD.as_bytes(), &header),
        Ok(())
    );
}

#[test]
fn node_verify_header_should_return_true_when_the_timestamp_is_off_but_no_tolerance_is_provided() {
    // Tolerance cannot be switched off here; the counterpart is verifying at the signing time.
    let header = sign(NODE_EVENT_PAYLOAD.as_bytes(), SECRET, 12345);
    assert_eq!(
        verifier(300).verify_at(NODE_EVENT_PAYLOAD.as_bytes(), &header, 12345),
        Ok(())
    );
    assert!(matches!(
        verifier(300).verify(NODE_EVENT_PAYLOAD.as_bytes(), &header),
        Err(WebhookError::TimestampOutsideTolerance { .. })
    ));
}

#[test]
fn node_verify_header_should_accept_buffer_instances_for_the_payload_and_header() {
    let header = sign(NODE_EVENT_PAYLOAD.as_bytes(), SECRET, now());
    let payload = NODE_EVENT_PAYLOAD.as_bytes().to_vec();
    assert_eq!(verifier(10).verify(&payload, &header), Ok(()));
}

#[test]
fn node_verify_header_should_raise_when_the_signing_secret_contains_whitespace() {
    let secret = format!("{SECRET} ");
    assert_eq!(
        Verifier::new(&secret).unwrap_err(),
        ConfigError::SecretContainsWhitespace { index: 0 }
    );
    let header = sign(FULL_EVENT_PAYLOAD.as_bytes(), SECRET, now());
    let err =
        Webhook::construct_event(FULL_EVENT_PAYLOAD.as_bytes(), &header, &secret).unwrap_err();
    assert_eq!(
        err,
        WebhookError::Config(ConfigError::SecretContainsWhitespace { index: 0 })
    );
    assert!(!err.is_bad_request());
    assert!(err.to_string().contains("whitespace"));
}

// ---- stripe-node: optional parameter defaults ----

#[test]
fn node_verify_header_default_tolerance_accepts_recent_timestamps() {
    let header = sign(NODE_EVENT_PAYLOAD.as_bytes(), SECRET, now() - 100);
    assert_eq!(
        Verifier::new(SECRET)
            .unwrap()
            .verify(NODE_EVENT_PAYLOAD.as_bytes(), &header),
        Ok(())
    );
}

#[test]
fn node_construct_event_should_use_default_tolerance_when_tolerance_is_omitted() {
    let header = sign(FULL_EVENT_PAYLOAD.as_bytes(), SECRET, now() - 400);
    assert!(matches!(
        construct(FULL_EVENT_PAYLOAD, &header),
        Err(WebhookError::TimestampOutsideTolerance { tolerance, .. }) if tolerance == Duration::from_secs(300)
    ));
}

#[test]
fn node_construct_event_should_succeed_with_a_recent_timestamp_when_tolerance_is_omitted() {
    let header = sign(FULL_EVENT_PAYLOAD.as_bytes(), SECRET, now());
    assert_eq!(
        construct(FULL_EVENT_PAYLOAD, &header).unwrap().id,
        "evt_test_webhook"
    );
}

#[test]
fn node_construct_event_should_succeed_with_an_explicit_tolerance() {
    let header = sign(FULL_EVENT_PAYLOAD.as_bytes(), SECRET, now());
    let event = verifier(300)
        .construct_event(FULL_EVENT_PAYLOAD.as_bytes(), &header)
        .unwrap();
    assert_eq!(event.id, "evt_test_webhook");
}

// ---- stripe-python: TestWebhook (and TestStripeClientConstructEvent, same cases) ----

#[test]
fn python_test_construct_event() {
    let header = sign(FULL_EVENT_PAYLOAD.as_bytes(), SECRET, now());
    let event = construct(FULL_EVENT_PAYLOAD, &header).unwrap();
    assert_eq!(event.type_, "terminal.reader.action_succeeded");
    // The python sample itself verifies; it lacks `type` and `created` to be an Event.
    let header = sign(PYTHON_EVENT_PAYLOAD.as_bytes(), SECRET, now());
    assert_eq!(
        verifier(10).verify(PYTHON_EVENT_PAYLOAD.as_bytes(), &header),
        Ok(())
    );
}

#[test]
fn python_test_raise_on_json_error() {
    let payload = "this is not valid JSON";
    let header = sign(payload.as_bytes(), SECRET, now());
    assert!(matches!(
        construct(payload, &header),
        Err(WebhookError::InvalidPayload {
            kind: PayloadErrorKind::NotJson,
            ..
        })
    ));
}

#[test]
fn python_test_raise_on_invalid_header() {
    let err = construct(FULL_EVENT_PAYLOAD, "bad_header").unwrap_err();
    assert!(matches!(err, WebhookError::MalformedHeader { .. }));
    assert!(err.is_bad_request());
}

#[test]
fn python_test_construct_event_from_bytearray() {
    let header = sign(FULL_EVENT_PAYLOAD.as_bytes(), SECRET, now());
    let mut payload = Vec::with_capacity(FULL_EVENT_PAYLOAD.len());
    payload.extend_from_slice(FULL_EVENT_PAYLOAD.as_bytes());
    assert_eq!(
        Webhook::construct_event(&payload, &header, SECRET)
            .unwrap()
            .id,
        "evt_test_webhook"
    );
}

#[test]
fn python_test_construct_event_from_bytes() {
    let header = sign(FULL_EVENT_PAYLOAD.as_bytes(), SECRET, now());
    let payload: &[u8] = FULL_EVENT_PAYLOAD.as_bytes();
    assert_eq!(
        Webhook::construct_event(payload, &header, SECRET)
            .unwrap()
            .id,
        "evt_test_webhook"
    );
}

#[test]
fn python_test_raise_on_v2_payload() {
    let header = sign(PYTHON_V2_PAYLOAD.as_bytes(), SECRET, now());
    let err = construct(PYTHON_V2_PAYLOAD, &header).unwrap_err();
    assert_eq!(err, WebhookError::ThinEvent);
    assert_eq!(err.code(), "thin_event");
}

// ---- stripe-python: TestWebhookSignature ----

#[test]
fn python_test_raise_on_malformed_header() {
    let err = verifier(300)
        .verify(
            PYTHON_EVENT_PAYLOAD.as_bytes(),
            "i'm not even a real signature header",
        )
        .unwrap_err();
    assert_eq!(
        err,
        WebhookError::MalformedHeader {
            reason: HeaderProblem::EntryWithoutEquals
        }
    );
}

#[test]
fn python_test_raise_on_no_signatures_with_expected_scheme() {
    let header = sign(PYTHON_EVENT_PAYLOAD.as_bytes(), SECRET, now()).replace("v1=", "v0=");
    let err = verifier(300)
        .verify(PYTHON_EVENT_PAYLOAD.as_bytes(), &header)
        .unwrap_err();
    assert_eq!(err, WebhookError::NoV1Signature);
    assert!(err.to_string().contains("v1"));
}

#[test]
fn python_test_raise_on_no_valid_signatures_for_payload() {
    let header = format!("t={},v1=bad_signature", now());
    assert_eq!(
        verifier(300).verify(PYTHON_EVENT_PAYLOAD.as_bytes(), &header),
        Err(WebhookError::NoMatchingSignature)
    );
}

#[test]
fn python_test_raise_on_timestamp_outside_tolerance() {
    let header = sign(PYTHON_EVENT_PAYLOAD.as_bytes(), SECRET, now() - 15);
    assert!(matches!(
        verifier(10).verify(PYTHON_EVENT_PAYLOAD.as_bytes(), &header),
        Err(WebhookError::TimestampOutsideTolerance { .. })
    ));
}

#[test]
fn python_test_valid_header_and_signature() {
    let header = sign(PYTHON_EVENT_PAYLOAD.as_bytes(), SECRET, now());
    assert_eq!(
        verifier(10).verify(PYTHON_EVENT_PAYLOAD.as_bytes(), &header),
        Ok(())
    );
}

#[test]
fn python_test_header_contains_valid_signature() {
    let header = sign(PYTHON_EVENT_PAYLOAD.as_bytes(), SECRET, now()) + ",v1=bad_signature";
    assert_eq!(
        verifier(10).verify(PYTHON_EVENT_PAYLOAD.as_bytes(), &header),
        Ok(())
    );
}

#[test]
fn python_test_timestamp_off_but_no_tolerance() {
    let header = sign(PYTHON_EVENT_PAYLOAD.as_bytes(), SECRET, 12345);
    assert_eq!(
        verifier(300).verify_at(PYTHON_EVENT_PAYLOAD.as_bytes(), &header, 12345),
        Ok(())
    );
}
