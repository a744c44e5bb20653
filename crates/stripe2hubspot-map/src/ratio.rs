//! Exact fractions of minor units (i128), for amounts that must be rounded once, half away
//! from zero: MRR (prices per interval normalised to a month) and a settled amount scaled to
//! what a payment kept.

/// An exact non-reduced fraction `num / den` with `den > 0`; every operation is checked, so an
/// absurd amount is left out instead of overflowing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Ratio {
    num: i128,
    den: i128,
}

fn gcd(mut a: i128, mut b: i128) -> i128 {
    while b != 0 {
        (a, b) = (b, a % b);
    }
    a.abs()
}

impl Ratio {
    pub(crate) const ZERO: Ratio = Ratio { num: 0, den: 1 };

    pub(crate) fn new(num: i128, den: i128) -> Option<Ratio> {
        if den <= 0 {
            return None;
        }
        let g = gcd(num, den).max(1);
        Some(Ratio {
            num: num / g,
            den: den / g,
        })
    }

    pub(crate) fn int(value: i64) -> Ratio {
        Ratio {
            num: value.into(),
            den: 1,
        }
    }

    pub(crate) fn mul(self, other: Ratio) -> Option<Ratio> {
        Ratio::new(
            self.num.checked_mul(other.num)?,
            self.den.checked_mul(other.den)?,
        )
    }

    pub(crate) fn add(self, other: Ratio) -> Option<Ratio> {
        let num = self
            .num
            .checked_mul(other.den)?
            .checked_add(other.num.checked_mul(self.den)?)?;
        Ratio::new(num, self.den.checked_mul(other.den)?)
    }

    pub(crate) fn sub(self, other: Ratio) -> Option<Ratio> {
        self.add(Ratio {
            num: other.num.checked_neg()?,
            den: other.den,
        })
    }

    pub(crate) fn max_zero(self) -> Ratio {
        if self.num < 0 {
            Ratio::ZERO
        } else {
            self
        }
    }

    /// Rounded to an integer, half away from zero.
    pub(crate) fn round(self) -> i128 {
        let (q, r) = (self.num / self.den, self.num % self.den);
        if r.abs() * 2 >= self.den {
            q + self.num.signum()
        } else {
            q
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rounds_half_away_from_zero_once() {
        let r = |n, d| Ratio::new(n, d).unwrap().round();
        assert_eq!(
            (r(5, 2), r(7, 3), r(8, 3), r(1, 2), r(0, 5)),
            (3, 2, 3, 1, 0)
        );
        assert_eq!(r(-5, 2), -3);
    }
}
