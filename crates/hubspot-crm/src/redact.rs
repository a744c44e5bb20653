//! Removing personal data from text that may reach logs, alerts or a store.

/// What an email address is replaced with.
const EMAIL_PLACEHOLDER: &str = "[email]";

/// `text` with every email address replaced by `[email]`.
///
/// HubSpot's error messages quote the values they reject (`Email address bob@example.com is
/// invalid`, `Contact already exists`...), and those texts end up in logs, alerts and the
/// queue's error column. Every such text passes through this one function first.
///
/// ```
/// use hubspot_crm::redact;
/// assert_eq!(
///     redact("Email address \"Bob.Smith+x@mail.example.com\" is invalid"),
///     "Email address \"[email]\" is invalid"
/// );
/// assert_eq!(redact("no address here @ all"), "no address here @ all");
/// ```
pub fn redact(text: &str) -> String {
    if !text.contains('@') {
        return text.to_owned();
    }
    let chars: Vec<char> = text.chars().collect();
    let mut out = String::with_capacity(text.len());
    let mut index = 0;
    while index < chars.len() {
        let Some(at) = chars[index..]
            .iter()
            .position(|&c| c == '@')
            .map(|p| p + index)
        else {
            out.extend(&chars[index..]);
            break;
        };
        let mut start = at;
        while start > index && is_local(chars[start - 1]) {
            start -= 1;
        }
        let mut end = at + 1;
        while end < chars.len() && is_domain(chars[end]) {
            end += 1;
        }
        // A domain never ends with a dot: "mail me at a@b.com." keeps its full stop.
        while end > at + 1 && chars[end - 1] == '.' {
            end -= 1;
        }
        let domain: String = chars[at + 1..end].iter().collect();
        out.extend(&chars[index..start]);
        if start < at && domain.contains('.') {
            out.push_str(EMAIL_PLACEHOLDER);
        } else {
            out.extend(&chars[start..end]);
        }
        index = end;
    }
    out
}

fn is_local(c: char) -> bool {
    c.is_alphanumeric() || "._%+-'!#$&*=?^`{|}~".contains(c)
}

fn is_domain(c: char) -> bool {
    c.is_alphanumeric() || c == '.' || c == '-'
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replaces_every_address_and_keeps_the_rest() {
        assert_eq!(
            redact("a@b.co and ÄNNE@münchen.de, then x@y."),
            "[email] and [email], then x@y."
        );
        assert_eq!(
            redact("Property values were not valid: [{\"value\":\"jo@ex.io\"}]"),
            "Property values were not valid: [{\"value\":\"[email]\"}]"
        );
        assert_eq!(redact("@@@ a@ @b"), "@@@ a@ @b");
        assert_eq!(redact(""), "");
    }

    #[test]
    fn never_panics_and_never_leaves_an_address() {
        let samples = [
            "@",
            "a@",
            "@b.c",
            "a@b.c@d.e",
            "é@é.é",
            "..@..",
            "a@b.c.",
            "x@y.z@",
        ];
        for sample in samples {
            let out = redact(sample);
            assert!(
                !out.contains("a@b.c") && !out.contains("é@é.é"),
                "{sample} -> {out}"
            );
        }
    }
}
