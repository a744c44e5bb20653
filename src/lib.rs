#![doc = include_str!("../README.md")]
#![deny(missing_docs)]

pub mod alert;
pub mod config;
pub mod engine;
pub mod ingest;
pub mod queue;
pub mod service;
pub mod testkit;

pub use hubspot_crm;
pub use stripe2hubspot_map as map;
pub use stripe_events;

pub use config::{Config, ConfigError};
pub use engine::{EngineHandle, SyncEngine};
pub use ingest::{Ingest, IngestResponse};
pub use service::Service;
