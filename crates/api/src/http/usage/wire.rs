//! Wire types of usage: ingestion of events, and the reads (monthly usage per project and
//! product, daily usage of one project, metering per date of one product, the per-project
//! billing table of seed 000).
//!
//! The schema states what makes a batch malformed (a 4xx for the whole batch, nothing stored):
//! not JSON, a missing or mistyped field, an unknown field, a timestamp that is not RFC 3339, more
//! than 1,000 events. Everything else about an event (its id, project, product, quantity, time,
//! period) is judged per event, so one bad event never sinks the batch.
//!
//! Quantities are exact decimal strings in the product's unit; amounts are decimal strings with
//! exactly the currency's minor-unit decimals, beside the account's `currency`. Instants are
//! RFC 3339 in the account's billing offset; dates are that offset's calendar dates.

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use utoipa::{IntoParams, ToSchema};
use validator::Validate;

use crate::http::catalog::wire::{AggregationDto, FeeGroupDto};
use crate::http::wire::CurrencyCode;

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

// --- Reads ---------------------------------------------------------------------------------------

/// A billing period: `YYYY-MM`, years 2000 to 9998.
pub const PERIOD_PATTERN: &str =
    r"^(2[0-9]{3}|[3-8][0-9]{3}|9[0-8][0-9]{2}|99[0-8][0-9]|999[0-8])-(0[1-9]|1[0-2])$";

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PeriodQuery {
    /// Billing period `YYYY-MM` (a calendar month in the account's billing offset). Default: the
    /// current one.
    #[param(
        pattern = r"^(2[0-9]{3}|[3-8][0-9]{3}|9[0-8][0-9]{2}|99[0-8][0-9]|999[0-8])-(0[1-9]|1[0-2])$",
        example = "2026-11"
    )]
    pub period: Option<String>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct MeteringQuery {
    /// Product code.
    #[param(pattern = r"^[a-z0-9][a-z0-9_.-]{0,63}$", example = "api_calls")]
    pub product: String,
    /// Billing period `YYYY-MM`. Default: the period of `date`, or the current one.
    #[param(
        pattern = r"^(2[0-9]{3}|[3-8][0-9]{3}|9[0-8][0-9]{2}|99[0-8][0-9]|999[0-8])-(0[1-9]|1[0-2])$",
        example = "2026-11"
    )]
    pub period: Option<String>,
    /// Only this date of the account's billing offset (`YYYY-MM-DD`); a date outside `period`
    /// has no usage in it. Default: every date of the period with usage ("Expand All").
    #[param(
        value_type = Option<String>,
        format = Date,
        pattern = r"^(2[0-9]{3}|[3-8][0-9]{3}|9[0-8][0-9]{2}|99[0-8][0-9]|999[0-8])-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])$",
        example = "2026-11-05"
    )]
    pub date: Option<String>,
}

/// A product as usage reads show it, with its usage over the span of the read.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct ProductUsage {
    /// Product code.
    #[schema(example = "api_calls")]
    pub product: String,
    #[schema(example = "API calls")]
    pub name: String,
    #[schema(example = "call")]
    pub unit: String,
    pub aggregation: AggregationDto,
    /// The usage aggregated as the product says (sum, max or latest), in its unit.
    #[schema(pattern = r"^[0-9]{1,13}(\.[0-9]{1,6})?$", example = "125000")]
    pub quantity: String,
    /// How many events made it.
    #[schema(example = 412)]
    pub event_count: i64,
}

/// One project's usage in the period.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct ProjectUsageResponse {
    #[schema(example = "proj_0193a4f06c1e7c529a433f6a3a1b2c4d")]
    pub project_id: String,
    #[schema(example = "Production")]
    pub project_name: String,
    /// Whether the caller sees this project's costs (in the billing table and invoice previews).
    pub billing_permission: bool,
    /// Products used in the period, by code; empty when there was no usage.
    pub products: Vec<ProductUsage>,
}

/// Usage per project and product for a period: every project the caller takes part in (owners
/// and billing admins: every project of the account), with quantities only.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct MonthlyUsageResponse {
    pub account_id: String,
    #[schema(example = "2026-11")]
    pub period: String,
    /// The period's first instant (local midnight of its first day).
    #[serde(with = "time::serde::rfc3339")]
    pub starts_at: OffsetDateTime,
    /// The instant after the period.
    #[serde(with = "time::serde::rfc3339")]
    pub ends_at: OffsetDateTime,
    /// A page of projects, by project id.
    pub projects: Vec<ProjectUsageResponse>,
    /// Whether another page of projects follows.
    pub has_more: bool,
    /// Pass as `starting_after` to read the next page; absent on the last page.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
}

/// One day of a project's usage.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct DayUsageResponse {
    /// The date in the account's billing offset.
    #[schema(example = "2026-11-05")]
    pub date: String,
    #[serde(with = "time::serde::rfc3339")]
    pub starts_at: OffsetDateTime,
    pub products: Vec<ProductUsage>,
}

/// A project's usage per day of a period: every day, cut at the account's midnight.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct DailyUsageResponse {
    pub account_id: String,
    pub project_id: String,
    pub project_name: String,
    #[schema(example = "2026-11")]
    pub period: String,
    pub days: Vec<DayUsageResponse>,
}

/// One hour of a product's metering.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct MeteringHourResponse {
    /// The hour's first instant, in the account's billing offset.
    #[serde(with = "time::serde::rfc3339")]
    pub starts_at: OffsetDateTime,
    #[schema(pattern = r"^[0-9]{1,13}(\.[0-9]{1,6})?$", example = "5200")]
    pub quantity: String,
    pub event_count: i64,
}

/// One date of a product's metering, with the hours that had usage.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct MeteringDateResponse {
    #[schema(example = "2026-11-05")]
    pub date: String,
    /// The date's usage, aggregated as the product says.
    #[schema(pattern = r"^[0-9]{1,13}(\.[0-9]{1,6})?$", example = "125000")]
    pub quantity: String,
    pub event_count: i64,
    pub hours: Vec<MeteringHourResponse>,
}

/// Metering information of one product of one project: each date with usage and its hours.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct MeteringResponse {
    pub account_id: String,
    pub project_id: String,
    #[schema(example = "2026-11")]
    pub period: String,
    #[schema(example = "api_calls")]
    pub product: String,
    pub name: String,
    pub unit: String,
    pub aggregation: AggregationDto,
    /// The usage of the whole read (the period, or the date asked for); `null` without usage.
    #[schema(pattern = r"^[0-9]{1,13}(\.[0-9]{1,6})?$", example = "125000")]
    pub quantity: Option<String>,
    pub event_count: i64,
    pub dates: Vec<MeteringDateResponse>,
}

/// One service (product) row of a project's billing table.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct ServiceBillingResponse {
    /// Product code.
    #[schema(example = "api_calls")]
    pub product: String,
    /// The service's name.
    #[schema(example = "API calls")]
    pub service: String,
    #[schema(example = "call")]
    pub unit: String,
    pub fee_group: FeeGroupDto,
    /// The period's usage, aggregated as the product says.
    #[schema(pattern = r"^[0-9]{1,13}(\.[0-9]{1,6})?$", example = "125000")]
    pub usage: String,
    /// The number of API calls (products of the `api` fee group), else `null`.
    #[schema(pattern = r"^[0-9]{1,13}(\.[0-9]{1,6})?$", example = "125000")]
    pub api_calls: Option<String>,
    /// Disk usage in bytes (products of the `disk` fee group), else `null`.
    #[schema(pattern = r"^[0-9]{1,13}(\.[0-9]{1,6})?$")]
    pub disk_bytes: Option<String>,
    pub event_count: i64,
    /// What the service was charged in the period (the sum of its rated lines).
    #[schema(pattern = r"^-?[0-9]{1,15}(\.[0-9]{1,4})?$", example = "1250")]
    pub amount: String,
}

/// A project's billing summary: the parts always add up to `total_amount`.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct BillingSummaryResponse {
    #[schema(pattern = r"^-?[0-9]{1,15}(\.[0-9]{1,4})?$", example = "122621")]
    pub total_amount: String,
    /// The plans' base fees, prorated by the hours each plan was in force.
    #[schema(pattern = r"^-?[0-9]{1,15}(\.[0-9]{1,4})?$", example = "120000")]
    pub base_fee: String,
    #[schema(pattern = r"^-?[0-9]{1,15}(\.[0-9]{1,4})?$", example = "120")]
    pub disk_usage_fee: String,
    #[schema(pattern = r"^-?[0-9]{1,15}(\.[0-9]{1,4})?$", example = "2501")]
    pub api_usage_fee: String,
    /// Usage fees of products in neither group (hours of a monitored resource, ...).
    #[schema(pattern = r"^-?[0-9]{1,15}(\.[0-9]{1,4})?$", example = "0")]
    pub other_usage_fee: String,
}

#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq, Eq, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum LineKindDto {
    /// A plan's base fee.
    BaseFee,
    /// A product's usage.
    Usage,
}

/// One rated line: what was charged and why. Each line is rounded once, half away from zero.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct RatedLineResponse {
    pub kind: LineKindDto,
    /// The plan that rated it.
    #[schema(example = "standard-2026")]
    pub plan: String,
    /// The product (usage lines).
    pub product: Option<String>,
    #[schema(example = "api_calls (graduated)")]
    pub description: String,
    /// The aggregated quantity (usage lines).
    pub quantity: Option<String>,
    /// The free quantity taken off before rating (usage lines).
    pub free_quantity: Option<String>,
    /// Hours of the plan in the period (base fee) or billed hours (hourly prices).
    #[schema(example = "720")]
    pub hours: Option<String>,
    /// The month's reference hours (days x 24), where hours were prorated.
    #[schema(example = 720)]
    pub reference_hours: Option<u32>,
    /// The exact amount before rounding.
    #[schema(example = "1500.5")]
    pub exact_amount: String,
    #[schema(pattern = r"^-?[0-9]{1,15}(\.[0-9]{1,4})?$", example = "1501")]
    pub amount: String,
}

impl From<&billing_domain::catalog::rating::Line> for RatedLineResponse {
    fn from(line: &billing_domain::catalog::rating::Line) -> Self {
        use billing_domain::catalog::rating::LineKind;
        RatedLineResponse {
            kind: match line.kind {
                LineKind::BaseFee => LineKindDto::BaseFee,
                LineKind::Usage => LineKindDto::Usage,
            },
            plan: line.plan.to_string(),
            product: line.product.as_ref().map(ToString::to_string),
            description: line.description.clone(),
            quantity: line.quantity.map(|q| q.to_string()),
            free_quantity: line.free_quantity.map(|q| q.to_string()),
            hours: line.hours.map(|h| h.normalize().to_string()),
            reference_hours: line.reference_hours,
            exact_amount: line.exact_amount.normalize().to_string(),
            amount: line.amount.to_string(),
        }
    }
}

/// One project (a "channel" of seed 000) of the billing table.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct ChannelBillingResponse {
    pub project_id: String,
    pub project_name: String,
    pub services: Vec<ServiceBillingResponse>,
    pub summary: BillingSummaryResponse,
    /// Every rated line, plan by plan in time order.
    pub lines: Vec<RatedLineResponse>,
}

/// Usage charges per project for a period, for the projects whose costs the caller may see
/// (owners and billing admins: all; members: those with billing permission).
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct BillingChannelsResponse {
    pub account_id: String,
    #[schema(example = "2026-11")]
    pub period: String,
    pub currency: CurrencyCode,
    /// The sum of the totals of every channel the caller may see, on every page.
    #[schema(pattern = r"^-?[0-9]{1,15}(\.[0-9]{1,4})?$", example = "122621")]
    pub total_amount: String,
    /// A page of channels, by project id.
    pub channels: Vec<ChannelBillingResponse>,
    /// Whether another page of channels follows.
    pub has_more: bool,
    /// Pass as `starting_after` to read the next page; absent on the last page.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
}

#[cfg(test)]
mod read_tests {
    use super::*;
    use billing_domain::period::{BillingOffset, BillingPeriod};
    use proptest::prelude::*;
    use regex::Regex;

    proptest! {
        /// Every period the pattern admits is a billing period, and every billing period
        /// prints in a form the pattern admits.
        #[test]
        fn periods_match_their_pattern_exactly(year in 1000i32..=9999, month in 1u8..=12) {
            let re = Regex::new(PERIOD_PATTERN).unwrap();
            let text = format!("{year:04}-{month:02}");
            let parsed = BillingPeriod::parse(&text, BillingOffset::UTC);
            prop_assert_eq!(re.is_match(&text), parsed.is_ok(), "{}", text);
            if let Ok(p) = parsed {
                prop_assert_eq!(p.to_string(), text);
            }
        }
    }

    #[test]
    fn the_documented_period_pattern_is_the_checked_one() {
        let doc = serde_json::to_value(crate::http::openapi::document()).unwrap();
        let params = doc["paths"]["/v1/accounts/{account_id}/usage"]["get"]["parameters"]
            .as_array()
            .unwrap();
        let period = params.iter().find(|p| p["name"] == "period").unwrap();
        assert_eq!(period["schema"]["pattern"], PERIOD_PATTERN);
    }
}
