//! Wire types of webhook endpoints, their deliveries and attempts.

use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use validator::Validate;

/// An endpoint to register.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema, Validate)]
#[serde(deny_unknown_fields)]
pub struct WebhookEndpointRequest {
    /// Where events are sent: an `https` URL on a public host (plain `http` and internal hosts
    /// only where `billing.webhooks.allow_private_targets` is set).
    #[schema(max_length = 2048, example = "https://hooks.example.com/billing")]
    pub url: String,
    /// The event types it receives (at least one).
    #[schema(min_items = 1, example = json!(["invoice.finalized", "invoice.paid", "invoice.payment_failed"]))]
    pub event_types: Vec<String>,
    /// Only this account's events; every account's when left out.
    #[schema(pattern = r"^acct_[0-9a-f]{32}$")]
    pub account_id: Option<String>,
    /// Whether it receives events now (default true). A disabled endpoint's deliveries wait.
    pub enabled: Option<bool>,
    #[schema(max_length = 500, example = "Accounting system")]
    pub description: Option<String>,
}

/// What to change of an endpoint; what is left out stays.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema, Validate)]
#[serde(deny_unknown_fields)]
pub struct WebhookEndpointUpdate {
    #[schema(max_length = 2048)]
    pub url: Option<String>,
    #[schema(min_items = 1)]
    pub event_types: Option<Vec<String>>,
    /// `true` enables it again and resumes its deliveries where they stopped (the reason it
    /// was disabled goes); `false` disables it.
    pub enabled: Option<bool>,
    #[schema(max_length = 500)]
    pub description: Option<String>,
}

/// A webhook endpoint.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct WebhookEndpointResponse {
    #[schema(example = "whe_0193a4f06c1e7c529a433f6a3a1b2c4d")]
    pub id: String,
    pub url: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Only this account's events; every account's when absent.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub account_id: Option<String>,
    pub event_types: Vec<String>,
    pub enabled: bool,
    /// Why it is disabled: by an operator, a 410 answer, or every attempt failing for 3 days.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub disabled_reason: Option<String>,
    /// The signing secret (`whsec_...`): only in the answers that create or rotate it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub secret: Option<String>,
    /// Until when the secret a rotation replaced still signs, beside the new one.
    #[serde(
        skip_serializing_if = "Option::is_none",
        with = "time::serde::rfc3339::option",
        default
    )]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub previous_secret_expires_at: Option<time::OffsetDateTime>,
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub created_at: time::OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub updated_at: time::OffsetDateTime,
}

/// A page of endpoints, oldest first.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct WebhookEndpointList {
    pub data: Vec<WebhookEndpointResponse>,
    pub has_more: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
}

#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq, Eq, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum AttemptOutcomeDto {
    /// The endpoint answered 2xx.
    Succeeded,
    /// It answered otherwise, or not in time, or could not be reached.
    Failed,
}

/// One time a delivery was sent.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct WebhookAttemptResponse {
    /// 1 for the first.
    pub number: u32,
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub started_at: time::OffsetDateTime,
    pub duration_ms: u64,
    /// What the endpoint answered; absent when it did not.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status_code: Option<u16>,
    pub outcome: AttemptOutcomeDto,
    /// Why it failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq, Eq, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum DeliveryStatusDto {
    /// Not delivered yet: due at `next_attempt_at`, after the account's earlier deliveries to
    /// the endpoint, while the endpoint is enabled.
    Pending,
    /// The endpoint answered 2xx.
    Delivered,
}

/// One event on its way to one endpoint, with every attempt.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct WebhookDeliveryResponse {
    #[schema(example = "whd_0193a4f06c1e7c529a433f6a3a1b2c4d")]
    pub id: String,
    pub endpoint_id: String,
    /// The event (and the `webhook-id` it is sent under).
    pub event_id: String,
    pub event_type: String,
    pub account_id: String,
    pub status: DeliveryStatusDto,
    pub attempt_count: u32,
    /// When it is tried next (pending ones).
    #[serde(
        skip_serializing_if = "Option::is_none",
        with = "time::serde::rfc3339::option",
        default
    )]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub next_attempt_at: Option<time::OffsetDateTime>,
    #[serde(
        skip_serializing_if = "Option::is_none",
        with = "time::serde::rfc3339::option",
        default
    )]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub delivered_at: Option<time::OffsetDateTime>,
    pub attempts: Vec<WebhookAttemptResponse>,
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub created_at: time::OffsetDateTime,
}

/// A page of an endpoint's deliveries, oldest first.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct WebhookDeliveryList {
    pub data: Vec<WebhookDeliveryResponse>,
    pub has_more: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
}

/// What sending a delivery again did.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct WebhookRetryResponse {
    pub delivery: WebhookDeliveryResponse,
    /// The attempt just made.
    pub attempt: WebhookAttemptResponse,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub struct EndpointPath {
    /// Webhook endpoint id.
    #[param(pattern = r"^whe_[0-9a-f]{32}$")]
    pub endpoint_id: String,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub struct DeliveryPath {
    /// Webhook delivery id.
    #[param(pattern = r"^whd_[0-9a-f]{32}$")]
    pub delivery_id: String,
}
