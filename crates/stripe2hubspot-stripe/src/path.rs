//! Which object paths may be fetched with the key: `/v1/...` on the configured host only.

use crate::error::Error;

/// The longest path accepted; Stripe object paths are far shorter.
const MAX_PATH_LEN: usize = 512;

/// Checks that `url` is an API path such as `/v1/charges/ch_123` (a thin event's
/// `related_object.url`): absolute, under `/v1/`, of plain segments, without a host, query,
/// fragment, `.` or `..`. Anything else could send the key to another host or endpoint.
pub(crate) fn object_path(url: &str) -> Result<&str, Error> {
    let refuse = |why: &str| {
        Err(Error::InvalidInput(format!(
            "{why}; expected an API path such as /v1/charges/ch_123 (a thin event's related_object.url)"
        )))
    };
    if url.len() > MAX_PATH_LEN {
        return refuse("the object path is too long");
    }
    let Some(rest) = url.strip_prefix("/v1/") else {
        return refuse("the object path does not start with /v1/");
    };
    if rest.is_empty() {
        return refuse("the object path names no object");
    }
    for segment in rest.split('/') {
        let plain = segment
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-' || b == b'.');
        if segment.is_empty() || segment == "." || segment == ".." || !plain {
            return refuse("the object path has an empty, relative or non-plain segment");
        }
    }
    Ok(url)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_api_paths_and_refuses_everything_else() {
        for ok in [
            "/v1/charges/ch_123",
            "/v1/checkout/sessions/cs_test_a1",
            "/v1/disputes/du_1",
        ] {
            assert_eq!(object_path(ok).unwrap(), ok);
        }
        for bad in [
            "https://evil.example/v1/charges/ch_1",
            "//evil.example/v1/charges",
            "/v1/charges/../../admin",
            "/v1/charges/ch_1?expand[]=customer",
            "/v1/charges/ch_1#x",
            "/v1//charges",
            "/v2/core/events/evt_1",
            "/v1/",
            "v1/charges/ch_1",
            "/v1/charges/ch 1",
            "/v1/charges/ch_1@evil",
        ] {
            assert!(object_path(bad).is_err(), "{bad}");
        }
    }
}
