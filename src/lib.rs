#![doc = include_str!("../README.md")]
#![deny(missing_docs)]
#![warn(unreachable_pub)]
#![cfg_attr(docsrs, feature(doc_cfg))]

pub mod admin;
pub mod alert;
pub mod config;
pub mod engine;
#[cfg(feature = "backfill")]
#[cfg_attr(docsrs, doc(cfg(feature = "backfill")))]
pub mod history;
pub mod ingest;
pub mod service;
#[cfg(any(test, feature = "test-util"))]
#[cfg_attr(docsrs, doc(cfg(feature = "test-util")))]
pub mod testkit;

pub use hubspot_crm;
/// Replaces email addresses in a text that may reach logs, alerts or the queue's error column.
pub use hubspot_crm::redact;
pub use stripe2hubspot_map as map;
pub use stripe2hubspot_queue as queue;
pub use stripe_events;

pub use config::Config;
pub use engine::{EngineHandle, SyncEngine};
pub use ingest::{Ingest, IngestResponse};
pub use service::Service;
