//! The domain's one error type: each variant names the rule that was broken, never the value
//! that broke it (messages reach clients and logs; a value may be a secret or a card number).

use thiserror::Error;

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum DomainError {
    #[error("must be an ISO 4217 currency code with minor units")]
    UnknownCurrency,
    #[error("amounts in {expected} and {found} cannot be combined")]
    CurrencyMismatch {
        expected: &'static str,
        found: &'static str,
    },
    #[error("must be a plain decimal number such as \"12.34\"")]
    MalformedDecimal,
    #[error("at most {max} decimal places are allowed")]
    TooManyDecimals { max: u32 },
    #[error("the amount is outside the supported range")]
    AmountOutOfRange,
    #[error("the amount must not be negative")]
    NegativeAmount,
    #[error("a discount is a percentage more than 0 and at most 100 (at most 4 decimals), or a positive amount")]
    InvalidDiscount,
    #[error("a tax rate is a fraction between 0 and 1 with at most 6 decimal places")]
    InvalidTaxRate,
    #[error("must be a UTC offset between -14:00 and +14:00 such as \"+09:00\"")]
    InvalidOffset,
    #[error("must be a billing period (YYYY-MM, years 2000 to 9998)")]
    InvalidPeriod,
    #[error(
        "{what} must be {min} to {max} characters, not only spaces, without control characters"
    )]
    InvalidName {
        what: &'static str,
        min: usize,
        max: usize,
    },
    #[error("must be a role (owner, billing_admin, member)")]
    UnknownRole,
    #[error("must be an email address")]
    InvalidEmail,
    #[error("must be a valid {0} id")]
    InvalidId(&'static str),
    #[error("a quantity must not be negative")]
    NegativeQuantity,
    #[error("the quantity exceeds 9223372036854.775807 units")]
    QuantityOutOfRange,
    #[error("must be an aggregation (sum, max, latest)")]
    UnknownAggregation,
    #[error("must be a fee group (api, disk, other)")]
    UnknownFeeGroup,
    #[error("must be a code: 1 to 64 lower-case letters, digits, `_`, `-` or `.`")]
    InvalidCode,
    #[error("must be a unit: 1 to 32 lower-case letters, digits or `_`, starting with a letter")]
    InvalidUnit,
    #[error("the plan is not in the catalog")]
    UnknownPlan,
    #[error("invalid price: {0}")]
    InvalidPrice(String),
    #[error("the account has usage, cut into periods in its billing offset: the offset can no longer change")]
    BillingOffsetLocked,
    #[error("a charge day is a day of the month from 1 to 28")]
    InvalidChargeDay,
    #[error("a retry schedule is at most 10 increasing delays, each within 60 days")]
    InvalidRetrySchedule,
    #[error("the prepaid balance cannot go below zero")]
    InsufficientBalance,
    #[error("deposits and refunds are positive, deductions negative, adjustments not zero")]
    InvalidBalanceEntry,
    #[error("a credit code is 20 letters and digits, in groups of four such as K7QX-M2PD-9HTV-A4WE-3NRC")]
    InvalidCreditCode,
    #[error("a validity is 1 to 3650 days")]
    InvalidValidity,
    #[error("a credit cannot be used or expire past what it was charged")]
    CreditOverdrawn,
    #[error("a promotion lasts once, 1 to 120 months, or forever")]
    InvalidLasting,
    #[error("a promotion code is 3 to 32 letters, digits and dashes, such as SPRING-20")]
    InvalidPromotionCode,
}
