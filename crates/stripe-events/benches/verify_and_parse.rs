//! Cost of verifying and parsing one realistic `charge.succeeded` delivery, next to its floor:
//! one HMAC-SHA256 over the same bytes and one untyped `serde_json::Value` parse.

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use hmac::{Hmac, Mac};
use sha2::Sha256;
use stripe_events::{sign, Verifier};

const SECRET: &str = "whsec_bench_secret";
const PAYLOAD: &[u8] = include_bytes!("../tests/fixtures/charge_succeeded.json");
const T: i64 = 1_680_894_002;

fn bench(c: &mut Criterion) {
    let verifier = Verifier::new(SECRET).expect("valid secret");
    let header = sign(PAYLOAD, SECRET, T);
    assert!(verifier.construct_event_at(PAYLOAD, &header, T).is_ok());

    let mut group = c.benchmark_group("charge_succeeded");
    group.throughput(Throughput::Bytes(PAYLOAD.len() as u64));
    group.bench_function("verify_and_parse", |b| {
        b.iter(|| verifier.construct_event_at(black_box(PAYLOAD), black_box(&header), T))
    });
    group.bench_function("verify_only", |b| {
        b.iter(|| verifier.verify_at(black_box(PAYLOAD), black_box(&header), T))
    });
    group.bench_function("floor_hmac_sha256", |b| {
        b.iter(|| {
            let mut mac = Hmac::<Sha256>::new_from_slice(SECRET.as_bytes()).expect("any key");
            mac.update(black_box(PAYLOAD));
            mac.finalize().into_bytes()
        })
    });
    group.bench_function("floor_serde_json_value", |b| {
        b.iter(|| serde_json::from_slice::<serde_json::Value>(black_box(PAYLOAD)))
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
