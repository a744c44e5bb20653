//! A payer's company identity, the value of `stripe_company_key`.

use serde::{Deserialize, Serialize};
use stripe_events::Metadata;

use crate::config::MappingConfig;
use crate::text::present;

use super::domain::email_domain;
use super::free_mail::is_free_mail;
use super::source::CompanyKeySource;

/// Which company a payer belongs to: the value of the unique company property
/// `stripe_company_key`, and where it came from.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CompanyKey {
    /// An email domain, normalised (see [`company_key`]); also the company's `domain`.
    Domain(String),
    /// A metadata value, trimmed, case kept.
    Metadata(String),
}

impl CompanyKey {
    /// The value written to `stripe_company_key`.
    pub fn value(&self) -> &str {
        match self {
            CompanyKey::Domain(v) | CompanyKey::Metadata(v) => v,
        }
    }

    /// The company's `domain`, for a key taken from an email.
    pub fn domain(&self) -> Option<&str> {
        match self {
            CompanyKey::Domain(domain) => Some(domain),
            CompanyKey::Metadata(_) => None,
        }
    }
}

/// The company of a payer with this `email` and payment `metadata`, as
/// [`MappingConfig::company_key`] says, or `None` (no company: that is not an error).
///
/// - `email_domain`: the part after the last `@` (the local part, plus-addressing included,
///   is ignored), trimmed, lower case, one trailing dot dropped. Sub-domains are kept as
///   they are: `mail.acme.com` stays `mail.acme.com`, since finding the registrable domain
///   needs the Public Suffix List and a guess would merge unrelated companies.
///   Internationalised domains are kept as the email spells them: Unicode lower-cased, or
///   the ASCII `xn--` form as given (the two spellings are not unified). `None` for an
///   unusable email (no local part, whitespace, a domain that is not a domain name, such as
///   an IP literal or a single label) and for free-mail and disposable domains
///   ([`FREE_MAIL_DOMAINS`](crate::FREE_MAIL_DOMAINS) plus
///   [`free_mail_domains_extra`](MappingConfig::free_mail_domains_extra)).
/// - `metadata`: the trimmed value of the configured key, `None` when absent or blank.
/// - `none`: always `None`.
///
/// ```
/// use stripe2hubspot_map::{company_key, CompanyKey, CompanyKeySource, MappingConfig};
/// use stripe_events::Metadata;
///
/// let mut config = MappingConfig::default();
/// let none = Metadata::new();
/// let key = company_key(Some(" Ann+billing@Mail.ACME.com "), &none, &config);
/// assert_eq!(key, Some(CompanyKey::Domain("mail.acme.com".into())));
/// assert_eq!(company_key(Some("ann@gmx.de"), &none, &config), None);
///
/// config.company_key = CompanyKeySource::Metadata("company_id".into());
/// let metadata = Metadata::from([("company_id".to_owned(), " ACME-42 ".to_owned())]);
/// let key = company_key(Some("ann@gmail.com"), &metadata, &config);
/// assert_eq!(key.as_ref().map(CompanyKey::value), Some("ACME-42"));
/// ```
pub fn company_key(
    email: Option<&str>,
    metadata: &Metadata,
    config: &MappingConfig,
) -> Option<CompanyKey> {
    match &config.company_key {
        CompanyKeySource::EmailDomain => {
            let domain = email_domain(email?)?;
            let free = is_free_mail(&domain, &config.free_mail_domains_extra);
            (!free).then_some(CompanyKey::Domain(domain))
        }
        CompanyKeySource::Metadata(key) => present(metadata.get(key).map(String::as_str))
            .map(|value| CompanyKey::Metadata(value.to_owned())),
        CompanyKeySource::Disabled => None,
    }
}
