//! stripe2hubspot
#![deny(missing_docs)]
