//! Monthly recurring revenue, defined the way Stripe's billing analytics define it, computed
//! exactly: rational arithmetic in minor units (i128), rounded once, half away from zero.
//! <https://docs.stripe.com/data/analytics/supported-metrics#revenue-mrr> ("monthly recurring
//! revenue from active and past-due subscriptions").

use stripe_events::{Currency, Money};

use super::facts::{ItemFacts, SubscriptionFacts};
use super::row::CustomerRow;
use crate::ratio::Ratio;

/// Minor units as Stripe's decimal string (`"1250"`, `"0.5"`, `"12.345"`): exact, up to 12
/// fraction digits.
fn parse_decimal(text: &str) -> Option<Ratio> {
    let (whole, fraction) = text.trim().split_once('.').unwrap_or((text.trim(), ""));
    let digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    if whole.is_empty() || !digits(whole) || !digits(fraction) || fraction.len() > 12 {
        return None;
    }
    let num: i128 = format!("{whole}{fraction}").parse().ok()?;
    Ratio::new(num, 10i128.checked_pow(fraction.len() as u32)?)
}

/// What one billing period of `interval_count` × `interval` is per month: `month` 1, `year`
/// ÷ 12, `week` × 52 ÷ 12, `day` × 365 ÷ 12, each divided by the interval count. `None` for
/// an interval Stripe may add later.
fn per_month(interval: Option<&str>, interval_count: i64) -> Option<Ratio> {
    let (num, den) = match interval? {
        "month" => (1, 1),
        "year" => (1, 12),
        "week" => (52, 12),
        "day" => (365, 12),
        _ => return None,
    };
    Ratio::new(num, den * i128::from(interval_count.max(1)))
}

/// A licensed, per-unit recurring item's monthly amount in minor units of `currency`; `None`
/// for an item MRR leaves out: metered (billed by usage) or tiered prices, a price without
/// a unit amount, in another currency, or with an unknown interval.
fn item_monthly(
    item: &ItemFacts,
    sub_currency: Option<Currency>,
    currency: Currency,
) -> Option<Ratio> {
    if item.usage_type.as_deref() == Some("metered")
        || item.billing_scheme.as_deref() == Some("tiered")
        || item.currency.or(sub_currency) != Some(currency)
    {
        return None;
    }
    let unit = item
        .unit_amount_decimal
        .as_deref()
        .and_then(parse_decimal)
        .or_else(|| item.unit_amount.filter(|a| *a >= 0).map(Ratio::int))?;
    unit.mul(Ratio::int(item.quantity.max(0)))?
        .mul(per_month(item.interval.as_deref(), item.interval_count)?)
}

/// One subscription's monthly amount: its counted items, minus its discounts in effect
/// (`percent_off` of the sum; `amount_off` per billing period normalised to a month like the
/// prices), never below 0. Percentages of several discounts add up; a discount whose coupon
/// Stripe did not send (an id only) is left out.
fn subscription_monthly(sub: &SubscriptionFacts, currency: Currency) -> Ratio {
    let mut items: Vec<&ItemFacts> = sub.items.iter().collect();
    items.sort();
    let subtotal = items
        .iter()
        .filter_map(|i| item_monthly(i, sub.currency, currency))
        .try_fold(Ratio::ZERO, Ratio::add)
        .unwrap_or(Ratio::ZERO);
    let percent_bp: i64 = sub
        .discounts
        .iter()
        .filter_map(|d| d.percent_off_bp)
        .fold(0i64, i64::saturating_add)
        .clamp(0, 10_000);
    // The billing period amount_off applies to: the subscription's first recurring item's.
    let period = items
        .iter()
        .find_map(|i| per_month(i.interval.as_deref(), i.interval_count));
    let amount_off = sub
        .discounts
        .iter()
        .filter(|d| d.currency.is_none_or(|c| c == currency))
        .filter_map(|d| d.amount_off)
        .filter_map(|a| Ratio::int(a.max(0)).mul(period?))
        .try_fold(Ratio::ZERO, Ratio::add)
        .unwrap_or(Ratio::ZERO);
    let after_percent = Ratio::new(i128::from(10_000 - percent_bp), 10_000)
        .and_then(|keep| subtotal.mul(keep))
        .unwrap_or(Ratio::ZERO);
    after_percent
        .sub(amount_off)
        .unwrap_or(Ratio::ZERO)
        .max_zero()
}

/// The currency MRR is stated in: that of the newest live subscription (by start, then id),
/// else of the newest subscription of any status (so a churned customer shows 0).
fn mrr_currency(row: &CustomerRow) -> Option<Currency> {
    newest_subscription_currency(&row.subscriptions().collect::<Vec<_>>())
}

/// The currency of the newest live subscription among `subscriptions` (by start, then id),
/// else of the newest of any status: the currency MRR is stated in, for one customer or for
/// every customer of a company.
pub(crate) fn newest_subscription_currency(
    subscriptions: &[&SubscriptionFacts],
) -> Option<Currency> {
    let newest = |live_only: bool| {
        subscriptions
            .iter()
            .filter(|s| !live_only || s.status.is_live())
            .filter(|s| s.currency.is_some())
            .max_by(|a, b| (a.started_at, &a.id).cmp(&(b.started_at, &b.id)))
            .and_then(|s| s.currency)
    };
    newest(true).or_else(|| newest(false))
}

/// The customer's monthly recurring revenue, or `None` when it never had a subscription
/// (with a currency).
///
/// Over subscriptions that are `active` or `past_due` (a trial counts 0), each licensed
/// item's `unit_amount × quantity` normalised to a month (`year` ÷ 12, `week` × 52 ÷ 12,
/// `day` × 365 ÷ 12, each divided by `interval_count`), minus the subscription's discounts in
/// effect (`percent_off`; `amount_off` per billing period normalised the same way), never below
/// 0. Metered and tiered prices, prices without a unit amount and unknown intervals are left
/// out. Exact arithmetic in minor units (`unit_amount_decimal` keeps fractions of a minor
/// unit), rounded once at the end, half away from zero. A customer's subscriptions share one
/// currency in Stripe; if they do not, the newest live subscription's currency is taken and
/// the others are left out.
pub fn mrr(row: &CustomerRow) -> Option<Money> {
    let currency = mrr_currency(row)?;
    let total = row
        .subscriptions()
        .filter(|s| s.status.counts_for_mrr())
        .map(|s| subscription_monthly(s, currency))
        .try_fold(Ratio::ZERO, Ratio::add)
        .unwrap_or(Ratio::ZERO);
    let minor = i64::try_from(total.round()).unwrap_or(i64::MAX);
    Some(Money::new(minor, currency))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decimals_are_exact() {
        assert_eq!(parse_decimal("12.5"), Ratio::new(25, 2));
        assert_eq!(parse_decimal("0.005"), Ratio::new(1, 200));
        assert_eq!(parse_decimal("4900"), Some(Ratio::int(4900)));
        for bad in ["", "-1", ".5", "1e3", "1.2.3", "1.0000000000001"] {
            assert!(parse_decimal(bad).is_none(), "{bad}");
        }
    }
}
