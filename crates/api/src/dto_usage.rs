//! Wire types of usage ingestion.
//!
//! The schema states what makes a batch malformed (a 4xx for the whole batch, nothing stored):
//! not JSON, a missing or mistyped field, an unknown field, a timestamp that is not RFC 3339, more
//! than 1,000 events. Everything else about an event (its id, project, product, quantity, time,
//! period) is judged per event, so one bad event never sinks the batch.

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use utoipa::ToSchema;
use validator::Validate;

#[derive(Clone, Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UsageBatchRequest {
    /// Up to 1,000 events.
    #[validate(length(max = 1000, message = "a batch holds at most 1000 events"))]
    #[schema(max_items = 1000)]
    pub events: Vec<UsageEventRequest>,
}

/// One usage event.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UsageEventRequest {
    /// Chosen by the sender; unique per account. A repeated id is counted once and answered as
    /// `duplicate`. 1 to 255 visible ASCII characters.
    #[schema(example = "evt_2026-11-23T10:00:00Z_api-gw-1_000123")]
    pub id: String,
    #[schema(example = "proj_0193a4f06c1e7c529a433f6a3a1b2c4d")]
    pub project_id: String,
    /// Product code.
    #[schema(example = "api_calls")]
    pub product: String,
    /// A plain non-negative decimal with at most 6 decimals.
    #[schema(example = "120")]
    pub quantity: String,
    /// When the usage happened; at most 5 minutes ahead of the server's clock.
    #[serde(with = "time::serde::rfc3339")]
    pub timestamp: OffsetDateTime,
    /// Free-form attributes kept with the event.
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub properties: Option<serde_json::Map<String, serde_json::Value>>,
}

#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq, Eq, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum EventStatus {
    /// Counted now.
    Accepted,
    /// Counted before (same id): not counted again.
    Duplicate,
    /// Not counted; `reason` says why.
    Rejected,
}

#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq, Eq, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum RejectionReason {
    InvalidId,
    UnknownProject,
    ProjectClosed,
    UnknownProduct,
    InvalidQuantity,
    NegativeQuantity,
    QuantityOutOfRange,
    FutureTimestamp,
    TimestampOutOfRange,
    PeriodClosed,
}

impl From<billing_domain::usage::Rejection> for RejectionReason {
    fn from(r: billing_domain::usage::Rejection) -> Self {
        use billing_domain::usage::Rejection as R;
        match r {
            R::InvalidId => RejectionReason::InvalidId,
            R::UnknownProject => RejectionReason::UnknownProject,
            R::ProjectClosed => RejectionReason::ProjectClosed,
            R::UnknownProduct => RejectionReason::UnknownProduct,
            R::InvalidQuantity => RejectionReason::InvalidQuantity,
            R::NegativeQuantity => RejectionReason::NegativeQuantity,
            R::QuantityOutOfRange => RejectionReason::QuantityOutOfRange,
            R::FutureTimestamp => RejectionReason::FutureTimestamp,
            R::TimestampOutOfRange => RejectionReason::TimestampOutOfRange,
            R::PeriodClosed => RejectionReason::PeriodClosed,
        }
    }
}

#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct UsageEventResult {
    pub id: String,
    pub status: EventStatus,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<RejectionReason>,
}

/// One result per event, in the order sent.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct UsageBatchResponse {
    pub accepted: u32,
    pub duplicates: u32,
    pub rejected: u32,
    pub results: Vec<UsageEventResult>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use billing_domain::usage::Rejection;

    /// The wire names are the domain's reason codes, for every reason.
    #[test]
    fn reasons_serialize_as_the_domain_codes() {
        use Rejection as R;
        for r in [
            R::InvalidId,
            R::UnknownProject,
            R::ProjectClosed,
            R::UnknownProduct,
            R::InvalidQuantity,
            R::NegativeQuantity,
            R::QuantityOutOfRange,
            R::FutureTimestamp,
            R::TimestampOutOfRange,
            R::PeriodClosed,
        ] {
            let wire = serde_json::to_value(RejectionReason::from(r)).unwrap();
            assert_eq!(wire, serde_json::json!(r.code()));
        }
    }
}
