//! Where an invoice stands, and what it still owes.

use crate::error::DomainError;
use crate::money::Money;

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

    /// Whether an invoice in this status still owes its payment amount: it counts in the
    /// account's unpaid amount.
    pub fn owes(&self) -> bool {
        matches!(
            self,
            InvoiceStatus::Finalized | InvoiceStatus::PaymentFailed
        )
    }

    /// What an invoice in this status still owes: its payment amount less what was paid, or
    /// nothing once paid or void.
    pub fn still_owed(&self, payment_amount: Money, paid: Money) -> Result<Money, DomainError> {
        if self.owes() {
            payment_amount.checked_sub(paid)
        } else {
            Ok(Money::zero(payment_amount.currency()))
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
}
