//! Every kind of bad input named in the issue gets its precise error, and none panics.

use std::time::Duration;

use stripe_events::webhook::{HeaderProblem, PayloadErrorKind, MAX_HEADER_LEN, MAX_SIGNATURES};
use stripe_events::{sign, ConfigError, Verifier, WebhookError};

const SECRET: &str = "whsec_bad_input_secret";
const T: i64 = 1_700_000_000;
const EVENT: &str = r#"{"id":"evt_1","object":"event","type":"charge.succeeded","created":1700000000,"data":{"object":{"id":"ch_1","object":"charge"}}}"#;

fn verifier() -> Verifier {
    Verifier::new(SECRET).unwrap()
}

fn v1(payload: &[u8]) -> String {
    sign(payload, SECRET, T)
        .split_once(",v1=")
        .unwrap()
        .1
        .to_owned()
}

fn verify(payload: &[u8], header: &str) -> Result<(), WebhookError> {
    verifier().verify_at(payload, header, T)
}

fn construct(payload: &[u8]) -> Result<stripe_events::Event, WebhookError> {
    verifier().construct_event_at(payload, &sign(payload, SECRET, T), T)
}

fn malformed(reason: HeaderProblem) -> Result<(), WebhookError> {
    Err(WebhookError::MalformedHeader { reason })
}

fn payload_kind(
    result: Result<stripe_events::Event, WebhookError>,
) -> (PayloadErrorKind, String, String) {
    match result {
        Err(WebhookError::InvalidPayload {
            kind,
            path,
            message,
        }) => (kind, path, message),
        other => panic!("expected InvalidPayload, got {other:?}"),
    }
}

// ---- payloads ----

#[test]
fn empty_payload_is_rejected_before_any_hmac() {
    assert_eq!(
        verify(b"", &sign(b"", SECRET, T)),
        Err(WebhookError::EmptyPayload)
    );
}

#[test]
fn non_utf8_payload_names_the_offending_byte() {
    let payload = b"{\"id\":\"evt_\xff\"}";
    let (kind, path, message) = payload_kind(construct(payload));
    assert_eq!(kind, PayloadErrorKind::NotUtf8);
    assert_eq!(path, ".");
    assert_eq!(message, "invalid UTF-8 at byte 11");
}

#[test]
fn truncated_payload_is_not_json() {
    let payload = &EVENT.as_bytes()[..EVENT.len() / 2];
    let (kind, _, message) = payload_kind(construct(payload));
    assert_eq!(kind, PayloadErrorKind::NotJson);
    assert!(message.contains("EOF"), "{message}");
}

#[test]
fn trailing_garbage_is_not_json() {
    let payload = format!("{EVENT} trailing");
    let (kind, path, _) = payload_kind(construct(payload.as_bytes()));
    assert_eq!(kind, PayloadErrorKind::NotJson);
    assert_eq!(path, ".");
}

#[test]
fn json_that_is_not_an_event_reports_the_serde_path() {
    let payload = br#"{"id":"evt_1","type":"charge.succeeded","created":1,"data":{"object":{},"previous_attributes":{}},"livemode":"yes"}"#;
    let (kind, path, message) = payload_kind(construct(payload));
    assert_eq!(kind, PayloadErrorKind::NotAnEvent);
    assert_eq!(path, "livemode");
    assert!(message.contains("expected a boolean"), "{message}");

    let (kind, path, _) = payload_kind(construct(b"42"));
    assert_eq!((kind, path.as_str()), (PayloadErrorKind::NotAnEvent, "."));
    // serde accepts structs as arrays, so the path points inside the array.
    let (kind, path, _) = payload_kind(construct(b"[1,2,3]"));
    assert_eq!((kind, path.as_str()), (PayloadErrorKind::NotAnEvent, "[0]"));
}

#[test]
fn payload_errors_never_echo_payload_strings() {
    let payload =
        br#"{"id":"evt_1","type":"x","created":"tony@starkindustries.com","data":{"object":{}}}"#;
    let err = construct(payload).unwrap_err();
    let (kind, path, message) = payload_kind(Err(err.clone()));
    assert_eq!(
        (kind, path.as_str()),
        (PayloadErrorKind::NotAnEvent, "created")
    );
    assert!(!message.contains("tony"), "{message}");
    assert!(!err.to_string().contains("tony"), "{err}");
    assert!(!format!("{err:?}").contains("tony"));
}

#[test]
fn huge_payloads_are_verified_and_parsed_or_rejected_cleanly() {
    let big_description = "x".repeat(8 * 1024 * 1024);
    let payload = format!(
        r#"{{"id":"evt_big","type":"charge.succeeded","created":1,"data":{{"object":{{"id":"ch_1","object":"charge","amount":1,"currency":"usd","status":"succeeded","created":1,"description":"{big_description}"}}}}}}"#
    );
    let event = construct(payload.as_bytes()).unwrap();
    assert!(matches!(
        event.data.object,
        stripe_events::EventObject::Charge(_)
    ));

    let mut garbage = b"{\"x\":".to_vec();
    garbage.resize(4 * 1024 * 1024, b'[');
    let (kind, _, message) = payload_kind(construct(&garbage));
    assert_eq!(kind, PayloadErrorKind::NotJson);
    assert!(message.contains("EOF"), "{message}");

    let depth = 100_000;
    let deep = format!(
        r#"{{"id":"evt_deep","type":"x","created":1,"data":{{"object":{}{}}}}}"#,
        "[".repeat(depth),
        "]".repeat(depth)
    );
    let (kind, path, message) = payload_kind(construct(deep.as_bytes()));
    assert_eq!(kind, PayloadErrorKind::NotJson);
    assert!(path.starts_with("data.object"), "{path}");
    assert!(message.contains("recursion limit"), "{message}");
}

#[test]
fn signature_over_reserialised_json_does_not_match_the_raw_body() {
    let value: serde_json::Value = serde_json::from_str(EVENT).unwrap();
    let pretty = serde_json::to_string_pretty(&value).unwrap();
    let header = sign(pretty.as_bytes(), SECRET, T);
    assert_eq!(
        verify(EVENT.as_bytes(), &header),
        Err(WebhookError::NoMatchingSignature)
    );
}

// ---- headers ----

#[test]
fn missing_or_blank_header() {
    assert_eq!(
        verify(EVENT.as_bytes(), ""),
        Err(WebhookError::MissingHeader)
    );
    assert_eq!(
        verify(EVENT.as_bytes(), " \t\r\n "),
        Err(WebhookError::MissingHeader)
    );
}

#[test]
fn header_without_t() {
    let header = format!("v1={}", v1(EVENT.as_bytes()));
    assert_eq!(
        verify(EVENT.as_bytes(), &header),
        malformed(HeaderProblem::MissingTimestamp)
    );
}

#[test]
fn header_with_two_t_is_ambiguous_even_when_they_agree() {
    let signed = sign(EVENT.as_bytes(), SECRET, T);
    assert_eq!(
        verify(EVENT.as_bytes(), &format!("t={T},{signed}")),
        malformed(HeaderProblem::RepeatedTimestamp)
    );
    assert_eq!(
        verify(EVENT.as_bytes(), &format!("{signed},t=1")),
        malformed(HeaderProblem::RepeatedTimestamp)
    );
}

#[test]
fn header_with_non_numeric_negative_or_empty_t() {
    let sig = v1(EVENT.as_bytes());
    for t in [
        "abc",
        "12a",
        "1.5",
        "-1700000000",
        "+1700000000",
        "",
        "0x10",
        "١٢٣",
    ] {
        assert_eq!(
            verify(EVENT.as_bytes(), &format!("t={t},v1={sig}")),
            malformed(HeaderProblem::InvalidTimestamp),
            "t={t}"
        );
    }
}

#[test]
fn header_with_overflowing_t() {
    let sig = v1(EVENT.as_bytes());
    for t in ["9223372036854775808", "99999999999999999999999999"] {
        assert_eq!(
            verify(EVENT.as_bytes(), &format!("t={t},v1={sig}")),
            malformed(HeaderProblem::TimestampOutOfRange),
            "t={t}"
        );
    }
}

#[test]
fn leading_zeros_in_t_sign_as_the_integer_like_the_sdks() {
    let sig = v1(EVENT.as_bytes());
    assert_eq!(
        verify(EVENT.as_bytes(), &format!("t=000{T},v1={sig}")),
        Ok(())
    );
}

#[test]
fn empty_odd_length_or_non_hex_v1_never_matches() {
    for bad in [
        "",
        "abc",
        &"a".repeat(63),
        &"g".repeat(64),
        &"ab".repeat(33),
        "potato",
    ] {
        assert_eq!(
            verify(EVENT.as_bytes(), &format!("t={T},v1={bad}")),
            Err(WebhookError::NoMatchingSignature),
            "v1={bad:?}"
        );
    }
}

#[test]
fn uppercase_hex_v1_is_the_same_signature() {
    let sig = v1(EVENT.as_bytes()).to_ascii_uppercase();
    assert_eq!(verify(EVENT.as_bytes(), &format!("t={T},v1={sig}")), Ok(()));
}

#[test]
fn only_v0_or_unknown_schemes() {
    let sig = v1(EVENT.as_bytes());
    assert_eq!(
        verify(EVENT.as_bytes(), &format!("t={T},v0={sig}")),
        Err(WebhookError::NoV1Signature)
    );
    assert_eq!(
        verify(EVENT.as_bytes(), &format!("t={T},v2={sig},scheme=x")),
        Err(WebhookError::NoV1Signature)
    );
}

#[test]
fn entry_without_equals() {
    let signed = sign(EVENT.as_bytes(), SECRET, T);
    assert_eq!(
        verify(EVENT.as_bytes(), &format!("{signed},garbage")),
        malformed(HeaderProblem::EntryWithoutEquals)
    );
}

#[test]
fn stray_commas_spaces_and_unknown_keys_are_tolerated() {
    let sig = v1(EVENT.as_bytes());
    let header = format!("  ,, t = {T} ,\t v0=deadbeef , v1 = {sig} ,future=1,,  ");
    assert_eq!(verify(EVENT.as_bytes(), &header), Ok(()));
}

#[test]
fn a_thousand_v1_entries_are_rejected_before_any_hmac() {
    let sig = v1(EVENT.as_bytes());
    // Full-length entries exceed the header limit...
    let long = format!(
        "t={T},{}v1={sig}",
        format!("v1={},", "0".repeat(64)).repeat(999)
    );
    assert!(long.len() > MAX_HEADER_LEN);
    assert_eq!(
        verify(EVENT.as_bytes(), &long),
        malformed(HeaderProblem::TooLong)
    );
    // ...and short ones exceed the entry limit, even with the valid signature last or first.
    let short_then_valid = format!("t={T},{}v1={sig}", "v1=0,".repeat(999));
    assert!(short_then_valid.len() <= MAX_HEADER_LEN);
    assert_eq!(
        verify(EVENT.as_bytes(), &short_then_valid),
        malformed(HeaderProblem::TooManySignatures)
    );
    let valid_then_short = format!("t={T},v1={sig},{}", "v1=0,".repeat(999));
    assert_eq!(
        verify(EVENT.as_bytes(), &valid_then_short),
        malformed(HeaderProblem::TooManySignatures)
    );
}

#[test]
fn up_to_max_signatures_v1_entries_are_all_checked() {
    let sig = v1(EVENT.as_bytes());
    let header = format!("t={T},{}v1={sig}", "v1=potato,".repeat(MAX_SIGNATURES - 1));
    assert_eq!(verify(EVENT.as_bytes(), &header), Ok(()));
}

// ---- tolerance ----

#[test]
fn tolerance_is_symmetric_and_inclusive() {
    let header = sign(EVENT.as_bytes(), SECRET, T);
    let v = verifier().tolerance(Duration::from_secs(60)).unwrap();
    assert_eq!(v.verify_at(EVENT.as_bytes(), &header, T + 60), Ok(()));
    assert_eq!(v.verify_at(EVENT.as_bytes(), &header, T - 60), Ok(()));
    for now in [T + 61, T - 61] {
        assert_eq!(
            v.verify_at(EVENT.as_bytes(), &header, now),
            Err(WebhookError::TimestampOutsideTolerance {
                timestamp: T,
                now,
                tolerance: Duration::from_secs(60)
            })
        );
    }
    let future = v.verify_at(EVENT.as_bytes(), &header, T - 61).unwrap_err();
    assert!(future.to_string().contains("61s in the future"), "{future}");
    let old = v.verify_at(EVENT.as_bytes(), &header, T + 61).unwrap_err();
    assert!(old.to_string().contains("61s old"), "{old}");
}

#[test]
fn extreme_clock_values_do_not_overflow() {
    let header = sign(EVENT.as_bytes(), SECRET, i64::MAX);
    for now in [i64::MIN, 0, i64::MAX - 301] {
        assert!(matches!(
            verifier().verify_at(EVENT.as_bytes(), &header, now),
            Err(WebhookError::TimestampOutsideTolerance { .. })
        ));
    }
    assert_eq!(
        verifier().verify_at(EVENT.as_bytes(), &header, i64::MAX),
        Ok(())
    );
    let huge = verifier().tolerance(Duration::MAX).unwrap();
    assert_eq!(huge.verify_at(EVENT.as_bytes(), &header, i64::MIN), Ok(()));
}

#[test]
fn injected_clock_is_used_by_verify_and_construct_event() {
    let header = sign(EVENT.as_bytes(), SECRET, T);
    let at_t = verifier().with_clock(|| T + 5);
    assert_eq!(at_t.verify(EVENT.as_bytes(), &header), Ok(()));
    assert_eq!(
        at_t.construct_event(EVENT.as_bytes(), &header).unwrap().id,
        "evt_1"
    );
    let later = verifier().with_clock(|| T + 301);
    assert!(matches!(
        later.verify(EVENT.as_bytes(), &header),
        Err(WebhookError::TimestampOutsideTolerance { .. })
    ));
}

#[test]
fn signature_is_checked_before_timestamp() {
    let header = format!("t={},v1={}", T - 10_000, "0".repeat(64));
    assert_eq!(
        verify(EVENT.as_bytes(), &header),
        Err(WebhookError::NoMatchingSignature)
    );
}

// ---- configuration ----

#[test]
fn zero_and_sub_second_tolerances_are_rejected() {
    assert_eq!(
        verifier().tolerance(Duration::ZERO).unwrap_err(),
        ConfigError::ZeroTolerance
    );
    assert_eq!(
        verifier()
            .tolerance(Duration::from_millis(999))
            .unwrap_err(),
        ConfigError::ZeroTolerance
    );
    let v = verifier().tolerance(Duration::from_millis(1500)).unwrap();
    assert_eq!(v.current_tolerance(), Duration::from_secs(1));
}

#[test]
fn empty_missing_and_whitespace_secrets_are_rejected() {
    assert_eq!(
        Verifier::new("").unwrap_err(),
        ConfigError::EmptySecret { index: 0 }
    );
    assert_eq!(
        Verifier::with_secrets(Vec::<String>::new()).unwrap_err(),
        ConfigError::NoSecret
    );
    assert_eq!(
        Verifier::with_secrets(["whsec_a", "whsec_b\n"]).unwrap_err(),
        ConfigError::SecretContainsWhitespace { index: 1 }
    );
    let err =
        stripe_events::Webhook::construct_event(EVENT.as_bytes(), "t=1,v1=00", "").unwrap_err();
    assert_eq!(
        err,
        WebhookError::Config(ConfigError::EmptySecret { index: 0 })
    );
    assert!(!err.is_bad_request());
}

#[test]
fn debug_and_errors_never_show_secrets_or_signatures() {
    let v = Verifier::with_secrets(["whsec_first_secret", "whsec_second_secret"]).unwrap();
    let debug = format!("{v:?}");
    assert_eq!(
        debug,
        "Verifier { secrets: 2, tolerance: 300s, clock: \"system\" }"
    );
    assert_eq!(v.secret_count(), 2);
    let sig = v1(EVENT.as_bytes());
    let header = format!("t={T},v1={sig}");
    let errors = [
        v.verify_at(EVENT.as_bytes(), &header, T).unwrap_err(),
        v.verify_at(EVENT.as_bytes(), &format!("{header},t=2"), T)
            .unwrap_err(),
        v.verify_at(b"{}", &header, T).unwrap_err(),
    ];
    for err in errors {
        let text = format!("{err} {err:?}");
        assert!(!text.contains("first_secret"), "{text}");
        assert!(!text.contains("second_secret"), "{text}");
        assert!(!text.contains(&sig), "{text}");
        assert!(err.is_bad_request());
    }
}

#[test]
fn every_error_has_a_distinct_code() {
    let errors = [
        WebhookError::MissingHeader,
        WebhookError::MalformedHeader {
            reason: HeaderProblem::TooLong,
        },
        WebhookError::NoV1Signature,
        WebhookError::EmptyPayload,
        WebhookError::NoMatchingSignature,
        WebhookError::TimestampOutsideTolerance {
            timestamp: 0,
            now: 0,
            tolerance: Duration::from_secs(1),
        },
        WebhookError::InvalidPayload {
            kind: PayloadErrorKind::NotJson,
            path: ".".into(),
            message: String::new(),
        },
        WebhookError::ThinEvent,
        WebhookError::Config(ConfigError::NoSecret),
    ];
    let mut codes: Vec<&str> = errors.iter().map(WebhookError::code).collect();
    codes.sort_unstable();
    codes.dedup();
    assert_eq!(codes.len(), errors.len());
}

#[test]
fn verifier_and_errors_can_be_shared_across_threads() {
    fn shareable<T: Send + Sync + Clone + 'static>() {}
    shareable::<Verifier>();
    shareable::<WebhookError>();
    let v = verifier().with_clock(|| T);
    let handle =
        std::thread::spawn(move || v.verify(EVENT.as_bytes(), &sign(EVENT.as_bytes(), SECRET, T)));
    assert_eq!(handle.join().unwrap(), Ok(()));
}
