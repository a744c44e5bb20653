//! Which HubSpot API version the client speaks.

use std::fmt;
use std::str::FromStr;

/// The HubSpot REST API version every call of a [`Client`](crate::Client) goes to.
///
/// Since 2026-03-30 HubSpot versions its APIs by release date: paths look like
/// `/crm/objects/2026-09/contacts` instead of `/crm/v3/objects/contacts`. A new version
/// ships every March and September; each is supported for 18 months after it went GA.
///
/// The default is [`ApiVersion::V2026_09`]: of the GA versions it is the one HubSpot
/// supports longest (GA 2026-09-08, supported until March 2028, while 2026-03 loses
/// support in September 2027). From 2026-09 on, HubSpot enforces the portal's
/// validation rules on every CRM write; a write that breaks one fails with
/// [`Error::RuleViolation`](crate::Error::RuleViolation).
///
/// [`ApiVersion::Legacy`] keeps the numeric paths (`/crm/v3/...` for objects, properties
/// and pipelines, `/crm/v4/...` for associations) for portals that need them: HubSpot
/// stops supporting v4 on 2027-03-30 and v1-v3 in September 2027.
///
/// ```
/// use hubspot_crm::ApiVersion;
/// let v: ApiVersion = "2026-03".parse().unwrap();
/// assert_eq!(v, ApiVersion::V2026_03);
/// assert_eq!(ApiVersion::default().to_string(), "2026-09");
/// assert_eq!("legacy".parse::<ApiVersion>().unwrap(), ApiVersion::Legacy);
/// assert!("2025-09".parse::<ApiVersion>().is_err());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ApiVersion {
    /// A date-based version, e.g. `2026-09`.
    Dated(DatedVersion),
    /// The numeric v3/v4 paths, until HubSpot stops supporting them (v4: 2027-03-30,
    /// v3: September 2027).
    Legacy,
}

/// A date-based HubSpot API version this crate knows the shapes of.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct DatedVersion(&'static str);

impl DatedVersion {
    /// The version's path segment, e.g. `2026-09`.
    pub fn as_str(&self) -> &'static str {
        self.0
    }

    /// Whether HubSpot enforces the portal's validation rules on CRM writes in this version.
    pub fn enforces_validation_rules(&self) -> bool {
        *self >= RULES_ENFORCED_FROM
    }
}

/// The first version that enforces admin-configured validation rules on API writes
/// (`YYYY-MM` strings order like the dates they name).
const RULES_ENFORCED_FROM: DatedVersion = DatedVersion("2026-09");

impl ApiVersion {
    /// `2026-03`: GA 2026-03-30, supported until September 2027.
    pub const V2026_03: ApiVersion = ApiVersion::Dated(DatedVersion("2026-03"));
    /// `2026-09`: GA 2026-09-08, supported until March 2028. The default.
    pub const V2026_09: ApiVersion = ApiVersion::Dated(RULES_ENFORCED_FROM);
    /// Every version [`FromStr`] accepts, newest dated version first.
    pub const ALL: [ApiVersion; 3] = [
        ApiVersion::V2026_09,
        ApiVersion::V2026_03,
        ApiVersion::Legacy,
    ];

    /// The date segment for dated versions, `None` for [`ApiVersion::Legacy`].
    pub fn date(&self) -> Option<&'static str> {
        match self {
            ApiVersion::Dated(d) => Some(d.as_str()),
            ApiVersion::Legacy => None,
        }
    }

    /// Whether HubSpot enforces the portal's validation rules on CRM writes.
    pub fn enforces_validation_rules(&self) -> bool {
        match self {
            ApiVersion::Dated(d) => d.enforces_validation_rules(),
            ApiVersion::Legacy => false,
        }
    }
}

impl Default for ApiVersion {
    fn default() -> Self {
        ApiVersion::V2026_09
    }
}

impl fmt::Display for ApiVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ApiVersion::Dated(d) => f.write_str(d.as_str()),
            ApiVersion::Legacy => f.write_str("legacy"),
        }
    }
}

/// A string that names no HubSpot API version this crate speaks.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown HubSpot API version {input:?}; use 2026-09 (the default), 2026-03, or legacy for the v3/v4 paths")]
pub struct ApiVersionParseError {
    input: String,
}

impl ApiVersionParseError {
    /// The string that was given.
    pub fn input(&self) -> &str {
        &self.input
    }
}

impl FromStr for ApiVersion {
    type Err = ApiVersionParseError;

    /// Accepts `2026-09`, `2026-03` and `legacy` (any case, surrounding spaces ignored).
    /// Newer dated versions need a release of this crate: HubSpot may change shapes in them.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let wanted = s.trim();
        ApiVersion::ALL
            .into_iter()
            .find(|v| v.to_string().eq_ignore_ascii_case(wanted))
            .ok_or_else(|| ApiVersionParseError {
                input: s.to_owned(),
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_what_it_prints_and_nothing_else() {
        for v in ApiVersion::ALL {
            assert_eq!(v.to_string().parse::<ApiVersion>(), Ok(v));
        }
        assert_eq!(" LEGACY ".parse::<ApiVersion>(), Ok(ApiVersion::Legacy));
        for bad in ["", "v3", "2026-9", "2026-06", "2027-03", "latest"] {
            let e = bad.parse::<ApiVersion>().unwrap_err();
            assert_eq!(e.input(), bad);
            assert!(e.to_string().contains("2026-09"), "{e}");
        }
    }

    #[test]
    fn only_2026_09_enforces_rules() {
        assert!(ApiVersion::V2026_09.enforces_validation_rules());
        assert!(!ApiVersion::V2026_03.enforces_validation_rules());
        assert!(!ApiVersion::Legacy.enforces_validation_rules());
    }
}
