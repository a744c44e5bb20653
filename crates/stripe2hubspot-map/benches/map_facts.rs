//! The facts path on the original example event: reading its facts, merging them into a ledger
//! row and deriving the deal and contact properties (parsing excluded, as the worker maps an
//! already-parsed event).

use criterion::{criterion_group, criterion_main, Criterion};
use std::hint::black_box;
use stripe2hubspot_map::{
    contact_properties, deal_properties, facts_from_event, FactsOutcome, LedgerRow, MappingConfig,
};

const SAMPLE_EVENT: &str = include_str!("../tests/fixtures/seed_charge_succeeded.json");

fn bench(c: &mut Criterion) {
    let event: stripe_events::Event =
        serde_json::from_str(SAMPLE_EVENT).expect("the sample fixture is a valid event");
    let default = MappingConfig::default();
    let FactsOutcome::Facts(facts) =
        facts_from_event(&event, &default).expect("the sample event maps")
    else {
        panic!("the sample event is handled by default")
    };
    let row = LedgerRow::from_facts(&facts);
    c.bench_function("ledger/facts_from_event/sample_charge", |b| {
        b.iter(|| facts_from_event(black_box(&event), black_box(&default)))
    });
    c.bench_function("ledger/apply", |b| {
        b.iter(|| {
            let mut row = black_box(&row).clone();
            row.apply(black_box(&facts));
            row
        })
    });
    c.bench_function("ledger/deal_and_contact_properties", |b| {
        b.iter(|| {
            let row = black_box(&row);
            (
                deal_properties(row, &default),
                contact_properties(std::slice::from_ref(row), &default),
            )
        })
    });
    c.bench_function("mapping_config/validate", |b| {
        b.iter(|| black_box(&default).validate())
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
