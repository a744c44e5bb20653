//! hubspot-crm
#![deny(missing_docs)]
