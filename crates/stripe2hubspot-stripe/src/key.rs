//! The API key: which kinds Stripe accepts for reads, and how it is kept out of every output.

use std::fmt;

use crate::error::Error;

/// Whether a key can do anything (`sk_`) or only what it was granted (`rk_`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyKind {
    /// A secret key (`sk_test_...`, `sk_live_...`).
    Secret,
    /// A restricted key (`rk_test_...`, `rk_live_...`); it needs read permission on every
    /// resource listed (see the crate README).
    Restricted,
}

/// A Stripe API key. Its `Debug` and `Display` show the kind and mode, never the key.
#[derive(Clone, PartialEq, Eq)]
pub struct ApiKey {
    key: String,
    kind: KeyKind,
    live: bool,
}

impl ApiKey {
    /// Checks the shape of a key: `sk_` or `rk_`, then `test_` or `live_`, printable ASCII.
    pub fn parse(key: &str) -> Result<ApiKey, Error> {
        let key = key.trim();
        if key.is_empty() {
            return Err(Error::Config(
                "the Stripe API key is empty; set STRIPE_SECRET_KEY to a secret key (sk_...) or a restricted key (rk_...) with read access".into(),
            ));
        }
        if !key.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(Error::Config(
                "the Stripe API key contains spaces or non-ASCII characters; copy it again from the Stripe Dashboard (Developers > API keys)".into(),
            ));
        }
        let (kind, rest) = if let Some(rest) = key.strip_prefix("sk_") {
            (KeyKind::Secret, rest)
        } else if let Some(rest) = key.strip_prefix("rk_") {
            (KeyKind::Restricted, rest)
        } else if key.starts_with("pk_") {
            return Err(Error::Config(
                "the Stripe API key is a publishable key (pk_...), which cannot read payments; set STRIPE_SECRET_KEY to a secret key (sk_...) or a restricted key (rk_...) with read access".into(),
            ));
        } else {
            return Err(Error::Config(
                "the Stripe API key does not start with sk_ or rk_; set STRIPE_SECRET_KEY to a secret or restricted key from the Stripe Dashboard".into(),
            ));
        };
        let live = if rest.starts_with("live_") {
            true
        } else if rest.starts_with("test_") {
            false
        } else {
            return Err(Error::Config(
                "the Stripe API key has no test_ or live_ part after its prefix; copy the whole key from the Stripe Dashboard".into(),
            ));
        };
        Ok(ApiKey {
            key: key.to_owned(),
            kind,
            live,
        })
    }

    /// Secret or restricted.
    pub fn kind(&self) -> KeyKind {
        self.kind
    }

    /// Whether the key is a live-mode key.
    pub fn is_live(&self) -> bool {
        self.live
    }

    /// The key itself, for the `Authorization` header only.
    pub(crate) fn expose(&self) -> &str {
        &self.key
    }

    /// `text` with every Stripe key in it replaced, including the partial keys Stripe quotes
    /// in its error messages (`'rk_test_Cb3gph'`, `sk_test_****1234`).
    pub(crate) fn redact(&self, text: &str) -> String {
        redact_keys(&text.replace(&self.key, "<redacted key>"))
    }
}

/// Replaces every word that looks like a Stripe key (or a masked fragment of one).
pub(crate) fn redact_keys(text: &str) -> String {
    const PREFIXES: [&str; 6] = [
        "sk_test_", "sk_live_", "rk_test_", "rk_live_", "pk_test_", "pk_live_",
    ];
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(pos) = PREFIXES.iter().filter_map(|p| rest.find(p)).min() {
        out.push_str(&rest[..pos]);
        out.push_str("<redacted key>");
        let tail = &rest[pos..];
        let end = tail
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == '*'))
            .unwrap_or(tail.len());
        rest = &tail[end..];
    }
    out.push_str(rest);
    out
}

impl fmt::Debug for ApiKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ApiKey({self})")
    }
}

impl fmt::Display for ApiKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kind = match self.kind {
            KeyKind::Secret => "secret",
            KeyKind::Restricted => "restricted",
        };
        let mode = if self.live { "live" } else { "test" };
        write!(f, "<redacted {mode} {kind} key>")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_secret_and_restricted_keys_and_refuses_others() {
        let sk = ApiKey::parse(" sk_test_abc123 ").unwrap();
        assert_eq!((sk.kind(), sk.is_live()), (KeyKind::Secret, false));
        let rk = ApiKey::parse("rk_live_abc123").unwrap();
        assert_eq!((rk.kind(), rk.is_live()), (KeyKind::Restricted, true));
        for bad in ["", "pk_test_abc", "whsec_abc", "sk_abc", "sk_test_a b"] {
            let err = ApiKey::parse(bad).unwrap_err().to_string();
            assert!(
                err.contains("STRIPE_SECRET_KEY") || err.contains("Dashboard"),
                "{err}"
            );
            assert!(bad.len() < 4 || !err.contains(bad.trim()), "{err}");
        }
    }

    #[test]
    fn debug_and_display_never_show_the_key() {
        let key = ApiKey::parse("sk_live_supersecret42").unwrap();
        for shown in [format!("{key:?}"), key.to_string()] {
            assert!(!shown.contains("supersecret42"), "{shown}");
            assert!(shown.contains("live secret"), "{shown}");
        }
    }

    #[test]
    fn redaction_removes_full_and_partial_keys() {
        let key = ApiKey::parse("rk_test_Cb3gphXYZ").unwrap();
        let msg = "The provided key 'rk_test_Cb3gph' does not have ... Invalid API Key provided: sk_test_****1234. Raw rk_test_Cb3gphXYZ.";
        let clean = key.redact(msg);
        assert!(!clean.contains("Cb3gph"), "{clean}");
        assert!(!clean.contains("1234"), "{clean}");
        assert!(
            clean.contains("The provided key '<redacted key>' does not"),
            "{clean}"
        );
    }
}
