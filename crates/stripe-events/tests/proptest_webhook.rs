//! Property tests over arbitrary payloads and headers: the verifier never panics, a correct
//! signature always verifies, and any single-byte change to the payload is caught.

use proptest::prelude::*;
use stripe_events::{sign, Verifier, WebhookError};

const SECRET: &str = "whsec_prop_secret";

fn verifier() -> Verifier {
    Verifier::new(SECRET).unwrap()
}

/// Headers assembled from the grammar's pieces, valid and invalid, to reach every branch.
fn header_entries() -> impl Strategy<Value = String> {
    let entry = prop_oneof![
        any::<i64>().prop_map(|t| format!("t={t}")),
        "[0-9]{0,25}".prop_map(|t| format!("t={t}")),
        "[0-9a-f]{0,70}".prop_map(|s| format!("v1={s}")),
        "[0-9a-f]{64}".prop_map(|s| format!("v0={s}")),
        "[ \t]{0,2}[a-z0-9]{0,3}[ \t]{0,2}=[^,]{0,10}",
        "[^,]{0,12}",
        Just(String::new()),
    ];
    prop::collection::vec(entry, 0..24).prop_map(|entries| entries.join(","))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn arbitrary_bytes_and_header_never_panic(
        payload in prop::collection::vec(any::<u8>(), 0..512),
        header in any::<String>(),
        now in any::<i64>(),
    ) {
        let _ = verifier().construct_event_at(&payload, &header, now);
        let _ = stripe_events::parse_event(&payload);
    }

    #[test]
    fn structured_headers_never_panic_and_fail_for_the_wrong_payload(
        header in header_entries(),
        now in any::<i64>(),
    ) {
        let result = verifier().construct_event_at(b"{}", &header, now);
        // Random hex only matches by a 2^-256 chance: it must never be accepted.
        prop_assert!(result.is_err());
        prop_assert!(result.unwrap_err().is_bad_request());
    }

    #[test]
    fn a_valid_signature_always_verifies(
        payload in prop::collection::vec(any::<u8>(), 1..2048),
        secret in "[!-~]{1,64}",
        timestamp in 0i64..=i64::MAX,
        skew in -300i64..=300,
    ) {
        let header = sign(&payload, &secret, timestamp);
        let now = timestamp.saturating_add(skew);
        prop_assert_eq!(Verifier::new(&secret).unwrap().verify_at(&payload, &header, now), Ok(()));
    }

    #[test]
    fn any_single_byte_change_fails(
        payload in prop::collection::vec(any::<u8>(), 1..2048),
        index in any::<prop::sample::Index>(),
        flip in 1u8..=255,
        timestamp in 0i64..4_000_000_000,
    ) {
        let header = sign(&payload, SECRET, timestamp);
        let mut tampered = payload.clone();
        let i = index.index(tampered.len());
        tampered[i] ^= flip;
        prop_assert_eq!(
            verifier().verify_at(&tampered, &header, timestamp),
            Err(WebhookError::NoMatchingSignature)
        );
    }

    #[test]
    fn a_different_timestamp_fails(
        payload in prop::collection::vec(any::<u8>(), 1..256),
        timestamp in 0i64..4_000_000_000,
        delta in 1i64..1000,
    ) {
        let header = sign(&payload, SECRET, timestamp);
        let sig = header.split_once(",v1=").unwrap().1;
        let moved = format!("t={},v1={sig}", timestamp + delta);
        prop_assert_eq!(
            verifier().verify_at(&payload, &moved, timestamp),
            Err(WebhookError::NoMatchingSignature)
        );
    }
}
