//! Fixture loading shared by the test binaries that read `tests/fixtures`.
#![allow(dead_code)] // Each test binary uses its own subset.

use stripe_events::{sign, Event, Verifier};

/// The signing secret fixtures are delivered with.
pub const SECRET: &str = "whsec_fixture_secret";

/// The bytes of `tests/fixtures/<name>`.
pub fn fixture(name: &str) -> Vec<u8> {
    let path = format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// Signs and verifies the fixture as Stripe would deliver it, then parses it.
pub fn delivered(name: &str) -> Event {
    let payload = fixture(name);
    let event: Event = serde_json::from_slice(&payload).unwrap();
    let header = sign(&payload, SECRET, event.created);
    Verifier::new(SECRET)
        .unwrap()
        .construct_event_at(&payload, &header, event.created + 1)
        .unwrap()
}
