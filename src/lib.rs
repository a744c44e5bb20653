#![doc = include_str!("../README.md")]
#![deny(missing_docs)]
#![warn(unreachable_pub)]
#![cfg_attr(docsrs, feature(doc_cfg))]

pub mod admin;
pub mod config;
pub mod fleet;
pub mod ingest;
pub mod service;

pub use hubspot_crm;
/// Replaces email addresses in a text that may reach logs, alerts or the queue's error column.
pub use hubspot_crm::redact;
/// The sync engine ([`stripe2hubspot-engine`](stripe2hubspot_engine)).
pub use stripe2hubspot_engine as engine;
/// Alerts to operators: the [`Alerter`](alert::Alerter) trait, Slack, tracing and throttling.
pub use stripe2hubspot_engine::alert;
/// Backfill and reconcile ([`stripe2hubspot-history`](stripe2hubspot_history)).
#[cfg(feature = "backfill")]
#[cfg_attr(docsrs, doc(cfg(feature = "backfill")))]
pub use stripe2hubspot_history as history;
pub use stripe2hubspot_map as map;
pub use stripe2hubspot_queue as queue;
pub use stripe_events;
/// Realistic, signed Stripe payment events for demos and tests.
#[cfg(feature = "test-util")]
#[cfg_attr(docsrs, doc(cfg(feature = "test-util")))]
pub use stripe_events::testkit;

pub use config::Config;
pub use engine::{EngineHandle, SyncEngine};
pub use ingest::{Ingest, IngestResponse};
pub use service::Service;

/// The examples of `docs/embedding.md` compile as doctests, so the guide cannot drift from the API.
#[cfg(doctest)]
#[doc = include_str!("../docs/embedding.md")]
struct EmbeddingGuideDoctests;
