//! Free-mail and disposable domains: an address there says nothing about the payer's company.

/// The shipped list of free-mail and disposable domains, which never make a company. An
/// entry `name.*` matches `name` under any top-level domain, matched by label: `gmx.de`,
/// `gmx.net`, and the two-label country forms `gmx.co.uk`, `yandex.com.tr` (second level
/// `co` or `com`), but never a sub-domain of another company (`gmx.acme.com`). Extend it with
/// [`MappingConfig::free_mail_domains_extra`](crate::MappingConfig::free_mail_domains_extra).
pub const FREE_MAIL_DOMAINS: &[&str] = &[
    // Webmail providers.
    "gmail.com",
    "googlemail.com",
    "outlook.com",
    "outlook.*",
    "hotmail.*",
    "live.com",
    "live.co.uk",
    "live.de",
    "live.fr",
    "live.it",
    "live.nl",
    "msn.com",
    "passport.com",
    "windowslive.com",
    "yahoo.*",
    "ymail.com",
    "rocketmail.com",
    "icloud.com",
    "me.com",
    "mac.com",
    "aol.com",
    "aim.com",
    "proton.me",
    "protonmail.com",
    "protonmail.ch",
    "pm.me",
    "gmx.*",
    "web.de",
    "t-online.de",
    "freenet.de",
    "mail.ru",
    "inbox.ru",
    "list.ru",
    "bk.ru",
    "yandex.*",
    "ya.ru",
    "qq.com",
    "163.com",
    "126.com",
    "yeah.net",
    "sina.com",
    "naver.com",
    "daum.net",
    "hanmail.net",
    "zoho.com",
    "zohomail.com",
    "fastmail.com",
    "fastmail.fm",
    "hey.com",
    "tutanota.com",
    "tuta.io",
    "mail.com",
    "email.com",
    "usa.com",
    "hushmail.com",
    "laposte.net",
    "orange.fr",
    "wanadoo.fr",
    "free.fr",
    "libero.it",
    "virgilio.it",
    "seznam.cz",
    "wp.pl",
    "o2.pl",
    "interia.pl",
    "rediffmail.com",
    "comcast.net",
    "verizon.net",
    "att.net",
    "sbcglobal.net",
    "btinternet.com",
    "bigpond.com",
    "rambler.ru",
    // Disposable and temporary addresses.
    "mailinator.com",
    "guerrillamail.*",
    "sharklasers.com",
    "grr.la",
    "10minutemail.com",
    "10minutemail.net",
    "tempmail.com",
    "temp-mail.org",
    "tempmail.net",
    "tempmailo.com",
    "throwawaymail.com",
    "yopmail.*",
    "trashmail.*",
    "getnada.com",
    "dispostable.com",
    "maildrop.cc",
    "mailnesia.com",
    "mintemail.com",
    "fakeinbox.com",
    "spamgourmet.com",
    "emailondeck.com",
    "moakt.com",
];

/// Second-level labels a `name.*` entry accepts before a country code (`gmx.co.uk`,
/// `yandex.com.tr`).
const COUNTRY_SECOND_LEVELS: [&str; 2] = ["co", "com"];

/// Whether `domain` (normalised: lower case) is free-mail or disposable: on the shipped list
/// or on `extra` (compared in lower case).
pub(crate) fn is_free_mail(domain: &str, extra: &[String]) -> bool {
    FREE_MAIL_DOMAINS.iter().any(|entry| matches(entry, domain))
        || extra
            .iter()
            .any(|entry| matches(&entry.trim().to_lowercase(), domain))
}

fn matches(entry: &str, domain: &str) -> bool {
    let Some(name) = entry.strip_suffix(".*") else {
        return entry == domain;
    };
    let Some(rest) = domain
        .strip_prefix(name)
        .and_then(|rest| rest.strip_prefix('.'))
    else {
        return false;
    };
    match rest.split('.').collect::<Vec<_>>().as_slice() {
        [tld] => !tld.is_empty(),
        [second, tld] => COUNTRY_SECOND_LEVELS.contains(second) && !tld.is_empty(),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::company::domain::is_domain_pattern;

    #[test]
    fn every_shipped_entry_is_a_domain_or_a_wildcard() {
        for entry in FREE_MAIL_DOMAINS {
            assert!(is_domain_pattern(entry), "{entry}");
            assert_eq!(*entry, entry.to_lowercase(), "{entry}");
        }
    }

    #[test]
    fn wildcards_match_by_label() {
        for free in [
            "gmx.de",
            "gmx.net",
            "gmx.co.uk",
            "yandex.ru",
            "yandex.com.tr",
        ] {
            assert!(is_free_mail(free, &[]), "{free}");
        }
        for company in ["gmx.acme.com", "gmxx.de", "mygmx.de", "yandex.team.acme.io"] {
            assert!(!is_free_mail(company, &[]), "{company}");
        }
    }
}
