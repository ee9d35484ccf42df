//! Promotions (SPEC 6): what an operator offers (a percentage or a fixed amount off, maybe only
//! some products' usage, for one invoice, N invoices or for ever, up to a number of accounts and
//! until a last day to apply), and when an account's applied promotion discounts an invoice.
//!
//! A code is applied only once the account has a payment method. An applied promotion
//! discounts the invoices of the periods that end after it was applied, the first N of them
//! for one lasting N months; the discount itself (never below zero) is the invoice assembly's
//! ([`crate::invoices::assembly`]).

use time::{Date, OffsetDateTime};

use crate::catalog::Code as ProductCode;
use crate::error::DomainError;
use crate::invoices::assembly::DiscountValue;
use crate::names::{AccountId, AppliedPromotionId, PromotionId};
use crate::period::{BillingOffset, BillingPeriod};

/// A promotion's code, as operators choose it and customers type it: 3 to 32 letters, digits
/// and dashes, kept in capitals (`SPRING-20`); typed in any case.
#[derive(Clone, PartialEq, Eq, Hash, Debug)]
pub struct PromotionCode(String);

impl PromotionCode {
    pub fn parse(text: &str) -> Result<Self, DomainError> {
        let code = text.trim().to_ascii_uppercase();
        let valid = (3..=32).contains(&code.len())
            && code
                .bytes()
                .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'-')
            && !code.starts_with('-')
            && !code.ends_with('-');
        if valid {
            Ok(PromotionCode(code))
        } else {
            Err(DomainError::InvalidPromotionCode)
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for PromotionCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// How many invoices an applied promotion discounts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Lasting {
    /// The next invoice.
    Once,
    /// The next N invoices (1 to 120).
    Months(u16),
    /// Every invoice from now on.
    Forever,
}

impl Lasting {
    pub fn months(months: u16) -> Result<Self, DomainError> {
        if (1..=120).contains(&months) {
            Ok(Lasting::Months(months))
        } else {
            Err(DomainError::InvalidLasting)
        }
    }

    /// How many invoices in all; `None` for ever.
    pub fn invoices(&self) -> Option<u32> {
        match self {
            Lasting::Once => Some(1),
            Lasting::Months(n) => Some(u32::from(*n)),
            Lasting::Forever => None,
        }
    }

    /// How many invoices it still discounts after `discounted`; `None` for ever.
    pub fn remaining(&self, discounted: u32) -> Option<u32> {
        self.invoices().map(|n| n.saturating_sub(discounted))
    }
}

/// Why a code cannot be applied: each its own problem for the customer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refusal {
    Unknown,
    /// The account has no payment method yet.
    PaymentMethodRequired,
    /// Past its last day to apply.
    Expired,
    /// As many accounts as it allows have applied it.
    LimitReached,
    AlreadyApplied,
    /// A fixed amount in another currency than the account's.
    CurrencyMismatch,
}

/// What applying needs to know of a promotion and the account, as stored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ApplyState {
    /// The last day it can be applied, in the account's offset, if any.
    pub last_day: Option<Date>,
    /// How many accounts may apply it, if limited.
    pub redemption_limit: Option<u32>,
    pub redemptions: u32,
    pub applied_here: bool,
    pub has_payment_method: bool,
    /// Whether a fixed amount off is in another currency than the account's.
    pub other_currency: bool,
}

/// Whether the account (in `offset`) may apply the promotion now.
pub fn check_apply(
    state: &ApplyState,
    offset: BillingOffset,
    now: OffsetDateTime,
) -> Result<(), Refusal> {
    if !state.has_payment_method {
        return Err(Refusal::PaymentMethodRequired);
    }
    if state.last_day.is_some_and(|day| offset.date_of(now) > day) {
        return Err(Refusal::Expired);
    }
    if state.applied_here {
        return Err(Refusal::AlreadyApplied);
    }
    if state
        .redemption_limit
        .is_some_and(|limit| state.redemptions >= limit)
    {
        return Err(Refusal::LimitReached);
    }
    if state.other_currency {
        return Err(Refusal::CurrencyMismatch);
    }
    Ok(())
}

/// Whether a promotion applied at `applied_at`, lasting `lasting`, that has already discounted
/// `discounted` finalized invoices, discounts the invoice of `period`: the period ends after it
/// was applied, and it has invoices left.
pub fn discounts(
    lasting: Lasting,
    applied_at: OffsetDateTime,
    discounted: u32,
    period: &BillingPeriod,
) -> bool {
    period.end() > applied_at && lasting.remaining(discounted) != Some(0)
}

/// A promotion as offered.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Offer {
    pub id: PromotionId,
    pub code: PromotionCode,
    pub name: String,
    pub value: DiscountValue,
    /// Only these products' usage, if set.
    pub products: Option<Vec<ProductCode>>,
    pub lasting: Lasting,
    pub last_day: Option<Date>,
    pub redemption_limit: Option<u32>,
    pub redemptions: u32,
    pub created_at: OffsetDateTime,
}

/// A promotion an account applied, with its offer and how many invoices it discounted.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Applied {
    pub id: AppliedPromotionId,
    pub account: AccountId,
    pub offer: Offer,
    pub applied_at: OffsetDateTime,
    pub discounted: u32,
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::{date, datetime};

    fn seoul() -> BillingOffset {
        BillingOffset::from_minutes(540).unwrap()
    }

    #[test]
    fn a_promotion_lasting_three_months_discounts_the_next_three_invoices() {
        let applied = datetime!(2026-11-10 00:00 +09:00);
        let period = |month| BillingPeriod::new(2026, month, seoul()).unwrap();
        // October ended before it was applied: not discounted.
        assert!(!discounts(
            Lasting::months(3).unwrap(),
            applied,
            0,
            &period(10)
        ));
        // November, December and January are; February is not.
        let mut discounted = 0;
        let mut months = Vec::new();
        for p in [
            period(11),
            period(12),
            BillingPeriod::new(2027, 1, seoul()).unwrap(),
            BillingPeriod::new(2027, 2, seoul()).unwrap(),
        ] {
            if discounts(Lasting::months(3).unwrap(), applied, discounted, &p) {
                discounted += 1;
                months.push(p.to_string());
            }
        }
        assert_eq!(months, ["2026-11", "2026-12", "2027-01"]);
        assert!(discounts(Lasting::Forever, applied, 500, &period(12)));
        assert!(discounts(Lasting::Once, applied, 0, &period(11)));
        assert!(!discounts(Lasting::Once, applied, 1, &period(12)));
        assert_eq!(Lasting::months(3).unwrap().remaining(1), Some(2));
        assert_eq!(Lasting::Forever.remaining(7), None);
        assert!(Lasting::months(0).is_err());
    }

    #[test]
    fn promotion_codes_are_read_in_any_case() {
        assert_eq!(
            PromotionCode::parse(" spring-20 ").unwrap().as_str(),
            "SPRING-20"
        );
        for bad in ["AB", "-AB", "AB-", "A B C", "ÄBC", &"A".repeat(33)] {
            assert!(PromotionCode::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn applying_needs_a_payment_method_and_each_refusal_is_its_own() {
        let now = datetime!(2026-11-30 15:30 UTC); // 2026-12-01 00:30 in Seoul
        let ok = ApplyState {
            last_day: Some(date!(2026 - 12 - 01)),
            redemption_limit: Some(2),
            redemptions: 1,
            applied_here: false,
            has_payment_method: true,
            other_currency: false,
        };
        assert_eq!(check_apply(&ok, seoul(), now), Ok(()));
        let refused = |s: ApplyState| check_apply(&s, seoul(), now);
        assert_eq!(
            refused(ApplyState {
                has_payment_method: false,
                ..ok.clone()
            }),
            Err(Refusal::PaymentMethodRequired)
        );
        // The last day is over in Seoul, though not yet in UTC.
        assert_eq!(
            refused(ApplyState {
                last_day: Some(date!(2026 - 11 - 30)),
                ..ok.clone()
            }),
            Err(Refusal::Expired)
        );
        assert_eq!(
            refused(ApplyState {
                applied_here: true,
                ..ok.clone()
            }),
            Err(Refusal::AlreadyApplied)
        );
        assert_eq!(
            refused(ApplyState {
                redemptions: 2,
                ..ok.clone()
            }),
            Err(Refusal::LimitReached)
        );
        assert_eq!(
            refused(ApplyState {
                other_currency: true,
                ..ok
            }),
            Err(Refusal::CurrencyMismatch)
        );
    }
}
