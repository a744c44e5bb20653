//! Amounts in a currency's minor unit, formatted with the currency's real exponent.

use std::fmt;

use serde::{Deserialize, Serialize};

/// Currencies whose smallest unit is the whole unit (Stripe's zero-decimal list).
const ZERO_DECIMAL: [&str; 16] = [
    "bif", "clp", "djf", "gnf", "jpy", "kmf", "krw", "mga", "pyg", "rwf", "ugx", "vnd", "vuv",
    "xaf", "xof", "xpf",
];

/// Currencies with three decimal places (Stripe's three-decimal list).
const THREE_DECIMAL: [&str; 5] = ["bhd", "jod", "kwd", "omr", "tnd"];

/// An ISO 4217 currency code, stored lowercase as Stripe sends it.
///
/// Parsing is case-insensitive: `"USD"`, `"usd"` and `" Usd "` are the same currency.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(into = "String")]
pub struct Currency([u8; 3]);

/// A currency code that is not three ASCII letters.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid currency code {0:?}: expected three ASCII letters such as \"usd\"")]
pub struct InvalidCurrency(pub String);

impl Currency {
    /// Parses a three-letter code, ignoring case and surrounding whitespace.
    pub fn new(code: &str) -> Result<Self, InvalidCurrency> {
        let trimmed = code.trim();
        match trimmed.as_bytes() {
            [a, b, c] if [a, b, c].iter().all(|b| b.is_ascii_alphabetic()) => Ok(Currency([
                a.to_ascii_lowercase(),
                b.to_ascii_lowercase(),
                c.to_ascii_lowercase(),
            ])),
            _ => Err(InvalidCurrency(code.to_owned())),
        }
    }

    /// The lowercase code, as Stripe writes it (`"usd"`).
    pub fn as_str(&self) -> &str {
        // Only ASCII letters are ever stored.
        std::str::from_utf8(&self.0).unwrap_or("???")
    }

    /// The uppercase ISO 4217 code, as HubSpot expects it (`"USD"`).
    pub fn iso_code(&self) -> String {
        self.as_str().to_ascii_uppercase()
    }

    /// Number of decimal places of the currency's major unit: 0, 2 or 3.
    pub fn exponent(&self) -> u32 {
        let code = self.as_str();
        if ZERO_DECIMAL.contains(&code) {
            0
        } else if THREE_DECIMAL.contains(&code) {
            3
        } else {
            2
        }
    }
}

impl fmt::Debug for Currency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Currency({})", self.as_str())
    }
}

impl fmt::Display for Currency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for Currency {
    type Err = InvalidCurrency;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Currency::new(s)
    }
}

impl TryFrom<String> for Currency {
    type Error = InvalidCurrency;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        Currency::new(&s)
    }
}

/// Reads the code without allocating: every charge and payment has one.
impl<'de> Deserialize<'de> for Currency {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct CodeVisitor;
        impl serde::de::Visitor<'_> for CodeVisitor {
            type Value = Currency;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a three-letter currency code")
            }
            fn visit_str<E: serde::de::Error>(self, code: &str) -> Result<Currency, E> {
                Currency::new(code).map_err(E::custom)
            }
        }
        deserializer.deserialize_str(CodeVisitor)
    }
}

impl From<Currency> for String {
    fn from(c: Currency) -> String {
        c.as_str().to_owned()
    }
}

/// An amount in the minor unit of its currency (cents for USD, yen for JPY, fils for KWD).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Money {
    /// The amount in minor units, as Stripe sends it.
    pub minor: i64,
    /// The currency of the amount.
    pub currency: Currency,
}

/// A decimal string that does not denote an amount in the given currency.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid amount {input:?} for {currency}: expected a decimal with at most {exponent} fraction digits")]
pub struct InvalidAmount {
    /// The text that was rejected.
    pub input: String,
    /// The currency it was parsed for.
    pub currency: Currency,
    /// The number of fraction digits that currency allows.
    pub exponent: u32,
}

impl Money {
    /// An amount of `minor` minor units of `currency`.
    pub fn new(minor: i64, currency: Currency) -> Self {
        Money { minor, currency }
    }

    /// The amount in major units with exactly the currency's number of decimals:
    /// USD 14900 -> `"149.00"`, JPY 14900 -> `"14900"`, KWD 1490 -> `"1.490"`.
    pub fn to_decimal_string(&self) -> String {
        let exponent = self.currency.exponent();
        let sign = if self.minor < 0 { "-" } else { "" };
        let abs = self.minor.unsigned_abs();
        if exponent == 0 {
            return format!("{sign}{abs}");
        }
        let scale = 10u64.pow(exponent);
        format!(
            "{sign}{}.{:0width$}",
            abs / scale,
            abs % scale,
            width = exponent as usize
        )
    }

    /// Parses a decimal string in major units back into minor units. Accepts fewer fraction
    /// digits than the exponent (`"149.5"` USD is 14950) but never more, so no rounding happens.
    pub fn parse_decimal(input: &str, currency: Currency) -> Result<Money, InvalidAmount> {
        let exponent = currency.exponent();
        let err = || InvalidAmount {
            input: input.to_owned(),
            currency,
            exponent,
        };
        let (negative, digits) = match input.strip_prefix('-') {
            Some(rest) => (true, rest),
            None => (false, input),
        };
        let (whole, fraction) = digits.split_once('.').unwrap_or((digits, ""));
        let all_digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
        if whole.is_empty()
            || !all_digits(whole)
            || !all_digits(fraction)
            || fraction.len() > exponent as usize
            || (digits.contains('.') && fraction.is_empty())
        {
            return Err(err());
        }
        let padded = format!("{whole}{fraction:0<width$}", width = exponent as usize);
        let magnitude: u64 = padded.parse().map_err(|_| err())?;
        let minor = if negative {
            0i64.checked_sub_unsigned(magnitude)
        } else {
            i64::try_from(magnitude).ok()
        }
        .ok_or_else(err)?;
        Ok(Money { minor, currency })
    }
}

impl fmt::Display for Money {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} {}",
            self.to_decimal_string(),
            self.currency.iso_code()
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn money(minor: i64, code: &str) -> Money {
        Money::new(minor, Currency::new(code).unwrap())
    }

    #[test]
    fn formats_with_the_currency_exponent() {
        assert_eq!(money(14900, "usd").to_decimal_string(), "149.00");
        assert_eq!(money(14900, "JPY").to_decimal_string(), "14900");
        assert_eq!(money(1490, "kwd").to_decimal_string(), "1.490");
        assert_eq!(money(5, "eur").to_decimal_string(), "0.05");
        assert_eq!(money(-5, "eur").to_decimal_string(), "-0.05");
        assert_eq!(
            money(i64::MIN, "usd").to_decimal_string(),
            "-92233720368547758.08"
        );
    }

    #[test]
    fn currency_is_case_insensitive_and_validated() {
        assert_eq!(
            Currency::new("USD").unwrap(),
            Currency::new(" usd ").unwrap()
        );
        assert_eq!(Currency::new("Usd").unwrap().iso_code(), "USD");
        assert!(Currency::new("us").is_err());
        assert!(Currency::new("usd1").is_err());
        assert!(Currency::new("€€€").is_err());
    }

    #[test]
    fn parse_rejects_extra_precision_and_junk() {
        let usd = Currency::new("usd").unwrap();
        assert_eq!(Money::parse_decimal("149.5", usd).unwrap().minor, 14950);
        assert!(Money::parse_decimal("1.005", usd).is_err());
        assert!(Money::parse_decimal("1.", usd).is_err());
        assert!(Money::parse_decimal("", usd).is_err());
        assert!(Money::parse_decimal("abc", usd).is_err());
        assert!(Money::parse_decimal("99999999999999999999", usd).is_err());
    }
}
