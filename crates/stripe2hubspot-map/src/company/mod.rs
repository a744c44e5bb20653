//! The company behind a payer: its identity ([`company_key`], from the email's domain or a
//! metadata value, never from a free-mail domain) and its properties ([`company_properties`]:
//! identity plus the payment and subscription rollups summed over its customers).
//!
//! Pure groundwork: the store groups customers by key, the engine finds or creates the HubSpot
//! company and writes these properties.

mod domain;
mod free_mail;
mod key;
mod member;
mod properties;
mod source;

pub use free_mail::FREE_MAIL_DOMAINS;
pub use key::{company_key, CompanyKey};
pub use member::{company_of_contact, company_properties_of, CompanyRollup};
pub use properties::{
    company_properties, CompanyNameHint, COMPANY_GROUP, COMPANY_KEY_PROPERTY,
    COMPANY_ROLLUP_PROPERTIES, COMPANY_SUBSCRIPTION_PROPERTIES,
};
pub(crate) use source::check_company_config;
pub use source::CompanyKeySource;
