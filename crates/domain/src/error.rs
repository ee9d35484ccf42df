//! The domain's one error type: each variant names the rule that was broken.

use thiserror::Error;

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum DomainError {
    #[error("`{0}` is not an ISO 4217 currency code with minor units")]
    UnknownCurrency(String),
    #[error("amounts in {expected} and {found} cannot be combined")]
    CurrencyMismatch {
        expected: &'static str,
        found: &'static str,
    },
    #[error("`{0}` is not a plain decimal number such as \"12.34\"")]
    MalformedDecimal(String),
    #[error("at most {max} decimal places are allowed")]
    TooManyDecimals { max: u32 },
    #[error("the amount is outside the supported range")]
    AmountOutOfRange,
    #[error("the amount must not be negative")]
    NegativeAmount,
    #[error("a tax rate is a fraction between 0 and 1 with at most 6 decimal places")]
    InvalidTaxRate,
    #[error("`{0}` is not a UTC offset between -14:00 and +14:00 such as \"+09:00\"")]
    InvalidOffset(String),
    #[error("`{0}` is not a billing period (YYYY-MM, years 2000 to 9998)")]
    InvalidPeriod(String),
    #[error(
        "{what} must be {min} to {max} characters, not only spaces, without control characters"
    )]
    InvalidName {
        what: &'static str,
        min: usize,
        max: usize,
    },
    #[error("`{0}` is not a role (owner, billing_admin, member)")]
    UnknownRole(String),
    #[error("`{0}` is not an email address")]
    InvalidEmail(String),
    #[error("`{0}` is not a valid {1} id")]
    InvalidId(String, &'static str),
    #[error("a quantity must not be negative")]
    NegativeQuantity,
    #[error("the quantity exceeds 9223372036854.775807 units")]
    QuantityOutOfRange,
    #[error("`{0}` is not an aggregation (sum, max, latest)")]
    UnknownAggregation(String),
    #[error("`{0}` is not a fee group (api, disk, other)")]
    UnknownFeeGroup(String),
    #[error("`{0}` is not a code: 1 to 64 lower-case letters, digits, `_`, `-` or `.`")]
    InvalidCode(String),
    #[error(
        "`{0}` is not a unit: 1 to 32 lower-case letters, digits or `_`, starting with a letter"
    )]
    InvalidUnit(String),
    #[error("plan `{0}` is not in the catalog")]
    UnknownPlan(String),
    #[error("invalid price: {0}")]
    InvalidPrice(String),
    #[error("the account has usage, cut into periods in its billing offset: the offset can no longer change")]
    BillingOffsetLocked,
}
