//! Cost of verifying and parsing realistic `charge.succeeded` deliveries (2.1 KB and 3.9 KB),
//! next to the floors measured in the same run: one HMAC-SHA256 over the same bytes and one
//! untyped `serde_json::Value` parse.
//!
//! `cargo bench -p stripe-events --bench verify_and_parse`

use std::hint::black_box;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use hmac::{Hmac, Mac};
use sha2::Sha256;
use stripe_events::{parse_event, sign, Verifier};

const SECRET: &str = "whsec_bench_secret";
const PAYLOADS: [(&str, &[u8]); 2] = [
    (
        "charge_2.1k",
        include_bytes!("../tests/fixtures/charge_succeeded_2k.json"),
    ),
    (
        "charge_3.9k",
        include_bytes!("../tests/fixtures/charge_succeeded.json"),
    ),
];
const T: i64 = 1_680_894_002;

fn bench(c: &mut Criterion) {
    let verifier = Verifier::new(SECRET).expect("valid secret");
    for (name, payload) in PAYLOADS {
        let header = sign(payload, SECRET, T);
        assert!(verifier.construct_event_at(payload, &header, T).is_ok());
        assert!(verifier.verify_envelope_at(payload, &header, T).is_ok());
        let signed_prefix = format!("{T}.");

        let mut group = c.benchmark_group(name);
        group.throughput(Throughput::Bytes(payload.len() as u64));
        group.bench_function("construct_event", |b| {
            b.iter(|| verifier.construct_event_at(black_box(payload), black_box(&header), T))
        });
        group.bench_function("verify_envelope", |b| {
            b.iter(|| verifier.verify_envelope_at(black_box(payload), black_box(&header), T))
        });
        group.bench_function("verify_only", |b| {
            b.iter(|| verifier.verify_at(black_box(payload), black_box(&header), T))
        });
        group.bench_function("parse_event_only", |b| {
            b.iter(|| parse_event(black_box(payload)))
        });
        group.bench_function("floor_hmac_sha256", |b| {
            b.iter(|| {
                let mut mac = Hmac::<Sha256>::new_from_slice(SECRET.as_bytes()).expect("any key");
                mac.update(signed_prefix.as_bytes());
                mac.update(black_box(payload));
                mac.finalize().into_bytes()
            })
        });
        group.bench_function("floor_serde_json_value", |b| {
            b.iter(|| serde_json::from_slice::<serde_json::Value>(black_box(payload)))
        });
        group.finish();
    }
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2));
    targets = bench
}
criterion_main!(benches);
