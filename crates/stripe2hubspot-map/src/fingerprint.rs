//! A stable fingerprint of a property set: what the engine records once HubSpot confirmed a
//! contact's properties, to skip writing the same properties again.

use sha2::{Digest, Sha256};

use crate::PropertySet;

impl PropertySet {
    /// The SHA-256 of the set's `name = value` pairs in name order, as 64 lowercase hex digits.
    ///
    /// Stable across processes, releases and platforms (unlike `std`'s `DefaultHasher`), so a
    /// fingerprint stored by one version still matches the same properties derived by the
    /// next. Each name and value is length-prefixed, so no two different sets share the
    /// input (`a=bc` is not `ab=c`). Only names and values count, not their kinds.
    ///
    /// ```
    /// use stripe2hubspot_map::{PropertyKind, PropertySet, PropertyValue};
    /// let value = |v: &str| PropertyValue { value: v.into(), kind: PropertyKind::Custom, last_charge: false };
    /// let mut a = PropertySet::new();
    /// a.insert("stripe_payment_count", value("2"));
    /// a.insert("email", value("ada@example.com"));
    /// let mut b = PropertySet::new();
    /// b.insert("email", value("ada@example.com"));
    /// b.insert("stripe_payment_count", value("2"));
    /// assert_eq!(a.fingerprint(), b.fingerprint());
    /// b.insert("stripe_payment_count", value("3"));
    /// assert_ne!(a.fingerprint(), b.fingerprint());
    /// ```
    pub fn fingerprint(&self) -> String {
        let mut hasher = Sha256::new();
        for (name, value) in self.iter() {
            for part in [name.as_bytes(), value.value.as_bytes()] {
                hasher.update((part.len() as u64).to_le_bytes());
                hasher.update(part);
            }
        }
        hasher
            .finalize()
            .iter()
            .map(|byte| format!("{byte:02x}"))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use crate::{PropertyKind, PropertySet, PropertyValue};

    fn set(pairs: &[(&str, &str)]) -> PropertySet {
        let mut out = PropertySet::new();
        for (name, value) in pairs {
            out.insert(
                *name,
                PropertyValue {
                    value: (*value).into(),
                    kind: PropertyKind::Standard,
                    last_charge: false,
                },
            );
        }
        out
    }

    /// The value is pinned: a change of the encoding would make every stored fingerprint
    /// miss once (one needless write per contact), so it must be deliberate.
    #[test]
    fn fingerprint_is_pinned_and_unambiguous() {
        assert_eq!(
            set(&[]).fingerprint(),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
        assert_eq!(
            set(&[("stripe_payment_count", "2")]).fingerprint(),
            "a59910b91cab56ffe0a59081ab0e8476554dbc07b7881296f72d2c41af554b26"
        );
        assert_ne!(
            set(&[("a", "bc")]).fingerprint(),
            set(&[("ab", "c")]).fingerprint()
        );
        assert_ne!(
            set(&[("a", ""), ("b", "")]).fingerprint(),
            set(&[("a", "\0\0\0\0\0\0\0\0\u{1}\0\0\0\0\0\0\0b")]).fingerprint()
        );
    }
}
