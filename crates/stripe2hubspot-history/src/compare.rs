//! Whether a value HubSpot holds is the value the mapping wrote: HubSpot echoes numbers and
//! times in its own spelling (`49.9` for `49.90`, milliseconds on datetimes), so equal values
//! can differ as text.

use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

/// Whether `found` (HubSpot's value, `None` when unset) is `expected` (the mapping's).
pub fn same_value(expected: &str, found: Option<&str>) -> bool {
    let Some(found) = found else {
        return expected.is_empty();
    };
    if expected == found {
        return true;
    }
    if let (Ok(a), Ok(b)) = (expected.parse::<f64>(), found.parse::<f64>()) {
        return a == b;
    }
    if let (Ok(a), Ok(b)) = (
        OffsetDateTime::parse(expected, &Rfc3339),
        OffsetDateTime::parse(found, &Rfc3339),
    ) {
        return a == b;
    }
    false
}

#[cfg(test)]
mod tests {
    use super::same_value;

    #[test]
    fn equal_values_in_hubspot_spelling_match_and_changes_do_not() {
        assert!(same_value("49.90", Some("49.9")));
        assert!(same_value("1500", Some("1500.0")));
        assert!(same_value(
            "2023-11-14T22:13:20Z",
            Some("2023-11-14T22:13:20.000Z")
        ));
        assert!(same_value("", None));
        assert!(same_value("closedwon", Some("closedwon")));
        assert!(!same_value("49.90", Some("49.91")));
        assert!(!same_value("closedwon", Some("closedlost")));
        assert!(!same_value("10", None));
        assert!(!same_value("usd", Some("USD")));
    }
}
