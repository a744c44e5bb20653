//! Where a company's identity comes from, as configured, and the checks of that configuration.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::config::{empty, ConfigError, MappingConfig};

use super::domain::is_domain_pattern;

/// What makes a payer's company ([`MappingConfig::company_key`]). In a JSON or TOML mapping:
/// `"email_domain"`, `{"metadata": "company_id"}` or `"none"`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CompanyKeySource {
    /// The domain of the payer's email (free-mail and disposable domains excepted). The
    /// default: most portals are B2B, and HubSpot itself matches companies by domain.
    #[default]
    EmailDomain,
    /// The trimmed value of this Stripe metadata key (for example `company_id`), for accounts
    /// that record the company themselves; a payment without it has no company.
    Metadata(String),
    /// No companies at all (`"none"`).
    #[serde(rename = "none")]
    Disabled,
}

impl fmt::Display for CompanyKeySource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CompanyKeySource::EmailDomain => f.write_str("email_domain"),
            CompanyKeySource::Metadata(key) => write!(f, "metadata {key:?}"),
            CompanyKeySource::Disabled => f.write_str("none"),
        }
    }
}

/// Checks `company_key` and `free_mail_domains_extra`; the error names the offending field.
pub(crate) fn check_company_config(config: &MappingConfig) -> Result<(), ConfigError> {
    if let CompanyKeySource::Metadata(key) = &config.company_key {
        if key.trim().is_empty() {
            return Err(empty("company_key.metadata"));
        }
    }
    for (i, entry) in config.free_mail_domains_extra.iter().enumerate() {
        if !is_domain_pattern(&entry.trim().to_lowercase()) {
            return Err(ConfigError::InvalidDomain {
                field: format!("free_mail_domains_extra[{i}]"),
                value: entry.clone(),
            });
        }
    }
    Ok(())
}
