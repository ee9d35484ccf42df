//! Wire types of events: the envelope every event has, as lists answer it and webhooks send
//! it, and each type's `data`.

use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::http::balance::wire::BalanceEntryResponse;
use crate::http::credits::wire::CreditResponse;
use crate::http::invoices::wire::InvoiceResponse;
use crate::http::payments::wire::{PaymentMethodResponse, PaymentResponse};
use crate::http::promotions::wire::AppliedPromotionResponse;

/// An event: what happened, when, to which account, and the object it is about as its GET
/// answered it then (`data.object`). Webhooks send exactly this body.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct EventResponse {
    /// The event's id: the same `webhook-id` on every delivery and retry of it.
    #[schema(
        example = "evt_0193a4f06c1e7c529a433f6a3a1b2c4d",
        pattern = r"^evt_[0-9a-f]{32}$"
    )]
    pub id: String,
    /// Its type (the webhooks section of this document gives each type's `data`).
    #[serde(rename = "type")]
    #[schema(example = "invoice.finalized")]
    pub kind: String,
    /// When it happened (UTC).
    #[schema(value_type = String, format = DateTime)]
    pub created_at: String,
    #[schema(pattern = r"^acct_[0-9a-f]{32}$")]
    pub account_id: String,
    /// `object`: what it is about; `invoice.payment_failed` has the failed `payment` beside it.
    #[schema(value_type = Object)]
    pub data: serde_json::Value,
}

/// A page of events, in the order they happened.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct EventList {
    pub data: Vec<EventResponse>,
    pub has_more: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
}

/// Which events to list.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct EventQuery {
    /// Only events of these types, comma separated (`invoice.finalized,invoice.paid`).
    #[serde(rename = "type")]
    #[param(
        rename = "type",
        max_length = 1000,
        pattern = r"^[a-z_.]+(,[a-z_.]+)*$",
        example = "invoice.finalized,invoice.paid"
    )]
    pub kind: Option<String>,
    /// Only events created at or after this instant (RFC 3339).
    #[param(value_type = Option<String>, format = DateTime, example = "2026-12-01T00:00:00Z")]
    pub created_from: Option<String>,
    /// Only events created before this instant (RFC 3339).
    #[param(value_type = Option<String>, format = DateTime, example = "2026-12-06T00:00:00Z")]
    pub created_before: Option<String>,
}

/// Which events operators list.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AdminEventQuery {
    /// Only this account's events.
    #[param(pattern = r"^acct_[0-9a-f]{32}$")]
    pub account_id: Option<String>,
}

/// `data` of `invoice.finalized` and `invoice.paid`.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct InvoiceEventData {
    pub object: InvoiceResponse,
}

/// `data` of `invoice.payment_failed`: the invoice after the failed charge (its
/// `next_payment_attempt` says when it is tried again), and the failed payment (its
/// `failure_code`).
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct InvoicePaymentFailedData {
    pub object: InvoiceResponse,
    pub payment: PaymentResponse,
}

/// `data` of `payment.succeeded` and `payment.failed`.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct PaymentEventData {
    pub object: PaymentResponse,
}

/// `data` of `credit.registered` and `credit.expired`.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct CreditEventData {
    pub object: CreditResponse,
}

/// `data` of `promotion.applied`.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct PromotionEventData {
    pub object: AppliedPromotionResponse,
}

/// `data` of `balance.deposited`: the deposit, with the balance after it.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct BalanceEventData {
    pub object: BalanceEntryResponse,
}

/// `data` of `payment_method.updated` and `payment_method.removed` (the card as it was).
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct PaymentMethodEventData {
    pub object: PaymentMethodResponse,
}

/// Events of a usage batch refused because their period is closed (invoiced).
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct UsageRejectionResponse {
    #[schema(example = "rej_0193a4f06c1e7c529a433f6a3a1b2c4d")]
    pub id: String,
    /// Always `period_closed`.
    #[schema(example = "period_closed")]
    pub reason: String,
    /// The refused events' ids, in the batch's order.
    pub event_ids: Vec<String>,
    /// The closed periods they fell in (`YYYY-MM`, in the account's billing offset).
    pub periods: Vec<String>,
}

/// `data` of `usage.period_closed_rejected`.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct UsageRejectionEventData {
    pub object: UsageRejectionResponse,
}
