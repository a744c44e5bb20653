//! The durable job queue and sync state between stripe2hubspot's webhook ingest and its
//! HubSpot worker.
//!
//! Ingest stores each verified Stripe event with [`Queue::enqueue`] before answering Stripe, and
//! the worker drains it with [`Queue::reserve`]. Three traits split the store by job:
//!
//! - [`Queue`]: the job source (enqueue, reserve, answer, renew leases). A custom backend
//!   implements only this to be useful.
//! - [`QueueAdmin`]: inspection and upkeep (dead letters, replay, stats, purge).
//! - [`SyncState`]: the payment and customer ledgers the sync engine keeps next to the jobs
//!   (one row per payment and one per Stripe customer, merged from every event about it,
//!   versioned against what HubSpot was sent).
//!
//! [`PauseStore`] keeps the operator's pause of the sync where every process sharing the store
//! sees it.
//!
//! [`PortalStore`] keeps the HubSpot portals and the Stripe accounts routed to each (issue 23),
//! and gives each portal its own namespace of jobs, ledgers, pause and dead letters
//! ([`Store::portal`]). [`PortalLeases`] records which process leads which portal, and
//! [`UnroutedEvents`] keeps the events of accounts no portal claims yet.
//!
//! [`Store`] bundles the three (and the pause and the portals); [`connect`] opens one from a URL. The backends here implement
//! all three and share one schema and one set of semantics, checked by the `conformance` suite
//! (feature `test-util`):
//!
//! - [`MemoryQueue`]: in-process, lost on restart (tests, or users who accept that).
//! - `SqliteQueue` (feature `sqlite`): one file, WAL, `synchronous=FULL`, concurrent enqueues
//!   coalesced into one transaction.
//! - `PostgresQueue` (feature `postgres`): `FOR UPDATE SKIP LOCKED` claims, safe for many
//!   processes on many machines.
//!
//! ```
//! # async fn demo() -> Result<(), stripe2hubspot_queue::QueueError> {
//! use stripe2hubspot_queue::{connect, Enqueued, NewJob};
//! let store = connect("memory:").await?;
//! let job = NewJob {
//!     event_id: "evt_1".into(),
//!     event_type: "charge.succeeded".into(),
//!     event_created: 1_700_000_000,
//!     payload: br#"{"id":"evt_1"}"#.to_vec(),
//! };
//! assert!(matches!(store.queue.enqueue(job.clone()).await?, Enqueued::Inserted(_)));
//! assert!(matches!(store.queue.enqueue(job).await?, Enqueued::Duplicate(_)));
//! # Ok(()) }
//! ```
//!
//! # Semantics every backend keeps
//! - The Stripe event id is unique. A second enqueue answers [`Enqueued::Duplicate`] for as long as
//!   the row exists: through completion, until [`QueueAdmin::purge_done`] removes done rows older
//!   than its threshold (keep at least [`DEFAULT_KEEP_DONE`]; Stripe redelivers for 3 days).
//! - [`Queue::reserve`] claims jobs whose `run_at <= now`, oldest first (by `run_at`, then id).
//!   A job whose lease expired without an answer is ready again; re-granting it counts as one
//!   consumed attempt, so an event that crashes its worker cannot loop forever.
//! - `complete`, `retry`, `release`, `dead_letter` and `renew` require the job's id and the
//!   [`LeaseToken`] of the reservation. If the job was re-granted meanwhile (or is not leased)
//!   they fail with [`QueueError::LeaseLost`] (`renew` lists it) and change nothing. A holder
//!   whose lease expired but was not yet re-granted may still answer or renew.
//! - [`Job::attempts`] counts consumed attempts before this reservation. `retry` consumes one
//!   only with [`Attempt::Consume`] (a 429 or a paused pipeline does not), `dead_letter` consumes
//!   one, `release` and `renew` none, `replay` resets the count to zero.
//! - Completed jobs keep only their event id and metadata: the payload is dropped at completion,
//!   so personal data in payment events is not retained longer than needed.
#![deny(missing_docs)]
#![warn(unreachable_pub)]
#![cfg_attr(docsrs, feature(doc_cfg))]

mod company;
#[cfg(feature = "test-util")]
#[cfg_attr(docsrs, doc(cfg(feature = "test-util")))]
pub mod conformance;
mod contact_mark;
mod customer;
mod erasure;
mod error;
mod job;
mod leader;
mod lease;
mod ledger;
mod memory;
mod pause;
mod portal;
#[cfg(feature = "postgres")]
mod postgres;
#[cfg(feature = "postgres")]
mod postgres_leader;
mod signal;
#[cfg(any(feature = "sqlite", feature = "postgres"))]
mod sql;
#[cfg(feature = "sqlite")]
mod sqlite;
#[cfg(feature = "sqlite")]
mod sqlite_leader;
mod store;
mod time;
mod traits;
mod unrouted;

pub use company::{CompanyMember, CompanyWork, CompanyWritten, LineItemWork};
pub use contact_mark::ContactMark;
pub use customer::{customer_contact_key, CustomerEntry};
pub use erasure::{redact_personal, Erasure};
pub use error::QueueError;
pub use job::{
    Attempt, DeadLetter, Enqueued, Job, JobId, LeaseToken, NewJob, QueueStats, DEFAULT_KEEP_DONE,
};
pub use leader::{Election, SoleProcess};
pub use lease::{Lease, LiveProcess, PortalLeases};
pub use ledger::{contact_key_of, LedgerChange, LedgerEntry, WriteMark, WrittenDeal};
pub use memory::MemoryQueue;
pub use pause::{OperatorPause, PauseStore};
pub use portal::{
    validate_account, validate_accounts, validate_portal_id, Portal, PortalChange, PortalError,
    PortalStore, PortalToken, DEFAULT_PORTAL, MAX_ACCOUNT_LEN, MAX_PORTAL_ID_LEN,
};
#[cfg(feature = "postgres")]
#[cfg_attr(docsrs, doc(cfg(feature = "postgres")))]
pub use postgres::{PostgresOptions, PostgresQueue};
#[cfg(feature = "postgres")]
#[cfg_attr(docsrs, doc(cfg(feature = "postgres")))]
pub use postgres_leader::PostgresElection;
pub use signal::{EnqueueNotifier, EnqueueSignal};
#[cfg(feature = "sqlite")]
#[cfg_attr(docsrs, doc(cfg(feature = "sqlite")))]
pub use sqlite::{SqliteOptions, SqliteQueue, Synchronous};
#[cfg(feature = "sqlite")]
#[cfg_attr(docsrs, doc(cfg(feature = "sqlite")))]
pub use sqlite_leader::SqliteElection;
pub use store::{connect, Backend, Store};
pub use traits::{Queue, QueueAdmin, SyncState};
pub use unrouted::{UnroutedAccount, UnroutedEvents};

/// Message recorded when an expired lease is re-granted.
const LEASE_EXPIRED: &str = "lease expired before the worker answered";

/// The README's examples compile as doctests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
