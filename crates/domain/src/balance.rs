//! The prepaid balance (SPEC 7): a ledger of signed entries (deposits and refunds add,
//! deductions take away, adjustments do either) whose sum is the balance, which never goes below
//! zero. Each entry shows the balance after it, so the customer sees how each payment was
//! deducted.

use crate::error::DomainError;
use crate::money::Money;
use crate::names::{AccountId, BalanceEntryId, PaymentId};
use time::OffsetDateTime;

/// What a ledger entry is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum EntryKind {
    /// Money paid in (by an operator, for a customer's transfer).
    Deposit,
    /// Money taken to pay an invoice.
    Deduction,
    /// Money given back.
    Refund,
    /// A correction by an operator, either way.
    Adjustment,
}

impl EntryKind {
    pub const ALL: [EntryKind; 4] = [
        EntryKind::Deposit,
        EntryKind::Deduction,
        EntryKind::Refund,
        EntryKind::Adjustment,
    ];

    pub fn as_str(&self) -> &'static str {
        match self {
            EntryKind::Deposit => "deposit",
            EntryKind::Deduction => "deduction",
            EntryKind::Refund => "refund",
            EntryKind::Adjustment => "adjustment",
        }
    }

    pub fn parse(text: &str) -> Result<Self, DomainError> {
        Self::ALL
            .into_iter()
            .find(|k| k.as_str() == text)
            .ok_or(DomainError::InvalidId("balance entry kind"))
    }

    /// Whether an entry of this kind may have this sign: deposits and refunds are positive,
    /// deductions negative, adjustments either (never zero).
    pub fn allows(&self, amount: Money) -> bool {
        match self {
            EntryKind::Deposit | EntryKind::Refund => !amount.is_negative() && !amount.is_zero(),
            EntryKind::Deduction => amount.is_negative(),
            EntryKind::Adjustment => !amount.is_zero(),
        }
    }
}

/// The balance after adding `amount` to `balance`: refused with
/// [`DomainError::InsufficientBalance`] if it would go below zero, or if the sign does not fit
/// the kind.
pub fn apply(balance: Money, kind: EntryKind, amount: Money) -> Result<Money, DomainError> {
    if !kind.allows(amount) {
        return Err(DomainError::InvalidBalanceEntry);
    }
    let after = balance.checked_add(amount)?;
    if after.is_negative() {
        return Err(DomainError::InsufficientBalance);
    }
    Ok(after)
}

/// The balance after each entry, oldest first, starting from zero.
pub fn running(start: Money, amounts: &[Money]) -> Result<Vec<Money>, DomainError> {
    let mut balance = start;
    let mut after = Vec::with_capacity(amounts.len());
    for amount in amounts {
        balance = balance.checked_add(*amount)?;
        after.push(balance);
    }
    Ok(after)
}

/// A ledger entry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    pub id: BalanceEntryId,
    pub account: AccountId,
    pub kind: EntryKind,
    /// Signed: deposits and refunds add, deductions take away.
    pub amount: Money,
    /// The payment a deduction paid.
    pub payment: Option<PaymentId>,
    pub description: String,
    pub created_at: OffsetDateTime,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::money::Currency;
    use proptest::prelude::*;

    fn krw(minor: i64) -> Money {
        Money::from_minor(minor, Currency::parse("KRW").unwrap()).unwrap()
    }

    #[test]
    fn a_deduction_cannot_overdraw_and_signs_fit_their_kind() {
        // 10,000 deposited, 4,000 deducted: 10,000 - 4,000 = 6,000.
        let b = apply(krw(0), EntryKind::Deposit, krw(10_000)).unwrap();
        let b = apply(b, EntryKind::Deduction, krw(-4_000)).unwrap();
        assert_eq!(b, krw(6_000));
        assert_eq!(
            apply(b, EntryKind::Deduction, krw(-6_001)),
            Err(DomainError::InsufficientBalance)
        );
        assert_eq!(
            apply(b, EntryKind::Deposit, krw(-1)),
            Err(DomainError::InvalidBalanceEntry)
        );
        assert_eq!(
            apply(b, EntryKind::Deduction, krw(1)),
            Err(DomainError::InvalidBalanceEntry)
        );
        assert_eq!(
            apply(b, EntryKind::Adjustment, krw(0)),
            Err(DomainError::InvalidBalanceEntry)
        );
        assert_eq!(apply(b, EntryKind::Adjustment, krw(-6_000)), Ok(krw(0)));
    }

    proptest! {
        /// Whatever is tried, the entries accepted sum to the balance, and it never goes below
        /// zero.
        #[test]
        fn the_balance_is_the_sum_of_its_entries_and_never_negative(
            tries in prop::collection::vec((0usize..4, -50_000i64..50_000), 0..60)
        ) {
            let mut balance = krw(0);
            let mut accepted = Vec::new();
            for (kind, amount) in tries {
                let kind = EntryKind::ALL[kind];
                if let Ok(after) = apply(balance, kind, krw(amount)) {
                    balance = after;
                    accepted.push(krw(amount));
                }
                prop_assert!(!balance.is_negative());
            }
            let total = Money::sum(balance.currency(), accepted.iter().copied()).unwrap();
            prop_assert_eq!(total, balance);
            let after = running(krw(0), &accepted).unwrap();
            prop_assert_eq!(after.last().copied().unwrap_or(krw(0)), balance);
            prop_assert!(after.iter().all(|b| !b.is_negative()));
        }
    }
}
