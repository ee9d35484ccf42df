//! Wire types of invoices: the preview, its lines and groups. Amounts are decimal strings with
//! exactly the currency's minor-unit decimals, beside the account's `currency`.

use std::borrow::Cow;

use serde::{Deserialize, Serialize};
use utoipa::openapi::schema::{ObjectBuilder, Schema, Type};
use utoipa::openapi::RefOr;
use utoipa::{IntoParams, PartialSchema, ToSchema};

use crate::http::usage::wire::RatedLineResponse;
use crate::http::wire::CurrencyCode;
pub use crate::http::wire::InvoiceStatusDto;

#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq, Eq, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum GroupByDto {
    Project,
    Product,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct InvoicePreviewQuery {
    /// Billing period `YYYY-MM` (a calendar month in the account's billing offset). Default: the
    /// current one.
    #[param(
        pattern = r"^(2[0-9]{3}|[3-8][0-9]{3}|9[0-8][0-9]{2}|99[0-8][0-9]|999[0-8])-(0[1-9]|1[0-2])$",
        example = "2026-11"
    )]
    pub period: Option<String>,
    /// Also answer the lines grouped by project or by product (`groups`).
    #[param(inline)]
    pub group_by: Option<GroupByDto>,
}

#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq, Eq, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum InvoiceLineKindDto {
    /// A plan's base fee, prorated by the hours the project was on it.
    BaseFee,
    /// A product's usage, rated by the plan's price.
    Usage,
    /// A promotion's discount (negative).
    Discount,
    /// A registered credit used (negative).
    Credit,
}

/// One line of an invoice.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct InvoiceLineResponse {
    pub kind: InvoiceLineKindDto,
    /// The project of a base-fee or usage line.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub project_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub project_name: Option<String>,
    /// How a base-fee or usage line was rated: plan, product, quantity, hours, exact amount.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rated: Option<RatedLineResponse>,
    /// The promotion or credit of a discount or credit line.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reference: Option<String>,
    pub description: String,
    #[schema(pattern = r"^-?[0-9]{1,15}(\.[0-9]{1,4})?$", example = "1501")]
    pub amount: String,
}

/// The amounts of an invoice, in SPEC's order (seed 000's payment history names them).
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct InvoiceAmountsResponse {
    /// Base fees and usage: the sum of the rated lines.
    #[schema(pattern = r"^-?[0-9]{1,15}(\.[0-9]{1,4})?$", example = "165335")]
    pub usage_amount: String,
    /// What promotions take off.
    #[schema(pattern = r"^-?[0-9]{1,15}(\.[0-9]{1,4})?$", example = "0")]
    pub discount: String,
    /// What credits take off.
    #[schema(pattern = r"^-?[0-9]{1,15}(\.[0-9]{1,4})?$", example = "0")]
    pub credit: String,
    /// Usage amount − discount − credit.
    #[schema(pattern = r"^-?[0-9]{1,15}(\.[0-9]{1,4})?$", example = "165335")]
    pub determined_amount: String,
    /// The account's tax rate, a fraction (`0.1` is 10 %).
    #[schema(example = "0.1")]
    pub tax_rate: String,
    /// Determined amount × tax rate, rounded once.
    #[schema(pattern = r"^-?[0-9]{1,15}(\.[0-9]{1,4})?$", example = "16534")]
    pub tax: String,
    /// Determined amount + tax: what the invoice asks to be paid, by the prepaid balance and
    /// the card together.
    #[schema(pattern = r"^-?[0-9]{1,15}(\.[0-9]{1,4})?$", example = "181869")]
    pub total: String,
}

/// What was paid of a finalized invoice and how, and when it is charged next. Each figure is
/// a fact of the moment: when the invoice is charged (from the charge day, the 5th by
/// default) the prepaid balance pays first and the card the rest, so before that nothing is
/// paid, `attempt_count` is 0 and `next_payment_attempt` says when it will be.
/// `amount_paid` + `amount_remaining` = `total` (a void invoice remains 0);
/// `paid_from_balance` + `paid_by_card` = `amount_paid` always.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct InvoicePaymentResponse {
    /// What the prepaid balance and the card have paid of the total.
    #[schema(pattern = r"^-?[0-9]{1,15}(\.[0-9]{1,4})?$", example = "181869")]
    pub amount_paid: String,
    /// What the prepaid balance paid of it.
    #[schema(pattern = r"^-?[0-9]{1,15}(\.[0-9]{1,4})?$", example = "50000")]
    pub paid_from_balance: String,
    /// What the card paid of it.
    #[schema(pattern = r"^-?[0-9]{1,15}(\.[0-9]{1,4})?$", example = "131869")]
    pub paid_by_card: String,
    /// What it still owes: total − amount paid (0 once paid; 0 for a void invoice). The
    /// account's `unpaid_amount` is the sum of these.
    #[schema(pattern = r"^-?[0-9]{1,15}(\.[0-9]{1,4})?$", example = "0")]
    pub amount_remaining: String,
    /// How many times it was charged (each charge: the balance first, then the card); 0 until
    /// it is first charged.
    #[schema(example = 1)]
    pub attempt_count: u32,
    /// When the charge run charges it next (RFC 3339, in the account's offset): its charge day
    /// until it is first charged (past while the run has not got to it yet), then a soft
    /// decline's retry. Absent when it owes nothing, while a charge is under way, after a hard
    /// decline and once the retries are used up (it then waits to be paid with
    /// `POST .../invoices/{invoice_id}/pay`).
    #[serde(
        with = "time::serde::rfc3339::option",
        skip_serializing_if = "Option::is_none",
        default
    )]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub next_payment_attempt: Option<time::OffsetDateTime>,
}

/// A group of the preview's rated lines: one project, or one product (base fees in a group of
/// their own).
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct InvoiceGroupResponse {
    /// The project of a project group.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub project_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub project_name: Option<String>,
    /// The product of a product group; absent on the base fees' group.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub product: Option<String>,
    /// `true` for the group of the plans' base fees (by product).
    pub base_fees: bool,
    /// Total time: the billed hours of the group's hourly-priced products.
    #[schema(example = "100")]
    pub hours: String,
    /// What the hourly-priced lines charged per hour of that time, rounded to the minor unit;
    /// absent without hours.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(pattern = r"^-?[0-9]{1,15}(\.[0-9]{1,4})?$", example = "42")]
    pub average_cost_per_hour: Option<String>,
    /// The sum of the group's lines.
    #[schema(pattern = r"^-?[0-9]{1,15}(\.[0-9]{1,4})?$", example = "101668")]
    pub total_cost: String,
}

#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq, Eq, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum PreviewStatus {
    /// The period is open: computed from live usage now.
    Open,
    /// The period is finalized: the figures of its invoice.
    Finalized,
}

/// An invoice preview: the period's invoice as it stands, computed from live usage the way
/// finalization computes it; for a finalized period, its invoice's figures.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct InvoicePreviewResponse {
    pub account_id: String,
    #[schema(example = "2026-11")]
    pub period: String,
    pub status: PreviewStatus,
    /// The finalized invoice (finalized periods).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub invoice_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(example = "INV-000001")]
    pub number: Option<String>,
    pub currency: CurrencyCode,
    /// Base-fee and usage lines project by project (by project id, each plan in time order),
    /// then discounts, then credits.
    pub lines: Vec<InvoiceLineResponse>,
    #[serde(flatten)]
    pub amounts: InvoiceAmountsResponse,
    /// What was already paid of it: 0 for an open period (nothing is charged before its
    /// invoice is finalized); for a finalized one, what its payments paid. Absent, like
    /// `balance_applied` and `payment_amount`, to a member (who sees only the costs of some
    /// projects, not the account's balance or payments).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(pattern = r"^-?[0-9]{1,15}(\.[0-9]{1,4})?$", example = "0")]
    pub amount_paid: Option<String>,
    /// What the prepaid balance would pay of what is left to pay (total − amount paid) if the
    /// invoice were charged now: the balance as it stands, less what the account's earlier
    /// unpaid invoices take of it first (the charge pays invoices in the order they were
    /// finalized), at most what is left to pay.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(pattern = r"^-?[0-9]{1,15}(\.[0-9]{1,4})?$", example = "50000")]
    pub balance_applied: Option<String>,
    /// What the card would be charged if the invoice were charged now: total − amount paid −
    /// balance applied.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(pattern = r"^-?[0-9]{1,15}(\.[0-9]{1,4})?$", example = "131869")]
    pub payment_amount: Option<String>,
    /// What earlier, finalized invoices still owe.
    #[schema(pattern = r"^-?[0-9]{1,15}(\.[0-9]{1,4})?$", example = "0")]
    pub unpaid_amount: String,
    /// The rated lines grouped (with `group_by`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub groups: Option<Vec<InvoiceGroupResponse>>,
}

/// A billing run to start now: finalize every period that is due as of `as_of`.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema, validator::Validate)]
#[serde(deny_unknown_fields)]
pub struct BillingRunRequest {
    /// The instant the run acts as of (RFC 3339), never in the future: a test clock for the
    /// past. Default: now.
    #[serde(default, with = "time::serde::rfc3339::option")]
    #[schema(value_type = Option<String>, format = DateTime, example = "2026-11-05T00:00:00+09:00")]
    pub as_of: Option<time::OffsetDateTime>,
}

/// One invoice a run finalized.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct FinalizedInvoiceResponse {
    #[schema(example = "2026-11")]
    pub period: String,
    #[schema(example = "inv_0193a4f06c1e7c529a433f6a3a1b2c4d")]
    pub invoice_id: String,
    #[schema(example = "INV-000001")]
    pub number: String,
    pub currency: CurrencyCode,
    #[schema(pattern = r"^-?[0-9]{1,15}(\.[0-9]{1,4})?$", example = "181869")]
    pub total: String,
}

/// The invoices a run finalized for one account.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct AccountRunResponse {
    pub account_id: String,
    pub invoices: Vec<FinalizedInvoiceResponse>,
}

/// What a billing run did.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct BillingRunResponse {
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub as_of: time::OffsetDateTime,
    /// How many accounts the run looked at.
    pub accounts_examined: u64,
    /// The accounts for which it finalized invoices (the others are left out).
    pub finalized: Vec<AccountRunResponse>,
    /// The payments it made or settled, in order.
    pub payments: Vec<RunPaymentResponse>,
}

/// A payment a billing run made (or settled, after a crash).
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct RunPaymentResponse {
    pub payment_id: String,
    pub account_id: String,
    pub invoice_id: String,
    pub method: crate::http::payments::wire::PaymentMethodKindDto,
    pub status: crate::http::payments::wire::PaymentStatusDto,
    pub currency: CurrencyCode,
    #[schema(pattern = r"^-?[0-9]{1,15}(\.[0-9]{1,4})?$", example = "11000")]
    pub amount: String,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub struct AccountInvoicePath {
    /// Account id.
    #[param(pattern = r"^acct_[0-9a-f]{32}$")]
    pub account_id: String,
    /// Invoice id.
    #[param(pattern = r"^inv_[0-9a-f]{32}$")]
    pub invoice_id: String,
}

/// A finalized invoice: its number, period, status and amounts (seed 000's payment history
/// names them).
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct InvoiceResponse {
    #[schema(example = "inv_0193a4f06c1e7c529a433f6a3a1b2c4d")]
    pub id: String,
    #[schema(example = "INV-000001")]
    pub number: String,
    pub account_id: String,
    #[schema(example = "2026-11")]
    pub period: String,
    pub status: InvoiceStatusDto,
    pub currency: CurrencyCode,
    /// The end of the period it bills (RFC 3339, in the account's offset).
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub billing_date: time::OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub finalized_at: time::OffsetDateTime,
    #[serde(flatten)]
    pub amounts: InvoiceAmountsResponse,
    #[serde(flatten)]
    pub payment: InvoicePaymentResponse,
    /// The lines (the invoice in detail; absent in the history).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lines: Option<Vec<InvoiceLineResponse>>,
}

/// The billing history: a page of the account's invoices, in the order they were finalized,
/// and what it still owes.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct InvoiceListResponse {
    pub currency: CurrencyCode,
    /// What the account's finalized invoices still owe, on every page.
    #[schema(pattern = r"^-?[0-9]{1,15}(\.[0-9]{1,4})?$", example = "181869")]
    pub unpaid_amount: String,
    pub data: Vec<InvoiceResponse>,
    /// Whether another page follows.
    pub has_more: bool,
    /// Pass as `starting_after` to read the next page (opaque); absent on the last page.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
}

/// The bytes of a PDF document (the body of an `application/pdf` answer).
pub struct PdfDocument;

impl PartialSchema for PdfDocument {
    fn schema() -> RefOr<Schema> {
        ObjectBuilder::new()
            .schema_type(Type::String)
            .content_media_type("application/pdf")
            .description(Some("A PDF document."))
            .into()
    }
}

impl ToSchema for PdfDocument {
    fn name() -> Cow<'static, str> {
        Cow::Borrowed("PdfDocument")
    }
}
