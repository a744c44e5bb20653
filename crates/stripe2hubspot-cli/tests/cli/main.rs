//! The `stripe2hubspot` binary run as a user runs it: a process with only the environment the
//! test gives it, HubSpot played by the fake over loopback.

mod admin;
mod common;
mod doctor;
mod fleet;
mod history;
mod portal_ops;
mod portals;
#[cfg(feature = "postgres")]
mod portals_scale;
#[cfg(feature = "postgres")]
mod scale;
mod serve;
mod standby;
