//! `map_event` on the seed blueprint's example event (parsing excluded, as the worker maps an
//! already-parsed event).

use criterion::{criterion_group, criterion_main, Criterion};
use std::hint::black_box;
use stripe2hubspot_map::{map_event, MappingConfig};

const SEED_EVENT: &str = include_str!("../tests/fixtures/seed_charge_succeeded.json");

fn bench(c: &mut Criterion) {
    let event: stripe_events::Event =
        serde_json::from_str(SEED_EVENT).expect("the seed fixture is a valid event");
    let default = MappingConfig::default();
    let seed = MappingConfig::seed();
    c.bench_function("map_event/seed_charge/default", |b| {
        b.iter(|| map_event(black_box(&event), black_box(&default)))
    });
    c.bench_function("map_event/seed_charge/seed_preset", |b| {
        b.iter(|| map_event(black_box(&event), black_box(&seed)))
    });
    c.bench_function("mapping_config/validate", |b| {
        b.iter(|| black_box(&default).validate())
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
