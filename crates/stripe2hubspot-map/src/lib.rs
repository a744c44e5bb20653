//! stripe2hubspot-map
#![deny(missing_docs)]
