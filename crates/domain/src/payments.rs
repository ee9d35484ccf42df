//! Payments (SPEC 7): when an invoice is charged, how its amount splits between the prepaid
//! balance and the card, how a failed charge is retried, and what a payment row says.
//!
//! An invoice is charged from its charge day on: day `charge_day` (the 5th by default) of the
//! month after its period, at midnight in the account's offset. The prepaid balance pays first,
//! the card the rest. A soft decline (insufficient funds, a gateway error) is retried on a
//! schedule counted from the first attempt; a hard decline (the card was refused) is not: the
//! invoice waits for the customer to pay it by hand.

use time::{Date, Duration, OffsetDateTime};

use crate::error::DomainError;
use crate::money::Money;
use crate::names::{AccountId, InvoiceId, PaymentId, PaymentMethodId, ReceiptId};
use crate::period::BillingPeriod;

/// How a payment was paid.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum PaymentMethodKind {
    /// From the account's prepaid balance.
    Balance,
    /// By the account's card, through the gateway.
    Card,
}

impl PaymentMethodKind {
    pub fn as_str(&self) -> &'static str {
        match self {
            PaymentMethodKind::Balance => "balance",
            PaymentMethodKind::Card => "card",
        }
    }

    pub fn parse(text: &str) -> Result<Self, DomainError> {
        match text {
            "balance" => Ok(PaymentMethodKind::Balance),
            "card" => Ok(PaymentMethodKind::Card),
            _ => Err(DomainError::InvalidId("payment method kind")),
        }
    }
}

/// Where a payment stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum PaymentStatus {
    /// Written before the gateway was called; its outcome is not known yet.
    Pending,
    Successful,
    Failed,
}

impl PaymentStatus {
    pub fn as_str(&self) -> &'static str {
        match self {
            PaymentStatus::Pending => "pending",
            PaymentStatus::Successful => "successful",
            PaymentStatus::Failed => "failed",
        }
    }

    pub fn parse(text: &str) -> Result<Self, DomainError> {
        match text {
            "pending" => Ok(PaymentStatus::Pending),
            "successful" => Ok(PaymentStatus::Successful),
            "failed" => Ok(PaymentStatus::Failed),
            _ => Err(DomainError::InvalidId("payment status")),
        }
    }
}

/// Why a charge failed, and whether it is worth trying again.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Decline {
    /// The card was refused (stolen, closed, refused by its bank): never retried by itself.
    Hard,
    /// It may go through later (insufficient funds, the account had no card yet): retried on
    /// the schedule.
    Soft,
}

impl Decline {
    pub fn as_str(&self) -> &'static str {
        match self {
            Decline::Hard => "hard",
            Decline::Soft => "soft",
        }
    }

    pub fn parse(text: &str) -> Result<Self, DomainError> {
        match text {
            "hard" => Ok(Decline::Hard),
            "soft" => Ok(Decline::Soft),
            _ => Err(DomainError::InvalidId("decline")),
        }
    }
}

/// The day of the month invoices are charged on: 1 to 28, so every month has it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ChargeDay(u8);

impl ChargeDay {
    pub fn new(day: u8) -> Result<Self, DomainError> {
        if (1..=28).contains(&day) {
            Ok(ChargeDay(day))
        } else {
            Err(DomainError::InvalidChargeDay)
        }
    }

    pub fn day(&self) -> u8 {
        self.0
    }

    /// When an invoice of `period` is first charged: this day of the month after it, at
    /// midnight in the period's offset.
    pub fn of(&self, period: &BillingPeriod) -> OffsetDateTime {
        let next = period.next();
        let month = time::Month::try_from(next.month()).unwrap_or(time::Month::January);
        // Day 1 to 28 exists in every month of every supported year.
        let date = Date::from_calendar_date(next.year(), month, self.0).unwrap_or(Date::MIN);
        next.offset().midnight(date)
    }
}

impl Default for ChargeDay {
    fn default() -> Self {
        ChargeDay(5)
    }
}

/// How long after the first attempt a softly declined charge is tried again: one retry per
/// entry, in order (by default 1, 3 and 7 days after it).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RetrySchedule(Vec<Duration>);

impl RetrySchedule {
    /// At most 10 retries, each later than the one before and within 60 days of the first
    /// attempt.
    pub fn new(after_first: Vec<Duration>) -> Result<Self, DomainError> {
        let increasing = after_first.windows(2).all(|w| w[0] < w[1]);
        let bounded = after_first
            .iter()
            .all(|d| *d > Duration::ZERO && *d <= Duration::days(60));
        if after_first.len() <= 10 && increasing && bounded {
            Ok(RetrySchedule(after_first))
        } else {
            Err(DomainError::InvalidRetrySchedule)
        }
    }

    pub fn delays(&self) -> &[Duration] {
        &self.0
    }

    /// When attempt `attempt + 1` is due after attempt `attempt` (1 is the first) failed
    /// softly, the first having been made at `first_attempt`: `None` once the schedule is
    /// used up, or after a hard decline.
    pub fn next_attempt(
        &self,
        first_attempt: OffsetDateTime,
        attempt: u32,
        decline: Decline,
    ) -> Option<OffsetDateTime> {
        if decline == Decline::Hard {
            return None;
        }
        let index = usize::try_from(attempt).ok()?.checked_sub(1)?;
        self.0.get(index).map(|delay| first_attempt + *delay)
    }
}

impl Default for RetrySchedule {
    fn default() -> Self {
        RetrySchedule(vec![
            Duration::days(1),
            Duration::days(3),
            Duration::days(7),
        ])
    }
}

/// The latest card attempt at an invoice, as far as charging it again goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LastAttempt {
    pub status: PaymentStatus,
    pub next_attempt_at: Option<OffsetDateTime>,
}

/// When the charge run next charges an invoice that still owes something, from its charge day
/// (`charge_from`) and its latest card attempt: the charge day when no card attempt was made
/// (it may be past: the invoice is due since then); after a soft decline, its retry; `None`
/// while an attempt is pending, after a hard decline or once the retries are used up (the
/// invoice then waits for the customer to pay it now).
pub fn next_attempt(
    charge_from: OffsetDateTime,
    last_card: Option<LastAttempt>,
) -> Option<OffsetDateTime> {
    match last_card {
        None => Some(charge_from),
        Some(LastAttempt {
            status: PaymentStatus::Failed,
            next_attempt_at,
        }) => next_attempt_at,
        Some(_) => None,
    }
}

/// Whether the charge run charges an invoice at `at`: from its charge day (`charge_from`) on,
/// when its [`next_attempt`] has come.
pub fn is_due(
    charge_from: OffsetDateTime,
    last_card: Option<LastAttempt>,
    at: OffsetDateTime,
) -> bool {
    at >= charge_from && next_attempt(charge_from, last_card).is_some_and(|next| next <= at)
}

/// How what an invoice still owes is paid: the prepaid balance first, the card the rest.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Split {
    pub from_balance: Money,
    pub from_card: Money,
}

/// Splits `owed` between the prepaid `balance` (never made negative) and the card.
pub fn split(owed: Money, balance: Money) -> Result<Split, DomainError> {
    if owed.is_negative() {
        return Err(DomainError::NegativeAmount);
    }
    let available = if balance.is_negative() {
        Money::zero(balance.currency())
    } else {
        balance
    };
    let from_balance = owed.min(available)?;
    Ok(Split {
        from_balance,
        from_card: owed.checked_sub(from_balance)?,
    })
}

/// What the prepaid balance and the card would pay of `owed` (what an invoice still owes) if
/// it were charged now: the charge takes the balance for the account's invoices in the order
/// they were finalized, so the earlier invoices' `owed_before` comes out of the `balance` first,
/// and this invoice gets what is left of it ([`split`] then splits `owed` as the charge will).
pub fn forecast(balance: Money, owed_before: Money, owed: Money) -> Result<Split, DomainError> {
    if owed_before.is_negative() {
        return Err(DomainError::NegativeAmount);
    }
    let left = balance.checked_sub(owed_before)?;
    split(owed, left)
}

/// The idempotency key of one attempt to charge an invoice: the same for every call of that
/// attempt (a retry after a crash, a reconciliation), different for the next attempt.
pub fn gateway_key(invoice: &str, attempt: u32) -> String {
    format!("{invoice}-attempt-{attempt}")
}

/// A registered card, as kept: never its number.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Card {
    pub id: PaymentMethodId,
    pub account: AccountId,
    /// The gateway's token for the card: what a charge is made with.
    pub token: String,
    pub brand: String,
    pub last4: String,
    pub exp_month: u8,
    pub exp_year: u16,
    pub created_at: OffsetDateTime,
}

/// A payment of an invoice: by the balance or by the card, one attempt.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Payment {
    pub id: PaymentId,
    pub account: AccountId,
    pub invoice: InvoiceId,
    pub receipt: ReceiptId,
    pub method: PaymentMethodKind,
    pub payment_method: Option<PaymentMethodId>,
    /// What the customer sees of the card ("visa ending 4242, 12/2030"), or `None` for the
    /// balance.
    pub method_label: Option<String>,
    /// 1 for the first attempt at the invoice, then one more per retry.
    pub attempt: u32,
    /// The gateway's idempotency key of a card payment.
    pub gateway_key: Option<String>,
    pub status: PaymentStatus,
    pub amount: Money,
    pub failure_code: Option<String>,
    pub decline: Option<Decline>,
    /// When a softly declined payment is tried again.
    pub next_attempt_at: Option<OffsetDateTime>,
    pub created_at: OffsetDateTime,
    pub paid_at: Option<OffsetDateTime>,
}

/// The latest card attempt among an invoice's payments.
pub fn last_card_attempt<'p>(
    payments: impl IntoIterator<Item = &'p Payment>,
) -> Option<LastAttempt> {
    payments
        .into_iter()
        .filter(|p| p.method == PaymentMethodKind::Card)
        .max_by_key(|p| p.attempt)
        .map(|p| LastAttempt {
            status: p.status,
            next_attempt_at: p.next_attempt_at,
        })
}

/// How many times an invoice was charged: its payments' latest attempt number (the balance's
/// and the card's part of one charge share it).
pub fn attempt_count<'p>(payments: impl IntoIterator<Item = &'p Payment>) -> u32 {
    payments.into_iter().map(|p| p.attempt).max().unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::money::Currency;
    use crate::period::BillingOffset;
    use proptest::prelude::*;
    use time::macros::datetime;

    fn krw(minor: i64) -> Money {
        Money::from_minor(minor, Currency::parse("KRW").unwrap()).unwrap()
    }

    #[test]
    fn an_invoice_is_charged_on_the_fifth_of_the_next_month_in_its_offset() {
        let seoul = BillingOffset::from_minutes(540).unwrap();
        let october = BillingPeriod::new(2026, 10, seoul).unwrap();
        // 2026-11-05 00:00 in Seoul is 2026-11-04 15:00 UTC.
        assert_eq!(
            ChargeDay::default().of(&october),
            datetime!(2026-11-04 15:00 UTC)
        );
        let december = BillingPeriod::new(2026, 12, seoul).unwrap();
        assert_eq!(
            ChargeDay::new(1).unwrap().of(&december),
            datetime!(2026-12-31 15:00 UTC)
        );
        assert!(ChargeDay::new(0).is_err());
        assert!(ChargeDay::new(29).is_err());
    }

    #[test]
    fn soft_declines_are_retried_one_three_and_seven_days_after_the_first_attempt() {
        let first = datetime!(2026-11-04 15:00 UTC);
        let schedule = RetrySchedule::default();
        assert_eq!(
            schedule.next_attempt(first, 1, Decline::Soft),
            Some(datetime!(2026-11-05 15:00 UTC))
        );
        assert_eq!(
            schedule.next_attempt(first, 2, Decline::Soft),
            Some(datetime!(2026-11-07 15:00 UTC))
        );
        assert_eq!(
            schedule.next_attempt(first, 3, Decline::Soft),
            Some(datetime!(2026-11-11 15:00 UTC))
        );
        assert_eq!(schedule.next_attempt(first, 4, Decline::Soft), None);
        assert_eq!(schedule.next_attempt(first, 1, Decline::Hard), None);
        assert_eq!(schedule.next_attempt(first, 0, Decline::Soft), None);
    }

    #[test]
    fn the_balance_pays_first_after_what_earlier_invoices_take() {
        // Balance 50,000; earlier invoices owe 30,000: 20,000 is left for this invoice.
        // Owing 15,000: all of it from the balance, nothing on the card.
        let f = forecast(krw(50_000), krw(30_000), krw(15_000)).unwrap();
        assert_eq!((f.from_balance, f.from_card), (krw(15_000), krw(0)));
        // Owing 20,000: exactly what is left (balance equal to what it owes).
        let f = forecast(krw(50_000), krw(30_000), krw(20_000)).unwrap();
        assert_eq!((f.from_balance, f.from_card), (krw(20_000), krw(0)));
        // Owing 181,869: 20,000 from the balance, 181,869 - 20,000 = 161,869 on the card.
        let f = forecast(krw(50_000), krw(30_000), krw(181_869)).unwrap();
        assert_eq!((f.from_balance, f.from_card), (krw(20_000), krw(161_869)));
        // Earlier invoices take more than the balance holds: the card pays all of it.
        let f = forecast(krw(50_000), krw(80_000), krw(10_000)).unwrap();
        assert_eq!((f.from_balance, f.from_card), (krw(0), krw(10_000)));
        assert_eq!(
            forecast(krw(50_000), krw(-1), krw(10_000)),
            Err(DomainError::NegativeAmount)
        );
    }

    #[test]
    fn the_next_attempt_is_the_charge_day_then_the_retry() {
        let fifth = datetime!(2026-11-04 15:00 UTC);
        assert_eq!(next_attempt(fifth, None), Some(fifth));
        let retry = datetime!(2026-11-05 15:00 UTC);
        let failed = |next| LastAttempt {
            status: PaymentStatus::Failed,
            next_attempt_at: next,
        };
        assert_eq!(next_attempt(fifth, Some(failed(Some(retry)))), Some(retry));
        assert_eq!(next_attempt(fifth, Some(failed(None))), None);
        for status in [PaymentStatus::Pending, PaymentStatus::Successful] {
            let last = LastAttempt {
                status,
                next_attempt_at: None,
            };
            assert_eq!(next_attempt(fifth, Some(last)), None);
        }
    }

    #[test]
    fn a_schedule_goes_forward_and_stays_within_sixty_days() {
        assert!(RetrySchedule::new(vec![]).is_ok());
        assert!(RetrySchedule::new(vec![Duration::days(3), Duration::days(1)]).is_err());
        assert!(RetrySchedule::new(vec![Duration::ZERO]).is_err());
        assert!(RetrySchedule::new(vec![Duration::days(61)]).is_err());
    }

    #[test]
    fn an_invoice_is_due_from_its_charge_day_then_on_its_retries_only() {
        let from = datetime!(2026-11-04 15:00 UTC);
        let failed = |next| {
            Some(LastAttempt {
                status: PaymentStatus::Failed,
                next_attempt_at: next,
            })
        };
        assert!(!is_due(from, None, from - Duration::seconds(1)));
        assert!(is_due(from, None, from));
        // A soft decline: due again when its retry comes; a hard one (no retry): never.
        let retry = from + Duration::days(1);
        assert!(!is_due(
            from,
            failed(Some(retry)),
            retry - Duration::seconds(1)
        ));
        assert!(is_due(from, failed(Some(retry)), retry));
        assert!(!is_due(from, failed(None), from + Duration::days(30)));
        for status in [PaymentStatus::Pending, PaymentStatus::Successful] {
            let last = Some(LastAttempt {
                status,
                next_attempt_at: None,
            });
            assert!(!is_due(from, last, from + Duration::days(30)));
        }
    }

    #[test]
    fn the_balance_pays_first_and_the_card_the_rest() {
        // 11,000 owed, 4,000 prepaid: 4,000 from the balance, 11,000 - 4,000 = 7,000 by card.
        assert_eq!(
            split(krw(11_000), krw(4_000)).unwrap(),
            Split {
                from_balance: krw(4_000),
                from_card: krw(7_000)
            }
        );
        // A balance larger than the invoice pays all of it.
        assert_eq!(
            split(krw(11_000), krw(20_000)).unwrap(),
            Split {
                from_balance: krw(11_000),
                from_card: krw(0)
            }
        );
    }

    proptest! {
        #[test]
        fn a_split_adds_up_and_never_overdraws(owed in 0i64..1_000_000_000, balance in -1_000i64..1_000_000_000) {
            let s = split(krw(owed), krw(balance)).unwrap();
            prop_assert_eq!(s.from_balance.checked_add(s.from_card).unwrap(), krw(owed));
            prop_assert!(!s.from_balance.is_negative());
            prop_assert!(!s.from_card.is_negative());
            prop_assert!(s.from_balance.to_minor().unwrap() <= balance.max(0));
        }

        /// The preview's forecast of each invoice is what charging the invoices one after the
        /// other, in order, takes from the balance.
        #[test]
        fn the_forecast_is_what_charges_in_order_take(
            balance in 0i64..1_000_000,
            owed in proptest::collection::vec(0i64..400_000, 0..6),
        ) {
            let mut left = krw(balance);
            let mut before = krw(0);
            for o in owed {
                let charged = split(krw(o), left).unwrap();
                prop_assert_eq!(forecast(krw(balance), before, krw(o)).unwrap(), charged);
                left = left.checked_sub(charged.from_balance).unwrap();
                before = before.checked_add(krw(o)).unwrap();
            }
        }
    }
}
