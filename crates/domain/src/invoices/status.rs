//! Where an invoice stands, and what it still owes.

use time::OffsetDateTime;

use crate::error::DomainError;
use crate::money::Money;
use crate::payments::{next_attempt, LastAttempt};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum InvoiceStatus {
    /// Finalized, not paid yet.
    Finalized,
    Paid,
    /// A charge failed; it stays unpaid and is retried.
    PaymentFailed,
    Void,
}

impl InvoiceStatus {
    pub const ALL: [InvoiceStatus; 4] = [
        InvoiceStatus::Finalized,
        InvoiceStatus::Paid,
        InvoiceStatus::PaymentFailed,
        InvoiceStatus::Void,
    ];

    /// The stored and wire name.
    pub fn as_str(&self) -> &'static str {
        match self {
            InvoiceStatus::Finalized => "finalized",
            InvoiceStatus::Paid => "paid",
            InvoiceStatus::PaymentFailed => "payment_failed",
            InvoiceStatus::Void => "void",
        }
    }

    pub fn parse(text: &str) -> Result<Self, DomainError> {
        Self::ALL
            .into_iter()
            .find(|s| s.as_str() == text)
            .ok_or(DomainError::InvalidId("invoice status"))
    }

    /// Whether an invoice in this status still owes what it asks for: it counts in the
    /// account's unpaid amount.
    pub fn owes(&self) -> bool {
        matches!(
            self,
            InvoiceStatus::Finalized | InvoiceStatus::PaymentFailed
        )
    }

    /// What an invoice in this status still owes: the amount it asks for (its total) less
    /// what was paid, or nothing once paid or void.
    pub fn still_owed(&self, amount_due: Money, paid: Money) -> Result<Money, DomainError> {
        if self.owes() {
            amount_due.checked_sub(paid)
        } else {
            Ok(Money::zero(amount_due.currency()))
        }
    }

    /// The status after `amount` was paid of the `owed` still owed: paid once nothing is left,
    /// else as it was.
    pub fn after_paying(self, owed: Money, amount: Money) -> Result<InvoiceStatus, DomainError> {
        let left = owed.checked_sub(amount)?;
        Ok(if left.is_zero() || left.is_negative() {
            InvoiceStatus::Paid
        } else {
            self
        })
    }

    /// The status after a charge of it failed: it still owes, and says the charge failed.
    pub fn after_failed_charge(self) -> InvoiceStatus {
        if self.owes() {
            InvoiceStatus::PaymentFailed
        } else {
            self
        }
    }
}

/// What has been paid of a finalized invoice and how, what it still owes, and when the charge
/// run tries next. Every figure is a fact of the moment: before the invoice is charged nothing
/// has been paid, and `next_payment_attempt` says when it will be.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PaymentState {
    /// What the prepaid balance and the card have paid.
    pub amount_paid: Money,
    /// What the prepaid balance paid of it.
    pub paid_from_balance: Money,
    /// What the card paid of it.
    pub paid_by_card: Money,
    /// What it still owes: its total less what was paid (nothing once paid or void).
    pub amount_remaining: Money,
    /// How many times it was charged (each with the balance first, then the card).
    pub attempt_count: u32,
    /// When the charge run charges it next: its charge day until it is first charged, then
    /// a soft decline's retry. `None` when it owes nothing, while a charge is under way, after
    /// a hard decline and once the retries are used up.
    pub next_payment_attempt: Option<OffsetDateTime>,
}

impl PaymentState {
    /// The state of an invoice with this status and `total` of which `paid` was paid,
    /// `paid_from_balance` of it by the balance, after `attempt_count` charges, the latest card
    /// attempt being `last_card`; its charge day is `charge_from`.
    pub fn of(
        status: InvoiceStatus,
        total: Money,
        paid: Money,
        paid_from_balance: Money,
        attempt_count: u32,
        charge_from: OffsetDateTime,
        last_card: Option<LastAttempt>,
    ) -> Result<PaymentState, DomainError> {
        let paid_by_card = paid.checked_sub(paid_from_balance)?;
        if paid_from_balance.is_negative() || paid_by_card.is_negative() {
            return Err(DomainError::NegativeAmount);
        }
        let amount_remaining = status.still_owed(total, paid)?;
        let owes = !amount_remaining.is_zero() && !amount_remaining.is_negative();
        Ok(PaymentState {
            amount_paid: paid,
            paid_from_balance,
            paid_by_card,
            amount_remaining,
            attempt_count,
            next_payment_attempt: next_attempt(charge_from, last_card).filter(|_| owes),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::money::Currency;

    #[test]
    fn unpaid_and_failed_invoices_owe_what_was_not_paid() {
        let won = |n| Money::from_minor(n, Currency::parse("KRW").unwrap()).unwrap();
        // 181,869 to pay, 81,869 paid: 100,000 still owed.
        assert_eq!(
            InvoiceStatus::Finalized.still_owed(won(181_869), won(81_869)),
            Ok(won(100_000))
        );
        assert_eq!(
            InvoiceStatus::PaymentFailed.still_owed(won(181_869), won(0)),
            Ok(won(181_869))
        );
        assert_eq!(
            InvoiceStatus::Paid.still_owed(won(181_869), won(181_869)),
            Ok(won(0))
        );
        assert_eq!(
            InvoiceStatus::Void.still_owed(won(181_869), won(0)),
            Ok(won(0))
        );
        for status in InvoiceStatus::ALL {
            assert_eq!(InvoiceStatus::parse(status.as_str()), Ok(status));
        }
        assert!(InvoiceStatus::parse("open").is_err());
    }

    #[test]
    fn an_invoice_is_paid_once_nothing_is_left_and_failed_when_a_charge_fails() {
        let won = |n| Money::from_minor(n, Currency::parse("KRW").unwrap()).unwrap();
        let finalized = InvoiceStatus::Finalized;
        // 11,000 owed: 4,000 leaves 7,000 owed; 7,000 of 7,000 leaves nothing.
        assert_eq!(
            finalized.after_paying(won(11_000), won(4_000)),
            Ok(finalized)
        );
        assert_eq!(
            finalized.after_paying(won(7_000), won(7_000)),
            Ok(InvoiceStatus::Paid)
        );
        assert_eq!(
            InvoiceStatus::PaymentFailed.after_paying(won(7_000), won(7_000)),
            Ok(InvoiceStatus::Paid)
        );
        assert_eq!(
            finalized.after_failed_charge(),
            InvoiceStatus::PaymentFailed
        );
        assert_eq!(
            InvoiceStatus::Void.after_failed_charge(),
            InvoiceStatus::Void
        );
    }

    #[test]
    fn the_payment_state_says_what_was_paid_and_when_it_is_charged_next() {
        use crate::payments::PaymentStatus;
        use time::macros::datetime;
        let won = |n| Money::from_minor(n, Currency::parse("KRW").unwrap()).unwrap();
        let fifth = datetime!(2026-12-04 15:00 UTC);
        // Not charged yet: nothing paid, all 181,869 remaining, charged on the 5th.
        let before = PaymentState::of(
            InvoiceStatus::Finalized,
            won(181_869),
            won(0),
            won(0),
            0,
            fifth,
            None,
        )
        .unwrap();
        assert_eq!(before.amount_paid, won(0));
        assert_eq!(before.amount_remaining, won(181_869));
        assert_eq!(before.attempt_count, 0);
        assert_eq!(before.next_payment_attempt, Some(fifth));
        // Charged: 50,000 from the balance, 181,869 - 50,000 = 131,869 by card.
        let paid = PaymentState::of(
            InvoiceStatus::Paid,
            won(181_869),
            won(181_869),
            won(50_000),
            1,
            fifth,
            Some(LastAttempt {
                status: PaymentStatus::Successful,
                next_attempt_at: None,
            }),
        )
        .unwrap();
        assert_eq!(paid.paid_from_balance, won(50_000));
        assert_eq!(paid.paid_by_card, won(131_869));
        assert_eq!(paid.amount_remaining, won(0));
        assert_eq!(paid.next_payment_attempt, None);
        // The balance paid 50,000, the card was declined softly: retried a day later.
        let retry = datetime!(2026-12-05 15:00 UTC);
        let failed = PaymentState::of(
            InvoiceStatus::PaymentFailed,
            won(181_869),
            won(50_000),
            won(50_000),
            1,
            fifth,
            Some(LastAttempt {
                status: PaymentStatus::Failed,
                next_attempt_at: Some(retry),
            }),
        )
        .unwrap();
        assert_eq!(failed.amount_remaining, won(131_869));
        assert_eq!(failed.paid_by_card, won(0));
        assert_eq!(failed.next_payment_attempt, Some(retry));
        // A total the balance paid whole needs no card and no further attempt.
        let by_balance = PaymentState::of(
            InvoiceStatus::Paid,
            won(30_000),
            won(30_000),
            won(30_000),
            1,
            fifth,
            None,
        )
        .unwrap();
        assert_eq!(by_balance.paid_by_card, won(0));
        assert_eq!(by_balance.next_payment_attempt, None);
    }
}
