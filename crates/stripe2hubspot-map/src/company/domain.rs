//! Domain names as a company's identity: taken from an email, checked, normalised.
//!
//! Normalisation: trimmed, lower case (Unicode lower case, so `ÄCME.de` is `äcme.de`), one
//! trailing dot dropped. Sub-domains are kept as they are (`mail.acme.com` stays
//! `mail.acme.com`): reducing to the registrable domain needs the Public Suffix List
//! (`acme.co.uk` versus `team.acme.com`), which this crate does not ship, and a guess would
//! merge unrelated companies. Internationalised domains are kept in the spelling the email
//! used: Unicode lower-cased, or the ASCII `xn--` form as given; the two spellings of one
//! domain are not unified (that needs IDNA mapping tables, the heavy `idna` crate), which
//! Stripe makes rare since payers type their email the same way each time.

use crate::text::normalize_email;

/// The normalised domain of `email`, or `None` when `email` is not a usable address or its
/// domain is not a domain name (an IP literal, a single label, an empty or overlong label).
pub(crate) fn email_domain(email: &str) -> Option<String> {
    let email = normalize_email(email)?;
    let (_, domain) = email.rsplit_once('@')?;
    let domain = domain.strip_suffix('.').unwrap_or(domain);
    is_domain(domain).then(|| domain.to_owned())
}

/// A DNS label: 1 to 63 bytes of letters, digits and inner hyphens (any non-ASCII character
/// counts as a letter, so Unicode labels pass as given).
fn is_label(label: &str) -> bool {
    !label.is_empty()
        && label.len() <= 63
        && !label.starts_with('-')
        && !label.ends_with('-')
        && label
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || !c.is_ascii())
}

/// A lower-case domain name of at least two labels whose top-level label is not numeric (so
/// `10.0.0.1` is not a domain).
pub(crate) fn is_domain(domain: &str) -> bool {
    let labels: Vec<&str> = domain.split('.').collect();
    domain.len() <= 253
        && labels.len() >= 2
        && labels.iter().all(|l| is_label(l))
        && labels
            .last()
            .is_some_and(|tld| !tld.bytes().all(|b| b.is_ascii_digit()))
}

/// A free-mail list entry: a domain, or `name.*` (one or more labels, then any top-level
/// domain).
pub(crate) fn is_domain_pattern(entry: &str) -> bool {
    match entry.strip_suffix(".*") {
        Some(name) => name.split('.').all(is_label),
        None => is_domain(entry),
    }
}
