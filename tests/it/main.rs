//! The facade's integration tests, in one binary so they link once. They run the real
//! pipeline: a SQLite queue file, the axum route on loopback and the fake HubSpot.
#![cfg(all(feature = "sqlite", feature = "axum", feature = "test-util"))]

#[cfg(feature = "backfill")]
mod backfill;
mod common;
mod companies;
mod concurrency;
mod create;
mod customers;
mod engine_edges;
mod faults;
mod fleet;
mod ingest;
mod leadership;
mod lifecycle;
mod line_items;
mod pause_probe;
#[cfg(feature = "backfill")]
mod reconcile;
mod server;
#[cfg(feature = "backfill")]
mod settlement;
mod sync;
#[cfg(feature = "backfill")]
mod thin_events;
