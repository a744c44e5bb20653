//! The queue crate's integration tests, in one binary so they link once.

#[cfg(feature = "sqlite")]
mod batch_insert;
mod conformance;
mod connect;
#[cfg(feature = "sqlite")]
mod migrate;
#[cfg(all(unix, feature = "sqlite"))]
mod sqlite_crash;
