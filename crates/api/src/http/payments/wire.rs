//! Wire types of payments: the card, the payment history (seed 000) and receipts. Amounts are
//! decimal strings with exactly the currency's minor-unit decimals.

use billing_domain::payments::{Decline, PaymentMethodKind, PaymentStatus};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use validator::Validate;

use crate::http::wire::{CurrencyCode, CARD_TOKEN_RE};

/// A card to register: the payment gateway's token for it, never its number.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema, Validate)]
#[serde(deny_unknown_fields)]
pub struct PaymentMethodRequest {
    /// The gateway's card token. The sandbox's: `tok_sandbox_visa` (succeeds),
    /// `tok_sandbox_declined` (a hard decline), `tok_sandbox_insufficient_funds` (a soft
    /// decline, every time), `tok_sandbox_insufficient_funds_once` (a soft decline the first
    /// time, then success), `tok_sandbox_network_error` (the charge goes through, its answer is
    /// lost), `tok_sandbox_slow` (succeeds after two seconds).
    #[validate(regex(path = *CARD_TOKEN_RE, message = "must be a gateway card token such as tok_sandbox_visa"))]
    #[schema(
        min_length = 5,
        max_length = 64,
        pattern = r"^tok_[A-Za-z0-9_]{1,60}$",
        example = "tok_sandbox_visa"
    )]
    pub token: String,
}

/// The account's card as kept: brand, last four digits and expiry.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct PaymentMethodResponse {
    #[schema(example = "pm_0193a4f06c1e7c529a433f6a3a1b2c4d")]
    pub id: String,
    #[schema(example = "visa")]
    pub brand: String,
    #[schema(example = "4242")]
    pub last4: String,
    #[schema(minimum = 1, maximum = 12, example = 12)]
    pub exp_month: u8,
    #[schema(example = 2030)]
    pub exp_year: u16,
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub created_at: time::OffsetDateTime,
}

#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq, Eq, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum PaymentMethodKindDto {
    /// From the prepaid balance.
    Balance,
    /// By the registered card.
    Card,
}

impl From<PaymentMethodKind> for PaymentMethodKindDto {
    fn from(kind: PaymentMethodKind) -> Self {
        match kind {
            PaymentMethodKind::Balance => PaymentMethodKindDto::Balance,
            PaymentMethodKind::Card => PaymentMethodKindDto::Card,
        }
    }
}

#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq, Eq, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum PaymentStatusDto {
    /// The gateway was asked; its answer is not recorded yet.
    Pending,
    Successful,
    Failed,
}

impl From<PaymentStatus> for PaymentStatusDto {
    fn from(status: PaymentStatus) -> Self {
        match status {
            PaymentStatus::Pending => PaymentStatusDto::Pending,
            PaymentStatus::Successful => PaymentStatusDto::Successful,
            PaymentStatus::Failed => PaymentStatusDto::Failed,
        }
    }
}

#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq, Eq, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum DeclineDto {
    /// Refused: not retried; pay the invoice by hand.
    Hard,
    /// Retried on the schedule.
    Soft,
}

impl From<Decline> for DeclineDto {
    fn from(decline: Decline) -> Self {
        match decline {
            Decline::Hard => DeclineDto::Hard,
            Decline::Soft => DeclineDto::Soft,
        }
    }
}

/// One row of the payment history (seed 000): the payment, and the amounts of the invoice it
/// paid.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct PaymentResponse {
    #[schema(example = "pay_0193a4f06c1e7c529a433f6a3a1b2c4d")]
    pub id: String,
    #[schema(example = "rcpt_0193a4f06c1e7c529a433f6a3a1b2c4d")]
    pub receipt_id: String,
    pub invoice_id: String,
    #[schema(example = "INV-000001")]
    pub invoice_number: String,
    /// The invoice's period, `YYYY-MM`.
    pub period: String,
    /// The invoice's billing date (the end of its period), in the account's offset.
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub billing_date: time::OffsetDateTime,
    /// When the payment succeeded, in the account's offset.
    #[serde(with = "time::serde::rfc3339::option")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub payment_date: Option<time::OffsetDateTime>,
    pub method: PaymentMethodKindDto,
    /// The card as the customer knows it (`visa ending 4242, 12/2030`); `prepaid balance` for
    /// the balance.
    pub payment_method: String,
    /// 1 for the first attempt at the invoice, one more per retry.
    pub attempt: u32,
    pub status: PaymentStatusDto,
    pub currency: CurrencyCode,
    /// What this payment paid (or tried to).
    #[schema(pattern = r"^-?[0-9]{1,15}(\.[0-9]{1,4})?$", example = "11000")]
    pub amount: String,
    /// The invoice's credit.
    pub credit: String,
    /// The invoice's usage amount.
    pub usage_amount: String,
    /// The invoice's determined amount (usage less discounts and credit).
    pub determined_amount: String,
    /// The invoice's tax.
    pub tax: String,
    /// The invoice's total: what its payments pay in all (the prepaid balance's part and the
    /// card's are rows of their own, each with its `amount`).
    #[schema(pattern = r"^-?[0-9]{1,15}(\.[0-9]{1,4})?$", example = "11000")]
    pub invoice_total: String,
    /// Why it failed (`card_declined`, `insufficient_funds`, `no_payment_method`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub failure_code: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub decline: Option<DeclineDto>,
    /// When a soft decline is tried again.
    #[serde(
        with = "time::serde::rfc3339::option",
        skip_serializing_if = "Option::is_none",
        default
    )]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub next_attempt_at: Option<time::OffsetDateTime>,
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub created_at: time::OffsetDateTime,
}

#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct PaymentList {
    pub data: Vec<PaymentResponse>,
    pub has_more: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
}

/// What paying an invoice now did: the payments made (the balance's and the card's), and where
/// the invoice stands.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct PayResponse {
    pub invoice_id: String,
    /// The invoice's status after the payment: `paid`, or `payment_failed`.
    pub invoice_status: crate::http::wire::InvoiceStatusDto,
    pub payments: Vec<PaymentResponse>,
}

/// A receipt of a successful payment: the payment and the invoice it paid, with the seller.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct ReceiptResponse {
    #[schema(example = "Billing API")]
    pub seller: String,
    pub account_id: String,
    pub account_name: String,
    pub payment: PaymentResponse,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub struct AccountPaymentPath {
    /// Account id.
    #[param(pattern = r"^acct_[0-9a-f]{32}$")]
    pub account_id: String,
    /// Payment id.
    #[param(pattern = r"^pay_[0-9a-f]{32}$")]
    pub payment_id: String,
}
