//! Wire types of the prepaid balance (seed 002).

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use validator::Validate;

use crate::http::wire::CurrencyCode;

#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq, Eq, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum BalanceEntryKindDto {
    /// Money paid in.
    Deposit,
    /// Money taken to pay an invoice (negative).
    Deduction,
    /// Money given back.
    Refund,
    /// An operator's correction, either way.
    Adjustment,
}

impl From<billing_domain::balance::EntryKind> for BalanceEntryKindDto {
    fn from(kind: billing_domain::balance::EntryKind) -> Self {
        use billing_domain::balance::EntryKind;
        match kind {
            EntryKind::Deposit => BalanceEntryKindDto::Deposit,
            EntryKind::Deduction => BalanceEntryKindDto::Deduction,
            EntryKind::Refund => BalanceEntryKindDto::Refund,
            EntryKind::Adjustment => BalanceEntryKindDto::Adjustment,
        }
    }
}

/// One entry of the ledger, with the balance after it.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct BalanceEntryResponse {
    #[schema(example = "bal_0193a4f06c1e7c529a433f6a3a1b2c4d")]
    pub id: String,
    pub kind: BalanceEntryKindDto,
    /// Signed: deposits and refunds positive, deductions negative.
    #[schema(pattern = r"^-?[0-9]{1,15}(\.[0-9]{1,4})?$", example = "-4000")]
    pub amount: String,
    /// The balance after this entry.
    #[schema(pattern = r"^-?[0-9]{1,15}(\.[0-9]{1,4})?$", example = "6000")]
    pub balance_after: String,
    /// The payment a deduction paid.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub payment_id: Option<String>,
    pub description: String,
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub created_at: time::OffsetDateTime,
}

/// The prepaid balance, what the account still owes, and a page of the ledger, oldest first.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct BalanceResponse {
    pub account_id: String,
    pub currency: CurrencyCode,
    /// The prepaid balance: the sum of every entry, never negative.
    #[schema(pattern = r"^[0-9]{1,15}(\.[0-9]{1,4})?$", example = "6000")]
    pub balance: String,
    /// What finalized invoices still owe.
    #[schema(pattern = r"^[0-9]{1,15}(\.[0-9]{1,4})?$", example = "0")]
    pub unpaid_amount: String,
    pub entries: Vec<BalanceEntryResponse>,
    pub has_more: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
}

/// A deposit into the prepaid balance (a customer's transfer, recorded by an operator).
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema, Validate)]
#[serde(deny_unknown_fields)]
pub struct DepositRequest {
    /// A positive amount in the account's currency, at most its minor-unit decimals.
    #[schema(pattern = r"^[0-9]{1,15}(\.[0-9]{1,4})?$", example = "10000")]
    pub amount: String,
    /// What the customer sees in the ledger.
    #[validate(custom(function = "crate::http::wire::description"))]
    #[schema(
        min_length = 1,
        max_length = 400,
        pattern = r"^[^\x00-\x1f\x7f-\x9f]*[^\x00-\x20\x7f-\x9f][^\x00-\x1f\x7f-\x9f]*$",
        example = "Bank transfer 2026-11-02"
    )]
    pub description: String,
}
