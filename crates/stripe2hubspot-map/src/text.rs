//! Small text rules of the facts and the derived properties: trimming, emails, names, dates.

use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

use crate::config::NameSplit;

/// The trimmed text, unless it is empty.
pub(crate) fn present(value: Option<&str>) -> Option<&str> {
    value.map(str::trim).filter(|v| !v.is_empty())
}

/// Trimmed and lowercased; `None` when it cannot be an address HubSpot accepts, so the next
/// source is tried instead of failing the whole batch with INVALID_EMAIL.
pub(crate) fn normalize_email(raw: &str) -> Option<String> {
    let email = raw.trim().to_lowercase();
    let (local, domain) = email.rsplit_once('@')?;
    let plausible = !local.is_empty()
        && !domain.is_empty()
        && !email.chars().any(|c| c.is_whitespace() || c.is_control());
    plausible.then_some(email)
}

/// `firstname` and, when the rule and the words give one, `lastname`.
pub(crate) fn split_name(words: &[&str], rule: NameSplit) -> (String, Option<String>) {
    match (rule, words) {
        (NameSplit::FirstnameOnly, _) | (_, [_]) => (words.join(" "), None),
        (NameSplit::LastWordIsLastName, [first @ .., last]) => {
            (first.join(" "), Some((*last).to_owned()))
        }
        (NameSplit::FirstWordIsFirstName, [first, rest @ ..]) => {
            ((*first).to_owned(), Some(rest.join(" ")))
        }
        (_, []) => (String::new(), None),
    }
}

/// ISO 8601 UTC (`2023-04-05T12:34:56Z`), which HubSpot `datetime` properties accept; `None`
/// for a time outside years 0-9999.
pub(crate) fn iso_utc(secs: i64) -> Option<String> {
    OffsetDateTime::from_unix_timestamp(secs)
        .ok()
        .and_then(|t| t.format(&Rfc3339).ok())
}
