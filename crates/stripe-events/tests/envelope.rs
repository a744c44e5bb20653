//! `verify_envelope` reads only what ingest needs, and accepts nothing that `construct_event`
//! (and so the worker's `parse_event`) would later refuse.

use proptest::prelude::*;
use stripe_events::{parse_envelope, parse_event, sign, Envelope, Verifier, WebhookError};

const SECRET: &str = "whsec_envelope_secret";

mod common;

use common::fixture;
const T: i64 = 1_700_000_000;

fn verifier() -> Verifier {
    Verifier::new(SECRET).unwrap()
}

fn both(
    payload: &[u8],
) -> (
    Result<Envelope, WebhookError>,
    Result<Envelope, WebhookError>,
) {
    let header = sign(payload, SECRET, T);
    let envelope = verifier().verify_envelope_at(payload, &header, T);
    let event = verifier().construct_event_at(payload, &header, T);
    (envelope, event.map(|event| Envelope::from(&event)))
}

#[test]
fn envelope_of_every_fixture_matches_the_full_event() {
    for name in [
        "charge_succeeded.json",
        "charge_succeeded_2k.json",
        "charge_succeeded_expanded_customer.json",
        "payment_intent_succeeded.json",
        "checkout_session_completed.json",
        "customer_created.json",
        "invoice_paid.json",
        "seed_charge_succeeded.json",
    ] {
        let (envelope, event) = both(&fixture(name));
        assert!(envelope.is_ok(), "{name}: {envelope:?}");
        assert_eq!(envelope, event, "{name}");
    }
    let envelope = parse_envelope(&fixture("charge_succeeded.json")).unwrap();
    assert_eq!(envelope.type_, "charge.succeeded");
    assert_eq!(envelope.created, 1_680_894_002);
    assert!(!envelope.livemode);
}

#[test]
fn thin_events_and_bad_signatures_are_refused_like_construct_event() {
    let thin = fixture("thin_event.json");
    assert_eq!(both(&thin).0, Err(WebhookError::ThinEvent));
    assert_eq!(parse_envelope(&thin), Err(WebhookError::ThinEvent));

    let payload = fixture("charge_succeeded.json");
    let header = sign(b"something else", SECRET, T);
    assert_eq!(
        verifier().verify_envelope_at(&payload, &header, T),
        Err(WebhookError::NoMatchingSignature)
    );
}

#[test]
fn payloads_construct_event_refuses_get_the_same_error() {
    let deep = format!(
        r#"{{"id":"e","type":"x","created":1,"data":{{"object":{{"a":{}{}}}}}}}"#,
        "[".repeat(200),
        "]".repeat(200)
    );
    for payload in [
        r#"{"id":"e","type":"x","created":1,"data":{"object":{}},"livemode":"yes"}"#,
        r#"{"id":"e","type":"x","created":1,"data":{}}"#,
        r#"{"id":"e","type":"x","created":1}"#,
        r#"{"id":"e","type":"x","created":"1","data":{"object":{}}}"#,
        r#"{"id":"e","type":"x","created":1,"api_version":3,"data":{"object":{}}}"#,
        r#"{"id":"e","type":"x","created":1,"account":{},"data":{"object":{}}}"#,
        r#"{"id":"e","type":"x","created":1,"data":{"object":{}}} trailing"#,
        r#"{"id":"e","type":"x","created":1,"data":{"object":{"a":tru}}}"#,
        r#"{"id":"e","type":"x","created":1,"data":{"object":{},"previous_attributes":[}}"#,
        deep.as_str(),
        "[1,2]",
        "\u{feff}{}",
    ] {
        let (envelope, event) = both(payload.as_bytes());
        assert!(event.is_err(), "{payload}");
        assert_eq!(envelope, event, "{payload}");
    }
    let (envelope, event) = both(b"{\"id\":\"\xff\"}");
    assert!(matches!(envelope, Err(WebhookError::InvalidPayload { .. })));
    assert_eq!(envelope, event);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1024))]

    /// Cutting a piece out of a real event, or overwriting it, never makes the envelope
    /// accept what the full parse refuses; when both accept they agree, and when both refuse
    /// they give the same error.
    #[test]
    fn envelope_accepts_only_what_the_full_parse_accepts(
        start in any::<prop::sample::Index>(),
        len in 0usize..40,
        with in "[\\[\\]{}\",:0-9a-z ]{0,6}",
    ) {
        let original = fixture("charge_succeeded_2k.json");
        let start = start.index(original.len());
        let end = (start + len).min(original.len());
        let mut payload = original[..start].to_vec();
        payload.extend_from_slice(with.as_bytes());
        payload.extend_from_slice(&original[end..]);

        let envelope = parse_envelope(&payload);
        let event = parse_event(&payload).map(|event| Envelope::from(&event));
        if envelope.is_ok() || event.is_err() {
            prop_assert_eq!(envelope, event);
        }
    }
}
