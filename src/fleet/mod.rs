//! Many portals on one deployment: each stored portal (and the environment's `default`)
//! gets a sync engine of its own, fed by routing each verified event to its portal.
//!
//! SKELETON: h/lead owns `leadership.rs`; h/fleet owns the rest of this folder.

mod leadership;

pub use leadership::Leadership;
